#!/usr/bin/env bash
# ejabberd-cluster-up.sh DIR C2S_PORT1 HTTP_PORT1 C2S_PORT2 HTTP_PORT2
#
# Start a two-node ejabberd cluster on loopback: node 1 in DIR/node1, node 2 in
# DIR/node2, each started by ejabberd-up.sh (BOSH on
# http://127.0.0.1:HTTP_PORTn/http-bind), sharing one Erlang cookie, and
# joined with "ejabberdctl join_cluster" so that Mnesia (accounts, rosters,
# the session table) is replicated and stanzas route between the nodes.
#
# Erlang distribution runs without epmd (as in ejabberd-up.sh); a node then
# assumes every peer listens on its own dist port, so the two nodes use the
# SAME private dist port on two loopback addresses: node 1 on 127.0.0.1,
# node 2 on 127.0.0.2 (node names ejabberd-c..-h..@127.0.0.1 / @127.0.0.2).
# Linux routes all of 127.0.0.0/8 to lo, so no setup is needed.
#
# Register accounts once, on either node (ejabberd-register.sh DIR/node1 ...):
# Mnesia replicates them. Stop with ejabberd-cluster-down.sh DIR (or
# ejabberd-down.sh DIR/nodeN for one node). Restarting in the same DIR keeps
# the cluster (each node remembers its name, cookie and port).
#
# Environment: as ejabberd-up.sh (XMPP_DOMAIN, BOSH_MAX_INACTIVITY, ...), plus
#   EJABBERD_DIST_PORT   the shared dist port (default: one free on both addresses)
#
# On success prints KEY=value lines (also in DIR/cluster.env):
#   NODE1_DIR NODE2_DIR NODE1 NODE2 BOSH_URL1 BOSH_URL2 PID1 PID2 DIST_PORT
#   XMPP_DOMAIN CLUSTER_SECONDS
set -euo pipefail
die() { echo "ejabberd-cluster-up: ERROR: $*" >&2; exit 1; }
log() { echo "ejabberd-cluster-up: $*" >&2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
[ $# -eq 5 ] || die "usage: $0 DIR C2S_PORT1 HTTP_PORT1 C2S_PORT2 HTTP_PORT2"
mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
T0=$(date +%s.%N)
IP1=127.0.0.1
IP2=127.0.0.2

port_busy() { (exec 3<>"/dev/tcp/$2/$1") 2>/dev/null; }
free_on_both() {  # a port free on both addresses (bound on one, probed on the other)
    local p i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        p=$(erl -noshell -noinput -eval '{ok,S}=gen_tcp:listen(0,[{ip,{127,0,0,2}}]),{ok,P}=inet:port(S),io:format("~p",[P]),halt().')
        if ! port_busy "$p" "$IP1"; then echo "$p"; return 0; fi
    done
    return 1
}

# Reuse what an earlier run chose (node names are bound to Mnesia's schema).
if [ -f "$DIR/cluster.conf" ]; then
    # shellcheck disable=SC1091
    . "$DIR/cluster.conf"
else
    COOKIE=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    DIST_PORT=${EJABBERD_DIST_PORT:-}
fi
[ -n "${EJABBERD_DIST_PORT:-}" ] && DIST_PORT=$EJABBERD_DIST_PORT
if [ -z "${DIST_PORT:-}" ] || port_busy "$DIST_PORT" "$IP1" || port_busy "$DIST_PORT" "$IP2"; then
    [ -z "${EJABBERD_DIST_PORT:-}" ] || die "EJABBERD_DIST_PORT $DIST_PORT is in use on $IP1 or $IP2"
    DIST_PORT=$(free_on_both) || die "no port free on both $IP1 and $IP2"
fi
( umask 077; printf "COOKIE='%s'\nDIST_PORT='%s'\n" "$COOKIE" "$DIST_PORT" > "$DIR/cluster.conf" )

node_up() {  # $1 n, $2 ip, $3 c2s, $4 http
    EJABBERD_NODE_IP=$2 EJABBERD_COOKIE=$COOKIE EJABBERD_DIST_PORT=$DIST_PORT \
        "$HERE/ejabberd-up.sh" "$DIR/node$1" "$3" "$4" > "$DIR/node$1.out"
}
env_of() { sed -n "s/^$2=//p" "$DIR/node$1/server.env"; }

node_up 1 "$IP1" "$2" "$3" || die "node 1 did not start"
if ! node_up 2 "$IP2" "$4" "$5"; then
    "$HERE/ejabberd-down.sh" "$DIR/node1" >&2 || true
    die "node 2 did not start"
fi
NODE1=$(env_of 1 EJABBERD_NODE)
NODE2=$(env_of 2 EJABBERD_NODE)

http_status() {  # HTTP status of GET http://127.0.0.1:$1$2, via bash /dev/tcp only
    local line
    line=$(
        exec 2>/dev/null
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
        timeout 5 head -n1 <&3
    ) 2>/dev/null || return 1
    set -- $line
    echo "${2:-}"
}
in_cluster() { "$DIR/node$1/bin/ejabberdctl" list_cluster 2>/dev/null | grep -qF "$2"; }
if ! in_cluster 2 "$NODE1"; then
    log "joining $NODE2 to $NODE1"
    out=$("$DIR/node2/bin/ejabberdctl" join_cluster "$NODE1" 2>&1) || {
        "$HERE/ejabberd-down.sh" "$DIR/node2" >&2 || true
        "$HERE/ejabberd-down.sh" "$DIR/node1" >&2 || true
        die "ejabberdctl join_cluster $NODE1 failed on $NODE2: $out"
    }
fi
# join_cluster restarts ejabberd on node 2: wait for both to list each other
# and for both BOSH endpoints to answer (node 2's restarts).
ok=0
deadline=$(( $(date +%s) + ${START_TIMEOUT:-60} ))
while [ "$(date +%s)" -lt "$deadline" ]; do
    if in_cluster 1 "$NODE2" && in_cluster 2 "$NODE1" \
        && [ "$(http_status "$3" /http-bind || true)" = 200 ] \
        && [ "$(http_status "$5" /http-bind || true)" = 200 ] && port_busy "$4" "$IP1"; then
        ok=1; break
    fi
    sleep 0.2
done
if [ $ok != 1 ]; then
    "$HERE/ejabberd-down.sh" "$DIR/node2" >&2 || true
    "$HERE/ejabberd-down.sh" "$DIR/node1" >&2 || true
    die "the nodes did not form a cluster within ${START_TIMEOUT:-60}s (see $DIR/node*/log)"
fi
# beam.smp keeps its pid across join_cluster (only the ejabberd application restarts)
T1=$(date +%s.%N)
cat > "$DIR/cluster.env" <<ENV
NODE1_DIR=$DIR/node1
NODE2_DIR=$DIR/node2
NODE1=$NODE1
NODE2=$NODE2
BOSH_URL1=$(env_of 1 BOSH_URL)
BOSH_URL2=$(env_of 2 BOSH_URL)
PID1=$(env_of 1 PID)
PID2=$(env_of 2 PID)
DIST_PORT=$DIST_PORT
XMPP_DOMAIN=$(env_of 1 XMPP_DOMAIN)
CLUSTER_SECONDS=$(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.2f", b-a}')
ENV
log "cluster of $NODE1 and $NODE2 ready"
cat "$DIR/cluster.env"
