//! The worker's command line as a person meets it: `--help` lists every setting with its
//! environment variable and default, a bad configuration is one line per problem and exit
//! status 2 with no backtrace (even with `RUST_BACKTRACE=1`), booleans take 1/0 and yes/no,
//! and the worker reads its own role's MinIO keys.

use std::process::{Command, Output};

use scraperx_core::{
    config::{PgConfig, RedisConfig, S3Config},
    telemetry::LogConfig,
};
use scraperx_worker::WorkerConfig;

/// The worker binary with nothing of this process's environment but `vars`.
fn worker(args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scraperx-worker"))
        .args(args)
        .env_clear()
        .env("RUST_BACKTRACE", "1")
        // No wrapping of the help text (clap wraps to the terminal's width).
        .env("COLUMNS", "10000")
        .envs(vars.iter().copied())
        .output()
        .expect("the worker binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
#[test]
fn run_help_lists_every_setting_with_its_variable_and_default() {
    let out = worker(&["run", "--help"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let help = String::from_utf8_lossy(&out.stdout);
    let settings = [
        WorkerConfig::settings(),
        PgConfig::settings(),
        RedisConfig::settings(),
        S3Config::settings("WORKER"),
        LogConfig::settings(),
    ]
    .concat();
    for s in &settings {
        assert!(
            help.contains(&format!("--{}", s.flag())),
            "--{} missing:\n{help}",
            s.flag()
        );
        assert!(
            help.contains(&format!("env: {}", s.env)),
            "{} missing:\n{help}",
            s.env
        );
        if let (Some(default), false) = (&s.default, s.secret || s.default.as_deref() == Some("")) {
            assert!(
                help.contains(&format!("default: {default}")),
                "default of {} missing",
                s.env
            );
        }
    }
    assert!(help.contains("S3_WORKER_ACCESS_KEY") && !help.contains("S3_API_ACCESS_KEY"));
}

#[test]
fn an_unknown_command_is_a_usage_error_without_a_backtrace() {
    let out = worker(&["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("frobnicate"), "{err}");
    assert!(!err.contains("backtrace"), "{err}");
    let none = worker(&[], &[]);
    assert_eq!(none.status.code(), Some(2), "{}", stderr(&none));
}

#[test]
fn every_configuration_problem_is_one_line_and_exit_status_two() {
    let out = worker(
        &["run"],
        &[
            ("SCRX_WORKER_CONCURRENCY", "lots"),
            ("SCRX_OBEY_ROBOTS", "maybe"),
            ("SCRX_LOG_FORMAT", "yaml"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    for needle in [
        "SCRX_WORKER_CONCURRENCY=\"lots\"",
        "SCRX_OBEY_ROBOTS=\"maybe\"",
        "SCRX_LOG_FORMAT=\"yaml\"",
        "DATABASE_URL is not set",
        "S3_WORKER_ACCESS_KEY (or S3_ACCESS_KEY) is not set",
    ] {
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("error: ") && l.contains(needle))
                .count(),
            1,
            "{needle}:\n{err}"
        );
    }
    assert!(lines.iter().all(|l| l.starts_with("error: ")), "{err}");
    assert!(!err.contains("backtrace"), "{err}");
}

#[test]
fn booleans_take_one_and_yes_and_the_worker_reads_its_own_role_keys() {
    // Valid settings: the worker gets past its configuration and fails only on the
    // unreachable database (status 1, one line).
    let out = worker(
        &["run", "--obey-robots", "yes"],
        &[
            ("SCRX_ALLOW_PRIVATE_TARGETS", "1"),
            ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
            ("SCRX_DATABASE_ACQUIRE_TIMEOUT_MS", "300"),
            ("S3_WORKER_ACCESS_KEY", "worker"),
            ("S3_WORKER_SECRET_KEY", "worker-secret"),
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("connecting to PostgreSQL"), "{err}");
    assert!(!err.contains("backtrace"), "{err}");
}
