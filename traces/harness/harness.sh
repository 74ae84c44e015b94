# Shared by run_suite.sh, rounds.sh and heldout/run_heldout.sh (sourced, not run): output set-up, the per-step
# time budget, the environment report and the CUDA build.
# HEADROOM_LIST_CASES=1: list instead of measuring: each step prints its command and the cases it
# would run (Python scripts and cuda/bw list theirs and exit; gemm: its case file), the CUDA build
# runs quietly (no GPU needed), nothing is timed and nvidia-smi is not called.
LIST=${HEADROOM_LIST_CASES:-0}

# harness_start OUTDIR TOTAL_S: OUTDIR made absolute, LOG=OUTDIR/log.txt gets all output, T0/TOTAL set
harness_start() {
  mkdir -p "$1"
  OUTDIR=$(cd "$1" && pwd)
  LOG=$OUTDIR/log.txt
  TOTAL=$2
  T0=$(date +%s)
  export PYTHONUNBUFFERED=1
  export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
  exec > >(tee -a "$LOG") 2>&1
}

left() { echo $(( TOTAL - ($(date +%s) - T0) )); }

# step NAME MAX_SECONDS SOFT_BUDGET CMD...: hard timeout = min(MAX, time left - 5)
# HARNESS_ONLY="name1 name2": run only those steps (and the CUDA build), skip the rest.
step() {
  local name=$1 max=$2 soft=$3; shift 3
  if [ -n "${HARNESS_ONLY:-}" ] && [ "$name" != build ] && [[ " $HARNESS_ONLY " != *" $name "* ]]; then
    echo "=== SKIP $name (not in HARNESS_ONLY)"; return
  fi
  if [ "$LIST" = 1 ]; then
    echo "=== LIST $name: $*"
    case "$name:$1" in
      build:*) "$@" >/dev/null 2>&1 || echo "build failed" ;;
      *:python3) "$@" ;;
      *:*/bw) "$@" --list ;;
      *:*/gemm) grep -v '^#' "$(sed -n 's/.*--cases \([^ ]*\).*/\1/p' <<<"$*")" | sed 's/^/gemm\t/' ;;
    esac
    return
  fi
  local l; l=$(left); l=$(( l - 5 ))
  [ "$l" -lt "$max" ] && max=$l
  if [ "$max" -le 5 ]; then echo "=== SKIP $name: time budget spent"; return; fi
  echo "=== $(date -u +%H:%M:%S) START $name (timeout ${max}s, $(left)s left)"
  local s; s=$(date +%s)
  HARNESS_BUDGET_S=$soft timeout -k 10 "$max" "$@"
  local rc=$?
  echo "=== $(date -u +%H:%M:%S) END $name rc=$rc ($(( $(date +%s) - s ))s)"
}

# the machine, driver, CUDA and torch versions (a log's first lines)
env_report() {
  [ "$LIST" = 1 ] && return
  uname -a
  nvidia-smi --query-gpu=index,name,driver_version,pstate,clocks.sm,clocks.mem,clocks.max.sm,clocks.max.mem,power.draw,power.limit,temperature.gpu,persistence_mode,compute_mode --format=csv || true
  nvcc --version | tail -2 || true
  python3 -c 'import torch,sys; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count(), "python", sys.version.split()[0])' || true
}

# GPU state after the run
gpu_after() {
  [ "$LIST" = 1 ] && return
  nvidia-smi --query-gpu=index,pstate,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv || true
}

# build_cuda MAX_SECONDS BUILD_DIR: traces/harness/cuda (bw, launch, gemm) into BUILD_DIR
build_cuda() {
  local src; src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cuda
  step build "$1" "$1" bash -c "cmake -S '$src' -B '$2' -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build '$2' -j 8"
}
