#!/usr/bin/env bash
# End-to-end checks of the CLI's exit codes and messages (0 ok, 1 bad input, 2 usage).
set -u
HR="${HEADROOM_BIN:?}"
ROOT="${HEADROOM_DATA:?}"
fail=0; n=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
expect() {  # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  n=$((n+1))
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ "$rc" != "$code" ] || ! grep -qE -- "$pat" "$tmp/out" "$tmp/err"; then
    echo "FAIL: $* -> rc=$rc (want $code), output does not match /$pat/"; sed 's/^/  | /' "$tmp/out" "$tmp/err" | head -20; fail=$((fail+1))
  fi
}
expect 2 "usage: headroom" -- "$HR"
expect 0 "commands:" -- "$HR" --help
expect 2 "unknown command" -- "$HR" frobnicate
for c in roofline predict import-hf describe step memory validate calibrate merge; do expect 0 "usage: headroom $c" -- "$HR" $c --help; done
expect 2 "unrecognised option|unrecognized option" -- "$HR" roofline --bogus
expect 2 "--phase prefill needs --seq" -- "$HR" roofline --model llama3-8b --hw h200-sxm --phase prefill
expect 0 "memory-bound" -- "$HR" roofline --model llama3-8b --hw h200-sxm --phase decode --batch 8 --context 4096
expect 0 '"ops"' -- "$HR" roofline --model "$ROOT/models/llama3-8b.yaml" --hw "$ROOT/hw_configs/h200-sxm.yaml" --phase prefill --seq 512 --json
expect 0 "dispatch.all_to_all" -- "$HR" roofline --model mixtral-8x7b --hw h200-sxm --phase decode --batch 8 --context 2048 --tp 2 --ep 2 --moe-balanced --fidelity analytical
expect 1 "ep=2 must divide tp x dp = 1" -- "$HR" roofline --model mixtral-8x7b --hw h200-sxm --phase decode --batch 1 --context 2048 --ep 2
expect 1 "tp=3 does not divide the 32 attention heads" -- "$HR" roofline --model llama3-8b --hw h200-sxm --phase decode --context 10 --tp 3
cat >"$tmp/bad.yaml" <<'YAML'
name: X
vendor: nvidia
source: test
compute:
  sm_count: 1
YAML
sed "s|bandwidth: \"4.8 TB/s\"|bandwidth: \"4.8\"|" "$ROOT/hw_configs/h200-sxm.yaml" >"$tmp/bw.yaml"
expect 1 'bw.yaml:[0-9]+:[0-9]+: memory.hbm.bandwidth: expected a bandwidth like "4.8 TB/s", got "4.8"' -- "$HR" describe "$tmp/bw.yaml"
expect 1 "bad.yaml:[0-9]+:[0-9]+: compute.clocks: required key is missing" -- "$HR" roofline --model llama3-8b --hw "$tmp/bad.yaml" --phase decode --context 1
expect 0 "ridge point" -- "$HR" describe "$ROOT/hw_configs/h200-sxm.yaml"
printf '%s\n' '{"op":"gemm","m":64,"n":64,"k":64,"dtype":"bf16","hw":"h200-sxm"}' '{"op":"nope","hw":"h200-sxm"}' >"$tmp/t.jsonl"
expect 0 '"error":".*unknown op' -- "$HR" predict -i "$tmp/t.jsonl"
expect 0 '"predicted":\{"ms"' -- "$HR" predict -i "$tmp/t.jsonl"
expect 0 '"explain":\{"bound":"[a-z]+".*"tile_n":' -- "$HR" predict --explain -i "$tmp/t.jsonl"
printf '%s\n' '{"op":"gemm","m":64,"n":64,"k":64,"dtype":"bf16","hw":"h200-sxm"}' '{"op":' >"$tmp/m.jsonl"
expect 1 "m.jsonl:2: malformed JSON" -- "$HR" predict -i "$tmp/m.jsonl"
expect 0 "step latency" -- "$HR" step --model llama3-8b --hw h200-sxm --phase decode --batch 8 --context 1024 --pp 2 --microbatches 2
expect 1 "pp=40 is deeper than the 32 layers" -- "$HR" step --model llama3-8b --hw h200-sxm --phase decode --context 10 --pp 40
expect 0 "over 16 GPU" -- "$HR" step --model deepseek-v3 --hw h200-sxm --phase decode --batch 8 --context 1024 --tp 8 --ep 16 --dp 2
expect 0 "max concurrent sequences" -- "$HR" memory --model llama3-8b --hw h200-sxm --context 4096
expect 0 "gemm.bf16" -- "$HR" validate "$ROOT/traces/h200/gemm.jsonl" --subset holdout
expect 2 "expected all, train or holdout" -- "$HR" validate "$ROOT/traces/h200/gemm.jsonl" --subset nope
expect 1 "cannot fit" -- "$HR" calibrate "$tmp/t.jsonl" --hw h200-sxm -o "$tmp/out.yaml"
printf '%s\n' '{"op":"read","bytes":1024,"ms":0.010}' >"$tmp/r0.jsonl"
printf '%s\n' '{"op":"read","bytes":1024,"ms":0.030}' >"$tmp/r1.jsonl"
printf '%s\n' '{"op":"read","bytes":1024,"ms":0.014}' >"$tmp/r2.jsonl"
expect 0 '"ms":0.014,"ms_runs":\[0.01,0.03,0.014\],"runs":3' -- "$HR" merge "$tmp/r0.jsonl" "$tmp/r1.jsonl" "$tmp/r2.jsonl"
printf '%s\n' '{"op":"read","bytes":1024}' >"$tmp/r3.jsonl"
expect 1 "r3.jsonl:1: ms: missing" -- "$HR" merge "$tmp/r0.jsonl" "$tmp/r3.jsonl"
expect 2 "--stat: expected median or mean" -- "$HR" merge "$tmp/r0.jsonl" --stat mode
echo "cli_smoke: $((n-fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
