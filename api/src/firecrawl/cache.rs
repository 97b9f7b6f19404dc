//! Firecrawl's `maxAge` on `/v2/scrape`: a completed scrape of the same organization, recent
//! enough, answers instead of a new one. The key is ScraperX's own cache match (core's
//! `Db::find_cached_result`): the organization, the URL as asked, the engine, the method,
//! the job's options but its timeout (so the formats, `onlyMainContent`, tags, screenshot
//! mode, location and mobile all count), the headers, the body and the proxy country.
//!
//! Invariant: a hit is never charged (no job is made; the document's `creditsUsed` is 0) and
//! says so (`cacheState: "hit"`, `cachedAt` the time the page was scraped); `maxAge` absent
//! or 0, or a job with actions (whose outputs are not reused), always scrapes afresh.

use std::time::Duration;

use chrono::{DateTime, Utc};
use scraperx_core::pg::{CacheMatch, NewJob};
use serde_json::{Value, json};

use super::{document, formats::Formats};
use crate::{auth::Auth, error::ApiResult, state::AppState};

/// The age a request accepts: `maxAge` in milliseconds, None when it asks for a fresh page.
pub fn accepted_age(max_age_ms: Option<u64>, job: &NewJob) -> Option<Duration> {
    max_age_ms
        .filter(|ms| *ms > 0)
        .filter(|_| job.options.actions.is_empty())
        .map(Duration::from_millis)
}

/// The document of the latest matching scrape completed within `age`, if there is one.
pub async fn lookup(
    state: &AppState,
    auth: &Auth,
    new: &NewJob,
    shown: &Formats,
    age: Duration,
) -> ApiResult<Option<Value>> {
    // An age past what a date can go back to accepts any age.
    let since = chrono::Duration::from_std(age)
        .ok()
        .and_then(|d| Utc::now().checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let found = state
        .db
        .find_cached_result(&CacheMatch::of(auth.org_id, new, since))
        .await?;
    let Some(row) = found else { return Ok(None) };
    let job = state.db.get_job(auth.org_id, row.job_id).await?;
    let loaded = document::load(state, &row, shown).await?;
    let mut doc = document::document(&job, Some(&row), shown, loaded);
    if let Some(m) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("cacheState".into(), json!("hit"));
        m.insert("cachedAt".into(), json!(job.completed_at));
        m.insert("creditsUsed".into(), json!(0));
    }
    state.metrics.cache_hits.inc();
    Ok(Some(doc))
}
