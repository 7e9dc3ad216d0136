#!/usr/bin/env bash
# Checks that the HTML run report renders in a real browser (headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
Usage: scripts/check-report.sh [--run RUN_DIR] [--png FILE]

Renders `ioschain report RUN_DIR --html` in headless Chromium and fails if the page
logs anything to the console (the report has no scripts, so any message is an error:
an SVG parse error, a blocked or missing resource) or if a chart is blank: every chart
<svg> in the rendered DOM must hold a data line of at least 3 distinct points, and the
screenshot must not be nearly one colour.

  --run RUN_DIR   report this run (a directory written by `ioschain run --out DIR`);
                  default: make a short real run first (`ioschain run --rate 20000
                  --warmup 1 --duration 3 --no-limits`)
  --png FILE      also copy the screenshot (1200 px wide, cropped to the page) to FILE
  -h, --help      this text

Writes to target/ioschain/check-report/: report/ (report.md, report.html, charts),
page.png (the screenshot), dom.html (the DOM after rendering), chromium.log.
Installs Debian's chromium with apt-get when it is missing (needs root).
Exit codes: 0 the report renders, 1 console errors or blank charts, 2 bad usage or a
missing tool.
EOF
}

die() { echo "check-report.sh: $*" >&2; exit 2; }

run_dir=
png_copy=
while [ $# -gt 0 ]; do
  case "$1" in
    --run) [ $# -ge 2 ] || die "--run needs a directory"; run_dir=$2; shift 2 ;;
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

out=target/ioschain/check-report
if [ -n "$run_dir" ]; then
  [ -f "$run_dir/summary.json" ] || die "$run_dir/summary.json not found: is it a directory written by ioschain run --out?"
  case "$(realpath "$run_dir")/" in
    "$(realpath -m "$out")"/*) die "--run $run_dir is inside $out, which this script clears: copy it elsewhere" ;;
  esac
fi
rm -rf "$out"
mkdir -p "$out"
cargo build --release --locked -p ioschain-harness
if [ -z "$run_dir" ]; then
  run_dir=$out/run
  ./target/release/ioschain run --rate 20000 --warmup 1 --duration 3 --no-limits --out "$run_dir"
fi
./target/release/ioschain report "$run_dir" --html --out "$out/report"
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
render "$width" 4000 "$out/tall.png"
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
echo "== charts in the DOM"
python3 scripts/png_check.py dom "$out/dom.html" || status=1
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
