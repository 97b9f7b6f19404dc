//! The ScrapeCrawl controller. A ScrapeCrawl becomes one crawl (core's, as `/v1/crawls`
//! makes), whose id is derived from the resource's UID, so reconciling again (after an
//! operator restart, say) never creates a second. Suspending pauses it and clearing
//! `suspend` resumes it, through core's one move (`Db::move_crawl`, then `crawl::top_up`);
//! deleting the resource cancels it through core's one cancel path (a finalizer); the
//! deadline cancels it too. Status comes from the crawl row and core's `crawl::progress`,
//! written only when it changed. A finished ScrapeCrawl is deleted after its TTL.
//!
//! Every decision is `plan.rs`'s, pure; creating the crawl is `create.rs`'s; this file reads
//! what they need and applies what they decide.

pub mod create;
pub mod plan;

use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    api::DeleteParams,
    runtime::{
        controller::Action,
        finalizer::{Event as Finalizer, finalizer},
    },
};
use scraperx_core::{
    crawl,
    domain::{CrawlId, crawl::CrawlStatus},
    pg::Crawl,
};
use tracing::instrument;

use plan::{Blocked, CrawlRow, Move, Next, Note, Observed};

use crate::{Error, Result, batch::record, context::Context, crd::ScrapeCrawl, status};

pub const FINALIZER: &str = "scraperx.io/cancel-crawl";

/// Crawl ids are UUIDv5 of the resource's UID in this namespace.
const CRAWL_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x7e3d_c0a1_52b9_4f16_8d0e_3a6b_91c4_f258);

/// The id of the crawl of `sc`.
pub fn crawl_id(sc: &ScrapeCrawl) -> Result<CrawlId> {
    let uid = sc
        .metadata
        .uid
        .as_deref()
        .ok_or_else(|| Error::Invalid("the crawl has no uid yet".into()))?;
    Ok(CrawlId::from(uuid::Uuid::new_v5(
        &CRAWL_NAMESPACE,
        uid.as_bytes(),
    )))
}

#[instrument(skip(sc, ctx), fields(crawl = %sc.name_any()))]
pub async fn reconcile(sc: Arc<ScrapeCrawl>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile("scrapecrawl");
    let ns = sc
        .namespace()
        .ok_or_else(|| Error::Invalid("ScrapeCrawl must be namespaced".into()))?;
    let key = status::key(sc.as_ref());
    let api: Api<ScrapeCrawl> = Api::namespaced(ctx.client.clone(), &ns);
    let action = finalizer(&api, FINALIZER, sc, |event| async {
        match event {
            Finalizer::Apply(sc) => apply(&sc, &ctx).await,
            Finalizer::Cleanup(sc) => cleanup(&sc, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(e.to_string()))?;
    ctx.succeeded(&key);
    Ok(action)
}

/// The crawl, when it exists.
async fn existing(ctx: &Context, id: CrawlId) -> Result<Option<Crawl>> {
    match ctx.db.get_crawl_unscoped(id).await {
        Ok(crawl) => Ok(Some(crawl)),
        Err(scraperx_core::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Records a ScrapeCrawl whose crawl cannot be created yet, and looks again later (the
/// Secret may appear, the spec may be fixed).
async fn blocked(ctx: &Context, sc: &ScrapeCrawl, b: Blocked) -> Result<Action> {
    let previous = sc.status.clone().unwrap_or_default();
    if let Some(note) = b.event(&previous.conditions) {
        record(ctx, sc, note).await;
    }
    let status = plan::blocked_status(&b, &previous, sc.metadata.generation, Timestamp::now());
    status::patch_status(ctx, sc, sc.status.as_ref(), &status).await?;
    Ok(Action::requeue(plan::BLOCKED_RETRY))
}

async fn apply(sc: &ScrapeCrawl, ctx: &Context) -> Result<Action> {
    let id = crawl_id(sc)?;
    let crawl = match existing(ctx, id).await? {
        Some(crawl) => crawl,
        None => match create::create(sc, ctx, id).await? {
            create::Created::Crawl { crawl, note } => {
                record(ctx, sc, note).await;
                *crawl
            }
            create::Created::Blocked(b) => return blocked(ctx, sc, b).await,
        },
    };
    let previous = sc.status.clone().unwrap_or_default();
    let row = CrawlRow::of(&crawl, &sc.spec);
    let before = Observed {
        spec: &sc.spec,
        generation: sc.metadata.generation,
        previous: &previous,
        crawl: &row,
        progress: crawl::progress(&ctx.db, &crawl).await?,
        now: Timestamp::now(),
    };
    if let Some(note) = plan::drift_event(&before) {
        record(ctx, sc, note).await;
    }
    let moves = plan::moves(&before);
    let mut deadline_hit = false;
    for &m in &moves {
        deadline_hit |= matches!(m, Move::CancelForDeadline { .. });
        if let Some(note) = apply_move(ctx, &crawl, m).await? {
            record(ctx, sc, note).await;
        }
    }
    // The moves changed the crawl: its state and counts are read again.
    let (row, progress) = if moves.is_empty() {
        (row.clone(), before.progress)
    } else {
        let crawl = ctx.db.get_crawl_unscoped(id).await?;
        let progress = crawl::progress(&ctx.db, &crawl).await?;
        (CrawlRow::of(&crawl, &sc.spec), progress)
    };
    let observed = Observed {
        crawl: &row,
        progress,
        ..before
    };
    let status = plan::status(&observed, deadline_hit);
    if let Some(note) = plan::finish_event(&previous, &status) {
        record(ctx, sc, note).await;
    }
    status::patch_status(ctx, sc, sc.status.as_ref(), &status).await?;
    Ok(match plan::next(&sc.spec, &status, observed.now) {
        Next::Requeue(after) => Action::requeue(after),
        Next::AwaitChange => Action::await_change(),
        Next::Delete => {
            let api: Api<ScrapeCrawl> =
                Api::namespaced(ctx.client.clone(), &sc.namespace().unwrap_or_default());
            api.delete(&sc.name_any(), &DeleteParams::default()).await?;
            Action::await_change()
        }
    })
}

/// Applies one move through core's path; the Event that reports it, unless the crawl had
/// moved on meanwhile (ended, or moved by someone else: the next look sees it).
async fn apply_move(ctx: &Context, crawl: &Crawl, m: Move) -> Result<Option<Note>> {
    let moved = match m {
        Move::Pause => ctx
            .db
            .move_crawl(crawl.id, CrawlStatus::Paused, None)
            .await
            .map(|_| Note::normal("Suspended", "no new page is submitted".into())),
        Move::Resume => match ctx
            .db
            .move_crawl(crawl.id, CrawlStatus::Running, None)
            .await
        {
            Ok(_) => {
                let top = crawl::top_up(&ctx.db, &ctx.queues, crawl.id).await?;
                let note = format!("{} pages submitted", top.submitted);
                Ok(Note::normal("Resumed", note))
            }
            Err(e) => Err(e),
        },
        Move::CancelForDeadline { limit } => crawl::cancel(&ctx.db, &ctx.queues, crawl)
            .await
            .map(|_| Note::warning("DeadlineExceeded", format!("crawl canceled after {limit}s"))),
    };
    match moved {
        Ok(note) => Ok(Some(note)),
        Err(scraperx_core::Error::Conflict { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The finalizer: cancel the crawl unless it ended; its pages' results stay for their
/// retention.
async fn cleanup(sc: &ScrapeCrawl, ctx: &Context) -> Result<Action> {
    let Some(crawl) = existing(ctx, crawl_id(sc)?).await? else {
        return Ok(Action::await_change());
    };
    if crawl.status.is_terminal() {
        return Ok(Action::await_change());
    }
    match crawl::cancel(&ctx.db, &ctx.queues, &crawl).await {
        Ok(_) | Err(scraperx_core::Error::Conflict { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let note = Note::normal("Deleted", format!("crawl {} canceled", crawl.id));
    record(ctx, sc, note).await;
    Ok(Action::await_change())
}
