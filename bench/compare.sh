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
#   bench/compare.sh [--quick] [--tests "options-udp options-tcp register-udp register-tcp register-sha256-udp call-udp call-tcp"]
#                    [--servers "sipjet kamailio kamailio-durable"] [--duration 10] [--users 1000] [--port-offset 0]
#                    [--capture-mib N]
#
# --capture-mib sets sipjet's capture ring (capture_buffer_mib; 0 turns
# capture off); without it sipjet runs with its default, 64 MiB, on.
#
# Every port the run binds on 127.0.0.1 (the servers' 5070, 5080 and 5090, SIPp's
# from 15060, 17060, 24000 and 34000) is moved up by --port-offset, for a
# machine where something else holds one of them.
#
# Kamailio (Debian's package) is configured here as the equivalent server:
# OPTIONS to the server answered 200 statelessly; REGISTER challenged
# (qop=auth, nonce-count checked) and saved by its registrar, contacts in
# memory; the same users and passwords. sipjet runs its own registrar,
# whose every 200 is on disk first (SQLite, group commit).
#
# kamailio-durable is the same Kamailio with a durable location store:
# usrloc db_mode 1 (write-through: every save is written to the database
# before the 200) on PostgreSQL, a cluster of its own made for the run
# (scripts/test-postgres.sh, with fsync on), its tables created afresh at
# every start. Its CPU and memory figures count the PostgreSQL processes
# too, as sipjet's count the SQLite work done in its own process.
# (db_sqlite was tried first: with several Kamailio children writing,
# Debian's Kamailio 5.6 fails saves with "database is locked", having no
# busy timeout to set.)
#
# The call tests (call-udp, call-tcp): a SIPp caller (call-uac.xml) calls
# through the server a SIPp callee (call-uas.xml) registered as a user of
# it: INVITE, challenge (sipjet answers 401, Kamailio 407), ACK, INVITE
# with credentials, 100/180/200, ACK, then BYE/200, ACK and BYE along the
# Record-Route. Kamailio is the equivalent proxy: auth for INVITE from the
# same users (pv_auth_check, the From's user must be the authenticated
# one, as sipjet requires), record_route(), lookup("location"),
# t_relay(); in-dialog requests by loose_route(). Each caller process has
# its own callee (SIPp computes the digest over one fixed -auth_uri, so
# one callee a process): callee p is user(N - p), callers are users 1 to
# N - 8. A callee registers from the port it then answers on, once per
# server start. The rows give:
# - the highest clean call rate (as above: no failed call, at least 95%
#   of the offered rate), and the server's CPU-seconds per 1,000 calls at
#   that rate;
# - memory per active call: on a server of its own, with the callee
#   registered, duration x 500 calls are made and hung up at once (a
#   warm-up, so that the transactions of a batch find their memory in
#   the allocator already), then, after the transactions' wait states
#   have passed (sipjet keeps an answered INVITE's transactions for Timer
#   L/M, 32 s; Kamailio for its wait timer, 5 s), the server's PSS is
#   taken; then as many calls are made and held (a pause between ACK and
#   BYE), the same wait passes, and the PSS is taken again. The growth
#   divided by the calls held is the memory per active call: the state
#   each server keeps for a call that is up, not for setting it up;
# - p50/p99 of INVITE (with credentials) to its 200, at 80% of Kamailio's
#   maximum call rate on both servers, from sipload, with sipload --answer
#   as the callee. SIPp counts whole milliseconds and, as a callee, sends
#   its 100, 180 and 200 about a millisecond apart: its pacing, not the
#   server, would be most of what it measured. sipload times to the
#   microsecond and its callee answers at once.
set -Eeuo pipefail
# A command that fails ends the run (set -e), or the subshell it ran in:
# say which, and where, so that a run stopping halfway says why.
trap 'echo "compare.sh: line $LINENO: \"$BASH_COMMAND\" failed ($?)" >&2' ERR
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=bench/lib.sh
. bench/lib.sh
# start_test_postgres / stop_test_postgres, for kamailio-durable's
# database; sourced before the exit trap that may call the latter (which
# does nothing when no cluster was started).
# shellcheck source=scripts/test-postgres.sh
. scripts/test-postgres.sh

tests="options-udp options-tcp register-udp register-tcp register-sha256-udp call-udp call-tcp"
servers="sipjet kamailio kamailio-durable"
duration=10
users=1000
quick=0
port_offset=0
capture_mib=""
while [ $# -gt 0 ]; do
  case $1 in
    --tests) tests=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --users) users=$2; shift 2 ;;
    --quick) quick=1; duration=4; shift ;;
    --port-offset) port_offset=$2; shift 2 ;;
    --capture-mib) capture_mib=$2; shift 2 ;;
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
kamailio_modules=/usr/lib/x86_64-linux-gnu/kamailio/modules
case " $servers " in
  *" kamailio-durable "*)
    need psql postgresql
    if [ ! -e "$kamailio_modules/db_postgres.so" ]; then
      # `need` installs by command; this package brings a module only.
      need kamailio-postgres-modules-missing kamailio-postgres-modules
    fi ;;
esac

cargo build --release -q -p sipjet -p sipjet-sipload

work=$(mktemp -d)
# Copies, so that a build during the run does not change what is measured.
cp "${CARGO_TARGET_DIR:-$root/target}/release/sipjet" "${CARGO_TARGET_DIR:-$root/target}/release/sipload" "$work/"
sipjet_bin=$work/sipjet
sipload=$work/sipload
server_pids=()
# Callees (SIPp or sipload) running beside a server.
callee_pids=()
cleanup() {
  for p in "${callee_pids[@]}" "${server_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f "kamailio -f $work" 2>/dev/null || true
  stop_test_postgres
  rm -rf "$work"
}
trap cleanup EXIT
[ -n "${KEEP_WORK:-}" ] && trap - EXIT

sipjet_port=$((5070 + port_offset))
kamailio_port=$((5080 + port_offset))
kamailio_durable_port=$((5090 + port_offset))
caller_port() { echo $((15060 + port_offset + 2 * $1)); }
hz=$(getconf CLK_TCK)

# --- configuration of both servers, same users -------------------------------

{
  cat <<EOF
[global]
type = global
user_agent = sipjet
default_realm = bench
endpoint_identifier_order = username,auth_username
${capture_mib:+capture_buffer_mib = $capture_mib}

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

kamailio_cfg() { # port usrloc-modparams db-module-line
cat <<EOF
#!KAMAILIO
debug=0
log_stderror=no
fork=yes
children=${KAMAILIO_CHILDREN:-2}
tcp_children=${KAMAILIO_TCP_CHILDREN:-2}
listen=udp:127.0.0.1:$1
listen=tcp:127.0.0.1:$1
auto_aliases=no
alias="127.0.0.1:$1"
maxbuffer=8388608
max_while_loops=$((users + 10))
tcp_connection_lifetime=3605
mpath="$kamailio_modules/"
$3
loadmodule "kex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "htable.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
modparam("htable", "htable", "users=>size=12;")
$2
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
  if (has_totag()) {
    if (loose_route()) { t_relay(); exit; }
    if (is_method("ACK") && t_check_trans()) { t_relay(); exit; }
    sl_send_reply("404", "Not Here");
    exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
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
  if (is_method("INVITE")) {
    if (!is_present_hf("Proxy-Authorization")) { auth_challenge("\$fd", "1"); exit; }
    \$var(pw) = \$sht(users=>\$au);
    if (\$var(pw) == \$null) { auth_challenge("\$fd", "1"); exit; }
    if (!pv_auth_check("\$fd", "\$var(pw)", "0", "1")) { auth_challenge("\$fd", "1"); exit; }
    consume_credentials();
    record_route();
    if (!lookup("location")) { sl_send_reply("480", "Temporarily Unavailable"); exit; }
    if (!t_relay()) { sl_reply_error(); }
    exit;
  }
  sl_send_reply("404", "Not Here");
}
EOF
}
kamailio_cfg "$kamailio_port" 'modparam("usrloc", "db_mode", 0)' "" >"$work/kamailio.cfg"

# SIPp cannot substitute a field inside [authentication]: the whole
# keyword is the second field. One file per SIPp process, disjoint users
# 1 to last (all by default).
write_users() { # processes [last]
  local n=$1 last=${2:-$users} p
  for p in $(seq 0 $((n - 1))); do
    {
      echo SEQUENTIAL
      for i in $(seq $((p + 1)) "$n" "$last"); do
        echo "user$i;[authentication username=user$i password=pass$i]"
      done
    } >"$work/users-$n-$p.csv"
  done
}

# --- calls: callees and callers -------------------------------------------------

# Callee p is user(N - p); callers are users 1 to N - max_pairs. One SIPp
# caller and callee pair offers about 3,000 calls/s here.
max_pairs=8
calls_per_pair=3000
callee() { echo "user$((users - $1))"; }
callee_port() { echo $((17060 + port_offset + 2 * $1)); }
callers_last=$((users - max_pairs))

sipp_transport() { # test
  case $1 in *-udp) echo "-t u1 -nr" ;; *-tcp) echo "-t t1" ;; esac
}

# Registers callees 0 to pairs-1 from the ports they will answer on (over
# TCP too: SIPp binds its connection to -p, and the server reaches the
# contact at that address once the connection is gone).
register_callees() { # test pairs
  local p
  for p in $(seq 0 $(($2 - 1))); do
    printf 'SEQUENTIAL\n%s;[authentication username=%s password=pass%s]\n' \
      "$(callee "$p")" "$(callee "$p")" $((users - p)) >"$work/callee-$p.csv"
    # shellcheck disable=SC2046
    timeout 30 sipp -sf bench/scenarios/register-digest.xml -inf "$work/callee-$p.csv" $(sipp_transport "$1") \
      -i 127.0.0.1 -p "$(callee_port "$p")" -m 1 -nostdin -recv_timeout 5000 \
      "127.0.0.1:$port" >"$work/register-callee-$p.out" 2>&1 || true
    if ! grep -qE 'Successful call +\| +0 +\| +1 ' "$work/register-callee-$p.out"; then
      echo "callee $(callee "$p") did not register; SIPp said:" >&2
      tail -20 "$work/register-callee-$p.out" >&2
      exit 1
    fi
  done
}

# Waits until something listens on the port (UDP or TCP).
wait_listening() { # test port
  local flag=-lun
  case $1 in *-tcp) flag=-ltn ;; esac
  for _ in $(seq 1 100); do
    ss -H $flag "sport = :$2" | grep -q . && return
    sleep 0.05
  done
  echo "nothing listens on port $2" >&2
  exit 1
}

start_sipp_callees() { # test pairs
  local p
  for p in $(seq 0 $(($2 - 1))); do
    # shellcheck disable=SC2046
    sipp -sf bench/scenarios/call-uas.xml $(sipp_transport "$1") -i 127.0.0.1 -p "$(callee_port "$p")" \
      -mp $((34000 + port_offset + 100 * p)) -buff_size 8388608 -nostdin >"$work/uas-$p.out" 2>&1 &
    callee_pids+=($!)
  done
  for p in $(seq 0 $(($2 - 1))); do wait_listening "$1" "$(callee_port "$p")"; done
}

stop_callees() {
  for p in "${callee_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${callee_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  callee_pids=()
}

# Something else listening on a port of the run would fail its steps as
# if the server had: refuse to start instead.
check_ports() {
  local p used
  for p in $sipjet_port $kamailio_port $kamailio_durable_port $(for i in $(seq 0 $((max_pairs - 1))); do caller_port "$i"; callee_port "$i"; done); do
    used=$(ss -Hlnup "sport = :$p"; ss -Hltnp "sport = :$p")
    if [ -n "$used" ]; then
      echo "port $p on this machine is in use; pass --port-offset N to move the run's ports:" >&2
      echo "$used" >&2
      exit 1
    fi
  done
}
check_ports

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
      kamailio -f "$work/kamailio.cfg" -P "$work/kamailio.pid" -m 512 -M 64 -E >"$work/kamailio.out" 2>"$work/kamailio.log"
      sleep 1
      server_pids=($(pgrep -f "kamailio -f $work/kamailio.cfg"))
      port=$kamailio_port ;;
    kamailio-durable)
      start_durable_db
      # Over loopback, without TLS: the cluster offers it, the cost is not the store's.
      PGSSLMODE=disable kamailio -f "$work/kamailio-durable.cfg" -P "$work/kamailio-durable.pid" -m 512 -M 64 -E \
        >"$work/kamailio-durable.out" 2>"$work/kamailio-durable.log"
      sleep 1
      # shellcheck disable=SC2207
      server_pids=($(pgrep -f "kamailio -f $work/kamailio-durable.cfg") $(db_pids))
      port=$kamailio_durable_port ;;
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
  stop_callees
  # The database of kamailio-durable stays up between its starts.
  for p in "${server_pids[@]}"; do
    grep -q '^postgres' "/proc/$p/comm" 2>/dev/null || kill "$p" 2>/dev/null || true
  done
  sleep 1
  server_pids=()
}

# --- kamailio-durable's database ------------------------------------------------

durable_db=""
# Starts the PostgreSQL cluster once (fsync on), and makes the usrloc
# tables afresh, so that every start of kamailio-durable begins empty.
start_durable_db() {
  if [ -z "$durable_db" ]; then
    SIPJET_PG_FSYNC=on start_test_postgres >&2
    durable_db=$SIPJET_TEST_POSTGRES
    kamailio_cfg "$kamailio_durable_port" \
      "modparam(\"usrloc\", \"db_mode\", 1)
modparam(\"usrloc\", \"db_url\", \"${durable_db%/*}/kamailio\")" \
      'loadmodule "db_postgres.so"' >"$work/kamailio-durable.cfg"
  fi
  PGOPTIONS=--client-min-messages=warning psql -q "$durable_db" \
    -c "DROP DATABASE IF EXISTS kamailio" -c "CREATE DATABASE kamailio" >/dev/null
  cat /usr/share/kamailio/postgres/standard-create.sql /usr/share/kamailio/postgres/usrloc-create.sql |
    PGOPTIONS=--client-min-messages=warning psql -q -v ON_ERROR_STOP=1 "${durable_db%/*}/kamailio" >/dev/null
}

# The processes of kamailio-durable's PostgreSQL: the postmaster and its
# children (the backends serving Kamailio, the WAL writer, ...).
db_pids() {
  local main
  main=$(head -1 "$TEST_PG_DIR/data/postmaster.pid")
  echo "$main" $(pgrep -P "$main")
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

# Prints "achieved failed cpu_ticks peak_kib procs ok pss_at_kib". For the
# call tests, calls is how many each caller makes (rate x duration by
# default), hold_ms how long each is held between ACK and BYE, and at_s
# when (seconds after the callers start) the server's PSS is taken for
# pss_at_kib.
sipp_step() { # test rate [calls hold_ms at_s]
  local test=$1 rate=$2 scenario transport procs=1 calls p pids=() peak=0 before after out
  local at_s=${5:-} pss_at=0 started=$SECONDS
  case $test in
    options-*) scenario=bench/scenarios/options-server.xml ;;
    register-*) scenario=bench/scenarios/register-digest.xml ;;
    call-*) scenario=bench/scenarios/call-uac.xml ;;
  esac
  case $test in
    *-udp) transport=(-t u1 -nr)
           # One SIPp process offers about 12,000 calls/s here.
           procs=$(( (rate + 11999) / 12000 )) ;;
    *-tcp) transport=(-t t1) ;;
  esac
  case $test in
    call-*) procs=$(( (rate + calls_per_pair - 1) / calls_per_pair ))
            write_users $procs $callers_last
            start_sipp_callees "$test" $procs ;;
    register-udp | register-tcp) write_users $procs ;;
  esac
  calls=${3:-$((rate * duration / procs))}
  before=$(server_ticks)
  # Ports apart: SIPp also binds media ports (from 6000 by default), and
  # two processes must not take each other's.
  for p in $(seq 0 $((procs - 1))); do
    local inf=()
    case $test in
      register-*) inf=(-inf "$work/users-$procs-$p.csv") ;;
      # A lost message (no retransmission over UDP) fails its call after
      # 5 s instead of leaving it waiting for good.
      call-*) inf=(-inf "$work/users-$procs-$p.csv" -s "$(callee "$p")"
                   -auth_uri "$(callee "$p")@127.0.0.1:$port" -d "${4:-0}" -recv_timeout 5000
                   -l $((calls + 1000))) ;;
    esac
    sipp -sf "$scenario" "${inf[@]}" "${transport[@]}" -i 127.0.0.1 -p "$(caller_port "$p")" -mp $((24000 + port_offset + 100 * p)) \
      -r $((rate / procs)) -m "$calls" -buff_size 8388608 -nostdin \
      -timeout $((duration + 15 + ${4:-0} / 1000)) -timeout_error "127.0.0.1:$port" >"$work/sipp-$p.out" 2>&1 &
    pids+=($!)
  done
  while kill -0 "${pids[@]}" 2>/dev/null; do
    local m; m=$(server_pss)
    [ "$m" -gt "$peak" ] && peak=$m
    if [ -n "$at_s" ] && [ "$pss_at" = 0 ] && [ $((SECONDS - started)) -ge "$at_s" ]; then pss_at=$m; fi
    sleep 0.5
  done
  wait "${pids[@]}" 2>/dev/null || true
  after=$(server_ticks)
  stop_callees
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
  echo "$achieved $failed $((after - before)) $peak $procs $ok $pss_at"
}

rates_for() { # test
  if [ $quick = 1 ]; then
    case $1 in
      options-*) echo "5000 10000 20000" ;;
      register-*) echo "1000 3000 6000" ;;
      call-*) echo "500 1000 2000" ;;
    esac
    return
  fi
  case $1 in
    # Up to rates no server here reaches, so that every maximum is a
    # step one failed above, never the top of the list.
    options-udp) echo "5000 10000 15000 20000 25000 30000 35000 40000 50000 60000 70000 80000 100000" ;;
    options-tcp) echo "5000 10000 15000 20000 25000 30000 40000 50000 60000 70000 80000 100000" ;;
    register-*) echo "2000 4000 6000 8000 10000 12000 14000 16000 18000 20000 24000 28000 32000 40000 50000" ;;
    call-*) echo "250 500 750 1000 1250 1500 2000 2500 3000 3500 4000 5000 6000 8000 10000" ;;
  esac
}

# The most caller and callee pairs a test's steps use.
max_pairs_for() { # test
  local top
  top=$(rates_for "$1" | tr ' ' '\n' | tail -1)
  echo $(( (top + calls_per_pair - 1) / calls_per_pair ))
}

requests_per_call() { case $1 in options-*) echo 1 ;; *) echo 2 ;; esac; }

# --- the SHA-256 test: sipload steps, sipjet alone (SIPp only does MD5) --------

sipload_step() { # transport scenario algorithm rate -> "rate failed ticks peak p50 p99"
  local before after out peak=0 pid who=(--users "$users")
  # Calls go to callee 0, which the caller must have registered and started.
  [ "$2" = call ] && who=(--users "$callers_last" --callee "$(callee 0)")
  before=$(server_ticks)
  "$sipload" --target "127.0.0.1:$port" --transport "$1" --scenario "$2" --algorithm "$3" \
    --rate "$4" --duration "$duration" "${who[@]}" >"$work/sipload.out" 2>"$work/sipload.err" &
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

# --- memory per active call --------------------------------------------------------

# Calls a second while calls are set up for the memory measurement, and
# the seconds after the last one for the wait states of their
# transactions to pass (Timer L and M, 64 x T1 = 32 s, in sipjet).
hold_rate=500
settle_s=35

# On a server of its own: calls made and hung up at once (the warm-up),
# the wait, PSS; as many calls made and held, the wait, PSS again. Sets
# mem_kib_call (KiB per call held, "-" when a batch failed), mem_held
# (the calls held) and mem_idle_kib.
memory_per_call() { # test server
  local test=$1 n=$((hold_rate * duration)) ramp_s=$duration base failed ok held
  mem_kib_call=- mem_held=0
  start_server "$2"
  register_callees "$test" 1
  mem_idle_kib=$(server_pss)
  read -r _ failed _ _ _ ok _ < <(sipp_step "$test" $hold_rate $n 0)
  if [ "$failed" != 0 ] || [ "$ok" != "$n" ]; then
    echo "$test $2: warm-up batch: $ok of $n calls, $failed failed" >&2
    stop_server; return
  fi
  sleep $settle_s
  base=$(server_pss)
  read -r _ failed _ _ _ ok held < <(sipp_step "$test" $hold_rate $n \
    $(((ramp_s + settle_s + 10) * 1000)) $((ramp_s + settle_s)))
  stop_server
  if [ "$failed" != 0 ] || [ "$ok" != "$n" ] || [ "$held" = 0 ]; then
    echo "$test $2: held batch: $ok of $n calls, $failed failed" >&2
    return
  fi
  printf '%-20s %-9s PSS idle %d KiB, after the warm-up %d KiB, with %d calls held %d KiB\n' \
    "$test" "$2" "$mem_idle_kib" "$base" "$n" "$held" >&2
  mem_kib_call=$(awk -v a="$held" -v b="$base" -v n="$n" 'BEGIN {printf "%.2f", (a - b) / n}')
  mem_held=$n
}

# --- latency of calls -----------------------------------------------------------------

# INVITE to 200 from sipload at one rate, sipload --answer the callee.
# Sets lat_failed, lat_p50 and lat_p99.
call_latency() { # test server rate
  local transport=udp
  case $1 in *-tcp) transport=tcp ;; esac
  start_server "$2"
  register_callees "$1" 1
  "$sipload" --answer --transport $transport --target "127.0.0.1:$(callee_port 0)" \
    --duration $((duration + 60)) >"$work/answer.out" &
  callee_pids+=($!)
  wait_listening "$1" "$(callee_port 0)"
  read -r _ lat_failed _ _ lat_p50 lat_p99 _ < <(sipload_step $transport call MD5 "$3")
  stop_server
}

# --- the run ---------------------------------------------------------------------

declare -A max_rate cpu100k cpu1k peak_mib kib_call p50 p99 note lat_rate
for test in $tests; do
  for server in $servers; do
    if [ "$test" = register-sha256-udp ] && [ "$server" != sipjet ]; then continue; fi
    start_server "$server"
    case $test in call-*) register_callees "$test" "$(max_pairs_for "$test")" ;; esac
    best=0
    for rate in $(rates_for "$test"); do
      if [ "$test" = register-sha256-udp ]; then
        read -r achieved failed ticks peak _ _ ok < <(sipload_step udp register SHA-256 "$rate")
        procs=1
      else
        read -r achieved failed ticks peak procs ok _ < <(sipp_step "$test" "$rate")
      fi
      printf '%-20s %-9s rate %6s: achieved %6s, failed %5s, cpu %5.2f s, peak %4d MiB, %s load process(es)\n' \
        "$test" "$server" "$rate" "$achieved" "$failed" "$(awk -v t="$ticks" -v hz="$hz" 'BEGIN {print t / hz}')" \
        $((peak / 1024)) "$procs" >&2
      if [ "$failed" = 0 ] && [ $((achieved * 100)) -ge $((rate * 95)) ]; then
        best=$rate
        requests=$((ok * $(requests_per_call "$test")))
        cpu100k["$test/$server"]=$(awk -v t="$ticks" -v hz="$hz" -v n="$requests" 'BEGIN {printf "%.2f", t / hz * 100000 / n}')
        cpu1k["$test/$server"]=$(awk -v t="$ticks" -v hz="$hz" -v n="$ok" 'BEGIN {printf "%.3f", t / hz * 1000 / n}')
        peak_mib["$test/$server"]=$((peak / 1024))
        case $test in
          call-*) note["$test/$server"]="${procs} caller/callee pair(s)" ;;
          *) note["$test/$server"]="${procs} load process(es)" ;;
        esac
      else
        break
      fi
    done
    max_rate["$test/$server"]=$best
    stop_server
    case $test in
      call-*)
        memory_per_call "$test" "$server"
        kib_call["$test/$server"]=$mem_kib_call
        [ "$mem_held" = 0 ] || note["$test/$server"]+=", memory with $mem_held calls held (idle $((mem_idle_kib / 1024)) MiB)"
        ;;
    esac
  done
  # Latency: the same sipload load on both, at 80% of Kamailio's maximum
  # (of sipjet's for the sipjet-only test).
  ref=${max_rate["$test/kamailio"]:-${max_rate["$test/sipjet"]:-0}}
  at=$((ref * 8 / 10))
  [ "$at" -gt 0 ] || continue
  for server in $servers; do
    if [ "$test" = register-sha256-udp ] && [ "$server" != sipjet ]; then continue; fi
    case $test in
      call-*)
        call_latency "$test" "$server" "$at"
        failed=$lat_failed l50=$lat_p50 l99=$lat_p99 ;;
      *)
        start_server "$server"
        case $test in
          options-udp) args=(udp options MD5) ;;
          options-tcp) args=(tcp options MD5) ;;
          register-udp) args=(udp register MD5) ;;
          register-tcp) args=(tcp register MD5) ;;
          register-sha256-udp) args=(udp register SHA-256) ;;
        esac
        read -r _ failed _ _ l50 l99 _ < <(sipload_step "${args[@]}" "$at")
        stop_server ;;
    esac
    p50["$test/$server"]=$l50
    p99["$test/$server"]=$l99
    [ "$failed" = 0 ] || note["$test/$server"]+=", $failed failed in the latency run"
  done
  lat_rate["$test"]=$at
done

request_tests=$(echo "$tests" | tr ' ' '\n' | grep -v '^call-' | tr '\n' ' ' || true)
call_tests=$(echo "$tests" | tr ' ' '\n' | grep '^call-' | tr '\n' ' ' || true)
if [ -n "${request_tests// /}" ]; then
  echo
  echo "| test | server | max clean rate (/s) | CPU-s per 100k requests | peak memory (MiB) | latency at | p50 (µs) | p99 (µs) | notes |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for test in $request_tests; do
    for server in $servers; do
      k="$test/$server"
      [ -n "${max_rate[$k]+x}" ] || continue
      echo "| $test | $server | ${max_rate[$k]} | ${cpu100k[$k]:--} | ${peak_mib[$k]:--} | ${lat_rate[$test]:--}/s | ${p50[$k]:--} | ${p99[$k]:--} | ${note[$k]:-} |"
    done
  done
fi
if [ -n "${call_tests// /}" ]; then
  echo
  echo "| test | server | max clean call rate (/s) | CPU-s per 1,000 calls | memory per active call (KiB) | latency at | INVITE→200 p50 (µs) | p99 (µs) | notes |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for test in $call_tests; do
    for server in $servers; do
      k="$test/$server"
      [ -n "${max_rate[$k]+x}" ] || continue
      echo "| $test | $server | ${max_rate[$k]} | ${cpu1k[$k]:--} | ${kib_call[$k]:--} | ${lat_rate[$test]:--}/s | ${p50[$k]:--} | ${p99[$k]:--} | ${note[$k]:-} |"
    done
  done
  echo
  echo "Memory per active call: the growth of the server's PSS from after a warm-up batch to $((hold_rate * duration)) calls held, divided by the calls held, each taken ${settle_s} s after the batch was set up."
fi
echo
echo "$(nproc) cores; $(sipp -v 2>&1 | grep -o 'SIPp v[0-9.]*' | head -1); $({ kamailio -v || true; } | head -1); steps of ${duration} s; $users users."
