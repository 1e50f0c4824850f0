#!/bin/sh
# A class of N students at once (bench/README.md, "A class"): one
# `demo-sticky --role server --capture --serve N` in a namespace of its own, N
# `demo-sticky --role client` started together from another, over a veth pair.
# Prints the server's wall time and peak RSS, the class capture's kernel drops,
# and the slowest student's run (start to exit). Root; namespaces socklab-bench-*
# are removed at the end, also on failure.
# Usage: bench/class/class.sh BUILD_DIR N
set -eu
build=$1
n=$2
demo=$build/demos/demo-sticky
t=socklab-bench-$$-t
s=socklab-bench-$$-s
out=$(mktemp -d)
cleanup() { ip netns del "$t" 2>/dev/null || true; ip netns del "$s" 2>/dev/null || true; rm -rf "$out"; }
trap cleanup EXIT INT TERM
ip netns add "$t"
ip netns add "$s"
ip link add bench-t netns "$t" type veth peer name bench-s netns "$s"
ip -n "$t" addr add 10.78.0.1/24 dev bench-t
ip -n "$s" addr add 10.78.0.2/24 dev bench-s
for ns in "$t" "$s"; do ip -n "$ns" link set lo up; done
ip -n "$t" link set bench-t up
ip -n "$s" link set bench-s up
# A new veth end carries traffic once it is operationally up (linkwatch).
for end in "$t bench-t" "$s bench-s"; do
  set -- $end
  until ip -n "$1" link show "$2" | grep -q "state UP"; do sleep 0.01; done
done

ip netns exec "$t" /usr/bin/time -f '%e %M' -o "$out/server.time" \
  "$demo" --role server --listen 10.78.0.1 --port 5099 --serve "$n" --capture --json >"$out/server.json" 2>"$out/server.err" &
server=$!
until grep -q "Serving a class" "$out/server.err" 2>/dev/null; do
  kill -0 "$server" || { cat "$out/server.err"; exit 1; }
  sleep 0.05  # polling a file the server writes; not part of what is measured
done
i=0
while [ "$i" -lt "$n" ]; do
  ( a=$(date +%s%N); ip netns exec "$s" "$demo" --role client --host 10.78.0.1 --port 5099 >/dev/null 2>&1; rc=$?
    b=$(date +%s%N); echo "$rc $(( (b - a) / 1000000 ))" >"$out/client.$i" ) &
  i=$((i + 1))
done
wait
failed=$(cat "$out"/client.* | awk '$1 != 0' | wc -l)
slowest=$(cat "$out"/client.* | awk '{ if ($2 > m) m = $2 } END { print m }')
read -r secs rss <"$out/server.time"
drops=$(grep '"kind":"class_summary"' "$out/server.json" | sed 's/.*"dropped_by_kernel":\([0-9]*\).*/\1/')
served=$(grep '"kind":"class_summary"' "$out/server.json" | sed 's/.*"clients":\([0-9]*\).*/\1/')
echo "students=$n served=$served failed=$failed server_s=$secs peak_rss_kb=$rss drops=$drops slowest_ms=$slowest"
