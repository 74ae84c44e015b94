#!/usr/bin/env bash
# headroom HELD-OUT measurement set (one GPU). NEVER used by `headroom calibrate`: it scores how the
# calibrated simulator generalises to shapes absent from traces/h200 and traces/h200x4.
#   traces/harness/heldout/run_heldout.sh OUTDIR           full set (~200 cases, < 5 min)
#   traces/harness/heldout/run_heldout.sh OUTDIR --smoke   one or two tiny cases per script
# Runs the harness's own code with held-out case lists: cuda/gemm (fed heldout/gemm_shapes.py's case
# list), cuda/bw --mib (held-out sizes), and the run() of torch/attention.py, norm.py, moe.py and
# model_step.py (through attention_ho.py, norm_ho.py, moe_ho.py, model_step_ho.py), under
# harness.sh's steps. Writes OUTDIR/{micro,gemm,attention,norm,moe,model_step}.jsonl and OUTDIR/log.txt; then checks the files (validate.py) and that no case is in the committed traces
# (check_heldout.py). One failing case logs and the run goes on; each step has a time budget.
# HEADROOM_LIST_CASES=1 run_heldout.sh OUTDIR [--smoke]: print each step's command and cases, measure nothing.
#   traces/harness/heldout/run_heldout.sh OUTDIR --multi   2-4 GPUs: held-out int4/int8 GEMMs (GPU 0),
#     collectives (sizes absent from traces/h200x4) and pipeline-parallel plans (HARNESS_HELDOUT=1)
set -u
OUTDIR=${1:?usage: run_heldout.sh OUTDIR [--smoke|--multi]}
QUICK=0
[ "${2:-}" = --smoke ] && QUICK=1
MULTI=0
[ "${2:-}" = --multi ] && MULTI=1
HERE=$(cd "$(dirname "$0")" && pwd)
HARNESS=$(cd "$HERE/.." && pwd)
. "$HARNESS/harness.sh"
export PYTHONPATH=$HERE:$HARNESS/torch${PYTHONPATH:+:$PYTHONPATH}
export HARNESS_QUICK=$QUICK
BUILD=${HARNESS_BUILD_DIR:-/tmp/build-heldout}
harness_start "$OUTDIR" "${HARNESS_TOTAL_S:-440}"

if [ $MULTI = 1 ]; then
  echo "=== headroom HELD-OUT multi-GPU set out=$OUTDIR $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  env_report
  export HARNESS_HELDOUT=1
  step quant 90 80 python3 "$HARNESS/torch/quant.py" "$OUTDIR/quant.jsonl"
  step coll 150 150 python3 "$HARNESS/torch/coll.py" "$OUTDIR/coll.jsonl"
  step pp_step 180 180 python3 "$HARNESS/torch/pp_step.py" "$OUTDIR/pp_step.jsonl"
  step ep_moe 150 150 python3 "$HARNESS/torch/ep_moe.py" "$OUTDIR/ep_moe.jsonl"
  gpu_after
  [ "$LIST" = 1 ] && exit 0
  python3 "$HARNESS/validate.py" "$OUTDIR"/*.jsonl || true
  python3 "$HERE/check_heldout.py" "$OUTDIR"/*.jsonl || echo "check_heldout: OVERLAP with committed traces"
  exit 0
fi
echo "=== headroom HELD-OUT set quick=$QUICK out=$OUTDIR $(date -u +%Y-%m-%dT%H:%M:%SZ) git=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo none)"
env_report

build_cuda 150 "$BUILD"
Q=""; [ $QUICK = 1 ] && Q="--quick"
mkdir -p "$BUILD"
python3 "$HERE/gemm_shapes.py" $Q > "$BUILD/gemm_heldout_cases.txt"
echo "gemm: $(grep -vc '^#' "$BUILD/gemm_heldout_cases.txt") cases"
MIB="7,22,56,200,700,2500"; [ $QUICK = 1 ] && MIB="7,200"
step bw 60 60 "$BUILD/bw" --mib "$MIB" --out "$OUTDIR/micro.jsonl"
step gemm 120 95 "$BUILD/gemm" --cases "$BUILD/gemm_heldout_cases.txt" --out "$OUTDIR/gemm.jsonl" --budget-s 95
# gemm.cu writes no "issue" key: add it by the harness's own rule ("cuda" for the CUDA programs)
[ -f "$OUTDIR/gemm.jsonl" ] && [ "$LIST" != 1 ] && python3 "$HARNESS/add_issue.py" "$OUTDIR/gemm.jsonl"
step attention 90 70 python3 "$HERE/attention_ho.py" "$OUTDIR/attention.jsonl"
step norm 45 35 python3 "$HERE/norm_ho.py" "$OUTDIR/norm.jsonl"
step moe 45 35 python3 "$HERE/moe_ho.py" "$OUTDIR/moe.jsonl"
# held-out set 3 (session 6): MoE configs of their own, measured into OUTDIR/moe_ho2.jsonl
step moe_ho2 120 110 python3 "$HERE/moe_ho2.py" "$OUTDIR/moe_ho2.jsonl"
step model_step 120 95 python3 "$HERE/model_step_ho.py" "$OUTDIR/model_step.jsonl"
gpu_after
echo "=== held-out set done in $(( $(date +%s) - T0 ))s"
[ "$LIST" = 1 ] && exit 0
python3 "$HARNESS/validate.py" "$OUTDIR"/*.jsonl || true
python3 "$HERE/check_heldout.py" "$OUTDIR"/*.jsonl || echo "check_heldout: OVERLAP with committed traces"
