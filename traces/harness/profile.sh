#!/usr/bin/env bash
# headroom profiles (one GPU): what the libraries run, and how the host's eager speed drifts. Not
# timing traces: the files are JSON lines that headroom does not score (traces/h200/profile/).
#   traces/harness/profile.sh OUTDIR
#   gemm_kernels.jsonl        cuda/gemm --kernels on the committed and held-out cuBLASLt case lists:
#                             cuBLASLt's top-1 algorithm (config attributes) and its kernels (CUPTI)
#   torch_gemm_kernels.jsonl  torch/gemm_profile.py: kernels of torch._int_mm, F.linear and
#                             torch._weight_int4pack_mm on quant.py's committed and held-out shapes
#   host_drift.jsonl          torch/host_drift.py: host probes beside eager Llama-3-8B decode steps
#   grouped_mm.jsonl          torch/grouped_profile.py: torch._grouped_mm alone (MoE expert GEMMs):
#                             time and kernels per group count, shape and rows per group
#   moe_kernels.jsonl         torch/moe_profile.py: every kernel of moe.py's grouped MoE layer
#   attention_kvq.jsonl       torch/attention_kvq.py: a Triton split-KV decode kernel on bf16, fp8 and
#                             int4 KV caches (op records, scored as ratios: docs/validation.md)
set -u
OUTDIR=${1:?usage: profile.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/harness.sh"
export PYTHONPATH=$HERE/torch${PYTHONPATH:+:$PYTHONPATH}
export HARNESS_QUICK=0
BUILD=${HARNESS_BUILD_DIR:-/tmp/build-harness}
harness_start "$OUTDIR" "${HARNESS_TOTAL_S:-900}"
echo "=== headroom profiles out=$OUTDIR $(date -u +%Y-%m-%dT%H:%M:%SZ)"
env_report
build_cuda 200 "$BUILD"
{ python3 "$HERE/gemm_cases.py"; python3 "$HERE/heldout/gemm_shapes.py"; } > /tmp/gemm_profile_cases.txt
step gemm_kernels 120 120 "$BUILD/gemm" --kernels --cases /tmp/gemm_profile_cases.txt --out "$OUTDIR/gemm_kernels.jsonl"
step torch_gemm 120 120 python3 "$HERE/torch/gemm_profile.py" "$OUTDIR/torch_gemm_kernels.jsonl"
step host_drift 120 120 python3 "$HERE/torch/host_drift.py" "$OUTDIR/host_drift.jsonl" 40
step grouped 150 150 python3 "$HERE/torch/grouped_profile.py" "$OUTDIR/grouped_mm.jsonl"
step moe_kernels 120 120 python3 "$HERE/torch/moe_profile.py" "$OUTDIR/moe_kernels.jsonl"
step attention_kvq 240 240 python3 "$HERE/torch/attention_kvq.py" "$OUTDIR/attention_kvq.jsonl"
gpu_after
echo "=== profiles done in $(( $(date +%s) - T0 ))s"
