#!/usr/bin/env bash
# install-servers.sh [ejabberd] [prosody] [proxy]
#
# Makes sure the Debian packages the integration tests need are installed:
#   ejabberd                 (for "ejabberd", Debian 12: 23.01)
#   prosody + lua-unbound    (for "prosody",  Debian 12: 0.12.3)
#   tinyproxy                (for "proxy",    Debian 12: 1.11.1; proxy tests)
#   openssl                  (always: scripts/tls-ca.sh makes the TLS tests' certificates)
# With no argument all of them are checked. Quick (a dpkg-query, no lock, no
# network) when everything is already installed; prints nothing then.
#
# When something is missing it runs apt-get non-interactively
# (DEBIAN_FRONTEND=noninteractive, --no-install-recommends, stdin /dev/null).
# 'apt-get update' runs only when needed: no package lists yet, or the
# install failed (stale lists).  Needs root, or password-less sudo.
#
# The packages' postinst scripts would start the SYSTEM services (listening on
# all interfaces, ports 5222/5269/5280/...).  A temporary
# /usr/sbin/policy-rc.d that exits 101 prevents that; it is created only if no
# policy-rc.d exists and removed again afterwards.
#
# Environment (optional):
#   APT_LOCK_TIMEOUT  seconds apt waits for another apt/dpkg to release its
#                     lock (default 600)
set -euo pipefail

die() { echo "install-servers: ERROR: $*" >&2; exit 1; }
log() { echo "install-servers: $*" >&2; }

want_servers=${*:-ejabberd prosody proxy}
pkgs_wanted="openssl"
for s in $want_servers; do
    case $s in
        ejabberd) pkgs_wanted="$pkgs_wanted ejabberd" ;;
        prosody)  pkgs_wanted="$pkgs_wanted prosody lua-unbound" ;;
        proxy)    pkgs_wanted="$pkgs_wanted tinyproxy" ;;
        *) die "unknown server '$s' (usage: $0 [ejabberd] [prosody] [proxy])" ;;
    esac
done
APT_LOCK_TIMEOUT=${APT_LOCK_TIMEOUT:-600}
case $APT_LOCK_TIMEOUT in ''|*[!0-9]*) die "APT_LOCK_TIMEOUT must be a number of seconds, got '$APT_LOCK_TIMEOUT'";; esac

missing_pkgs() {
    local p out=""
    for p in $pkgs_wanted; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out="$out $p"
    done
    echo "$out"
}

check_binaries() {
    local s
    for s in $want_servers; do
        case $s in
            ejabberd)
                [ -x /usr/sbin/ejabberdctl ] || die "ejabberd is installed but /usr/sbin/ejabberdctl is missing"
                command -v erl >/dev/null || die "ejabberd is installed but 'erl' (erlang-base) is not on PATH"
                ;;
            prosody)
                command -v prosody >/dev/null || die "prosody is installed but 'prosody' is not on PATH"
                command -v prosodyctl >/dev/null || die "prosody is installed but 'prosodyctl' is not on PATH"
                ;;
            proxy)
                [ -x /usr/bin/tinyproxy ] || die "tinyproxy is installed but /usr/bin/tinyproxy is missing"
                ;;
        esac
    done
}

missing=$(missing_pkgs)
if [ -z "$missing" ]; then
    check_binaries
    exit 0
fi

command -v apt-get >/dev/null || die "missing package(s):$missing, and apt-get is not available (Debian/Ubuntu only)"

if [ "$(id -u)" = 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    die "missing package(s):$missing; run as root (or with password-less sudo), or install them yourself: apt-get install --no-install-recommends$missing"
fi

# Serialize concurrent callers (e.g. several *-up.sh started in parallel).
LOCK=/tmp/webbinder-install-servers.lock
exec 9>>"$LOCK" || die "cannot open lock file $LOCK"
flock -w "$APT_LOCK_TIMEOUT" 9 || die "timed out waiting for $LOCK (another install-servers.sh running?)"

missing=$(missing_pkgs)          # another caller may have installed them meanwhile
if [ -z "$missing" ]; then
    check_binaries
    exit 0
fi

log "installing Debian package(s):$missing ..."
T0=$(date +%s)

made_policy=0
cleanup() {
    if [ "$made_policy" = 1 ]; then
        "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d || log "WARNING: could not remove the temporary /usr/sbin/policy-rc.d"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, created by webbinder scripts/install-servers.sh\nexit 101\n' \
        | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null || die "cannot write /usr/sbin/policy-rc.d"
    "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d || die "cannot chmod /usr/sbin/policy-rc.d"
    made_policy=1
fi

APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y
     -o "DPkg::Lock::Timeout=$APT_LOCK_TIMEOUT"
     -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)

apt_update() {
    log "apt-get update ..."
    "${APT[@]}" update </dev/null >&2 || die "apt-get update failed"
}
apt_install() {
    "${APT[@]}" install --no-install-recommends $missing </dev/null >&2
}

# shellcheck disable=SC2086
if ! apt-cache show $missing >/dev/null 2>&1; then
    apt_update                   # no package lists yet (fresh container)
    apt_install || die "apt-get install$missing failed"
elif ! apt_install; then
    log "apt-get install failed, retrying after apt-get update (stale package lists?)"
    apt_update
    apt_install || die "apt-get install$missing failed"
fi

still=$(missing_pkgs)
[ -z "$still" ] || die "package(s)$still still not installed after apt-get install"
check_binaries
log "installed$missing in $(( $(date +%s) - T0 ))s"
