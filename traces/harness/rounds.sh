#!/usr/bin/env bash
# Repeat rounds of the multi-GPU measurements on one machine, each round in fresh processes, to
# find how far one run's eager (host-bound) records move between runs on the same machine.
#   traces/harness/rounds.sh OUTDIR COLL_ROUNDS TP_ROUNDS PP_ROUNDS
# Round i runs coll.py (if i < COLL_ROUNDS), tp_step.py (if i < TP_ROUNDS), pp_step.py
# (if i < PP_ROUNDS) and writes OUTDIR/{coll,tp_step,pp_step}_r<i>.jsonl. Interleaving the scripts
# spreads each one's rounds over the whole run rather than one stretch of it. Before and after
# every step the log gets the machine's CPU time split (/proc/stat's aggregate cpu line: user,
# nice, system, idle, iowait, irq, softirq, steal), so a round's host speed can be set beside the
# time the hypervisor took (steal) while it ran. The records are the scripts' own (trace format
# v1); `headroom merge OUTDIR/coll_r*.jsonl` folds the rounds into one record per case.
set -u
OUTDIR=${1:?usage: rounds.sh OUTDIR COLL_ROUNDS TP_ROUNDS PP_ROUNDS}
NC=${2:?coll rounds}
NT=${3:?tp_step rounds}
NP=${4:?pp_step rounds}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/harness.sh"
export PYTHONPATH=$HERE/torch${PYTHONPATH:+:$PYTHONPATH}
export HARNESS_QUICK=0
harness_start "$OUTDIR" "${HARNESS_TOTAL_S:-560}"
echo "=== headroom rounds out=$OUTDIR coll $NC tp_step $NT pp_step $NP $(date -u +%Y-%m-%dT%H:%M:%SZ)"
env_report
[ "$LIST" = 1 ] || nvidia-smi topo -m || true
cpu_line() { [ "$LIST" = 1 ] || echo "=== cpu $1 $(grep '^cpu ' /proc/stat)"; }
n=$NC; [ "$NT" -gt "$n" ] && n=$NT; [ "$NP" -gt "$n" ] && n=$NP
for ((i = 0; i < n; i++)); do
  for s in coll tp_step pp_step; do
    case $s in coll) k=$NC ;; tp_step) k=$NT ;; pp_step) k=$NP ;; esac
    [ "$i" -lt "$k" ] || continue
    cpu_line "before $s r$i"
    step "$s" 120 120 python3 "$HERE/torch/$s.py" "$OUTDIR/${s}_r$i.jsonl"
    cpu_line "after $s r$i"
  done
done
gpu_after
echo "=== rounds done in $(( $(date +%s) - T0 ))s"
