//! The ScrapeBatch controller. A batch becomes Postgres jobs in one batch insert, each with
//! the idempotency key `k8s:<uid>:<index>` and the batch id derived from the resource's
//! UID, so reconciling again (after an operator restart, say) never creates a job twice.
//! Credits are reserved as the API reserves them. Jobs are dispatched unless the batch is
//! suspended; suspending takes them off the queues (they stay queued in Postgres), resuming
//! puts them back. Status comes from one grouped count in Postgres. Deleting the batch
//! cancels what has not run (a finalizer); results stay for their retention. A finished
//! batch is deleted after its TTL.

use std::{sync::Arc, time::Duration};

use k8s_openapi::{
    api::core::v1::{ConfigMap, Secret},
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::Timestamp,
};
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
    domain::{BatchId, JobOptions, JobStatus, hash_api_key},
    pg::{ApiKeyAuth, BatchCounts, Job, NewJob},
};
use tracing::instrument;

use crate::{
    Error, Result,
    context::Context,
    crd::{BatchPhase, ScrapeBatch, ScrapeBatchStatus},
};
use crate::{rules, status};

pub const FINALIZER: &str = "scraperx.io/cancel-outstanding-jobs";
/// How often a running batch's status is refreshed.
pub const REFRESH: Duration = Duration::from_secs(2);

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

async fn event(ctx: &Context, sb: &ScrapeBatch, kind: EventType, reason: &str, note: String) {
    status::event(ctx, sb, kind, reason, "Reconcile", note).await;
}

/// The organization behind the batch's Secret.
async fn organization(sb: &ScrapeBatch, ctx: &Context, ns: &str) -> Result<ApiKeyAuth> {
    let r = &sb.spec.organization_ref;
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), ns)
        .get_opt(&r.name)
        .await?
        .ok_or_else(|| Error::Invalid(format!("secret {} not found", r.name)))?;
    let raw = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .map(|b| String::from_utf8_lossy(&b.0).trim().to_owned())
        .ok_or_else(|| Error::Invalid(format!("secret {} has no key {}", r.name, r.key)))?;
    let auth = ctx
        .db
        .lookup_api_key(&hash_api_key(&raw))
        .await?
        .ok_or_else(|| Error::Invalid(format!("the API key in secret {} is not valid", r.name)))?;
    if !auth.has_scope("scrape:write") {
        return Err(Error::Invalid(format!(
            "the API key in secret {} lacks the scope scrape:write",
            r.name
        )));
    }
    Ok(auth)
}

/// The batch's URLs: inline, then the ConfigMap's lines (blank lines and `#` comments skipped).
async fn urls(sb: &ScrapeBatch, ctx: &Context, ns: &str) -> Result<Vec<String>> {
    let mut urls = sb.spec.urls.clone();
    if let Some(from) = &sb.spec.urls_from {
        let cm = Api::<ConfigMap>::namespaced(ctx.client.clone(), ns)
            .get_opt(&from.name)
            .await?
            .ok_or_else(|| Error::Invalid(format!("configmap {} not found", from.name)))?;
        let text = cm
            .data
            .as_ref()
            .and_then(|d| d.get(&from.key))
            .ok_or_else(|| {
                Error::Invalid(format!("configmap {} has no key {}", from.name, from.key))
            })?;
        urls.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    Ok(urls)
}

fn new_jobs(sb: &ScrapeBatch, ns: &str, uid: &str, urls: &[String]) -> Result<Vec<NewJob>> {
    let spec = &sb.spec;
    let o = &spec.options;
    let defaults = JobOptions::default();
    let options = JobOptions {
        render_js: o.render_js,
        wait_for: o.wait_for.clone(),
        wait_time: o.wait_time.unwrap_or(defaults.wait_time),
        wait_until: o.wait_until,
        timeout: o.timeout.unwrap_or(defaults.timeout),
        screenshot: o.screenshot,
        pdf: o.pdf,
        extract: o.extract.clone(),
        block_resources: o.block_resources.clone(),
        markdown: o.markdown,
    };
    options
        .validate()
        .map_err(|e| Error::Invalid(format!("spec.{e}")))?;
    urls.iter()
        .enumerate()
        .map(|(i, url)| {
            let mut job = NewJob::get(url);
            job.engine = spec.engine;
            job.options = options.clone();
            job.headers = serde_json::to_value(o.headers.clone().unwrap_or_default())
                .unwrap_or_else(|_| serde_json::json!({}));
            job.priority = spec.priority.unwrap_or(NewJob::DEFAULT_PRIORITY);
            job.max_attempts = spec.max_attempts.unwrap_or(NewJob::DEFAULT_MAX_ATTEMPTS);
            job.webhook_url = spec.webhook.clone();
            job.idempotency_key = Some(format!("k8s:{uid}:{i}"));
            job.client_reference = Some(format!("{ns}/{}", sb.name_any()));
            job.metadata = serde_json::json!({ "scrapeBatch": sb.name_any(), "namespace": ns });
            job.validate()
                .map_err(|e| Error::Invalid(format!("url {i} ({url}): {e}")))?;
            Ok(job)
        })
        .collect()
}

/// Records a batch that cannot proceed, and retries later (the Secret may appear, credits
/// may be added).
async fn blocked(ctx: &Context, sb: &ScrapeBatch, reason: &str, message: String) -> Result<Action> {
    let mut status = sb.status.clone().unwrap_or_default();
    let generation = sb.metadata.generation;
    let previous = status.conditions.clone();
    status.phase = BatchPhase::Pending;
    status.observed_generation = generation;
    status.conditions = vec![
        status::condition(
            &previous,
            "Progressing",
            false,
            reason,
            &message,
            generation,
        ),
        status::condition(&previous, "Failed", false, reason, &message, generation),
    ];
    if previous.iter().all(|c| c.reason != reason) {
        event(ctx, sb, EventType::Warning, reason, message).await;
    }
    status::patch_status(ctx, sb, sb.status.as_ref(), &status).await?;
    Ok(Action::requeue(Duration::from_secs(15)))
}

async fn apply(sb: &ScrapeBatch, ctx: &Context) -> Result<Action> {
    let ns = sb.namespace().unwrap_or_default();
    let uid = sb.metadata.uid.clone().unwrap_or_default();
    let batch = batch_id(sb)?;
    let previous = sb.status.clone().unwrap_or_default();
    // Whether jobs moved in this reconcile (then the counts are read again).
    let mut moved = false;

    // Create the jobs once. Once the batch exists its organization is known: the Secret
    // is read (and its key checked) only to create it.
    let (org, counts) = match ctx.db.batch_organization(batch).await? {
        Some(org) => (org, ctx.db.batch_counts(org, batch).await?),
        None => {
            let auth = match organization(sb, ctx, &ns).await {
                Ok(a) => a,
                Err(Error::Invalid(message)) => {
                    return blocked(ctx, sb, "OrganizationUnavailable", message).await;
                }
                Err(e) => return Err(e),
            };
            let org = auth.organization_id;
            let urls = urls(sb, ctx, &ns).await;
            let urls = match urls {
                Ok(u) if u.is_empty() => {
                    return blocked(ctx, sb, "NoURLs", rules::NO_URLS.into()).await;
                }
                Ok(u) if u.len() > usize::try_from(auth.max_batch_size).unwrap_or(0) => {
                    let message = format!(
                        "{} URLs; the organization allows {} per batch",
                        u.len(),
                        auth.max_batch_size
                    );
                    return blocked(ctx, sb, "TooManyURLs", message).await;
                }
                Ok(u) => u,
                Err(Error::Invalid(message)) => {
                    return blocked(ctx, sb, "URLsUnavailable", message).await;
                }
                Err(e) => return Err(e),
            };
            let jobs = match new_jobs(sb, &ns, &uid, &urls) {
                Ok(j) => j,
                Err(Error::Invalid(message)) => {
                    return blocked(ctx, sb, "InvalidSpec", message).await;
                }
                Err(e) => return Err(e),
            };
            match ctx
                .db
                .submit_jobs(org, Some(auth.key_id), Some(batch), &jobs)
                .await
            {
                Ok(subs) => {
                    let created = subs.iter().filter(|s| s.is_created()).count();
                    event(
                        ctx,
                        sb,
                        EventType::Normal,
                        "JobsCreated",
                        format!("{created} jobs created as batch {batch}"),
                    )
                    .await;
                }
                Err(scraperx_core::Error::InsufficientCredits { required }) => {
                    let message = format!(
                        "{required} credits required; the organization's balance cannot cover them"
                    );
                    return blocked(ctx, sb, "InsufficientCredits", message).await;
                }
                Err(e) => return Err(e.into()),
            }
            (org, ctx.db.batch_counts(org, batch).await?)
        }
    };

    // Dispatch, suspend or resume.
    let was_suspended = previous.phase == BatchPhase::Suspended;
    if sb.spec.suspend {
        if !was_suspended {
            let held = ctx.db.set_batch_suspended(org, batch, true).await?;
            moved = true;
            let queued: Vec<Job> = held
                .iter()
                .filter(|j| j.status == JobStatus::Queued)
                .cloned()
                .collect();
            ctx.queues.unqueue(&queued).await;
            event(
                ctx,
                sb,
                EventType::Normal,
                "Suspended",
                format!("{} jobs held back", held.len()),
            )
            .await;
        }
    } else {
        if was_suspended {
            let released = ctx.db.set_batch_suspended(org, batch, false).await?;
            moved = true;
            let queued: Vec<Job> = released
                .into_iter()
                .filter(|j| j.status == JobStatus::Queued)
                .collect();
            requeue(&ctx.db, &ctx.queues, &queued).await?;
            event(
                ctx,
                sb,
                EventType::Normal,
                "Resumed",
                format!("{} jobs back on their queues", queued.len()),
            )
            .await;
        }
        if counts.pending > 0 {
            let mut pending: Vec<Job> = ctx
                .db
                .batch_jobs_with_status(org, batch, &[JobStatus::Pending])
                .await?;
            let mut refs: Vec<&mut Job> = pending.iter_mut().collect();
            let queued = dispatch(&ctx.db, &ctx.queues, &mut refs).await?;
            tracing::info!(queued, "jobs dispatched");
            moved = true;
        }
    }

    // The deadline.
    let start = previous.start_time.clone().unwrap_or_else(status::now);
    let mut counts = if moved {
        ctx.db.batch_counts(org, batch).await?
    } else {
        counts
    };
    let finished = counts.is_done();
    let mut deadline_hit = false;
    if let Some(limit) = sb.spec.active_deadline_seconds
        && !finished
        && Timestamp::now().as_second() - start.0.as_second() > limit
    {
        let canceled = cancel_batch(&ctx.db, &ctx.queues, org, batch).await?;
        event(
            ctx,
            sb,
            EventType::Warning,
            "DeadlineExceeded",
            format!("{} jobs canceled after {limit}s", canceled.len()),
        )
        .await;
        counts = ctx.db.batch_counts(org, batch).await?;
        deadline_hit = true;
    }
    let status = status_of(sb, &previous, counts, batch, start, deadline_hit);
    let done = matches!(status.phase, BatchPhase::Succeeded | BatchPhase::Failed);
    if done && previous.completion_time.is_none() {
        let reason = if status.phase == BatchPhase::Succeeded {
            "Completed"
        } else {
            "Failed"
        };
        event(
            ctx,
            sb,
            EventType::Normal,
            reason,
            format!("progress {}", status.progress),
        )
        .await;
    }
    status::patch_status(ctx, sb, sb.status.as_ref(), &status).await?;

    // Time to live after finishing.
    if done
        && let (Some(ttl), Some(done_at)) =
            (sb.spec.ttl_seconds_after_finished, &status.completion_time)
    {
        let left = ttl - (Timestamp::now().as_second() - done_at.0.as_second());
        if left <= 0 {
            let api: Api<ScrapeBatch> = Api::namespaced(ctx.client.clone(), &ns);
            api.delete(&sb.name_any(), &DeleteParams::default()).await?;
            return Ok(Action::await_change());
        }
        return Ok(Action::requeue(Duration::from_secs(
            u64::try_from(left).unwrap_or(1),
        )));
    }
    Ok(if done {
        Action::await_change()
    } else {
        Action::requeue(REFRESH)
    })
}

fn status_of(
    sb: &ScrapeBatch,
    previous: &ScrapeBatchStatus,
    c: BatchCounts,
    batch: BatchId,
    start: Time,
    deadline_hit: bool,
) -> ScrapeBatchStatus {
    let generation = sb.metadata.generation;
    // Once the deadline has failed the batch, it stays the reason.
    let deadline_hit = deadline_hit
        || previous
            .conditions
            .iter()
            .any(|c| c.type_ == "Failed" && c.status == "True" && c.reason == "DeadlineExceeded");
    let finished = c.is_done();
    let failed = c.failed + c.timeout;
    let phase = if deadline_hit || (finished && (failed > 0 || c.canceled > 0)) {
        BatchPhase::Failed
    } else if finished {
        BatchPhase::Succeeded
    } else if sb.spec.suspend {
        BatchPhase::Suspended
    } else {
        BatchPhase::Running
    };
    let done = matches!(phase, BatchPhase::Succeeded | BatchPhase::Failed);
    let progress = format!("{}/{}", c.finished(), c.total);
    let p = &previous.conditions;
    let fail_reason = if deadline_hit {
        "DeadlineExceeded"
    } else {
        "JobsFailed"
    };
    ScrapeBatchStatus {
        phase,
        total: c.total,
        queued: c.queued + c.pending,
        running: c.running,
        succeeded: c.completed,
        failed,
        canceled: c.canceled,
        progress: progress.clone(),
        start_time: Some(start),
        completion_time: if done {
            previous
                .completion_time
                .clone()
                .or_else(|| Some(status::now()))
        } else {
            None
        },
        batch_id: Some(batch.to_string()),
        observed_generation: generation,
        conditions: vec![
            status::condition(
                p,
                "Progressing",
                phase == BatchPhase::Running,
                "Dispatching",
                &progress,
                generation,
            ),
            status::condition(
                p,
                "Complete",
                phase == BatchPhase::Succeeded,
                "AllJobsSucceeded",
                &progress,
                generation,
            ),
            status::condition(
                p,
                "Failed",
                phase == BatchPhase::Failed,
                fail_reason,
                &format!("{failed} failed, {} canceled", c.canceled),
                generation,
            ),
            status::condition(
                p,
                "Suspended",
                phase == BatchPhase::Suspended,
                "SpecSuspend",
                "dispatching is paused",
                generation,
            ),
        ],
    }
}

/// The finalizer: cancel the batch's outstanding jobs; results stay for their retention.
async fn cleanup(sb: &ScrapeBatch, ctx: &Context) -> Result<Action> {
    let batch = batch_id(sb)?;
    let Some(org) = ctx.db.batch_organization(batch).await? else {
        return Ok(Action::await_change());
    };
    let canceled = cancel_batch(&ctx.db, &ctx.queues, org, batch).await?;
    event(
        ctx,
        sb,
        EventType::Normal,
        "Deleted",
        format!("{} outstanding jobs canceled", canceled.len()),
    )
    .await;
    Ok(Action::await_change())
}
