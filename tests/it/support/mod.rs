//! Real XMPP servers for integration tests, started and stopped by the
//! project's own scripts (scripts/*-up.sh, -register.sh, -down.sh), each in
//! its own temporary directory on free loopback ports.

#![allow(dead_code)]

pub mod agent;
pub mod cluster;
pub mod proxy;
pub mod recorder;
pub mod relay;
pub mod soak;
pub mod tls;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use webbinder::xmpp::bosh::BoshConfig;
use webbinder::xmpp::session::ClientConfig;
use webbinder::xmpp::stream::{Secret, StreamConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ejabberd,
    Prosody,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ejabberd => "ejabberd",
            Kind::Prosody => "prosody",
        }
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A loopback port free now and never handed out before in this test process: two calls in a
/// row could otherwise get the same port (the first listener is closed before the second
/// binds), e.g. a server's c2s and HTTP ports.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if given.insert(port) {
            return port;
        }
    }
}

/// A running server; stopped (by its own pid, through the down script) on drop.
pub struct Server {
    pub kind: Kind,
    pub dir: tempfile::TempDir,
    pub c2s_port: u16,
    pub http_port: u16,
    pub env: HashMap<String, String>,
    extra_env: Vec<(String, String)>,
}

fn run_script(script: &str, args: &[&str], env: &[(String, String)]) -> String {
    try_run_script(script, args, env).unwrap_or_else(|e| panic!("{e}"))
}

fn try_run_script(script: &str, args: &[&str], env: &[(String, String)]) -> Result<String, String> {
    let path = repo_root().join("scripts").join(script);
    let out = Command::new(&path)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    if !out.status.success() {
        return Err(format!(
            "{script} {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Blocking helpers may run inside a multi-threaded tokio test.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::block_in_place(f),
        Err(_) => f(),
    }
}

impl Server {
    pub fn start(kind: Kind) -> Server {
        Server::start_with(kind, &[])
    }

    /// Starts with extra environment for the up script (e.g. BOSH_MAX_INACTIVITY). A port
    /// taken between `free_port` and the server's bind (another test's agent or server) is a
    /// race of the test rig, not of the product: it starts again on other ports, at most twice.
    pub fn start_with(kind: Kind, env: &[(&str, &str)]) -> Server {
        let mut attempt = 0;
        loop {
            let dir = tempfile::Builder::new()
                .prefix(&format!("wb-{}-", kind.name()))
                .tempdir()
                .expect("temp dir");
            let mut s = Server {
                kind,
                dir,
                c2s_port: free_port(),
                http_port: free_port(),
                env: HashMap::new(),
                extra_env: env
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            };
            match s.try_up() {
                Ok(()) => return s,
                Err(e) if attempt < 2 && port_taken(&e) => {
                    attempt += 1;
                    eprintln!(
                        "a port was taken meanwhile; starting {} again: {e}",
                        kind.name()
                    );
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// A server that a script already started in `dir` (a cluster node): its `server.env`
    /// is read; it is stopped on drop like any other.
    pub fn adopt(kind: Kind, dir: tempfile::TempDir, c2s_port: u16, http_port: u16) -> Server {
        let env = std::fs::read_to_string(dir.path().join("server.env"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Server {
            kind,
            dir,
            c2s_port,
            http_port,
            env,
            extra_env: Vec::new(),
        }
    }

    /// Kills the server process with SIGKILL (a crash: no clean shutdown, sockets reset),
    /// checking first that the pid is still this server's (its command line names its dir).
    pub fn kill(&self) {
        let pid = self.env.get("PID").expect("the up script printed PID");
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&cmdline).contains(&self.dir_str());
        assert!(ours, "pid {pid} is not the server in {}", self.dir_str());
        let status = Command::new("kill")
            .args(["-KILL", pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -KILL {pid} failed");
    }

    fn up(&mut self) {
        if let Err(e) = self.try_up() {
            panic!("{e}");
        }
    }

    fn try_up(&mut self) -> Result<(), String> {
        let out = blocking(|| {
            try_run_script(
                &format!("{}-up.sh", self.kind.name()),
                &[
                    &self.dir_str(),
                    &self.c2s_port.to_string(),
                    &self.http_port.to_string(),
                ],
                &self.extra_env,
            )
        })?;
        self.env = out
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(())
    }

    pub fn dir_str(&self) -> String {
        self.dir.path().to_string_lossy().into_owned()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn bosh_url(&self) -> String {
        format!("http://127.0.0.1:{}/http-bind", self.http_port)
    }

    pub fn domain(&self) -> String {
        self.env
            .get("XMPP_DOMAIN")
            .cloned()
            .unwrap_or_else(|| "localhost".into())
    }

    /// Registers accounts (one script run for all of them).
    pub fn register(&self, accounts: &[(&str, &str)]) {
        let mut args = vec![self.dir_str()];
        for (u, p) in accounts {
            args.push((*u).to_owned());
            args.push((*p).to_owned());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        blocking(|| run_script(&format!("{}-register.sh", self.kind.name()), &args, &[]));
    }

    pub fn stop(&self) {
        blocking(|| {
            run_script(
                &format!("{}-down.sh", self.kind.name()),
                &[&self.dir_str()],
                &[],
            )
        });
    }

    /// Starts again in the same directory on the same ports (accounts survive).
    pub fn restart(&mut self) {
        self.up();
    }

    /// A client config for `user` with test-friendly reconnect delays.
    pub fn client(&self, user: &str, password: &str, resource: &str) -> ClientConfig {
        let mut bosh = BoshConfig::new(&self.domain());
        bosh.wait = Duration::from_secs(20);
        ClientConfig {
            urls: vec![self.bosh_url()],
            ca_file: None,
            stream: StreamConfig {
                bosh,
                user: webbinder::xmpp::jid::normalize_user(user),
                password: Secret(password.to_owned()),
                resource: resource.to_owned(),
                plain_allowed: false,
                fetch_roster: true,
                initial_presence: true,
            },
            iq_timeout: Duration::from_secs(30),
            reconnect_min: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(2),
            retry_first_connect: true,
            proxy: webbinder::xmpp::session::ProxySetting::Direct,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let path = repo_root()
            .join("scripts")
            .join(format!("{}-down.sh", self.kind.name()));
        let _ = Command::new(path)
            .arg(self.dir.path())
            .stdin(std::process::Stdio::null())
            .output();
    }
}

/// Generates one test per server kind from `async fn name(kind: Kind)`.
#[macro_export]
macro_rules! both_servers {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn ejabberd() {
                    super::$name($crate::support::Kind::Ejabberd).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn prosody() {
                    super::$name($crate::support::Kind::Prosody).await;
                }
            }
        )*
    };
}

/// Whether an up script failed because one of its ports was taken.
fn port_taken(output: &str) -> bool {
    output.contains("eaddrinuse") || output.to_lowercase().contains("address already in use")
}
