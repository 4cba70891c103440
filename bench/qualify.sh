#!/usr/bin/env bash
# Does qualifying many contacts disturb the traffic the server is there
# for? sipjet starts on a location store of USERS x PER_USER contacts
# (10,000 x 5 = 50,000 by default), all at one answering peer (`sipload --answer`), and
# takes the same OPTIONS and digest REGISTER load from sipload twice over:
# with qualify off, and with every contact qualified every 60 s. Rounds
# alternate (off, on, off, on...) so that drift of the machine does not
# read as an effect. Prints p50/p99 of both loads, the qualify OPTIONS
# answered, and the server's CPU when idle, when only qualifying, and
# under each load. A measurement, not a test.
#
#   bench/qualify.sh [--rounds 2] [--duration 30] [--options-rate 10000]
#                    [--register-rate 4000] [--users 10000] [--per-user 5]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh

rounds=2
duration=30
options_rate=10000
register_rate=4000
users=10000
per_user=5
frequency=60
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --options-rate) options_rate=$2; shift 2 ;;
    --register-rate) register_rate=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --per-user) per_user=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

cargo build --release -q -p sipjet -p sipjet-sipload
cargo build --release -q -p sipjet --example location_load
sipjet_bin=$root/target/release/sipjet
sipload=$root/target/release/sipload
fill=$root/target/release/examples/location_load

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port=5070
peer=127.0.0.1:5090
hz=$(getconf CLK_TCK)

for qualify in 0 "$frequency"; do
  {
    cat <<EOF
[global]
type = global
default_realm = bench
endpoint_identifier_order = username,auth_username

[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:$port

[phone](!)
type = endpoint
identify_by = username,auth_username

[secret](!)
type = auth
auth_type = userpass

[mailbox](!)
type = aor
max_contacts = $((per_user + 10))
qualify_frequency = $qualify
EOF
    user_sections "$users"
  } >"$work/qualify-$qualify.conf"
done

"$fill" contacts "$work/contacts.db" "$users" "$per_user" "$peer" >&2

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
seconds() { awk -v t="$1" -v hz="$hz" 'BEGIN {printf "%.2f", t / hz}'; }

# One round: prints "idle_cpu qualify_only_cpu options_p50 options_p99
# options_failed options_cpu register_p50 register_p99 register_failed
# register_cpu qualify_answers_per_second".
round() { # qualify_frequency
  local q=$1 server answerer t0 t1 out
  rm -f "$work"/run.db*
  cp "$work/contacts.db" "$work/run.db"
  "$sipload" --answer --target "$peer" --duration $((3 * duration + 30)) >"$work/answer.out" &
  answerer=$!
  pids=($answerer)
  local started; started=$(date +%s)
  "$sipjet_bin" run --config "$work/qualify-$q.conf" --location-db "$work/run.db" --no-admin \
    2>"$work/sipjet.log" &
  server=$!
  pids+=($server)
  for _ in $(seq 1 50); do
    "$sipload" --target "127.0.0.1:$port" --rate 10 --duration 1 --grace 1 2>/dev/null |
      grep -q "failed=0" && break
  done
  # Quiet period: the server alone (with qualify, only qualifying).
  sleep 5
  t0=$(ticks $server); sleep "$duration"; t1=$(ticks $server)
  local quiet=$((t1 - t0))
  t0=$(ticks $server)
  out=$("$sipload" --target "127.0.0.1:$port" --scenario options --rate "$options_rate" \
    --duration "$duration" --users "$users" 2>/dev/null | tail -1)
  t1=$(ticks $server)
  local o50 o99 ofail ocpu
  o50=$(kv "$out" p50_us); o99=$(kv "$out" p99_us); ofail=$(kv "$out" failed); ocpu=$((t1 - t0))
  t0=$(ticks $server)
  out=$("$sipload" --target "127.0.0.1:$port" --scenario register --rate "$register_rate" \
    --duration "$duration" --users "$users" 2>/dev/null | tail -1)
  t1=$(ticks $server)
  local r50 r99 rfail rcpu
  r50=$(kv "$out" p50_us); r99=$(kv "$out" p99_us); rfail=$(kv "$out" failed); rcpu=$((t1 - t0))
  kill $server; wait $server 2>/dev/null || true
  local lasted=$(($(date +%s) - started))
  sleep 1
  kill $answerer 2>/dev/null || true; wait $answerer 2>/dev/null || true
  pids=()
  # The answerer prints its counts every second.
  local answered
  answered=$(kv "$(tail -1 "$work/answer.out")" answered)
  echo "$(seconds $quiet) $o50 $o99 $ofail $(seconds $ocpu) $r50 $r99 $rfail $(seconds $rcpu) $((${answered:-0} / lasted))"
}

echo "| round | qualify | qualify OPTIONS answered/s | server CPU-s, ${duration} s without load | OPTIONS p50/p99 (µs) | OPTIONS failed | REGISTER p50/p99 (µs) | REGISTER failed | server CPU-s under OPTIONS / REGISTER |"
echo "|---|---|---|---|---|---|---|---|---|"
for r in $(seq 1 "$rounds"); do
  for q in 0 "$frequency"; do
    read -r quiet o50 o99 ofail ocpu r50 r99 rfail rcpu answers < <(round "$q")
    label=off
    [ "$q" = 0 ] || label="every ${q} s"
    echo "| $r | $label | $answers | $quiet | $o50 / $o99 | $ofail | $r50 / $r99 | $rfail | $ocpu / $rcpu |"
  done
done
echo
echo "$((users * per_user)) qualified contacts at one peer; OPTIONS at ${options_rate}/s and REGISTER at ${register_rate}/s for ${duration} s each, UDP; $(nproc) cores."
