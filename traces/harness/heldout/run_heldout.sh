#!/usr/bin/env bash
# headroom HELD-OUT measurement set (one GPU). NEVER used by `headroom calibrate`: it scores how the
# calibrated simulator generalises to shapes absent from traces/h200 and traces/h200x4.
#   traces/harness/heldout/run_heldout.sh OUTDIR           full set (~200 cases, < 5 min)
#   traces/harness/heldout/run_heldout.sh OUTDIR --smoke   one or two tiny cases per script
# Reuses the committed harness: cuda/gemm.cu (unchanged, fed heldout/gemm_shapes.py's case list),
# cuda/bw.cu's kernels and timing (heldout/bw_sizes.cu), torch/hcommon.py, model.py, attention.py,
# moe.py and model_step.py. Writes OUTDIR/{micro,gemm,attention,norm,moe,model_step}.jsonl and
# OUTDIR/log.txt; then checks the files (validate.py) and that no case is in the committed traces
# (check_heldout.py). One failing case logs and the run goes on; each step has a time budget.
set -u
OUTDIR=${1:?usage: run_heldout.sh OUTDIR [--smoke]}
QUICK=0
[ "${2:-}" = --smoke ] && QUICK=1
HERE=$(cd "$(dirname "$0")" && pwd)
HARNESS=$(cd "$HERE/.." && pwd)
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
LOG=$OUTDIR/log.txt
export PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export PYTHONPATH=$HERE:$HARNESS/torch${PYTHONPATH:+:$PYTHONPATH}
export HARNESS_QUICK=$QUICK
TOTAL=${HARNESS_TOTAL_S:-440}
BUILD=${HARNESS_BUILD_DIR:-/tmp/build-heldout}
T0=$(date +%s)

exec > >(tee -a "$LOG") 2>&1

left() { echo $(( TOTAL - ($(date +%s) - T0) )); }
# step NAME MAX_SECONDS SOFT_BUDGET CMD...: hard timeout = min(MAX, time left - 5)
step() {
  local name=$1 max=$2 soft=$3; shift 3
  local l; l=$(left); l=$(( l - 5 ))
  [ "$l" -lt "$max" ] && max=$l
  if [ "$max" -le 5 ]; then echo "=== SKIP $name: time budget spent"; return; fi
  echo "=== $(date -u +%H:%M:%S) START $name (timeout ${max}s, $(left)s left)"
  local s; s=$(date +%s)
  HARNESS_BUDGET_S=$soft timeout -k 10 "$max" "$@"
  local rc=$?
  echo "=== $(date -u +%H:%M:%S) END $name rc=$rc ($(( $(date +%s) - s ))s)"
}

echo "=== headroom HELD-OUT set quick=$QUICK out=$OUTDIR $(date -u +%Y-%m-%dT%H:%M:%SZ) git=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo none)"
uname -a
nvidia-smi --query-gpu=index,name,driver_version,pstate,clocks.sm,clocks.mem,clocks.max.sm,clocks.max.mem,power.draw,power.limit,temperature.gpu,persistence_mode,compute_mode --format=csv || true
nvcc --version | tail -2 || true
python3 -c 'import torch,sys; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count(), "python", sys.version.split()[0])' || true

step build 150 150 bash -c "cmake -S '$HERE' -B '$BUILD' -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build '$BUILD' -j 8"
Q=""; [ $QUICK = 1 ] && Q="--quick"
python3 "$HERE/gemm_shapes.py" $Q > "$BUILD/gemm_heldout_cases.txt"
echo "gemm: $(grep -vc '^#' "$BUILD/gemm_heldout_cases.txt") cases"
MIB="7,22,56,200,700,2500"; [ $QUICK = 1 ] && MIB="7,200"
step bw 60 60 "$BUILD/bw_sizes" --mib "$MIB" --out "$OUTDIR/micro.jsonl"
step gemm 120 95 "$BUILD/gemm" --cases "$BUILD/gemm_heldout_cases.txt" --out "$OUTDIR/gemm.jsonl" --budget-s 95
# gemm.cu writes no "issue" key: add it by the harness's own rule ("cuda" for the CUDA programs)
[ -f "$OUTDIR/gemm.jsonl" ] && python3 "$HARNESS/add_issue.py" "$OUTDIR/gemm.jsonl"
step attention 90 70 python3 "$HERE/attention_ho.py" "$OUTDIR/attention.jsonl"
step norm 45 35 python3 "$HERE/norm_ho.py" "$OUTDIR/norm.jsonl"
step moe 45 35 python3 "$HERE/moe_ho.py" "$OUTDIR/moe.jsonl"
step model_step 120 95 python3 "$HERE/model_step_ho.py" "$OUTDIR/model_step.jsonl"
nvidia-smi --query-gpu=index,pstate,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv || true
echo "=== held-out set done in $(( $(date +%s) - T0 ))s"
python3 "$HARNESS/validate.py" "$OUTDIR"/*.jsonl || true
python3 "$HERE/check_heldout.py" "$OUTDIR"/*.jsonl || echo "check_heldout: OVERLAP with committed traces"
