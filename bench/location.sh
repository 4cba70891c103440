#!/usr/bin/env bash
# The location stores under load on one node, SQLite and PostgreSQL in one
# run. A measurement, not a test.
#
#  1. REGISTERs through a running sipjet: sipload (digest authentication,
#     UDP, open loop) at rising rates; for each store, the highest rate
#     with no failed registration and at least 95% of the offered rate
#     achieved, with its p50 and p99.
#  2. The stores alone (examples/location_load): applies per second and
#     p99 with 1, 8 and 64 callers, then 100,000 bindings reopened in a
#     fresh process: the time a node takes to load them (its restart) and
#     the memory they take.
#
# PostgreSQL is a throwaway cluster on loopback (scripts/test-postgres.sh)
# with fsync on, as a real one runs; every 200 is committed first on both.
#
#   bench/location.sh [--duration 5] [--rates "500 1000 2000 4000 8000"]
#                     [--users 1000] [--store-seconds 3]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh
# shellcheck source=scripts/test-postgres.sh
. scripts/test-postgres.sh

duration=5
rates="500 1000 2000 4000 8000"
users=1000
store_seconds=3
while [ $# -gt 0 ]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --rates) rates=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --store-seconds) store_seconds=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

cargo build --release -q -p sipjet -p sipjet-sipload --example location_load
target=${CARGO_TARGET_DIR:-$root/target}/release

work=$(mktemp -d)
# Copies, so that a build meanwhile does not swap them under the run.
cp "$target/sipjet" "$target/sipload" "$target/examples/location_load" "$work/"
sipjet_bin=$work/sipjet
sipload=$work/sipload
location_load=$work/location_load
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  stop_test_postgres
  rm -rf "$work"
}
trap cleanup EXIT
SIPJET_PG_FSYNC=on start_test_postgres >/dev/null
pg_url=$SIPJET_TEST_POSTGRES
port=5090

{
  cat <<CONF
[global]
type = global
default_realm = bench
endpoint_identifier_order = username,auth_username
node_id = bench-1

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
supported_algorithms_uas = MD5

[mailbox](!)
type = aor
max_contacts = 10
CONF
  user_sections "$users"
} >"$work/pjsip.conf"

start_server() { # location-db
  "$sipjet_bin" run --config "$work/pjsip.conf" --location-db "$1" --no-admin \
    2>"$work/sipjet.log" &
  server_pid=$!
  for _ in $(seq 1 50); do
    if "$sipload" --target "127.0.0.1:$port" --rate 10 --duration 1 --grace 1 2>/dev/null |
      grep -q "failed=0"; then
      return
    fi
  done
  echo "sipjet did not start; its log:" >&2
  cat "$work/sipjet.log" >&2
  exit 1
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# One rate step: "achieved failed p50_us p99_us".
step() { # rate
  local out
  out=$("$sipload" --target "127.0.0.1:$port" --scenario register --rate "$1" \
    --duration "$duration" --users "$users" 2>/dev/null | tail -1)
  echo "$(kv "$out" rate) $(kv "$out" failed) $(kv "$out" p50_us) $(kv "$out" p99_us)"
}

declare -A best
for store in sqlite postgres; do
  case $store in
    sqlite) db=$work/location.db ;;
    postgres)
      psql -q "$pg_url" -c "CREATE SCHEMA bench" >/dev/null
      db="$pg_url?options=-c%20search_path%3Dbench&sslmode=disable" ;;
  esac
  start_server "$db"
  best[$store]="- - - -"
  for rate in $rates; do
    read -r achieved failed p50 p99 < <(step "$rate")
    echo "$store: offered $rate/s, achieved $achieved/s, failed $failed, p50 ${p50} us, p99 ${p99} us" >&2
    if [ "$failed" = 0 ] && awk -v a="$achieved" -v r="$rate" 'BEGIN { exit !(a >= 0.95 * r) }'; then
      best[$store]="$rate $achieved $p50 $p99"
    else
      break
    fi
  done
  stop_server
done

echo
echo "## REGISTERs through sipjet, one node ($users users, UDP, digest MD5, ${duration} s per step)"
echo
echo "| store | highest clean rate | achieved | p50 | p99 |"
echo "| --- | ---: | ---: | ---: | ---: |"
for store in sqlite postgres; do
  read -r rate achieved p50 p99 <<<"${best[$store]}"
  echo "| $store | $rate/s | $achieved/s | $p50 us | $p99 us |"
done
echo
echo "## The stores alone, then 100,000 bindings reopened (examples/location_load)"
echo
echo '```'
"$location_load" "$store_seconds" --postgres "$pg_url?sslmode=disable"
echo '```'
