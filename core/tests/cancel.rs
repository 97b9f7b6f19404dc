//! Canceling: a batch's jobs are canceled and settled exactly as each canceled alone would
//! be, through the one cancel path.

mod common;

use common::{balance, org};
use scraperx_core::{
    domain::{BatchId, Engine, EventType, JobId, JobStatus, OrgId},
    pg::{Db, Job, NewJob, StatusChange},
};
use sqlx::PgPool;

/// The states a batch's jobs can be in when it is canceled.
const STATES: [&str; 6] = [
    "pending",
    "queued",
    "running",
    "queued again after a failed attempt",
    "completed",
    "failed",
];

/// A batch of browser jobs for `org`, one in each of [`STATES`], in that order.
async fn batch_in_every_state(db: &Db, org: OrgId) -> (BatchId, Vec<JobId>) {
    let batch = BatchId::new();
    let mut new = NewJob::get("https://example.com/");
    new.engine = Engine::Browser;
    let jobs: Vec<Job> = db
        .submit_jobs(org, None, Some(batch), &vec![new; STATES.len()])
        .await
        .expect("submit")
        .into_iter()
        .map(|s| s.into_job())
        .collect();
    let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
    let to = |status| StatusChange::to(status).worker("w-1");
    for &id in &ids[1..] {
        db.transition_job(id, &to(JobStatus::Queued))
            .await
            .expect("queued");
    }
    for &id in &ids[2..] {
        db.transition_job(id, &to(JobStatus::Running))
            .await
            .expect("running");
    }
    db.transition_job(ids[3], &to(JobStatus::Queued))
        .await
        .expect("retried");
    let completed = jobs[4].credits_estimated;
    db.finish_job(ids[4], &to(JobStatus::Completed), completed)
        .await
        .expect("completed");
    db.finish_job(
        ids[5],
        &to(JobStatus::Failed).error("blocked_target", "no"),
        0,
    )
    .await
    .expect("failed");
    (batch, ids)
}

/// What canceling may change of a job: its status and its money.
async fn money_and_status(db: &Db, id: JobId) -> (JobStatus, i64, bool) {
    let j = db.get_job_unscoped(id).await.expect("job");
    (j.status, j.credits_charged, j.credits_settled_at.is_some())
}

#[sqlx::test(migrator = "scraperx_core::pg::MIGRATOR")]
async fn canceling_a_batch_settles_each_job_as_canceling_it_alone_would(pool: PgPool) {
    let db = Db::from_pool(pool.clone());
    let (together, alone) = (
        org(&db, "together", 100).await,
        org(&db, "alone", 100).await,
    );
    let (batch, batch_jobs) = batch_in_every_state(&db, together.id).await;
    let (_, single_jobs) = batch_in_every_state(&db, alone.id).await;

    let canceled = db
        .cancel_batch(together.id, batch)
        .await
        .expect("cancel batch");
    let mut canceled_ids: Vec<JobId> = canceled.iter().map(|j| j.id).collect();
    canceled_ids.sort();
    let mut unfinished = batch_jobs[..4].to_vec();
    unfinished.sort();
    assert_eq!(canceled_ids, unfinished, "the unfinished jobs are canceled");
    for &id in &single_jobs {
        // A finished job refuses the cancel; the others are canceled.
        let _ = db.cancel_job(alone.id, id).await;
    }

    for (i, (&b, &s)) in batch_jobs.iter().zip(&single_jobs).enumerate() {
        assert_eq!(
            money_and_status(&db, b).await,
            money_and_status(&db, s).await,
            "the {} job",
            STATES[i]
        );
    }
    assert_eq!(
        balance(&pool, together.id).await,
        balance(&pool, alone.id).await
    );
    let running = money_and_status(&db, batch_jobs[2]).await;
    assert_eq!(
        running,
        (JobStatus::Canceled, 0, false),
        "a running job is canceled, and settled by its worker when it stops"
    );
    let requeued = money_and_status(&db, batch_jobs[3]).await;
    assert_eq!(
        requeued,
        (JobStatus::Canceled, 0, true),
        "a job queued again after an attempt is refunded with the cancel (no worker will see it)"
    );
    assert_eq!(
        money_and_status(&db, batch_jobs[4]).await,
        (JobStatus::Completed, 5, true),
        "a finished job is untouched"
    );
    assert_eq!(
        money_and_status(&db, batch_jobs[5]).await,
        (JobStatus::Failed, 0, true)
    );

    // The running job's worker sees the cancel and settles it without charge.
    for org_jobs in [&batch_jobs, &single_jobs] {
        db.settle_job_credits(org_jobs[2], 0).await.expect("settle");
    }
    let only_the_completed_job_is_paid = 100 - 5;
    assert_eq!(
        balance(&pool, together.id).await,
        only_the_completed_job_is_paid
    );
    assert_eq!(
        balance(&pool, alone.id).await,
        only_the_completed_job_is_paid
    );

    // Canceling again refunds nothing twice.
    let again = db.cancel_batch(together.id, batch).await.expect("again");
    assert!(again.is_empty());
    assert_eq!(
        balance(&pool, together.id).await,
        only_the_completed_job_is_paid
    );
    for &id in &batch_jobs[..4] {
        let events = db.list_job_events(together.id, id).await.expect("events");
        let cancels: Vec<_> = events
            .iter()
            .filter(|e| e.event_type == EventType::Canceled)
            .collect();
        assert_eq!(cancels.len(), 1, "one cancel event each");
        let data = &cancels[0].event_data.as_ref().expect("data").0;
        assert_eq!(data["reason"], "batch canceled");
    }
}
