//! Webhook delivery: signed, retried, failures counted, and disabled past the threshold.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use common::{Harness, secrets, serve};
use scraperx_core::pg::MAX_CONCURRENT_DELIVERIES_PER_ORG;
use scraperx_core::pg::{NewJob, WebhookSettings};
use scraperx_worker::webhooks::{SIGNATURE_HEADER, sign};
use sqlx::PgPool;

/// The signature header and raw body of one call.
type Call = (Option<String>, Vec<u8>);

#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<Mutex<Vec<Call>>>,
    /// Answer 500 this many times first.
    fail_first: Arc<Mutex<usize>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let sig = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    r.calls.lock().expect("lock").push((sig, body.to_vec()));
    let mut left = r.fail_first.lock().expect("lock");
    if *left > 0 {
        *left -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

async fn setup(fail_first: usize) -> (Receiver, String) {
    let r = Receiver::default();
    *r.fail_first.lock().expect("lock") = fail_first;
    let addr = serve(
        Router::new()
            .route("/hook", post(receive))
            .route("/page", get(|| async { "<html><title>t</title></html>" }))
            .with_state(r.clone()),
    )
    .await;
    (r, format!("http://{addr}"))
}

fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let t: i64 = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    sign(secret, t, body) == header && (chrono::Utc::now().timestamp() - t).abs() < 300
}

async fn wait_for_calls(r: &Receiver, n: usize) -> Vec<Call> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let calls = r.calls.lock().expect("lock").clone();
        if calls.len() >= n {
            return calls;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} calls",
            calls.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_finished_job_is_announced_signed_and_retried_until_delivered(pool: PgPool) {
    let h = Harness::new(pool).await;
    let (receiver, base) = setup(2).await;
    let org = h.org(10).await;
    let (hook, secret) =
        h.db.create_webhook(
            org.id,
            &WebhookSettings {
                name: Some("ci".into()),
                url: Some(format!("{base}/hook")),
                events: Some(vec!["job.completed".into()]),
                ..WebhookSettings::default()
            },
            &secrets(),
        )
        .await
        .expect("webhook");
    let id = h.submit(&org, NewJob::get(&format!("{base}/page"))).await;
    let (_stop, _w) = h.start(h.config());
    let calls = wait_for_calls(&receiver, 3).await;
    for (sig, body) in &calls {
        let sig = sig.as_deref().expect("signed");
        assert!(
            verify(&secret, sig, body),
            "signature {sig} does not verify"
        );
    }
    let body: serde_json::Value = serde_json::from_slice(&calls[2].1).expect("json");
    assert_eq!(body["type"], "job.completed");
    assert_eq!(body["data"]["job"]["id"], id.to_string());
    assert_eq!(body["data"]["job"]["status"], "completed");
    assert_eq!(calls[0].1, calls[2].1, "a retry sends the same event");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let listed = h.db.list_webhooks(org.id).await.expect("list");
    let state = listed.iter().find(|w| w.id == hook.id).expect("hook");
    assert_eq!(
        state.consecutive_failures, 0,
        "the success ended the streak"
    );
    assert!(state.last_success_at.is_some() && state.last_failure_at.is_some());
    // The job's timeline tells the delivery's story: queued, failed twice, sent.
    let webhook_events: Vec<String> = h
        .event_types(&org, id)
        .await
        .into_iter()
        .filter(|e| e.starts_with("webhook."))
        .collect();
    assert_eq!(
        webhook_events,
        [
            "webhook.queued",
            "webhook.failed",
            "webhook.failed",
            "webhook.sent"
        ]
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn failing_endpoints_are_given_up_on_and_disabled_past_the_threshold(pool: PgPool) {
    let h = Harness::new(pool.clone()).await;
    let (receiver, base) = setup(usize::MAX).await;
    let org = h.org(10).await;
    let settings = |name: &str| WebhookSettings {
        name: Some(name.into()),
        url: Some(format!("{base}/hook")),
        events: Some(vec!["job.completed".into()]),
        retry_count: Some(1),
        ..WebhookSettings::default()
    };
    let (hook, _) =
        h.db.create_webhook(org.id, &settings("flaky"), &secrets())
            .await
            .expect("webhook");
    sqlx::query("UPDATE webhooks SET consecutive_failures = 18 WHERE id = $1")
        .bind(hook.id)
        .execute(&pool)
        .await
        .expect("streak");
    h.submit(&org, NewJob::get(&format!("{base}/page"))).await;
    let (_stop, _w) = h.start(h.config());
    // One try and one retry, then the 20th failure in a row switches it off.
    wait_for_calls(&receiver, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.calls.lock().expect("lock").len(),
        2,
        "no more than retry_count retries"
    );
    let state = h.db.list_webhooks(org.id).await.expect("list").remove(0);
    assert_eq!((state.consecutive_failures, state.is_active), (20, false));
    // A disabled webhook gets nothing.
    h.submit(&org, NewJob::get(&format!("{base}/page"))).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.calls.lock().expect("lock").len(), 2);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_jobs_own_webhook_url_is_signed_with_its_secret(pool: PgPool) {
    let h = Harness::new(pool).await;
    let (receiver, base) = setup(0).await;
    let org = h.org(10).await;
    let mut job = NewJob::get(&format!("{base}/page"));
    job.webhook_url = Some(format!("{base}/hook"));
    job.webhook_secret = Some("per-job-secret-123".into());
    h.submit(&org, job).await;
    let (_stop, _w) = h.start(h.config());
    let calls = wait_for_calls(&receiver, 1).await;
    let (sig, body) = &calls[0];
    assert!(verify(
        "per-job-secret-123",
        sig.as_deref().expect("signed"),
        body
    ));
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_job_finished_by_a_worker_that_died_before_announcing_it_is_still_announced(
    pool: PgPool,
) {
    use scraperx_core::{
        domain::{Engine, JobStatus},
        pg::StatusChange,
        queue::QueueName,
    };
    let h = Harness::new(pool).await;
    let (receiver, base) = setup(0).await;
    let org = h.org(10).await;
    let mut job = NewJob::get(&format!("{base}/page"));
    job.engine = Engine::Http;
    job.webhook_url = Some(format!("{base}/hook"));
    job.webhook_secret = Some("per-job-secret-123".into());
    let id = h.submit(&org, job).await;
    // A worker takes the job, finishes it in Postgres, and dies before announcing it or
    // acknowledging its lease.
    let lease = h
        .queue(QueueName::Http)
        .dequeue(Duration::from_millis(300))
        .await
        .expect("dequeue")
        .expect("the job");
    assert!(lease.payload.contains(&id.to_string()));
    h.db.transition_job(id, &StatusChange::to(JobStatus::Running).worker("dead"))
        .await
        .expect("running");
    h.db.finish_job(
        id,
        &StatusChange::to(JobStatus::Completed).worker("dead"),
        1,
    )
    .await
    .expect("finished");

    // The lease lapses, another worker gets the entry and announces the job.
    let (_stop, _w) = h.start(h.config());
    let calls = wait_for_calls(&receiver, 1).await;
    let body: serde_json::Value = serde_json::from_slice(&calls[0].1).expect("json");
    assert_eq!(body["type"], "job.completed", "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.calls.lock().expect("lock").len(),
        1,
        "announced once"
    );
    // Delivered again (another crash, a sweep): announced already, so not again.
    let job = h.db.get_job_unscoped(id).await.expect("job");
    scraperx_core::dispatch::requeue(&h.db, &h.queues(), &[job])
        .await
        .expect("requeue");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        receiver.calls.lock().expect("lock").len(),
        1,
        "a second delivery of the entry sends nothing"
    );
    assert_eq!(h.balance(&org).await, 9, "charged once");
}

/// A receiver that answers after `delay`, counting calls and the most in flight at once.
#[derive(Clone, Default)]
struct SlowReceiver {
    calls: Arc<Mutex<Vec<Call>>>,
    in_flight: Arc<Mutex<(usize, usize)>>,
    delay: Duration,
}

async fn receive_slowly(
    State(r): State<SlowReceiver>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    {
        let mut f = r.in_flight.lock().expect("lock");
        f.0 += 1;
        f.1 = f.1.max(f.0);
    }
    tokio::time::sleep(r.delay).await;
    let sig = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    r.calls.lock().expect("lock").push((sig, body.to_vec()));
    r.in_flight.lock().expect("lock").0 -= 1;
    StatusCode::NO_CONTENT
}

async fn slow_setup(delay: Duration) -> (SlowReceiver, String) {
    let r = SlowReceiver {
        delay,
        ..SlowReceiver::default()
    };
    let addr = serve(
        Router::new()
            .route("/hook", post(receive_slowly))
            .route("/page", get(|| async { "<html><title>t</title></html>" }))
            .with_state(r.clone()),
    )
    .await;
    (r, format!("http://{addr}"))
}

fn hook_settings(base: &str, name: &str) -> WebhookSettings {
    WebhookSettings {
        name: Some(name.into()),
        url: Some(format!("{base}/hook")),
        events: Some(vec!["job.completed".into()]),
        timeout_ms: Some(10_000),
        ..WebhookSettings::default()
    }
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_delivery_slower_than_its_lease_is_sent_once(pool: PgPool) {
    let h = Harness::new(pool).await;
    let (receiver, base) = slow_setup(Duration::from_secs(3)).await;
    let org = h.org(10).await;
    h.db.create_webhook(org.id, &hook_settings(&base, "slow"), &secrets())
        .await
        .expect("webhook");
    let id = h.submit(&org, NewJob::get(&format!("{base}/page"))).await;
    // A one-second lease, four slots: without extension the delivery would be re-leased
    // twice while the endpoint takes three seconds.
    let mut config = h.config();
    config.lease = Duration::from_secs(1);
    config.concurrency = 4;
    let (_stop, _w) = h.start(config);
    wait_for_calls_in(&receiver.calls, 1, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(receiver.calls.lock().expect("lock").len(), 1, "sent once");
    assert_eq!(receiver.in_flight.lock().expect("lock").1, 1);
    let sent = h
        .event_types(&org, id)
        .await
        .into_iter()
        .filter(|e| e == "webhook.sent")
        .count();
    assert_eq!(sent, 1);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_organization_s_deliveries_in_flight_are_bounded_and_all_arrive(pool: PgPool) {
    let h = Harness::new(pool).await;
    let (receiver, base) = slow_setup(Duration::from_millis(600)).await;
    let org = h.org(10).await;
    let hooks = MAX_CONCURRENT_DELIVERIES_PER_ORG as usize + 4;
    for i in 0..hooks {
        h.db.create_webhook(org.id, &hook_settings(&base, &format!("h{i}")), &secrets())
            .await
            .expect("webhook");
    }
    h.submit(&org, NewJob::get(&format!("{base}/page"))).await;
    let mut config = h.config();
    config.concurrency = hooks + 4;
    let (_stop, _w) = h.start(config);
    wait_for_calls_in(&receiver.calls, hooks, Duration::from_secs(20)).await;
    let most = receiver.in_flight.lock().expect("lock").1;
    println!(
        "deliveries in flight at most: {most} of {hooks} (bound {MAX_CONCURRENT_DELIVERIES_PER_ORG})"
    );
    assert!(
        most <= MAX_CONCURRENT_DELIVERIES_PER_ORG as usize,
        "{most} in flight"
    );
    assert_eq!(
        receiver.calls.lock().expect("lock").len(),
        hooks,
        "every one, once"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn during_a_rotation_deliveries_verify_with_the_new_and_the_old_secret(pool: PgPool) {
    let h = Harness::new(pool).await;
    let (receiver, base) = setup(0).await;
    let org = h.org(10).await;
    let (hook, old) =
        h.db.create_webhook(org.id, &hook_settings(&base, "rotating"), &secrets())
            .await
            .expect("webhook");
    let (rotated, new) =
        h.db.rotate_webhook_secret(org.id, hook.id, Duration::from_secs(3600), &secrets())
            .await
            .expect("rotate");
    assert_ne!(old, new);
    assert!(rotated.previous_secret_expires_at.is_some());
    h.submit(&org, NewJob::get(&format!("{base}/page"))).await;
    let (_stop, _w) = h.start(h.config());
    let calls = wait_for_calls(&receiver, 1).await;
    let (sig, body) = &calls[0];
    let sig = sig.as_deref().expect("signed");
    let t: i64 = sig
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .and_then(|t| t.parse().ok())
        .expect("t");
    let v1 = |secret: &str| sign(secret, t, body).split(',').nth(1).map(str::to_owned);
    let entries: Vec<&str> = sig.split(',').skip(1).collect();
    assert_eq!(
        entries,
        [v1(&new).expect("new"), v1(&old).expect("old")],
        "new first, then old"
    );

    // Rotated again with no overlap: only the newest signs.
    let (_, newest) =
        h.db.rotate_webhook_secret(org.id, hook.id, Duration::ZERO, &secrets())
            .await
            .expect("rotate");
    h.submit(&org, NewJob::get(&format!("{base}/page"))).await;
    let calls = wait_for_calls(&receiver, 2).await;
    let (sig, body) = &calls[1];
    assert!(verify(&newest, sig.as_deref().expect("signed"), body));
}

async fn wait_for_calls_in(calls: &Arc<Mutex<Vec<Call>>>, n: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while calls.lock().expect("lock").len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "fewer than {n} calls"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
