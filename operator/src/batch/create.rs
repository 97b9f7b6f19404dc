//! Creating a batch's jobs, once: the organization from the batch's Secret (its key must
//! hold `scrape:write`), the URLs inline and from a ConfigMap, one `NewJob` per URL with the
//! idempotency key `k8s:<uid>:<index>`, and one `submit_jobs` call that reserves their
//! credits. Whatever the cluster or the organization lacks comes back as [`Blocked`], so
//! the reconciler reports it and looks again later; other failures are errors.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, ResourceExt};
use scraperx_core::{
    domain::{BatchId, JobOptions, OrgId, hash_api_key},
    pg::{ApiKeyAuth, NewJob},
};

use super::plan::{Blocked, Note, check_urls};
use crate::{Error, Result, context::Context, crd::ScrapeBatch};

/// The outcome of trying to create a batch's jobs.
pub enum Created {
    /// The jobs exist now (or already did), in this organization.
    Jobs {
        org: OrgId,
        note: Note,
    },
    Blocked(Blocked),
}

/// Creates the jobs of `sb` as batch `batch`.
pub async fn create(sb: &ScrapeBatch, ctx: &Context, batch: BatchId) -> Result<Created> {
    let ns = sb.namespace().unwrap_or_default();
    let uid = sb.metadata.uid.clone().unwrap_or_default();
    let blocked = |reason: &'static str| move |message: String| Blocked::new(reason, message);
    let auth = match invalid_as(
        organization(sb, ctx, &ns).await,
        blocked("OrganizationUnavailable"),
    )? {
        Ok(auth) => auth,
        Err(b) => return Ok(Created::Blocked(b)),
    };
    let urls = match invalid_as(urls(sb, ctx, &ns).await, blocked("URLsUnavailable"))? {
        Ok(urls) => urls,
        Err(b) => return Ok(Created::Blocked(b)),
    };
    if let Err(b) = check_urls(&urls, auth.max_batch_size) {
        return Ok(Created::Blocked(b));
    }
    let jobs = match invalid_as(new_jobs(sb, &ns, &uid, &urls), blocked("InvalidSpec"))? {
        Ok(jobs) => jobs,
        Err(b) => return Ok(Created::Blocked(b)),
    };
    let org = auth.organization_id;
    match ctx
        .db
        .submit_jobs(org, Some(auth.key_id), Some(batch), &jobs)
        .await
    {
        Ok(subs) => {
            let created = subs.iter().filter(|s| s.is_created()).count();
            let note = Note::normal(
                "JobsCreated",
                format!("{created} jobs created as batch {batch}"),
            );
            Ok(Created::Jobs { org, note })
        }
        Err(scraperx_core::Error::InsufficientCredits { required }) => {
            Ok(Created::Blocked(Blocked::new(
                "InsufficientCredits",
                format!(
                    "{required} credits required; the organization's balance cannot cover them"
                ),
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// An `Error::Invalid` (something the user can fix) as a [`Blocked`]; other errors stay errors.
fn invalid_as<T>(
    result: Result<T>,
    blocked: impl FnOnce(String) -> Blocked,
) -> Result<std::result::Result<T, Blocked>> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(Error::Invalid(message)) => Ok(Err(blocked(message))),
        Err(e) => Err(e),
    }
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
        urls.extend(url_lines(text));
    }
    Ok(urls)
}

/// A URL list's lines: trimmed, blank lines and `#` comments skipped.
pub fn url_lines(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
}

/// One job per URL, with the batch's options; the first invalid one is the error.
pub fn new_jobs(sb: &ScrapeBatch, ns: &str, uid: &str, urls: &[String]) -> Result<Vec<NewJob>> {
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
        screenshot_mode: None,
        pdf: o.pdf,
        extract: o.extract.clone(),
        block_resources: o.block_resources.clone(),
        markdown: o.markdown,
        html: o.html,
        only_main_content: o.only_main_content,
        include_tags: o.include_tags.clone(),
        exclude_tags: o.exclude_tags.clone(),
        remove_base64_images: o.remove_base64_images,
        actions: o
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| a.to_action(&format!("spec.options.actions[{i}]")))
            .collect::<std::result::Result<_, _>>()
            .map_err(Error::Invalid)?,
        location: o.location.as_ref().map(Into::into),
        mobile: o.mobile,
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
