//! A `webbinder run` process under test: its own directory (config, password file, bindings,
//! state), started and stopped like an operator would, its log kept for failure messages.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use webbinder::soap::{ResponseBody, parse_response};
use webbinder::xmpp::jid::Jid;
use webbinder::xmpp::session::Client;
use webbinder::xmpp::stanza::{self, IqType};
use webbinder::xmpp::xml::{Element, Limits};

use super::{Server, free_port};

pub const SWITCH: &str = "Net/LON/iLON App/Digital Output 1/nviClaValue_1";
pub const TEMP: &str = "Net/LON/iLON App/VirtFb/temp";
pub const SOURCE: &str = "Net/LON/iLON App/Digital Input 1/nvoClsValue_1";
pub const TEMP_OUT: &str = "Net/LON/iLON App/VirtFb/temp_out";
pub const TEMP_LATEST: &str = "Net/LON/iLON App/VirtFb/temp_latest";

/// The datapoints every test site has.
pub const DATAPOINTS: &str = r#"
[[datapoint]]
name = "Net/LON/iLON App/Digital Output 1/nviClaValue_1"
type = "SNVT_switch"
value = "0.0 0"
direction = "in"

[[datapoint]]
name = "Net/LON/iLON App/Digital Input 1/nvoClsValue_1"
type = "SNVT_switch"
value = "0.0 0"
direction = "out"

[[datapoint]]
name = "Net/LON/iLON App/VirtFb/temp"
type = "SNVT_temp"
value = "21.0"

[[datapoint]]
name = "Net/LON/iLON App/VirtFb/temp_out"
type = "SNVT_temp"
value = "0.0"
direction = "out"

[[datapoint]]
name = "Net/LON/iLON App/VirtFb/temp_latest"
type = "SNVT_temp"
value = "0.0"
"#;

/// One site's agent.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub jid: Jid,
    pub admin_port: u16,
    /// Extra environment of `webbinder run` (e.g. HTTP_PROXY).
    pub env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Agent {
    /// Writes the site's files: `mac`/`password` as its account on `server`, `allow` as its
    /// `[agent] allow` list.
    pub fn new(server: &Server, mac: &str, password: &str, allow: &[&str]) -> Agent {
        let xmpp = format!("server = \"127.0.0.1\"\nport = {}\n", server.http_port);
        Agent::with_xmpp(server, &xmpp, mac, password, allow)
    }

    /// [`Agent::new`] with `servers = [urls]` (failover, in this order) instead of one server;
    /// `server` gives the domain.
    pub fn with_servers(
        server: &Server,
        urls: &[String],
        mac: &str,
        password: &str,
        allow: &[&str],
    ) -> Agent {
        let list: Vec<String> = urls.iter().map(|u| format!("\"{u}\"")).collect();
        let xmpp = format!("servers = [{}]\n", list.join(", "));
        Agent::with_xmpp(server, &xmpp, mac, password, allow)
    }

    /// Writes the site's files with `xmpp` (the lines that say where the server is).
    fn with_xmpp(server: &Server, xmpp: &str, mac: &str, password: &str, allow: &[&str]) -> Agent {
        let dir = tempfile::Builder::new()
            .prefix("wb-agent-")
            .tempdir()
            .expect("temp dir");
        fs::write(dir.path().join("secret"), format!("{password}\n")).expect("secret");
        fs::create_dir_all(dir.path().join("bindings")).expect("bindings dir");
        let admin_port = free_port();
        let allow: Vec<String> = allow
            .iter()
            .map(|a| format!("\"{a}@{}\"", server.domain()))
            .collect();
        let config = format!(
            r#"[xmpp]
{xmpp}domain = "{domain}"
user = "{mac}"
password_file = "secret"
wait = "20s"

[agent]
admin = "127.0.0.1:{admin_port}"
allow = [{allow}]
{DATAPOINTS}"#,
            domain = server.domain(),
            allow = allow.join(", "),
        );
        fs::write(dir.path().join("webbinder.toml"), config).expect("config");
        let jid = format!("{}@{}/ilon", mac.to_lowercase(), server.domain())
            .parse()
            .expect("agent jid");
        Agent {
            dir,
            jid,
            admin_port,
            env: Vec::new(),
            child: None,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("webbinder.toml")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }

    /// The agent's log so far (for assertion messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Writes a binding file into the agent's binding directory.
    pub fn write_binding(&self, name: &str, text: &str) {
        fs::write(self.dir.path().join("bindings").join(name), text).expect("binding file");
    }

    /// Runs `webbinder` with this agent's config and `args`, returning (status, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_webbinder"))
            .arg("--config")
            .arg(self.config_path())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run webbinder");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Starts `webbinder run` (appending to its log).
    pub fn start(&mut self) {
        self.start_limited(None);
    }

    /// Starts `webbinder run` with at most `fds` open file descriptors (`ulimit -n`), as on a
    /// host with the common default of 1024, when given.
    pub fn start_limited(&mut self, fds: Option<u32>) {
        assert!(self.child.is_none(), "agent already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let mut cmd = match fds {
            None => Command::new(env!("CARGO_BIN_EXE_webbinder")),
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(env!("CARGO_BIN_EXE_webbinder"));
                c
            }
        };
        let child = cmd
            .arg("--config")
            .arg(self.config_path())
            .arg("run")
            .env("RUST_LOG", "info,webbinder=debug")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn webbinder run");
        self.child = Some(child);
    }

    /// Stops with SIGTERM and returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        signal(&child, "TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("agent did not stop within 20 s of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills with SIGKILL (a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends signal `sig` (e.g. "HUP") to the running agent.
    pub fn signal(&self, sig: &str) {
        if let Some(child) = &self.child {
            signal(child, sig);
        }
    }

    /// The process id of the running agent.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits at most `within` for the process to exit by itself; its exit code, or `None` if it
    /// is still running (or was never started).
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            let status = self.child.as_mut()?.try_wait().ok()?;
            if let Some(status) = status {
                self.child = None;
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process is still alive.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }
}

impl Agent {
    fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    /// `PUT /datapoints/{name}`: a local update, acknowledged once durable.
    pub async fn dp_write(&self, name: &str, value: &str) -> Result<(), String> {
        admin_write(self.admin_port, name, value).await
    }

    /// `GET /metrics`.
    pub async fn metrics(&self) -> String {
        match reqwest::get(self.admin_url("/metrics")).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The value of a datapoint, through the admin endpoint.
    pub async fn dp_read(&self, name: &str) -> Option<String> {
        let url = self.admin_url(&format!("/datapoints/{}", encode(name)));
        let resp = reqwest::get(url).await.ok()?;
        let v: serde_json::Value = resp.json().await.ok()?;
        v.get("value")?.as_str().map(str::to_owned)
    }

    /// `GET /health`: the HTTP status and the JSON body, or `None` when it does not answer.
    pub async fn health(&self) -> Option<(u16, serde_json::Value)> {
        let resp = reqwest::Client::new()
            .get(self.admin_url("/health"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = resp.status().as_u16();
        Some((status, resp.json().await.ok()?))
    }

    /// A counter or gauge of `/metrics` (`name` with its labels, as printed), if present.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// Waits until `/health` says the agent is online.
    pub async fn wait_online(&self) {
        let url = self.admin_url("/health");
        let online = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let health = async {
                    let v: serde_json::Value =
                        reqwest::get(url.clone()).await.ok()?.json().await.ok()?;
                    (v.get("online")? == true).then_some(())
                };
                if health.await.is_some() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(
            online.is_ok(),
            "the agent was not online within 30 s; its log:\n{}",
            self.log()
        );
    }

    /// `webbinder state --json`, parsed.
    pub fn state_json(&self) -> serde_json::Value {
        let (code, out, err) = self.cli(&["state", "--json"]);
        assert_eq!(code, 0, "state --json failed: {err}");
        serde_json::from_str(&out).expect("state --json is JSON")
    }

    /// The `hosts` entry of `state --json` named `host`.
    pub fn host_state(&self, host: &str) -> serde_json::Value {
        let s = self.state_json();
        s["hosts"]
            .as_array()
            .and_then(|hs| hs.iter().find(|h| h["name"] == host).cloned())
            .unwrap_or_else(|| panic!("no host {host} in state: {s}"))
    }
}

/// `PUT /datapoints/{name}` on the admin endpoint at `port`.
pub async fn admin_write(port: u16, name: &str, value: &str) -> Result<(), String> {
    let url = format!("http://127.0.0.1:{port}/datapoints/{}", encode(name));
    let resp = reqwest::Client::new()
        .put(url)
        .json(&serde_json::json!({ "value": value }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(resp.text().await.unwrap_or_default())
    }
}

pub use webbinder::admin::encode_name as encode;

fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status();
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Parses an XML text (test input).
pub fn xml(s: &str) -> Element {
    Element::parse(s, &Limits::default()).expect("test XML")
}

/// A SOAP envelope around one v4.0 operation.
pub fn envelope(op: &str, inner: &str) -> Element {
    xml(&format!(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><ilon:{op} xmlns:ilon="http://wsdl.echelon.com/web_services_ns/ilon100/v4.0/message/"><iLonItem>{inner}</iLonItem></ilon:{op}></soapenv:Body></soapenv:Envelope>"#
    ))
}

pub fn read_env(name: &str) -> Element {
    envelope(
        "Read",
        &format!(r#"<Item xsi:type="Dp_Data"><UCPTname>{name}</UCPTname></Item>"#),
    )
}

pub fn write_env(name: &str, value: &str, lon_format: &str, priority: Option<u8>) -> Element {
    let p = priority
        .map(|p| format!("<UCPTpriority>{p}</UCPTpriority>"))
        .unwrap_or_default();
    envelope(
        "Write",
        &format!(
            r#"<Item xsi:type="Dp_Data"><UCPTname>{name}</UCPTname><UCPTvalue LonFormat="{lon_format}">{value}</UCPTvalue>{p}</Item>"#
        ),
    )
}

/// Sends `env` to `to` and returns the answer's envelope.
pub async fn soap(client: &Client, to: &Jid, env: Element) -> Result<Element, String> {
    let answer = client
        .iq_within(IqType::Set, Some(to), env, Duration::from_secs(20))
        .await
        .map_err(|e| e.to_string())?;
    stanza::payload(&answer)
        .cloned()
        .ok_or_else(|| "answer without payload".to_owned())
}

/// The formatted `<UCPTvalue>` of the first item of a Read/Write answer, or the fault code.
pub fn value_in(answer: &Element) -> Result<String, u32> {
    let resp = parse_response(answer).expect("a readable response");
    let ResponseBody::Items(items) = resp.body else {
        panic!("not an items answer: {}", answer.to_xml());
    };
    let item = &items.items[0];
    if let Some(f) = &item.fault {
        return Err(f.code.code());
    }
    Ok(item
        .item
        .children()
        .find(|c| c.name() == "UCPTvalue" && c.get_attr("LonFormat") != Some("UCPTvalueDef"))
        .map(Element::text_content)
        .expect("a UCPTvalue"))
}

/// Polls `f` until it returns `Some` or `within` passes.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the agent answers a Read of `name` (it is logged in and serving) and returns
/// the value.
pub async fn wait_serving(client: &Client, agent: &Agent, name: &str) -> String {
    let answer = eventually(
        Duration::from_secs(30),
        "the agent to serve SOAP",
        || async { soap(client, &agent.jid, read_env(name)).await.ok() },
    )
    .await;
    value_in(&answer).unwrap_or_else(|code| panic!("read of {name} faulted: {code}"))
}
