//! Dispatch and the re-enqueue sweep: Postgres is the truth, Redis a fast copy.

mod common;

use std::time::Duration;

use scraperx_core::{
    config::RedisConfig,
    dispatch::{QueueSet, dispatch, requeue_lost},
    hot,
    pg::{Db, NewJob},
};
use sqlx::PgPool;

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn jobs_postgres_holds_as_queued_but_redis_lost_are_put_back_once(pool: PgPool) {
    let db = Db::from_pool(pool);
    let org = common::org(&db, "sweep", 100).await;
    let redis = hot::connect(&RedisConfig::from_env()).await.expect("redis");
    let queues = QueueSet::new(redis, &format!("t{}-", uuid::Uuid::new_v4().simple()));
    let mut jobs: Vec<_> = db
        .submit_jobs(
            org.id,
            None,
            None,
            &[
                NewJob::get("https://a.test/1"),
                NewJob::get("https://a.test/2"),
            ],
        )
        .await
        .expect("submit")
        .into_iter()
        .map(|s| s.into_job())
        .collect();
    let mut refs: Vec<_> = jobs.iter_mut().collect();
    assert_eq!(
        dispatch(&db, &queues, &mut refs).await.expect("dispatch"),
        2
    );
    let http = queues.for_engine(scraperx_core::domain::Engine::Http);
    assert_eq!(http.depth().await.expect("depth").waiting, 2);

    // Redis loses one entry.
    let lost = http
        .dequeue(Duration::from_secs(30))
        .await
        .expect("dequeue")
        .expect("job");
    http.ack(&lost).await.expect("ack");
    assert_eq!(
        requeue_lost(&db, &queues, Duration::ZERO, 100)
            .await
            .expect("sweep"),
        1
    );
    assert_eq!(http.depth().await.expect("depth").waiting, 2);
    assert_eq!(
        requeue_lost(&db, &queues, Duration::ZERO, 100)
            .await
            .expect("sweep"),
        0,
        "nothing twice"
    );
    // Within the grace period nothing is touched (a dispatch may be in progress).
    let again = http
        .dequeue(Duration::from_secs(30))
        .await
        .expect("dequeue")
        .expect("job");
    http.ack(&again).await.expect("ack");
    assert_eq!(
        requeue_lost(&db, &queues, Duration::from_secs(60), 100)
            .await
            .expect("sweep"),
        0
    );
}
