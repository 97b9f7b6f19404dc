//! Crawls in Postgres: the frontier holds a URL once whatever its form, takes no page past
//! the limit, submits breadth first under the concurrency cap, survives a crash between any
//! two steps without a page getting two jobs, and stops cleanly when credits run out.

mod common;

use common::org;
use scraperx_core::{
    config::RedisConfig,
    crawl::{self, Repair},
    dispatch::QueueSet,
    domain::{
        CrawlId, JobStatus,
        crawl::{
            CrawlOptions, CrawlReason, CrawlStatus, PageSource, PageState, SkipReason, normalize,
        },
    },
    hot,
    pg::{Db, NewCrawl, NewPage, PageTemplate, StatusChange},
};
use sqlx::PgPool;
use url::Url;

async fn queues() -> QueueSet {
    let redis = hot::connect(&RedisConfig::from_env().expect("redis config"))
        .await
        .expect("redis");
    QueueSet::new(redis, &format!("t{}-", uuid::Uuid::new_v4().simple()))
}

fn new_crawl(options: CrawlOptions) -> NewCrawl {
    NewCrawl {
        url: "https://site.test/".into(),
        options,
        page: PageTemplate::default(),
        webhook_url: None,
        webhook_secret: None,
    }
}

fn page(url: &str, depth: i32) -> NewPage {
    let key = normalize(&Url::parse(url).expect("url"), false).expect("key");
    NewPage {
        url: url.into(),
        key: key.into(),
        depth,
        source: PageSource::Link,
        skip: None,
    }
}

/// The jobs of the crawl's submitted pages, completed as a worker would (without a result).
async fn complete_submitted(db: &Db, crawl: CrawlId) -> Vec<scraperx_core::domain::JobId> {
    let jobs: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT job_id FROM crawl_pages WHERE crawl_id = $1 AND state = 'submitted' ORDER BY id",
    )
    .bind(crawl)
    .fetch_all(db.pool())
    .await
    .expect("jobs");
    let mut done = Vec::new();
    for id in jobs {
        let id = scraperx_core::domain::JobId(id);
        for to in [JobStatus::Running, JobStatus::Completed] {
            let change = StatusChange::to(to).worker("w");
            db.transition_job(id, &change).await.expect("move");
        }
        done.push(id);
    }
    done
}

/// A crawl of `org` with default options whose start page ran and linked to `links`
/// pages (`https://site.test/<prefix>p<i>`), waiting.
async fn started_with_links(
    db: &Db,
    q: &QueueSet,
    org: scraperx_core::domain::OrgId,
    prefix: &str,
    links: usize,
) -> scraperx_core::pg::Crawl {
    let c = db
        .create_crawl(org, None, &new_crawl(CrawlOptions::default()))
        .await
        .expect("crawl");
    crawl::top_up(db, q, c.id).await.expect("start");
    let start = complete_submitted(db, c.id).await;
    let found: Vec<NewPage> = (0..links)
        .map(|i| page(&format!("https://site.test/{prefix}p{i}"), 1))
        .collect();
    db.expand_page(c.id, start[0], &found)
        .await
        .expect("expand");
    c
}

async fn states(db: &Db, crawl: CrawlId) -> Vec<(String, String)> {
    sqlx::query_as("SELECT url_key, state FROM crawl_pages WHERE crawl_id = $1 ORDER BY id")
        .bind(crawl)
        .fetch_all(db.pool())
        .await
        .expect("pages")
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn the_database_admits_exactly_core_s_crawl_and_page_states(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let o = org(&db, "states", 100).await;
    let c = db
        .create_crawl(o.id, None, &new_crawl(CrawlOptions::default()))
        .await
        .expect("crawl");
    for &s in CrawlStatus::ALL {
        let fin = if s.is_terminal() { "NOW()" } else { "NULL" };
        sqlx::query(&format!(
            "UPDATE crawls SET status = $2, finished_at = {fin} WHERE id = $1"
        ))
        .bind(c.id)
        .bind(s.as_str())
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    assert!(
        sqlx::query("UPDATE crawls SET status = 'done' WHERE id = $1")
            .bind(c.id)
            .execute(&pool)
            .await
            .is_err()
    );
    for &s in PageState::ALL {
        let reason = if s == PageState::Skipped {
            "'robots_txt'"
        } else {
            "NULL"
        };
        sqlx::query(&format!(
            "UPDATE crawl_pages SET state = $2, skip_reason = {reason} WHERE crawl_id = $1"
        ))
        .bind(c.id)
        .bind(s.as_str())
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    for &r in SkipReason::ALL {
        sqlx::query(
            "UPDATE crawl_pages SET state = 'skipped', skip_reason = $2 WHERE crawl_id = $1",
        )
        .bind(c.id)
        .bind(r.as_str())
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("{r}: {e}"));
    }
    for &r in CrawlReason::ALL {
        sqlx::query("UPDATE crawls SET status_reason = $2 WHERE id = $1")
            .bind(c.id)
            .bind(r.as_str())
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{r}: {e}"));
    }
    assert!(
        sqlx::query("UPDATE crawl_pages SET state = 'gone' WHERE crawl_id = $1")
            .bind(c.id)
            .execute(&pool)
            .await
            .is_err()
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_page_found_under_many_forms_enters_the_frontier_once_and_is_expanded_once(pool: PgPool) {
    let (db, q) = (Db::from_pool(pool), queues().await);
    let o = org(&db, "forms", 1_000).await;
    let c = db
        .create_crawl(o.id, None, &new_crawl(CrawlOptions::default()))
        .await
        .expect("crawl");
    crawl::top_up(&db, &q, c.id).await.expect("top up");
    let start = complete_submitted(&db, c.id).await;
    let found = [
        page("https://site.test/a", 1),
        page("https://SITE.test:443/a/", 1),
        page("https://site.test/a#x", 1),
        page("https://site.test/", 1),
        page("https://site.test/b", 1),
    ];
    assert_eq!(
        db.expand_page(c.id, start[0], &found)
            .await
            .expect("expand"),
        Some(2)
    );
    assert_eq!(
        db.expand_page(c.id, start[0], &found).await.expect("again"),
        None,
        "expanded once"
    );
    let keys: Vec<String> = states(&db, c.id)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        keys,
        [
            "https://site.test/",
            "https://site.test/a",
            "https://site.test/b"
        ]
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn pages_are_submitted_breadth_first_under_the_cap_and_up_to_the_limit(pool: PgPool) {
    let (db, q) = (Db::from_pool(pool), queues().await);
    let o = org(&db, "cap", 1_000).await;
    let options = CrawlOptions {
        max_concurrency: 3,
        limit: 6,
        ..CrawlOptions::default()
    };
    let c = db
        .create_crawl(o.id, None, &new_crawl(options))
        .await
        .expect("crawl");
    assert_eq!(
        crawl::top_up(&db, &q, c.id).await.expect("start").submitted,
        1
    );
    let start = complete_submitted(&db, c.id).await;
    let found: Vec<NewPage> = (0..10)
        .map(|i| page(&format!("https://site.test/p{i}"), 1))
        .collect();
    assert_eq!(
        db.expand_page(c.id, start[0], &found)
            .await
            .expect("expand"),
        Some(5),
        "limit 6 with the start page"
    );
    assert_eq!(
        crawl::top_up(&db, &q, c.id)
            .await
            .expect("top up")
            .submitted,
        3
    );
    assert_eq!(
        crawl::top_up(&db, &q, c.id).await.expect("full").submitted,
        0,
        "the cap holds"
    );
    let counts = db.frontier_counts(c.id).await.expect("counts");
    assert_eq!(
        (
            counts.discovered,
            counts.in_flight,
            counts.waiting,
            counts.done
        ),
        (6, 3, 2, 1)
    );
    let submitted: Vec<String> = states(&db, c.id)
        .await
        .into_iter()
        .filter(|(_, s)| s == "submitted")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        submitted,
        [
            "https://site.test/p0",
            "https://site.test/p1",
            "https://site.test/p2"
        ]
    );
    // Each submitted page's job is queued, in the crawl's batch.
    let queued: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM scrape_jobs WHERE batch_id = $1 AND status = 'queued'",
    )
    .bind(c.id.as_uuid())
    .fetch_one(db.pool())
    .await
    .expect("count");
    assert_eq!(queued, 3);
    // The rest run as pages finish; then the crawl completes at its limit.
    for _ in 0..3 {
        for job in complete_submitted(&db, c.id).await {
            db.expand_page(c.id, job, &[]).await.expect("expand");
        }
        crawl::top_up(&db, &q, c.id).await.expect("top up");
    }
    let c = db.get_crawl_unscoped(c.id).await.expect("crawl");
    assert_eq!(
        (c.status, c.status_reason),
        (CrawlStatus::Completed, Some(CrawlReason::LimitReached))
    );
    assert!(c.finished_at.is_some());
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_page_whose_job_creation_was_interrupted_gets_exactly_one_job(pool: PgPool) {
    let (db, q) = (Db::from_pool(pool), queues().await);
    let o = org(&db, "crash", 1_000).await;
    let c = db
        .create_crawl(o.id, None, &new_crawl(CrawlOptions::default()))
        .await
        .expect("crawl");
    // Claimed, then the process died before creating the job.
    let claimed = db.claim_pages(c.id).await.expect("claim").expect("crawl");
    assert_eq!(claimed.pages.len(), 1);
    let r = scraperx_core::pg::Recovery {
        crawl_id: c.id,
        page_id: claimed.pages[0].0,
        url: claimed.pages[0].1.clone(),
        job_id: None,
        job_status: None,
    };
    assert_eq!(
        crawl::recover(&db, &q, &r).await.expect("recover"),
        Repair::Submitted
    );
    // Recovered twice (two sweeps, or a sweep racing a late original): still one job.
    assert_eq!(
        crawl::recover(&db, &q, &r).await.expect("again"),
        Repair::Submitted
    );
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scrape_jobs WHERE batch_id = $1")
        .bind(c.id.as_uuid())
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(jobs, 1);
    let status: String = sqlx::query_scalar("SELECT status FROM scrape_jobs WHERE batch_id = $1")
        .bind(c.id.as_uuid())
        .fetch_one(db.pool())
        .await
        .expect("status");
    assert_eq!(status, "queued");
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn a_crawl_spends_the_balance_page_by_page_then_stops_with_insufficient_credits(
    pool: PgPool,
) {
    let (db, q) = (Db::from_pool(pool), queues().await);
    let o = org(&db, "broke", 3).await;
    let c = started_with_links(&db, &q, o.id, "", 5).await;
    // Five pages are claimed; the 2 credits left pay for two of them, in frontier order.
    let top = crawl::top_up(&db, &q, c.id).await.expect("top up");
    assert_eq!((top.submitted, top.ended), (2, None));
    let counts = db.frontier_counts(c.id).await.expect("counts");
    assert_eq!((counts.waiting, counts.in_flight), (3, 2));
    assert_eq!(common::balance(db.pool(), o.id).await, 0);
    for job in complete_submitted(&db, c.id).await {
        db.expand_page(c.id, job, &[]).await.expect("expand");
    }

    let top = crawl::top_up(&db, &q, c.id).await.expect("top up");
    assert_eq!(top.ended, Some(CrawlStatus::Failed));
    let c = db.get_crawl_unscoped(c.id).await.expect("crawl");
    assert_eq!(c.status_reason, Some(CrawlReason::InsufficientCredits));
    let counts = db.frontier_counts(c.id).await.expect("counts");
    assert_eq!(
        (counts.waiting, counts.in_flight, counts.done),
        (3, 0, 3),
        "unpaid pages wait, none half-submitted"
    );
    assert_eq!(
        common::balance(db.pool(), o.id).await,
        0,
        "nothing reserved for pages not submitted"
    );
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn no_page_job_of_a_canceled_crawl_runs_whichever_of_top_up_and_cancel_wins(pool: PgPool) {
    let (db, q) = (Db::from_pool(pool), queues().await);
    let o = org(&db, "race", 100_000).await;
    let mut crawls = Vec::new();
    for round in 0..20 {
        let c = started_with_links(&db, &q, o.id, &format!("r{round}/"), 10).await;
        let (top, canceled) =
            tokio::join!(crawl::top_up(&db, &q, c.id), crawl::cancel(&db, &q, &c));
        top.expect("top up");
        canceled.expect("cancel");
        crawls.push(c.id);
    }
    let ids: Vec<uuid::Uuid> = crawls.iter().map(|c| c.as_uuid()).collect();
    let alive: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM scrape_jobs WHERE batch_id = ANY($1) \
         AND status IN ('pending', 'queued', 'running')",
    )
    .bind(&ids)
    .fetch_one(db.pool())
    .await
    .expect("count");
    assert_eq!(alive, 0, "a page job of a canceled crawl is left to run");
    // The start pages' entries stay queued (this test completed their jobs behind the
    // queue's back); no page job of a canceled crawl is left beside them.
    let queued: u64 = futures::future::join_all(q.jobs().map(|queue| queue.depth()))
        .await
        .into_iter()
        .map(|d| d.expect("depth").total())
        .sum();
    assert_eq!(queued, 20, "a canceled crawl's page job is left queued");
    assert_eq!(
        common::balance(db.pool(), o.id).await,
        100_000 - 20,
        "only the start pages, which ran, are charged"
    );
}
