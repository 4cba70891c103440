#!/usr/bin/env bash
# Loopback load on the transaction layer: SIPp sends OPTIONS to the
# options_responder example (a server transaction and a 200 per request)
# at rising rates, without retransmissions, and this prints what rate was
# achieved with how many failures. A measurement, not a test.
#
#   bench/transaction-options.sh [udp|tcp] [rates...]
set -euo pipefail
cd "$(dirname "$0")/.."
transport=${1:-udp}; shift || true
rates=${*:-"2000 5000 10000 15000 20000"}
port=5070
duration=5

command -v sipp >/dev/null || { echo "sipp missing: apt-get install sip-tester" >&2; exit 1; }
cargo build --release -q -p sipjet-transaction --example options_responder
target/release/examples/options_responder "127.0.0.1:$port" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 0.5

case $transport in
  udp) t=(-t u1 -nr) ;;
  tcp) t=(-t t1) ;;
  *) echo "transport is udp or tcp" >&2; exit 1 ;;
esac

printf '%-8s %-10s %-10s %-10s %-8s\n' transport offered achieved failed cpu%
for rate in $rates; do
  calls=$((rate * duration))
  before=$(awk '{print $14+$15}' /proc/$server/stat)
  out=$(sipp -sf bench/scenarios/options.xml "${t[@]}" -i 127.0.0.1 -p $((port + 1)) \
        -r "$rate" -m "$calls" -buff_size 4194304 -nostdin -timeout $((duration + 10)) -timeout_error \
        "127.0.0.1:$port" 2>&1 || true)
  after=$(awk '{print $14+$15}' /proc/$server/stat)
  ok=$(echo "$out" | awk -F'|' '/Successful call/ {v=$3} END {gsub(/ /,"",v); print v+0}')
  failed=$(echo "$out" | awk -F'|' '/Failed call/ {v=$3} END {gsub(/ /,"",v); print v+0}')
  # SIPp's cumulative call rate is the rate it achieved.
  achieved=$(echo "$out" | awk -F'|' '/Call Rate/ {v=$3} END {gsub(/[ cps]/,"",v); printf "%.0f", v}')
  elapsed=$(awk -v ok="$ok" -v r="$achieved" 'BEGIN {if (r > 0) print ok / r; else print 0}')
  cpu=$(awk -v a="$after" -v b="$before" -v e="$elapsed" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {if (e > 0) printf "%.0f", 100 * (a - b) / hz / e; else print 0}')
  printf '%-8s %-10s %-10s %-10s %-8s\n' "$transport" "$rate" "$achieved" "$failed" "$cpu"
done
