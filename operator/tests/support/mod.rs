//! What the chart and CRD tests share: the repository's paths, `helm` and `kubectl` runs
//! against the API server of `e2e/` (`KUBECONFIG` and `SCRX_HELM` from
//! `e2e/control-plane.sh env`), and reading rendered manifests.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde::Deserialize;
use serde_json::Value;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

pub fn helm() -> String {
    std::env::var("SCRX_HELM").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/scraperx-e2e/bin/helm")
    })
}

pub fn run(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} (e2e/control-plane.sh up builds helm): {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write stdin");
    }
    child.wait_with_output().expect("wait")
}

/// Runs `program` and returns its output; panics, with what it printed, when it fails.
pub fn ok(program: &str, args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = run(program, args, stdin);
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Installs (or updates) the CRDs of `crds/scraperx.yaml` and waits until they are served.
pub fn install_crds() {
    let crds = repo().join("crds/scraperx.yaml");
    apply_crds(
        crds.to_str().expect("path"),
        &["scrapebatches", "scrapecrawls", "workerpools"],
    );
}

/// Applies a CRD file and waits for the named plurals (group scraperx.io unless dotted).
pub fn apply_crds(file: &str, names: &[&str]) {
    ok(
        "kubectl",
        &["apply", "--server-side", "--force-conflicts", "-f", file],
        None,
    );
    for name in names {
        let crd = if name.contains('.') {
            format!("crd/{name}")
        } else {
            format!("crd/{name}.scraperx.io")
        };
        ok(
            "kubectl",
            &["wait", "--for=condition=Established", "--timeout=30s", &crd],
            None,
        );
    }
}

/// A server-side dry run of creating `manifest` (JSON or YAML) in `namespace`: the API
/// server's answer, accepted (its output) or refused (its error).
pub fn dry_run_create(namespace: &str, manifest: &str) -> Result<String, String> {
    let out = run(
        "kubectl",
        &["create", "--dry-run=server", "-n", namespace, "-f", "-"],
        Some(manifest.as_bytes()),
    );
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(text(&out.stderr))
    }
}

/// Asks the API server until its answer is `want` (accepted or refused) or 20 seconds pass:
/// a CRD just applied takes a moment to be served with its new schema. The last answer.
pub fn dry_run_until(
    namespace: &str,
    manifest: &str,
    want_accepted: bool,
) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = dry_run_create(namespace, manifest);
        if answer.is_ok() == want_accepted || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Every object of a multi-document YAML stream (empty documents skipped).
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| Value::deserialize(doc).expect("a YAML document"))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The objects of `kind`.
pub fn of_kind<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

/// The object of `kind` whose `app.kubernetes.io/name` label is `name`.
pub fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["labels"]["app.kubernetes.io/name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The Deployments the operator builds for the rendered WorkerPools (as it would in `ns`).
pub fn worker_deployments(objects: &[Value], ns: &str) -> Vec<Value> {
    of_kind(objects, "WorkerPool")
        .into_iter()
        .map(|manifest| {
            let mut pool: scraperx_operator::crd::WorkerPool =
                serde_json::from_value(manifest.clone()).expect("a WorkerPool the types read");
            pool.metadata.namespace = Some(ns.into());
            pool.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
            let deployment =
                scraperx_operator::pool::deployment(&pool, 1, "").expect("the worker Deployment");
            serde_json::to_value(deployment).expect("json")
        })
        .collect()
}

/// A server-side dry run of applying `yaml` in a namespace made for it, then removed with
/// the release's cluster-wide RBAC: the API server's answer.
pub fn dry_run_apply_in_new_namespace(ns: &str, release: &str, yaml: &[u8]) -> Output {
    ok("kubectl", &["create", "namespace", ns], None);
    let applied = run(
        "kubectl",
        &["apply", "--dry-run=server", "-n", ns, "-f", "-"],
        Some(yaml),
    );
    let _ = run(
        "kubectl",
        &["delete", "namespace", ns, "--wait=false"],
        None,
    );
    let _ = run(
        "kubectl",
        &[
            "delete",
            "clusterrole,clusterrolebinding",
            &format!("{release}-scraperx-operator"),
            "--ignore-not-found",
        ],
        None,
    );
    applied
}
