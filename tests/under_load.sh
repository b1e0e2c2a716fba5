#!/usr/bin/env bash
# Runs a command (the test suite) while CPU-bound loops keep every core busy, then reports.
# A test that depends on how fast it runs fails here instead of on a shared CI machine.
#
#   tests/under_load.sh [-l LOOPS] COMMAND...     LOOPS defaults to 2 per core (4 on 2 cores)
set -uo pipefail
cores=$(nproc 2>/dev/null || echo 2)
loops=$((2 * cores))
if [ "${1:-}" = "-l" ]; then
  loops=$2
  shift 2
fi
[ "$#" -gt 0 ] || { echo "usage: $0 [-l LOOPS] COMMAND..." >&2; exit 2; }
pids=()
stop_loops() {
  # Only the loops this script started, by their ids.
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  pids=()
}
trap stop_loops EXIT INT TERM
for _ in $(seq "$loops"); do
  bash -c 'while :; do :; done' &
  pids+=("$!")
done
log=$(mktemp)
start=$(date +%s)
"$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
load=$(cut -d' ' -f1 /proc/loadavg)
stop_loops
elapsed=$(($(date +%s) - start))
line=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -n 1 || true)
counts=""
if [ -n "$line" ]; then
  passed=$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$line")
  failed=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$line")
  counts=": ${passed} passed, ${failed} failed"
fi
rm -f "$log"
echo "under load (${loops} busy loops on ${cores} cores, load ${load} at the end, ${elapsed} s)${counts}, exit ${status}"
exit "$status"
