//! Tests of the model a valid binding set parses into: every key, its default, and how files
//! share one namespace. Separate from the refusals so the happy path reads on its own.

use super::*;

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
