//! The chart's backups (`backup.*` values) against the real API server of `e2e/`: a CronJob
//! per store on its schedule, hardened like every other pod and reading only its store's
//! connection keys and the backup target's; the operator given the target to read outcomes
//! from; a PrometheusRule whose alerts use the seed's thresholds and the metrics the operator
//! really serves; the WAL archiving fragment; wrong values refused by the schema.
//! Needs `helm` (`SCRX_HELM`) and `KUBECONFIG`, both from `e2e/control-plane.sh env`.

mod support;

use std::collections::BTreeSet;

use scraperx_operator::{
    backup::{BackupRecord, BackupStatus, Component, plan::Verification},
    metrics::Metrics,
};
use serde_json::{Value, json};
use support::{
    apply_crds, documents, dry_run_apply_in_new_namespace, helm, install_crds, of_kind, repo, run,
};

const TARGET_KEYS: [&str; 3] = [
    "SCRX_BACKUP_S3_ENDPOINT",
    "SCRX_BACKUP_S3_ACCESS_KEY",
    "SCRX_BACKUP_S3_SECRET_KEY",
];

fn chart() -> String {
    repo()
        .join("charts/scraperx")
        .to_string_lossy()
        .into_owned()
}

fn template(ns: &str, extra: &[&str]) -> std::process::Output {
    let chart = chart();
    let mut args = vec![
        "template",
        "bk",
        &chart,
        "--namespace",
        ns,
        "--kube-version",
        "1.36.0",
    ];
    args.extend_from_slice(extra);
    run(&helm(), &args, None)
}

const ENABLED: [&str; 10] = [
    "--set",
    "backup.enabled=true",
    "--set",
    "backup.prometheusRule.enabled=true",
    "--set",
    "backup.walArchiving.enabled=true",
    "--set",
    "connection.secretName=conn-x",
    "--set",
    "backup.secretName=target-x",
];

/// Every secret key a pod reads, and the Secrets they come from.
fn secret_refs(pod: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut keys = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    for env in pod["containers"][0]["env"].as_array().into_iter().flatten() {
        let r = &env["valueFrom"]["secretKeyRef"];
        if let (Some(name), Some(key)) = (r["name"].as_str(), r["key"].as_str()) {
            secrets.insert(name.to_owned());
            keys.insert(key.to_owned());
        }
    }
    (keys, secrets)
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn each_store_s_backup_is_a_hardened_cron_job_with_only_its_own_keys() {
    let objects = documents(&String::from_utf8_lossy(&template("bk", &ENABLED).stdout));
    let jobs = of_kind(&objects, "CronJob");
    assert_eq!(jobs.len(), 3, "a CronJob per store");
    for (store, schedule, own) in [
        ("postgres", "0 * * * *", &["DATABASE_URL"][..]),
        ("redis", "20 * * * *", &["REDIS_URL"][..]),
        (
            "minio",
            "40 */6 * * *",
            &["S3_ENDPOINT", "S3_ADMIN_ACCESS_KEY", "S3_ADMIN_SECRET_KEY"][..],
        ),
    ] {
        let job = jobs
            .iter()
            .find(|j| j["metadata"]["labels"]["app.kubernetes.io/component"] == store)
            .unwrap_or_else(|| panic!("no CronJob for {store}"));
        assert_eq!(job["spec"]["schedule"], schedule, "{store}");
        assert_eq!(job["spec"]["concurrencyPolicy"], "Forbid");
        let pod = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["automountServiceAccountToken"], false, "{store}");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{store}");
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let container = &pod["containers"][0];
        assert_eq!(container["args"], json!(["backup", store]));
        let security = &container["securityContext"];
        assert_eq!(security["readOnlyRootFilesystem"], true, "{store}");
        assert_eq!(security["allowPrivilegeEscalation"], false, "{store}");
        assert_eq!(security["capabilities"]["drop"], json!(["ALL"]), "{store}");
        assert_eq!(
            container["volumeMounts"][0]["mountPath"], "/tmp",
            "scratch on an emptyDir"
        );
        assert!(pod["volumes"][0]["emptyDir"]["sizeLimit"].is_string());
        let (keys, secrets) = secret_refs(pod);
        assert_eq!(
            keys,
            set(&[own, &TARGET_KEYS[..]].concat()),
            "{store} reads exactly its keys"
        );
        assert_eq!(secrets, set(&["conn-x", "target-x"]), "{store}");
    }
    // The operator reads the outcomes from the target, with the target's keys only added.
    let operator = objects
        .iter()
        .find(|o| {
            o["kind"] == "Deployment"
                && o["metadata"]["labels"]["app.kubernetes.io/name"] == "scraperx-operator"
        })
        .expect("operator");
    let (keys, _) = secret_refs(&operator["spec"]["template"]["spec"]);
    assert!(TARGET_KEYS.iter().all(|k| keys.contains(*k)), "{keys:?}");
    // Off by default: no CronJob, no rule, and the operator without the target.
    let default = documents(&String::from_utf8_lossy(&template("bk", &[]).stdout));
    assert!(
        of_kind(&default, "CronJob").is_empty() && of_kind(&default, "PrometheusRule").is_empty()
    );
}

#[test]
fn the_alerts_use_the_seed_s_thresholds_and_metrics_the_operator_serves() {
    let objects = documents(&String::from_utf8_lossy(&template("bk", &ENABLED).stdout));
    let rules = of_kind(&objects, "PrometheusRule");
    assert_eq!(rules.len(), 1);
    let rules = rules[0]["spec"]["groups"][0]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (store, seconds) in [("postgres", 7200), ("redis", 7200), ("minio", 43200)] {
        let stale = rules
            .iter()
            .find(|r| r["alert"] == "ScraperXBackupStale" && r["labels"]["component"] == store)
            .unwrap_or_else(|| panic!("no staleness alert for {store}"));
        let expr = stale["expr"].as_str().unwrap_or_default();
        assert!(expr.ends_with(&format!("> {seconds}")), "{store}: {expr}");
    }
    let failed = rules
        .iter()
        .find(|r| r["alert"] == "ScraperXBackupVerificationFailed")
        .expect("a failed-verification alert");
    assert_eq!(failed["expr"], "scraperx_operator_backup_verified == 0");

    // Every metric the rules name is one the operator renders once it has read a status.
    let metrics = Metrics::default();
    let now = chrono::Utc::now();
    for component in Component::ALL {
        let record = BackupRecord {
            component,
            started_at: now,
            finished_at: now,
            key: None,
            size_bytes: 1,
            sha256: None,
            verification: Verification {
                ok: true,
                detail: String::new(),
            },
            mirror: None,
        };
        metrics
            .backups
            .observe(component, &BackupStatus::next(None, record), now);
    }
    let served = metrics.render();
    for rule in &rules {
        let expr = rule["expr"].as_str().unwrap_or_default();
        let name = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .find(|w| w.starts_with("scraperx_"))
            .unwrap_or_else(|| panic!("no metric in {expr}"));
        assert!(
            served.contains(&format!("{name}{{component=")),
            "{name} is not served:\n{served}"
        );
    }

    // The WAL archiving fragment.
    let wal = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .expect("the WAL archiving ConfigMap");
    let conf = wal["data"]["wal-archiving.conf"]
        .as_str()
        .unwrap_or_default();
    for line in [
        "archive_mode = on",
        "archive_command = 'wal-g wal-push %p'",
        "archive_timeout = 60",
        "wal_level = replica",
    ] {
        assert!(conf.contains(line), "{line} missing:\n{conf}");
    }
}

#[test]
fn the_api_server_accepts_the_backup_objects_and_the_schema_refuses_wrong_values() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let ns = format!("chart-bk-{}", &id[..8]);
    let rendered = template(&ns, &ENABLED);
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    install_crds();
    let fixture = repo().join("operator/tests/fixtures/prometheusrule-crd.yaml");
    apply_crds(
        fixture.to_str().expect("path"),
        &["prometheusrules.monitoring.coreos.com"],
    );
    let applied = dry_run_apply_in_new_namespace(&ns, "bk", &rendered.stdout);
    let out = String::from_utf8_lossy(&applied.stdout);
    assert!(
        applied.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let objects = documents(&String::from_utf8_lossy(&rendered.stdout));
    assert_eq!(
        out.matches("(server dry run)").count(),
        objects.len(),
        "every object accepted:\n{out}"
    );

    for (value, field) in [
        ("backup.retentionDays=0", "backup.retentionDays"),
        (
            "backup.schedules.postgres=hourly",
            "backup.schedules.postgres",
        ),
        (
            "backup.prometheusRule.maxAgeHours.minio=0",
            "backup.prometheusRule.maxAgeHours.minio",
        ),
        ("backup.bucket=Backups_Bucket", "backup.bucket"),
        (
            "backup.walArchiving.archiveCommand=it's",
            "backup.walArchiving.archiveCommand",
        ),
    ] {
        let out = template("bk", &["--set", value]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{value} rendered");
        assert!(
            stderr.contains("schema") && stderr.contains(field),
            "{value}: {stderr}"
        );
    }
}
