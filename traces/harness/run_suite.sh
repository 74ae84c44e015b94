#!/usr/bin/env bash
# headroom ground-truth measurement suite.
#   traces/harness/run_suite.sh single OUTDIR   one GPU: bandwidth, launch, GEMM, attention, norms,
#                                               MoE, model steps, sustained power      (< 9 min)
#   traces/harness/run_suite.sh multi  OUTDIR   2/4 GPUs: NCCL collectives, TP model steps
#   traces/harness/run_suite.sh smoke  OUTDIR   every script on one or two tiny cases (one GPU)
# HARNESS_ONLY="quant coll" runs only the named steps; HARNESS_TOTAL_S caps the whole run (s).
# Writes OUTDIR/*.jsonl (trace format v1, docs/trace-format.md; '# env {...}' header line in each)
# and OUTDIR/log.txt. One failing case logs to the log and the run goes on.
# HEADROOM_LIST_CASES=1 run_suite.sh MODE OUTDIR: print each step's command and cases, measure nothing.
set -u
MODE=${1:?usage: run_suite.sh single|multi|smoke OUTDIR}
OUTDIR=${2:?usage: run_suite.sh single|multi|smoke OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/harness.sh"
export PYTHONPATH=$HERE/torch${PYTHONPATH:+:$PYTHONPATH}
QUICK=0
[ "$MODE" = smoke ] && QUICK=1
export HARNESS_QUICK=$QUICK
BUILD=${HARNESS_BUILD_DIR:-/tmp/build-harness}
harness_start "$OUTDIR" "${HARNESS_TOTAL_S:-540}"

echo "=== headroom suite mode=$MODE out=$OUTDIR $(date -u +%Y-%m-%dT%H:%M:%SZ)"
env_report

if [ "$MODE" = single ] || [ "$MODE" = smoke ]; then
  [ "$LIST" = 1 ] || nvidia-smi -q -d CLOCK,PERFORMANCE,POWER | sed -n 1,80p || true
  build_cuda 200 "$BUILD"
  Q=""; [ $QUICK = 1 ] && Q="--quick"
  python3 "$HERE/gemm_cases.py" $Q > /tmp/gemm_cases.txt
  step bw 90 90 "$BUILD/bw" --out "$OUTDIR/micro.jsonl" $Q
  step launch 40 40 "$BUILD/launch" --out "$OUTDIR/micro.jsonl" $Q
  step gemm 150 110 "$BUILD/gemm" --cases /tmp/gemm_cases.txt --out "$OUTDIR/gemm.jsonl" --budget-s 110
  step attention 110 85 python3 "$HERE/torch/attention.py" "$OUTDIR/attention.jsonl"
  step norm 60 40 python3 "$HERE/torch/norm.py" "$OUTDIR/norm.jsonl"
  step moe 80 55 python3 "$HERE/torch/moe.py" "$OUTDIR/moe.jsonl"
  step quant 150 130 python3 "$HERE/torch/quant.py" "$OUTDIR/quant.jsonl"
  step model_step 120 90 python3 "$HERE/torch/model_step.py" "$OUTDIR/model_step.jsonl"
  step power 130 130 python3 "$HERE/torch/power.py" "$OUTDIR/power.jsonl"
  if [ $QUICK = 1 ]; then
    step coll1 60 60 python3 "$HERE/torch/coll.py" "$OUTDIR/multi_smoke.jsonl" 1
    step tp1 90 90 python3 "$HERE/torch/tp_step.py" "$OUTDIR/multi_smoke.jsonl" 1
    step pp1 60 60 python3 "$HERE/torch/pp_step.py" "$OUTDIR/multi_smoke.jsonl" 1
  fi
elif [ "$MODE" = multi ]; then
  if [ "$LIST" != 1 ]; then
    nvidia-smi topo -m || true
    nvidia-smi nvlink -s 2>/dev/null | head -40 || true
  fi
  step coll 280 280 python3 "$HERE/torch/coll.py" "$OUTDIR/coll.jsonl"
  step tp_step 240 240 python3 "$HERE/torch/tp_step.py" "$OUTDIR/tp_step.jsonl"
  step pp_step 240 240 python3 "$HERE/torch/pp_step.py" "$OUTDIR/pp_step.jsonl"
  step ep_moe 200 200 python3 "$HERE/torch/ep_moe.py" "$OUTDIR/ep_moe.jsonl"
  step nccl_mem 60 60 python3 "$HERE/torch/nccl_mem.py" "$OUTDIR/memory_nccl.jsonl"
else
  echo "unknown mode $MODE"; exit 2
fi
gpu_after
echo "=== suite done in $(( $(date +%s) - T0 ))s"
[ "$LIST" = 1 ] || python3 "$HERE/validate.py" "$OUTDIR"/*.jsonl || true
