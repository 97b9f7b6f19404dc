//! Scenario tests of the controllers (ScrapeBatch, ScrapeCrawl, WorkerPool) against a fake API server (`fake_api/`), with the
//! real Postgres (a fresh database per test) and Redis behind them: which writes a
//! reconcile makes to the cluster (the finalizer, the status, Events, the Deployment), and
//! that a reconcile which changes nothing writes nothing.

mod fake_api;

use std::{sync::Arc, time::Duration};

use axum::http::Method;
use base64::Engine as _;
use fake_api::{FakeApi, Write};
use scraperx_core::{
    config::RedisConfig,
    dispatch::QueueSet,
    domain::{Engine, JobStatus, Plan},
    hot,
    pg::{Db, NewApiKey, NewOrganization},
    queue::QueuedJob,
};
use scraperx_operator::{
    Context, batch, crawl,
    crd::{ScrapeBatch, ScrapeCrawl, WorkerPool},
    metrics::Metrics,
    pool,
};
use serde_json::{Value, json};
use sqlx::PgPool;

const NS: &str = "ns";
const BATCHES: &str = "/apis/scraperx.io/v1alpha1/namespaces/ns/scrapebatches";
const CRAWLS: &str = "/apis/scraperx.io/v1alpha1/namespaces/ns/scrapecrawls";
const POOLS: &str = "/apis/scraperx.io/v1alpha1/namespaces/ns/workerpools";

struct Harness {
    api: FakeApi,
    ctx: Arc<Context>,
    db: Db,
    queues: QueueSet,
}

async fn harness(pool: PgPool) -> Harness {
    let api = FakeApi::default();
    let redis = hot::connect(&RedisConfig::from_env().expect("redis config"))
        .await
        .expect("redis");
    let queues = QueueSet::new(redis, &format!("ctl-{}-", uuid::Uuid::new_v4().simple()));
    let db = Db::from_pool(pool);
    let ctx = Context::new(
        api.client(),
        db.clone(),
        queues.clone(),
        Arc::new(Metrics::default()),
    );
    Harness {
        api,
        ctx,
        db,
        queues,
    }
}

impl Harness {
    /// An organization and the Secret holding its key, at `ns/scraperx-key`.
    async fn org_secret(&self) -> scraperx_core::domain::OrgId {
        let slug = format!("o-{}", uuid::Uuid::new_v4().simple());
        let mut new = NewOrganization::new("ctl", &slug, "c@ctl.test");
        new.credits_balance = 1_000;
        new.plan = Plan::Growth;
        let org = self.db.create_organization(&new).await.expect("org");
        let (_, key) = self
            .db
            .create_api_key(org.id, &NewApiKey::named("operator"))
            .await
            .expect("key");
        let encoded = base64::engine::general_purpose::STANDARD.encode(key.expose());
        self.api.put(
            "/api/v1/namespaces/ns/secrets/scraperx-key",
            json!({ "apiVersion": "v1", "kind": "Secret",
                    "metadata": { "name": "scraperx-key", "namespace": NS },
                    "data": { "apiKey": encoded } }),
        );
        org.id
    }

    /// The batch as the API server holds it now.
    fn stored_batch(&self, name: &str) -> ScrapeBatch {
        serde_json::from_value(self.api.get(&format!("{BATCHES}/{name}")).expect("stored"))
            .expect("a batch")
    }

    async fn reconcile_batch(&self, sb: ScrapeBatch) -> Vec<Write> {
        self.api.put(
            &format!("{BATCHES}/{}", sb.metadata.name.clone().unwrap_or_default()),
            serde_json::to_value(&sb).expect("json"),
        );
        self.api.take_writes();
        batch::reconcile(Arc::new(sb), self.ctx.clone())
            .await
            .expect("reconcile");
        self.api.take_writes()
    }
}

fn scrape_batch(name: &str, finalized: bool, extra: Value) -> ScrapeBatch {
    let mut sb = json!({
        "apiVersion": "scraperx.io/v1alpha1", "kind": "ScrapeBatch",
        "metadata": { "name": name, "namespace": NS, "generation": 1,
                      "uid": uuid::Uuid::new_v4().to_string() },
        "spec": { "urls": ["https://example.com/a", "https://example.com/b", "https://example.com/c"],
                  "organizationRef": { "name": "scraperx-key", "key": "apiKey" } },
    });
    if finalized {
        sb["metadata"]["finalizers"] = json!([batch::FINALIZER]);
    }
    if let (Some(meta), Some(e)) = (sb["metadata"].as_object_mut(), extra.as_object()) {
        meta.extend(e.clone());
    }
    serde_json::from_value(sb).expect("a batch")
}

fn events(writes: &[Write]) -> Vec<String> {
    writes
        .iter()
        .filter(|w| w.path.ends_with("/events") || w.path.contains("/events/"))
        .filter_map(|w| w.body["reason"].as_str().map(str::to_owned))
        .collect()
}

fn status_patches(writes: &[Write]) -> Vec<&Write> {
    writes
        .iter()
        .filter(|w| w.is(&Method::PATCH, "/status"))
        .collect()
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_new_batch_only_gets_its_finalizer(pool: PgPool) {
    let h = harness(pool).await;
    h.org_secret().await;
    let writes = h.reconcile_batch(scrape_batch("b", false, json!({}))).await;
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(writes[0].is(&Method::PATCH, &format!("{BATCHES}/b")));
    assert_eq!(
        h.stored_batch("b").metadata.finalizers,
        Some(vec![batch::FINALIZER.to_owned()])
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_finalized_batch_creates_and_queues_its_jobs_records_events_and_patches_its_status(
    pool: PgPool,
) {
    let h = harness(pool).await;
    let org = h.org_secret().await;
    let sb = scrape_batch("b", true, json!({}));
    let id = batch::batch_id(&sb).expect("id");
    let writes = h.reconcile_batch(sb).await;
    // Created queued, in one statement: nothing is left to dispatch.
    assert_eq!(events(&writes), ["JobsCreated"]);
    let patches = status_patches(&writes);
    assert_eq!(patches.len(), 1, "{writes:?}");
    let status = &patches[0].body["status"];
    assert_eq!(
        (status["phase"].as_str(), status["total"].as_i64()),
        (Some("Running"), Some(3))
    );
    let counts = h.db.batch_counts(org, id).await.expect("counts");
    assert_eq!((counts.total, counts.queued), (3, 3));
    let depth = h
        .queues
        .for_engine(Engine::Auto)
        .depth()
        .await
        .expect("depth");
    assert_eq!(depth.total(), 3, "on the queue too");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_reconcile_that_changes_nothing_writes_nothing(pool: PgPool) {
    let h = harness(pool).await;
    h.org_secret().await;
    h.reconcile_batch(scrape_batch("b", true, json!({}))).await;
    let again = h.reconcile_batch(h.stored_batch("b")).await;
    assert!(again.is_empty(), "wrote {again:?}");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_batch_without_its_secret_is_pending_and_warned_about_once(pool: PgPool) {
    let h = harness(pool).await;
    let writes = h.reconcile_batch(scrape_batch("b", true, json!({}))).await;
    assert_eq!(events(&writes), ["OrganizationUnavailable"]);
    let patches = status_patches(&writes);
    assert_eq!(patches[0].body["status"]["phase"], "Pending");
    let again = h.reconcile_batch(h.stored_batch("b")).await;
    assert!(again.is_empty(), "wrote {again:?}");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn deleting_a_batch_cancels_its_jobs_records_it_and_releases_the_finalizer(pool: PgPool) {
    let h = harness(pool).await;
    let org = h.org_secret().await;
    let sb = scrape_batch("b", true, json!({}));
    let id = batch::batch_id(&sb).expect("id");
    h.reconcile_batch(sb).await;
    let mut deleted = h.stored_batch("b");
    deleted.metadata.deletion_timestamp = Some(scraperx_operator::status::now());
    let writes = h.reconcile_batch(deleted).await;
    assert_eq!(events(&writes), ["Deleted"]);
    assert!(
        writes
            .iter()
            .any(|w| w.is(&Method::PATCH, &format!("{BATCHES}/b")))
    );
    assert_eq!(
        h.stored_batch("b").metadata.finalizers.unwrap_or_default(),
        Vec::<String>::new()
    );
    let jobs =
        h.db.batch_jobs_with_status(org, id, &[JobStatus::Canceled])
            .await
            .expect("jobs");
    assert_eq!(jobs.len(), 3);
}

fn worker_pool(min: u32) -> WorkerPool {
    serde_json::from_value(json!({
        "apiVersion": "scraperx.io/v1alpha1", "kind": "WorkerPool",
        "metadata": { "name": "http", "namespace": NS, "generation": 1,
                      "uid": uuid::Uuid::new_v4().to_string() },
        "spec": { "engine": "http", "minReplicas": min, "maxReplicas": 5,
                  "targetJobsPerReplica": 2, "image": "scraperx-worker:test" },
    }))
    .expect("a pool")
}

impl Harness {
    async fn reconcile_pool(&self, pool: WorkerPool) -> Vec<Write> {
        self.api.put(
            &format!("{POOLS}/http"),
            serde_json::to_value(&pool).expect("json"),
        );
        self.api.take_writes();
        pool::reconcile(Arc::new(pool), self.ctx.clone())
            .await
            .expect("reconcile");
        self.api.take_writes()
    }

    fn stored_pool(&self) -> WorkerPool {
        serde_json::from_value(self.api.get(&format!("{POOLS}/http")).expect("stored"))
            .expect("a pool")
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_pool_gets_its_deployment_and_status_and_then_nothing_while_the_queue_is_still(
    pool: PgPool,
) {
    let h = harness(pool).await;
    let writes = h.reconcile_pool(worker_pool(1)).await;
    let deployment = "/apis/apps/v1/namespaces/ns/deployments/";
    assert!(
        writes
            .iter()
            .any(|w| w.method == Method::PATCH && w.path.contains(deployment))
    );
    assert_eq!(status_patches(&writes).len(), 1, "{writes:?}");
    assert!(events(&writes).is_empty(), "no scaling yet");
    let again = h.reconcile_pool(h.stored_pool()).await;
    assert!(again.is_empty(), "wrote {again:?}");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_deeper_queue_scales_the_pool_up_with_an_event(pool: PgPool) {
    let h = harness(pool).await;
    h.reconcile_pool(worker_pool(0)).await;
    let http = h.queues.for_engine(Engine::Http);
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
    let writes = h.reconcile_pool(h.stored_pool()).await;
    assert_eq!(events(&writes), ["ScaledUp"]);
    let applied = writes
        .iter()
        .find(|w| w.method == Method::PATCH && w.path.contains("/deployments/"))
        .expect("the deployment rescaled");
    assert_eq!(applied.body["spec"]["replicas"], 4);
    assert_eq!(h.stored_pool().status.map(|s| s.replicas), Some(4));
}

fn scrape_crawl(uid: &str, extra_spec: Value) -> ScrapeCrawl {
    let mut sc = json!({
        "apiVersion": "scraperx.io/v1alpha1", "kind": "ScrapeCrawl",
        "metadata": { "name": "c", "namespace": NS, "generation": 1, "uid": uid,
                      "finalizers": [crawl::FINALIZER] },
        "spec": { "url": "https://example.com/", "crawl": { "limit": 5 }, "engine": "http",
                  "organizationRef": { "name": "scraperx-key", "key": "apiKey" } },
    });
    if let (Some(spec), Some(e)) = (sc["spec"].as_object_mut(), extra_spec.as_object()) {
        spec.extend(e.clone());
    }
    serde_json::from_value(sc).expect("a crawl")
}

impl Harness {
    async fn reconcile_crawl(&self, sc: ScrapeCrawl) -> Vec<Write> {
        self.api.put(
            &format!("{CRAWLS}/c"),
            serde_json::to_value(&sc).expect("json"),
        );
        self.api.take_writes();
        crawl::reconcile(Arc::new(sc), self.ctx.clone())
            .await
            .expect("reconcile");
        self.api.take_writes()
    }

    fn stored_crawl(&self) -> ScrapeCrawl {
        serde_json::from_value(self.api.get(&format!("{CRAWLS}/c")).expect("stored"))
            .expect("a crawl")
    }

    async fn crawl_rows(&self, org: scraperx_core::domain::OrgId) -> Vec<scraperx_core::pg::Crawl> {
        self.db.list_crawls(org, None, 10).await.expect("crawls")
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_new_crawl_only_gets_its_finalizer(pool: PgPool) {
    let h = harness(pool).await;
    let org = h.org_secret().await;
    let mut sc = scrape_crawl(&uuid::Uuid::new_v4().to_string(), json!({}));
    sc.metadata.finalizers = None;
    let writes = h.reconcile_crawl(sc).await;
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert!(writes[0].is(&Method::PATCH, &format!("{CRAWLS}/c")));
    assert_eq!(
        h.stored_crawl().metadata.finalizers,
        Some(vec![crawl::FINALIZER.to_owned()])
    );
    assert!(
        h.crawl_rows(org).await.is_empty(),
        "no crawl before the finalizer"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_finalized_crawl_is_created_once_its_start_page_queued_and_its_status_patched(
    pool: PgPool,
) {
    let h = harness(pool).await;
    let org = h.org_secret().await;
    let uid = uuid::Uuid::new_v4().to_string();
    let sc = scrape_crawl(&uid, json!({}));
    let id = crawl::crawl_id(&sc).expect("id");
    let writes = h.reconcile_crawl(sc).await;
    assert_eq!(events(&writes), ["CrawlCreated"]);
    let patches = status_patches(&writes);
    assert_eq!(patches.len(), 1, "{writes:?}");
    let status = &patches[0].body["status"];
    assert_eq!(status["phase"], "Running");
    assert_eq!(
        (status["discovered"].as_i64(), status["queued"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(status["crawlId"], id.to_string());
    let rows = h.crawl_rows(org).await;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].id, rows[0].options.0.limit), (id, 5));
    let depth = h
        .queues
        .for_engine(Engine::Http)
        .depth()
        .await
        .expect("depth");
    assert_eq!(depth.total(), 1, "the start page is on its queue");

    // Nothing changed: nothing written. The same resource seen afresh (a restarted
    // operator, no status yet) finds its crawl instead of creating a second.
    let again = h.reconcile_crawl(h.stored_crawl()).await;
    assert!(again.is_empty(), "wrote {again:?}");
    let writes = h.reconcile_crawl(scrape_crawl(&uid, json!({}))).await;
    assert!(events(&writes).is_empty(), "{writes:?}");
    assert_eq!(h.crawl_rows(org).await.len(), 1, "one crawl per resource");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn suspending_a_crawl_pauses_it_and_clearing_suspend_resumes_it(pool: PgPool) {
    let h = harness(pool).await;
    let org = h.org_secret().await;
    let uid = uuid::Uuid::new_v4().to_string();
    h.reconcile_crawl(scrape_crawl(&uid, json!({}))).await;
    let mut suspended = h.stored_crawl();
    suspended.spec.suspend = true;
    let writes = h.reconcile_crawl(suspended).await;
    assert_eq!(events(&writes), ["Suspended"]);
    assert_eq!(
        status_patches(&writes)[0].body["status"]["phase"],
        "Suspended"
    );
    assert_eq!(h.crawl_rows(org).await[0].status.as_str(), "paused");
    let again = h.reconcile_crawl(h.stored_crawl()).await;
    assert!(again.is_empty(), "paused once: wrote {again:?}");
    let mut resumed = h.stored_crawl();
    resumed.spec.suspend = false;
    let writes = h.reconcile_crawl(resumed).await;
    assert_eq!(events(&writes), ["Resumed"]);
    assert_eq!(h.crawl_rows(org).await[0].status.as_str(), "running");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_crawl_without_its_secret_is_pending_and_warned_about_once(pool: PgPool) {
    let h = harness(pool).await;
    let writes = h
        .reconcile_crawl(scrape_crawl(&uuid::Uuid::new_v4().to_string(), json!({})))
        .await;
    assert_eq!(events(&writes), ["OrganizationUnavailable"]);
    assert_eq!(
        status_patches(&writes)[0].body["status"]["phase"],
        "Pending"
    );
    let again = h.reconcile_crawl(h.stored_crawl()).await;
    assert!(again.is_empty(), "wrote {again:?}");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn deleting_a_crawl_cancels_it_records_it_and_releases_the_finalizer(pool: PgPool) {
    let h = harness(pool).await;
    let org = h.org_secret().await;
    h.reconcile_crawl(scrape_crawl(&uuid::Uuid::new_v4().to_string(), json!({})))
        .await;
    let mut deleted = h.stored_crawl();
    deleted.metadata.deletion_timestamp = Some(scraperx_operator::status::now());
    let writes = h.reconcile_crawl(deleted).await;
    assert_eq!(events(&writes), ["Deleted"]);
    assert_eq!(
        h.stored_crawl().metadata.finalizers.unwrap_or_default(),
        Vec::<String>::new()
    );
    let row = &h.crawl_rows(org).await[0];
    assert_eq!(row.status.as_str(), "canceled");
    let canceled =
        h.db.batch_jobs_with_status(org, row.batch(), &[JobStatus::Canceled])
            .await
            .expect("jobs");
    assert_eq!(canceled.len(), 1, "its start page's job");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_crawl_whose_organization_cannot_pay_fails_and_its_status_says_why(pool: PgPool) {
    let h = harness(pool.clone()).await;
    let org = h.org_secret().await;
    sqlx::query("UPDATE organizations SET credits_balance = 0 WHERE id = $1")
        .bind(org)
        .execute(&pool)
        .await
        .expect("no credits");
    let writes = h
        .reconcile_crawl(scrape_crawl(&uuid::Uuid::new_v4().to_string(), json!({})))
        .await;
    assert_eq!(events(&writes), ["CrawlCreated", "Failed"]);
    let status = &status_patches(&writes)[0].body["status"];
    assert_eq!(
        (status["phase"].as_str(), status["reason"].as_str()),
        (Some("Failed"), Some("insufficient_credits"))
    );
    let failed = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Failed"))
        .expect("Failed");
    assert_eq!(
        (failed["status"].as_str(), failed["reason"].as_str()),
        (Some("True"), Some("InsufficientCredits"))
    );
}
