#!/usr/bin/env bash
# examples/client-app.sh [CONFIG] [TARGET]
#
# A tiny client application: asks a SmartServer (or a webbinder agent standing in
# for one) for its clock and for one datapoint, over XMPP, the way a building
# management application would.  It uses `webbinder send`, which
#   - logs in with CONFIG's account ([xmpp] server, port, domain, user, password)
#     under a resource of its own (cli-<random>), so it can run next to the agent
#     that uses the same account (resource "ilon");
#   - sends ONE SOAP request in an <iq type='set'> to TARGET
#     (a MAC ID becomes <mac>@<CONFIG's domain>/ilon; a full JID is used as given);
#   - prints the SOAP response envelope on stdout and exits non-zero on an error,
#     a timeout or a fault in the answer.
# The target only answers accounts it allows: its configured hosts (binding
# files) and its [agent] allow list.  Site A allows site B's account because
# examples/site-a/bindings/site-b.toml configures site B as a host.
#
# Defaults: CONFIG = examples/site-b/webbinder.toml (site B's account),
#           TARGET = 08-00-00-1A-7C-62 (site A).
# Environment: WEBBINDER = the webbinder binary (default: target/release/webbinder
# of this repository if built, else `webbinder` from PATH).
# scripts/demo.sh runs it against its running two-site setup:
#   WEBBINDER=target/release/webbinder examples/client-app.sh /tmp/webbinder-demo.XXXX/site-b/webbinder.toml 08-00-00-1A-7C-62
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
CONFIG=${1:-$HERE/site-b/webbinder.toml}
TARGET=${2:-08-00-00-1A-7C-62}
if [ -z "${WEBBINDER:-}" ]; then
    if [ -x "$HERE/../target/release/webbinder" ]; then WEBBINDER=$HERE/../target/release/webbinder; else WEBBINDER=webbinder; fi
fi

# 1. SystemService_Read_Info SI_TIME: the target's clock (UCPTlocalTime, UCPTutcTime, ...)
echo "## SI_TIME of $TARGET"
"$WEBBINDER" --config "$CONFIG" send --to "$TARGET" --info SI_TIME

# 2. Read of one datapoint: value (UCPTvalue with its LonFormat), UCPTpointStatus,
#    UCPTpriority and UCPTlastUpdate of the target's datapoint
echo "## Read of a datapoint of $TARGET"
"$WEBBINDER" --config "$CONFIG" send --to "$TARGET" --read "Net/LON/iLON App/Digital Input 1/nvoClsValue_1"

# Other requests (see `webbinder send --help`):
#   --write "NAME=VALUE" [--priority N]   a SOAP Write (fires the target's Web connections)
#   --file ENVELOPE.xml                   any SOAP envelope as it is (List, Get, InvokeCmd, ...)
