//! The chart's PgBouncer (`pgbouncer.*` values) against the real API server of `e2e/`: a
//! ConfigMap with seed 001 §8.2's settings in transaction mode, a hardened Deployment and a
//! Service, all accepted by a server-side dry run with the worker Deployments the operator
//! builds; the API, the operator and the workers reach the database through it and keep the
//! direct URL for sessions; the migration Job stays direct; off by default; wrong values
//! refused. Needs `helm` (`SCRX_HELM`) and `KUBECONFIG`, both from `e2e/control-plane.sh env`.

mod support;

use serde_json::Value;
use support::{
    documents, dry_run_apply_in_new_namespace, helm, install_crds, named, repo, run,
    worker_deployments,
};

const ENABLED: [&str; 4] = [
    "--set",
    "pgbouncer.enabled=true",
    "--set",
    "connection.secretName=conn-x",
];

fn template(ns: &str, extra: &[&str]) -> std::process::Output {
    let chart = repo()
        .join("charts/scraperx")
        .to_string_lossy()
        .into_owned();
    let mut args = vec![
        "template",
        "pb",
        &chart,
        "--namespace",
        ns,
        "--kube-version",
        "1.36.0",
    ];
    args.extend_from_slice(extra);
    run(&helm(), &args, None)
}

fn rendered(ns: &str, extra: &[&str]) -> Vec<Value> {
    let out = template(ns, extra);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    documents(&String::from_utf8_lossy(&out.stdout))
}

/// Each environment entry's name and the secret key it reads.
fn database_env(env: &Value) -> Vec<(String, String)> {
    let mut found: Vec<_> = env
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let key = e["valueFrom"]["secretKeyRef"]["key"].as_str()?;
            let name = e["name"].as_str()?;
            name.contains("DATABASE")
                .then(|| (name.to_owned(), key.to_owned()))
        })
        .collect();
    found.sort();
    found
}

fn pooled() -> Vec<(String, String)> {
    vec![
        ("DATABASE_URL".into(), "PGBOUNCER_DATABASE_URL".into()),
        ("SCRX_DATABASE_DIRECT_URL".into(), "DATABASE_URL".into()),
    ]
}

#[test]
fn with_pgbouncer_every_component_but_migrations_goes_through_it_in_transaction_mode() {
    let objects = rendered("pb", &ENABLED);
    let config = named(&objects, "ConfigMap", "scraperx-pgbouncer");
    let ini = config["data"]["pgbouncer.ini"].as_str().expect("ini");
    for line in [
        "pool_mode = transaction",
        "max_client_conn = 1000",
        "default_pool_size = 50",
        "min_pool_size = 10",
        "reserve_pool_size = 10",
        "max_db_connections = 100",
        "query_timeout = 60",
        "auth_type = md5",
        "scraperx = host=postgres port=5432 dbname=scraperx",
    ] {
        assert!(ini.lines().any(|l| l == line), "{line} in\n{ini}");
    }
    let pod =
        named(&objects, "Deployment", "scraperx-pgbouncer")["spec"]["template"]["spec"].clone();
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    // The chart's own image (the Dockerfile's `pgbouncer` target), tagged like the others.
    let image = container["image"].as_str().expect("image");
    assert!(
        image.starts_with("ghcr.io/scraperx/scraperx-pgbouncer:"),
        "{image}"
    );
    assert_eq!(
        pod["volumes"][1]["secret"]["items"][0]["key"], "PGBOUNCER_USERLIST",
        "the auth_file is the Secret's key"
    );
    let service = named(&objects, "Service", "scraperx-pgbouncer");
    assert_eq!(service["spec"]["ports"][0]["port"], 6432);

    for name in ["scraperx-api", "scraperx-operator"] {
        let env = &named(&objects, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
            ["env"];
        assert_eq!(database_env(env), pooled(), "{name}");
    }
    let migrate = &named(&objects, "Job", "scraperx-migrate")["spec"]["template"]["spec"]["containers"]
        [0]["env"];
    assert_eq!(
        database_env(migrate),
        vec![("DATABASE_URL".into(), "DATABASE_URL".into())],
        "migrations connect directly"
    );
    for worker in worker_deployments(&objects, "pb") {
        let env = &worker["spec"]["template"]["spec"]["containers"][0]["env"];
        assert_eq!(
            database_env(env),
            pooled(),
            "the pool's entries replace the operator's"
        );
    }

    // Off by default: no PgBouncer, every component direct.
    let default = rendered("pb", &[]);
    assert!(!default.iter().any(|o| {
        o["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .contains("pgbouncer")
    }));
    let api = &named(&default, "Deployment", "scraperx-api")["spec"]["template"]["spec"]["containers"]
        [0]["env"];
    assert_eq!(
        database_env(api),
        vec![("DATABASE_URL".into(), "DATABASE_URL".into())]
    );
}

#[test]
fn the_api_server_accepts_the_pgbouncer_objects_and_the_schema_refuses_wrong_values() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let ns = format!("chart-pb-{}", &id[..8]);
    let out = template(&ns, &ENABLED);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let objects = documents(&String::from_utf8_lossy(&out.stdout));
    let workers = worker_deployments(&objects, &ns);
    let mut yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    for w in &workers {
        yaml.push_str(&format!(
            "\n---\n{}",
            serde_yaml::to_string(w).expect("yaml")
        ));
    }
    install_crds();
    let applied = dry_run_apply_in_new_namespace(&ns, "pb", yaml.as_bytes());
    let text = String::from_utf8_lossy(&applied.stdout);
    assert!(
        applied.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert_eq!(
        text.matches("(server dry run)").count(),
        objects.len() + workers.len(),
        "every object accepted:\n{text}"
    );

    for (value, field) in [
        ("pgbouncer.port=0", "pgbouncer.port"),
        ("pgbouncer.replicas=0", "pgbouncer.replicas"),
        (
            "pgbouncer.database.name=scraperx;drop",
            "pgbouncer.database.name",
        ),
        (
            "pgbouncer.pool.defaultPoolSize=0",
            "pgbouncer.pool.defaultPoolSize",
        ),
        ("pgbouncer.poolMode=session", "pgbouncer"),
    ] {
        let refused = template("pb", &["--set", value]);
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{value} should be refused");
        assert!(err.contains(field), "{value}: {err}");
    }
}
