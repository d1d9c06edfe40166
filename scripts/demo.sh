#!/usr/bin/env bash
# scripts/demo.sh
#
# The two-site demo: two webbinder agents (site A and site B, the configs in
# examples/site-a and examples/site-b) linked by a Web connection through a
# private ejabberd on loopback.  Self-contained, needs no stdin, runs as root or
# as a normal user, from any working directory:
#   1. scripts/install-servers.sh ejabberd (a quick no-op when installed; apt as
#      root or with password-less sudo otherwise), cargo build --release --locked
#   2. a private ejabberd in a temporary directory on free loopback ports
#      (scripts/ejabberd-up.sh) with the two MAC-ID accounts registered
#   3. copies of examples/site-a and examples/site-b in the same temporary
#      directory, with the password files written and the server port, domain and
#      admin endpoints rewritten; both agents started with `webbinder run`
#   4. waits until both agents are online (admin GET /health), writes the source
#      datapoint on A (`webbinder dp write`), waits until B's target shows the value
#      (`webbinder dp read`), shows the way back (B -> A), `webbinder state`, and
#      `webbinder send` acting as a client application (examples/client-app.sh)
#   5. stops both agents (SIGTERM, by pid) and the ejabberd (ejabberd-down.sh)
# Exit status 0 when the values arrived, non-zero otherwise (with the tail of the
# agents' logs).  The temporary directory is removed on success and kept (its
# path printed) on failure.
#
# Environment (optional):
#   DEMO_TIMEOUT   seconds to wait for a replicated value (default 30)
#   DEMO_KEEP=1    keep the temporary directory (configs, logs, stores) on success too
#   RUST_LOG       log filter of the agents (default info); logs go to files
set -euo pipefail

die() { echo "demo: ERROR: $*" >&2; exit 1; }
log() { echo "demo: $*" >&2; }
step() { printf '\n==> %s\n' "$*"; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P) || die "cannot resolve the repository root"
cd "$ROOT"
if [ ! -f Cargo.toml ] || [ ! -d examples/site-a ] || [ ! -d examples/site-b ]; then
    die "$ROOT does not look like the webbinder repository (scripts/demo.sh must stay in scripts/)"
fi
exec </dev/null
export DEBIAN_FRONTEND=noninteractive

TIMEOUT=${DEMO_TIMEOUT:-30}
case $TIMEOUT in ''|*[!0-9]*|0*) die "DEMO_TIMEOUT must be a positive number of seconds, got '$TIMEOUT'";; esac

MAC_A=08-00-00-1A-7C-62
MAC_B=00-D0-71-02-1B-1C
PASSWORD=secret
DP_SOURCE="Net/LON/iLON App/Digital Input 1/nvoClsValue_1"       # on A
DP_TARGET="Net/LON/iLON App/Digital Output 1/nviClaValue_1"      # on B
DP_TEMP_B="Net/LON/iLON App/VirtFb/nvoOutdoorTemp"               # on B (source of the way back)
DP_TEMP_A="Net/LON/iLON App/VirtFb/nviOutdoorTemp"               # on A (its target)
VALUE=${DEMO_VALUE:-100.0 1}
TEMP=17.5

# ------------------------------------------------------------- cleanup ---
WORK="" EJ="" PID_A="" PID_B="" SUCCESS=0 C2S_PORT="" HTTP_PORT="" ADMIN_A="" ADMIN_B=""
stop_agent() {  # $1 pid, $2 name: SIGTERM, wait up to 20 s, then SIGKILL
    local pid=$1 i=0
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
    if kill -0 "$pid" 2>/dev/null; then
        log "agent $2 (pid $pid) still running 20s after SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    log "agent $2 (pid $pid) stopped, exit status $rc"
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_agent "$PID_A" A
    stop_agent "$PID_B" B
    if [ -n "$EJ" ] && [ -d "$EJ" ]; then
        "$ROOT/scripts/ejabberd-down.sh" "$EJ" || log "ejabberd-down.sh $EJ failed"
    fi
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        if [ "$SUCCESS" = 1 ] && [ "${DEMO_KEEP:-0}" != 1 ]; then
            rm -rf "$WORK"
        else
            log "kept $WORK (configs, agent logs site-a.log/site-b.log, stores, ejabberd in xmpp/)"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() {
    local s
    for s in a b; do
        if [ -f "$WORK/site-$s.log" ]; then
            echo "---- last 40 lines of $WORK/site-$s.log ----" >&2
            tail -n 40 "$WORK/site-$s.log" >&2 || true
        fi
    done
}
fail() {
    echo "demo: FAILED: $*" >&2
    local s cfg
    for s in a b; do
        cfg=$WORK/site-$s/webbinder.toml
        if [ -n "${WB:-}" ] && [ -f "$cfg" ]; then
            echo "---- webbinder state of site ${s^^} ----" >&2
            "$WB" --config "$cfg" state >&2 2>&1 || true
        fi
    done
    show_logs
    exit 1
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
TAKEN=" "
free_port() {  # free_port VAR BASE: VAR = first port from BASE on that is free and not handed out yet
    local p=$2
    while [ "$p" -lt $(( $2 + 500 )) ]; do
        case $TAKEN in
            *" $p "*) ;;
            *) if ! port_busy "$p"; then TAKEN="$TAKEN$p "; printf -v "$1" '%s' "$p"; return 0; fi;;
        esac
        p=$((p + 1))
    done
    die "no free loopback port in $2..$(( $2 + 499 ))"
}

# ------------------------------------------------------- install, build ---
step "installing ejabberd if missing (scripts/install-servers.sh ejabberd)"
scripts/install-servers.sh ejabberd || die "scripts/install-servers.sh failed (needs root or password-less sudo when ejabberd is missing)"
command -v curl >/dev/null || die "curl not found (apt-get install curl)"

if ! command -v cargo >/dev/null && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"; export PATH
fi
command -v cargo >/dev/null || die "cargo not found on PATH (install Rust, e.g. via rustup)"
step "building (cargo build --release --locked)"
cargo build --release --locked || die "cargo build --release --locked failed"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR;; esac
WB=$TARGET_DIR/release/webbinder
[ -x "$WB" ] || die "$WB not found after the build"

# --------------------------------------------------------------- ejabberd ---
WORK=$(mktemp -d "${TMPDIR:-/tmp}/webbinder-demo.XXXXXX")
EJ=$WORK/xmpp
free_port C2S_PORT 15222
free_port HTTP_PORT 15280
step "starting a private ejabberd in $EJ (c2s 127.0.0.1:$C2S_PORT, BOSH 127.0.0.1:$HTTP_PORT)"
mkdir -p "$EJ"
SERVER_OUT=$(scripts/ejabberd-up.sh "$EJ" "$C2S_PORT" "$HTTP_PORT") || die "scripts/ejabberd-up.sh failed (logs in $EJ/log)"
server_val() { printf '%s\n' "$SERVER_OUT" | sed -n "s/^$1=//p" | head -n 1; }
BOSH_URL=$(server_val BOSH_URL)
XMPP_DOMAIN=$(server_val XMPP_DOMAIN)
XMPP_HOST=$(server_val XMPP_HOST)
HTTP_PORT=$(server_val HTTP_PORT)
if [ -z "$BOSH_URL" ] || [ -z "$XMPP_DOMAIN" ] || [ -z "$XMPP_HOST" ] || [ -z "$HTTP_PORT" ]; then
    die "unexpected output of ejabberd-up.sh: $SERVER_OUT"
fi
echo "BOSH at $BOSH_URL, XMPP domain $XMPP_DOMAIN"

step "registering the two MAC-ID accounts"
# XMPP nodeprep lower-cases: the accounts are 08-00-00-1a-7c-62 and 00-d0-71-02-1b-1c
scripts/ejabberd-register.sh "$EJ" "${MAC_A,,}" "$PASSWORD" "${MAC_B,,}" "$PASSWORD" ||
    die "scripts/ejabberd-register.sh failed"

# ------------------------------------------------------------- the sites ---
free_port ADMIN_A 19750
free_port ADMIN_B 19751
prepare_site() {  # $1 a|b, $2 admin port
    local d=$WORK/site-$1 cfg
    cp -R "examples/site-$1" "$d"
    rm -rf "$d/state" "$d/secret"        # leftovers of a run in place: start from scratch
    ( umask 077; printf '%s\n' "$PASSWORD" > "$d/secret" )
    cfg=$d/webbinder.toml
    # rewrite the values, keep the comments
    sed -i -e "s|^server = \"[^\"]*\"|server = \"$XMPP_HOST\"|" \
           -e "s|^port = [0-9]*|port = $HTTP_PORT|" \
           -e "s|^domain = \"[^\"]*\"|domain = \"$XMPP_DOMAIN\"|" \
           -e "s|^admin = \"[^\"]*\"|admin = \"127.0.0.1:$2\"|" "$cfg"
    if ! { grep -q "^server = \"$XMPP_HOST\"" "$cfg" && grep -q "^port = $HTTP_PORT\b" "$cfg" &&
           grep -q "^domain = \"$XMPP_DOMAIN\"" "$cfg" && grep -q "^admin = \"127.0.0.1:$2\"" "$cfg"; }; then
        die "could not rewrite server/port/domain/admin in $cfg (were the lines of examples/site-$1/webbinder.toml reformatted?)"
    fi
    "$WB" --config "$cfg" check || die "webbinder check failed for $cfg"
}
step "preparing the sites in $WORK (copies of examples/site-a and examples/site-b)"
prepare_site a "$ADMIN_A"
prepare_site b "$ADMIN_B"
CFG_A=$WORK/site-a/webbinder.toml
CFG_B=$WORK/site-b/webbinder.toml

step "starting the agents (logs: $WORK/site-a.log, $WORK/site-b.log)"
NO_COLOR=1 RUST_LOG=${RUST_LOG:-info} "$WB" --config "$CFG_A" run > "$WORK/site-a.log" 2>&1 &
PID_A=$!
NO_COLOR=1 RUST_LOG=${RUST_LOG:-info} "$WB" --config "$CFG_B" run > "$WORK/site-b.log" 2>&1 &
PID_B=$!
echo "site A: pid $PID_A, admin http://127.0.0.1:$ADMIN_A"
echo "site B: pid $PID_B, admin http://127.0.0.1:$ADMIN_B"

online() {  # $1 admin port: GET /health says online
    curl -fsS --max-time 5 "http://127.0.0.1:$1/health" 2>/dev/null | grep -Eq '"online"[[:space:]]*:[[:space:]]*true'
}
deadline=$(( $(date +%s) + 60 ))
while :; do
    kill -0 "$PID_A" 2>/dev/null || fail "agent A exited (see $WORK/site-a.log)"
    kill -0 "$PID_B" 2>/dev/null || fail "agent B exited (see $WORK/site-b.log)"
    if online "$ADMIN_A" && online "$ADMIN_B"; then break; fi
    [ "$(date +%s)" -lt "$deadline" ] || fail "the agents did not report \"online\":true on GET /health within 60s"
    sleep 0.2
done
echo "site A: $(curl -fsS "http://127.0.0.1:$ADMIN_A/health")"
echo "site B: $(curl -fsS "http://127.0.0.1:$ADMIN_B/health")"

# wait_value CONFIG NAME VALUE: poll `dp read` until it shows VALUE (deadline TIMEOUT s)
wait_value() {
    local out="" t0 deadline
    t0=$(date +%s.%N)
    deadline=$(( $(date +%s) + TIMEOUT ))
    while :; do
        out=$("$WB" --config "$1" dp read "$2" 2>&1) || true
        if printf '%s\n' "$out" | grep -qF -- "$3"; then
            printf '%s\n' "$out"
            echo "(arrived after $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')s)"
            return 0
        fi
        [ "$(date +%s)" -lt "$deadline" ] || { echo "last read: $out" >&2; return 1; }
        sleep 0.1
    done
}

# ------------------------------------------------------------ the demo ---
step "site A: webbinder dp write \"$DP_SOURCE\" \"$VALUE\""
"$WB" --config "$CFG_A" dp write "$DP_SOURCE" "$VALUE" || fail "dp write on site A failed"

step "site B: webbinder dp read \"$DP_TARGET\" (until it shows \"$VALUE\", at most ${TIMEOUT}s)"
wait_value "$CFG_B" "$DP_TARGET" "$VALUE" ||
    fail "the value \"$VALUE\" written on site A never arrived at site B's $DP_TARGET within ${TIMEOUT}s"

step "the way back: site B: webbinder dp write \"$DP_TEMP_B\" $TEMP"
"$WB" --config "$CFG_B" dp write "$DP_TEMP_B" "$TEMP" || fail "dp write on site B failed"
step "site A: webbinder dp read \"$DP_TEMP_A\" (until it shows $TEMP)"
wait_value "$CFG_A" "$DP_TEMP_A" "$TEMP" ||
    fail "the value $TEMP written on site B never arrived at site A's $DP_TEMP_A within ${TIMEOUT}s"

step "site A: webbinder state"
"$WB" --config "$CFG_A" state || fail "webbinder state failed on site A"

step "client application: webbinder --config <site A> send --to $MAC_B --read \"$DP_TARGET\""
"$WB" --config "$CFG_A" send --to "$MAC_B" --read "$DP_TARGET" || fail "webbinder send to site B failed"

step "client application: examples/client-app.sh <site B's config> $MAC_A"
WEBBINDER=$WB examples/client-app.sh "$CFG_B" "$MAC_A" || fail "examples/client-app.sh failed"

step "stopping"
SUCCESS=1
echo "demo: OK: \"$VALUE\" went from site A to site B and $TEMP from site B to site A"
