//! A worker against real Postgres (a fresh database per test), Redis and MinIO, scraping
//! pages that the tests serve themselves on loopback.
#![allow(dead_code)]

pub mod hostile;

use std::{net::SocketAddr, time::Duration};

use axum::Router;
use scraperx_core::{
    config::{RedisConfig, S3Config},
    content::{self, ContentStore},
    dispatch::{QueueSet, dispatch},
    domain::{Engine, JobId, Plan},
    hot,
    pg::{Db, Job, NewJob, NewOrganization, Organization},
    queue::{JobQueue, QueueName},
};
use scraperx_worker::{Services, Worker, WorkerConfig};
use sqlx::PgPool;
use tokio::sync::watch;

pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    addr
}

/// A render of `url` within `timeout`, everything else at its default.
pub fn render_request(url: String, timeout: Duration) -> scraperx_worker::browser::RenderRequest {
    scraperx_worker::browser::RenderRequest {
        url: url.parse().expect("url"),
        timeout,
        wait_for: None,
        wait_time: Duration::ZERO,
        wait_until: scraperx_core::domain::WaitUntil::Load,
        screenshot: false,
        screenshot_mode: Default::default(),
        pdf: false,
        block: Vec::new(),
        fingerprint: None,
        solver: None,
        proxy_server: None,
        actions: Vec::new(),
        emulation: Default::default(),
    }
}

/// Debian's Chromium, or `SCRX_CHROMIUM`.
pub fn chromium() -> std::path::PathBuf {
    std::env::var("SCRX_CHROMIUM")
        .unwrap_or_else(|_| "/usr/bin/chromium".into())
        .into()
}

pub struct Harness {
    pub db: Db,
    pub namespace: String,
    pub redis: scraperx_core::hot::RedisConn,
}

/// The key secrets at rest are sealed with in tests (the workers' `SCRX_SECRETS_KEY`).
pub fn secrets() -> scraperx_core::secrets::SecretBox {
    scraperx_core::secrets::SecretBox::new(&[42u8; 32])
}

impl Harness {
    pub async fn new(pool: PgPool) -> Self {
        Self::on_redis(pool, &RedisConfig::from_env().expect("redis config")).await
    }

    /// Over the Redis of `config` (a private server, for tests that stop or empty it).
    pub async fn on_redis(pool: PgPool, config: &RedisConfig) -> Self {
        let redis = hot::connect(config).await.expect("redis");
        let admin = ContentStore::new(&S3Config::from_env_for_role("ADMIN").expect("s3"));
        content::ensure_buckets(admin.client())
            .await
            .expect("buckets");
        Self {
            db: Db::from_pool(pool).with_secrets(Some(secrets())),
            namespace: format!("w{}-", uuid::Uuid::new_v4().simple()),
            redis,
        }
    }

    pub fn config(&self) -> WorkerConfig {
        WorkerConfig {
            allow_private_targets: true,
            queue_namespace: self.namespace.clone(),
            concurrency: 2,
            idle_poll: Duration::from_millis(20),
            cancel_poll: Duration::from_millis(100),
            retry_base: Duration::from_millis(50),
            retry_max: Duration::from_millis(200),
            grace: Duration::from_secs(5),
            secrets: Some(secrets()),
            ..WorkerConfig::default()
        }
    }

    pub fn worker(&self, config: WorkerConfig) -> Worker {
        Worker::new(
            config,
            Services {
                db: self.db.clone(),
                redis: self.redis.clone(),
                content: ContentStore::new(&S3Config::from_env_for_role("WORKER").expect("s3")),
            },
        )
        .expect("worker")
    }

    /// Runs a worker in the background; dropping the sender stops it.
    pub fn start(
        &self,
        config: WorkerConfig,
    ) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
        let worker = self.worker(config);
        let (tx, rx) = watch::channel(false);
        let handle = tokio::spawn(async move { worker.run(rx).await });
        (tx, handle)
    }

    pub fn queues(&self) -> QueueSet {
        QueueSet::new(self.redis.clone(), &self.namespace)
    }

    pub fn queue(&self, name: QueueName) -> JobQueue {
        let set = self.queues();
        match name {
            QueueName::Webhooks => set.webhooks().clone(),
            QueueName::Browser => set.for_engine(Engine::Browser).clone(),
            QueueName::Stealth => set.for_engine(Engine::Stealth).clone(),
            _ => set.for_engine(Engine::Http).clone(),
        }
    }

    pub async fn org(&self, credits: i64) -> Organization {
        let slug = format!("o-{}", uuid::Uuid::new_v4().simple());
        let mut new = NewOrganization::new("Worker test", &slug, "b@test.local");
        new.credits_balance = credits;
        new.plan = Plan::Growth;
        self.db.create_organization(&new).await.expect("org")
    }

    /// Submits and queues a job the way the API does (core's dispatch).
    pub async fn submit(&self, org: &Organization, job: NewJob) -> JobId {
        let mut created = self
            .db
            .submit_job(org.id, None, &job)
            .await
            .expect("submit")
            .into_job();
        dispatch(&self.db, &self.queues(), &mut [&mut created])
            .await
            .expect("dispatch");
        created.id
    }

    /// Waits until a worker has started the job.
    pub async fn running(&self, id: JobId) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.db.get_job_unscoped(id).await.expect("job").status
            != scraperx_core::domain::JobStatus::Running
        {
            assert!(tokio::time::Instant::now() < deadline, "never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the job is final and its credits settled.
    pub async fn finished(&self, id: JobId, within: Duration) -> Job {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let job = self.db.get_job_unscoped(id).await.expect("job");
            if job.is_final() && job.credits_settled_at.is_some() {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job still {} after {within:?}",
                job.status
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the job is final and settled, and asserts that it completed.
    pub async fn completed(&self, id: JobId, within: Duration) -> Job {
        let done = self.finished(id, within).await;
        assert_eq!(
            done.status,
            scraperx_core::domain::JobStatus::Completed,
            "{:?}",
            done.error_message
        );
        done
    }

    /// The job's stored content (inline), empty when there is none.
    pub async fn content(&self, org: &Organization, id: JobId) -> String {
        self.db
            .get_result(org.id, id)
            .await
            .expect("result")
            .content_inline
            .unwrap_or_default()
    }

    /// Waits for the job to complete and returns its stored content (inline).
    pub async fn completed_content(
        &self,
        org: &Organization,
        id: JobId,
        within: Duration,
    ) -> String {
        self.completed(id, within).await;
        self.content(org, id).await
    }

    pub async fn balance(&self, org: &Organization) -> i64 {
        self.db.credit_balance(org.id).await.expect("balance")
    }

    /// A worker with the browser engines too (Debian's Chromium, or `SCRX_CHROMIUM`).
    pub fn browser_config(&self, engines: &[Engine]) -> WorkerConfig {
        WorkerConfig {
            engines: engines.to_vec(),
            chromium: Some(chromium()),
            ..self.config()
        }
    }

    pub async fn event_types(&self, org: &Organization, id: JobId) -> Vec<String> {
        self.db
            .list_job_events(org.id, id)
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.event_type.to_string())
            .collect()
    }
}
