//! The API's command line: `serve --help` lists its settings with their variables, the API
//! reads `S3_API_*` (never the admin's or the workers' keys), and a bad configuration is one
//! line per problem with exit status 2 and no backtrace.

use std::process::{Command, Output};

fn api(args: &[&str], vars: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scraperx-api"))
        .args(args)
        .env_clear()
        .env("RUST_BACKTRACE", "1")
        // No wrapping of the help text (clap wraps to the terminal's width).
        .env("COLUMNS", "10000")
        .envs(vars.iter().copied())
        .output()
        .expect("the api binary runs")
}
#[test]
fn serve_help_names_the_api_role_keys_and_every_api_setting() {
    let out = api(&["serve", "--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for s in scraperx_api::config::ApiConfig::settings() {
        assert!(
            help.contains(&format!("env: {}", s.env)),
            "{} missing:\n{help}",
            s.env
        );
    }
    assert!(help.contains("S3_API_ACCESS_KEY") && help.contains("S3_API_SECRET_KEY"));
    assert!(
        !help.contains("S3_ADMIN_") && !help.contains("S3_WORKER_"),
        "{help}"
    );
    let migrate = api(&["migrate", "--help"], &[]);
    assert!(String::from_utf8_lossy(&migrate.stdout).contains("S3_ADMIN_ACCESS_KEY"));
}

#[test]
fn serve_reads_the_api_role_keys_and_reports_each_problem_on_its_own_line() {
    let bad = api(
        &["serve"],
        &[
            ("SCRX_API_ADDR", "here"),
            ("SCRX_TRUST_X_FORWARDED_FOR", "perhaps"),
            ("S3_ADMIN_ACCESS_KEY", "admin"),
            ("S3_ADMIN_SECRET_KEY", "admin-secret"),
        ],
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    for needle in [
        "SCRX_API_ADDR=\"here\"",
        "SCRX_TRUST_X_FORWARDED_FOR",
        "DATABASE_URL",
        "S3_API_ACCESS_KEY",
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with("error: ") && l.contains(needle)),
            "{needle}:\n{err}"
        );
    }
    assert!(!err.contains("backtrace"), "{err}");

    let good = api(
        &["serve"],
        &[
            ("SCRX_ALLOW_PRIVATE_TARGETS", "yes"),
            ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"),
            ("SCRX_DATABASE_ACQUIRE_TIMEOUT_MS", "300"),
            ("S3_API_ACCESS_KEY", "api"),
            ("S3_API_SECRET_KEY", "api-secret"),
        ],
    );
    let err = String::from_utf8_lossy(&good.stderr);
    assert_eq!(good.status.code(), Some(1), "{err}");
    assert!(err.contains("connecting to PostgreSQL"), "{err}");
}
