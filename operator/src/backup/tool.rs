//! Running the external tools (pg_dump, pg_restore, redis-cli, redis-check-rdb): a tool that
//! cannot start is an error naming it; its exit status and output are returned for the pure
//! verification functions to judge.

use std::{ffi::OsStr, path::Path};

use tokio::process::Command;

use crate::{Error, Result};

/// What a tool did.
#[derive(Debug)]
pub struct Ran {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Its failure as an error, with the last lines it wrote.
    pub fn check(self, tool: &Path) -> Result<Ran> {
        if self.ok {
            return Ok(self);
        }
        let tail: Vec<&str> = self
            .stderr
            .lines()
            .chain(self.stdout.lines())
            .filter(|l| !l.trim().is_empty())
            .take(5)
            .collect();
        Err(Error::Tool {
            tool: tool.display().to_string(),
            detail: tail.join(" | "),
        })
    }
}

/// Runs `tool` with `args` (no shell, stdin closed) and waits for it.
pub async fn run<I, S>(tool: &Path, args: I) -> Result<Ran>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let output = Command::new(tool)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| Error::Tool {
            tool: tool.display().to_string(),
            detail: format!("could not start: {e}"),
        })?;
    Ok(Ran {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
