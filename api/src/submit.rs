//! Submission, shared by scrape-now, jobs and batches: target checks, then one Postgres
//! statement that inserts the jobs already queued and reserves their credits (402 when the
//! balance cannot cover them; an idempotency key replay returns the original), then the new
//! jobs go on their Redis queues ([`scraperx_core::dispatch::submit`]).

use scraperx_core::{
    dispatch,
    domain::BatchId,
    pg::{NewJob, Submission},
};

use crate::{auth::Auth, error::ApiResult, state::AppState, target};

/// Submits `jobs`; results in input order. `fields` names each job's URL field for errors.
pub async fn submit(
    state: &AppState,
    auth: &Auth,
    batch: Option<BatchId>,
    jobs: Vec<NewJob>,
    fields: Vec<String>,
) -> ApiResult<Vec<Submission>> {
    let targets: Vec<(String, &str)> = fields
        .into_iter()
        .zip(jobs.iter().map(|j| j.url.as_str()))
        .collect();
    target::check_targets(state, auth, &targets).await?;
    let subs = dispatch::submit(
        &state.db,
        &state.queues,
        auth.org_id,
        (Some(auth.key_id), batch),
        &jobs,
    )
    .await?;

    if let Some(batch) = batch {
        crate::trace::record("batch", batch);
    }
    if let [single] = subs.as_slice() {
        crate::trace::record("job", single.job().id);
    }
    for (sub, new) in subs.iter().zip(&jobs) {
        if sub.is_created() {
            state
                .metrics
                .jobs_submitted
                .get_or_create(&crate::metrics::EngineLabel {
                    engine: new.engine.starting(&new.options).as_str().to_owned(),
                })
                .inc();
        }
    }
    let accepted = subs.iter().filter(|s| s.is_created()).count();
    tracing::info!(accepted, replayed = subs.len() - accepted, "jobs accepted");
    Ok(subs)
}
