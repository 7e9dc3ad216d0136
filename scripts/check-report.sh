#!/usr/bin/env bash
# Checks that the HTML report of a run (or of a sweep) renders in a real browser
# (headless Chromium) with data in every chart.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
Usage: scripts/check-report.sh [--run RUN_DIR | --sweep SWEEP_DIR] [--min-charts N] [--png FILE]

Renders `ioschain report DIR --html` in headless Chromium and fails if the page logs
anything to the console (the report has no scripts, so any message is an error: an SVG
parse error, a blocked or missing resource), if a chart is blank or if there are too few
charts: every chart <svg> in the rendered DOM must hold data — a line of at least 3
distinct points, or at least 2 data bars (opaque, coloured <rect>s of at least 1x1 px;
backgrounds, shaded spans and legend samples are not) — and the screenshot must not be
nearly one colour.

  --run RUN_DIR     report this run (a directory written by `ioschain run --out DIR`);
                    default: make a short real run first (`ioschain run --rate 20000
                    --warmup 1 --duration 3 --no-limits`)
  --sweep SWEEP_DIR report this sweep (a directory written by `ioschain sweep --out DIR`;
                    its curves need at least 3 offered rates to have 3 points)
  --min-charts N    the fewest charts the page must have (default: 4 for a run, the
                    throughput, per-shard, latency and cost charts of a current run;
                    2 for a sweep)
  --png FILE        also copy the screenshot (1200 px wide, cropped to the page) to FILE
  -h, --help        this text

Writes to target/ioschain/check-report/: report/ (report.md, report.html, charts),
page.png (the screenshot), dom.html (the DOM after rendering), chromium.log.
Installs Debian's chromium with apt-get when it is missing (needs root).
Exit codes: 0 the report renders, 1 console errors, blank or too few charts, 2 bad usage
or a missing tool. Uses the ioschain built in $CARGO_TARGET_DIR (default target/).
EOF
}

die() { echo "check-report.sh: $*" >&2; exit 2; }

run_dir=
sweep_dir=
min_charts=
png_copy=
while [ $# -gt 0 ]; do
  case "$1" in
    --run) [ $# -ge 2 ] || die "--run needs a directory"; run_dir=$2; shift 2 ;;
    --sweep) [ $# -ge 2 ] || die "--sweep needs a directory"; sweep_dir=$2; shift 2 ;;
    --min-charts)
      [ $# -ge 2 ] && [[ $2 =~ ^[0-9]+$ ]] || die "--min-charts needs a number"
      min_charts=$2; shift 2 ;;
    --png) [ $# -ge 2 ] || die "--png needs a file"; png_copy=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; echo >&2; die "unknown argument: $1" ;;
  esac
done
command -v python3 >/dev/null || die "python3 not found"

if ! command -v chromium >/dev/null; then
  [ "$(id -u)" -eq 0 ] || die "chromium not found: apt-get install chromium (as root)"
  echo "chromium not found: installing Debian's chromium"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
    die "could not install chromium"
fi

[ -z "$run_dir" ] || [ -z "$sweep_dir" ] || die "--run and --sweep exclude each other"
out=target/ioschain/check-report
outside_out() { # outside_out FLAG DIR
  case "$(realpath "$2")/" in
    "$(realpath -m "$out")"/*) die "$1 $2 is inside $out, which this script clears: copy it elsewhere" ;;
  esac
}
if [ -n "$run_dir" ]; then
  [ -f "$run_dir/summary.json" ] || die "$run_dir/summary.json not found: is it a directory written by ioschain run --out?"
  outside_out --run "$run_dir"
fi
if [ -n "$sweep_dir" ]; then
  [ -f "$sweep_dir/sweep.csv" ] || die "$sweep_dir/sweep.csv not found: is it a directory written by ioschain sweep --out?"
  outside_out --sweep "$sweep_dir"
  report_dir=$sweep_dir
  : "${min_charts:=2}"
fi
: "${min_charts:=4}"
rm -rf "$out"
mkdir -p "$out"
cargo build --release --locked -p ioschain-harness
ioschain=${CARGO_TARGET_DIR:-target}/release/ioschain
if [ -z "$sweep_dir" ]; then
  if [ -z "$run_dir" ]; then
    run_dir=$out/run
    "$ioschain" run --rate 20000 --warmup 1 --duration 3 --no-limits --out "$run_dir"
  fi
  report_dir=$run_dir
fi
"$ioschain" report "$report_dir" --html --out "$out/report"
html=$(realpath "$out/report/report.html")

# Chromium in a container: no sandbox, GPU, D-Bus or network; it logs the page's console
# messages to stderr as `INFO:CONSOLE...] "message", source: URL (line)`.
chromium_flags=(--headless --no-sandbox --disable-gpu --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --hide-scrollbars --enable-logging=stderr --v=0)
render() { # render WIDTH HEIGHT PNG
  timeout 120 chromium "${chromium_flags[@]}" --window-size="$1,$2" --screenshot="$3" \
    "file://$html" >>"$out/chromium.log" 2>&1 ||
    { tail -20 "$out/chromium.log" >&2; die "chromium failed to take a screenshot (log above)"; }
}
width=1200
# As tall as any report gets (a run report with every chart is about 5,000 px), then cropped.
render "$width" 16000 "$out/tall.png"
timeout 120 chromium "${chromium_flags[@]}" --dump-dom "file://$html" \
  >"$out/dom.html" 2>>"$out/chromium.log" ||
  { tail -20 "$out/chromium.log" >&2; die "chromium failed to dump the DOM (log above)"; }

# Crop to the page: render again as tall as the content (the last non-white row + margin).
height=$(python3 scripts/png_check.py content-height "$out/tall.png")
render "$width" "$height" "$out/page.png"
rm -f "$out/tall.png"

status=0
echo "== console"
# Only the report is loaded, so every console message comes from it.
# (The page is loaded three times: count each distinct message once.)
if grep -F ':CONSOLE' "$out/chromium.log" | sed 's/^.*:CONSOLE[^]]*\] /  /' | sort -u >"$out/console.txt" &&
  [ -s "$out/console.txt" ]; then
  cat "$out/console.txt"
  echo "FAIL: the page logged $(wc -l <"$out/console.txt") distinct console message(s)"
  status=1
else
  echo "  no console messages"
fi
echo "== the chart check itself (synthetic blank charts must fail it)"
python3 scripts/png_check.py selftest || status=1
echo "== charts in the DOM (at least $min_charts)"
python3 scripts/png_check.py dom "$out/dom.html" "$min_charts" || status=1
echo "== screenshot"
python3 scripts/png_check.py colours "$out/page.png" || status=1
if [ -n "$png_copy" ]; then
  cp "$out/page.png" "$png_copy"
  echo "screenshot copied to $png_copy"
fi
if [ "$status" -eq 0 ]; then
  echo "check-report.sh: pass ($out/page.png, ${width}x$height)"
else
  echo "check-report.sh: FAIL (see $out/)" >&2
fi
exit "$status"
