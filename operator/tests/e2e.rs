//! The operator against a real kube-apiserver (e2e/control-plane.sh), real Postgres (a fresh
//! database per test), Redis, MinIO, and the real worker. Each test has a namespace, a queue
//! namespace and controllers of its own (`cluster/`).

mod cluster;

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api,
    api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams},
};
use scraperx_core::{
    config::S3Config,
    content::{self, ContentStore},
    domain::Engine,
    queue::QueuedJob,
};
use scraperx_operator::{
    crd::{BatchPhase, ScrapeBatch, WorkerPool},
    maintenance::{self, Maintenance},
};
use serde_json::json;
use sqlx::PgPool;

use cluster::{Cluster, cluster};

impl Cluster {
    fn batches(&self) -> Api<ScrapeBatch> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn create_batch(
        &self,
        name: &str,
        spec: serde_json::Value,
    ) -> Result<ScrapeBatch, kube::Error> {
        let sb: ScrapeBatch = serde_json::from_value(json!({
            "apiVersion": "scraperx.io/v1alpha1", "kind": "ScrapeBatch",
            "metadata": { "name": name }, "spec": spec,
        }))
        .expect("manifest");
        self.batches().create(&PostParams::default(), &sb).await
    }

    /// Sends a manifest as is, so the API server (not serde) judges it.
    async fn create_raw(&self, name: &str, spec: serde_json::Value) -> Result<(), kube::Error> {
        let resource = kube::api::ApiResource::erase::<ScrapeBatch>(&());
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.ns, &resource);
        let obj: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "scraperx.io/v1alpha1", "kind": "ScrapeBatch",
            "metadata": { "name": name }, "spec": spec,
        }))
        .expect("object");
        api.create(&PostParams::default(), &obj).await.map(|_| ())
    }

    /// Polls the batch until `ok` holds (at most `within`).
    async fn wait_batch(
        &self,
        name: &str,
        within: Duration,
        ok: impl Fn(&ScrapeBatch) -> bool,
    ) -> ScrapeBatch {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(sb) = self.batches().get_opt(name).await.expect("get") {
                if ok(&sb) {
                    return sb;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "timed out: {:?}",
                    sb.status
                );
            } else {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "timed out: {name} missing"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn gone(&self, name: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.batches().get_opt(name).await.expect("get").is_some() {
            assert!(tokio::time::Instant::now() < deadline, "{name} still there");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn page_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/{n}",
        axum::routing::get(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "text/html")],
                "<title>p</title><p>ok</p>",
            )
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

fn phase(sb: &ScrapeBatch) -> Option<BatchPhase> {
    sb.status.as_ref().map(|s| s.phase)
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn the_api_server_refuses_a_bad_manifest(pool: PgPool) {
    let c = cluster(pool).await;
    let bad_priority = c
        .create_raw("bad", json!({ "urls": ["https://a.test/"], "organizationRef": { "name": "k" }, "priority": 11 }))
        .await
        .expect_err("refused");
    assert!(
        matches!(&bad_priority, kube::Error::Api(e) if e.code == 422),
        "{bad_priority:?}"
    );
    let no_org = c
        .create_raw("bad2", json!({ "urls": ["https://a.test/"] }))
        .await
        .expect_err("refused");
    assert!(
        matches!(&no_org, kube::Error::Api(e) if e.code == 422),
        "{no_org:?}"
    );
    let bad_engine = c
        .create_raw(
            "bad3",
            json!({ "urls": [], "organizationRef": { "name": "k" }, "engine": "warp" }),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(&bad_engine, kube::Error::Api(e) if e.code == 422),
        "{bad_engine:?}"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_batch_runs_to_success_without_duplicates_across_restarts_and_shows_progress(
    pool: PgPool,
) {
    let c = cluster(pool.clone()).await;
    let org = c.org_secret(100).await;
    let site = page_server().await;
    Api::<ConfigMap>::namespaced(c.client.clone(), &c.ns)
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("more-urls".into()),
                    ..ObjectMeta::default()
                },
                data: Some([("urls".to_owned(), format!("# more\n{site}/3\n\n{site}/4\n"))].into()),
                ..ConfigMap::default()
            },
        )
        .await
        .expect("configmap");
    let controllers = c.start();
    c.create_batch(
        "shop",
        json!({ "urls": [format!("{site}/1"), format!("{site}/2")],
                "urlsFrom": { "name": "more-urls", "key": "urls" },
                "organizationRef": { "name": "scraperx-key" }, "engine": "http", "suspend": true }),
    )
    .await
    .expect("create");
    let sb = c
        .wait_batch("shop", Duration::from_secs(20), |sb| {
            phase(sb) == Some(BatchPhase::Suspended)
        })
        .await;
    let status = sb.status.expect("status");
    assert_eq!((status.total, status.progress.as_str()), (4, "0/4"));
    let http = c.queues.for_engine(Engine::Http);
    assert_eq!(
        http.depth().await.expect("depth").total(),
        0,
        "suspended: nothing dispatched"
    );

    // An operator restart reconciles again: no job twice.
    controllers.abort();
    let controllers = c.start();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let jobs: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM scrape_jobs WHERE organization_id = $1")
            .bind(org)
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(jobs, 4);

    // Resume, and let a real worker run the jobs.
    c.batches()
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": { "suspend": false } })),
        )
        .await
        .expect("resume");
    let worker = scraperx_worker::Worker::new(
        scraperx_worker::WorkerConfig {
            allow_private_targets: true,
            queue_namespace: c.queue_ns.clone(),
            idle_poll: Duration::from_millis(20),
            ..scraperx_worker::WorkerConfig::default()
        },
        scraperx_worker::Services {
            db: c.db.clone(),
            redis: c.redis.clone(),
            content: ContentStore::new(&S3Config::from_env_for_role("WORKER").expect("s3")),
        },
    )
    .expect("worker");
    let (stop, rx) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(async move { worker.run(rx).await });
    let sb = c
        .wait_batch("shop", Duration::from_secs(30), |sb| {
            phase(sb) == Some(BatchPhase::Succeeded)
        })
        .await;
    let status = sb.status.expect("status");
    assert_eq!((status.succeeded, status.progress.as_str()), (4, "4/4"));
    assert!(status.completion_time.is_some() && status.batch_id.is_some());
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Complete" && c.status == "True")
    );
    let _ = stop.send(true);
    let _ = running.await;

    // What a platform operator sees.
    let out = std::process::Command::new("kubectl")
        .args(["get", "scrapebatches", "-n", &c.ns])
        .output()
        .expect("kubectl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("PHASE") && text.contains("PROGRESS"),
        "{text}"
    );
    assert!(
        text.contains("shop") && text.contains("Succeeded") && text.contains("4/4"),
        "{text}"
    );
    controllers.abort();
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn deleting_a_batch_cancels_its_outstanding_jobs_and_credits_are_enforced(pool: PgPool) {
    let c = cluster(pool.clone()).await;
    let org = c.org_secret(2).await;
    let controllers = c.start();
    let too_big = json!({ "urls": ["https://a.test/1", "https://a.test/2", "https://a.test/3"],
                          "organizationRef": { "name": "scraperx-key" }, "engine": "http" });
    c.create_batch("broke", too_big).await.expect("create");
    let sb = c
        .wait_batch("broke", Duration::from_secs(20), |sb| {
            sb.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.reason == "InsufficientCredits")
            })
        })
        .await;
    assert_eq!(phase(&sb), Some(BatchPhase::Pending));
    c.batches()
        .delete("broke", &DeleteParams::default())
        .await
        .expect("delete");
    c.gone("broke", Duration::from_secs(20)).await;

    c.create_batch("two", json!({ "urls": ["https://a.test/1", "https://a.test/2"],
                                    "organizationRef": { "name": "scraperx-key" }, "engine": "http" }))
        .await
        .expect("create");
    c.wait_batch("two", Duration::from_secs(20), |sb| {
        phase(sb) == Some(BatchPhase::Running)
    })
    .await;
    assert_eq!(
        c.queues
            .for_engine(Engine::Http)
            .depth()
            .await
            .expect("depth")
            .waiting,
        2
    );
    assert_eq!(c.db.credit_balance(org).await.expect("balance"), 0);
    c.batches()
        .delete("two", &DeleteParams::default())
        .await
        .expect("delete");
    c.gone("two", Duration::from_secs(20)).await;
    let canceled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM scrape_jobs WHERE organization_id = $1 AND status = 'canceled'",
    )
    .bind(org)
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(canceled, 2);
    assert_eq!(
        c.queues
            .for_engine(Engine::Http)
            .depth()
            .await
            .expect("depth")
            .total(),
        0
    );
    assert_eq!(
        c.db.credit_balance(org).await.expect("balance"),
        2,
        "refunded"
    );
    controllers.abort();
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_batch_past_its_deadline_fails_and_is_deleted_after_its_ttl(pool: PgPool) {
    let c = cluster(pool.clone()).await;
    let org = c.org_secret(10).await;
    let controllers = c.start();
    c.create_batch(
        "late",
        json!({ "urls": ["https://a.test/1", "https://a.test/2"], "organizationRef": { "name": "scraperx-key" },
                "engine": "http", "activeDeadlineSeconds": 1, "ttlSecondsAfterFinished": 3 }),
    )
    .await
    .expect("create");
    // Nothing runs the jobs: the deadline passes.
    let sb = c
        .wait_batch("late", Duration::from_secs(20), |sb| {
            phase(sb) == Some(BatchPhase::Failed)
        })
        .await;
    let status = sb.status.expect("status");
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Failed" && c.status == "True" && c.reason == "DeadlineExceeded")
    );
    assert_eq!((status.canceled, status.progress.as_str()), (2, "2/2"));
    assert_eq!(
        c.db.credit_balance(org).await.expect("balance"),
        10,
        "refunded"
    );
    c.gone("late", Duration::from_secs(20)).await;
    controllers.abort();
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_worker_pool_follows_its_queue_within_seconds_and_scales_to_zero(pool: PgPool) {
    let c = cluster(pool).await;
    let controllers = c.start();
    let deployments = c.http_pool(5, 2).await;
    let replicas = || async {
        deployments
            .get_opt("scraperx-worker-http")
            .await
            .expect("get")
            .and_then(|d| d.spec.and_then(|s| s.replicas))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while replicas().await != Some(0) {
        assert!(tokio::time::Instant::now() < deadline, "no deployment");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = deployments
        .get("scraperx-worker-http")
        .await
        .expect("deployment");
    let env = d
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| p.containers[0].env.clone().unwrap_or_default())
        .unwrap_or_default();
    assert!(
        env.iter()
            .any(|e| e.name == "SCRX_QUEUE_NAMESPACE"
                && e.value.as_deref() == Some(c.queue_ns.as_str())),
        "the workers read the queue the pool scales on: {env:?}"
    );
    let owner = &d.metadata.owner_references.expect("owned")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("WorkerPool", Some(true))
    );

    let http = c.queues.for_engine(Engine::Http);
    for _ in 0..7 {
        let id = scraperx_core::domain::JobId::new();
        http.enqueue(
            &id.to_string(),
            &QueuedJob { job_id: id }.to_payload(),
            5,
            Duration::ZERO,
        )
        .await
        .expect("enqueue");
    }
    let started = tokio::time::Instant::now();
    while replicas().await != Some(4) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "scaled to {:?}",
            replicas().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reacted = started.elapsed();
    assert!(
        reacted <= Duration::from_millis(2_500),
        "reacted in {reacted:?}"
    );
    // The status follows the Deployment within the same reconcile.
    let pools: Api<WorkerPool> = Api::namespaced(c.client.clone(), &c.ns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let status = pools
            .get("http")
            .await
            .expect("pool")
            .status
            .unwrap_or_default();
        if status.queue_depth == 7 && status.replicas == 4 {
            assert_eq!(status.desired_replicas, 4);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    while let Some(lease) = http
        .dequeue(Duration::from_secs(30))
        .await
        .expect("dequeue")
    {
        http.ack(&lease).await.expect("ack");
    }
    let started = tokio::time::Instant::now();
    while replicas().await != Some(0) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still {:?}",
            replicas().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    controllers.abort();
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn maintenance_runs_under_one_leader_and_reports_in_a_configmap(pool: PgPool) {
    let c = cluster(pool).await;
    assert!(
        maintenance::acquire(&c.client, &c.ns, "replica-a")
            .await
            .expect("a")
    );
    assert!(
        !maintenance::acquire(&c.client, &c.ns, "replica-b")
            .await
            .expect("b"),
        "one leader"
    );
    assert!(
        maintenance::acquire(&c.client, &c.ns, "replica-a")
            .await
            .expect("renew")
    );

    let admin = ContentStore::new(&S3Config::from_env_for_role("ADMIN").expect("s3"));
    content::ensure_buckets(admin.client())
        .await
        .expect("buckets");
    let m = Maintenance {
        db: c.db.clone(),
        redis: c.redis.clone(),
        store: admin,
        ttl: scraperx_core::hot::TtlConfig::default(),
    };
    let (stop, rx) = tokio::sync::watch::channel(false);
    let leader = tokio::spawn(maintenance::lead(
        m,
        c.client.clone(),
        c.ns.clone(),
        "replica-a".into(),
        rx,
    ));
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), &c.ns);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let data = loop {
        if let Some(cm) = cms
            .get_opt(maintenance::STATUS_CONFIGMAP)
            .await
            .expect("get")
            && let Some(d) = cm.data.filter(|d| d.len() == maintenance::TASKS.len())
        {
            break d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "maintenance did not report"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let _ = stop.send(true);
    let _ = leader.await;
    for (task, _) in maintenance::TASKS {
        let entry: serde_json::Value =
            serde_json::from_str(&data[&format!("{task}.json")]).expect("json");
        assert!(entry.get("error").is_none(), "{task}: {entry}");
        assert!(
            entry["lastRun"].is_string() && entry["nextRun"].is_string(),
            "{task}: {entry}"
        );
    }
    let partitions: serde_json::Value =
        serde_json::from_str(&data["partitions.json"]).expect("json");
    assert!(partitions["result"]["partitions"].is_array());
}
