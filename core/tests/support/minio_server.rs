//! A private MinIO on a free loopback port, for tests that stop the object store under load
//! without touching the shared one. Its data folder outlives a stop, as a real outage's does.
#![allow(dead_code)]

// The including test crate loads `scratch.rs` as `crate::scratch` (it is shared with the
// other private servers, and a file may be loaded as a module only once).
use crate::scratch;

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const USER: &str = "drill-admin";
const PASSWORD: &str = "drill-admin-secret";

pub struct PrivateMinio {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// The MinIO that scripts/services.sh built: `SCRX_MINIO_BIN`, else Go's bin folder.
fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("SCRX_MINIO_BIN") {
        return path.into();
    }
    let gobin = std::env::var("GOBIN")
        .ok()
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let gopath = std::env::var("GOPATH")
                .unwrap_or_else(|_| format!("{}/go", std::env::var("HOME").unwrap_or_default()));
            PathBuf::from(gopath).join("bin")
        });
    gobin.join("minio")
}

impl PrivateMinio {
    /// Starts one and waits until it is live.
    pub fn start() -> Self {
        let port = scratch::free_port();
        let dir = scratch::empty_folder(&format!("private-minio-{port}"));
        let mut minio = Self {
            port,
            dir,
            child: None,
        };
        minio.up();
        minio
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its root credentials, as an S3 configuration.
    pub fn config(&self) -> scraperx_core::config::S3Config {
        let endpoint = self.endpoint();
        scraperx_core::config::S3Config::from_lookup_for_role(
            |name| match name {
                "S3_ENDPOINT" => Some(endpoint.clone()),
                "S3_ACCESS_KEY" => Some(USER.into()),
                "S3_SECRET_KEY" => Some(PASSWORD.into()),
                _ => None,
            },
            "ADMIN",
        )
        .expect("private minio settings")
    }

    /// The environment a worker process needs to use it, whatever role keys it reads.
    pub fn worker_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("S3_ENDPOINT", self.endpoint()),
            ("S3_ACCESS_KEY", USER.into()),
            ("S3_SECRET_KEY", PASSWORD.into()),
            ("S3_WORKER_ACCESS_KEY", USER.into()),
            ("S3_WORKER_SECRET_KEY", PASSWORD.into()),
        ]
    }

    /// Kills the server (SIGKILL); its data stays on disk.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port over the same data, and waits until it is live.
    pub fn up(&mut self) {
        let child = Command::new(binary())
            .arg("server")
            .arg(self.dir.join("data"))
            .args(["--address", &format!("127.0.0.1:{}", self.port)])
            .args(["--console-address", "127.0.0.1:0"])
            .env("MINIO_ROOT_USER", USER)
            .env("MINIO_ROOT_PASSWORD", PASSWORD)
            .env("MINIO_BROWSER", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("minio (built by scripts/services.sh)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.live() {
            assert!(Instant::now() < deadline, "private minio did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn live(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let request = "GET /minio/health/live HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        let mut reply = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut reply).is_ok()
            && reply
                .split("\r\n")
                .next()
                .is_some_and(|line| line.contains(" 200 "))
    }
}

impl Drop for PrivateMinio {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
