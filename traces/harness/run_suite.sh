#!/usr/bin/env bash
# headroom ground-truth measurement suite.
#   traces/harness/run_suite.sh single OUTDIR   one GPU: bandwidth, launch, GEMM, attention, norms,
#                                               MoE, model steps, sustained power      (< 9 min)
#   traces/harness/run_suite.sh multi  OUTDIR   2/4 GPUs: NCCL collectives, TP model steps
#   traces/harness/run_suite.sh smoke  OUTDIR   every script on one or two tiny cases (one GPU)
# Writes OUTDIR/*.jsonl (trace format v1, docs/trace-format.md; '# env {...}' header line in each)
# and OUTDIR/log.txt. One failing case logs to the log and the run goes on.
set -u
MODE=${1:?usage: run_suite.sh single|multi|smoke OUTDIR}
OUTDIR=${2:?usage: run_suite.sh single|multi|smoke OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
LOG=$OUTDIR/log.txt
export PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONPATH=$HERE/torch${PYTHONPATH:+:$PYTHONPATH}
TOTAL=${HARNESS_TOTAL_S:-540}
T0=$(date +%s)
QUICK=0
[ "$MODE" = smoke ] && QUICK=1
export HARNESS_QUICK=$QUICK
BUILD=${HARNESS_BUILD_DIR:-/tmp/build-harness}

exec > >(tee -a "$LOG") 2>&1

left() { echo $(( TOTAL - ($(date +%s) - T0) )); }
# step NAME MAX_SECONDS SOFT_BUDGET CMD...: hard timeout = min(MAX, time left - 5)
step() {
  local name=$1 max=$2 soft=$3; shift 3
  local l; l=$(left); l=$(( l - 5 ))
  [ "$l" -lt "$max" ] && max=$l
  if [ "$max" -le 5 ]; then echo "=== SKIP $name: suite time budget spent"; return; fi
  echo "=== $(date -u +%H:%M:%S) START $name (timeout ${max}s, $(left)s left)"
  local s; s=$(date +%s)
  HARNESS_BUDGET_S=$soft timeout -k 10 "$max" "$@"
  local rc=$?
  echo "=== $(date -u +%H:%M:%S) END $name rc=$rc ($(( $(date +%s) - s ))s)"
}

echo "=== headroom suite mode=$MODE out=$OUTDIR $(date -u +%Y-%m-%dT%H:%M:%SZ)"
uname -a
nvidia-smi --query-gpu=index,name,driver_version,pstate,clocks.sm,clocks.mem,clocks.max.sm,clocks.max.mem,power.draw,power.limit,temperature.gpu,persistence_mode,compute_mode --format=csv || true
nvcc --version | tail -2 || true
python3 -c 'import torch,sys; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count(), "python", sys.version.split()[0])' || true

if [ "$MODE" = single ] || [ "$MODE" = smoke ]; then
  nvidia-smi -q -d CLOCK,PERFORMANCE,POWER | sed -n 1,80p || true
  step build 200 200 bash -c "cmake -S '$HERE/cuda' -B '$BUILD' -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build '$BUILD' -j 8"
  Q=""; [ $QUICK = 1 ] && Q="--quick"
  python3 "$HERE/gemm_cases.py" $Q > /tmp/gemm_cases.txt
  step bw 90 90 "$BUILD/bw" --out "$OUTDIR/micro.jsonl" $Q
  step launch 40 40 "$BUILD/launch" --out "$OUTDIR/micro.jsonl" $Q
  step gemm 150 110 "$BUILD/gemm" --cases /tmp/gemm_cases.txt --out "$OUTDIR/gemm.jsonl" --budget-s 110
  step attention 110 85 python3 "$HERE/torch/attention.py" "$OUTDIR/attention.jsonl"
  step norm 60 40 python3 "$HERE/torch/norm.py" "$OUTDIR/norm.jsonl"
  step moe 80 55 python3 "$HERE/torch/moe.py" "$OUTDIR/moe.jsonl"
  step model_step 120 90 python3 "$HERE/torch/model_step.py" "$OUTDIR/model_step.jsonl"
  step power 130 130 python3 "$HERE/torch/power.py" "$OUTDIR/power.jsonl"
  if [ $QUICK = 1 ]; then
    step coll1 60 60 python3 "$HERE/torch/coll.py" "$OUTDIR/multi_smoke.jsonl" 1
    step tp1 90 90 python3 "$HERE/torch/tp_step.py" "$OUTDIR/multi_smoke.jsonl" 1
  fi
elif [ "$MODE" = multi ]; then
  nvidia-smi topo -m || true
  nvidia-smi nvlink -s 2>/dev/null | head -40 || true
  step coll 200 200 python3 "$HERE/torch/coll.py" "$OUTDIR/coll.jsonl"
  step tp_step 240 240 python3 "$HERE/torch/tp_step.py" "$OUTDIR/tp_step.jsonl"
else
  echo "unknown mode $MODE"; exit 2
fi
nvidia-smi --query-gpu=index,pstate,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv || true
echo "=== suite done in $(( $(date +%s) - T0 ))s"
python3 "$HERE/validate.py" "$OUTDIR"/*.jsonl || true
