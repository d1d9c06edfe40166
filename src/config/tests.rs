//! Tests of the config file, one theme per child module; this file holds the fixtures they
//! share.

use super::*;
use crate::datapoints::Direction;
use crate::datapoints::snvt::DpType;

mod agent;
mod datapoints;
mod example;
mod password;
mod reporting;
mod transport;
mod xmpp;

const ORIGIN: &str = "/etc/webbinder/webbinder.toml";

/// A minimal valid `[xmpp]` table: five lines, so that what a test appends starts on line 6.
const XMPP: &str = "[xmpp]\n\
                        server = \"127.0.0.1\"\n\
                        domain = \"localhost\"\n\
                        user = \"08-00-00-1A-7C-62\"\n\
                        password_env = \"WB_PASSWORD\"\n";

fn parse(src: &str) -> Config {
    parse_str(src, Path::new(ORIGIN)).unwrap()
}

fn errors(src: &str) -> String {
    parse_str(src, Path::new(ORIGIN)).unwrap_err().to_string()
}

fn no_env(_: &str) -> Result<String, VarError> {
    Err(VarError::NotPresent)
}

/// SPEC §3, verbatim.
const SPEC_EXAMPLE: &str = r#"[xmpp]                      # the SmartServer "Setup - Message" page
server = "127.0.0.1"        # XMPP server / BOSH connection manager host ("IP or Hostname")
port = 5280                 # "Message Port"
bosh_path = "/http-bind"    # "BOSH Path"
tls = false                 # https:// to the connection manager; certificates verified
domain = "localhost"        # "Message Domain"
user = "08-00-00-1A-7C-62"  # "User Name": this site's MAC ID
password_file = "secret"    # trailing newline ignored; or password_env = "VAR"; a literal `password` is allowed but warned about
resource = "ilon"           # default "ilon"

[agent]
bindings = "bindings"       # directory of *.toml binding files, watched and hot-reloaded
state = "state"             # sled directory
admin = "127.0.0.1:9750"    # admin/metrics HTTP endpoint; loopback only unless stated; "off" disables
allow = ["pidgin@localhost"]  # bare JIDs (besides every configured host) allowed to send SOAP requests

[[datapoint]]               # the local emulated LON datapoint table
name = "Net/LON/iLON App/Digital Output 1/nviClaValue_1"
type = "SNVT_switch"        # SNVT_switch, SNVT_temp_p, SNVT_lev_percent, SNVT_temp, SNVT_time_stamp, ...
value = "0.0 0"             # initial value in the type's formatted text form
direction = "in"            # in | out | in_out (default in_out)
"#;
