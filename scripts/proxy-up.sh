#!/usr/bin/env bash
# proxy-up.sh DIR PORT [--timeout SECS] [--connect-port N]... [--auth USER:PASSWORD]
#
# Starts a private tinyproxy (Debian package, installed by install-servers.sh
# proxy) on 127.0.0.1:PORT with everything under DIR: DIR/tinyproxy.conf,
# DIR/tinyproxy.log (one "Connect"/"Request" line per proxied request), and
# DIR/tinyproxy.pid (its own pid; proxy-down.sh DIR stops it by that pid).
#
#   --timeout SECS    tinyproxy's idle Timeout (default 600): a request whose
#                     answer does not start within SECS is cut.  Set below the
#                     BOSH `wait` to make a proxy that cuts held long-polls.
#   --connect-port N  allow CONNECT (https) to port N (repeatable).  Without
#                     it tinyproxy allows CONNECT to every port.
#   --auth USER:PASS  require HTTP Basic proxy authentication (tinyproxy
#                     BasicAuth): requests without these credentials get 407.
#
# Prints PORT=, PID=, LOG= lines on stdout; returns once the port accepts
# connections (or fails after 10 s).  Only loopback clients are allowed.
set -euo pipefail
die() { echo "proxy-up: ERROR: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: $0 DIR PORT [--timeout SECS] [--connect-port N]... [--auth USER:PASSWORD]"
mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
PORT=$2
shift 2
case $PORT in ''|*[!0-9]*) die "PORT must be a number, got '$PORT'";; esac
TIMEOUT=600
CONNECT_PORTS=()
AUTH=
while [ $# -gt 0 ]; do
    case $1 in
        --timeout) TIMEOUT=${2:?--timeout needs SECS}; shift 2 ;;
        --connect-port) CONNECT_PORTS+=("${2:?--connect-port needs N}"); shift 2 ;;
        --auth) AUTH=${2:?--auth needs USER:PASSWORD}; shift 2 ;;
        *) die "unknown option '$1'" ;;
    esac
done
case $TIMEOUT in ''|*[!0-9]*|0) die "--timeout must be a positive number of seconds";; esac
if [ -n "$AUTH" ]; then
    case $AUTH in
        *:*) ;;
        *) die "--auth must be USER:PASSWORD" ;;
    esac
    case $AUTH in *[!A-Za-z0-9_.:-]*) die "--auth: letters, digits, _ . - only (tinyproxy's config syntax)";; esac
fi

"$(dirname "$0")/install-servers.sh" proxy
BIN=$(command -v tinyproxy || echo /usr/bin/tinyproxy)
[ -x "$BIN" ] || die "tinyproxy not found"

CONF=$DIR/tinyproxy.conf
LOG=$DIR/tinyproxy.log
PIDFILE=$DIR/tinyproxy.pid
if [ -s "$PIDFILE" ] && [ -r "/proc/$(cat "$PIDFILE")/cmdline" ] &&
   tr '\0' ' ' < "/proc/$(cat "$PIDFILE")/cmdline" | grep -qF -- "$CONF"; then
    die "a tinyproxy for $DIR is already running (pid $(cat "$PIDFILE"))"
fi
{
    echo "Port $PORT"
    echo "Listen 127.0.0.1"
    echo "Timeout $TIMEOUT"
    echo "LogFile \"$LOG\""
    echo "LogLevel Info"
    echo "MaxClients 200"
    echo "Allow 127.0.0.1"
    echo "DisableViaHeader Yes"
    for p in ${CONNECT_PORTS[@]+"${CONNECT_PORTS[@]}"}; do echo "ConnectPort $p"; done
    [ -z "$AUTH" ] || echo "BasicAuth ${AUTH%%:*} ${AUTH#*:}"
} > "$CONF"
: > "$LOG"
# tinyproxy drops root to nobody unless User says otherwise: keep the files writable.
if [ "$(id -u)" = 0 ]; then
    echo "User root" >> "$CONF"; echo "Group root" >> "$CONF"
fi

# -d: stay in the foreground, so that $! is tinyproxy itself.
setsid "$BIN" -d -c "$CONF" </dev/null >>"$DIR/tinyproxy.out" 2>&1 &
PID=$!
echo "$PID" > "$PIDFILE"
for _ in $(seq 200); do
    if ! kill -0 "$PID" 2>/dev/null; then
        die "tinyproxy exited at start: $(tail -5 "$DIR/tinyproxy.out" "$LOG" 2>/dev/null)"
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        echo "PORT=$PORT"; echo "PID=$PID"; echo "LOG=$LOG"
        exit 0
    fi
    sleep 0.05
done
kill "$PID" 2>/dev/null || true
die "tinyproxy did not listen on 127.0.0.1:$PORT within 10 s"
