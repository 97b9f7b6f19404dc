//! The MinIO content store against the real MinIO that scripts/services.sh starts, with the
//! admin, API and worker users it provisions.

use std::time::{Duration, Instant};

use aws_sdk_s3::types::BucketVersioningStatus;
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use scraperx_core::{
    Error,
    config::S3Config,
    content::{self, Bucket, ContentStore, ensure_buckets, job_prefix, store::JobRef},
    domain::{JobId, OrgId},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(role: &str) -> S3Config {
    S3Config::from_env_for_role(role).expect("S3 settings (eval \"$(scripts/services.sh env)\")")
}

async fn stores() -> (ContentStore, ContentStore, ContentStore) {
    let admin = ContentStore::new(&config("ADMIN"));
    ensure_buckets(admin.client()).await.expect("buckets");
    (
        admin,
        ContentStore::new(&config("API")),
        ContentStore::new(&config("WORKER")),
    )
}

fn job() -> JobRef {
    JobRef {
        org: OrgId::from(uuid::Uuid::new_v4()),
        job: JobId::from(uuid::Uuid::new_v4()),
        created_at: Utc
            .with_ymd_and_hms(2026, 3, 9, 12, 0, 0)
            .single()
            .expect("date"),
    }
}

async fn head(
    store: &ContentStore,
    key: &str,
) -> aws_sdk_s3::operation::head_object::HeadObjectOutput {
    store
        .client()
        .head_object()
        .bucket(Bucket::Content.name())
        .key(key)
        .send()
        .await
        .expect("head")
}

/// A plain HTTP/1.1 GET on loopback: status and body.
async fn http_get(url: &str) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_at(rest.find('/').expect("path"));
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, raw[split + 4..].to_vec())
}

#[tokio::test]
async fn buckets_are_created_once_with_lifecycle_and_versioning() {
    let admin = ContentStore::new(&config("ADMIN"));
    ensure_buckets(admin.client()).await.expect("first");
    let again = ensure_buckets(admin.client()).await.expect("second");
    assert_eq!(again.len(), 5);
    assert!(again.iter().all(|s| !s.created), "{again:?}");
    for setup in &again {
        let rules = admin
            .client()
            .get_bucket_lifecycle_configuration()
            .bucket(setup.bucket.name())
            .send()
            .await
            .expect("lifecycle");
        let days: Vec<i32> = rules
            .rules()
            .iter()
            .filter_map(|r| r.expiration().and_then(|e| e.days()))
            .collect();
        assert_eq!(
            days,
            vec![setup.bucket.expiration_days()],
            "{:?}",
            setup.bucket
        );
        let has_transition = rules.rules().iter().any(|r| !r.transitions().is_empty());
        assert_eq!(has_transition, setup.transition_applied, "{setup:?}");
    }
    let archives = again
        .iter()
        .find(|s| s.bucket == Bucket::Archives)
        .expect("archives");
    assert!(archives.versioned);
    let versioning = admin
        .client()
        .get_bucket_versioning()
        .bucket(Bucket::Archives.name())
        .send()
        .await
        .expect("versioning");
    assert_eq!(versioning.status(), Some(&BucketVersioningStatus::Enabled));
}

#[tokio::test]
async fn content_is_hashed_compressed_over_1kb_and_read_back_verbatim() {
    let (_, api, worker) = stores().await;
    let j = job();
    let page =
        Bytes::from("<html><body>".to_owned() + &"<p>scraped</p>".repeat(500) + "</body></html>");
    let stored = worker
        .store_content(j, page.clone(), "text/html; charset=utf-8")
        .await
        .expect("store");
    assert_eq!(
        stored.key,
        format!("{}/2026/03/09/{}/content.html", j.org, j.job)
    );
    assert!(
        stored.compressed && stored.size < stored.original_size / 10,
        "{stored:?}"
    );
    assert_eq!(stored.original_size, page.len() as u64);

    let head = head(&api, &stored.key).await;
    let meta = head.metadata().expect("metadata");
    assert_eq!(meta.get("content-hash"), Some(&stored.content_hash));
    assert_eq!(meta.get("original-size"), Some(&page.len().to_string()));
    assert_eq!(meta.get("compressed").map(String::as_str), Some("true"));
    assert_eq!(meta.get("job-id"), Some(&j.job.to_string()));
    assert_eq!(meta.get("org-id"), Some(&j.org.to_string()));

    let back = api.get(Bucket::Content, &stored.key).await.expect("get");
    assert_eq!(back.bytes, page);

    let small = worker
        .store_content(j, Bytes::from_static(b"{\"a\":1}"), "application/json")
        .await
        .expect("store");
    assert!(!small.compressed && small.key.ends_with("/content.json"));
    assert_eq!(
        api.get(Bucket::Content, &small.key)
            .await
            .expect("get")
            .bytes
            .as_ref(),
        b"{\"a\":1}"
    );
}

#[tokio::test]
async fn bytes_that_do_not_match_their_hash_are_reported_corrupt() {
    let (admin, api, worker) = stores().await;
    let j = job();
    let stored = worker
        .store_content(j, Bytes::from_static(b"original"), "text/plain")
        .await
        .expect("store");
    // Overwrite the body behind the store's back, keeping the recorded hash.
    let head = head(&admin, &stored.key).await;
    admin
        .client()
        .put_object()
        .bucket(Bucket::Content.name())
        .key(&stored.key)
        .set_metadata(head.metadata().cloned())
        .body(Bytes::from_static(b"tampered").into())
        .send()
        .await
        .expect("overwrite");
    let err = api
        .get(Bucket::Content, &stored.key)
        .await
        .expect_err("corrupt");
    assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
    let missing = api
        .get(
            Bucket::Content,
            &format!("{}nothing.html", job_prefix(j.org, j.job, j.created_at)),
        )
        .await;
    assert!(
        matches!(missing, Err(Error::NotFound { .. })),
        "{missing:?}"
    );
}

fn png(width: u32, height: u32) -> Bytes {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    Bytes::from(out.into_inner())
}

#[tokio::test]
async fn screenshots_get_thumbnails_and_pdfs_get_presigned_links_that_expire() {
    let (_, api, worker) = stores().await;
    let j = job();
    let shot = worker
        .store_screenshot(j, png(1280, 4000))
        .await
        .expect("screenshot");
    assert_eq!((shot.width, shot.height), (1280, 4000));
    assert!(
        shot.full.key.ends_with("/screenshot.png")
            && shot.thumbnail.key.ends_with("/screenshot_thumb.png")
    );
    let thumb = api
        .get(Bucket::Screenshots, &shot.thumbnail.key)
        .await
        .expect("thumb");
    let decoded = image::load_from_memory(&thumb.bytes).expect("thumbnail is a PNG");
    assert_eq!((decoded.width(), decoded.height()), (320, 200));
    let not_png = worker
        .store_screenshot(j, Bytes::from_static(b"<html>"))
        .await;
    assert!(
        matches!(not_png, Err(Error::Validation { .. })),
        "{not_png:?}"
    );

    let pdf = Bytes::from_static(b"%PDF-1.7\n%fake but bytes are bytes\n%%EOF\n");
    let stored = worker.store_pdf(j, pdf.clone()).await.expect("pdf");
    assert!(stored.key.ends_with("/page.pdf") && !stored.compressed);
    let url = api
        .presign_get(Bucket::Pdfs, &stored.key, Duration::from_secs(2))
        .await
        .expect("presign");
    assert_eq!(http_get(&url).await, (200, pdf.to_vec()));
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    assert_eq!(http_get(&url).await.0, 403, "expired link");
}

#[tokio::test]
async fn large_bodies_go_up_in_parts_and_come_back_whole() {
    let (_, api, _) = stores().await;
    let mut cfg = config("WORKER");
    cfg.multipart_threshold = 6 * 1024 * 1024;
    cfg.part_size = 5 * 1024 * 1024;
    let worker = ContentStore::new(&cfg);
    let body: Vec<u8> = (0..13 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let body = Bytes::from(body);
    let stored = worker
        .store_content(job(), body.clone(), "application/octet-stream")
        .await
        .expect("store");
    assert!(stored.multipart && !stored.compressed);
    let head = head(&api, &stored.key).await;
    assert!(
        head.e_tag().is_some_and(|t| t.ends_with("-3\"")),
        "three parts: {:?}",
        head.e_tag()
    );
    assert_eq!(
        api.get(Bucket::Content, &stored.key)
            .await
            .expect("get")
            .bytes,
        body
    );
}

#[tokio::test]
async fn deleting_a_job_removes_its_objects_in_every_bucket_and_nothing_else() {
    let (_, api, worker) = stores().await;
    let (j, other) = (job(), job());
    worker
        .store_content(j, Bytes::from_static(b"<p>a</p>"), "text/html")
        .await
        .expect("content");
    worker
        .store_screenshot(j, png(64, 64))
        .await
        .expect("screenshot");
    worker
        .store_pdf(j, Bytes::from_static(b"%PDF"))
        .await
        .expect("pdf");
    let kept = worker
        .store_content(other, Bytes::from_static(b"<p>b</p>"), "text/html")
        .await
        .expect("other");
    assert_eq!(
        api.delete_job(j.org, j.job, j.created_at)
            .await
            .expect("delete"),
        4
    );
    assert_eq!(
        api.delete_job(j.org, j.job, j.created_at)
            .await
            .expect("again"),
        0
    );
    assert!(api.get(Bucket::Content, &kept.key).await.is_ok());
}

#[tokio::test]
async fn each_role_may_do_only_its_part() {
    let (_, api, worker) = stores().await;
    let j = job();
    let stored = worker
        .store_content(j, Bytes::from_static(b"<p>x</p>"), "text/html")
        .await
        .expect("worker writes");
    let denied = worker.delete_job(j.org, j.job, j.created_at).await;
    assert!(
        matches!(denied, Err(Error::StorageDenied(_))),
        "worker may not list or delete: {denied:?}"
    );
    let denied = api
        .store_content(j, Bytes::from_static(b"<p>y</p>"), "text/html")
        .await;
    assert!(
        matches!(denied, Err(Error::StorageDenied(_))),
        "api may not write: {denied:?}"
    );
    assert!(
        worker.get(Bucket::Content, &stored.key).await.is_ok(),
        "worker reads back"
    );
    assert_eq!(
        api.delete_job(j.org, j.job, j.created_at)
            .await
            .expect("api deletes"),
        1
    );
}

#[tokio::test]
async fn an_unreachable_object_store_is_a_prompt_retryable_error() {
    let mut cfg = config("API");
    cfg.endpoint = "http://127.0.0.1:1".into();
    let store = ContentStore::new(&cfg);
    let started = Instant::now();
    let err = store
        .get(Bucket::Content, "x")
        .await
        .expect_err("nothing listens");
    assert!(
        matches!(err, Error::StorageUnavailable(_)) && err.is_retryable(),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(content::client(&cfg).list_buckets().send().await.is_err());
}

mod common;

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn objects_of_deleted_results_are_deleted_through_the_outbox(pool: sqlx::PgPool) {
    let db = scraperx_core::pg::Db::from_pool(pool.clone());
    let (admin, api, worker) = stores().await;
    let org = common::org(&db, "outbox", 100).await;
    let job_id = common::raw_job(&pool, org.id, "completed", "40 days").await;
    let j = JobRef {
        org: org.id,
        job: JobId::from(job_id),
        created_at: Utc::now(),
    };
    let content = worker
        .store_content(j, Bytes::from_static(b"<p>old</p>"), "text/html")
        .await
        .expect("content");
    let shot = worker
        .store_screenshot(j, png(32, 32))
        .await
        .expect("screenshot");
    let pdf = worker
        .store_pdf(j, Bytes::from_static(b"%PDF"))
        .await
        .expect("pdf");
    let action = worker
        .store_action_screenshot(j, 2, png(32, 32))
        .await
        .expect("action screenshot");
    let outputs = serde_json::json!({"screenshots": [{"step": 2, "key": action.full.key,
        "bytes": 1, "thumbnail_key": action.thumbnail.key}], "scrapes": [],
        "javascript_returns": []});
    sqlx::query(
        "INSERT INTO job_results (job_id, organization_id, content_storage_type, \
           content_minio_bucket, content_minio_key, screenshot_minio_bucket, screenshot_minio_key, \
           screenshot_thumbnail_key, pdf_minio_bucket, pdf_minio_key, action_outputs, created_at) \
         VALUES ($1, $2, 'minio', $3, $4, $5, $6, $7, $8, $9, $10, NOW() - interval '40 days')",
    )
    .bind(job_id)
    .bind(org.id)
    .bind(Bucket::Content.name())
    .bind(&content.key)
    .bind(Bucket::Screenshots.name())
    .bind(&shot.full.key)
    .bind(&shot.thumbnail.key)
    .bind(Bucket::Pdfs.name())
    .bind(&pdf.key)
    .bind(&outputs)
    .execute(&pool)
    .await
    .expect("result row");
    db.apply_retention().await.expect("retention");
    assert_eq!(
        db.pending_object_deletions(0, 100)
            .await
            .expect("pending")
            .len(),
        6,
        "content, screenshot, thumbnail, PDF, and the action's screenshot and thumbnail"
    );

    let report = content::drain_object_deletions(&db, &api, 3)
        .await
        .expect("drain");
    assert_eq!(
        (report.objects_deleted, report.pages, report.left_behind),
        (6, 2, 0)
    );
    assert!(
        db.pending_object_deletions(0, 100)
            .await
            .expect("pending")
            .is_empty()
    );
    for (bucket, key) in [
        (Bucket::Content, &content.key),
        (Bucket::Screenshots, &shot.thumbnail.key),
        (Bucket::Pdfs, &pdf.key),
        (Bucket::Screenshots, &action.full.key),
        (Bucket::Screenshots, &action.thumbnail.key),
    ] {
        let gone = admin.get(bucket, key).await;
        assert!(
            matches!(gone, Err(Error::NotFound { .. })),
            "{key}: {gone:?}"
        );
    }
}
