//! A full disk (issue 8, item 6), on a real small filesystem: the agent's state directory is a
//! tmpfs of a few MiB, filled by a filler file. Writes made while it is full are refused and
//! never visible; `/health` says the store is not writable, and why; once the filler is gone
//! the agent writes again by itself, within seconds, without a restart.
//!
//! Mounting needs root (CI runs as root). Where `mount` fails the test says so loudly and
//! skips, unless `WEBBINDER_REQUIRE_MOUNT=1`, which makes it fail instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use webbinder::xmpp::session::Client;

use crate::both_servers;
use crate::support::agent::{Agent, TEMP, eventually, read_env, soap, value_in, write_env};
use crate::support::recorder::Recorder;
use crate::support::{Kind, Server};

const A_MAC: &str = "08-00-00-1A-7C-62";
/// A recording peer fed by every change of `TEMP`: what it receives was replicated.
const R_MAC: &str = "00-11-22-33-44-55";
const R_TARGET: &str = "R:temp";
const CLIENT: &str = "pidgin";
const TEMP_FMT: &str = "#0000000000000000[0].SNVT_temp";
/// The state filesystem's size: room for sled's files with a margin, small enough to fill fast.
const FS_SIZE: &str = "16m";
/// How soon writes must work again once space is back.
const RECOVERY: Duration = Duration::from_secs(15);

/// A tmpfs mounted for the test, unmounted (lazily, so a straggler cannot block it) on drop.
struct Mount {
    path: PathBuf,
}

impl Mount {
    /// Mounts a tmpfs of `size` on `path`; `None` (after saying why) where mounting fails.
    fn tmpfs(path: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(path).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Mount {
                path: path.to_owned(),
            }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("WEBBINDER_REQUIRE_MOUNT").as_deref() != Ok("1"),
                    "cannot mount a tmpfs for the full-disk test: {why}"
                );
                eprintln!(
                    "\n!!!!!!!!!! SKIPPED: the full-disk test needs `mount -t tmpfs` (root): {why}\n"
                );
                None
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the filesystem holding `dir` with one file; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("filler file");
    let block = vec![0xA5u8; 64 * 1024];
    // Whole blocks first, then single bytes, so that not even a small write fits.
    while f.write_all(&block).is_ok() {}
    while f.write_all(&[0xA5]).is_ok() {}
    let _ = f.sync_all();
    path
}

/// `GET /health`: (HTTP status, JSON body).
async fn health(agent: &Agent) -> (u16, serde_json::Value) {
    let url = format!("http://127.0.0.1:{}/health", agent.admin_port);
    let resp = reqwest::get(url).await.expect("GET /health");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("/health is JSON"))
}

async fn soap_read(client: &Client, agent: &Agent) -> String {
    let answer = soap(client, &agent.jid, read_env(TEMP))
        .await
        .expect("a Read answer");
    value_in(&answer).expect("a Read of temp without fault")
}

async fn full_disk_refuses_writes_hides_them_and_recovers_without_restart(kind: Kind) {
    let server = Server::start(kind);
    server.register(&[(A_MAC, "secret-a"), (CLIENT, "pw-c"), (R_MAC, "pw-r")]);
    let mut agent = Agent::new(&server, A_MAC, "secret-a", &[CLIENT]);
    let state = agent.path().join("state");
    let Some(mount) = Mount::tmpfs(&state, FS_SIZE) else {
        return;
    };
    let rec = Recorder::start(&server, R_MAC, "pw-r").await;
    agent.write_binding(
        "rec.toml",
        &format!(
            "[[host]]\nname = \"rec\"\nmac_id = \"{R_MAC}\"\nretry_time = \"1s\"\n\
             connection_timeout = \"10s\"\n\n[[connection]]\nsource = \"{TEMP}\"\n\
             host = \"rec\"\ntarget = \"{R_TARGET}\"\n"
        ),
    );
    agent.start();
    let (client, _events) = Client::start(server.client(CLIENT, "pw-c", "app")).unwrap();
    client.wait_online(Duration::from_secs(20)).await.unwrap();
    eventually(
        Duration::from_secs(30),
        "the agent to serve SOAP",
        || async { soap(&client, &agent.jid, read_env(TEMP)).await.ok() },
    )
    .await;
    agent
        .dp_write(TEMP, "22.5")
        .await
        .expect("a write with room");
    let (code, h) = health(&agent).await;
    assert_eq!(code, 200, "healthy before the disk fills: {h}");

    // The disk fills: writes are refused (not acknowledged).
    let filler = fill(&state);
    let mut refused = None;
    for i in 0..50 {
        let value = format!("{}.0", 30 + i);
        if agent.dp_write(TEMP, &value).await.is_err() {
            refused = Some(value);
            break;
        }
    }
    let refused =
        refused.unwrap_or_else(|| panic!("no write was refused on a full disk:\n{}", agent.log()));
    // A value that was not persisted is never visible: not by dp read, not by a SOAP Read.
    let shown = agent.dp_read(TEMP).await.expect("dp read while full");
    assert_ne!(shown, refused, "dp read shows a value that was refused");
    let read = soap_read(&client, &agent).await;
    assert_ne!(read, refused, "a SOAP Read shows a value that was refused");
    // /health says the store is not writable, and why.
    let (code, h) = health(&agent).await;
    assert_eq!(code, 503, "/health while the disk is full: {h}");
    assert_eq!(h["store"]["writable"], false, "{h}");
    let error = h["store"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("space"), "the cause is named: {h}");
    // A SOAP Write is not acknowledged either, and the requester is told (no timeout).
    match soap(&client, &agent.jid, write_env(TEMP, "41.0", TEMP_FMT, None)).await {
        Ok(answer) => assert!(
            value_in(&answer).is_err(),
            "a SOAP Write acknowledged on a full disk"
        ),
        Err(e) => assert!(
            e.contains("resource-constraint"),
            "a refused SOAP Write gets an error, not silence: {e}"
        ),
    }

    // Space returns: writes work again by themselves, without a restart.
    std::fs::remove_file(&filler).expect("remove the filler");
    let freed = Instant::now();
    eventually(RECOVERY, "writes to succeed once space is back", || async {
        agent.dp_write(TEMP, "23.5").await.ok()
    })
    .await;
    let took = freed.elapsed();
    assert!(agent.is_running(), "the agent exited:\n{}", agent.log());
    eprintln!(
        "{}: writes recovered {took:?} after space returned",
        kind.name()
    );
    assert_eq!(agent.dp_read(TEMP).await.as_deref(), Some("23.5"));
    let w = soap(&client, &agent.jid, write_env(TEMP, "24.5", TEMP_FMT, None))
        .await
        .expect("a SOAP Write answer after recovery");
    assert_eq!(value_in(&w), Ok("24.5".to_owned()));
    assert_eq!(soap_read(&client, &agent).await, "24.5");
    let (code, h) = health(&agent).await;
    assert_eq!(code, 200, "healthy again: {h}");
    assert_eq!(h["store"]["writable"], true, "{h}");
    // Nothing refused was replicated; what was acknowledged after recovery was.
    let seen = eventually(Duration::from_secs(60), "24.5 at the peer", || async {
        let v = rec.values(R_TARGET);
        (v.last().map(String::as_str) == Some("24.5")).then_some(v)
    })
    .await;
    let same = |a: &str, b: &str| a.parse::<f64>().ok() == b.parse::<f64>().ok();
    // A write refused while the store was failed was never staged: it never travels.
    assert!(
        !seen.iter().any(|v| same(v, "41.0")),
        "a write refused by the failed store was replicated: {seen:?}"
    );
    // The first refused write's own flush failed: its outcome is unknown (sled may have
    // written it before the disk filled up, and then it comes back with the re-opened store).
    // It was never acknowledged; if it travels at all, it travels once and in order.
    let at: Vec<usize> = (0..seen.len())
        .filter(|&i| same(&seen[i], &refused))
        .collect();
    let later = seen.iter().position(|v| same(v, "23.5"));
    assert!(
        at.len() <= 1 && at.iter().all(|&i| later.is_none_or(|l| i < l)),
        "the refused write {refused} arrived twice or out of order: {seen:?}"
    );
    assert!(seen.iter().any(|v| same(v, "23.5")), "{seen:?}");

    // What was acknowledged after recovery is durable: it survives a restart.
    assert_eq!(agent.stop(), Some(0), "clean stop:\n{}", agent.log());
    agent.start();
    let value = eventually(Duration::from_secs(30), "the restarted agent", || async {
        soap(&client, &agent.jid, read_env(TEMP))
            .await
            .ok()
            .and_then(|a| value_in(&a).ok())
    })
    .await;
    assert_eq!(value, "24.5");
    agent.stop();
    drop(mount);
}

both_servers!(full_disk_refuses_writes_hides_them_and_recovers_without_restart);
