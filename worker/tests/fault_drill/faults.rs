//! The faults, one scenario each: a fresh organization and queue namespace, worker
//! processes over the drill's stack, the load, the fault at a moment when jobs are in
//! flight, then the tally. Each returns its row of the report.

use std::time::{Duration, Instant};

use scraperx_core::{domain::Engine, hot, pg::NewJob};
use tokio::task::JoinSet;

use crate::redis_cluster::PrivateCluster;

use super::{
    Drill,
    report::Row,
    stack::{Stack, WorkerProc, WorkerSpec, descendants},
    watch::{InFlight, in_flight, settle, taken_up},
};

/// The kill -9 row's name.
pub const KILL: &str = "kill -9 of workers";
/// The Redis Cluster row's name.
pub const FAILOVER: &str = "cluster master killed";

/// How long the drill waits for jobs in flight at a fault to be taken up again.
const RECLAIM_WINDOW: Duration = Duration::from_secs(90);
/// How long it waits for a fault's whole load to end.
const SETTLE_WINDOW: Duration = Duration::from_secs(300);

const HTTP: WorkerSpec = WorkerSpec {
    engines: "http",
    concurrency: 4,
    inline_limit: 1024 * 1024,
};

fn namespace(fault: &str) -> String {
    // Short: the queue's name (namespace + engine) is stored in a 50-character column.
    let unique = uuid::Uuid::new_v4().simple().to_string();
    format!("d{fault}{}-", &unique[..8])
}

fn jobs(site: &str, count: usize, delay_ms: u64, engine: Engine) -> Vec<NewJob> {
    (0..count)
        .map(|n| {
            let mut job = NewJob::get(&format!("{site}/page?n={n}&delay={delay_ms}"));
            job.engine = engine;
            job
        })
        .collect()
}

fn spawn(drill: &Drill, ns: &str, name: &str, count: usize, spec: &WorkerSpec) -> Vec<WorkerProc> {
    (0..count)
        .map(|i| WorkerProc::spawn(&drill.stack, ns, &format!("{name}-{i}"), spec))
        .collect()
}

/// Waits until at least `least` jobs of the organization run (or 30 s pass).
async fn busy(drill: &Drill, org: &scraperx_core::pg::Organization, least: usize) -> Vec<InFlight> {
    let start = Instant::now();
    loop {
        let running = in_flight(drill.pool(), org, None).await;
        if running.len() >= least || start.elapsed() > Duration::from_secs(30) {
            return running;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Workers killed with SIGKILL one after another under the load, each replaced at once.
pub async fn kill_workers(drill: &Drill) -> Row {
    let ns = namespace("kill");
    let org = drill.stack.org(1_000_000).await;
    let ids = drill
        .stack
        .submit(&org, &ns, jobs(&drill.site, drill.jobs, 100, Engine::Http))
        .await;
    let mut workers = spawn(drill, &ns, "kill", 3, &HTTP);
    busy(drill, &org, 4).await;
    let mut watchers = JoinSet::new();
    for k in 0..8 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let victim = workers.remove(0);
        let held = in_flight(drill.pool(), &org, Some(&victim.id)).await;
        if held.is_empty() && in_flight(drill.pool(), &org, None).await.is_empty() {
            break;
        }
        victim.kill9();
        let at = Instant::now();
        workers.push(WorkerProc::spawn(
            &drill.stack,
            &ns,
            &format!("kill-r{k}"),
            &HTTP,
        ));
        let pool = drill.pool().clone();
        watchers.spawn(async move { taken_up(&pool, &held, at, RECLAIM_WINDOW).await });
    }
    let reclaims = watchers.join_all().await.into_iter().flatten().collect();
    let tally = settle(drill.pool(), &org, ids.len(), SETTLE_WINDOW).await;
    Row {
        fault: KILL,
        tally,
        reclaims,
    }
}

/// A Redis Cluster master killed (SIGKILL) under the load: the one holding the job queues'
/// slot. Its replica takes over after the node timeout (2 s); the workers and the
/// submitter are on the cluster, and nobody tells them: their cluster connections find the
/// new master by themselves. The clock starts at the kill; the node comes back afterwards,
/// as a replica.
pub async fn fail_over_redis_master(drill: &Drill) -> Row {
    let ns = namespace("fo");
    let mut cluster = tokio::task::block_in_place(PrivateCluster::start);
    let redis = cluster.config();
    let conn = hot::connect(&redis).await.expect("private cluster");
    let org = drill.stack.org(1_000_000).await;
    let load = jobs(&drill.site, drill.jobs / 2, 100, Engine::Http);
    let ids = drill.stack.submit_on(&conn, &org, &ns, load).await;
    let _workers: Vec<WorkerProc> = (0..2)
        .map(|i| WorkerProc::spawn_on(&drill.stack, &redis, &ns, &format!("fo-{i}"), &HTTP))
        .collect();
    let held = busy(drill, &org, 4).await;
    let master = cluster.master_of(&format!("{{queue:{ns}jobs}}"));
    tokio::task::block_in_place(|| cluster.kill(master));
    let at = Instant::now();
    let reclaims = taken_up(drill.pool(), &held, at, RECLAIM_WINDOW).await;
    let tally = settle(drill.pool(), &org, ids.len(), SETTLE_WINDOW).await;
    tokio::task::block_in_place(|| cluster.restart(master));
    Row {
        fault: FAILOVER,
        tally,
        reclaims,
    }
}

/// A service outage under load: `count` jobs on two workers of `spec`; once jobs run,
/// `down` takes the service away, and after `pause`, `up` brings it back. The reclaim clock
/// starts when the service is back.
struct Outage {
    fault: &'static str,
    name: &'static str,
    count: usize,
    spec: WorkerSpec,
    down: fn(&mut Stack),
    pause: Duration,
    up: fn(&mut Stack),
}

async fn outage(drill: &mut Drill, o: Outage) -> Row {
    let ns = namespace(o.name);
    let org = drill.stack.org(1_000_000).await;
    let load = jobs(&drill.site, o.count, 100, Engine::Http);
    let ids = drill.stack.submit(&org, &ns, load).await;
    let _workers = spawn(drill, &ns, o.name, 2, &o.spec);
    let held = busy(drill, &org, 4).await;
    tokio::task::block_in_place(|| (o.down)(&mut drill.stack));
    tokio::time::sleep(o.pause).await;
    tokio::task::block_in_place(|| (o.up)(&mut drill.stack));
    let at = Instant::now();
    let reclaims = taken_up(drill.pool(), &held, at, RECLAIM_WINDOW).await;
    let tally = settle(drill.pool(), &org, ids.len(), SETTLE_WINDOW).await;
    Row {
        fault: o.fault,
        tally,
        reclaims,
    }
}

/// Redis restarts empty mid-load: queues, leases and liveness are gone.
pub async fn restart_redis(drill: &mut Drill) -> Row {
    let count = drill.jobs / 2;
    outage(
        drill,
        Outage {
            fault: "Redis restart (empty)",
            name: "redis",
            count,
            spec: HTTP,
            down: |stack| stack.redis.restart(),
            pause: Duration::ZERO,
            up: |_| {},
        },
    )
    .await
}

/// Postgres crashes mid-load (immediate shutdown) and is back 3 s later.
pub async fn restart_postgres(drill: &mut Drill) -> Row {
    let count = drill.jobs / 2;
    outage(
        drill,
        Outage {
            fault: "Postgres restart",
            name: "postgres",
            count,
            spec: HTTP,
            down: |stack| stack.postgres.crash(),
            pause: Duration::from_secs(3),
            up: |stack| stack.postgres.up(),
        },
    )
    .await
}

/// MinIO stopped for 4 s mid-load, with every page's content bound for it.
pub async fn stop_minio(drill: &mut Drill) -> Row {
    let count = drill.jobs / 4;
    outage(
        drill,
        Outage {
            fault: "MinIO stopped 4 s",
            name: "minio",
            count,
            spec: WorkerSpec {
                inline_limit: 0,
                ..HTTP
            },
            down: |stack| stack.minio.stop(),
            pause: Duration::from_secs(4),
            up: |stack| stack.minio.up(),
        },
    )
    .await
}

/// Every Chromium process of a browser worker killed while its pages load.
pub async fn kill_chromium(drill: &Drill) -> Row {
    let ns = namespace("chromium");
    let org = drill.stack.org(1_000_000).await;
    let count = (drill.jobs / 100).clamp(8, 20);
    let ids = drill
        .stack
        .submit(&org, &ns, jobs(&drill.site, count, 1_500, Engine::Browser))
        .await;
    let spec = WorkerSpec {
        engines: "browser",
        ..HTTP
    };
    let worker = WorkerProc::spawn(&drill.stack, &ns, "chromium-0", &spec);
    let held = busy(drill, &org, spec.concurrency).await;
    // Mid-page: the site answers only after 1.5 s.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let browser = descendants(worker.pid());
    for pid in &browser {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    let at = Instant::now();
    assert!(!browser.is_empty(), "the browser worker ran no Chromium");
    let reclaims = taken_up(drill.pool(), &held, at, RECLAIM_WINDOW).await;
    let tally = settle(drill.pool(), &org, ids.len(), SETTLE_WINDOW).await;
    drop(worker);
    Row {
        fault: "Chromium killed",
        tally,
        reclaims,
    }
}
