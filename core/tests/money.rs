//! Money paths: every way a job ends charges exactly the price of what ran, never less,
//! and never for a result the customer does not get.

mod common;

use common::{balance, org};
use scraperx_core::{
    Error,
    domain::{Engine, JobId, JobOptions, JobStatus, OrgId, ProxyTier, pricing},
    pg::{Db, Job, NewJob, NewJobResult, StatusChange},
};
use sqlx::PgPool;

/// A job submitted for `org` and moved to running, as a worker would.
async fn running(db: &Db, org: OrgId, engine: Engine, options: JobOptions) -> Job {
    let mut new = NewJob::get("https://example.com/");
    new.engine = engine;
    new.options = options;
    let job = db
        .submit_job(org, None, &new)
        .await
        .expect("submit")
        .into_job();
    db.transition_job(job.id, &StatusChange::to(JobStatus::Queued))
        .await
        .expect("queue");
    db.transition_job(job.id, &StatusChange::to(JobStatus::Running))
        .await
        .expect("run")
}

fn page() -> NewJobResult {
    NewJobResult {
        status_code: Some(200),
        content_inline: Some("<html><title>t</title></html>".into()),
        final_url: Some("https://example.com/".into()),
        ..Default::default()
    }
}

async fn complete(db: &Db, id: JobId, result: &NewJobResult, ran: Engine) -> Job {
    db.complete_job(id, &StatusChange::to(JobStatus::Completed), result, ran)
        .await
        .expect("complete")
        .0
}

fn price(options: &JobOptions, engine: Engine, captcha_solved: bool) -> i64 {
    pricing::step_price(
        ProxyTier::Datacenter,
        options,
        pricing::Run {
            engine,
            captcha_solved,
        },
    )
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_auto_job_whose_options_need_a_browser_reserves_and_pays_the_browser_price(
    pool: PgPool,
) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "auto-shot", 100).await;
    let options = JobOptions {
        render_js: true,
        screenshot: true,
        ..JobOptions::default()
    };
    let job = running(&db, o.id, Engine::Auto, options).await;
    assert_eq!(
        job.credits_estimated, 7,
        "the browser price, as engine: browser"
    );
    let done = complete(&db, job.id, &page(), Engine::Browser).await;
    assert_eq!(done.credits_charged, 7);
    assert_eq!(balance(&pool, o.id).await, 93);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn an_auto_render_job_escalates_only_with_the_credits_for_it_and_pays_in_full(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let options = JobOptions {
        render_js: true,
        ..JobOptions::default()
    };
    let stealth = price(&options, Engine::Stealth, false);
    // Exactly the browser price: the escalation to stealth is refused, not run at a loss.
    let o = org(&db, "auto-poor", 5).await;
    let job = running(&db, o.id, Engine::Auto, options.clone()).await;
    assert_eq!((job.credits_estimated, balance(&pool, o.id).await), (5, 0));
    assert!(!db.reserve_up_to(job.id, stealth).await.expect("reserve"));
    let done = complete(&db, job.id, &page(), Engine::Browser).await;
    assert_eq!((done.credits_charged, balance(&pool, o.id).await), (5, 0));

    // With the credits, the escalation is reserved first and charged in full.
    let o = org(&db, "auto-rich", 12).await;
    let job = running(&db, o.id, Engine::Auto, options).await;
    assert!(db.reserve_up_to(job.id, stealth).await.expect("reserve"));
    assert!(
        db.reserve_up_to(job.id, stealth).await.expect("again"),
        "reserving the same step twice takes nothing more"
    );
    assert_eq!(balance(&pool, o.id).await, 2);
    let done = complete(&db, job.id, &page(), Engine::Stealth).await;
    assert_eq!((done.credits_charged, balance(&pool, o.id).await), (10, 2));
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_cancel_that_lands_after_the_fetch_withholds_the_result_and_charges_nothing(
    pool: PgPool,
) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "late-cancel", 20).await;
    let job = running(&db, o.id, Engine::Browser, JobOptions::default()).await;
    // The page was fetched and stored; the cancel lands before the completion.
    db.cancel_job(o.id, job.id).await.expect("cancel");
    let mut result = page();
    result.content_minio_bucket = Some("scraperx-content".into());
    result.content_minio_key = Some(format!("{}/page.html", job.id));
    let err = db
        .complete_job(
            job.id,
            &StatusChange::to(JobStatus::Completed),
            &result,
            Engine::Browser,
        )
        .await
        .expect_err("the cancel landed first");
    assert!(
        matches!(
            err,
            Error::InvalidTransition {
                from: JobStatus::Canceled,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        db.get_result(o.id, job.id).await.is_err(),
        "no result is served for a canceled job"
    );
    let queued: Vec<String> =
        sqlx::query_scalar("SELECT object_key FROM object_deletions WHERE reason = 'job_canceled'")
            .fetch_all(&pool)
            .await
            .expect("outbox");
    assert_eq!(queued, [format!("{}/page.html", job.id)], "its objects go");
    let job = db.get_job(o.id, job.id).await.expect("job");
    assert_eq!(
        (
            job.status,
            job.credits_charged,
            job.credits_settled_at.is_some()
        ),
        (JobStatus::Canceled, 0, true)
    );
    assert_eq!(balance(&pool, o.id).await, 20);

    // The other order: completed first, the cancel is refused and the result is paid for.
    let job = running(&db, o.id, Engine::Browser, JobOptions::default()).await;
    complete(&db, job.id, &page(), Engine::Browser).await;
    let refused = db.cancel_job(o.id, job.id).await.expect_err("too late");
    assert!(
        matches!(refused, Error::InvalidTransition { .. }),
        "{refused:?}"
    );
    assert!(db.get_result(o.id, job.id).await.is_ok());
    assert_eq!(balance(&pool, o.id).await, 15);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_solved_captcha_is_charged_at_its_price_and_only_with_credits_reserved_for_it(
    pool: PgPool,
) {
    let db = Db::from_pool(pool.clone());
    let options = JobOptions::default();
    let with_solve = price(&options, Engine::Browser, true);
    assert_eq!(with_solve, 5 + pricing::CAPTCHA_SOLVE_CREDITS);
    let o = org(&db, "captcha", with_solve).await;
    let job = running(&db, o.id, Engine::Browser, options.clone()).await;
    assert!(db.reserve_up_to(job.id, with_solve).await.expect("reserve"));
    assert_eq!(balance(&pool, o.id).await, 0);
    let mut solved = page();
    solved.captcha_encountered = true;
    solved.captcha_solved = true;
    let done = complete(&db, job.id, &solved, Engine::Browser).await;
    assert_eq!(done.credits_charged, with_solve);
    assert_eq!(balance(&pool, o.id).await, 0);

    // No credits for the solve: nothing reserved, so the solver is not asked.
    let o = org(&db, "captcha-poor", 5).await;
    let job = running(&db, o.id, Engine::Browser, options.clone()).await;
    assert!(!db.reserve_up_to(job.id, with_solve).await.expect("reserve"));
    assert_eq!(balance(&pool, o.id).await, 0);
    // A solve reserved but not achieved is refunded.
    let o = org(&db, "captcha-failed", with_solve).await;
    let job = running(&db, o.id, Engine::Browser, options).await;
    assert!(db.reserve_up_to(job.id, with_solve).await.expect("reserve"));
    let mut failed = page();
    failed.captcha_encountered = true;
    let done = complete(&db, job.id, &failed, Engine::Browser).await;
    assert_eq!(done.credits_charged, 5);
    assert_eq!(balance(&pool, o.id).await, pricing::CAPTCHA_SOLVE_CREDITS);
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn the_schema_s_price_function_reserves_what_core_reserves(pool: PgPool) {
    let mut option_sets = Vec::new();
    for render_js in [false, true] {
        for screenshot in [false, true] {
            for pdf in [false, true] {
                for wait_for in [None, Some("#app".to_owned())] {
                    option_sets.push(JobOptions {
                        render_js,
                        screenshot,
                        pdf,
                        wait_for,
                        ..JobOptions::default()
                    });
                }
            }
        }
    }
    option_sets.push(JobOptions {
        wait_until: scraperx_core::domain::WaitUntil::NetworkIdle0,
        ..JobOptions::default()
    });
    for engine in [Engine::Auto, Engine::Http, Engine::Browser, Engine::Stealth] {
        for tier in [
            ProxyTier::Datacenter,
            ProxyTier::Residential,
            ProxyTier::Mobile,
            ProxyTier::Isp,
        ] {
            for options in &option_sets {
                let sql: i64 = sqlx::query_scalar("SELECT calculate_job_credits($1, $2, $3)")
                    .bind(engine)
                    .bind(tier)
                    .bind(serde_json::to_value(options).expect("options"))
                    .fetch_one(&pool)
                    .await
                    .expect("price");
                assert_eq!(
                    sql,
                    pricing::reservation(engine, tier, options),
                    "{engine} {tier} {options:?}"
                );
            }
        }
    }
}
