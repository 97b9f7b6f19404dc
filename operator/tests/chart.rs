//! The Helm chart (`charts/scraperx`, whose `crds` is a link to `crds/`) against the real
//! API server of `e2e/`: it lints; its schema refuses wrong values before anything renders;
//! every object it renders, and the Deployment the operator builds for each of its
//! WorkerPools, is accepted by the API server (server-side dry run, with the chart's CRDs
//! installed, and a minimal ServiceMonitor CRD for the optional monitor); every pod runs as
//! non-root on a read-only root filesystem with only the connection keys its component reads;
//! and the operator's RBAC allows what the operator does.
//! Needs `helm` (`SCRX_HELM`) and `KUBECONFIG`, both from `e2e/control-plane.sh env`.

mod support;

use std::collections::BTreeSet;

use kube::CustomResourceExt;
use scraperx_core::config::s3_role_keys;
use scraperx_operator::crd::WorkerPool;
use serde_json::{Value, json};
use support::{
    apply_crds, documents, helm, install_crds, named, of_kind, ok, repo, run, worker_deployments,
};

/// One release of the chart in a namespace of its own, removed (with its cluster-wide RBAC)
/// when the test ends, passed or not.
struct Release {
    name: String,
    ns: String,
}

impl Release {
    fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            name: format!("c{}", &id[..8]),
            ns: format!("chart-{}", &id[..8]),
        }
    }

    fn args<'a>(&'a self, chart: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "template",
            &self.name,
            chart,
            "--namespace",
            &self.ns,
            "--kube-version",
            "1.36.0",
        ];
        args.extend_from_slice(extra);
        args
    }

    fn template(&self, extra: &[&str]) -> String {
        let chart = chart();
        ok(&helm(), &self.args(&chart, extra), None)
    }

    /// Creates the namespace, for dry runs and RBAC checks.
    fn create_namespace(&self) {
        ok("kubectl", &["create", "namespace", &self.ns], None);
    }

    /// A server-side dry run of applying `yaml` in the namespace: how many objects the API
    /// server accepted (a refusal fails the test, with the server's reason).
    fn accepted(&self, yaml: &str) -> usize {
        let applied = ok(
            "kubectl",
            &["apply", "--dry-run=server", "-n", &self.ns, "-f", "-"],
            Some(yaml.as_bytes()),
        );
        applied.matches("(server dry run)").count()
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = run(
            "kubectl",
            &[
                "delete",
                "namespace",
                &self.ns,
                "--wait=false",
                "--ignore-not-found",
            ],
            None,
        );
        let _ = run(
            "kubectl",
            &[
                "delete",
                "clusterrole,clusterrolebinding",
                &format!("{}-scraperx-operator", self.name),
                "--ignore-not-found",
            ],
            None,
        );
    }
}

fn chart() -> String {
    repo()
        .join("charts/scraperx")
        .to_str()
        .expect("utf-8 path")
        .to_owned()
}

fn to_yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|o| format!("---\n{}", serde_yaml::to_string(o).expect("yaml")))
        .collect()
}

#[test]
fn the_chart_renders_objects_the_api_server_accepts_and_rbac_the_operator_needs() {
    let chart = chart();
    ok(&helm(), &["lint", "--strict", &chart], None);
    let release = Release::new();
    let rendered = release.template(&[]);
    let objects = documents(&rendered);
    let kinds: BTreeSet<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    let expected = [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Job",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
        "WorkerPool",
    ];
    assert_eq!(kinds, BTreeSet::from(expected), "the chart's kinds");
    assert_eq!(objects.len(), 11, "the chart's objects");

    install_crds();
    release.create_namespace();
    // Every object, validated and defaulted by the API server, nothing stored.
    assert_eq!(
        release.accepted(&rendered),
        objects.len(),
        "every rendered object accepted"
    );
    let workers = worker_deployments(&objects, &release.ns);
    assert_eq!(workers.len(), 2, "a Deployment per WorkerPool");
    assert_eq!(
        release.accepted(&to_yaml(&workers)),
        workers.len(),
        "the operator's worker Deployments accepted"
    );

    assert_operator_rbac(&release);
}

/// The operator's identity and role, applied for real, allow what the operator does and no
/// more than it needs.
fn assert_operator_rbac(release: &Release) {
    let rbac: Vec<Value> =
        documents(&release.template(&["--show-only", "templates/operator.yaml"]))
            .into_iter()
            .filter(|o| {
                matches!(
                    o["kind"].as_str(),
                    Some("ServiceAccount" | "ClusterRole" | "ClusterRoleBinding")
                )
            })
            .collect();
    assert_eq!(rbac.len(), 3);
    ok(
        "kubectl",
        &["apply", "-n", &release.ns, "-f", "-"],
        Some(to_yaml(&rbac).as_bytes()),
    );
    let operator = format!(
        "system:serviceaccount:{}:{}-scraperx-operator",
        release.ns, release.name
    );
    let can = |verb: &str, resource: &str| {
        let answer = run(
            "kubectl",
            &[
                "auth",
                "can-i",
                verb,
                resource,
                "-n",
                &release.ns,
                "--as",
                &operator,
            ],
            None,
        );
        String::from_utf8_lossy(&answer.stdout).trim() == "yes"
    };
    for (verb, resource) in [
        ("watch", "scrapebatches.scraperx.io"),
        ("patch", "scrapebatches.scraperx.io/status"),
        ("update", "scrapebatches.scraperx.io/finalizers"),
        ("delete", "scrapebatches.scraperx.io"),
        ("watch", "scrapecrawls.scraperx.io"),
        ("patch", "scrapecrawls.scraperx.io/status"),
        ("update", "scrapecrawls.scraperx.io/finalizers"),
        ("delete", "scrapecrawls.scraperx.io"),
        ("patch", "workerpools.scraperx.io/status"),
        ("create", "deployments.apps"),
        ("patch", "deployments.apps"),
        ("get", "secrets"),
        ("get", "configmaps"),
        ("patch", "configmaps"),
        ("update", "leases.coordination.k8s.io"),
        ("create", "events.events.k8s.io"),
    ] {
        assert!(can(verb, resource), "the operator may {verb} {resource}");
    }
    assert!(
        !can("delete", "secrets"),
        "the operator may not delete secrets"
    );
}

/// The connection Secret's keys a pod's environment reads, and from which Secrets.
fn secret_refs(pod: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut keys = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    for container in pod["containers"].as_array().expect("containers") {
        assert!(
            container.get("envFrom").is_none(),
            "no container reads a whole Secret: {container}"
        );
        for env in container["env"].as_array().into_iter().flatten() {
            let r = &env["valueFrom"]["secretKeyRef"];
            if let (Some(name), Some(key)) = (r["name"].as_str(), r["key"].as_str()) {
                secrets.insert(name.to_owned());
                keys.insert(key.to_owned());
            }
        }
    }
    (keys, secrets)
}

fn keys(plain: &[&str], role: Option<&str>) -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = plain.iter().map(|k| (*k).to_owned()).collect();
    keys.extend(role.into_iter().flat_map(s3_role_keys));
    keys
}

/// Non-root with a fixed user, RuntimeDefault seccomp, and per container: no escalation, no
/// capabilities, a read-only root filesystem.
fn assert_hardened(component: &str, pod: &Value) {
    let pod_security = &pod["securityContext"];
    assert_eq!(pod_security["runAsNonRoot"], true, "{component}: {pod}");
    assert_eq!(pod_security["runAsUser"], 10001, "{component}");
    assert_eq!(pod_security["runAsGroup"], 10001, "{component}");
    assert_eq!(
        pod_security["seccompProfile"]["type"], "RuntimeDefault",
        "{component}"
    );
    for container in pod["containers"].as_array().expect("containers") {
        let security = &container["securityContext"];
        assert_eq!(security["allowPrivilegeEscalation"], false, "{component}");
        assert_eq!(security["readOnlyRootFilesystem"], true, "{component}");
        assert_eq!(
            security["capabilities"]["drop"],
            json!(["ALL"]),
            "{component}"
        );
    }
}

#[test]
fn every_pod_runs_as_non_root_read_only_with_only_the_connection_keys_it_reads() {
    let release = Release::new();
    let objects = documents(&release.template(&["--set", "connection.secretName=conn-x"]));
    let pod =
        |kind: &str, name: &str| named(&objects, kind, name)["spec"]["template"]["spec"].clone();
    let workers = worker_deployments(&objects, &release.ns);
    // SCRX_REDIS_CLUSTER is optional: only where Redis is a cluster.
    let common = [
        "DATABASE_URL",
        "REDIS_URL",
        "SCRX_REDIS_CLUSTER",
        "S3_ENDPOINT",
    ];
    let pods = [
        (
            "api",
            pod("Deployment", "scraperx-api"),
            // The secrets key seals webhook secrets; the metrics token guards /metrics.
            keys(
                &[&common[..], &["SCRX_SECRETS_KEY", "SCRX_METRICS_TOKEN"]].concat(),
                Some("API"),
            ),
        ),
        (
            "operator",
            pod("Deployment", "scraperx-operator"),
            keys(&common, Some("ADMIN")),
        ),
        (
            "migrate",
            pod("Job", "scraperx-migrate"),
            keys(&["DATABASE_URL", "S3_ENDPOINT"], Some("ADMIN")),
        ),
        (
            "worker",
            workers[0]["spec"]["template"]["spec"].clone(),
            keys(
                &[&common[..], &["SCRX_SECRETS_KEY"]].concat(),
                Some("WORKER"),
            ),
        ),
    ];
    for (component, spec, expected) in &pods {
        assert_hardened(component, spec);
        let (keys, secrets) = secret_refs(spec);
        assert_eq!(&keys, expected, "{component} reads exactly its own keys");
        assert_eq!(
            secrets,
            BTreeSet::from(["conn-x".to_owned()]),
            "{component}"
        );
        // Only the operator calls the Kubernetes API.
        let token = spec["automountServiceAccountToken"].as_bool();
        assert_eq!(
            token,
            (*component != "operator").then_some(false),
            "{component}"
        );
    }
    let (api_keys, _) = secret_refs(&pods[0].1);
    assert!(
        api_keys
            .iter()
            .all(|k| !k.starts_with("S3_ADMIN_") && !k.starts_with("S3_WORKER_")),
        "the API never sees the admin's or the workers' keys: {api_keys:?}"
    );
    // The workers write to /tmp only, an emptyDir that is also Chromium's home.
    let worker = &pods[3].1;
    assert_eq!(
        worker["containers"][0]["volumeMounts"][0]["mountPath"],
        "/tmp"
    );
    assert!(worker["volumes"][0]["emptyDir"].is_object(), "{worker}");

    // The API's disruption budget covers its pods, and can be switched off.
    let pdb = named(&objects, "PodDisruptionBudget", "scraperx-api");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    let api = named(&objects, "Deployment", "scraperx-api");
    assert!(
        selects(
            &pdb["spec"]["selector"],
            &api["spec"]["template"]["metadata"]["labels"]
        ),
        "the budget selects the API's pods"
    );
    let without = documents(&release.template(&["--set", "api.podDisruptionBudget.enabled=false"]));
    assert!(of_kind(&without, "PodDisruptionBudget").is_empty());
}

/// Whether `selector`'s matchLabels all hold in `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector["matchLabels"]
        .as_object()
        .expect("matchLabels")
        .iter()
        .all(|(k, v)| &labels[k] == v)
}

#[test]
fn the_optional_service_monitor_and_network_policy_render_and_the_api_server_accepts_them() {
    let release = Release::new();
    let backend = r#"[{"name":"postgres","ports":[{"port":5432}],"to":[{"ipBlock":{"cidr":"10.0.12.7/32"}}]}]"#;
    let rendered = release.template(&[
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "networkPolicy.enabled=true",
        "--set-json",
        &format!("networkPolicy.backends={backend}"),
    ]);
    let objects = documents(&rendered);

    let monitor = of_kind(&objects, "ServiceMonitor");
    assert_eq!(monitor.len(), 1, "one ServiceMonitor");
    let spec = &monitor[0]["spec"];
    for name in ["scraperx-api", "scraperx-operator"] {
        let service = named(&objects, "Service", name);
        assert!(
            selects(&spec["selector"], &service["metadata"]["labels"]),
            "the monitor selects {name}'s Service"
        );
        assert!(
            spec["selector"]["matchExpressions"][0]["values"]
                .as_array()
                .expect("names")
                .contains(&json!(name))
        );
        let ports = service["spec"]["ports"].as_array().expect("ports");
        assert!(
            ports
                .iter()
                .any(|p| p["name"] == spec["endpoints"][0]["port"])
        );
    }
    assert_eq!(spec["endpoints"][0]["path"], "/metrics");

    let policy = of_kind(&objects, "NetworkPolicy");
    assert_eq!(policy.len(), 1, "one NetworkPolicy");
    let spec = &policy[0]["spec"];
    let worker = &worker_deployments(&objects, &release.ns)[0];
    assert!(
        selects(
            &spec["podSelector"],
            &worker["spec"]["template"]["metadata"]["labels"]
        ),
        "the policy selects the operator's worker pods"
    );
    assert_eq!(spec["policyTypes"], json!(["Egress"]));
    let egress = spec["egress"].as_array().expect("egress");
    let internet = &egress[0]["to"];
    assert_eq!(internet[0]["ipBlock"]["cidr"], "0.0.0.0/0");
    for private in [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
    ] {
        let except = internet[0]["ipBlock"]["except"].as_array().expect("except");
        assert!(
            except.contains(&json!(private)),
            "{private} is not reachable"
        );
    }
    assert_eq!(internet[1]["ipBlock"]["cidr"], "::/0");
    let except6 = internet[1]["ipBlock"]["except"].as_array().expect("except");
    assert!(except6.contains(&json!("fc00::/7")) && except6.contains(&json!("fe80::/10")));
    assert!(
        egress.iter().any(|rule| rule["ports"]
            .as_array()
            .is_some_and(|ports| ports.contains(&json!({ "port": 53, "protocol": "UDP" })))),
        "DNS is reachable"
    );
    assert!(
        egress
            .iter()
            .any(|rule| rule["to"][0]["ipBlock"]["cidr"] == "10.0.12.7/32"
                && rule["ports"] == json!([{ "port": 5432 }])),
        "the listed backend is reachable"
    );

    install_crds();
    let fixture = repo().join("operator/tests/fixtures/servicemonitor-crd.yaml");
    apply_crds(
        fixture.to_str().expect("path"),
        &["servicemonitors.monitoring.coreos.com"],
    );
    release.create_namespace();
    assert_eq!(
        objects.len(),
        13,
        "the default objects, a ServiceMonitor and a NetworkPolicy"
    );
    assert_eq!(
        release.accepted(&rendered),
        objects.len(),
        "every rendered object accepted"
    );
}

#[test]
fn values_of_the_wrong_type_or_out_of_range_are_refused_before_anything_renders() {
    let chart = chart();
    let release = Release::new();
    let pool = |engine: &str| {
        format!(
            r#"workerPools=[{{"name":"x","engine":"{engine}","minReplicas":0,"maxReplicas":1,"targetJobsPerReplica":1}}]"#
        )
    };
    let (good_pool, bad_pool) = (pool("http"), pool("warp"));
    let empty_peers = r#"networkPolicy.backends=[{"name":"pg","ports":[{"port":5432}],"to":[]}]"#;
    // The good value renders, so each refusal below is its value's.
    ok(
        &helm(),
        &release.args(&chart, &["--set-json", &good_pool]),
        None,
    );
    for (flag, value, field) in [
        ("--set", "api.replicas=two", "api.replicas"),
        ("--set-json", bad_pool.as_str(), "workerPools.0.engine"),
        ("--set", "podSecurity.runAsUser=0", "podSecurity.runAsUser"),
        ("--set-json", empty_peers, "networkPolicy.backends.0.to"),
        (
            "--set",
            "api.podDisruptionBudget.maxUnavailable=lots",
            "api.podDisruptionBudget.maxUnavailable",
        ),
        ("--set", "apiReplicas=3", "apiReplicas"),
        ("--set", "api.trustedProxyHops=-1", "api.trustedProxyHops"),
    ] {
        let out = run(&helm(), &release.args(&chart, &[flag, value]), None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{value} rendered");
        assert!(
            stderr.contains("schema") && stderr.contains(field),
            "{value}: the refusal names {field}:\n{stderr}"
        );
    }
    let lint = run(
        &helm(),
        &["lint", &chart, "--set", "api.replicas=two"],
        None,
    );
    assert!(!lint.status.success(), "helm lint refuses a wrong type");
}

#[test]
fn the_charts_limits_on_a_worker_pool_are_the_crds() {
    let text = std::fs::read_to_string(repo().join("charts/scraperx/values.schema.json"))
        .expect("values.schema.json");
    let schema: Value = serde_json::from_str(&text).expect("json");
    let definitions = &schema["definitions"];
    let chart = &definitions["workerPool"]["properties"];
    let crd = serde_json::to_value(WorkerPool::crd()).expect("crd");
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    let bounds = |s: &Value| (s["minimum"].as_f64(), s["maximum"].as_f64());
    for field in [
        "minReplicas",
        "maxReplicas",
        "targetJobsPerReplica",
        "drainGracePeriodSeconds",
    ] {
        assert_eq!(bounds(&chart[field]), bounds(&spec[field]), "{field}");
    }
    assert_eq!(chart["engine"]["enum"], spec["engine"]["enum"]);
    let contexts = "contextsPerWorker";
    assert_eq!(
        bounds(&chart["browser"]["properties"][contexts]),
        bounds(&spec["browser"]["properties"][contexts])
    );
    for field in ["stabilizationWindowSeconds", "maxStep"] {
        assert_eq!(
            bounds(&definitions["scaling"]["properties"][field]),
            bounds(&spec["scaleUp"]["properties"][field]),
            "{field}"
        );
    }
    assert_eq!(
        bounds(&schema["properties"]["podSecurity"]["properties"]["runAsUser"]),
        bounds(&spec["runAsUser"])
    );
}

#[test]
fn the_api_s_edge_settings_come_from_the_values() {
    let release = Release::new();
    let objects = documents(&release.template(&[
        "--set",
        "api.trustedProxyHops=2",
        "--set",
        "api.authFailuresPerMinute=7",
    ]));
    let api = named(&objects, "Deployment", "scraperx-api");
    let env = api["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let value = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
    };
    assert_eq!(value("SCRX_TRUSTED_PROXY_HOPS"), Some(json!("2")));
    assert_eq!(value("SCRX_AUTH_FAILURES_PER_MINUTE"), Some(json!("7")));
}
