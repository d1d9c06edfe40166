//! Tests of binding-file loading and validation (pure, on literals and temp dirs) and of the
//! directory watcher against a real temp directory. This file holds the fixtures they share
//! (and the watch helpers `tests_watch` uses); the tests live in its children, one theme each.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::config::ConfigErrors;

mod dir_watch;
mod internal;
mod load_dir;
mod model;
mod validation;

const DIR: &str = "/etc/webbinder/bindings";
const OWN: &str = "08-00-00-1a-7c-62@localhost/ilon";

const DI1: &str = "Net/LON/iLON App/Digital Input 1/nvoClsValue_1";
const DO1: &str = "Net/LON/iLON App/Digital Output 1/nviClaValue_1";
const TEMP: &str = "Net/LON/iLON App/Temp/nvoTemp";

fn own() -> Jid {
    OWN.parse().unwrap()
}

fn locals() -> BTreeSet<String> {
    [DI1, DO1, TEMP].into_iter().map(str::to_owned).collect()
}

fn path(name: &str) -> PathBuf {
    Path::new(DIR).join(name)
}

fn parse_with(own: &Jid, files: &[(&str, &str)]) -> Result<BindingSet, ConfigErrors> {
    let locals = locals();
    let ctx = Context {
        own_jid: own,
        local_names: &locals,
    };
    let files: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(name, text)| (path(name), (*text).to_owned()))
        .collect();
    parse_files(&files, &ctx)
}

fn parse(files: &[(&str, &str)]) -> BindingSet {
    match parse_with(&own(), files) {
        Ok(set) => set,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn errors(files: &[(&str, &str)]) -> String {
    match parse_with(&own(), files) {
        Ok(set) => panic!("unexpected success: {set:?}"),
        Err(e) => e.to_string(),
    }
}

/// One valid host, four lines, so that what a test appends starts on line 5.
const HOST_B: &str = "[[host]]\n\
                      name = \"site-b\"\n\
                      mac_id = \"00-D0-71-02-1B-1C\"\n\
                      domain = \"localhost\"\n";

fn host_b_jid() -> Jid {
    "00-d0-71-02-1b-1c@localhost/ilon".parse().unwrap()
}

/// SPEC §4, verbatim.
const SPEC_EXAMPLE: &str = r#"[[host]]                        # the "Setup - Remote i.LON SmartServer" + "Message" pages
name = "site-b"                 # local alias, used by connections
mac_id = "00-D0-71-02-1B-1C"    # remote "User Name"; JID = <mac>@<domain>/<resource>
domain = "localhost"            # remote "Message Domain" (default: own domain)
resource = "ilon"               # default "ilon"
retry_time = "120s"             # default 120 s: wait before re-sending after a failed Write
connection_timeout = "30s"      # optional ("Use Connection Timeout"): max wait for a Write's response;
                                # when absent the SOAP timeout of 120 s applies
format = "datapoint"            # "datapoint" (formatted with the datapoint's type) | "raw" (hex)

[[connection]]                  # a Web connection: source (local) -> target (remote)
source = "Net/LON/iLON App/Digital Input 1/nvoClsValue_1"
host = "site-b"
target = "Net/LON/iLON App/Digital Output 1/nviClaValue_1"
priority = 255                  # default 255
delivery = "every-change"       # every-change (default: each update delivered, in order)
                                # | latest (only the newest value per target is kept while waiting)
send_on_delta = 0.5             # optional: send only when the value moved at least this much
min_send_time = "1s"            # optional throttle: at most one send per interval (newest wins)
max_send_time = "5m"            # optional heartbeat: re-send the current value if nothing was sent
"#;

fn load(dir: &Path) -> Result<BindingSet, ConfigErrors> {
    let own = own();
    let locals = locals();
    load_dir(
        dir,
        &Context {
            own_jid: &own,
            local_names: &locals,
        },
    )
}

pub(super) const DEBOUNCE: Duration = Duration::from_millis(100);
/// Long enough for any real event to have arrived and been debounced.
const QUIET: Duration = Duration::from_millis(1000);
/// Generous: a loaded CI machine must not fail a correct watcher.
pub(super) const DEADLINE: Duration = Duration::from_secs(10);

pub(super) async fn fires(w: &mut DirWatch) -> bool {
    tokio::time::timeout(DEADLINE, w.changed()).await.is_ok()
}

pub(super) async fn stays_quiet(w: &mut DirWatch) -> bool {
    tokio::time::timeout(QUIET, w.changed()).await.is_err()
}
