//! The Helm chart (`charts/scraperx`, whose `crds` is a link to `crds/`) against the real
//! API server of `e2e/`: it lints, it
//! renders, every object it renders is accepted by the API server (server-side dry run, with
//! the chart's CRDs installed), and the operator's RBAC allows what the operator does.
//! Needs `helm` (`SCRX_HELM`) and `KUBECONFIG`, both from `e2e/control-plane.sh env`.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

fn helm() -> String {
    std::env::var("SCRX_HELM").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/scraperx-e2e/bin/helm")
    })
}

fn run(program: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
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

fn ok(program: &str, args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = run(program, args, stdin);
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_chart_renders_objects_the_api_server_accepts_and_rbac_the_operator_needs() {
    let chart = repo().join("charts/scraperx");
    let chart = chart.to_str().expect("utf-8 path");
    ok(&helm(), &["lint", "--strict", chart], None);

    let id = uuid::Uuid::new_v4().simple().to_string();
    let (release, ns) = (format!("c{}", &id[..8]), format!("chart-{}", &id[..8]));
    let template = |extra: &[&str]| {
        let mut args = vec![
            "template",
            &release,
            chart,
            "--namespace",
            &ns,
            "--kube-version",
            "1.36.0",
        ];
        args.extend_from_slice(extra);
        ok(&helm(), &args, None)
    };
    let rendered = template(&[]);
    for kind in [
        "kind: Deployment",
        "kind: Service",
        "kind: ServiceAccount",
        "kind: ClusterRole",
        "kind: ClusterRoleBinding",
        "kind: Job",
        "kind: WorkerPool",
    ] {
        assert!(rendered.contains(kind), "no {kind} rendered");
    }

    let crds = repo().join("charts/scraperx/crds/scraperx.yaml");
    ok(
        "kubectl",
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            crds.to_str().expect("path"),
        ],
        None,
    );
    ok("kubectl", &["create", "namespace", &ns], None);
    // Every object, validated and defaulted by the API server, nothing stored.
    let applied = ok(
        "kubectl",
        &["apply", "--dry-run=server", "-n", &ns, "-f", "-"],
        Some(rendered.as_bytes()),
    );
    let objects = rendered.matches("\nkind: ").count();
    assert_eq!(objects, 9, "the chart's objects");
    assert_eq!(
        applied.matches("(server dry run)").count(),
        objects,
        "every rendered object accepted:\n{applied}"
    );

    // The operator's identity and role, for real, then what it may do.
    let only_rbac = template(&["--show-only", "templates/operator.yaml"]);
    let rbac: String = only_rbac
        .split("\n---")
        .filter(|doc| !doc.contains("kind: Deployment"))
        .collect::<Vec<_>>()
        .join("\n---");
    ok(
        "kubectl",
        &["apply", "-n", &ns, "-f", "-"],
        Some(rbac.as_bytes()),
    );
    let operator = format!("system:serviceaccount:{ns}:{release}-scraperx-operator");
    for (verb, resource) in [
        ("watch", "scrapebatches.scraperx.io"),
        ("patch", "scrapebatches.scraperx.io/status"),
        ("update", "scrapebatches.scraperx.io/finalizers"),
        ("delete", "scrapebatches.scraperx.io"),
        ("patch", "workerpools.scraperx.io/status"),
        ("create", "deployments.apps"),
        ("patch", "deployments.apps"),
        ("get", "secrets"),
        ("get", "configmaps"),
        ("patch", "configmaps"),
        ("update", "leases.coordination.k8s.io"),
        ("create", "events.events.k8s.io"),
    ] {
        let answer = run(
            "kubectl",
            &[
                "auth", "can-i", verb, resource, "-n", &ns, "--as", &operator,
            ],
            None,
        );
        assert_eq!(
            String::from_utf8_lossy(&answer.stdout).trim(),
            "yes",
            "the operator may {verb} {resource}"
        );
    }
    let denied = run(
        "kubectl",
        &[
            "auth", "can-i", "delete", "secrets", "-n", &ns, "--as", &operator,
        ],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&denied.stdout).trim(), "no");

    let _ = run(
        "kubectl",
        &["delete", "namespace", &ns, "--wait=false"],
        None,
    );
    let _ = run(
        "kubectl",
        &[
            "delete",
            "clusterrole,clusterrolebinding",
            &format!("{release}-scraperx-operator"),
        ],
        None,
    );
}
