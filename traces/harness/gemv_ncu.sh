#!/usr/bin/env bash
# Profile (not a scored trace): why cuda/gemm.cu times the m = 1 bf16 GEMV 10-11% slower than
# F.linear runs the same nvjet kernel (traces/README.md, gemv_rotation). Both harnesses time the
# same two shapes on one machine, then Nsight Compute reads each one's kernels: duration, DRAM
# bytes, SM and DRAM clocks, L2 hit rate. Clocks and caches are left as they are
# (--clock-control none --cache-control none): the card's settings are never changed.
#   traces/harness/gemv_ncu.sh OUTDIR BUILD_DIR   (BUILD_DIR: cuda/ built, with the gemm binary)
set -u
OUT=${1:?usage: gemv_ncu.sh OUTDIR BUILD_DIR}
BUILD=${2:?usage: gemv_ncu.sh OUTDIR BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
CASES=$OUT/gemv_cases.txt
printf 'bf16 1 28672 4096 llama3-8b.gate_up\nbf16 1 4096 14336 llama3-8b.down\n' > "$CASES"
METRICS=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,sm__cycles_elapsed.avg.per_second,dram__cycles_elapsed.avg.per_second,lts__t_sector_hit_rate.pct,dram__throughput.avg.pct_of_peak_sustained_elapsed,launch__grid_size,launch__cluster_dim_x,smsp__warps_launched.sum
NCU="ncu --clock-control none --cache-control none --csv --metrics $METRICS -k regex:nvjet"
"$BUILD/gemm" --cases "$CASES" --out "$OUT/gemv_cpp.jsonl"
python3 "$HERE/torch/gemv_probe.py" time "$OUT/gemv_torch.jsonl"
# 12 kernels each, after the warm-up calls (C++: 1 check + 3 warm-up + 3 estimate calls)
for s in "28672 4096" "4096 14336"; do
  echo "bf16 1 $s ncu" > "$OUT/one_case.txt"
  $NCU --launch-skip 8 --launch-count 12 "$BUILD/gemm" --cases "$OUT/one_case.txt" --out /dev/null >> "$OUT/ncu_cpp.csv" 2>> "$OUT/ncu_cpp.err"
  $NCU --launch-skip 8 --launch-count 12 python3 "$HERE/torch/gemv_probe.py" loop $s 40 >> "$OUT/ncu_torch.csv" 2>> "$OUT/ncu_torch.err"
done
tail -3 "$OUT"/ncu_*.err
