//! The drill's own services (a private Postgres, Redis and MinIO it may crash, restart or
//! stop) and the worker processes it runs over them. Nothing here touches the shared
//! services other tests use.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use scraperx_core::{
    config::{RedisConfig, RedisTopology},
    content::{self, ContentStore},
    dispatch::{QueueSet, dispatch},
    domain::{JobId, Plan},
    hot::{self, RedisConn},
    pg::{Db, NewJob, NewOrganization, Organization},
};

use crate::{
    minio_server::PrivateMinio, postgres_server::PrivatePostgres, redis_server::PrivateRedis,
};

pub struct Stack {
    pub postgres: PrivatePostgres,
    pub redis: PrivateRedis,
    pub minio: PrivateMinio,
    pub db: Db,
    pub conn: RedisConn,
    logs: PathBuf,
}

impl Stack {
    /// Starts the three services, applies the schema and creates the buckets.
    pub async fn start() -> Self {
        let postgres = PrivatePostgres::start();
        let redis = PrivateRedis::start();
        let minio = PrivateMinio::start();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(2))
            .connect(&postgres.url())
            .await
            .expect("private postgres");
        let db = Db::from_pool(pool);
        db.migrate().await.expect("schema");
        let conn = hot::connect(&redis.config()).await.expect("private redis");
        let store = ContentStore::new(&minio.config());
        content::ensure_buckets(store.client())
            .await
            .expect("buckets");
        let scratch = std::env::var("SCRX_SCRATCH").unwrap_or_else(|_| "/tmp/scraperx".into());
        let logs = PathBuf::from(scratch).join("drill-logs");
        std::fs::create_dir_all(&logs).expect("log folder");
        Self {
            postgres,
            redis,
            minio,
            db,
            conn,
            logs,
        }
    }

    /// An organization with `credits` on the Growth plan.
    pub async fn org(&self, credits: i64) -> Organization {
        let slug = format!("drill-{}", uuid::Uuid::new_v4().simple());
        let mut new = NewOrganization::new("Fault drill", &slug, "drill@test.local");
        new.credits_balance = credits;
        new.plan = Plan::Growth;
        self.db.create_organization(&new).await.expect("org")
    }

    /// Submits and queues the jobs the way the API does, in rounds of a hundred.
    pub async fn submit(
        &self,
        org: &Organization,
        namespace: &str,
        jobs: Vec<NewJob>,
    ) -> Vec<JobId> {
        self.submit_on(&self.conn, org, namespace, jobs).await
    }

    /// [`Stack::submit`], with the queues on `redis` (another Redis than the stack's).
    pub async fn submit_on(
        &self,
        redis: &RedisConn,
        org: &Organization,
        namespace: &str,
        jobs: Vec<NewJob>,
    ) -> Vec<JobId> {
        let queues = QueueSet::new(redis.clone(), namespace);
        let mut ids = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(100) {
            let mut created = Vec::with_capacity(chunk.len());
            for job in chunk {
                let submission = self.db.submit_job(org.id, None, job).await.expect("submit");
                created.push(submission.into_job());
            }
            let mut refs: Vec<&mut _> = created.iter_mut().collect();
            dispatch(&self.db, &queues, &mut refs)
                .await
                .expect("dispatch");
            ids.extend(created.iter().map(|j| j.id));
        }
        ids
    }
}

/// What a worker process is started with.
pub struct WorkerSpec {
    pub engines: &'static str,
    pub concurrency: usize,
    /// Content up to this size stays in Postgres; above, it goes to MinIO.
    pub inline_limit: usize,
}

/// A worker process of the drill.
pub struct WorkerProc {
    pub id: String,
    child: Child,
}

impl WorkerProc {
    /// Starts `scraperx-worker run` over the stack, reading queues under `namespace`.
    pub fn spawn(stack: &Stack, namespace: &str, id: &str, spec: &WorkerSpec) -> Self {
        Self::spawn_on(stack, &stack.redis.config(), namespace, id, spec)
    }

    /// [`WorkerProc::spawn`], with the queues on `redis` (another Redis than the stack's).
    pub fn spawn_on(
        stack: &Stack,
        redis: &RedisConfig,
        namespace: &str,
        id: &str,
        spec: &WorkerSpec,
    ) -> Self {
        let cluster = redis.topology == RedisTopology::Cluster;
        let log = std::fs::File::create(stack.logs.join(format!("{id}.log"))).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_scraperx-worker"));
        command
            .arg("run")
            .env("DATABASE_URL", stack.postgres.url())
            .env("REDIS_URL", &redis.url)
            .env("SCRX_REDIS_CLUSTER", cluster.to_string())
            .envs(stack.minio.worker_env())
            .env("SCRX_QUEUE_NAMESPACE", namespace)
            .env("SCRX_ALLOW_PRIVATE_TARGETS", "true")
            .env("SCRX_WORKER_ID", id)
            .env("SCRX_WORKER_ENGINES", spec.engines)
            .env("SCRX_WORKER_CONCURRENCY", spec.concurrency.to_string())
            .env("SCRX_INLINE_CONTENT_BYTES", spec.inline_limit.to_string())
            .env("SCRX_WORKER_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("SCRX_LOG_FORMAT", "text")
            .env(
                "RUST_LOG",
                std::env::var(super::ENV_LOG).unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(log);
        if let Ok(chromium) = std::env::var("SCRX_CHROMIUM") {
            command.env("SCRX_CHROMIUM", chromium);
        }
        let child = command.spawn().expect("worker binary");
        Self {
            id: id.to_owned(),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no drain, no goodbye.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// Every process below `pid` (children, their children...), from /proc.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name is in parentheses and may hold spaces: fields follow the last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = rest
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u32>().ok())
        {
            parent_of.push((child, ppid));
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parent_of
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found.remove(0);
    found
}
