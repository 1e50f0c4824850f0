#!/usr/bin/env bash
# The HTML benchmark (bench/README.md, "The HTML timeline"): the time and size
# of `socklab-capture read --html` on a 5,000-packet capture and of each demo's
# --html page, and how long headless Chromium takes to lay each page out.
#
#   sudo bench/html/run.sh [BUILD_DIR] [ROUNDS]      (defaults: build, 5)
#
# The capture is generated into $TMPDIR (bench-gen-pcap, seeded: the same file
# each time). "render" is the page's own figure: performance.now() when its
# script has measured every arrow after the load event (so parsing, style and
# layout are in it), read from Chromium's --dump-dom; "chromium" is the whole
# headless run, start to exit. Medians over the rounds.
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
gen="$build/bench/read/bench-gen-pcap"
tool="$build/capture/socklab-capture"
chromium=${CHROMIUM:-/usr/bin/chromium}
for f in "$gen" "$tool" "$chromium"; do
  [ -x "$f" ] || { echo "run.sh: $f not found (cmake --build $build --target bench-gen-pcap socklab-capture demos)" >&2; exit 1; }
done
tmp=${TMPDIR:-/tmp}/socklab-html-bench
rm -rf "$tmp"
mkdir -p "$tmp"
big="$tmp/5000.pcap"
"$gen" "$big" --packets 5000 2>/dev/null  # it ends the last connection: a few more

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# load PAGE -> "render_ms chromium_s" of one headless run
load() {
  local profile
  profile=$(mktemp -d "$tmp/profile.XXXXXX")
  local sandbox=()
  [ "$(id -u)" = 0 ] && sandbox=(--no-sandbox)
  local start end
  start=$(date +%s.%N)
  "$chromium" --headless "${sandbox[@]}" --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-extensions --no-proxy-server \
    --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$profile" --window-size=1280,800 \
    --dump-dom "file://$(realpath "$1")" >"$tmp/dom" 2>/dev/null
  end=$(date +%s.%N)
  rm -rf "$profile"
  local ms
  ms=$(grep -o 'data-rendered-ms="[0-9]*"' "$tmp/dom" | grep -o '[0-9]*' || echo "?")
  echo "$ms $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')"
}

# row NAME PAGE WRITE_SECONDS...: one line of the table
row() {
  local name=$1 page=$2
  shift 2
  local write size renders=() walls=() r
  write=$(printf '%s\n' "$@" | median)
  size=$(stat -c %s "$page")
  for ((i = 0; i < rounds; i++)); do
    r=$(load "$page")
    renders+=("${r% *}")
    walls+=("${r#* }")
  done
  printf '  %-34s %7s s %9.1f KiB %8s ms %9s s\n' "$name" "$write" "$(awk -v s="$size" 'BEGIN { print s / 1024 }')" \
    "$(printf '%s\n' "${renders[@]}" | median)" "$(printf '%s\n' "${walls[@]}" | median)"
}

timed() {  # CMD... -> elapsed seconds (the command's output discarded)
  /usr/bin/time -f "%e" -o "$tmp/time" "$@" >/dev/null 2>"$tmp/stderr" || { cat "$tmp/stderr" >&2; exit 1; }
  cat "$tmp/time"
}

echo "machine: $(nproc) CPUs, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$("$chromium" --version 2>/dev/null | tail -1); medians of $rounds rounds"
printf '  %-34s %9s %13s %11s %11s\n' page write size render chromium
times=()
for ((i = 0; i < rounds; i++)); do times+=("$(timed "$tool" read "$big" -c 5000 --html "$tmp/5000.html")"); done
row "read --html (5,000 packets)" "$tmp/5000.html" "${times[@]}"
for demo in handshake teardown sticky udp backlog; do
  prog="$build/demos/demo-$demo"
  [ -x "$prog" ] || { echo "run.sh: $prog not built" >&2; exit 1; }
  # The page's share of a demo run: the run with --html less the run without.
  times=()
  for ((i = 0; i < rounds; i++)); do
    with=$(timed "$prog" --capture --html "$tmp/$demo.html")
    without=$(timed "$prog" --capture)
    times+=("$(awk -v a="$with" -v b="$without" 'BEGIN { printf "%.2f", a - b }')")
  done
  row "demo-$demo --capture --html" "$tmp/$demo.html" "${times[@]}"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
