#!/usr/bin/env bash
# The read benchmark (bench/README.md, "Reading captures"): socklab-capture read
# --lines and --json against tcpdump -nn -r on the same files, side by side in
# one run, output to /dev/null; then peak memory on a 1 GiB capture.
#
#   bench/read/run.sh [BUILD_DIR] [ROUNDS]      (defaults: build, 5)
#
# The captures are generated into $TMPDIR (not committed): 1,000,000 packets
# (about 250 MB), and one of 1 GiB. Each round runs the three commands once, in
# turn, so a change in the machine's load hits all alike; the table gives the
# median over the rounds of elapsed time and of peak RSS (/usr/bin/time).
set -euo pipefail
build=${1:-build}
rounds=${2:-5}
gen="$build/bench/read/bench-gen-pcap"
tool="$build/capture/socklab-capture"
for f in "$gen" "$tool"; do
  [ -x "$f" ] || { echo "run.sh: $f not built (cmake --build $build --target bench-gen-pcap socklab-capture)" >&2; exit 1; }
done
command -v tcpdump >/dev/null || { echo "run.sh: tcpdump is not installed" >&2; exit 1; }
tmp=${TMPDIR:-/tmp}/socklab-read-bench
mkdir -p "$tmp"
one_m="$tmp/1m.pcap"
one_g="$tmp/1g.pcap"
[ -s "$one_m" ] || "$gen" "$one_m" --packets 1000000
[ -s "$one_g" ] || "$gen" "$one_g" --bytes 1073741824 --reply-mean 4000

# measure NAME FILE CMD...: one run; appends "NAME<TAB>seconds<TAB>kilobytes" to $tmp/results
measure() {
  local name=$1 file=$2
  shift 2
  /usr/bin/time -f "%e %M" -o "$tmp/time" "$@" "$file" >/dev/null 2>"$tmp/stderr" || {
    echo "run.sh: $name failed:" >&2
    cat "$tmp/stderr" >&2
    exit 1
  }
  read -r secs kb <"$tmp/time"
  printf '%s\t%s\t%s\n' "$name" "$secs" "$kb" >>"$tmp/results"
}

median() {  # NAME COLUMN -> the median of that column over the rounds
  awk -F'\t' -v n="$1" -v c="$2" '$1 == n { print $c }' "$tmp/results" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

report() {  # FILE NAMES...
  local file=$1
  shift
  local packets size base
  packets=$("$tool" read --json "$file" 2>/dev/null | wc -l)
  size=$(stat -c %s "$file")
  printf '%s: %d packets, %d bytes; median of %d rounds\n' "$(basename "$file")" "$packets" "$size" "$rounds"
  base=$(median "$1" 2)
  printf '  %-36s %9s %12s %14s %12s\n' command seconds packets/s "vs tcpdump" "peak RSS"
  for n in "$@"; do
    local s kb
    s=$(median "$n" 2)
    kb=$(median "$n" 3)
    awk -v n="$n" -v s="$s" -v p="$packets" -v b="$base" -v kb="$kb" \
      'BEGIN { printf "  %-36s %9.2f %12.0f %13.2fx %9.1f MiB\n", n, s, p / s, s / b, kb / 1024 }'
  done
}

echo "machine: $(nproc) CPUs, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tools: $(tcpdump --version 2>&1 | head -1); socklab-capture from $build"
for file in "$one_m" "$one_g"; do
  : >"$tmp/results"
  for ((i = 0; i < rounds; i++)); do
    measure "tcpdump -nn -r" "$file" tcpdump -nn -r
    measure "socklab-capture read --lines" "$file" "$tool" read --lines
    measure "socklab-capture read --json" "$file" "$tool" read --json
  done
  report "$file" "tcpdump -nn -r" "socklab-capture read --lines" "socklab-capture read --json"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
