//! The restore drill's parts: private services (nothing shared is touched), the platform
//! populated through core's own paths, a real worker, and the operator binary's `backup` and
//! `restore` commands.

pub mod facts;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use scraperx_core::{
    content::{self, ContentStore},
    dispatch::{QueueSet, dispatch},
    domain::{Engine, JobId, JobStatus, Plan},
    hot::{self, RedisConn},
    pg::{Db, NewJob, NewOrganization, Organization, StatusChange},
};

use crate::{
    minio_server::PrivateMinio, postgres_server::PrivatePostgres, redis_server::PrivateRedis,
    scratch,
};

/// The queue namespace of the drill (its Redis is its own).
pub const NS: &str = "rd-";
/// Content above this goes to MinIO: every page of the site does.
const INLINE_LIMIT: usize = 256;

/// One platform's services: PostgreSQL, a Redis that keeps `dump.rdb` in its own folder,
/// and MinIO with the buckets.
pub struct Platform {
    pub postgres: PrivatePostgres,
    pub redis: PrivateRedis,
    pub minio: PrivateMinio,
    pub db: Db,
    pub conn: RedisConn,
    pub queues: QueueSet,
}

async fn connect(postgres: &PrivatePostgres) -> Db {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&postgres.url())
        .await
        .expect("private postgres");
    Db::from_pool(pool)
}

impl Platform {
    /// A new platform: schema applied, buckets created.
    pub async fn start() -> Self {
        let postgres = PrivatePostgres::start();
        let redis = PrivateRedis::start_in(scratch::empty_folder(&format!(
            "drill-redis-{}",
            uuid::Uuid::new_v4().simple()
        )));
        let minio = PrivateMinio::start();
        let db = connect(&postgres).await;
        db.migrate().await.expect("schema");
        content::ensure_buckets(ContentStore::new(&minio.config()).client())
            .await
            .expect("buckets");
        Self::over(postgres, redis, minio, db).await
    }

    /// A platform over services already holding restored data (no migration: the dump
    /// brought the schema).
    pub async fn restored(
        postgres: PrivatePostgres,
        redis: PrivateRedis,
        minio: PrivateMinio,
    ) -> Self {
        let db = connect(&postgres).await;
        Self::over(postgres, redis, minio, db).await
    }

    async fn over(
        postgres: PrivatePostgres,
        redis: PrivateRedis,
        minio: PrivateMinio,
        db: Db,
    ) -> Self {
        let conn = hot::connect(&redis.config()).await.expect("private redis");
        let queues = QueueSet::new(conn.clone(), NS);
        Self {
            postgres,
            redis,
            minio,
            db,
            conn,
            queues,
        }
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        content::client(&self.minio.config())
    }

    pub async fn org(&self, slug: &str, credits: i64) -> Organization {
        let mut new = NewOrganization::new("Restore drill", slug, "drill@test.local");
        new.credits_balance = credits;
        new.plan = Plan::Growth;
        self.db.create_organization(&new).await.expect("org")
    }

    /// Submits jobs the way the API does; queued in Postgres and Redis unless `pending`.
    pub async fn submit(&self, org: &Organization, urls: &[String], pending: bool) -> Vec<JobId> {
        let mut ids = Vec::new();
        for url in urls {
            let mut job = NewJob::get(url);
            job.engine = Engine::Http;
            let mut created = self
                .db
                .submit_job(org.id, None, &job)
                .await
                .expect("submit")
                .into_job();
            if !pending {
                dispatch(&self.db, &self.queues, &mut [&mut created])
                    .await
                    .expect("dispatch");
            }
            ids.push(created.id);
        }
        ids
    }

    /// Leases the one job waiting as a worker that then vanishes, and moves it to running;
    /// with `end`, to that final status too (settled at 0, its lease acknowledged).
    pub async fn lease_as_gone_worker(&self, id: JobId, end: Option<JobStatus>) {
        let queue = self
            .queues
            .for_engine(Engine::Http)
            .clone()
            .with_owner("gone-worker");
        let lease = queue
            .dequeue(Duration::from_secs(3))
            .await
            .expect("dequeue")
            .expect("a job waiting");
        let leased: Option<(String, i32)> =
            sqlx::query_as("SELECT status, attempts FROM scrape_jobs WHERE id::text = $1")
                .bind(&lease.id)
                .fetch_optional(self.db.pool())
                .await
                .expect("leased job");
        assert_eq!(
            lease.id,
            id.to_string(),
            "the drill leases the job it means to; it got one {leased:?}, delivery {}",
            lease.deliveries
        );
        let running = StatusChange::to(JobStatus::Running)
            .worker("gone-worker")
            .queue(queue.name());
        self.db.transition_job(id, &running).await.expect("running");
        if let Some(status) = end {
            let change = StatusChange::to(status).error("drill_failure", "set up by the drill");
            self.db.finish_job(id, &change, 0).await.expect("finish");
            queue.ack(&lease).await.expect("ack");
        }
    }

    /// A real worker over this platform until the returned sender says stop.
    pub fn worker(
        &self,
    ) -> (
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ) {
        let worker = scraperx_worker::Worker::new(
            scraperx_worker::WorkerConfig {
                allow_private_targets: true,
                queue_namespace: NS.into(),
                engines: vec![Engine::Http],
                concurrency: 4,
                inline_limit: INLINE_LIMIT,
                idle_poll: Duration::from_millis(20),
                ..scraperx_worker::WorkerConfig::default()
            },
            scraperx_worker::Services {
                db: self.db.clone(),
                redis: self.conn.clone(),
                content: ContentStore::new(&self.minio.config()),
            },
        )
        .expect("worker");
        let (stop, rx) = tokio::sync::watch::channel(false);
        (stop, tokio::spawn(async move { worker.run(rx).await }))
    }

    /// Waits until no job is queued or running and every final job is settled.
    pub async fn settled(&self, within: Duration) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < within {
            let open: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM scrape_jobs WHERE status IN ('queued', 'running')
                    OR (status IN ('completed', 'failed', 'timeout', 'canceled')
                        AND credits_settled_at IS NULL)",
            )
            .fetch_one(self.db.pool())
            .await
            .unwrap_or(-1);
            if open == 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

/// Pages of about 2 KB.
pub async fn site() -> String {
    use axum::{Router, extract::Path as UrlPath, routing::get};
    let router = Router::new().route(
        "/page/{n}",
        get(|UrlPath(n): UrlPath<u32>| async move {
            let para = "<p>Restore drill paragraph, a few words long.</p>".repeat(40);
            axum::response::Html(format!(
                "<html><head><title>page {n}</title></head><body><h1>Page {n}</h1>{para}</body></html>"
            ))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

/// The backup target's settings, for the operator binary.
pub struct Target<'a> {
    pub minio: &'a PrivateMinio,
    pub work: PathBuf,
}

impl Target<'_> {
    /// The target as the backup commands see it.
    pub fn backup_target(&self) -> scraperx_operator::backup::BackupTarget {
        let s3 = self.minio.config();
        let config =
            scraperx_operator::backup::settings::TargetConfig::from_lookup(|name| match name {
                "SCRX_BACKUP_S3_ENDPOINT" => Some(s3.endpoint.clone()),
                "SCRX_BACKUP_S3_ACCESS_KEY" => Some(s3.access_key.clone()),
                "SCRX_BACKUP_S3_SECRET_KEY" => Some(s3.secret_key.clone()),
                _ => None,
            })
            .expect("target settings");
        scraperx_operator::backup::BackupTarget::new(&config)
    }

    fn env(&self) -> Vec<(String, String)> {
        let s3 = self.minio.config();
        [
            ("SCRX_BACKUP_S3_ENDPOINT", s3.endpoint),
            ("SCRX_BACKUP_S3_ACCESS_KEY", s3.access_key),
            ("SCRX_BACKUP_S3_SECRET_KEY", s3.secret_key),
            (
                "SCRX_BACKUP_WORK_DIR",
                self.work.to_string_lossy().into_owned(),
            ),
            ("SCRX_LOG_FORMAT", "text".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Runs `scraperx-operator <args>` with the target's settings and `store`'s.
    pub fn run(&self, args: &[&str], store: &[(&str, String)]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_scraperx-operator"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env())
            .envs(store.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("operator binary")
    }

    /// [`Self::run`], which must succeed; its JSON report.
    pub fn operator(&self, args: &[&str], store: &[(&str, String)]) -> serde_json::Value {
        let output = self.run(args, store);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "scraperx-operator {args:?} failed: {}{stdout}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str(&stdout).expect("a JSON report")
    }
}

/// The settings a store's command reads.
pub fn pg_env(postgres: &PrivatePostgres) -> Vec<(&'static str, String)> {
    vec![("DATABASE_URL", postgres.url())]
}

pub fn redis_env(redis: &PrivateRedis) -> Vec<(&'static str, String)> {
    vec![("REDIS_URL", redis.url())]
}

pub fn minio_env(minio: &PrivateMinio) -> Vec<(&'static str, String)> {
    let s3 = minio.config();
    vec![
        ("S3_ENDPOINT", s3.endpoint),
        ("S3_ADMIN_ACCESS_KEY", s3.access_key),
        ("S3_ADMIN_SECRET_KEY", s3.secret_key),
    ]
}

/// A folder of its own under the scratch folder.
pub fn folder(name: &str) -> PathBuf {
    scratch::empty_folder(&format!("{name}-{}", uuid::Uuid::new_v4().simple()))
}

pub fn exists(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.len() > 0)
}
