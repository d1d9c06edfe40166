//! Tests of binding-file loading and validation (pure, on literals and temp dirs) and of the
//! directory watcher against a real temp directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::load::is_binding_file_name;
use super::*;
use crate::config::ConfigErrors;

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

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_example_parses_into_the_full_model() {
    let set = parse(&[("site-b.toml", SPEC_EXAMPLE)]);
    let file = path("site-b.toml");
    let host = Host {
        name: "site-b".to_owned(),
        jid: host_b_jid(),
        retry_time: Duration::from_secs(120),
        connection_timeout: Some(Duration::from_secs(30)),
        format: Format::Datapoint,
        window: DEFAULT_WINDOW,
        file: file.clone(),
        local: false,
    };
    assert_eq!(set.hosts.len(), 1);
    assert_eq!(set.hosts["site-b"], host);
    assert_eq!(host.timeout(), Duration::from_secs(30));
    assert!(!host.is_local());
    assert_eq!(
        set.connections,
        [Connection {
            key: format!("{DI1} -> site-b:{DO1}"),
            source: DI1.to_owned(),
            host: Some("site-b".to_owned()),
            target: DO1.to_owned(),
            priority: 255,
            delivery: Delivery::EveryChange,
            send_on_delta: Some(0.5),
            min_send_time: Some(Duration::from_secs(1)),
            max_send_time: Some(Duration::from_secs(300)),
            file: file.clone(),
        }]
    );
    assert_eq!(set.host_of(&set.connections[0]), Some(&host));
    assert_eq!(
        set.files,
        [FileSummary {
            path: file,
            hosts: 1,
            connections: 1,
        }]
    );
}

#[test]
fn absent_optional_keys_take_their_defaults() {
    let src = format!(
        "[[host]]\nname = \"b\"\nmac_id = \"00D071021B1C\"\n\
         [[connection]]\nsource = \"{DI1}\"\nhost = \"b\"\ntarget = \"remote/x\"\n"
    );
    let set = parse(&[("a.toml", &src)]);
    let host = &set.hosts["b"];
    // The domain defaults to our own.
    assert_eq!(host.jid, host_b_jid());
    assert_eq!(host.retry_time, DEFAULT_RETRY_TIME);
    assert_eq!(host.connection_timeout, None);
    assert_eq!(host.timeout(), Duration::from_secs(120));
    assert_eq!(host.format, Format::Datapoint);
    assert_eq!(host.window, DEFAULT_WINDOW);
    let c = &set.connections[0];
    assert_eq!(c.priority, 255);
    assert_eq!(c.delivery, Delivery::EveryChange);
    assert_eq!(c.send_on_delta, None);
    assert_eq!(c.min_send_time, None);
    assert_eq!(c.max_send_time, None);
    assert!(!c.is_internal());
}

#[test]
fn explicit_values_are_kept() {
    let src = format!(
        "[[host]]\nname = \"b\"\nmac_id = \"00-d0-71-02-1b-1c\"\ndomain = \"Example.COM\"\n\
         resource = \"Box\"\nretry_time = \"5m\"\nformat = \"raw\"\nwindow = 64\n\
         [[connection]]\nsource = \"{TEMP}\"\nhost = \"b\"\ntarget = \"t\"\npriority = 0\n\
         delivery = \"latest\"\nsend_on_delta = 2\nmin_send_time = \"0s\"\n"
    );
    let set = parse(&[("a.toml", &src)]);
    let host = &set.hosts["b"];
    assert_eq!(host.jid.to_string(), "00-d0-71-02-1b-1c@example.com/Box");
    assert_eq!(host.retry_time, Duration::from_secs(300));
    assert_eq!(host.format, Format::Raw);
    assert_eq!(host.window, 64);
    let c = &set.connections[0];
    assert_eq!(c.priority, 0);
    assert_eq!(c.delivery, Delivery::Latest);
    assert_eq!(c.send_on_delta, Some(2.0));
    assert_eq!(c.min_send_time, Some(Duration::ZERO));
}

#[test]
fn mac_id_is_accepted_with_hyphens_colons_or_none_in_any_case() {
    for mac in [
        "00-D0-71-02-1B-1C",
        "00:d0:71:02:1b:1c",
        "00d071021B1c",
        "00-d0-71-02-1b-1c",
    ] {
        let src = format!("[[host]]\nname = \"b\"\nmac_id = \"{mac}\"\n");
        let set = parse(&[("a.toml", &src)]);
        assert_eq!(set.hosts["b"].jid, host_b_jid(), "{mac}");
    }
}

#[test]
fn empty_and_comment_only_files_are_a_valid_empty_set() {
    let set = parse(&[("a.toml", ""), ("b.toml", "# nothing yet\n")]);
    assert!(set.hosts.is_empty());
    assert!(set.connections.is_empty());
    assert_eq!(
        set.files,
        [
            FileSummary {
                path: path("a.toml"),
                hosts: 0,
                connections: 0
            },
            FileSummary {
                path: path("b.toml"),
                hosts: 0,
                connections: 0
            },
        ]
    );
    let set = parse(&[]);
    assert_eq!(
        set,
        BindingSet {
            hosts: Default::default(),
            connections: Vec::new(),
            files: Vec::new(),
        }
    );
}

#[test]
fn files_form_one_namespace_and_connections_fan_out() {
    let hosts = format!(
        "{HOST_B}[[host]]\nname = \"site-c\"\nmac_id = \"00-D0-71-02-1B-1D\"\nresource = \"x\"\n"
    );
    let conns = format!(
        "[[connection]]\nsource = \"{DI1}\"\nhost = \"site-b\"\ntarget = \"{DO1}\"\n\
         [[connection]]\nsource = \"{DI1}\"\nhost = \"site-c\"\ntarget = \"{DO1}\"\n\
         [[connection]]\nsource = \"{DI1}\"\ntarget = \"{DO1}\"\n"
    );
    let set = parse(&[("a.toml", &conns), ("hosts.toml", &hosts)]);
    let keys: Vec<&str> = set.connections.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!("{DI1} -> site-b:{DO1}"),
            format!("{DI1} -> site-c:{DO1}"),
            format!("{DI1} -> :{DO1}"),
        ]
    );
    assert_eq!(
        set.hosts["site-c"].jid.to_string(),
        "00-d0-71-02-1b-1d@localhost/x"
    );
    assert_eq!(
        set.files
            .iter()
            .map(|f| (f.hosts, f.connections))
            .collect::<Vec<_>>(),
        [(0, 3), (2, 0)]
    );
}

// ---------------------------------------------------------------------------------------------
// Internal connections and local hosts
// ---------------------------------------------------------------------------------------------

#[test]
fn connection_without_host_is_internal() {
    let src = format!("[[connection]]\nsource = \"{DI1}\"\ntarget = \"{DO1}\"\n");
    let set = parse(&[("a.toml", &src)]);
    let c = &set.connections[0];
    assert_eq!(c.host, None);
    assert!(c.is_internal());
    assert_eq!(c.key, format!("{DI1} -> :{DO1}"));
    assert_eq!(set.host_of(c), None);
}

#[test]
fn host_with_our_own_bare_jid_is_local_and_its_connections_internal() {
    // Another resource of our own account is still us.
    let src = format!(
        "[[host]]\nname = \"me\"\nmac_id = \"08:00:00:1A:7C:62\"\nresource = \"other\"\n\
         [[connection]]\nsource = \"{DI1}\"\nhost = \"me\"\ntarget = \"{DO1}\"\n"
    );
    let set = parse(&[("a.toml", &src)]);
    assert!(set.hosts["me"].is_local());
    let c = &set.connections[0];
    assert_eq!(c.host, None);
    assert_eq!(c.key, format!("{DI1} -> :{DO1}"));
}

#[test]
fn own_jid_may_be_given_bare() {
    let bare = own().bare();
    let src = "[[host]]\nname = \"me\"\nmac_id = \"0800001a7c62\"\n";
    let set = parse_with(&bare, &[("a.toml", src)]).unwrap();
    assert!(set.hosts["me"].is_local());
}

#[test]
fn host_on_another_domain_is_not_local() {
    let src = "[[host]]\nname = \"twin\"\nmac_id = \"0800001a7c62\"\ndomain = \"elsewhere\"\n";
    let set = parse(&[("a.toml", src)]);
    assert!(!set.hosts["twin"].is_local());
}

#[test]
fn internal_connection_to_an_unknown_datapoint_is_refused() {
    let src = format!(
        "[[connection]]\nsource = \"{DI1}\"\ntarget = \"nope\"\n\
         [[host]]\nname = \"me\"\nmac_id = \"0800001a7c62\"\n\
         [[connection]]\nsource = \"{DI1}\"\nhost = \"me\"\ntarget = \"nope\"\n"
    );
    assert_eq!(
        errors(&[("a.toml", &src)]),
        format!(
            "{DIR}/a.toml:3:10: connection.target \"nope\" is not a datapoint of this agent \
             (the connection is internal: the connection has no host)\n\
             {DIR}/a.toml:10:10: connection.target \"nope\" is not a datapoint of this agent \
             (the connection is internal: host \"me\" is this agent)"
        )
    );
}

#[test]
fn remote_target_is_not_checked_against_local_datapoints() {
    let src = format!(
        "{HOST_B}[[connection]]\nsource = \"{DI1}\"\nhost = \"site-b\"\ntarget = \"anything/at/all\"\n"
    );
    let set = parse(&[("a.toml", &src)]);
    assert_eq!(set.connections[0].target, "anything/at/all");
}

#[test]
fn internal_connection_to_itself_is_refused() {
    let src = format!("[[connection]]\nsource = \"{DI1}\"\ntarget = \"{DI1}\"\n");
    assert_eq!(
        errors(&[("a.toml", &src)]),
        format!(
            "{DIR}/a.toml:3:10: connection.target \"{DI1}\" is its own source: an internal \
             connection to itself would feed back forever"
        )
    );
}

// ---------------------------------------------------------------------------------------------
// Errors: one rule each
// ---------------------------------------------------------------------------------------------

#[test]
fn toml_syntax_error_is_reported_with_its_position() {
    assert_eq!(
        errors(&[("a.toml", "[[host]]\nname = \"b\nmac_id = \"x\"\n")]),
        format!("{DIR}/a.toml:2:10: invalid basic string, expected `\"`")
    );
}

#[test]
fn unknown_keys_are_rejected_with_their_position() {
    assert_eq!(
        errors(&[("a.toml", &format!("{HOST_B}mac = \"x\"\n"))]),
        format!(
            "{DIR}/a.toml:5:1: host: unknown field `mac`, expected one of `name`, `mac_id`, \
             `domain`, `resource`, `retry_time`, `connection_timeout`, `format`, `window`"
        )
    );
    assert_eq!(
        errors(&[("a.toml", "[[hosts]]\nname = \"b\"\n")]),
        format!("{DIR}/a.toml:1:3: unknown field `hosts`, expected `host` or `connection`")
    );
    assert_eq!(
        errors(&[(
            "a.toml",
            &format!("[[connection]]\nsource = \"{DI1}\"\ntarget = \"{DO1}\"\nprio = 1\n")
        )]),
        format!(
            "{DIR}/a.toml:4:1: connection: unknown field `prio`, expected one of `source`, \
             `host`, `target`, `priority`, `delivery`, `send_on_delta`, `min_send_time`, \
             `max_send_time`"
        )
    );
}

#[test]
fn wrong_value_type_is_rejected_with_its_key() {
    assert_eq!(
        errors(&[(
            "a.toml",
            &format!(
                "[[connection]]\nsource = \"{DI1}\"\ntarget = \"{DO1}\"\npriority = \"high\"\n"
            )
        )]),
        format!(
            "{DIR}/a.toml:4:12: connection.priority: invalid type: string \"high\", expected i64"
        )
    );
}

#[test]
fn missing_required_keys_are_reported_at_the_table_header() {
    let src = "\n[[host]]\nformat = \"raw\"\n\n[[connection]]\npriority = 1\n";
    assert_eq!(
        errors(&[("a.toml", src)]),
        format!(
            "{DIR}/a.toml:2:1: [[host]] is missing the required key `name`\n\
             {DIR}/a.toml:2:1: [[host]] is missing the required key `mac_id`\n\
             {DIR}/a.toml:5:1: [[connection]] is missing the required key `source`\n\
             {DIR}/a.toml:5:1: [[connection]] is missing the required key `target`"
        )
    );
}

#[test]
fn bad_mac_id_is_reported_at_the_value() {
    let src = "[[host]]\nname = \"b\"\nmac_id = \"00-D0-71-02-1B\"\n";
    assert_eq!(
        errors(&[("a.toml", src)]),
        format!(
            "{DIR}/a.toml:3:10: host.mac_id \"00-D0-71-02-1B\" is not a mac id: expected 12 hex \
             digits, bare or in pairs separated by '-' or ':'"
        )
    );
    // Mixed separators are not one of the accepted forms.
    let src = "[[host]]\nname = \"b\"\nmac_id = \"00-D0:71-02-1B-1C\"\n";
    assert!(errors(&[("a.toml", src)]).starts_with(&format!("{DIR}/a.toml:3:10: host.mac_id ")));
}

#[test]
fn bad_domain_resource_and_name_are_reported_at_the_value() {
    let src = "[[host]]\nname = \"site b\"\nmac_id = \"00D071021B1C\"\n\
               domain = \"local host\"\nresource = \"\"\n";
    assert_eq!(
        errors(&[("a.toml", src)]),
        format!(
            "{DIR}/a.toml:2:8: host.name \"site b\" may only contain letters, digits, '-', '_' and '.'\n\
             {DIR}/a.toml:4:10: host.domain \"local host\" is not a valid jid domain: it contains \
             the forbidden character ' '\n\
             {DIR}/a.toml:5:12: host.resource \"\" is not a valid jid resource: it is empty"
        )
    );
}

#[test]
fn a_window_outside_one_to_64_is_reported_at_the_value() {
    for (w, col) in [("0", 10), ("65", 10), ("-1", 10)] {
        let src = format!(
            "{HOST_B}window = {w}\n\
             [[connection]]\nsource = \"{DI1}\"\nhost = \"site-b\"\ntarget = \"t\"\n"
        );
        assert_eq!(
            errors(&[("a.toml", &src)]),
            format!("{DIR}/a.toml:5:{col}: host.window {w} is outside 1..=64")
        );
    }
    let src = format!("{HOST_B}window = 1\n");
    assert_eq!(parse(&[("a.toml", &src)]).hosts["site-b"].window, 1);
}

#[test]
fn bad_durations_are_reported_at_the_value() {
    let src = format!(
        "{HOST_B}retry_time = \"0s\"\nconnection_timeout = \"soon\"\n\
         [[connection]]\nsource = \"{DI1}\"\nhost = \"site-b\"\ntarget = \"t\"\n\
         max_send_time = \"0s\"\nmin_send_time = \"-1s\"\n"
    );
    assert_eq!(
        errors(&[("a.toml", &src)]),
        format!(
            "{DIR}/a.toml:5:14: host.retry_time \"0s\" must be longer than zero\n\
             {DIR}/a.toml:6:22: host.connection_timeout \"soon\" is not a duration such as \
             \"120s\" or \"5m\": expected number at 0\n\
             {DIR}/a.toml:11:17: connection.max_send_time \"0s\" must be longer than zero\n\
             {DIR}/a.toml:12:17: connection.min_send_time \"-1s\" is not a duration such as \
             \"120s\" or \"5m\": expected number at 0"
        )
    );
    // A connection_timeout of zero would time out every write at once.
    let src = format!("{HOST_B}connection_timeout = \"0ms\"\n");
    assert_eq!(
        errors(&[("a.toml", &src)]),
        format!("{DIR}/a.toml:5:22: host.connection_timeout \"0ms\" must be longer than zero")
    );
}

#[test]
fn min_send_time_longer_than_max_send_time_is_refused() {
    let src = format!(
        "[[connection]]\nsource = \"{DI1}\"\ntarget = \"{DO1}\"\n\
         min_send_time = \"10m\"\nmax_send_time = \"5m\"\n"
    );
    assert_eq!(
        errors(&[("a.toml", &src)]),
        format!(
            "{DIR}/a.toml:4:17: connection.min_send_time \"10m\" is longer than max_send_time \
             \"5m\" (line 5): the heartbeat would be throttled away"
        )
    );
    let equal = src.replace("10m", "5m");
    assert_eq!(parse(&[("a.toml", &equal)]).connections.len(), 1);
}

#[test]
fn priority_outside_0_to_255_is_refused() {
    for (value, col) in [("256", 12), ("-1", 12)] {
        let src =
            format!("[[connection]]\nsource = \"{DI1}\"\ntarget = \"{DO1}\"\npriority = {value}\n");
        assert_eq!(
            errors(&[("a.toml", &src)]),
            format!("{DIR}/a.toml:4:{col}: connection.priority {value} is outside 0..=255")
        );
    }
}

#[test]
fn negative_nan_or_infinite_send_on_delta_is_refused() {
    for (value, shown) in [("-0.5", "-0.5"), ("nan", "NaN"), ("inf", "inf")] {
        let src = format!(
            "[[connection]]\nsource = \"{DI1}\"\ntarget = \"{DO1}\"\nsend_on_delta = {value}\n"
        );
        assert_eq!(
            errors(&[("a.toml", &src)]),
            format!(
                "{DIR}/a.toml:4:17: connection.send_on_delta {shown} must be a finite number of \
                 0 or more"
            )
        );
    }
    let zero =
        format!("[[connection]]\nsource = \"{DI1}\"\ntarget = \"{DO1}\"\nsend_on_delta = 0\n");
    assert_eq!(
        parse(&[("a.toml", &zero)]).connections[0].send_on_delta,
        Some(0.0)
    );
}

#[test]
fn unknown_format_and_delivery_are_refused() {
    let src = format!(
        "{HOST_B}format = \"hex\"\n\
         [[connection]]\nsource = \"{DI1}\"\ntarget = \"{DO1}\"\ndelivery = \"all\"\n"
    );
    assert_eq!(
        errors(&[("a.toml", &src)]),
        format!(
            "{DIR}/a.toml:5:10: host.format \"hex\" is not one of datapoint, raw\n\
             {DIR}/a.toml:9:12: connection.delivery \"all\" is not one of every-change, latest"
        )
    );
}

#[test]
fn connection_to_an_unknown_host_is_refused() {
    let src = format!(
        "{HOST_B}[[connection]]\nsource = \"{DI1}\"\nhost = \"site-c\"\ntarget = \"{DO1}\"\n"
    );
    assert_eq!(
        errors(&[("a.toml", &src)]),
        format!("{DIR}/a.toml:7:8: connection.host \"site-c\" is not defined by any [[host]]")
    );
}

#[test]
fn source_that_is_not_a_local_datapoint_is_refused() {
    let src = format!(
        "{HOST_B}[[connection]]\nsource = \"Net/LON/nope\"\nhost = \"site-b\"\ntarget = \"x\"\n\
         [[connection]]\nsource = \"\"\ntarget = \"{DO1}\"\n"
    );
    assert_eq!(
        errors(&[("a.toml", &src)]),
        format!(
            "{DIR}/a.toml:6:10: connection.source \"Net/LON/nope\" is not a datapoint of this agent\n\
             {DIR}/a.toml:10:10: connection.source is empty"
        )
    );
}

#[test]
fn host_defined_twice_names_both_files_and_lines() {
    let other = "# site b again\n[[host]]\nname = \"site-b\"\nmac_id = \"00-D0-71-02-1B-1D\"\n";
    assert_eq!(
        errors(&[("a.toml", HOST_B), ("b.toml", other)]),
        format!(
            "{DIR}/b.toml:3:8: duplicate host name \"site-b\" (first defined at {DIR}/a.toml:2:8)"
        )
    );
}

#[test]
fn two_hosts_with_the_same_jid_are_refused() {
    let other = "[[host]]\nname = \"b2\"\nmac_id = \"00:d0:71:02:1b:1c\"\n";
    assert_eq!(
        errors(&[("a.toml", HOST_B), ("b.toml", other)]),
        format!(
            "{DIR}/b.toml:2:8: host \"b2\" has the same jid 00-d0-71-02-1b-1c@localhost/ilon \
             as host \"site-b\" (defined at {DIR}/a.toml:2:8)"
        )
    );
}

#[test]
fn connection_defined_twice_names_both_files_and_lines() {
    let conn =
        format!("[[connection]]\nsource = \"{DI1}\"\nhost = \"site-b\"\ntarget = \"{DO1}\"\n");
    let again = format!("\n\n{conn}priority = 3\n");
    assert_eq!(
        errors(&[("a.toml", &format!("{HOST_B}{conn}")), ("b.toml", &again)]),
        format!(
            "{DIR}/b.toml:3:1: connection \"{DI1} -> site-b:{DO1}\" is defined twice \
             (first defined at {DIR}/a.toml:5:1)"
        )
    );
    // No host and a host that is this agent are the same internal connection.
    let internal = format!(
        "[[host]]\nname = \"me\"\nmac_id = \"0800001a7c62\"\n\
         [[connection]]\nsource = \"{DI1}\"\ntarget = \"{DO1}\"\n\
         [[connection]]\nsource = \"{DI1}\"\nhost = \"me\"\ntarget = \"{DO1}\"\n"
    );
    assert_eq!(
        errors(&[("a.toml", &internal)]),
        format!(
            "{DIR}/a.toml:7:1: connection \"{DI1} -> :{DO1}\" is defined twice \
             (first defined at {DIR}/a.toml:4:1)"
        )
    );
}

#[test]
fn errors_of_all_files_are_reported_together_in_file_order() {
    let a = format!(
        "[[connection]]\nsource = \"{DI1}\"\nhost = \"site-b\"\ntarget = \"{DO1}\"\npriority = 300\n"
    );
    let b = "[[host]]\nname = \"site-b\"\nmac_id = \"nope\"\n";
    let c = "[[host]\n";
    let err = parse_with(&own(), &[("a.toml", &a), ("b.toml", b), ("c.toml", c)]).unwrap_err();
    assert_eq!(err.errors().len(), 3);
    assert_eq!(
        err.to_string(),
        format!(
            "{DIR}/a.toml:5:12: connection.priority 300 is outside 0..=255\n\
             {DIR}/b.toml:3:10: host.mac_id \"nope\" is not a mac id: expected 12 hex digits, \
             bare or in pairs separated by '-' or ':'\n\
             {DIR}/c.toml:1:8: unclosed array table, expected `]`"
        )
    );
}

#[test]
fn unknown_host_is_not_reported_while_another_file_does_not_parse() {
    // site-c may be defined in the broken file: fixing it comes first.
    let a = format!("[[connection]]\nsource = \"{DI1}\"\nhost = \"site-c\"\ntarget = \"x\"\n");
    assert_eq!(
        errors(&[("a.toml", &a), ("b.toml", "[[host]]\nname = \n")]),
        format!("{DIR}/b.toml:2:8: string values must be quoted, expected literal string")
    );
}

#[test]
fn column_counts_characters_not_bytes() {
    let src = "[[host]]\nname = \"b\" # é\nmac_id = \"zz\" \n";
    let err = parse_with(&own(), &[("a.toml", src)]).unwrap_err();
    assert_eq!(
        err.errors()[0].position,
        Some(crate::config::Position { line: 3, col: 10 })
    );
    let src = "[[host]]\nname = \"b\"\nmac_id = \"zz\"\nresource = \"é\"\ndomain = \"x y\"\n";
    assert!(errors(&[("a.toml", src)]).contains(&format!("{DIR}/a.toml:5:10: host.domain")));
}

// ---------------------------------------------------------------------------------------------
// load_dir
// ---------------------------------------------------------------------------------------------

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

#[test]
fn binding_file_names_exclude_editor_and_temporary_files() {
    for name in ["a.toml", "site-b.toml", "#a.toml", "a#.toml", "x.y.toml"] {
        assert!(is_binding_file_name(name), "{name}");
    }
    for name in [
        ".toml",
        ".a.toml",
        ".a.toml.swp",
        ".#a.toml",
        "a.toml~",
        "#a.toml#",
        "a.toml.swp",
        "a.toml.swx",
        "a.toml.tmp",
        "a.tmp",
        "4913",
        "a.TOML",
        "a.toml.bak",
        "README",
    ] {
        assert!(!is_binding_file_name(name), "{name}");
    }
}

#[test]
fn load_dir_reads_only_binding_files_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("b.toml"), HOST_B).unwrap();
    let conn =
        format!("[[connection]]\nsource = \"{DI1}\"\nhost = \"site-b\"\ntarget = \"{DO1}\"\n");
    std::fs::write(d.join("a.toml"), &conn).unwrap();
    // Ignored: each would be an error if it were read.
    for ignored in [
        ".a.toml.swp",
        ".hidden.toml",
        "a.toml~",
        "#a.toml#",
        "a.toml.tmp",
        "a.toml.swx",
        "notes.txt",
        "4913",
    ] {
        std::fs::write(d.join(ignored), "not [ toml").unwrap();
    }
    std::fs::create_dir(d.join("sub.toml")).unwrap();
    std::fs::write(d.join("sub.toml").join("c.toml"), "not [ toml").unwrap();

    let set = load(d).unwrap();
    let files: Vec<(PathBuf, usize, usize)> = set
        .files
        .iter()
        .map(|f| (f.path.clone(), f.hosts, f.connections))
        .collect();
    assert_eq!(files, [(d.join("a.toml"), 0, 1), (d.join("b.toml"), 1, 0)]);
    assert_eq!(set.connections[0].file, d.join("a.toml"));
    assert_eq!(set.hosts["site-b"].file, d.join("b.toml"));
}

#[test]
fn load_dir_of_an_empty_directory_is_an_empty_set() {
    let dir = tempfile::tempdir().unwrap();
    let set = load(dir.path()).unwrap();
    assert_eq!(
        set,
        BindingSet {
            hosts: Default::default(),
            connections: Vec::new(),
            files: Vec::new(),
        }
    );
}

#[test]
fn load_dir_of_a_missing_directory_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("bindings");
    let err = load(&missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot read the binding directory: no such file or directory",
            missing.display()
        )
    );
    assert_eq!(err.errors()[0].position, None);
}

#[test]
fn load_dir_of_a_file_says_it_is_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bindings");
    std::fs::write(&file, "").unwrap();
    assert_eq!(
        load(&file).unwrap_err().to_string(),
        format!(
            "{}: cannot read the binding directory: not a directory",
            file.display()
        )
    );
}

#[test]
fn load_dir_reports_every_file_with_its_real_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.toml"), HOST_B).unwrap();
    std::fs::write(d.join("b.toml"), HOST_B).unwrap();
    std::fs::write(d.join("c.toml"), [0xff, 0xfe, b'\n']).unwrap();
    let (a, b, c) = (
        d.join("a.toml").display().to_string(),
        d.join("b.toml").display().to_string(),
        d.join("c.toml").display().to_string(),
    );
    assert_eq!(
        load(d).unwrap_err().to_string(),
        format!(
            "{b}:2:8: duplicate host name \"site-b\" (first defined at {a}:2:8)\n\
             {c}: cannot read the binding file: it is not valid UTF-8"
        )
    );
}

// ---------------------------------------------------------------------------------------------
// DirWatch, against a real directory
// ---------------------------------------------------------------------------------------------

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

fn watched_dir_with_one_file() -> (tempfile::TempDir, DirWatch) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.toml"), HOST_B).unwrap();
    let w = DirWatch::new(dir.path(), DEBOUNCE).unwrap();
    assert_eq!(w.dir(), dir.path());
    (dir, w)
}

#[tokio::test]
async fn dir_watch_fires_after_an_atomic_rename_over_a_binding_file() {
    let (dir, mut w) = watched_dir_with_one_file();
    let tmp = dir.path().join("x.toml.tmp");
    std::fs::write(&tmp, format!("{HOST_B}retry_time = \"5s\"\n")).unwrap();
    std::fs::rename(&tmp, dir.path().join("x.toml")).unwrap();
    assert!(fires(&mut w).await, "no change reported after the rename");
    // One burst, one signal.
    assert!(stays_quiet(&mut w).await, "a second change was reported");
}

#[tokio::test]
async fn dir_watch_fires_after_a_plain_write() {
    let (dir, mut w) = watched_dir_with_one_file();
    std::fs::write(dir.path().join("x.toml"), "").unwrap();
    assert!(fires(&mut w).await, "no change reported after the write");
}

#[tokio::test]
async fn dir_watch_fires_after_a_new_file_and_after_a_delete() {
    let (dir, mut w) = watched_dir_with_one_file();
    std::fs::write(dir.path().join("y.toml"), "").unwrap();
    assert!(fires(&mut w).await, "no change reported for a new file");
    std::fs::remove_file(dir.path().join("x.toml")).unwrap();
    assert!(fires(&mut w).await, "no change reported for a delete");
}

#[tokio::test]
async fn dir_watch_ignores_swap_files_and_its_own_reads() {
    let (dir, mut w) = watched_dir_with_one_file();
    let swp = dir.path().join(".x.toml.swp");
    std::fs::write(&swp, "swap").unwrap();
    std::fs::write(&swp, "swap again").unwrap();
    std::fs::remove_file(&swp).unwrap();
    // Reading the directory opens every file: that must not look like a change.
    load(dir.path()).unwrap();
    assert!(stays_quiet(&mut w).await, "a change was reported");
    // Still watching.
    std::fs::write(dir.path().join("x.toml"), "").unwrap();
    assert!(fires(&mut w).await, "no change reported after the write");
}

#[tokio::test]
async fn dir_watch_follows_a_directory_that_is_removed_and_created_again() {
    let parent = tempfile::tempdir().unwrap();
    let d = parent.path().join("bindings");
    std::fs::create_dir(&d).unwrap();
    let mut w = DirWatch::new(&d, DEBOUNCE).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
    assert!(fires(&mut w).await, "no change reported for the removal");
    std::fs::create_dir(&d).unwrap();
    // Resolves once the watch is set up again, after at most one retry interval.
    assert!(fires(&mut w).await, "the directory was not watched again");
    std::fs::write(d.join("x.toml"), "").unwrap();
    assert!(
        fires(&mut w).await,
        "no change reported in the new directory"
    );
}

#[test]
fn dir_watch_of_a_missing_directory_or_a_file_is_an_error() {
    let parent = tempfile::tempdir().unwrap();
    let missing = parent.path().join("nope");
    match DirWatch::new(&missing, DEBOUNCE) {
        Err(WatchError::Watch { dir, source }) => {
            assert_eq!(dir, missing);
            assert!(
                matches!(source.kind, notify::ErrorKind::PathNotFound),
                "{source:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let file = parent.path().join("file");
    std::fs::write(&file, "").unwrap();
    let err = DirWatch::new(&file, DEBOUNCE).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the binding directory is not a directory",
            file.display()
        )
    );
}
