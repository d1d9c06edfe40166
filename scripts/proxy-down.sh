#!/usr/bin/env bash
# proxy-down.sh DIR
#
# Stops ONLY the tinyproxy that proxy-up.sh started in DIR: SIGTERM to the pid
# in DIR/tinyproxy.pid, SIGKILL after 5 s; before each signal it checks that
# the pid's command line names DIR/tinyproxy.conf (pid reuse).  Never matches
# processes by name.  Succeeds when nothing is running for DIR.
set -euo pipefail
die() { echo "proxy-down: ERROR: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 DIR"
[ -d "$1" ] || exit 0
DIR=$(cd "$1" && pwd -P)
CONF=$DIR/tinyproxy.conf
PID=$(cat "$DIR/tinyproxy.pid" 2>/dev/null || true)
ours() {
    [ -n "$PID" ] && [ -r "/proc/$PID/cmdline" ] &&
        tr '\0' ' ' < "/proc/$PID/cmdline" 2>/dev/null | grep -qF -- "$CONF"
}
ours || { rm -f "$DIR/tinyproxy.pid"; exit 0; }
kill -TERM "$PID" 2>/dev/null || true
for _ in $(seq 100); do ours || break; sleep 0.05; done
if ours; then kill -KILL "$PID" 2>/dev/null || true; fi
for _ in $(seq 40); do ours || break; sleep 0.05; done
ours && die "tinyproxy pid $PID for $DIR does not stop"
rm -f "$DIR/tinyproxy.pid"
