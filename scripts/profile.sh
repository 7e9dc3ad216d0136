#!/usr/bin/env bash
# Profiles an `ioschain run` with perf (BENCHMARKING.md rule 11).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
Usage: scripts/profile.sh [ioschain run flags...]

Builds the `profiling` profile (release code with symbols), records an `ioschain run`
with perf and DWARF call graphs, and writes to target/ioschain/profile/:
  perf.data        the recording (perf report -i target/ioschain/profile/perf.data)
  flamegraph.svg   a flamegraph of the worker threads (inferno), open it in a browser
  flamegraph-all.svg  the same for every thread of the process
  stacks.folded    the collapsed stacks both flamegraphs are drawn from
  run/             the run's own output (summary.json, timeline.csv, ...)
and prints the top functions of the worker threads: inclusive time (so
`ed25519_dalek::batch::verify_batch` shows the share of signature verification), self
time, and the time per thread.

Default run flags: --shards 2 --rate 100000 --warmup 2 --duration 6 --no-limits
(`--out` is set by the script).

Installs what is missing: perf (Debian's linux-perf, with apt-get, as root) and
inferno's inferno-collapse-perf and inferno-flamegraph (cargo install inferno
--version 0.12.8 --locked). Needs perf_event_paranoid <= 2. Samples on `cycles`, or on
the `cpu-clock` timer where the machine has no hardware counters (virtual machines).
EOF
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
esac

die() { echo "profile.sh: $*" >&2; exit 2; }

inferno_version=0.12.8
if ! command -v perf >/dev/null; then
  [ "$(id -u)" -eq 0 ] || die "perf not found: apt-get install linux-perf (as root)"
  echo "perf not found: installing Debian's linux-perf"
  apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null ||
    die "could not install linux-perf"
fi
if ! command -v inferno-collapse-perf >/dev/null || ! command -v inferno-flamegraph >/dev/null; then
  echo "inferno not found: cargo install inferno --version $inferno_version --locked"
  cargo install inferno --version "$inferno_version" --locked ||
    die "could not install inferno"
fi
paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo 2)
[ "$paranoid" -le 2 ] ||
  die "perf_event_paranoid is $paranoid: sysctl kernel.perf_event_paranoid=2 (as root)"

out=target/ioschain/profile
rm -rf "$out"
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

report() { perf report -i "$out/perf.data" --stdio -g none "$@" 2>/dev/null; }
echo
echo "== worker threads, inclusive time (top 40 entries)"
report --children --comm ioschain-worker --percentage relative |
  grep -E '^ +[0-9]' | head -40 | cut -c1-150 || true
echo
echo "== worker threads, self time (top 20 functions)"
report --no-children --comm ioschain-worker --percentage relative --sort symbol |
  grep -E '^ +[0-9]' | head -20 | cut -c1-150 || true
echo
echo "== time per thread"
report --no-children --sort comm | grep '%' | head || true

echo
# One stack-collapse, two flamegraphs: the worker threads (where the engine's time goes)
# and the whole process (driver, store, analysis).
perf script -i "$out/perf.data" 2>/dev/null | inferno-collapse-perf >"$out/stacks.folded"
[ -s "$out/stacks.folded" ] || die "perf script gave no stacks (see perf report -i $out/perf.data)"
inferno-flamegraph --title "ioschain run ${flags[*]}: every thread" \
  <"$out/stacks.folded" >"$out/flamegraph-all.svg"
if grep -q '^ioschain-worker' "$out/stacks.folded"; then
  grep '^ioschain-worker' "$out/stacks.folded" |
    inferno-flamegraph --title "ioschain run ${flags[*]}: worker threads" >"$out/flamegraph.svg"
else
  cp "$out/flamegraph-all.svg" "$out/flamegraph.svg"
fi
echo "flamegraph: $out/flamegraph.svg (worker threads), $out/flamegraph-all.svg (every thread)"
