//! The http engine and the job lifecycle, against pages served here on loopback.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    http::{StatusCode, header},
    response::{IntoResponse, Redirect},
    routing::get,
};
use common::{Harness, serve};
use scraperx_core::{
    config::{RedisConfig, S3Config},
    content::{Bucket, ContentStore},
    domain::{ExtractRule, JobStatus},
    pg::NewJob,
};
use scraperx_worker::WorkerConfig;
use sqlx::PgPool;

const PAGE: &str = r#"<html><head><title>Catalog</title></head><body>
<main><h1>Products</h1><p class="price">9.99</p><a href="/item/1">one</a><img src="/i.png"></main></body></html>"#;

fn site(hits: Arc<AtomicUsize>) -> Router {
    let flaky_hits = hits.clone();
    Router::new()
        .route("/page", get(gzipped_page))
        .route(
            "/r1",
            get(|| async {
                (
                    [(header::SET_COOKIE, "visited=r1; Path=/; HttpOnly")],
                    Redirect::temporary("/r2"),
                )
            }),
        )
        .route("/r2", get(|| async { Redirect::to("/page") }))
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route(
            "/flaky",
            get(move || {
                let n = flaky_hits.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()
                    } else {
                        ([(header::CONTENT_TYPE, "text/html")], PAGE).into_response()
                    }
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(4)).await;
                ([(header::CONTENT_TYPE, "text/html")], PAGE)
            }),
        )
        .route(
            "/huge",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html")],
                    "x".repeat(3 * 1024 * 1024),
                )
            }),
        )
        .route(
            "/big",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html")],
                    format!("<html><body>{}</body></html>", "<p>row</p>".repeat(20_000)),
                )
            }),
        )
        .route(
            "/challenge",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html><head><title>Just a moment...</title></head><body>\
                     <div id=\"cf-browser-verification\">Checking your browser</div></body></html>",
                )
            }),
        )
        .route(
            "/gone",
            get(|| async { (StatusCode::NOT_FOUND, "no such page") }),
        )
        .route(
            "/file.bin",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/octet-stream")],
                    binary(),
                )
            }),
        )
}

/// The page, gzip-compressed when the client accepts it.
async fn gzipped_page(headers: axum::http::HeaderMap) -> axum::response::Response {
    use std::io::Write;
    let accepts = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    if !accepts {
        return ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(PAGE.as_bytes()).expect("gzip");
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_ENCODING, "gzip"),
        ],
        gz.finish().expect("gzip"),
    )
        .into_response()
}

fn binary() -> Vec<u8> {
    (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn job(url: String) -> NewJob {
    let mut j = NewJob::get(&url);
    j.engine = scraperx_core::domain::Engine::Http;
    j
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_http_job_completes_with_redirects_extraction_timings_and_one_charge(pool: PgPool) {
    let h = Harness::new(pool).await;
    let addr = serve(site(Arc::default())).await;
    let org = h.org(10).await;
    let mut new = job(format!("http://{addr}/r1"));
    new.options.extract = Some(
        [(
            "price".to_owned(),
            ExtractRule {
                selector: ".price".into(),
                attribute: None,
                all: false,
            },
        )]
        .into(),
    );
    new.options.markdown = true;
    let id = h.submit(&org, new).await;
    let (stop, handle) = h.start(h.config());
    let done = h.completed(id, Duration::from_secs(10)).await;
    let result = h.db.get_result(org.id, id).await.expect("result");
    assert_eq!(result.status_code, Some(200));
    assert_eq!(
        result.final_url.as_deref(),
        Some(format!("http://{addr}/page").as_str())
    );
    assert_eq!(result.redirect_count, Some(2));
    assert_eq!(result.content_inline.as_deref(), Some(PAGE));
    assert_eq!(result.extracted_title.as_deref(), Some("Catalog"));
    assert_eq!(
        result.extracted_data.as_ref().map(|d| d.0["price"].clone()),
        Some(serde_json::json!("9.99"))
    );
    assert_eq!(
        result.extracted_links.as_ref().map(|l| l.0.clone()),
        Some(serde_json::json!([format!("http://{addr}/item/1")]))
    );
    assert!(
        result
            .extracted_markdown
            .as_deref()
            .is_some_and(|m| m.contains("# Products"))
    );
    assert!(result.total_time_ms.is_some_and(|t| t >= 0));
    let (ttfb, status_text, encoding, cookies): (
        Option<i32>,
        Option<String>,
        Option<String>,
        Option<serde_json::Value>,
    ) = sqlx::query_as(
        "SELECT ttfb_ms, status_text, content_encoding, cookies FROM job_results WHERE job_id = $1",
    )
    .bind(id)
    .fetch_one(h.db.pool())
    .await
    .expect("result columns");
    assert!(ttfb.is_some());
    let counters = scraperx_core::hot::metrics::Metrics::new(
        h.redis.clone(),
        scraperx_core::hot::TtlConfig::default(),
    );
    let minute = scraperx_core::hot::metrics::epoch_minute(chrono::Utc::now());
    let mut counted = 0;
    for m in [minute - 1, minute] {
        counted += counters
            .outcomes_in_minute(m)
            .await
            .expect("outcomes")
            .success;
    }
    assert!(counted >= 1, "the finished job was counted");
    assert_eq!(status_text.as_deref(), Some("OK"));
    assert_eq!(
        encoding.as_deref(),
        Some("gzip"),
        "served compressed, stored decoded"
    );
    let cookies = cookies.expect("cookies");
    assert_eq!(cookies[0]["name"], "visited", "{cookies}");
    assert_eq!(cookies[0]["http_only"], true, "{cookies}");
    let events = h.event_types(&org, id).await;
    for expected in [
        "job.created",
        "job.queued",
        "job.started",
        "job.engine_selected",
        "job.request_sent",
        "job.response_received",
        "job.content_extracted",
        "job.completed",
    ] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} missing from {events:?}"
        );
    }
    assert_eq!((done.credits_charged, h.balance(&org).await), (1, 9));
    stop.send(true).expect("stop");
    handle.await.expect("worker");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_idle_worker_with_wake_ups_starts_a_new_job_long_before_its_next_poll(pool: PgPool) {
    let h = Harness::new(pool).await;
    let addr = serve(site(Arc::default())).await;
    let org = h.org(10).await;
    let config = WorkerConfig {
        // Without a wake-up, the job would wait for this poll.
        idle_poll: Duration::from_secs(30),
        ..h.config()
    };
    let worker = h
        .worker(config)
        .with_wake_ups(RedisConfig::from_env().expect("redis config"));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(async move { worker.run(rx).await });
    // Every slot has looked once and is idle, and the subscriptions are made.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let id = h.submit(&org, job(format!("http://{addr}/page"))).await;
    h.completed(id, Duration::from_secs(10)).await;
    stop.send(true).expect("stop");
    handle.await.expect("worker");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn server_errors_are_retried_with_backoff_until_they_succeed(pool: PgPool) {
    let h = Harness::new(pool).await;
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = serve(site(hits.clone())).await;
    let org = h.org(10).await;
    let id = h.submit(&org, job(format!("http://{addr}/flaky"))).await;
    let (_stop, _handle) = h.start(h.config());
    let done = h.completed(id, Duration::from_secs(10)).await;
    assert_eq!((done.attempts, hits.load(Ordering::SeqCst)), (3, 3));
    let events = h.event_types(&org, id).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "job.retry_scheduled")
            .count(),
        2,
        "{events:?}"
    );
    assert_eq!(h.balance(&org).await, 9, "charged once");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn permanent_failures_fail_at_once_and_are_refunded(pool: PgPool) {
    let h = Harness::new(pool).await;
    let addr = serve(site(Arc::default())).await;
    let org = h.org(10).await;
    let mut config = h.config();
    config.max_response_bytes = 1024 * 1024;
    let huge = h.submit(&org, job(format!("http://{addr}/huge"))).await;
    let looping = h.submit(&org, job(format!("http://{addr}/loop"))).await;
    let gone = h.submit(&org, job(format!("http://{addr}/gone"))).await;
    let (_stop, _handle) = h.start(config);
    let huge = h.finished(huge, Duration::from_secs(10)).await;
    assert_eq!(
        (huge.status, huge.error_code.as_deref(), huge.attempts),
        (JobStatus::Failed, Some("response_too_large"), 1)
    );
    let looping = h.finished(looping, Duration::from_secs(10)).await;
    assert_eq!(looping.error_code.as_deref(), Some("too_many_redirects"));
    // A 404 is the page's answer, not a failure of the scrape.
    let gone = h.finished(gone, Duration::from_secs(10)).await;
    assert_eq!(gone.status, JobStatus::Completed);
    assert_eq!(
        h.db.get_result(org.id, gone.id)
            .await
            .expect("result")
            .status_code,
        Some(404)
    );
    assert_eq!(h.balance(&org).await, 9, "failures are refunded");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn private_targets_are_refused_on_the_connection_itself(pool: PgPool) {
    let h = Harness::new(pool).await;
    let addr = serve(site(Arc::default())).await;
    let org = h.org(10).await;
    let mut config = h.config();
    config.allow_private_targets = false;
    // A name that resolves to loopback, and a literal.
    let by_name = h
        .submit(&org, job(format!("http://localhost:{}/page", addr.port())))
        .await;
    let literal = h.submit(&org, job(format!("http://{addr}/page"))).await;
    let (_stop, _handle) = h.start(config);
    for id in [by_name, literal] {
        let done = h.finished(id, Duration::from_secs(10)).await;
        assert_eq!(
            (done.status, done.error_code.as_deref()),
            (JobStatus::Failed, Some("blocked_target")),
            "{:?}",
            done.error_message
        );
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn large_content_goes_to_minio_and_small_stays_inline(pool: PgPool) {
    let h = Harness::new(pool).await;
    let addr = serve(site(Arc::default())).await;
    let org = h.org(10).await;
    let mut config = h.config();
    config.inline_limit = 64 * 1024;
    let big = h.submit(&org, job(format!("http://{addr}/big"))).await;
    let (_stop, _handle) = h.start(config);
    h.completed(big, Duration::from_secs(10)).await;
    let result = h.db.get_result(org.id, big).await.expect("result");
    assert!(result.content_inline.is_none());
    let key = result.content_minio_key.expect("stored in MinIO");
    let api = ContentStore::new(&S3Config::from_env_for_role("API").expect("s3"));
    let back = api.get(Bucket::Content, &key).await.expect("object");
    assert_eq!(
        back.bytes.len() as i64,
        result.content_length.expect("length")
    );
    assert_eq!(back.content_hash, result.content_hash);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_slow_page_past_the_job_timeout_ends_as_timeout(pool: PgPool) {
    let h = Harness::new(pool).await;
    let addr = serve(site(Arc::default())).await;
    let org = h.org(10).await;
    let mut new = job(format!("http://{addr}/slow"));
    new.options.timeout = 1_000;
    new.max_attempts = 1;
    let id = h.submit(&org, new).await;
    let (_stop, _handle) = h.start(h.config());
    let done = h.finished(id, Duration::from_secs(10)).await;
    assert_eq!(
        (done.status, done.error_code.as_deref()),
        (JobStatus::Timeout, Some("timeout"))
    );
    assert_eq!(h.balance(&org).await, 10);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_cancel_is_honoured_mid_flight(pool: PgPool) {
    let h = Harness::new(pool).await;
    let addr = serve(site(Arc::default())).await;
    let org = h.org(10).await;
    let id = h.submit(&org, job(format!("http://{addr}/slow"))).await;
    let (_stop, _handle) = h.start(h.config());
    h.running(id).await;
    h.db.cancel_job(org.id, id).await.expect("cancel");
    let started = std::time::Instant::now();
    let done = h.finished(id, Duration::from_secs(10)).await;
    assert_eq!(done.status, JobStatus::Canceled);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let depth = h
        .queue(scraperx_core::queue::QueueName::Http)
        .depth()
        .await
        .expect("depth");
    assert_eq!(
        depth.total(),
        0,
        "the lease was acknowledged, not left to expire"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(h.balance(&org).await, 10);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_worker_killed_mid_job_loses_nothing_and_the_job_is_charged_once(pool: PgPool) {
    let h = Harness::new(pool).await;
    let addr = serve(site(Arc::default())).await;
    let org = h.org(10).await;
    let id = h.submit(&org, job(format!("http://{addr}/slow"))).await;
    let mut config = h.config();
    config.lease = Duration::from_millis(600);
    config.concurrency = 1;
    let (_stop_a, victim) = h.start(config.clone());
    h.running(id).await;
    // As SIGKILL: the task vanishes mid-fetch, holding the lease, with no clean-up.
    victim.abort();
    let _ = victim.await;
    let (_stop_b, _rescuer) = h.start(config);
    let done = h.completed(id, Duration::from_secs(20)).await;
    assert_eq!(done.attempts, 2);
    let events = h.event_types(&org, id).await;
    assert_eq!(events.iter().filter(|e| *e == "job.completed").count(), 1);
    assert_eq!(h.balance(&org).await, 9, "charged once");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn binary_responses_go_to_object_storage_untouched(pool: PgPool) {
    let h = Harness::new(pool).await;
    let addr = serve(site(Arc::default())).await;
    let org = h.org(10).await;
    let id = h.submit(&org, job(format!("http://{addr}/file.bin"))).await;
    let (_stop, _handle) = h.start(h.config());
    h.completed(id, Duration::from_secs(10)).await;
    let result = h.db.get_result(org.id, id).await.expect("result");
    assert!(
        result.content_inline.is_none() && result.extracted_title.is_none(),
        "{:?} {:?} {:?}",
        result.content_type,
        result.extracted_title,
        result.content_inline.as_ref().map(String::len)
    );
    assert_eq!(
        result.content_type.as_deref(),
        Some("application/octet-stream")
    );
    let key = result.content_minio_key.expect("in MinIO");
    assert!(key.ends_with("/content.bin"), "{key}");
    let api = ContentStore::new(&S3Config::from_env_for_role("API").expect("s3"));
    let back = api.get(Bucket::Content, &key).await.expect("object");
    assert_eq!(back.bytes.as_ref(), binary().as_slice());
}

#[tokio::test]
async fn a_new_connection_is_timed_and_a_reused_one_is_not() {
    use scraperx_worker::fetch::{FetchRequest, http::HttpFetcher};
    let addr = serve(site(Arc::default())).await;
    let fetcher = HttpFetcher::new("test", true, 1 << 20, &[]).expect("fetcher");
    let request = FetchRequest {
        url: format!("http://{addr}/page").parse().expect("url"),
        method: scraperx_core::domain::HttpMethod::Get,
        headers: Default::default(),
        body: None,
        timeout: Duration::from_secs(5),
    };
    let first = fetcher.fetch(&request).await.expect("first");
    let t = first.timings;
    assert!(
        t.connect_ms.is_some() && t.ttfb_ms.is_some() && t.download_ms.is_some(),
        "{t:?}"
    );
    assert!(t.total_ms >= t.connect_ms.unwrap_or(0));
    let again = fetcher.fetch(&request).await.expect("second");
    assert_eq!(
        again.timings.connect_ms, None,
        "the pooled connection was reused"
    );
}

/// A TLS server for `localhost` under a CA of its own, answering every request on a
/// connection with `body`; returns its port, the CA's PEM, and the ALPN it negotiated.
async fn tls_site(body: &'static str) -> (u16, String, Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("leaf params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf");
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).expect("key");
    let mut config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key)
    .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let negotiated = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = negotiated.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let alpn = tls.get_ref().1.alpn_protocol().unwrap_or_default().to_vec();
                seen.lock().expect("lock").push(alpn);
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    let Ok(n) = tls.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                    if head.windows(4).any(|w| w == b"\r\n\r\n") {
                        head.clear();
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if tls.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (port, ca.pem(), negotiated)
}

#[tokio::test]
async fn tls_is_timed_apart_from_tcp_and_trusts_the_deployments_ca() {
    use scraperx_worker::fetch::{FetchRequest, http::HttpFetcher, tls::read_roots};
    let (port, ca_pem, negotiated) = tls_site("<title>over tls</title>").await;
    let request = FetchRequest {
        url: format!("https://localhost:{port}/page")
            .parse()
            .expect("url"),
        method: scraperx_core::domain::HttpMethod::Get,
        headers: Default::default(),
        body: None,
        timeout: Duration::from_secs(5),
    };
    // Without the CA, the certificate is refused.
    let untrusting = HttpFetcher::new("test", true, 1 << 20, &[]).expect("fetcher");
    let refused = untrusting
        .fetch(&request)
        .await
        .expect_err("unknown issuer");
    assert!(
        matches!(refused, scraperx_worker::error::FetchError::Network(_)),
        "{refused:?}"
    );

    let dir = std::env::temp_dir().join(format!("scrx-ca-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("write ca");
    let roots = read_roots(&ca_file).expect("roots");
    let _ = std::fs::remove_dir_all(&dir);
    let fetcher = HttpFetcher::new("test", true, 1 << 20, &roots).expect("fetcher");
    let page = fetcher.fetch(&request).await.expect("fetched over TLS");
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("over tls"));
    let t = page.timings;
    assert!(
        t.dns_ms.is_some() && t.connect_ms.is_some() && t.tls_ms.is_some(),
        "DNS, TCP and TLS each measured: {t:?}"
    );
    let parts = t.dns_ms.unwrap_or(0)
        + t.connect_ms.unwrap_or(0)
        + t.tls_ms.unwrap_or(0)
        + t.ttfb_ms.unwrap_or(0)
        + t.download_ms.unwrap_or(0);
    assert!(parts <= t.total_ms + 1, "the parts fit in the total: {t:?}");
    assert_eq!(
        negotiated.lock().expect("lock").last().map(Vec::as_slice),
        Some(b"http/1.1".as_slice()),
        "ALPN was offered"
    );

    let again = fetcher.fetch(&request).await.expect("second");
    assert_eq!(
        (again.timings.connect_ms, again.timings.tls_ms),
        (None, None),
        "the pooled TLS connection was reused"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_job_that_lost_its_worker_on_every_attempt_fails_and_is_refunded(pool: PgPool) {
    use scraperx_core::{pg::StatusChange, queue::QueueName};
    let h = Harness::new(pool).await;
    let addr = serve(site(Arc::default())).await;
    let org = h.org(10).await;
    let mut job = NewJob::get(&format!("http://{addr}/page"));
    job.engine = scraperx_core::domain::Engine::Http;
    job.max_attempts = 1;
    let id = h.submit(&org, job).await;
    // Its one attempt: a worker takes it and dies (the lease is never acknowledged).
    h.queue(QueueName::Http)
        .dequeue(Duration::from_millis(300))
        .await
        .expect("dequeue")
        .expect("the job");
    h.db.transition_job(id, &StatusChange::to(JobStatus::Running).worker("dead"))
        .await
        .expect("running");
    assert_eq!(h.balance(&org).await, 9);

    let (_stop, _w) = h.start(h.config());
    let done = h.finished(id, Duration::from_secs(10)).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.error_code.as_deref(), Some("worker_lost"));
    assert_eq!(done.attempts, 1, "not run again");
    assert_eq!(h.balance(&org).await, 10, "refunded");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_challenge_page_served_as_a_503_is_recognised_not_retried(pool: PgPool) {
    let h = Harness::new(pool).await;
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = serve(site(hits)).await;
    let org = h.org(10).await;
    let id = h
        .submit(&org, job(format!("http://{addr}/challenge")))
        .await;
    let (_stop, _w) = h.start(h.config());
    let done = h.finished(id, Duration::from_secs(10)).await;
    // An http-only job cannot get past it: the challenge page is its result, marked so.
    assert_eq!(
        done.status,
        JobStatus::Completed,
        "{:?}",
        done.error_message
    );
    assert_eq!(
        done.attempts, 1,
        "a challenge is not retried like an outage"
    );
    let (status, protection, score): (Option<i32>, Option<String>, Option<f64>) = sqlx::query_as(
        "SELECT status_code, protection_detected, detection_score::float8 FROM job_results WHERE job_id = $1",
    )
    .bind(id)
    .fetch_one(h.db.pool())
    .await
    .expect("result");
    assert_eq!(status, Some(503));
    assert_eq!(protection.as_deref(), Some("cloudflare"));
    assert!(score.is_some_and(|s| s >= 0.9), "{score:?}");
}
