//! Live updates as Server-Sent Events, fed by the job-status subscription:
//! `GET /v1/jobs/{id}/stream` sends the job as it is, then each change, and ends when the job
//! is final; `GET /v1/batches/{id}/stream` sends the batch's counts, then new counts after
//! each change of one of its jobs, and ends when every job is finished. Each event carries
//! state read from Postgres, so a message lost in transit costs nothing but latency.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::{Path, State},
    response::sse::{Event, KeepAlive, Sse},
};
use futures::{Stream, stream};
use scraperx_core::{
    domain::{BatchId, JobId, JobStatus, OrgId},
    hot::pubsub::JobStatusMessage,
};
use tokio::sync::broadcast::{Receiver, error::RecvError};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{batches::batch_view, views::JobView};
use crate::{
    auth::{Auth, scopes},
    error::{ApiResult, ErrorBody},
    state::AppState,
};

/// Without news, state is re-read this often anyway.
const RECHECK: Duration = Duration::from_secs(15);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(job_stream))
        .routes(routes!(batch_stream))
}

pub(crate) fn json_event(name: &str, value: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(value)
        .unwrap_or_else(|_| Event::default().event("error"))
}

/// Waits for a message that `wanted` accepts, a lag, or the recheck interval.
pub(crate) async fn next_hint(
    rx: &mut Receiver<JobStatusMessage>,
    wanted: impl Fn(&JobStatusMessage) -> bool,
) {
    let _ = tokio::time::timeout(RECHECK, async {
        loop {
            match rx.recv().await {
                Ok(m) if wanted(&m) => return,
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => return,
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    })
    .await;
}

/// A job's status as it changes (`status` events; the last one is final).
#[utoipa::path(get, path = "/jobs/{id}/stream", tag = "jobs", params(("id" = JobId, Path)),
    responses((status = 200, description = "text/event-stream of `status` events carrying the job", content_type = "text/event-stream"),
        (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn job_stream(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<JobId>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    auth.require(scopes::SCRAPE_READ)?;
    let rx = state.watcher.subscribe();
    let first = state.db.get_job(auth.org_id, id).await?;
    let org = auth.org_id;
    let events = stream::unfold(
        (state, rx, Some(first), None::<JobStatus>, false),
        move |(state, mut rx, job, last, done)| async move {
            if done {
                return None;
            }
            let job = match job {
                Some(job) => job,
                None => {
                    next_hint(&mut rx, |m| m.job_id == id).await;
                    state.db.get_job(org, id).await.ok()?
                }
            };
            let finished = job.is_final();
            if last == Some(job.status) && !finished {
                // Nothing new: keep waiting without an event.
                return Some((None, (state, rx, None, last, false)));
            }
            let status = job.status;
            let event = json_event("status", &JobView::from(job));
            Some((Some(Ok(event)), (state, rx, None, Some(status), finished)))
        },
    );
    let events = futures::StreamExt::filter_map(events, |e| async move { e });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// A batch's progress (`progress` events; the last one has `done: true`).
#[utoipa::path(get, path = "/batches/{id}/stream", tag = "batches", params(("id" = BatchId, Path)),
    responses((status = 200, description = "text/event-stream of `progress` events carrying the batch", content_type = "text/event-stream"),
        (status = 404, body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn batch_stream(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<BatchId>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    auth.require(scopes::SCRAPE_READ)?;
    let rx = state.watcher.subscribe();
    let org: OrgId = auth.org_id;
    let first = state.db.batch_counts(org, id).await?;
    let events = stream::unfold(
        (state, rx, Some(first), None, false),
        move |(state, mut rx, counts, last, done)| async move {
            if done {
                return None;
            }
            let counts = match counts {
                Some(c) => c,
                None => {
                    next_hint(&mut rx, |m| m.batch_id == Some(id)).await;
                    state.db.batch_counts(org, id).await.ok()?
                }
            };
            if last == Some(counts) {
                return Some((None, (state, rx, None, last, false)));
            }
            let view = batch_view(id, counts, None);
            let finished = view.done;
            Some((
                Some(Ok(json_event("progress", &view))),
                (state, rx, None, Some(counts), finished),
            ))
        },
    );
    let events = futures::StreamExt::filter_map(events, |e| async move { e });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
