//! A real HTTP proxy for tests: a private tinyproxy on loopback started by
//! `scripts/proxy-up.sh` in its own directory and stopped (by its pid) on drop.

use std::fs;

use super::{blocking, free_port, try_run_script};

pub struct Proxy {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Proxy {
    /// A proxy that passes everything through.
    pub fn start() -> Proxy {
        Proxy::start_with(&[])
    }

    /// A proxy that cuts every request whose answer has not started within `secs` (held
    /// BOSH long-polls included, when `secs` is below the session's `wait`).
    pub fn cutting(secs: u32) -> Proxy {
        Proxy::start_with(&["--timeout", &secs.to_string()])
    }

    /// Starts with `proxy-up.sh` options; a port taken between `free_port` and tinyproxy's bind
    /// is tried again on another port.
    pub fn start_with(options: &[&str]) -> Proxy {
        blocking(|| {
            let mut last = String::new();
            for _ in 0..3 {
                let dir = tempfile::Builder::new()
                    .prefix("wb-proxy-")
                    .tempdir()
                    .expect("temp dir");
                let port = free_port();
                let (d, p) = (dir.path().to_string_lossy().into_owned(), port.to_string());
                let mut args = vec![d.as_str(), p.as_str()];
                args.extend_from_slice(options);
                match try_run_script("proxy-up.sh", &args, &[]) {
                    Ok(_) => return Proxy { dir, port },
                    Err(e) => last = e,
                }
            }
            panic!("{last}")
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// tinyproxy's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("tinyproxy.log")).unwrap_or_default()
    }

    /// Requests the proxy carried to `127.0.0.1:port` (plain or CONNECT).
    pub fn requests_to(&self, port: u16) -> usize {
        let plain = format!(" http://127.0.0.1:{port}/");
        let connect = format!("CONNECT 127.0.0.1:{port} ");
        self.log()
            .lines()
            .filter(|l| l.contains("Request (file descriptor"))
            .filter(|l| l.contains(&plain) || l.contains(&connect))
            .count()
    }

    /// Tunnels (CONNECT) the proxy closed for being idle longer than its timeout, plus
    /// [`cuts`](Self::cuts).
    pub fn cuts_or_idle_closes(&self) -> usize {
        self.cuts()
            + self
                .log()
                .lines()
                .filter(|l| l.contains("Idle Timeout"))
                .count()
    }

    /// How many requests the proxy cut because the answer took longer than its timeout.
    pub fn cuts(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("process_server_headers failed"))
            .count()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let d = self.dir.path().to_string_lossy().into_owned();
        if let Err(e) = blocking(|| try_run_script("proxy-down.sh", &[&d], &[])) {
            eprintln!("{e}");
        }
    }
}
