//! What the private servers share: a free loopback port and an empty scratch folder.
#![allow(dead_code)]

use std::path::PathBuf;

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// An empty folder `<name>` under `SCRX_SCRATCH` (default /tmp/scraperx).
pub fn empty_folder(name: &str) -> PathBuf {
    let scratch = std::env::var("SCRX_SCRATCH").unwrap_or_else(|_| "/tmp/scraperx".into());
    let dir = PathBuf::from(scratch).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}
