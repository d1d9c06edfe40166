//! Tests of internal connections (no host, or a host that is this agent): their targets are
//! checked against local datapoints, unlike a remote host's.

use super::*;

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
