#!/usr/bin/env bash
# Runs every test of the workspace. Installs the external tools the tests
# drive (SIP peers, databases) when they are missing, so that it passes on a
# fresh Debian machine; no test skips because a tool is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/test-postgres.sh
. scripts/test-postgres.sh

need_pkgs=()
# command -> Debian package
# Kamailio is the SIP provider of the trunk tests, which start and stop their
# own instances on free ports.
declare -A tools=([sipp]=sip-tester [baresip]=baresip-core [linphonec]=linphone-cli [openssl]=openssl
  [chromium]=chromium [sngrep]=sngrep [tshark]=tshark [kamailio]=kamailio [kamcmd]=kamailio)
for cmd in "${!tools[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("${tools[$cmd]}")
done
[ -n "$(pg_bin)" ] || need_pkgs+=(postgresql)
if ((${#need_pkgs[@]})); then
  echo "installing: ${need_pkgs[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_pkgs[@]}"
  # The package may start a system-wide Kamailio on port 5060; the tests
  # run their own.
  if [[ " ${need_pkgs[*]} " == *" kamailio "* ]] && command -v systemctl >/dev/null 2>&1; then
    $sudo_cmd systemctl stop kamailio 2>/dev/null || true
  fi
fi

# The location store's tests run against a real PostgreSQL: a throwaway
# cluster, stopped and removed at the end whatever happens.
trap stop_test_postgres EXIT
start_test_postgres

cargo test --workspace --all-targets
# The transaction state machines stand without tokio and the transport crate:
# the library builds without its `driver` feature (no dev-dependencies to
# hide behind), and the sans-IO tests pass without it.
cargo check -p sipjet-transaction --no-default-features
cargo test -p sipjet-transaction --no-default-features --lib --tests
cargo test --workspace --doc
