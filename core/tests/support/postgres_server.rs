//! A private PostgreSQL cluster on a free loopback port, for tests that restart the database
//! under load without touching the shared server other tests use. Its data lives in a
//! scratch folder owned by the `postgres` user (initdb refuses root); a restart keeps it.
#![allow(dead_code)]

// The including test crate loads `scratch.rs` as `crate::scratch` (it is shared with the
// other private servers, and a file may be loaded as a module only once).
use crate::scratch;

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

pub struct PrivatePostgres {
    port: u16,
    dir: PathBuf,
    running: bool,
}

fn pg_bin(tool: &str) -> String {
    let dir = std::env::var("PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    format!("{dir}/{tool}")
}

/// Runs a PostgreSQL tool as the `postgres` user; panics with its output when it fails.
fn as_postgres(tool: &str, args: &[&str]) {
    let output = Command::new("runuser")
        .args(["-u", "postgres", "--", &pg_bin(tool)])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("runuser (util-linux) and PostgreSQL (installed by scripts/services.sh)");
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl PrivatePostgres {
    /// A new cluster with a `scraperx` database, started and answering.
    pub fn start() -> Self {
        let port = scratch::free_port();
        let dir = scratch::empty_folder(&format!("private-pg-{port}"));
        let status = Command::new("chown")
            .args(["postgres:postgres", &dir.to_string_lossy()])
            .status()
            .expect("chown");
        assert!(status.success(), "chown {dir:?}");
        let data = dir.join("data");
        as_postgres(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
            ],
        );
        let mut pg = Self {
            port,
            dir,
            running: false,
        };
        pg.up();
        as_postgres(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "scraperx",
            ],
        );
        pg
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/scraperx", self.port)
    }

    /// Stops it the way a crash does (`-m immediate`: no checkpoint, every connection cut);
    /// the next start runs crash recovery.
    pub fn crash(&mut self) {
        if self.running {
            as_postgres(
                "pg_ctl",
                &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
            );
            self.running = false;
        }
    }

    /// Starts it again on the same port, with its data.
    pub fn up(&mut self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k /tmp -c max_connections=200",
            self.port
        );
        let log = self.dir.join("postgres.log");
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log.to_string_lossy(),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        self.running = true;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "private postgres did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.running {
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--", &pg_bin("pg_ctl")])
                .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
