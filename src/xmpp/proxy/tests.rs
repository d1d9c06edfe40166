use super::*;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn route(setting: &ProxySetting, vars: &[(&str, &str)], target: &str) -> Route {
    ProxyPlan::resolve(setting, env(vars))
        .unwrap()
        .route(&url(target))
}

fn via(r: &Route) -> String {
    match r {
        Route::Via { proxy, .. } => proxy.to_string(),
        Route::Direct(why) => format!("direct: {why}"),
    }
}

#[test]
fn config_url_is_used_for_both_schemes_and_ignores_env() {
    let s = ProxySetting::Url("http://proxy:3128".into());
    let vars = [("HTTP_PROXY", "http://other:1"), ("NO_PROXY", "*")];
    for t in [
        "http://127.0.0.1:5280/bosh",
        "https://xmpp.example:5443/bosh",
    ] {
        let r = route(&s, &vars, t);
        assert_eq!(via(&r), "http://proxy:3128", "{t}");
        assert!(matches!(
            r,
            Route::Via {
                source: Source::Config,
                ..
            }
        ));
    }
}

#[test]
fn none_is_direct_whatever_the_environment() {
    let vars = [
        ("HTTP_PROXY", "http://bogus:9"),
        ("HTTPS_PROXY", "http://bogus:9"),
    ];
    let r = route(&ProxySetting::Direct, &vars, "http://127.0.0.1:5280/");
    assert_eq!(r, Route::Direct("xmpp.proxy = \"none\""));
    let plan = ProxyPlan::resolve(&ProxySetting::Direct, env(&vars)).unwrap();
    assert!(plan.reqwest_proxy().is_none());
}

#[test]
fn env_picks_the_variable_of_the_scheme_upper_case_first_then_all_proxy() {
    let s = ProxySetting::FromEnv;
    let vars = [
        ("HTTP_PROXY", "http://h-upper:1"),
        ("http_proxy", "http://h-lower:2"),
        ("https_proxy", "http://s-lower:3"),
        ("ALL_PROXY", "http://all:4"),
    ];
    let r = route(&s, &vars, "http://x:5280/");
    assert_eq!(via(&r), "http://h-upper:1");
    assert!(matches!(
        r,
        Route::Via {
            source: Source::Env("HTTP_PROXY"),
            ..
        }
    ));
    let r = route(&s, &vars, "https://x:5443/");
    assert_eq!(via(&r), "http://s-lower:3");
    assert!(matches!(
        r,
        Route::Via {
            source: Source::Env("https_proxy"),
            ..
        }
    ));
    let r = route(&s, &[("ALL_PROXY", "http://all:4")], "https://x/");
    assert_eq!(via(&r), "http://all:4");
    // An empty value counts as unset.
    let r = route(
        &s,
        &[("HTTP_PROXY", ""), ("http_proxy", "http://l:5")],
        "http://x/",
    );
    assert_eq!(via(&r), "http://l:5");
    // HTTPS_PROXY does not apply to plain http, nor HTTP_PROXY to https.
    assert!(matches!(
        route(&s, &[("HTTPS_PROXY", "http://s:1")], "http://x/"),
        Route::Direct(_)
    ));
    assert!(matches!(
        route(&s, &[("HTTP_PROXY", "http://h:1")], "https://x/"),
        Route::Direct(_)
    ));
    assert!(matches!(route(&s, &[], "http://x/"), Route::Direct(_)));
}

#[test]
fn env_value_without_scheme_means_http() {
    let r = route(
        &ProxySetting::FromEnv,
        &[("HTTP_PROXY", "proxy.corp:8080")],
        "http://x/",
    );
    assert_eq!(via(&r), "http://proxy.corp:8080");
}

#[test]
fn loopback_goes_through_the_proxy_unless_no_proxy_lists_it() {
    let s = ProxySetting::FromEnv;
    let p = ("HTTP_PROXY", "http://p:1");
    for t in [
        "http://127.0.0.1:5280/",
        "http://localhost:5280/",
        "http://[::1]:5280/",
    ] {
        assert_eq!(via(&route(&s, &[p], t)), "http://p:1", "{t}");
    }
    let np = ("NO_PROXY", "localhost, 127.0.0.0/8, ::1");
    for t in [
        "http://127.0.0.1:5280/",
        "http://127.9.9.9/",
        "http://localhost:5280/",
        "http://[::1]:5280/",
    ] {
        assert_eq!(
            route(&s, &[p, np], t),
            Route::Direct("host listed in NO_PROXY"),
            "{t}"
        );
    }
}

#[test]
fn no_proxy_matching() {
    let np = NoProxy::parse(" example.com, .corp.net,10.0.0.0/8, 192.168.1.7 ,fe80::/10,");
    for host in [
        "example.com",
        "EXAMPLE.com",
        "xmpp.example.com",
        "a.corp.net",
        "corp.net",
        "10.1.2.3",
        "192.168.1.7",
        "[fe80::1]",
        "example.com.",
    ] {
        assert!(np.matches(host), "{host}");
    }
    for host in [
        "notexample.com",
        "example.com.evil",
        "11.0.0.1",
        "192.168.1.8",
        "::1",
        "com",
    ] {
        assert!(!np.matches(host), "{host}");
    }
    assert!(NoProxy::parse("*").matches("anything"));
    assert!(!NoProxy::parse("").matches("x"));
    assert!(NoProxy::parse("0.0.0.0/0").matches("8.8.8.8"));
    // no_proxy (lower case) counts when NO_PROXY is absent.
    let r = route(
        &ProxySetting::FromEnv,
        &[("HTTP_PROXY", "http://p:1"), ("no_proxy", "x")],
        "http://x/",
    );
    assert!(matches!(r, Route::Direct(_)));
}

#[test]
fn malformed_urls_are_rejected_with_the_reason() {
    for bad in [
        "proxy:3128",
        "socks5://p:1080",
        "http://:3128",
        "http://p",
        "http://p:3128/path",
        "http://p:3128?q",
        "ftp://p:21",
        "http://p:99999",
        "",
    ] {
        assert!(ProxyUrl::parse(bad).is_err(), "{bad}");
    }
    assert!(ProxyUrl::parse("http://p:3128").is_ok());
    assert!(ProxyUrl::parse("https://p:3128/").is_ok());
    assert!(ProxyUrl::parse("http://[::1]:3128").is_ok());
    let e = ProxyPlan::resolve(&ProxySetting::FromEnv, env(&[("HTTPS_PROXY", "http://p")]))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("environment variable HTTPS_PROXY: "),
        "{e}"
    );
}

#[test]
fn credentials_never_show() {
    let setting = ProxySetting::Url("http://alice:s3cret@proxy:3128".into());
    assert_eq!(format!("{setting:?}"), "Url(\"http://***@proxy:3128\")");
    let p = ProxyUrl::parse("http://alice:s3cret@proxy:3128").unwrap();
    assert_eq!(p.to_string(), "http://***@proxy:3128");
    assert!(!format!("{p:?}").contains("s3cret"));
    assert_eq!(p.secret_url().password(), Some("s3cret"));
    let r = route(
        &ProxySetting::Url("http://alice:s3cret@proxy:3128".into()),
        &[],
        "http://x/",
    );
    assert!(
        !r.to_string().contains("s3cret") && !r.to_string().contains("alice"),
        "{r}"
    );
    let e = ProxyUrl::parse("http://alice:s3cret@proxy")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("s3cret") && !e.contains("alice"), "{e}");
    let e = ProxyUrl::parse("alice:s3cret@proxy:1")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("s3cret"), "{e}");
}

#[test]
fn reqwest_proxy_follows_the_route() {
    let plan = ProxyPlan::resolve(
        &ProxySetting::FromEnv,
        env(&[("HTTP_PROXY", "http://p:1"), ("NO_PROXY", "direct.example")]),
    )
    .unwrap();
    assert!(plan.reqwest_proxy().is_some());
    assert!(matches!(
        plan.route(&url("http://direct.example:5280/")),
        Route::Direct(_)
    ));
    assert!(matches!(
        plan.route(&url("http://other.example:5280/")),
        Route::Via { .. }
    ));
}

#[test]
fn a_proxy_asking_for_credentials_is_explained_without_showing_them() {
    let with = route(
        &ProxySetting::Url("http://site:s3cret@proxy:3128".into()),
        &[],
        "http://xmpp.example.net:5280/http-bind",
    );
    assert_eq!(
        with.auth_refusal(407).as_deref(),
        Some(
            "the proxy http://***@proxy:3128 refused our credentials (407 Proxy Authentication \
             Required): check the user and password in xmpp.proxy"
        )
    );
    // tinyproxy answers wrong credentials with 401.
    let text = with.auth_refusal(401).unwrap();
    assert!(
        text.contains("refused our credentials (401 Unauthorized)"),
        "{text}"
    );
    assert!(!text.contains("s3cret") && !text.contains("site"), "{text}");

    let without = route(
        &ProxySetting::FromEnv,
        &[("HTTPS_PROXY", "http://proxy:3128")],
        "https://xmpp.example.net/http-bind",
    );
    assert_eq!(
        without.auth_refusal(407).as_deref(),
        Some(
            "the proxy http://proxy:3128 wants credentials (407 Proxy Authentication Required): \
             give them in HTTPS_PROXY as http://user:password@host:port"
        )
    );
}

#[test]
fn other_statuses_and_direct_routes_are_no_proxy_refusal() {
    let via_proxy = route(
        &ProxySetting::Url("http://proxy:3128".into()),
        &[],
        "http://xmpp.example.net:5280/http-bind",
    );
    for status in [400, 403, 404, 500, 502] {
        assert_eq!(via_proxy.auth_refusal(status), None, "{status}");
    }
    let direct = route(
        &ProxySetting::Direct,
        &[],
        "http://xmpp.example.net/http-bind",
    );
    assert_eq!(direct.auth_refusal(407), None);
    assert_eq!(direct.auth_refusal(401), None);
}

#[test]
fn a_refused_connect_is_explained_from_reqwest_s_error_text() {
    let via = route(
        &ProxySetting::Url("http://site:pw@proxy:3128".into()),
        &[],
        "https://xmpp.example.net/http-bind",
    );
    let target = url("https://xmpp.example.net/http-bind");
    let unsuccessful = "error sending request for url (https://xmpp.example.net/http-bind): \
                        client error (Connect): tunnel error: unsuccessful";
    assert_eq!(
        via.tunnel_refusal(&target, unsuccessful).as_deref(),
        Some(
            "the proxy http://***@proxy:3128 refused to open a tunnel (CONNECT) to \
             xmpp.example.net:443: check the user and password in xmpp.proxy (a wrong one can \
             be refused so) and that the proxy allows CONNECT to port 443"
        )
    );
    let auth = "client error (Connect): tunnel error: proxy authorization required";
    assert_eq!(via.tunnel_refusal(&target, auth), via.auth_refusal(407));
    assert_eq!(via.tunnel_refusal(&target, "connection refused"), None);
    let direct = route(
        &ProxySetting::Direct,
        &[],
        "https://xmpp.example.net/http-bind",
    );
    assert_eq!(direct.tunnel_refusal(&target, unsuccessful), None);
}
