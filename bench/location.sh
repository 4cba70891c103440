#!/usr/bin/env bash
# The location stores under load, SQLite and PostgreSQL, one node and two,
# in one run. A measurement, not a test.
#
#  1. REGISTERs through running sipjet nodes: sipload (digest
#     authentication, UDP, open loop) at rising rates; for each set-up, the
#     highest rate with no failed registration and at least 95% of the
#     offered rate achieved, with its p50 and p99. The set-ups: one node on
#     SQLite, one node on PostgreSQL, and two nodes sharing one PostgreSQL
#     database, each taking half the rate from half the users (the p50 and
#     p99 given are the worse of the two nodes').
#  2. A node restarted on 100,000 bindings in PostgreSQL: the time from
#     its start to its listening (its whole load) and its resident memory
#     then.
#  3. The stores alone (examples/location_load): applies per second and
#     p99 with 1, 8 and 64 callers, then 100,000 bindings reopened in a
#     fresh process: the time a store takes to load them and the memory
#     they take.
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

cargo build --release -q -p sipjet -p sipjet-sipload --bins --example location_load
target=${CARGO_TARGET_DIR:-$root/target}/release

work=$(mktemp -d)
# Copies, so that a build meanwhile does not swap them under the run.
cp "$target/sipjet" "$target/sipload" "$target/examples/location_load" "$work/"
sipjet_bin=$work/sipjet
sipload=$work/sipload
location_load=$work/location_load
server_pids=()
cleanup() {
  for pid in "${server_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
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
node_id = bench-NODE
cluster_secret = a secret the bench nodes share

[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:PORT

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

# The configuration of node N (1 or 2), on port $port + N - 1.
node_conf() { # n
  sed -e "s/bench-NODE/bench-$1/" -e "s/PORT/$((port + $1 - 1))/" "$work/pjsip.conf" >"$work/node$1.conf"
  echo "$work/node$1.conf"
}

start_server() { # location-db n
  local at=$((port + $2 - 1))
  RUST_LOG=${RUST_LOG:-info} "$sipjet_bin" run --config "$(node_conf "$2")" --location-db "$1" \
    --no-admin 2>"$work/sipjet$2.log" &
  server_pids+=($!)
  for _ in $(seq 1 50); do
    if "$sipload" --target "127.0.0.1:$at" --rate 10 --duration 1 --grace 1 2>/dev/null |
      grep -q "failed=0"; then
      return
    fi
  done
  echo "sipjet did not start; its log:" >&2
  cat "$work/sipjet$2.log" >&2
  exit 1
}

stop_servers() {
  for pid in "${server_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  server_pids=()
}

# One rate step on `nodes` nodes, each sent rate/nodes from its share of
# the users: "achieved failed p50_us p99_us" (the sum of the rates and of
# the failures, the worse of the latencies).
step() { # rate nodes
  local n share pids=()
  share=$((users / $2))
  for n in $(seq 1 "$2"); do
    "$sipload" --target "127.0.0.1:$((port + n - 1))" --scenario register \
      --rate $(($1 / $2)) --duration "$duration" --users "$share" \
      --first-user $(((n - 1) * share + 1)) 2>/dev/null | tail -1 >"$work/step$n" &
    pids+=($!)
  done
  wait "${pids[@]}"
  for n in $(seq 1 "$2"); do
    out=$(cat "$work/step$n")
    echo "$(kv "$out" rate) $(kv "$out" failed) $(kv "$out" p50_us) $(kv "$out" p99_us)"
  done | awk '{ a += $1; f += $2; if ($3 > p50) p50 = $3; if ($4 > p99) p99 = $4 }
    END { printf "%d %d %d %d\n", a, f, p50, p99 }'
}

setups="sqlite postgres postgres-2-nodes"
declare -A best
for setup in $setups; do
  nodes=1
  case $setup in
    sqlite) db=$work/location.db ;;
    postgres*)
      schema=${setup//-/_}
      psql -q "$pg_url" -c "CREATE SCHEMA $schema" >/dev/null
      db="$pg_url?options=-c%20search_path%3D$schema&sslmode=disable"
      [ "$setup" = postgres-2-nodes ] && nodes=2 ;;
  esac
  for n in $(seq 1 "$nodes"); do start_server "$db" "$n"; done
  best[$setup]="- - - -"
  for rate in $rates; do
    read -r achieved failed p50 p99 < <(step "$rate" "$nodes")
    echo "$setup: offered $rate/s, achieved $achieved/s, failed $failed, p50 ${p50} us, p99 ${p99} us" >&2
    if [ "$failed" = 0 ] && awk -v a="$achieved" -v r="$rate" 'BEGIN { exit !(a >= 0.95 * r) }'; then
      best[$setup]="$rate $achieved $p50 $p99"
    else
      break
    fi
  done
  stop_servers
done

# A node restarted on 100,000 bindings in PostgreSQL.
psql -q "$pg_url" -c "CREATE SCHEMA restart" >/dev/null
restart_db="$pg_url?options=-c%20search_path%3Drestart&sslmode=disable"
"$location_load" fill "$restart_db" >/dev/null
started=$(date +%s%N)
RUST_LOG=info "$sipjet_bin" run --config "$(node_conf 1)" --location-db "$restart_db" --no-admin \
  2>"$work/restart.log" &
server_pids+=($!)
listening=""
for _ in $(seq 1 1500); do
  if grep -qs "sipjet_server::server: listening" "$work/restart.log"; then
    listening=$(date +%s%N)
    break
  fi
  sleep 0.01
done
if [ -z "$listening" ]; then
  echo "the restarted node did not listen; its log:" >&2
  cat "$work/restart.log" >&2
  exit 1
fi
loaded=$(grep -o 'location database loaded.*' "$work/restart.log" | head -1)
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/${server_pids[0]}/status")
stop_servers

echo
echo "## REGISTERs through sipjet ($users users, UDP, digest MD5, ${duration} s per step)"
echo
echo "| set-up | highest clean rate | achieved | p50 | p99 |"
echo "| --- | ---: | ---: | ---: | ---: |"
for setup in $setups; do
  read -r rate achieved p50 p99 <<<"${best[$setup]}"
  echo "| $setup | $rate/s | $achieved/s | $p50 us | $p99 us |"
done
echo
echo "## A node restarted on 100,000 bindings in PostgreSQL"
echo
echo "- start to listening: $(((listening - started) / 1000000)) ms ($loaded)"
echo "- resident memory once listening: $((rss / 1024)) MiB (VmRSS $rss KiB)"
echo
echo "## The stores alone, then 100,000 bindings reopened (examples/location_load)"
echo
echo '```'
"$location_load" "$store_seconds" --postgres "$pg_url?sslmode=disable"
echo '```'
