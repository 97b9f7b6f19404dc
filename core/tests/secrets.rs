//! Secrets at rest: webhook secrets and proxy credentials sealed, bound to their row, and
//! the values written before binding brought to it by the start-up re-seal; the bound on
//! webhooks per organization.

mod common;

use std::time::Duration;

use aes_gcm::{
    Aes256Gcm, Key, Nonce,
    aead::{Aead, KeyInit},
};
use common::org;
use scraperx_core::{
    Error,
    domain::{JobId, OrgId, ProxyTier, WebhookId},
    pg::{Db, MAX_WEBHOOKS_PER_ORG, NewJob, NewProxyProvider, WebhookSettings},
    secrets::{Binding, SecretBox},
};
use sqlx::PgPool;

const KEY: [u8; 32] = [9u8; 32];

fn hook(name: &str) -> WebhookSettings {
    WebhookSettings {
        name: Some(name.into()),
        url: Some("https://hooks.example/x".into()),
        ..WebhookSettings::default()
    }
}

fn provider<'a>(name: &'a str) -> NewProxyProvider<'a> {
    NewProxyProvider {
        name,
        tier: ProxyTier::Residential,
        endpoint: "http://proxy.example:8000",
        countries: vec![],
        username: Some("user"),
        password: Some("hunter22"),
        priority: 5,
        username_template: None,
    }
}

async fn submitted(db: &Db, org: OrgId, job: &NewJob) -> JobId {
    db.submit_job(org, None, job)
        .await
        .expect("submitted")
        .job()
        .id
}

async fn sealed_secret(pool: &PgPool, id: WebhookId) -> Vec<u8> {
    sqlx::query_scalar("SELECT secret_sealed FROM webhooks WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .expect("sealed")
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_sealed_secret_copied_to_another_row_does_not_open_there(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let seal = SecretBox::new(&KEY);
    let o = org(&db, "swap", 10).await;
    let (a, secret_a) = db.create_webhook(o.id, &hook("a"), &seal).await.expect("a");
    let (b, _) = db.create_webhook(o.id, &hook("b"), &seal).await.expect("b");
    let target = |id| {
        let db = db.clone();
        async move { db.webhook_target(id).await.expect("read").expect("target") }
    };
    assert_eq!(
        target(a.id).await.signing_secrets(&seal).expect("opens"),
        [secret_a]
    );
    // An attacker with write access to the table copies A's sealed secret into B.
    sqlx::query("UPDATE webhooks SET secret_sealed = $2 WHERE id = $1")
        .bind(b.id)
        .bind(sealed_secret(&pool, a.id).await)
        .execute(&pool)
        .await
        .expect("copy");
    let err = target(b.id)
        .await
        .signing_secrets(&seal)
        .expect_err("bound to A");
    assert!(matches!(err, Error::Corrupt(_)), "{err:?}");

    // Proxy credentials alike.
    let p1 = db
        .create_proxy_provider(&provider("p1"), &seal)
        .await
        .expect("p1");
    let p2 = db
        .create_proxy_provider(&provider("p2"), &seal)
        .await
        .expect("p2");
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT auth_credentials_encrypted FROM proxy_providers WHERE id = $1")
            .bind(p1)
            .fetch_one(&pool)
            .await
            .expect("sealed");
    assert!(seal.open(&stored, &Binding::proxy_provider(p1)).is_ok());
    assert!(seal.open(&stored, &Binding::proxy_provider(p2)).is_err());
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn values_written_before_binding_are_sealed_bound_at_start_up(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let seal = SecretBox::new(&KEY);
    let o = org(&db, "legacy", 10).await;
    // A webhook from before sealing: its secret in plaintext.
    let legacy: WebhookId = sqlx::query_scalar(
        "INSERT INTO webhooks (organization_id, name, url, secret) \
         VALUES ($1, 'old', 'https://hooks.example/x', 'whsec_legacy') RETURNING id",
    )
    .bind(o.id)
    .fetch_one(&pool)
    .await
    .expect("legacy webhook");
    // Proxy credentials sealed before binding: nonce, then AES-256-GCM without associated data.
    let p = db
        .create_proxy_provider(&provider("old"), &seal)
        .await
        .expect("proxy");
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&KEY));
    let nonce = [3u8; 12];
    let mut unbound = nonce.to_vec();
    unbound.extend(
        cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                br#"{"username":"u","password":"p"}"#.as_ref(),
            )
            .expect("encrypt"),
    );
    sqlx::query("UPDATE proxy_providers SET auth_credentials_encrypted = $2 WHERE id = $1")
        .bind(p)
        .bind(&unbound)
        .execute(&pool)
        .await
        .expect("legacy proxy");
    assert!(seal.open(&unbound, &Binding::proxy_provider(p)).is_err());

    let report = db.reseal_secrets(&seal).await.expect("reseal");
    assert_eq!((report.webhooks, report.proxy_providers), (1, 1));
    let plaintext: Option<String> = sqlx::query_scalar("SELECT secret FROM webhooks WHERE id = $1")
        .bind(legacy)
        .fetch_one(&pool)
        .await
        .expect("row");
    assert!(plaintext.is_none(), "no plaintext left");
    let target = db
        .webhook_target(legacy)
        .await
        .expect("read")
        .expect("target");
    assert_eq!(
        target.signing_secrets(&seal).expect("opens"),
        ["whsec_legacy"]
    );
    let resealed: Vec<u8> =
        sqlx::query_scalar("SELECT auth_credentials_encrypted FROM proxy_providers WHERE id = $1")
            .bind(p)
            .fetch_one(&pool)
            .await
            .expect("sealed");
    assert_eq!(
        seal.open(&resealed, &Binding::proxy_provider(p))
            .expect("bound now"),
        br#"{"username":"u","password":"p"}"#
    );
    let again = db.reseal_secrets(&seal).await.expect("reseal again");
    assert_eq!(
        (again.webhooks, again.proxy_providers),
        (0, 0),
        "idempotent"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_rotated_out_secret_signs_until_its_overlap_ends(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let seal = SecretBox::new(&KEY);
    let o = org(&db, "rotate", 10).await;
    let (h, first) = db
        .create_webhook(o.id, &hook("r"), &seal)
        .await
        .expect("hook");
    let (_, second) = db
        .rotate_webhook_secret(o.id, h.id, Duration::from_secs(60), &seal)
        .await
        .expect("rotate");
    let secrets = |db: Db| async move {
        db.webhook_target(h.id)
            .await
            .expect("read")
            .expect("target")
            .signing_secrets(&SecretBox::new(&KEY))
            .expect("open")
    };
    assert_eq!(secrets(db.clone()).await, [second.clone(), first]);
    sqlx::query("UPDATE webhooks SET previous_secret_expires_at = NOW() - INTERVAL '1 second'")
        .execute(&pool)
        .await
        .expect("expire");
    assert_eq!(secrets(db.clone()).await, [second]);
    let other = org(&db, "other", 10).await;
    let err = db
        .rotate_webhook_secret(other.id, h.id, Duration::ZERO, &seal)
        .await
        .expect_err("not theirs");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_organization_has_at_most_the_bound_of_webhooks(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let seal = SecretBox::new(&KEY);
    let o = org(&db, "bounded", 10).await;
    let created = futures::future::join_all((0..MAX_WEBHOOKS_PER_ORG + 5).map(|i| {
        let (db, seal) = (db.clone(), seal.clone());
        async move {
            db.create_webhook(o.id, &hook(&format!("h{i}")), &seal)
                .await
        }
    }))
    .await;
    let ok = created.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        ok as i64, MAX_WEBHOOKS_PER_ORG,
        "concurrent creations stop at the bound"
    );
    assert!(
        created
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| matches!(
                e,
                Error::LimitReached {
                    what: "webhooks",
                    ..
                }
            ))
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_jobs_own_webhook_secret_is_sealed_to_its_row_and_refused_without_a_key(pool: PgPool) {
    let db = Db::from_pool(pool.clone()).with_secrets(Some(SecretBox::new(&KEY)));
    let o = org(&db, "job-secret", 10).await;
    let mut job = NewJob::get("https://example.com/");
    job.webhook_url = Some("https://hooks.example/job".into());
    job.webhook_secret = Some("per-job-secret-123".into());
    let id = submitted(&db, o.id, &job).await;
    let (plain, sealed): (Option<String>, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT webhook_secret, webhook_secret_sealed FROM scrape_jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!(plain, None, "never in the clear");
    let sealed = sealed.expect("sealed");
    assert!(!sealed.windows(6).any(|w| w == b"secret"));
    assert_eq!(
        db.job_webhook_secret(id).await.expect("opens").as_deref(),
        Some("per-job-secret-123")
    );
    // Bound to its row: the value does not open as another job's.
    let other = submitted(&db, o.id, &NewJob::get("https://example.com/b")).await;
    sqlx::query("UPDATE scrape_jobs SET webhook_secret_sealed = $2 WHERE id = $1")
        .bind(other)
        .bind(&sealed)
        .execute(&pool)
        .await
        .expect("copied");
    assert!(db.job_webhook_secret(other).await.is_err());

    let keyless = Db::from_pool(pool);
    let refused = keyless
        .submit_job(o.id, None, &job)
        .await
        .expect_err("no key to seal it");
    assert!(
        matches!(refused, Error::SecretsUnavailable(_)),
        "{refused:?}"
    );
    assert!(matches!(
        keyless.job_webhook_secret(id).await,
        Err(Error::SecretsUnavailable(_))
    ));
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn plaintext_job_secrets_written_before_sealing_are_sealed_at_start_up(pool: PgPool) {
    let seal = SecretBox::new(&KEY);
    let db = Db::from_pool(pool.clone()).with_secrets(Some(seal.clone()));
    let o = org(&db, "old-job-secret", 10).await;
    let mut job = NewJob::get("https://example.com/");
    job.webhook_url = Some("https://hooks.example/job".into());
    let id = submitted(&db, o.id, &job).await;
    // As an earlier version stored it.
    sqlx::query("UPDATE scrape_jobs SET webhook_secret = 'legacy-secret-456' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .expect("plaintext");
    assert_eq!(
        db.job_webhook_secret(id).await.expect("read").as_deref(),
        Some("legacy-secret-456")
    );
    let report = db.reseal_secrets(&seal).await.expect("resealed");
    assert_eq!(report.jobs, 1);
    assert_eq!(db.reseal_secrets(&seal).await.expect("again").jobs, 0);
    let plain: Option<String> =
        sqlx::query_scalar("SELECT webhook_secret FROM scrape_jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(plain, None);
    assert_eq!(
        db.job_webhook_secret(id).await.expect("opens").as_deref(),
        Some("legacy-secret-456")
    );
}
