#!/usr/bin/env bash
# scripts/test.sh [TEST_BINARY_ARGS...]
#
# THE test command of webbinder (CI runs it through .ci/run).
#   1. scripts/install-servers.sh: makes sure ejabberd, prosody, lua-unbound and tinyproxy
#      are installed (apt-get, non-interactive; a quick no-op when they are).
#      Needs root (or password-less sudo) only when something is missing.
#   2. cargo test --locked --all-targets -- --test-threads=${TEST_THREADS:-3} [ARGS...]
#      from the repository root; exits with cargo's status.
# Extra arguments are passed to the test binaries after --test-threads
# (e.g. a test name filter).  Works without a terminal / stdin (CI=true).
#
# Environment (optional):
#   TEST_THREADS   value for --test-threads (default 3)
#   SKIP_SERVER_INSTALL=1   do not run install-servers.sh
#   WB_SIM_SECS    time budget of the replication simulation's random seeds (default 60)
#   PROPTEST_CASES cases per property test (default 256)
set -euo pipefail

die() { echo "test.sh: ERROR: $*" >&2; exit 1; }
log() { echo "test.sh: $*" >&2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P) || die "cannot resolve the repository root"
cd "$ROOT"
[ -f Cargo.toml ] || die "no Cargo.toml in $ROOT (scripts/test.sh must stay in the repository's scripts/ directory)"

# no stdin in CI: make sure nothing waits on a terminal
exec </dev/null
export DEBIAN_FRONTEND=noninteractive

THREADS=${TEST_THREADS:-3}
case $THREADS in ''|*[!0-9]*|0*) die "TEST_THREADS must be a positive integer, got '$THREADS'";; esac

if [ "${SKIP_SERVER_INSTALL:-0}" != 1 ]; then
    log "checking/installing XMPP servers: scripts/install-servers.sh"
    T0=$(date +%s)
    scripts/install-servers.sh || die "scripts/install-servers.sh failed (ejabberd/prosody/lua-unbound/tinyproxy needed by the integration tests)"
    log "servers ready ($(( $(date +%s) - T0 ))s): ejabberd $(dpkg-query -W -f='${Version}' ejabberd 2>/dev/null || echo '?'), prosody $(dpkg-query -W -f='${Version}' prosody 2>/dev/null || echo '?')"
else
    log "SKIP_SERVER_INSTALL=1: not running scripts/install-servers.sh"
fi

if ! command -v cargo >/dev/null && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"; export PATH
fi
command -v cargo >/dev/null || die "cargo not found on PATH (install Rust, e.g. via rustup)"

# The deterministic replication simulation runs as many seeds as fit in this budget.
export WB_SIM_SECS=${WB_SIM_SECS:-60}

log "running in $ROOT: cargo test --locked --all-targets -- --test-threads=$THREADS $*"
rc=0
cargo test --locked --all-targets -- --test-threads="$THREADS" "$@" || rc=$?
log "cargo test exited with status $rc"
exit $rc
