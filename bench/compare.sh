#!/usr/bin/env bash
# sipjet and Kamailio under the same SIPp load, one after the other, on
# loopback. For each test and server it raises the rate step by step and
# keeps the highest step with no failed call and at least 95% of the
# offered rate achieved (SIPp without UDP retransmission, so any loss
# fails the step). At that rate it reports the server's CPU-seconds per
# 100,000 requests and peak memory; then both servers take the same load
# at 80% of Kamailio's maximum from sipload, which times every exchange to
# the microsecond (SIPp counts milliseconds), for p50/p99. Prints a
# Markdown table. A measurement, not a test.
#
#   bench/compare.sh [--quick] [--tests "options-udp options-tcp register-udp register-tcp register-sha256-udp"]
#                    [--servers "sipjet kamailio"] [--duration 10] [--users 1000]
#
# Kamailio (Debian's package) is configured here as the equivalent server:
# OPTIONS to the server answered 200 statelessly; REGISTER challenged
# (qop=auth, nonce-count checked) and saved by its registrar, contacts in
# memory; the same users and passwords. sipjet runs its own registrar,
# whose every 200 is on disk first (SQLite, group commit).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh

tests="options-udp options-tcp register-udp register-tcp register-sha256-udp"
servers="sipjet kamailio"
duration=10
users=1000
quick=0
while [ $# -gt 0 ]; do
  case $1 in
    --tests) tests=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --quick) quick=1; duration=4; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

need() { # command package
  command -v "$1" >/dev/null && return
  echo "installing $2 for $1" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq "$2" >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq "$2" >/dev/null; fi
}
need sipp sip-tester
need kamailio kamailio

cargo build --release -q -p sipjet -p sipjet-sipload
sipjet_bin=$root/target/release/sipjet
sipload=$root/target/release/sipload

work=$(mktemp -d)
server_pids=()
cleanup() {
  for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f "kamailio -f $work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
[ -n "${KEEP_WORK:-}" ] && trap - EXIT

sipjet_port=5070
kamailio_port=5080
hz=$(getconf CLK_TCK)

# --- configuration of both servers, same users -------------------------------

{
  cat <<EOF
[global]
type = global
user_agent = sipjet
default_realm = bench
endpoint_identifier_order = username,auth_username

[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:$sipjet_port

[transport-tcp]
type = transport
protocol = tcp
bind = 127.0.0.1:$sipjet_port

[phone](!)
type = endpoint
identify_by = username,auth_username

[secret](!)
type = auth
auth_type = userpass
supported_algorithms_uas = MD5,SHA-256

[mailbox](!)
type = aor
max_contacts = 10
EOF
  user_sections "$users"
} >"$work/pjsip.conf"

cat >"$work/kamailio.cfg" <<EOF
#!KAMAILIO
debug=0
log_stderror=no
fork=yes
children=${KAMAILIO_CHILDREN:-2}
tcp_children=${KAMAILIO_TCP_CHILDREN:-2}
listen=udp:127.0.0.1:$kamailio_port
listen=tcp:127.0.0.1:$kamailio_port
auto_aliases=no
alias="127.0.0.1:$kamailio_port"
maxbuffer=8388608
max_while_loops=$((users + 10))
tcp_connection_lifetime=3605
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "htable.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("htable", "htable", "users=>size=12;")
modparam("usrloc", "db_mode", 0)
modparam("auth", "nonce_count", 1)
modparam("auth", "qop", "auth")
event_route[htable:mod-init] {
  \$var(i) = 1;
  while (\$var(i) <= $users) {
    \$sht(users=>user\$var(i)) = "pass" + \$var(i);
    \$var(i) = \$var(i) + 1;
  }
}
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (is_method("OPTIONS") && \$rU == \$null) { sl_send_reply("200", "OK"); exit; }
  if (is_method("REGISTER")) {
    if (!is_present_hf("Authorization")) { auth_challenge("\$td", "1"); exit; }
    \$var(pw) = \$sht(users=>\$au);
    if (\$var(pw) == \$null) { auth_challenge("\$td", "1"); exit; }
    if (!pv_auth_check("\$td", "\$var(pw)", "0", "1")) { auth_challenge("\$td", "1"); exit; }
    consume_credentials();
    if (!save("location")) { sl_reply_error(); }
    exit;
  }
  sl_send_reply("404", "Not Here");
}
EOF

# SIPp cannot substitute a field inside [authentication]: the whole
# keyword is the second field. One file per SIPp process, disjoint users.
write_users() { # processes
  local n=$1 p
  for p in $(seq 0 $((n - 1))); do
    {
      echo SEQUENTIAL
      for i in $(seq $((p + 1)) "$n" "$users"); do
        echo "user$i;[authentication username=user$i password=pass$i]"
      done
    } >"$work/users-$n-$p.csv"
  done
}

# --- starting, stopping and watching a server ---------------------------------

start_server() { # name
  case $1 in
    sipjet)
      rm -f "$work"/location.db*
      "$sipjet_bin" run --config "$work/pjsip.conf" --location-db "$work/location.db" --no-admin \
        2>"$work/sipjet.log" &
      server_pids=($!)
      port=$sipjet_port ;;
    kamailio)
      kamailio -f "$work/kamailio.cfg" -P "$work/kamailio.pid" -m 512 -M 64 -E 2>"$work/kamailio.log"
      sleep 1
      server_pids=($(pgrep -f "kamailio -f $work"))
      port=$kamailio_port ;;
  esac
  # Ready when it answers an OPTIONS.
  for _ in $(seq 1 50); do
    if "$sipload" --target "127.0.0.1:$port" --rate 10 --duration 1 --grace 1 2>/dev/null \
        | grep -q "failed=0"; then
      return
    fi
  done
  echo "$1 did not start; its log:" >&2
  cat "$work/$1.log" >&2
  exit 1
}

stop_server() {
  for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  server_pids=()
}

# CPU ticks of all the server's processes.
server_ticks() {
  local t=0 p
  for p in "${server_pids[@]}"; do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo $t
}

# Memory of all the server's processes in KiB: the proportional set size
# (RSS with each shared page divided among the processes sharing it), so
# that Kamailio's shared memory is counted once.
server_pss() {
  local t=0 p
  for p in "${server_pids[@]}"; do
    [ -r "/proc/$p/smaps_rollup" ] &&
      t=$((t + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
  done
  echo $t
}

# --- one step: SIPp at one rate -------------------------------------------------

# Prints "achieved failed cpu_ticks peak_kib procs".
sipp_step() { # test rate
  local test=$1 rate=$2 scenario transport procs=1 calls p pids=() peak=0 before after out
  case $test in
    options-*) scenario=bench/scenarios/options-server.xml ;;
    register-*) scenario=bench/scenarios/register-digest.xml ;;
  esac
  case $test in
    *-udp) transport=(-t u1 -nr)
           # One SIPp process offers about 12,000 calls/s here.
           procs=$(( (rate + 11999) / 12000 )) ;;
    *-tcp) transport=(-t t1) ;;
  esac
  [ "$test" = register-udp ] || [ "$test" = register-tcp ] && write_users $procs
  calls=$((rate * duration / procs))
  before=$(server_ticks)
  # Ports apart: SIPp also binds media ports (from 6000 by default), and
  # two processes must not take each other's.
  for p in $(seq 0 $((procs - 1))); do
    local inf=()
    case $test in register-*) inf=(-inf "$work/users-$procs-$p.csv") ;; esac
    sipp -sf "$scenario" "${inf[@]}" "${transport[@]}" -i 127.0.0.1 -p $((15060 + 2 * p)) -mp $((24000 + 100 * p)) \
      -r $((rate / procs)) -m "$calls" -buff_size 8388608 -nostdin \
      -timeout $((duration + 15)) -timeout_error "127.0.0.1:$port" >"$work/sipp-$p.out" 2>&1 &
    pids+=($!)
  done
  while kill -0 "${pids[@]}" 2>/dev/null; do
    local m; m=$(server_pss)
    [ "$m" -gt "$peak" ] && peak=$m
    sleep 0.5
  done
  wait "${pids[@]}" 2>/dev/null || true
  after=$(server_ticks)
  local ok=0 failed=0 achieved=0
  for p in $(seq 0 $((procs - 1))); do
    out=$(cat "$work/sipp-$p.out")
    if ! echo "$out" | grep -q "Successful call"; then
      echo "SIPp process $p gave no statistics; its output ends:" >&2
      tail -5 "$work/sipp-$p.out" >&2
    fi
    ok=$((ok + $(echo "$out" | awk -F'|' '/Successful call/ {v=$3} END {gsub(/ /,"",v); print v+0}')))
    failed=$((failed + $(echo "$out" | awk -F'|' '/Failed call/ {v=$3} END {gsub(/ /,"",v); print v+0}')))
    achieved=$((achieved + $(echo "$out" | awk -F'|' '/Call Rate/ {v=$3} END {gsub(/[ cps]/,"",v); printf "%.0f", v}')))
  done
  # Calls that never finished count as failed.
  failed=$((failed + calls * procs - ok - failed))
  [ $failed -lt 0 ] && failed=0
  echo "$achieved $failed $((after - before)) $peak $procs $ok"
}

rates_for() { # test
  if [ $quick = 1 ]; then
    case $1 in
      options-*) echo "5000 10000 20000" ;;
      register-*) echo "1000 3000 6000" ;;
    esac
    return
  fi
  case $1 in
    options-udp) echo "5000 10000 15000 20000 25000 30000 35000 40000 50000" ;;
    options-tcp) echo "5000 10000 15000 20000 25000 30000 40000" ;;
    register-*) echo "2000 4000 6000 8000 10000 12000 14000 16000 18000 20000 24000" ;;
  esac
}

requests_per_call() { case $1 in options-*) echo 1 ;; *) echo 2 ;; esac; }

# --- the SHA-256 test: sipload steps, sipjet alone (SIPp only does MD5) --------

sipload_step() { # transport scenario algorithm rate -> "rate failed ticks peak p50 p99"
  local before after out peak=0 pid
  before=$(server_ticks)
  "$sipload" --target "127.0.0.1:$port" --transport "$1" --scenario "$2" --algorithm "$3" \
    --rate "$4" --duration "$duration" --users "$users" >"$work/sipload.out" 2>"$work/sipload.err" &
  pid=$!
  while kill -0 $pid 2>/dev/null; do
    local m; m=$(server_pss)
    [ "$m" -gt "$peak" ] && peak=$m
    sleep 0.5
  done
  wait $pid || true
  after=$(server_ticks)
  out=$(tail -1 "$work/sipload.out")
  echo "$(kv "$out" rate) $(kv "$out" failed) $((after - before)) $peak $(kv "$out" p50_us) $(kv "$out" p99_us) $(kv "$out" completed)"
}

# --- the run ---------------------------------------------------------------------

declare -A max_rate cpu100k peak_mib p50 p99 note lat_rate
for test in $tests; do
  for server in $servers; do
    if [ "$test" = register-sha256-udp ] && [ "$server" != sipjet ]; then continue; fi
    start_server "$server"
    idle=$(server_pss)
    best=0
    for rate in $(rates_for "$test"); do
      if [ "$test" = register-sha256-udp ]; then
        read -r achieved failed ticks peak _ _ ok < <(sipload_step udp register SHA-256 "$rate")
        procs=1
      else
        read -r achieved failed ticks peak procs ok < <(sipp_step "$test" "$rate")
      fi
      printf '%-20s %-9s rate %6s: achieved %6s, failed %5s, cpu %5.2f s, peak %4d MiB, %s load process(es)\n' \
        "$test" "$server" "$rate" "$achieved" "$failed" "$(awk -v t="$ticks" -v hz="$hz" 'BEGIN {print t / hz}')" \
        $((peak / 1024)) "$procs" >&2
      if [ "$failed" = 0 ] && [ $((achieved * 100)) -ge $((rate * 95)) ]; then
        best=$rate
        requests=$((ok * $(requests_per_call "$test")))
        cpu100k["$test/$server"]=$(awk -v t="$ticks" -v hz="$hz" -v n="$requests" 'BEGIN {printf "%.2f", t / hz * 100000 / n}')
        peak_mib["$test/$server"]=$((peak / 1024))
        note["$test/$server"]="${procs} load process(es)"
      else
        break
      fi
    done
    max_rate["$test/$server"]=$best
    stop_server
  done
  # Latency: the same sipload load on both, at 80% of Kamailio's maximum
  # (of sipjet's for the sipjet-only test).
  ref=${max_rate["$test/kamailio"]:-${max_rate["$test/sipjet"]:-0}}
  at=$((ref * 8 / 10))
  [ "$at" -gt 0 ] || continue
  for server in $servers; do
    if [ "$test" = register-sha256-udp ] && [ "$server" != sipjet ]; then continue; fi
    start_server "$server"
    case $test in
      options-udp) args=(udp options MD5) ;;
      options-tcp) args=(tcp options MD5) ;;
      register-udp) args=(udp register MD5) ;;
      register-tcp) args=(tcp register MD5) ;;
      register-sha256-udp) args=(udp register SHA-256) ;;
    esac
    read -r _ failed _ _ l50 l99 _ < <(sipload_step "${args[@]}" "$at")
    p50["$test/$server"]=$l50
    p99["$test/$server"]=$l99
    [ "$failed" = 0 ] || note["$test/$server"]+=", $failed failed in the latency run"
    stop_server
  done
  lat_rate["$test"]=$at
done

echo
echo "| test | server | max clean rate (/s) | CPU-s per 100k requests | peak memory (MiB) | latency at | p50 (µs) | p99 (µs) | notes |"
echo "|---|---|---|---|---|---|---|---|---|"
for test in $tests; do
  for server in $servers; do
    k="$test/$server"
    [ -n "${max_rate[$k]+x}" ] || continue
    echo "| $test | $server | ${max_rate[$k]} | ${cpu100k[$k]:--} | ${peak_mib[$k]:--} | ${lat_rate[$test]:--}/s | ${p50[$k]:--} | ${p99[$k]:--} | ${note[$k]:-} |"
  done
done
echo
echo "$(nproc) cores; $(sipp -v 2>&1 | grep -o 'SIPp v[0-9.]*' | head -1); $(kamailio -v | head -1); steps of ${duration} s; $users users."
