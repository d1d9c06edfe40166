#!/usr/bin/env bash
# scripts/soak.sh [SECONDS] [SERVER]
#
# The long replication soak (issue 8): continuous A -> B replication while the
# XMPP server is restarted and either agent is SIGKILLed at random moments,
# then a reconciliation at the far end (every acknowledged write applied once,
# in order).  Runs tests/it/soak.rs for SECONDS of chaos (default 600) on
# SERVER (ejabberd, the default, or prosody) and prints the test's summary.
# CI runs the same test for 60 s (WB_SOAK_SECS unset).
#
# Environment (optional):
#   WB_SOAK_SEED   the chaos schedule (random by default; the test prints it
#                  first, so a failing run can be repeated with it)
#   WB_SOAK_RATE   writes per second (default 200; 0: as fast as acknowledged)
#   WB_SOAK_FAULTS only these faults, comma-separated: server, a, b (default all)
#   CARGO_FLAGS    extra cargo flags, e.g. "--release"
# The full output is kept in ${SOAK_LOG:-target/soak-SERVER.log}.
set -euo pipefail

die() { echo "soak.sh: ERROR: $*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P) || die "cannot resolve the repository root"
cd "$ROOT"
exec </dev/null

SECS=${1:-600}
SERVER=${2:-ejabberd}
case $SECS in ''|*[!0-9]*) die "SECONDS must be a non-negative integer, got '$SECS'";; esac
case $SERVER in ejabberd|prosody) ;; *) die "SERVER must be ejabberd or prosody, got '$SERVER'";; esac
LOG=${SOAK_LOG:-target/soak-$SERVER.log}
mkdir -p "$(dirname "$LOG")"

if ! command -v cargo >/dev/null && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"; export PATH
fi
command -v cargo >/dev/null || die "cargo not found on PATH"

echo "soak.sh: $SECS s of chaos on $SERVER; output in $LOG" >&2
rc=0
# shellcheck disable=SC2086 # CARGO_FLAGS is a list of flags
WB_SOAK_SECS=$SECS RUST_BACKTRACE=0 cargo test --locked ${CARGO_FLAGS:-} --test it \
    "soak::replication_under_chaos::$SERVER" -- --exact --test-threads=1 --nocapture \
    >"$LOG" 2>&1 || rc=$?
# The seed, the fault timeline and the summary (or the failure).
grep -oE '(soak on .*|^ +[0-9.]+[a-z]+: .*|^soak summary.*|^  [a-z ()]+: .*|.*panicked.*|^seed .*)' "$LOG" || true
if [ $rc -ne 0 ]; then
    echo "soak.sh: FAILED (status $rc); see $LOG" >&2
else
    echo "soak.sh: passed" >&2
fi
exit $rc
