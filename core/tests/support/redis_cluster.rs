//! A private Redis Cluster (3 masters, each with a replica) on free loopback ports, for
//! tests that stop one of its masters without touching the shared cluster other tests use.
//! Its node timeout is 2 s, so a stopped master's replica takes over within seconds. Each
//! node keeps its `nodes.conf` in a folder of its own, so a restarted node rejoins (as a
//! replica of whoever took its place). Nothing else is persisted.
#![allow(dead_code)]

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use scraperx_core::config::{RedisConfig, RedisTopology};

struct ClusterNode {
    port: u16,
    bus: u16,
    dir: PathBuf,
    child: Option<Child>,
}

pub struct PrivateCluster {
    nodes: Vec<ClusterNode>,
    root: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

impl ClusterNode {
    fn start(&mut self) {
        let binary = std::env::var("SCRX_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        std::fs::create_dir_all(&self.dir).expect("node folder");
        let child = Command::new(binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
            .args(["--cluster-port", &self.bus.to_string()])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (installed by scripts/services.sh)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while cli(self.port, &["ping"]).is_none_or(|r| r.trim() != "PONG") {
            assert!(Instant::now() < deadline, "cluster node did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl PrivateCluster {
    /// Starts six nodes, makes them a cluster and waits until every node says it is ok.
    pub fn start() -> Self {
        let root = std::env::temp_dir().join(format!("scrx-cluster-{}", uuid::Uuid::new_v4()));
        let mut nodes: Vec<ClusterNode> = (0..6)
            .map(|i| ClusterNode {
                port: free_port(),
                bus: free_port(),
                dir: root.join(i.to_string()),
                child: None,
            })
            .collect();
        for node in &mut nodes {
            node.start();
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli (installed by scripts/services.sh)");
        assert!(created.success(), "redis-cli --cluster create failed");
        let cluster = Self { nodes, root };
        cluster.wait_ok(Duration::from_secs(20));
        cluster
    }

    /// Waits until every running node reports `cluster_state:ok` and every replica's link
    /// to its master is up (a replica that never synced would refuse to take over).
    pub fn wait_ok(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let ok = self.nodes.iter().filter(|n| n.child.is_some()).all(|n| {
                let state = cli(n.port, &["cluster", "info"])
                    .is_some_and(|info| info.contains("cluster_state:ok"));
                let synced = cli(n.port, &["info", "replication"]).is_some_and(|info| {
                    info.contains("role:master") || info.contains("master_link_status:up")
                });
                state && synced
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cluster not ok within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The nodes' URLs, comma-separated, as `REDIS_URL` takes them.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn config(&self) -> RedisConfig {
        RedisConfig {
            url: self.url(),
            topology: RedisTopology::Cluster,
        }
    }

    /// The node (index) that is master of the slot `key` hashes to, asked of a live node.
    pub fn master_of(&self, key: &str) -> usize {
        let live = self
            .nodes
            .iter()
            .find(|n| n.child.is_some())
            .expect("a live node");
        let slot: u16 = cli(live.port, &["cluster", "keyslot", key])
            .and_then(|s| s.trim().parse().ok())
            .expect("CLUSTER KEYSLOT");
        let nodes = cli(live.port, &["cluster", "nodes"]).expect("CLUSTER NODES");
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| {
                let (a, b) = range.split_once('-').unwrap_or((range, range));
                matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if a <= slot && slot <= b)
            });
            if serves {
                let port: u16 = fields[1]
                    .split(['@', ','])
                    .next()
                    .and_then(|hp| hp.rsplit_once(':'))
                    .and_then(|(_, p)| p.parse().ok())
                    .expect("node port");
                return self
                    .nodes
                    .iter()
                    .position(|n| n.port == port)
                    .expect("one of ours");
            }
        }
        panic!("no master serves slot {slot}");
    }

    /// Kills node `i` (SIGKILL): a master's replica takes over after the node timeout.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].stop();
    }

    /// Starts node `i` again; it rejoins from its `nodes.conf`.
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].start();
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
