//! A finished job as a Firecrawl document: the formats asked for, `actions` (what a job's
//! actions gave back: screenshot links, scrapes, script return values), and `metadata`
//! (title, `sourceURL`, `url`, `statusCode`, `contentType`, `scrapeId`, `creditsUsed`,
//! `error`). [`document`] is pure; [`load`] reads what lives elsewhere (the raw HTML when it
//! was stored in object storage, presigned screenshot links) and calls it.

use scraperx_core::{
    content::Bucket,
    domain::{Engine, JobStatus},
    pg::{CANONICAL_RULE, Job, JobResult},
};
use serde_json::{Map, Value, json};

use super::formats::Formats;
use crate::{
    error::ApiResult,
    routes::jobs::{ActionOutputsView, action_outputs_view},
    state::AppState,
};

/// What a document carries besides the result row: read from object storage, or made by a
/// language model.
#[derive(Debug, Default)]
pub struct Loaded {
    pub raw_html: Option<String>,
    pub screenshot_url: Option<String>,
    pub llm_json: Option<Value>,
    /// The job's action outputs, its screenshots presigned.
    pub actions: Option<ActionOutputsView>,
}

/// The formats a job's document carries: those its Firecrawl request stored, else what its
/// own options produce.
pub fn formats_of(job: &Job) -> Formats {
    Formats::of_metadata(job.metadata.as_ref().map(|m| &m.0)).unwrap_or_else(|| Formats {
        markdown: job.options.markdown,
        html: job.options.html,
        screenshot: job.options.screenshot,
        rules: job.options.extract.clone(),
        ..Formats::default()
    })
}

/// The document of `job`, from its result row (none when it did not complete).
pub fn document(job: &Job, result: Option<&JobResult>, f: &Formats, loaded: Loaded) -> Value {
    let mut doc = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            doc.insert(key.to_owned(), v);
        }
    };
    if let Some(r) = result {
        let text = |s: &Option<String>| Some(json!(s.clone().unwrap_or_default()));
        let list = |v: Option<&Value>| Some(v.cloned().unwrap_or_else(|| json!([])));
        if f.markdown {
            put("markdown", text(&r.extracted_markdown));
        }
        if f.html {
            put("html", text(&r.extracted_html));
        }
        if f.raw_html {
            put("rawHtml", loaded.raw_html.map(Value::String));
        }
        if f.links {
            put("links", list(r.extracted_links.as_ref().map(|l| &l.0)));
        }
        if f.images {
            put("images", list(r.extracted_images.as_ref().map(|l| &l.0)));
        }
        if f.screenshot {
            put("screenshot", loaded.screenshot_url.map(Value::String));
        }
        put("actions", loaded.actions.map(actions_json));
        if f.llm.is_some() {
            put("json", loaded.llm_json);
        } else if f.rules.is_some() {
            put(
                "json",
                Some(rules_json(r.extracted_data.as_ref().map(|d| &d.0))),
            );
        }
    }
    doc.insert("metadata".to_owned(), metadata(job, result));
    Value::Object(doc)
}

/// A job's action outputs in Firecrawl's shape (`javascriptReturns`; no PDFs are made by
/// actions here, so `pdfs` is always empty).
fn actions_json(a: ActionOutputsView) -> Value {
    json!({
        "screenshots": a.screenshots,
        "scrapes": a.scrapes.iter().map(|s| json!({"url": s.url, "html": s.html})).collect::<Vec<_>>(),
        "javascriptReturns": a.javascript_returns.iter()
            .map(|r| json!({"type": r.kind, "value": r.value})).collect::<Vec<_>>(),
        "pdfs": [],
    })
}

/// The CSS rules' results, without the rule a crawl adds for itself.
fn rules_json(data: Option<&Value>) -> Value {
    let mut out = data.and_then(Value::as_object).cloned().unwrap_or_default();
    out.remove(CANONICAL_RULE);
    Value::Object(out)
}

fn metadata(job: &Job, result: Option<&JobResult>) -> Value {
    // The page's own meta tags first; what ScraperX knows of the job wins a clash.
    let mut m = result
        .and_then(|r| r.extracted_metadata.as_ref())
        .and_then(|m| m.0.as_object().cloned())
        .unwrap_or_default();
    m.insert("sourceURL".into(), json!(job.url));
    m.insert("scrapeId".into(), json!(job.id));
    m.insert("creditsUsed".into(), json!(job.credits_charged));
    let proxy = if job.engine == Engine::Stealth {
        "stealth"
    } else {
        "basic"
    };
    m.insert("proxyUsed".into(), json!(proxy));
    m.insert("cacheState".into(), json!("miss"));
    if let Some(r) = result {
        m.insert(
            "url".into(),
            json!(r.final_url.as_deref().unwrap_or(&job.url)),
        );
        m.insert("statusCode".into(), json!(r.status_code.unwrap_or(0)));
        if let Some(t) = &r.extracted_title {
            m.insert("title".into(), json!(t));
        }
        if let Some(ct) = &r.content_type {
            m.insert("contentType".into(), json!(ct));
        }
    } else {
        m.insert("url".into(), json!(job.url));
        m.insert("statusCode".into(), json!(0));
    }
    if job.status != JobStatus::Completed {
        let error = job
            .error_message
            .clone()
            .or_else(|| job.error_code.clone())
            .unwrap_or_else(|| format!("the scrape is {}", job.status));
        m.insert("error".into(), json!(error));
    }
    Value::Object(m)
}

/// Reads the raw HTML (inline, or from object storage) and presigns the screenshot, as the
/// formats ask.
pub async fn load(state: &AppState, r: &JobResult, f: &Formats) -> ApiResult<Loaded> {
    let mut loaded = Loaded::default();
    if f.raw_html {
        loaded.raw_html = match (&r.content_inline, &r.content_minio_key) {
            (Some(inline), _) => Some(inline.clone()),
            (None, Some(key)) => {
                let bucket = r
                    .content_minio_bucket
                    .as_deref()
                    .and_then(Bucket::from_name)
                    .unwrap_or(Bucket::Content);
                let got = state.content.get(bucket, key).await?;
                Some(String::from_utf8_lossy(&got.bytes).into_owned())
            }
            (None, None) => Some(String::new()),
        };
    }
    if f.screenshot
        && let Some(key) = &r.screenshot_minio_key
    {
        let url = state
            .content
            .presign_get(Bucket::Screenshots, key, state.config.presign_expiry)
            .await?;
        loaded.screenshot_url = Some(url);
    }
    if let Some(outputs) = &r.action_outputs {
        loaded.actions = Some(action_outputs_view(state, outputs.0.clone()).await?);
    }
    Ok(loaded)
}

/// The whole document of a job: its result read, what lives elsewhere loaded.
pub async fn of_job(state: &AppState, job: &Job, f: &Formats) -> ApiResult<Value> {
    if job.status != JobStatus::Completed {
        return Ok(document(job, None, f, Loaded::default()));
    }
    let result = match state.db.get_result(job.organization_id, job.id).await {
        Ok(r) => r,
        Err(scraperx_core::Error::NotFound { .. }) => {
            return Ok(document(job, None, f, Loaded::default()));
        }
        Err(e) => return Err(e.into()),
    };
    let loaded = load(state, &result, f).await?;
    Ok(document(job, Some(&result), f, loaded))
}

#[cfg(test)]
mod tests {
    use scraperx_core::domain::{ActionScrape, JavascriptReturn};

    use super::*;

    #[test]
    fn action_outputs_take_firecrawls_shape() {
        let view = ActionOutputsView {
            screenshots: vec!["https://s3.test/shot.png".into()],
            thumbnails: vec!["https://s3.test/thumb.png".into()],
            scrapes: vec![ActionScrape {
                step: 2,
                url: "https://x.test/".into(),
                html: "<p>after</p>".into(),
            }],
            javascript_returns: vec![JavascriptReturn {
                step: 3,
                kind: "number".into(),
                value: json!(3),
            }],
        };
        assert_eq!(
            actions_json(view),
            json!({
                "screenshots": ["https://s3.test/shot.png"],
                "scrapes": [{"url": "https://x.test/", "html": "<p>after</p>"}],
                "javascriptReturns": [{"type": "number", "value": 3}],
                "pdfs": [],
            })
        );
    }
}
