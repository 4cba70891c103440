# A throwaway PostgreSQL cluster for the tests; sourced by scripts/test.sh.
#
# start_test_postgres makes a cluster in a temporary folder (initdb, owned
# by the unprivileged `postgres` user when run as root, since PostgreSQL
# refuses to run as root), with TLS on (a CA and a certificate for
# pg.sipjet.test made here), starts it on a free loopback port and exports:
#   SIPJET_TEST_POSTGRES  postgres://postgres@127.0.0.1:PORT/postgres
#   SIPJET_TEST_PG_CA     the CA certificate (PEM) the server's is from
#   SIPJET_TEST_PG_CTL    a command that takes `stop` or `start`, for tests
#                         that take the database away and bring it back
# stop_test_postgres stops it and removes the folder.
#
# The cluster does not fsync (tests need no durability across a crash of
# the machine) unless SIPJET_PG_FSYNC=on, as the bench sets it.

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)"
  return 0
}

start_test_postgres() {
  local bin dir port try as
  bin=$(pg_bin)
  if [ -z "$bin" ]; then
    echo "PostgreSQL (initdb) not found" >&2
    return 1
  fi
  dir=$(mktemp -d /tmp/sipjet-test-pg.XXXXXX)
  chmod 755 "$dir"
  as=""
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
    as="su postgres -s /bin/sh -c"
  fi
  run_as_pg() { if [ -n "$as" ]; then $as "$1"; else sh -c "$1"; fi; }
  run_as_pg "'$bin/initdb' -D '$dir/data' -A trust -U postgres --no-sync >'$dir/initdb.log' 2>&1" || {
    cat "$dir/initdb.log" >&2
    return 1
  }
  # A CA, and a certificate from it that names only pg.sipjet.test: a
  # client reaching 127.0.0.1 can check the chain but not the name.
  (
    cd "$dir" || exit 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout ca.key -out ca.pem -days 2 -subj "/CN=sipjet test CA" 2>/dev/null &&
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout server.key -out server.csr -subj "/CN=pg.sipjet.test" 2>/dev/null &&
      printf 'subjectAltName=DNS:pg.sipjet.test\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' >server.ext &&
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out server.pem -days 2 -extfile server.ext 2>/dev/null
  ) || {
    echo "cannot make the test cluster's certificates" >&2
    return 1
  }
  chmod 600 "$dir/server.key"
  [ -n "$as" ] && chown postgres "$dir/server.key" "$dir/server.pem"
  cat >"$dir/pg_ctl" <<CTL
#!/bin/sh
# Stops or starts the test cluster: pg_ctl [stop|start]
set -e
opts="-p \$(cat '$dir/port') -k '$dir' -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file='$dir/server.pem' -c ssl_key_file='$dir/server.key' -c fsync=${SIPJET_PG_FSYNC:-off} -c max_connections=200"
case "\$1" in
  stop) cmd="'$bin/pg_ctl' -D '$dir/data' -m fast -w stop" ;;
  start) cmd="'$bin/pg_ctl' -D '$dir/data' -o \"\$opts\" -l '$dir/log' -w start" ;;
  *) echo "usage: \$0 stop|start" >&2; exit 2 ;;
esac
if [ "\$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "\$cmd" >/dev/null; else sh -c "\$cmd" >/dev/null; fi
CTL
  chmod 755 "$dir/pg_ctl"
  # A port away from 5432, free when tried; another run may take it first.
  for try in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 20000))
    echo "$port" >"$dir/port"
    "$dir/pg_ctl" start && break
    port=""
  done
  if [ -z "$port" ]; then
    cat "$dir/log" >&2
    return 1
  fi
  TEST_PG_DIR=$dir
  export SIPJET_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
  export SIPJET_TEST_PG_CA="$dir/ca.pem"
  export SIPJET_TEST_PG_CTL="$dir/pg_ctl"
  echo "test PostgreSQL cluster on 127.0.0.1:$port"
}

stop_test_postgres() {
  [ -n "${TEST_PG_DIR:-}" ] || return 0
  "$TEST_PG_DIR/pg_ctl" stop 2>/dev/null || true
  rm -rf "$TEST_PG_DIR"
  TEST_PG_DIR=""
}
