//! A two-node ejabberd cluster on loopback, started by scripts/ejabberd-cluster-up.sh: each
//! node is a [`Server`] of its own (BOSH on its own port, stopped by its own pid on drop), so
//! agents, recorders and clients use it like a single server; accounts registered on one node
//! exist on both (Mnesia replicates them).

use std::path::Path;
use std::process::Command;

use super::{Kind, Server, blocking, free_port, port_taken, try_run_script};

pub struct Cluster {
    /// Node 1 (`node1` under `dir`), then node 2: dropped (stopped) before `dir` is removed.
    pub nodes: [Server; 2],
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts both nodes and joins them (about 10 s). A port taken meanwhile by another test
    /// starts the cluster again on other ports, at most twice.
    pub fn start() -> Cluster {
        let mut attempt = 0;
        loop {
            let dir = tempfile::Builder::new()
                .prefix("wb-cluster-")
                .tempdir()
                .expect("temp dir");
            // Each node's directory is a TempDir of its own (its Server's), linked as DIR/nodeN.
            let node_dirs = [node_dir(dir.path(), 1), node_dir(dir.path(), 2)];
            let ports = [free_port(), free_port(), free_port(), free_port()];
            let args: Vec<String> = std::iter::once(dir.path().to_string_lossy().into_owned())
                .chain(ports.iter().map(u16::to_string))
                .collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = blocking(|| try_run_script("ejabberd-cluster-up.sh", &args, &[]));
            match out {
                Ok(_) => {
                    let [d1, d2] = node_dirs;
                    let nodes = [
                        Server::adopt(Kind::Ejabberd, d1, ports[0], ports[1]),
                        Server::adopt(Kind::Ejabberd, d2, ports[2], ports[3]),
                    ];
                    return Cluster { nodes, dir };
                }
                Err(e) if attempt < 2 && port_taken(&e) => {
                    attempt += 1;
                    eprintln!("a port was taken meanwhile; starting the cluster again: {e}");
                    // Stop whichever node did start (by its pid, through the down script).
                    let _ =
                        Command::new(super::repo_root().join("scripts/ejabberd-cluster-down.sh"))
                            .arg(dir.path())
                            .output();
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    pub fn node(&self, n: usize) -> &Server {
        &self.nodes[n - 1]
    }

    /// The BOSH URLs of the nodes, in the order given (1-based node numbers).
    pub fn urls(&self, order: &[usize]) -> Vec<String> {
        order.iter().map(|n| self.node(*n).bosh_url()).collect()
    }
}

/// A directory for node `n`, linked as `cluster/nodeN` where the cluster script expects it.
fn node_dir(cluster: &Path, n: usize) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("wb-node{n}-"))
        .tempdir()
        .expect("temp dir");
    std::os::unix::fs::symlink(dir.path(), cluster.join(format!("node{n}"))).expect("node link");
    dir
}
