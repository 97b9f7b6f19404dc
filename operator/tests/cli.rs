//! The operator's command line: `run --help` lists the admin's MinIO keys and the Kubernetes
//! settings, and a bad configuration is reported one line per problem, exit status 2.

use std::process::Command;
#[test]
fn run_help_lists_the_admin_keys_and_kubernetes_settings_and_bad_values_exit_two() {
    let bin = env!("CARGO_BIN_EXE_scraperx-operator");
    let help = Command::new(bin)
        .args(["run", "--help"])
        .env_clear()
        .env("COLUMNS", "10000")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&help.stdout);
    for env in [
        "S3_ADMIN_ACCESS_KEY",
        "KUBECONFIG",
        "POD_NAMESPACE",
        "SCRX_OPERATOR_ADDR",
        "SCRX_TTL_LOCK_SECS",
    ] {
        assert!(
            text.contains(&format!("env: {env}")),
            "{env} missing:\n{text}"
        );
    }
    let bad = Command::new(bin)
        .arg("maintenance")
        .env_clear()
        .env("RUST_BACKTRACE", "1")
        .env("SCRX_TTL_LOCK_SECS", "0")
        .env("SCRX_DATABASE_MAX_CONNECTIONS", "0")
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert!(err.lines().all(|l| l.starts_with("error: ")), "{err}");
    assert!(
        err.contains("SCRX_TTL_LOCK_SECS") && err.contains("SCRX_DATABASE_MAX_CONNECTIONS"),
        "{err}"
    );
    assert!(!err.contains("backtrace"), "{err}");
}
