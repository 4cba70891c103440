#!/usr/bin/env bash
# Registrations survive kill -9: registers N users with SIPp (digest
# auth), kills the server with SIGKILL while they are fresh, restarts it on
# the same location database, and checks that every registration that was
# answered 200 is listed by `sipjet show contacts` with a remaining expiry
# in (0, 3600]. Prints how long the restart took to serve again.
#
#   scripts/durability.sh [N]        (default 500)
#
# SIPJET_BIN picks the binary (default: a release build); SIP_PORT,
# ADMIN_PORT and SIPP_PORT the ports on 127.0.0.1 (default 5095, 8095 and
# 5096).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500}
sip_port=${SIP_PORT:-5095}
admin="127.0.0.1:${ADMIN_PORT:-8095}"
sipp_port=${SIPP_PORT:-5096}
command -v sipp >/dev/null || { echo "sipp missing: apt-get install sip-tester" >&2; exit 1; }
if [ -z "${SIPJET_BIN:-}" ]; then
  cargo build --release -q -p sipjet
  SIPJET_BIN=target/release/sipjet
fi
bin=$(realpath "$SIPJET_BIN")
scenario=$(realpath crates/server/tests/sipp/reg_durable.xml)

work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill -9 "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

{
  printf '[global]\ntype = global\ndefault_realm = durable\n'
  printf '[udp]\ntype = transport\nprotocol = udp\nbind = 127.0.0.1:%s\n' "$sip_port"
  printf '[phone](!)\ntype = endpoint\nidentify_by = username\n'
  printf '[secret](!)\ntype = auth\nauth_type = userpass\nsupported_algorithms_uas = MD5\n'
  printf '[box](!)\ntype = aor\nmax_contacts = 1\n'
  for i in $(seq 1 "$n"); do
    printf '[u%d](phone)\nauth = u%d\naors = u%d\n[u%d](secret)\nusername = u%d\npassword = p%d\n[u%d](box)\n' \
      "$i" "$i" "$i" "$i" "$i" "$i" "$i"
  done
} >"$work/pjsip.conf"
{
  echo SEQUENTIAL
  for i in $(seq 1 "$n"); do echo "u$i;[authentication username=u$i password=p$i]"; done
} >"$work/users.csv"

start() {
  "$bin" run --config "$work/pjsip.conf" --location-db "$work/location.db" --admin "$admin" \
    2>>"$work/server.log" &
  server=$!
  for _ in $(seq 1 200); do
    "$bin" show transports --admin "$admin" >/dev/null 2>&1 && return
    sleep 0.05
  done
  echo "the server did not come up; its log:" >&2
  cat "$work/server.log" >&2
  exit 1
}

start
(cd "$work" && sipp -sf "$scenario" -inf users.csv -m "$n" -r 500 -nostdin -trace_logs -i 127.0.0.1 -p "$sipp_port" \
  -timeout 60 "127.0.0.1:$sip_port" >sipp.out 2>&1) || true
registered=$(cat "$work"/*_logs.log 2>/dev/null | awk '/^registered / {print $2}' | sort -u)
count=$(echo "$registered" | grep -c . || true)
echo "registered with a 200: $count of $n"
[ "$count" -gt 0 ] || { echo "no registration succeeded" >&2; tail -20 "$work/sipp.out" >&2; exit 1; }

{ kill -9 "$server"; wait "$server"; } 2>/dev/null || true
began=$(date +%s%N)
start
ready_ms=$(( ($(date +%s%N) - began) / 1000000 ))
echo "restarted after SIGKILL, serving again in ${ready_ms} ms"

"$bin" show contacts --admin "$admin" >"$work/contacts.txt"
# AOR  CONTACT  KIND  EXPIRES ... (a registered contact is "dynamic", its expiry "NNNs")
missing=0
while read -r user; do
  line=$(awk -v u="$user" '$1 == u && $3 == "dynamic"' "$work/contacts.txt")
  expires=$(echo "$line" | awk '{sub(/s$/, "", $4); print $4}')
  if [ -z "$line" ] || ! [ "$expires" -gt 0 ] 2>/dev/null || [ "$expires" -gt 3600 ]; then
    echo "lost or wrong after restart: $user (${line:-not listed})" >&2
    missing=$((missing + 1))
  fi
done <<<"$registered"
if [ "$missing" -gt 0 ]; then
  echo "$missing of $count acknowledged registrations were lost" >&2
  exit 1
fi
echo "all $count acknowledged registrations listed after the restart, with their remaining expiry"
