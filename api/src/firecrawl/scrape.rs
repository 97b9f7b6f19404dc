//! `POST /v2/scrape`: Firecrawl's scrape-and-wait, on the native submit path and the same
//! wait as `/v1/scrape`. A completed job answers `{success: true, data: document}`; a job
//! that failed answers 502 with its error, one still running after the wait 408 naming
//! where to follow it (`/v1/jobs/{id}`). With `maxAge`, a recent enough scrape of the same
//! URL and options answers instead ([`super::cache`]).

use std::time::Duration;

use axum::{extract::State, http::StatusCode, response::Response};
use scraperx_core::domain::JobStatus;
use serde_json::{Value, json};

use super::{cache, document, formats::Formats, llm, ok, options::FcScrapeOptions, parse, refusal};
use crate::{
    auth::{Auth, scopes},
    error::{ApiError, ApiResult},
    extract::ApiJson,
    routes::scrape::wait_final,
    state::AppState,
    submit,
};

/// Takes `key` (a string) out of a Firecrawl body; what is left are its other fields.
pub fn take_string(body: &mut Value, key: &str) -> ApiResult<String> {
    let missing = || ApiError::BadRequest(format!("{key}: a string is required"));
    let value = body
        .as_object_mut()
        .ok_or_else(|| ApiError::BadRequest("the body must be a JSON object".into()))?
        .remove(key)
        .ok_or_else(missing)?;
    match value {
        Value::String(s) => Ok(s),
        _ => Err(missing()),
    }
}

/// The formats stored with a job, so a later status read answers what was asked.
pub fn tag_formats(metadata: &mut Value, formats: &Formats) {
    if let Some(m) = metadata.as_object_mut() {
        m.insert(Formats::METADATA_KEY.into(), json!(formats));
    }
}

pub async fn scrape(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(mut body): ApiJson<Value>,
) -> ApiResult<Response> {
    auth.require(scopes::SCRAPE_WRITE)?;
    let url = take_string(&mut body, "url")?;
    let options: FcScrapeOptions = parse(body)?;
    let max_age = options.max_age;
    let translated = options.translate(url, "")?;
    llm::check(&state, &translated.formats)?;
    let formats = translated.formats;
    let mut new = translated.job;
    tag_formats(&mut new.metadata, &formats);
    // The model reads the markdown, asked for or not.
    let shown = Formats {
        markdown: formats.needs_markdown(),
        ..formats.clone()
    };
    if let Some(age) = cache::accepted_age(max_age, &new)
        && let Some(doc) = cache::lookup(&state, &auth, &new, &shown, age).await?
    {
        return answer(&state, &formats, doc).await;
    }
    let wait =
        Duration::from_millis(u64::from(new.options.timeout)) + state.config.scrape_wait_margin;
    // Subscribe before submitting, so no status can slip past unseen.
    let mut updates = state.watcher.subscribe();
    let job = submit::submit(&state, &auth, None, vec![new], vec!["url".into()])
        .await?
        .pop()
        .ok_or(ApiError::Internal)?
        .into_job();
    let job = wait_final(&state, &auth, &mut updates, job, wait).await?;
    match job.status {
        JobStatus::Completed => {
            let doc = document::of_job(&state, &job, &shown).await?;
            answer(&state, &formats, doc).await
        }
        status if !job.is_final() => Ok(refusal(
            StatusCode::REQUEST_TIMEOUT,
            "still_running",
            &format!(
                "the scrape is still {status} after the wait; follow it at /v1/jobs/{}",
                job.id
            ),
        )),
        status => {
            let why = job
                .error_message
                .or(job.error_code.clone())
                .unwrap_or_else(|| format!("the scrape ended {status}"));
            let code = job.error_code.unwrap_or_else(|| status.to_string());
            Ok(refusal(StatusCode::BAD_GATEWAY, &code, &why))
        }
    }
}

/// The answer with `doc`: json from the model when asked (it reads the markdown, which is
/// then dropped unless asked for too).
async fn answer(state: &AppState, formats: &Formats, mut doc: Value) -> ApiResult<Response> {
    if let (Some(ask), Some(config)) = (&formats.llm, &state.config.llm) {
        let markdown = doc["markdown"].as_str().unwrap_or_default().to_owned();
        doc["json"] = llm::extract(config, ask, &markdown).await?;
        if !formats.markdown
            && let Some(d) = doc.as_object_mut()
        {
            d.remove("markdown");
        }
    }
    Ok(ok(StatusCode::OK, json!({ "data": doc })))
}
