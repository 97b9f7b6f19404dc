//! Proxy providers' health: failing providers are skipped, rested ones tried again, and a
//! success brings them back.

mod common;

use common::org;
use scraperx_core::{
    domain::ProxyTier,
    pg::{Db, NewJob, NewProxyProvider, ProxyUse, UNHEALTHY_AFTER},
    secrets::SecretBox,
};
use sqlx::PgPool;

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_failing_provider_rests_then_is_tried_again_and_recovers_on_success(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "proxied", 100).await;
    let job = db
        .submit_job(o.id, None, &NewJob::get("https://example.com/"))
        .await
        .expect("submit")
        .into_job();
    let provider = db
        .create_proxy_provider(
            &NewProxyProvider {
                name: "flaky",
                tier: ProxyTier::Residential,
                endpoint: "http://proxy.example:8000",
                countries: vec![],
                username: None,
                password: None,
                priority: 5,
                username_template: None,
            },
            &SecretBox::new(&[1u8; 32]),
        )
        .await
        .expect("provider");
    let used = |success: bool| ProxyUse {
        provider,
        job: job.id,
        org: o.id,
        tier: ProxyTier::Residential,
        country: None,
        bytes_in: 100,
        bytes_out: 10,
        success,
        response_ms: Some(50),
    };
    let picked = || db.pick_proxy(ProxyTier::Residential, None);
    for _ in 0..UNHEALTHY_AFTER {
        db.record_proxy_use(&used(false)).await.expect("use");
    }
    assert!(
        picked().await.expect("pick").is_none(),
        "skipped while it rests"
    );

    // Rested: one job tries it again; a failure starts the rest over.
    let rest = "UPDATE proxy_providers SET last_health_check_at = NOW() - interval '10 minutes' WHERE id = $1";
    sqlx::query(rest)
        .bind(provider)
        .execute(&pool)
        .await
        .expect("rest");
    assert_eq!(picked().await.expect("pick").map(|p| p.id), Some(provider));
    assert!(
        picked().await.expect("pick").is_none(),
        "one probe at a time: the next job does not get it too"
    );
    db.record_proxy_use(&used(false)).await.expect("use");
    assert!(
        picked().await.expect("pick").is_none(),
        "failed again: resting again"
    );

    sqlx::query(rest)
        .bind(provider)
        .execute(&pool)
        .await
        .expect("rest");
    assert!(picked().await.expect("pick").is_some());
    db.record_proxy_use(&used(true)).await.expect("use");
    let healthy: bool = sqlx::query_scalar("SELECT is_healthy FROM proxy_providers WHERE id = $1")
        .bind(provider)
        .fetch_one(&pool)
        .await
        .expect("health");
    assert!(healthy, "a success brings it back");
    assert!(picked().await.expect("pick").is_some());
}
