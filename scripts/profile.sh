#!/usr/bin/env bash
# Profiles an `ioschain run` with perf: builds the `profiling` profile (release code with
# symbols), records the run with DWARF call graphs, and prints where the worker threads
# spend their time (inclusive, so `ed25519_dalek::batch::verify_batch` shows the share of
# signature verification). With inferno installed (`cargo install inferno`), also
# writes a flamegraph.
#
# Usage: scripts/profile.sh [ioschain run flags...]
#   default flags: --shards 2 --rate 100000 --warmup 2 --duration 6 --no-limits
# Needs perf (Debian: apt-get install linux-perf) and perf_event_paranoid <= 2.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "perf not found: apt-get install linux-perf" >&2; exit 2; }
out=target/ioschain/profile
mkdir -p "$out"
flags=("$@")
if [ ${#flags[@]} -eq 0 ]; then
  flags=(--shards 2 --rate 100000 --warmup 2 --duration 6 --no-limits)
fi
cargo build --profile profiling -p ioschain-harness
# Virtual machines often lack hardware counters: sample on the cpu-clock timer then.
event=cycles
if perf stat -e cycles true 2>&1 | grep -q "not supported"; then
  event=cpu-clock
fi
echo "sampling on $event"
perf record -e "$event" -F 97 --call-graph dwarf,16384 -o "$out/perf.data" \
  ./target/profiling/ioschain run "${flags[@]}" --out "$out/run"
echo
echo "== worker threads, inclusive time (top entries)"
perf report -i "$out/perf.data" --children --comm ioschain-worker --stdio -g none \
  --percentage relative 2>/dev/null | grep -E '^ +[0-9]' | head -40 | cut -c1-150
echo
echo "== time per thread"
perf report -i "$out/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep '%' | head
if command -v inferno-collapse-perf >/dev/null && command -v inferno-flamegraph >/dev/null; then
  perf script -i "$out/perf.data" | inferno-collapse-perf | inferno-flamegraph > "$out/flamegraph.svg"
  echo "flamegraph: $out/flamegraph.svg"
fi
