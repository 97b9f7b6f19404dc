//! A private redis-server on a free loopback port, for tests that stop Redis or restart it
//! empty without touching the shared one that other tests use. Shared by the core, API and
//! worker tests (`#[path]`). Nothing is persisted: a restart comes back empty; unless it
//! was started in a folder of its own ([`PrivateRedis::start_in`]), where it loads and saves
//! `dump.rdb` (backup and restore drills).
#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
    /// Its own data folder (`dump.rdb` loaded at start, written by BGSAVE), when it has one.
    dir: Option<PathBuf>,
}

impl PrivateRedis {
    /// Starts one and waits until it answers.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// Starts one whose data folder is `dir`: it loads `dir/dump.rdb` when there is one, and
    /// BGSAVE writes there (never into the /tmp the others share).
    pub fn start_in(dir: PathBuf) -> Self {
        Self::launch(Some(dir))
    }

    fn launch(dir: Option<PathBuf>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut redis = Self {
            port,
            child: None,
            dir,
        };
        redis.up();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn config(&self) -> scraperx_core::config::RedisConfig {
        scraperx_core::config::RedisConfig::single(self.url())
    }

    /// Kills the server (SIGKILL): everything it held is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.up();
    }

    fn up(&mut self) {
        let binary = std::env::var("SCRX_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let dir = self
            .dir
            .as_ref()
            .map_or_else(|| "/tmp".to_owned(), |d| d.to_string_lossy().into_owned());
        let child = Command::new(binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir", &dir])
            .args(["--dbfilename", "dump.rdb"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (installed by scripts/services.sh)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "private redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let mut reply = [0u8; 5];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG"
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
