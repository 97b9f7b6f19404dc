//! The Redis hot tier against the real Redis that scripts/services.sh starts.

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use futures::{StreamExt, future::join_all};
use redis::AsyncCommands;
use scraperx_core::hot::RedisConn;
use scraperx_core::{
    Error,
    config::{RedisConfig, RedisTopology},
    domain::{ApiKeyId, BatchId, Engine, HttpMethod, JobId, JobOptions, JobStatus, OrgId, UserId},
    hot::{
        self, TtlConfig,
        cache::{CacheClass, CacheRequest, CachedResponse, ResponseCache},
        keys,
        locks::Locks,
        metrics::{Metrics, RequestSample, WorkerHeartbeat, epoch_minute},
        orphans::{repair_orphans, ttl_for_key},
        pubsub::{
            self, BatchProgressMessage, JobStatusMessage, Publisher, Severity, SystemAlert, Topic,
            WorkerState, WorkerStatusMessage,
        },
        rate_limit::{Limit, RateLimiter, Scope, Window},
        sessions::{Grant, Sessions},
    },
};

async fn conn() -> RedisConn {
    hot::connect(&RedisConfig::from_env().expect("redis config"))
        .await
        .expect("redis (run scripts/services.sh up)")
}

fn org() -> OrgId {
    OrgId::from(uuid::Uuid::new_v4())
}

#[tokio::test]
async fn an_unreachable_redis_is_a_prompt_typed_error() {
    let started = Instant::now();
    let Err(err) = hot::connect(&RedisConfig::single("redis://127.0.0.1:1")).await else {
        panic!("nothing listens on port 1");
    };
    assert!(matches!(err, Error::RedisUnavailable(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------- sessions

fn new_session(user: UserId, org: OrgId) -> Grant {
    Grant {
        user_id: user,
        organization_id: org,
        api_key_id: Some(ApiKeyId::from(uuid::Uuid::new_v4())),
        scopes: vec!["scrape:read".into(), "scrape:write".into()],
        rate_limit: 100,
        max_concurrent: 50,
    }
}

#[tokio::test]
async fn sessions_live_for_their_ttl_and_are_stored_only_by_hash() {
    let c = conn().await;
    let sessions = Sessions::new(c.clone(), Duration::from_secs(60));
    let (user, o) = (UserId::from(uuid::Uuid::new_v4()), org());
    let (token, created) = sessions.create(new_session(user, o)).await.expect("create");
    assert_eq!(
        sessions.get(&token).await.expect("get"),
        Some(created.clone())
    );
    assert_eq!(created.expires_at - created.created_at, 60);
    // The raw token is not a key; its hash is, with the TTL.
    let raw_key = keys::session(token.expose());
    assert!(!c.clone().exists::<_, bool>(&raw_key).await.expect("exists"));
    assert!(sessions.invalidate(&token).await.expect("invalidate"));
    assert_eq!(sessions.get(&token).await.expect("get"), None);
    assert!(
        !sessions
            .invalidate(&token)
            .await
            .expect("second invalidate")
    );
}

#[tokio::test]
async fn all_sessions_of_a_user_or_an_organization_end_without_a_scan() {
    let sessions = Sessions::new(conn().await, Duration::from_secs(60));
    let (alice, bob, o, other) = (
        UserId::from(uuid::Uuid::new_v4()),
        UserId::from(uuid::Uuid::new_v4()),
        org(),
        org(),
    );
    let a1 = sessions.create(new_session(alice, o)).await.expect("a1").0;
    let a2 = sessions.create(new_session(alice, o)).await.expect("a2").0;
    let b1 = sessions.create(new_session(bob, o)).await.expect("b1").0;
    let elsewhere = sessions
        .create(new_session(bob, other))
        .await
        .expect("b2")
        .0;

    assert_eq!(sessions.invalidate_user(alice).await.expect("user"), 2);
    for t in [&a1, &a2] {
        assert_eq!(sessions.get(t).await.expect("get"), None);
    }
    assert!(sessions.get(&b1).await.expect("get").is_some());

    assert_eq!(sessions.invalidate_organization(o).await.expect("org"), 1);
    assert_eq!(sessions.get(&b1).await.expect("get"), None);
    assert!(
        sessions.get(&elsewhere).await.expect("get").is_some(),
        "another org's session survives"
    );
}

// ---------------------------------------------------------------- rate limits

#[tokio::test]
async fn the_sliding_window_is_exact_under_concurrency() {
    let limiter = RateLimiter::new(conn().await, TtlConfig::default());
    let o = org();
    let limit = [Limit {
        scope: Scope::Organization,
        window: Window::Minute,
        max: 20,
    }];
    let decisions = join_all((0..64).map(|_| {
        let limiter = limiter.clone();
        tokio::spawn(async move { limiter.check(o, &limit).await.expect("check") })
    }))
    .await;
    let decisions: Vec<_> = decisions.into_iter().map(|d| d.expect("task")).collect();
    let allowed = decisions.iter().filter(|d| d.allowed).count();
    assert_eq!(allowed, 20);
    let mut remaining: Vec<u32> = decisions
        .iter()
        .filter(|d| d.allowed)
        .map(|d| d.remaining)
        .collect();
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        (0..20).collect::<Vec<_>>(),
        "each grant saw its own count"
    );
    for refused in decisions.iter().filter(|d| !d.allowed) {
        assert_eq!(refused.remaining, 0);
        assert!(
            refused.retry_after > Duration::from_secs(55)
                && refused.retry_after <= Duration::from_secs(60),
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn a_refusal_by_the_key_does_not_use_the_organizations_quota() {
    let limiter = RateLimiter::new(conn().await, TtlConfig::default());
    let o = org();
    let key = ApiKeyId::from(uuid::Uuid::new_v4());
    let limits = |max_key| {
        [
            Limit {
                scope: Scope::Organization,
                window: Window::Minute,
                max: 5,
            },
            Limit {
                scope: Scope::ApiKey(key),
                window: Window::Second,
                max: max_key,
            },
        ]
    };
    assert!(limiter.check(o, &limits(2)).await.expect("1").allowed);
    assert!(limiter.check(o, &limits(2)).await.expect("2").allowed);
    let third = limiter.check(o, &limits(2)).await.expect("3");
    assert!(!third.allowed);
    assert!(third.retry_after <= Duration::from_secs(1) && third.retry_after > Duration::ZERO);
    // The organization counted two, not three: three more fit.
    let org_only = [limits(2)[0]];
    let granted = join_all((0..5).map(|_| limiter.check(o, &org_only))).await;
    assert_eq!(
        granted
            .iter()
            .filter(|d| d.as_ref().expect("check").allowed)
            .count(),
        3
    );
}

#[tokio::test]
async fn the_per_second_window_frees_up_after_a_second() {
    let limiter = RateLimiter::new(conn().await, TtlConfig::default());
    let o = org();
    let limit = [Limit {
        scope: Scope::Organization,
        window: Window::Second,
        max: 3,
    }];
    for _ in 0..3 {
        assert!(limiter.check(o, &limit).await.expect("check").allowed);
    }
    let refused = limiter.check(o, &limit).await.expect("check");
    assert!(!refused.allowed);
    tokio::time::sleep(refused.retry_after + Duration::from_millis(20)).await;
    assert!(limiter.check(o, &limit).await.expect("check").allowed);
}

#[tokio::test]
async fn the_fixed_window_counts_and_expires() {
    let c = conn().await;
    let limiter = RateLimiter::new(c.clone(), TtlConfig::default());
    let o = org();
    let limit = Limit {
        scope: Scope::Organization,
        window: Window::Minute,
        max: 10,
    };
    let results = join_all((0..25).map(|_| limiter.fixed_window(o, limit))).await;
    let allowed = results
        .iter()
        .filter(|d| d.as_ref().expect("fixed").allowed)
        .count();
    assert_eq!(allowed, 10);
    let ttl: i64 = c
        .clone()
        .pttl(keys::rate_fixed(o, "org", "min"))
        .await
        .expect("pttl");
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
}

#[tokio::test]
async fn calls_with_short_windows_do_not_reset_what_long_windows_count() {
    let limiter = RateLimiter::new(conn().await, TtlConfig::default());
    let o = org();
    let hourly = [Limit {
        scope: Scope::Organization,
        window: Window::Hour,
        max: 3,
    }];
    let per_second = [Limit {
        scope: Scope::ApiKey(ApiKeyId::from(uuid::Uuid::new_v4())),
        window: Window::Second,
        max: 100,
    }];
    for _ in 0..3 {
        assert!(limiter.check(o, &hourly).await.expect("hourly").allowed);
    }
    assert!(
        limiter
            .check(o, &per_second)
            .await
            .expect("per second")
            .allowed
    );
    // Past the per-second TTL: the member sequence must not have restarted.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let fourth = limiter.check(o, &hourly).await.expect("hourly");
    assert!(!fourth.allowed, "{fourth:?}");
}

// ---------------------------------------------------------------- cache

fn cached(body: &str) -> CachedResponse {
    CachedResponse {
        status_code: 200,
        final_url: "https://example.com/page".into(),
        headers: BTreeMap::from([("content-type".into(), "text/html".into())]),
        content_type: Some("text/html".into()),
        body: Some(body.into()),
        object: None,
        content_hash: "abc".into(),
        extracted: None,
        cached_at: Utc::now().timestamp_millis(),
    }
}

#[tokio::test]
async fn the_cache_serves_counts_hits_compresses_and_invalidates() {
    let c = conn().await;
    let ttl = TtlConfig::default();
    let cache = ResponseCache::new(c.clone(), ttl);
    let url = format!("https://example.com/{}", uuid::Uuid::new_v4());
    let headers = scraperx_core::domain::RequestHeaders::default();
    let plain = JobOptions::default();
    let js = JobOptions {
        render_js: true,
        ..JobOptions::default()
    };
    let request = |options| CacheRequest {
        url: &url,
        method: HttpMethod::Get,
        engine: Engine::Http,
        headers: &headers,
        body: None,
        options,
        country: None,
        organization: OrgId::from(uuid::Uuid::nil()),
    };
    let (k_plain, k_js) = (
        request(&plain).key().expect("key"),
        request(&js).key().expect("key"),
    );

    assert_eq!(cache.get(&k_plain, None).await.expect("miss"), None);
    let big = cached(&"<div>row</div>".repeat(2_000));
    let stored = cache
        .put(&k_plain, &big, CacheClass::Dynamic)
        .await
        .expect("put");
    assert!(stored < 2_000, "28 KB of markup stored in {stored} bytes");
    cache
        .put(&k_js, &cached("js"), CacheClass::Static)
        .await
        .expect("put");

    let first = cache.get(&k_plain, None).await.expect("get").expect("hit");
    assert_eq!(first.response, big);
    assert_eq!(first.hits, 1);
    assert_eq!(
        cache
            .get(&k_plain, None)
            .await
            .expect("get")
            .expect("hit")
            .hits,
        2
    );
    // TTL classes.
    let entry = format!("scrx:cache:{{u:{}}}:", k_plain.url_hash());
    let pttl = |key: String| {
        let mut c = c.clone();
        async move { c.pttl::<_, i64>(key).await.expect("pttl") }
    };
    let ttls = {
        let mut idx: Vec<String> = c
            .clone()
            .smembers(keys::cache_index(k_plain.url_hash()))
            .await
            .expect("index");
        idx.sort();
        let mut v = Vec::new();
        for variant in idx {
            v.push(pttl(format!("{entry}{variant}")).await);
        }
        v
    };
    assert_eq!(ttls.len(), 2);
    assert!(ttls.iter().any(|&t| t > 0 && t <= 300_000), "{ttls:?}");
    assert!(
        ttls.iter().any(|&t| t > 3_600_000 && t <= 86_400_000),
        "{ttls:?}"
    );

    // A max age shorter than the entry's age is a miss that counts no hit.
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(
        cache
            .get(&k_plain, Some(Duration::from_millis(10)))
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        cache
            .get(&k_plain, Some(Duration::from_secs(60)))
            .await
            .expect("get")
            .expect("hit")
            .hits,
        3
    );

    assert!(cache.invalidate(&k_plain).await.expect("invalidate"));
    assert_eq!(cache.get(&k_plain, None).await.expect("get"), None);
    cache
        .put(&k_plain, &big, CacheClass::Default)
        .await
        .expect("put again");
    assert_eq!(
        cache
            .invalidate_url(&format!("{url}#frag"))
            .await
            .expect("by url"),
        2
    );
    assert_eq!(cache.get(&k_js, None).await.expect("get"), None);
}

#[tokio::test]
async fn a_corrupted_cache_entry_is_a_miss_and_is_dropped() {
    let c = conn().await;
    let cache = ResponseCache::new(c.clone(), TtlConfig::default());
    let url = format!("https://example.com/{}", uuid::Uuid::new_v4());
    let headers = scraperx_core::domain::RequestHeaders::default();
    let options = JobOptions::default();
    let key = CacheRequest {
        url: &url,
        method: HttpMethod::Get,
        engine: Engine::Http,
        headers: &headers,
        body: None,
        options: &options,
        country: None,
        organization: OrgId::from(uuid::Uuid::nil()),
    }
    .key()
    .expect("key");
    cache
        .put(&key, &cached("fine"), CacheClass::Default)
        .await
        .expect("put");
    let index: Vec<String> = c
        .clone()
        .smembers(keys::cache_index(key.url_hash()))
        .await
        .expect("index");
    let entry = format!("scrx:cache:{{u:{}}}:{}", key.url_hash(), index[0]);
    for garbage in [
        &b"Z\x1f\x8b\x08 truncated"[..],
        b"J{\"status_code\":",
        b"\x00\x01",
    ] {
        let () = c
            .clone()
            .hset(&entry, "v", garbage)
            .await
            .expect("corrupt it");
        assert_eq!(cache.get(&key, None).await.expect("no error"), None);
        assert!(
            !c.clone().exists::<_, bool>(&entry).await.expect("exists"),
            "dropped"
        );
        cache
            .put(&key, &cached("fine"), CacheClass::Default)
            .await
            .expect("put");
    }
}

// ---------------------------------------------------------------- locks

#[tokio::test]
async fn a_lock_is_exclusive_among_racing_holders() {
    let locks = Locks::new(conn().await, Duration::from_secs(5));
    let resource = uuid::Uuid::new_v4().to_string();
    let inside = Arc::new(AtomicUsize::new(0));
    let entered = Arc::new(AtomicUsize::new(0));
    let tasks = (0..8).map(|_| {
        let (locks, resource, inside, entered) = (
            locks.clone(),
            resource.clone(),
            inside.clone(),
            entered.clone(),
        );
        tokio::spawn(async move {
            for _ in 0..5 {
                let guard = locks
                    .acquire("test", &resource, Duration::from_secs(20))
                    .await
                    .expect("acquire")
                    .expect("got the lock in time");
                assert_eq!(
                    inside.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two holders at once"
                );
                tokio::time::sleep(Duration::from_millis(3)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
                entered.fetch_add(1, Ordering::SeqCst);
                assert!(guard.release().await.expect("release"));
            }
        })
    });
    for t in join_all(tasks).await {
        t.expect("task");
    }
    assert_eq!(entered.load(Ordering::SeqCst), 40);
}

#[tokio::test]
async fn only_the_owner_extends_or_releases_and_an_expired_lock_moves_on() {
    let locks = Locks::new(conn().await, Duration::from_millis(200));
    let id = uuid::Uuid::new_v4().to_string();
    let first = locks
        .try_acquire("test", &id)
        .await
        .expect("a")
        .expect("free");
    assert!(locks.try_acquire("test", &id).await.expect("b").is_none());
    assert!(
        first
            .extend(Duration::from_millis(200))
            .await
            .expect("extend")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = locks
        .try_acquire("test", &id)
        .await
        .expect("c")
        .expect("expired, so free");
    assert!(
        !first
            .extend(Duration::from_secs(1))
            .await
            .expect("stale extend")
    );
    assert!(
        !first.release().await.expect("stale release"),
        "cannot free another's lock"
    );
    assert!(second.release().await.expect("release"));
}

// ---------------------------------------------------------------- metrics

#[tokio::test]
async fn metrics_count_unique_urls_outcomes_and_latency_percentiles() {
    let metrics = Metrics::new(conn().await, TtlConfig::default());
    // A minute of its own: one of the 20,000 minutes before the last day.
    let at = Utc::now()
        - chrono::Duration::days(1)
        - chrono::Duration::minutes(i64::from(rand_u16() % 20_000));
    let tag = uuid::Uuid::new_v4();
    for i in 1..=100u64 {
        metrics
            .record(&RequestSample {
                url: &format!("https://site-{tag}.example/{}", i % 40),
                success: i % 10 != 0,
                latency: Duration::from_millis(i * 10),
                sample_id: &format!("{tag}-{i}"),
                at,
            })
            .await
            .expect("record");
    }
    let minute = epoch_minute(at);
    let outcomes = metrics.outcomes_in_minute(minute).await.expect("outcomes");
    assert_eq!((outcomes.success, outcomes.failed), (90, 10));
    let latency = metrics.latency_in_minute(minute).await.expect("latency");
    assert_eq!(latency.count, 100);
    assert_eq!(
        (latency.p50, latency.p95, latency.p99),
        (Some(500.0), Some(950.0), Some(990.0))
    );
    let unique = metrics.unique_urls(at.date_naive()).await.expect("unique");
    // HyperLogLog estimates (Redis: 0.81% standard error), and other runs may share the
    // day: at least the 40 URLs, give or take the estimate's error.
    assert!(unique >= 38, "{unique}");
}

fn rand_u16() -> u16 {
    let b = uuid::Uuid::new_v4();
    u16::from_le_bytes([b.as_bytes()[0], b.as_bytes()[1]])
}

#[tokio::test]
async fn latency_percentiles_keep_fractions_of_a_millisecond() {
    let metrics = Metrics::new(conn().await, TtlConfig::default());
    let at = Utc::now()
        - chrono::Duration::days(2)
        - chrono::Duration::minutes(i64::from(rand_u16() % 20_000));
    let id = uuid::Uuid::new_v4().to_string();
    metrics
        .record(&RequestSample {
            url: "https://fractions.example/",
            success: true,
            latency: Duration::from_micros(1_250),
            sample_id: &id,
            at,
        })
        .await
        .expect("record");
    let latency = metrics
        .latency_in_minute(epoch_minute(at))
        .await
        .expect("latency");
    assert_eq!((latency.count, latency.p50), (1, Some(1.25)));
}

#[tokio::test]
async fn worker_heartbeats_expire_without_renewal() {
    let ttl = TtlConfig {
        worker: Duration::from_millis(400),
        ..TtlConfig::default()
    };
    let metrics = Metrics::new(conn().await, ttl);
    let id = format!("w-{}", uuid::Uuid::new_v4());
    let hb = WorkerHeartbeat {
        worker_id: id.clone(),
        pool: "http".into(),
        region: "local".into(),
        status: "active".into(),
        current_jobs: 3,
        last_heartbeat: Utc::now().timestamp(),
    };
    metrics.heartbeat(&hb).await.expect("beat");
    assert!(metrics.live_workers().await.expect("live").contains(&hb));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        !metrics
            .live_workers()
            .await
            .expect("live")
            .iter()
            .any(|w| w.worker_id == id)
    );
}

// ---------------------------------------------------------------- pub/sub

#[tokio::test]
async fn job_status_and_batch_progress_arrive_typed_on_their_channels() {
    let config = RedisConfig::from_env().expect("redis config");
    let publisher = Publisher::new(conn().await);
    let (o, batch) = (org(), BatchId::from(uuid::Uuid::new_v4()));
    let mut jobs = Box::pin(
        pubsub::subscribe(&config, &Topic::job_status(o))
            .await
            .expect("sub"),
    );
    let mut all = Box::pin(
        pubsub::subscribe(&config, &Topic::all_job_status())
            .await
            .expect("psub"),
    );
    let mut progress = Box::pin(
        pubsub::subscribe(&config, &Topic::batch_progress(batch))
            .await
            .expect("sub"),
    );

    let status = JobStatusMessage {
        job_id: JobId::from(uuid::Uuid::new_v4()),
        organization_id: o,
        batch_id: Some(batch),
        status: JobStatus::Completed,
        error_code: None,
        at: Utc::now(),
    };
    // Garbage on the channel is skipped, not fatal.
    let _: u64 = conn()
        .await
        .publish(keys::channel::job_status(o), "{not json")
        .await
        .expect("raw");
    // A classic PUBLISH counts the receivers on the node it ran on; on a cluster the
    // pattern's subscriber may sit on another (the delivery checks below see both).
    let counted = publisher.publish(&status).await.expect("publish");
    assert!(counted >= 2 || (config.topology == RedisTopology::Cluster && counted >= 1));
    let update = BatchProgressMessage {
        batch_id: batch,
        organization_id: o,
        total: 10,
        completed: 4,
        failed: 1,
        canceled: 0,
        at: Utc::now(),
    };
    // Sharded: counted on the channel's own shard, on one server and a cluster alike.
    assert_eq!(publisher.publish(&update).await.expect("publish"), 1);

    let within = Duration::from_secs(5);
    assert_eq!(
        tokio::time::timeout(within, jobs.next())
            .await
            .expect("in time"),
        Some(status.clone())
    );
    // The pattern subscription sees every organization's jobs; find ours.
    loop {
        let m = tokio::time::timeout(within, all.next())
            .await
            .expect("in time")
            .expect("open");
        if m == status {
            break;
        }
    }
    assert_eq!(
        tokio::time::timeout(within, progress.next())
            .await
            .expect("in time"),
        Some(update)
    );
}

#[tokio::test]
async fn worker_status_and_system_alerts_arrive_typed() {
    let config = RedisConfig::from_env().expect("redis config");
    let publisher = Publisher::new(conn().await);
    let mut workers = Box::pin(
        pubsub::subscribe(&config, &Topic::worker_status())
            .await
            .expect("sub"),
    );
    let mut alerts = Box::pin(
        pubsub::subscribe(&config, &Topic::system_alerts())
            .await
            .expect("sub"),
    );
    let worker = WorkerStatusMessage {
        worker_id: format!("w-{}", uuid::Uuid::new_v4()),
        pool: "browser".into(),
        status: WorkerState::Draining,
        current_jobs: 2,
        at: Utc::now(),
    };
    let alert = SystemAlert {
        kind: format!("high_error_rate-{}", uuid::Uuid::new_v4()),
        severity: Severity::Critical,
        message: "error rate above 20% for 5 minutes".into(),
        at: Utc::now(),
    };
    publisher.publish(&worker).await.expect("publish");
    publisher.publish(&alert).await.expect("publish");
    let within = Duration::from_secs(5);
    // Other tests may publish on these shared channels: wait for ours.
    loop {
        let m = tokio::time::timeout(within, workers.next())
            .await
            .expect("in time")
            .expect("open");
        if m == worker {
            break;
        }
    }
    loop {
        let m = tokio::time::timeout(within, alerts.next())
            .await
            .expect("in time")
            .expect("open");
        if m == alert {
            break;
        }
    }
    let raw = serde_json::to_value(&alert).expect("json");
    assert_eq!(raw["type"], alert.kind.as_str());
    assert_eq!(raw["severity"], "critical");
}

// ---------------------------------------------------------------- orphans

#[tokio::test]
async fn orphaned_keys_get_their_familys_ttl_and_queues_keep_none() {
    let mut c = conn().await;
    let ttl = TtlConfig::default();
    let id = uuid::Uuid::new_v4();
    let lock = keys::lock("orphan", &id.to_string());
    // The per-organization slot sets of earlier versions, left behind by an upgrade.
    let slots = format!("scrx:concurrent:{id}");
    let queue = format!("scrx:{{queue:orphan-{id}}}:wait");
    let kept = keys::session(&format!("kept-{id}"));
    let () = c.set(&lock, "x").await.expect("set");
    let _: u64 = c.zadd(&slots, "job", 1).await.expect("zadd");
    let _: u64 = c.zadd(&queue, "job", 1).await.expect("zadd");
    let () = c.set_ex(&kept, "x", 10).await.expect("set");

    let report = repair_orphans(&c, &ttl, 1000).await.expect("repair");
    assert!(report.repaired >= 2 && report.scanned >= 4, "{report:?}");
    let lock_ttl: i64 = c.ttl(&lock).await.expect("ttl");
    assert!(
        lock_ttl > 0 && lock_ttl <= 30,
        "a lock gets the lock TTL, not an hour: {lock_ttl}"
    );
    let slots_ttl: i64 = c.ttl(&slots).await.expect("ttl");
    assert!(slots_ttl > 30 && slots_ttl <= 3_600, "{slots_ttl}");
    assert_eq!(
        c.ttl::<_, i64>(&queue).await.expect("ttl"),
        -1,
        "queues never expire"
    );
    assert!(
        c.ttl::<_, i64>(&kept).await.expect("ttl") <= 10,
        "an existing TTL is kept"
    );
    assert_eq!(ttl_for_key(&queue, &ttl), None);
    let _: u64 = c.del(&queue).await.expect("cleanup");
}
