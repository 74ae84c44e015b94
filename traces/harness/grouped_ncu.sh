#!/usr/bin/env bash
# Profile (not a scored trace): Nsight Compute on torch._grouped_mm (MoE expert GEMMs) with few rows
# per expert, where Mixtral-8x7B's experts stream their weights at 2.45-2.75 TB/s and DeepSeek-
# sized ones at 3.0-3.4 (traces/h200/profile/grouped_mm_sweep.jsonl). Per case: duration, DRAM
# bytes read against the weights' bytes, L2 read sectors, SM clock, grid. Clocks and caches are
# left alone (--clock-control none --cache-control none).
#   traces/harness/grouped_ncu.sh OUTDIR
set -u
OUT=${1:?usage: grouped_ncu.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
METRICS=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sectors_srcunit_tex_op_read.sum,lts__t_sector_hit_rate.pct,sm__cycles_elapsed.avg.per_second,launch__grid_size,launch__cluster_dim_x,launch__cluster_dim_y,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__throughput.avg.pct_of_peak_sustained_elapsed
for c in "8 28672 4096 16" "8 28672 4096 64" "8 28672 4096 128" "8 4096 14336 16" "8 4096 14336 128" "32 4096 7168 16" "32 4096 7168 64"; do
  echo "# case G n k m = $c" >> "$OUT/grouped_ncu.csv"
  ncu --clock-control none --cache-control none --csv --metrics $METRICS -k regex:device_kernel \
    --launch-skip 6 --launch-count 4 python3 "$HERE/torch/grouped_ncu.py" $c 16 >> "$OUT/grouped_ncu.csv" 2>> "$OUT/grouped_ncu.err"
done
