//! Binding files against a running agent (issue 8 item 4): a large reload or a FIFO in the
//! binding directory never stalls SOAP, and `webbinder check` never hangs on a FIFO.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use webbinder::xmpp::session::Client;

use crate::both_servers;
use crate::support::agent::{Agent, SWITCH, TEMP, read_env, soap, value_in, wait_serving};
use crate::support::{Kind, Server};

const A_MAC: &str = "08-00-00-1A-7C-62";
const B_MAC: &str = "00-D0-71-02-1B-1C";
const CLIENT: &str = "pidgin";
const LOGIN: Duration = Duration::from_secs(20);
const SETTLE: Duration = Duration::from_secs(60);
/// The longest a SOAP Read may take while the agent reloads (normally tens of ms).
const STALL: Duration = Duration::from_secs(2);

fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

/// Runs `webbinder --config CONFIG check`, killing it after `deadline`: (status, stderr), or
/// `None` if it hung.
fn check_within(config: &Path, deadline: Duration) -> Option<(i32, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_webbinder"))
        .arg("--config")
        .arg(config)
        .arg("check")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run webbinder check");
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if let Some(status) = child.try_wait().expect("wait for webbinder check") {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                std::io::Read::read_to_string(&mut stderr, &mut err).expect("stderr");
            }
            return Some((status.code().unwrap_or(-1), err));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn check_names_a_fifo_and_does_not_hang() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("webbinder.toml"),
        "[xmpp]\nserver = \"127.0.0.1\"\ndomain = \"localhost\"\nuser = \"08-00-00-1A-7C-62\"\n\
         password_file = \"secret\"\n",
    )
    .unwrap();
    std::fs::write(d.path().join("secret"), "pw\n").unwrap();
    let bindings = d.path().join("bindings");
    std::fs::create_dir(&bindings).unwrap();
    mkfifo(&bindings.join("pipe.toml"));
    let (code, err) = check_within(&d.path().join("webbinder.toml"), Duration::from_secs(30))
        .expect("webbinder check hung on a FIFO");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("pipe.toml: cannot read the binding file: it is a FIFO, not a regular file"),
        "{err}"
    );
}

struct Site {
    _server: Server,
    agent: Agent,
    client: Client,
}

async fn site(kind: Kind) -> Site {
    let server = Server::start(kind);
    server.register(&[(A_MAC, "secret-a"), (CLIENT, "pw-c")]);
    let mut agent = Agent::new(&server, A_MAC, "secret-a", &[CLIENT]);
    agent.start();
    let (client, _rx) = Client::start(server.client(CLIENT, "pw-c", "app")).unwrap();
    client.wait_online(LOGIN).await.unwrap();
    wait_serving(&client, &agent, SWITCH).await;
    Site {
        _server: server,
        agent,
        client,
    }
}

/// Reads `SWITCH` until `done` holds, returning the slowest answer and the number of reads.
async fn read_until(s: &Site, what: &str, done: impl Fn(&str) -> bool) -> (Duration, usize) {
    let start = Instant::now();
    let (mut slowest, mut reads) = (Duration::ZERO, 0);
    loop {
        let sent = Instant::now();
        let answer = soap(&s.client, &s.agent.jid, read_env(SWITCH))
            .await
            .unwrap_or_else(|e| panic!("a Read failed while {what}: {e}"));
        value_in(&answer).unwrap_or_else(|code| panic!("a Read faulted ({code}) while {what}"));
        slowest = slowest.max(sent.elapsed());
        reads += 1;
        if done(&s.agent.log()) {
            return (slowest, reads);
        }
        assert!(start.elapsed() < SETTLE, "timed out waiting for {what}");
    }
}

/// `n` connections to site-b.
fn large(n: usize) -> String {
    let mut text = format!("[[host]]\nname = \"site-b\"\nmac_id = \"{B_MAC}\"\n");
    for i in 0..n {
        text.push_str(&format!(
            "\n[[connection]]\nsource = \"{TEMP}\"\nhost = \"site-b\"\ntarget = \"Net/LON/x/nvi_{i}\"\n"
        ));
    }
    text
}

/// 20,000 connections whose last names an unknown host: the whole directory is loaded and
/// validated, then rejected, so what is measured is the load alone.
fn large_and_invalid(n: usize) -> String {
    large(n)
        + &format!("\n[[connection]]\nsource = \"{TEMP}\"\nhost = \"nowhere\"\ntarget = \"x\"\n")
}

/// A reload of 20,000 connections once blocked SOAP for 12 s: it must be loaded off the
/// event loop, with every Read answered promptly meanwhile.
async fn a_large_reload_never_stalls_soap(kind: Kind) {
    let s = site(kind).await;
    s.agent
        .write_binding("big.toml", &large_and_invalid(20_000));
    let (slowest, reads) = read_until(&s, "the agent reloaded", |log| {
        log.contains("big.toml:") && log.contains("nowhere") && log.contains("rejected")
    })
    .await;
    eprintln!("{reads} Reads during a 20,000-connection reload, the slowest {slowest:?}");
    assert!(slowest < STALL, "a Read took {slowest:?} during the reload");
}

/// A FIFO named `*.toml` once hung the agent's SOAP service: it must be rejected, naming it.
async fn a_fifo_in_the_binding_directory_never_stalls_soap(kind: Kind) {
    let mut s = site(kind).await;
    mkfifo(&s.agent.path().join("bindings").join("pipe.toml"));
    let (slowest, _) = read_until(&s, "the FIFO was rejected", |log| {
        log.contains("pipe.toml: cannot read the binding file: it is a FIFO")
    })
    .await;
    assert!(
        slowest < STALL,
        "a Read took {slowest:?} with a FIFO present"
    );
    // Still serving afterwards.
    let answer = soap(&s.client, &s.agent.jid, read_env(SWITCH))
        .await
        .unwrap();
    assert!(value_in(&answer).is_ok());
    assert!(
        s.agent.is_running(),
        "the agent stopped:\n{}",
        s.agent.log()
    );
}

both_servers!(
    a_large_reload_never_stalls_soap,
    a_fifo_in_the_binding_directory_never_stalls_soap,
);
