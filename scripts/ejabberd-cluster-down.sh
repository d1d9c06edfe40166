#!/usr/bin/env bash
# ejabberd-cluster-down.sh DIR
#
# Stops both nodes that ejabberd-cluster-up.sh started in DIR, by pid
# (ejabberd-down.sh DIR/node2, then DIR/node1). Succeeds when nothing runs.
set -euo pipefail
die() { echo "ejabberd-cluster-down: ERROR: $*" >&2; exit 1; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
[ $# -eq 1 ] || die "usage: $0 DIR"
[ -d "$1" ] || die "no such DIR '$1'"
rc=0
for n in 2 1; do
    if [ -d "$1/node$n" ]; then "$HERE/ejabberd-down.sh" "$1/node$n" || rc=1; fi
done
exit $rc
