//! Throughput and latency of the Redis and MinIO tiers against the real services
//! (`eval "$(scripts/services.sh env)"; cargo bench -p scraperx-core --bench storage`).
//! Prints figures; asserts nothing about speed.

#[path = "support/measure.rs"]
mod measure;
use measure::measure;

use std::{collections::BTreeMap, time::Duration};

use bytes::Bytes;
use chrono::Utc;
use scraperx_core::{
    config::{RedisConfig, S3Config},
    content::{Bucket, ContentStore, JobRef, ensure_buckets},
    domain::{Engine, HttpMethod, JobId, JobOptions, OrgId, RequestHeaders},
    hot::{
        self, TtlConfig,
        cache::{CacheClass, CacheRequest, CachedResponse, ResponseCache},
        rate_limit::{Limit, RateLimiter, Scope, Window},
    },
    queue::JobQueue,
};

#[tokio::main]
async fn main() {
    let conn = hot::connect(&RedisConfig::from_env().expect("redis config"))
        .await
        .expect("redis");
    let ttl = TtlConfig::default();

    let limiter = RateLimiter::new(conn.clone(), ttl);
    let org = OrgId::from(uuid::Uuid::new_v4());
    let limits = [
        Limit {
            scope: Scope::Organization,
            window: Window::Second,
            max: 1_000_000,
        },
        Limit {
            scope: Scope::Organization,
            window: Window::Minute,
            max: 1_000_000,
        },
    ];
    measure(
        "rate limit: sliding window, 2 windows",
        20_000,
        32,
        move |_| {
            let limiter = limiter.clone();
            async move {
                limiter.check(org, &limits).await.expect("check");
            }
        },
    )
    .await;

    let cache = ResponseCache::new(conn.clone(), ttl);
    let headers = RequestHeaders::default();
    let options = JobOptions::default();
    let url = format!("https://bench.example/{}", uuid::Uuid::new_v4());
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
    let page = CachedResponse {
        status_code: 200,
        final_url: url.clone(),
        headers: BTreeMap::new(),
        content_type: Some("text/html".into()),
        body: Some("<p>cached row</p>".repeat(3_000)),
        object: None,
        content_hash: "0".into(),
        extracted: None,
        cached_at: Utc::now().timestamp_millis(),
    };
    let stored = cache
        .put(&key, &page, CacheClass::Default)
        .await
        .expect("put");
    println!("cache: a 51 KB page is stored in {stored} bytes (gzip)");
    measure(
        "cache: get (51 KB page, gunzip, decode)",
        5_000,
        16,
        move |_| {
            let (cache, key) = (cache.clone(), key.clone());
            async move {
                cache.get(&key, None).await.expect("get").expect("hit");
            }
        },
    )
    .await;

    let queue = JobQueue::named(
        conn.clone(),
        &format!("bench-{}", uuid::Uuid::new_v4().simple()),
    );
    let q = queue.clone();
    measure("queue: enqueue", 10_000, 16, move |i| {
        let q = q.clone();
        async move {
            q.enqueue(
                &format!("job-{i}"),
                "{}",
                (i % 10 + 1) as u8,
                Duration::ZERO,
            )
            .await
            .expect("enqueue");
        }
    })
    .await;
    let q = queue.clone();
    measure("queue: dequeue + ack", 10_000, 16, move |_| {
        let q = q.clone();
        async move {
            let lease = q
                .dequeue(Duration::from_secs(30))
                .await
                .expect("dequeue")
                .expect("job");
            q.ack(&lease).await.expect("ack");
        }
    })
    .await;

    let admin = ContentStore::new(&S3Config::from_env_for_role("ADMIN").expect("s3"));
    ensure_buckets(admin.client()).await.expect("buckets");
    let worker = ContentStore::new(&S3Config::from_env_for_role("WORKER").expect("s3"));
    let html = Bytes::from("<div class=\"row\"><a href=\"/x\">item</a></div>\n".repeat(2_000));
    let org = OrgId::from(uuid::Uuid::new_v4());
    let w = worker.clone();
    let h = html.clone();
    measure(
        "minio: store 92 KB html (hash + gzip + put)",
        400,
        8,
        move |_| {
            let (w, h) = (w.clone(), h.clone());
            async move {
                let job = JobRef {
                    org,
                    job: JobId::from(uuid::Uuid::new_v4()),
                    created_at: Utc::now(),
                };
                w.store_content(job, h, "text/html").await.expect("store");
            }
        },
    )
    .await;
    let job = JobRef {
        org,
        job: JobId::from(uuid::Uuid::new_v4()),
        created_at: Utc::now(),
    };
    let stored = worker
        .store_content(job, html, "text/html")
        .await
        .expect("store");
    println!("minio: 92 KB html stored as {} bytes", stored.size);
    let w = worker.clone();
    measure(
        "minio: get 92 KB html (get + gunzip + verify)",
        400,
        8,
        move |_| {
            let (w, key) = (w.clone(), stored.key.clone());
            async move {
                w.get(Bucket::Content, &key).await.expect("get");
            }
        },
    )
    .await;
    let api = ContentStore::new(&S3Config::from_env_for_role("API").expect("s3"));
    let deleted = api
        .delete_prefix(Bucket::Content, &format!("{org}/"))
        .await
        .expect("cleanup");
    println!("cleanup: {deleted} objects deleted");
}
