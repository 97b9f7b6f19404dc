//! The ScrapeBatch controller. A batch becomes Postgres jobs in one batch insert, each with
//! the idempotency key `k8s:<uid>:<index>` and the batch id derived from the resource's
//! UID, so reconciling again (after an operator restart, say) never creates a job twice.
//! Credits are reserved as the API reserves them. Jobs are dispatched unless the batch is
//! suspended; suspending takes them off the queues (they stay queued in Postgres), resuming
//! puts them back. Status comes from one grouped count in Postgres. Deleting the batch
//! cancels what has not run (a finalizer); results stay for their retention. A finished
//! batch is deleted after its TTL.
//!
//! Every decision is `plan.rs`'s, pure; creating the jobs is `create.rs`'s; this file reads
//! what they need (the batch's counts) and applies what they decide.

pub(crate) mod create;
pub mod plan;

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    api::DeleteParams,
    runtime::{
        controller::Action,
        events::EventType,
        finalizer::{Event as Finalizer, finalizer},
    },
};
use scraperx_core::{
    dispatch::{cancel_batch, dispatch, requeue},
    domain::{BatchId, JobStatus, OrgId},
    pg::Job,
};
use tracing::instrument;

pub use plan::REFRESH;
use plan::{Blocked, Move, Next, Note, Observed};

use crate::{Error, Result, context::Context, crd::ScrapeBatch, status};

pub const FINALIZER: &str = "scraperx.io/cancel-outstanding-jobs";

/// Batch ids are UUIDv5 of the resource's UID in this namespace.
const BATCH_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x5c7a_b1e4_0d3f_4a8e_9b21_6e0f_c3d2_a917);

pub fn batch_id(sb: &ScrapeBatch) -> Result<BatchId> {
    let uid = sb
        .metadata
        .uid
        .as_deref()
        .ok_or_else(|| Error::Invalid("the batch has no uid yet".into()))?;
    Ok(BatchId::from(uuid::Uuid::new_v5(
        &BATCH_NAMESPACE,
        uid.as_bytes(),
    )))
}

#[instrument(skip(sb, ctx), fields(batch = %sb.name_any()))]
pub async fn reconcile(sb: Arc<ScrapeBatch>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile("scrapebatch");
    let ns = sb
        .namespace()
        .ok_or_else(|| Error::Invalid("ScrapeBatch must be namespaced".into()))?;
    let key = status::key(sb.as_ref());
    let api: Api<ScrapeBatch> = Api::namespaced(ctx.client.clone(), &ns);
    let action = finalizer(&api, FINALIZER, sb, |event| async {
        match event {
            Finalizer::Apply(sb) => apply(&sb, &ctx).await,
            Finalizer::Cleanup(sb) => cleanup(&sb, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(e.to_string()))?;
    ctx.succeeded(&key);
    Ok(action)
}

pub(crate) async fn record<K>(ctx: &Context, sb: &K, note: Note)
where
    K: kube::Resource<DynamicType = ()>,
{
    let kind = if note.warning {
        EventType::Warning
    } else {
        EventType::Normal
    };
    status::event(ctx, sb, kind, note.reason, "Reconcile", note.note).await;
}

/// Records a batch that cannot proceed, and looks again later (the Secret may appear,
/// credits may be added).
async fn blocked(ctx: &Context, sb: &ScrapeBatch, blocked: Blocked) -> Result<Action> {
    let previous = sb.status.clone().unwrap_or_default();
    if let Some(note) = blocked.event(&previous.conditions) {
        record(ctx, sb, note).await;
    }
    let status = blocked.status(&previous, sb.metadata.generation, Timestamp::now());
    status::patch_status(ctx, sb, sb.status.as_ref(), &status).await?;
    Ok(Action::requeue(plan::BLOCKED_RETRY))
}

async fn apply(sb: &ScrapeBatch, ctx: &Context) -> Result<Action> {
    let batch = batch_id(sb)?;
    // Create the jobs once. Once the batch exists its organization is known: the Secret
    // is read (and its key checked) only to create it.
    let org = match ctx.db.batch_organization(batch).await? {
        Some(org) => org,
        None => match create::create(sb, ctx, batch).await? {
            create::Created::Jobs { org, note } => {
                record(ctx, sb, note).await;
                org
            }
            create::Created::Blocked(b) => return blocked(ctx, sb, b).await,
        },
    };
    let previous = sb.status.clone().unwrap_or_default();
    let mut observed = Observed {
        spec: &sb.spec,
        generation: sb.metadata.generation,
        previous: &previous,
        counts: ctx.db.batch_counts(org, batch).await?,
        now: Timestamp::now(),
    };
    let moves = plan::moves(&observed);
    let mut deadline_hit = false;
    for &m in &moves {
        deadline_hit |= matches!(m, Move::CancelForDeadline { .. });
        let note = apply_move(ctx, org, batch, m).await?;
        record(ctx, sb, note).await;
    }
    if !moves.is_empty() {
        observed.counts = ctx.db.batch_counts(org, batch).await?;
    }
    let status = plan::status(&observed, batch, deadline_hit);
    if let Some(note) = plan::finish_event(&previous, &status) {
        record(ctx, sb, note).await;
    }
    status::patch_status(ctx, sb, sb.status.as_ref(), &status).await?;
    Ok(match plan::next(&sb.spec, &status, observed.now) {
        Next::Requeue(after) => Action::requeue(after),
        Next::AwaitChange => Action::await_change(),
        Next::Delete => {
            let api: Api<ScrapeBatch> =
                Api::namespaced(ctx.client.clone(), &sb.namespace().unwrap_or_default());
            api.delete(&sb.name_any(), &DeleteParams::default()).await?;
            Action::await_change()
        }
    })
}

/// Applies one move to the batch's jobs; returns the Event that reports it.
async fn apply_move(ctx: &Context, org: OrgId, batch: BatchId, m: Move) -> Result<Note> {
    let queued = |jobs: Vec<Job>| -> Vec<Job> {
        jobs.into_iter()
            .filter(|j| j.status == JobStatus::Queued)
            .collect()
    };
    Ok(match m {
        Move::Suspend => {
            let held = ctx.db.set_batch_suspended(org, batch, true).await?;
            let n = held.len();
            ctx.queues.unqueue(&queued(held)).await;
            Note::normal("Suspended", format!("{n} jobs held back"))
        }
        Move::Resume => {
            let released = queued(ctx.db.set_batch_suspended(org, batch, false).await?);
            requeue(&ctx.db, &ctx.queues, &released).await?;
            Note::normal(
                "Resumed",
                format!("{} jobs back on their queues", released.len()),
            )
        }
        Move::Dispatch => {
            let mut pending: Vec<Job> = ctx
                .db
                .batch_jobs_with_status(org, batch, &[JobStatus::Pending])
                .await?;
            let mut refs: Vec<&mut Job> = pending.iter_mut().collect();
            let queued = dispatch(&ctx.db, &ctx.queues, &mut refs).await?;
            Note::normal("Dispatched", format!("{queued} jobs queued"))
        }
        Move::CancelForDeadline { limit } => {
            let canceled = cancel_batch(&ctx.db, &ctx.queues, org, batch).await?;
            Note::warning(
                "DeadlineExceeded",
                format!("{} jobs canceled after {limit}s", canceled.len()),
            )
        }
    })
}

/// The finalizer: cancel the batch's outstanding jobs; results stay for their retention.
async fn cleanup(sb: &ScrapeBatch, ctx: &Context) -> Result<Action> {
    let batch = batch_id(sb)?;
    let Some(org) = ctx.db.batch_organization(batch).await? else {
        return Ok(Action::await_change());
    };
    let canceled = cancel_batch(&ctx.db, &ctx.queues, org, batch).await?;
    let note = format!("{} outstanding jobs canceled", canceled.len());
    record(ctx, sb, Note::normal("Deleted", note)).await;
    Ok(Action::await_change())
}
