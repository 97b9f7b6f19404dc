//! Creating a batch's jobs, once: the organization from the batch's Secret (its key must
//! hold `scrape:write`), the URLs inline and from a ConfigMap (as many as core's batch-size
//! rule allows), one `NewJob` per URL through core's `ScrapeRequest`, so the defaults and
//! checks are the API's (a refusal named by its path in the spec), with the idempotency key
//! `k8s:<uid>:<index>`, and one submission that reserves their credits (the jobs inserted
//! queued and put on their queues, or left pending while the batch is suspended). Whatever
//! the cluster or the organization lacks comes back as [`Blocked`], so the reconciler
//! reports it and looks again later; other failures are errors.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, ResourceExt};
use scraperx_core::{
    dispatch,
    domain::{BatchId, Engine, OrgId, hash_api_key, scopes},
    pg::{ApiKeyAuth, NewJob, ScrapeRequest},
};

use super::plan::{Blocked, Note, check_urls};
use crate::{
    Error, Result,
    context::Context,
    crd::{BatchOptions, ScrapeBatch, SecretKeyRef},
};

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
        organization(&sb.spec.organization_ref, ctx, &ns).await,
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
    let submitted = if sb.spec.suspend {
        ctx.db
            .submit_jobs(org, Some(auth.key_id), Some(batch), &jobs)
            .await
    } else {
        dispatch::submit(
            &ctx.db,
            &ctx.queues,
            org,
            (Some(auth.key_id), Some(batch)),
            &jobs,
        )
        .await
    };
    match submitted {
        Ok(subs) => {
            let created = subs.iter().filter(|s| s.is_created()).count();
            let how = if sb.spec.suspend { "held" } else { "queued" };
            let note = Note::normal(
                "JobsCreated",
                format!("{created} jobs created and {how} as batch {batch}"),
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
pub(crate) fn invalid_as<T>(
    result: Result<T>,
    blocked: impl FnOnce(String) -> Blocked,
) -> Result<std::result::Result<T, Blocked>> {
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(Error::Invalid(message)) => Ok(Err(blocked(message))),
        Err(e) => Err(e),
    }
}

/// The organization behind a resource's Secret (in `ns`); its key must hold `scrape:write`.
pub(crate) async fn organization(r: &SecretKeyRef, ctx: &Context, ns: &str) -> Result<ApiKeyAuth> {
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
    if !auth.scopes.grants(scopes::SCRAPE_WRITE) {
        return Err(Error::Invalid(format!(
            "the API key in secret {} lacks the scope {}",
            r.name,
            scopes::SCRAPE_WRITE
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
        let text = configmap_text(&cm, &from.key).map_err(|why| {
            Error::Invalid(format!("configmap {} key {}: {why}", from.name, from.key))
        })?;
        urls.extend(url_lines(&text));
    }
    Ok(urls)
}

/// The most a gzipped URL list may inflate to: a ConfigMap holds at most 1 MiB, and a list
/// of 100,000 long URLs is well under this.
pub const MAX_URL_LIST_BYTES: u64 = 64 << 20;

/// The text under `key`: in `data`, or in `binaryData` as UTF-8 or gzipped UTF-8 (a list
/// too long for a ConfigMap's 1 MiB fits gzipped: `kubectl create configmap --from-file`
/// of a `.gz` file puts it there).
pub fn configmap_text(cm: &ConfigMap, key: &str) -> std::result::Result<String, String> {
    if let Some(text) = cm.data.as_ref().and_then(|d| d.get(key)) {
        return Ok(text.clone());
    }
    let bytes = &cm
        .binary_data
        .as_ref()
        .and_then(|d| d.get(key))
        .ok_or("no such key")?
        .0;
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let mut inflated = std::io::Read::take(
            flate2::read::GzDecoder::new(&bytes[..]),
            MAX_URL_LIST_BYTES + 1,
        );
        std::io::Read::read_to_end(&mut inflated, &mut out)
            .map_err(|e| format!("not valid gzip: {e}"))?;
        if out.len() as u64 > MAX_URL_LIST_BYTES {
            return Err(format!("inflates to more than {MAX_URL_LIST_BYTES} bytes"));
        }
        out
    } else {
        bytes.clone()
    };
    String::from_utf8(raw).map_err(|_| "not UTF-8 text".to_owned())
}

/// A URL list's lines: trimmed, blank lines and `#` comments skipped.
pub fn url_lines(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
}

/// One job per URL, through core's `ScrapeRequest` (its defaults, its checks); the first
/// refusal is the error, named by its path in the spec.
pub fn new_jobs(sb: &ScrapeBatch, ns: &str, uid: &str, urls: &[String]) -> Result<Vec<NewJob>> {
    let spec = &sb.spec;
    let batch = request(
        spec.engine,
        &spec.options,
        spec.priority,
        spec.max_attempts,
        spec.webhook.clone(),
    )?;
    let name = sb.name_any();
    urls.iter()
        .enumerate()
        .map(|(i, url)| {
            ScrapeRequest {
                url: Some(url.clone()),
                idempotency_key: Some(format!("k8s:{uid}:{i}")),
                client_reference: Some(format!("{ns}/{name}")),
                metadata: Some(serde_json::json!({ "scrapeBatch": name, "namespace": ns })),
                ..batch.clone()
            }
            .into_new_job()
            .map_err(|e| match e {
                scraperx_core::Error::Validation { field, message } => {
                    Error::Invalid(format!("{}: {message}", spec_path(&field, i, url)))
                }
                other => other.into(),
            })
        })
        .collect()
}

/// What a resource's spec asks of every page (a ScrapeBatch's URLs, a ScrapeCrawl's pages),
/// as core's request (the spec's camel-cased options, flat actions and location, one field
/// each); what it leaves out stays to core's defaults.
pub fn request(
    engine: Engine,
    o: &BatchOptions,
    priority: Option<i32>,
    max_attempts: Option<i32>,
    webhook: Option<String>,
) -> Result<ScrapeRequest> {
    let actions = o
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| a.to_action(&format!("spec.options.actions[{i}]")))
        .collect::<std::result::Result<_, _>>()
        .map_err(Error::Invalid)?;
    Ok(ScrapeRequest {
        engine: Some(engine),
        headers: o.headers.clone(),
        render_js: Some(o.render_js),
        wait_for: o.wait_for.clone(),
        wait_time: o.wait_time,
        wait_until: Some(o.wait_until),
        timeout: o.timeout,
        screenshot: Some(o.screenshot),
        pdf: Some(o.pdf),
        extract: o.extract.clone(),
        block_resources: Some(o.block_resources.clone()),
        markdown: Some(o.markdown),
        html: Some(o.html),
        only_main_content: Some(o.only_main_content),
        include_tags: Some(o.include_tags.clone()),
        exclude_tags: Some(o.exclude_tags.clone()),
        remove_base64_images: Some(o.remove_base64_images),
        actions: Some(actions),
        location: o.location.as_ref().map(Into::into),
        mobile: Some(o.mobile),
        priority,
        max_attempts,
        webhook_url: webhook,
        ..ScrapeRequest::default()
    })
}

/// A field of core's request as its path in the ScrapeBatch (URL `i`, `url`, for the URL).
fn spec_path(field: &str, i: usize, url: &str) -> String {
    match field {
        "url" => format!("spec.urls[{i}] ({url})"),
        "priority" => "spec.priority".to_owned(),
        "max_attempts" => "spec.maxAttempts".to_owned(),
        "webhook_url" => "spec.webhook".to_owned(),
        option => {
            // Only the option's own name is camel-cased, not an extraction rule's.
            let end = option.find(['.', '[']).unwrap_or(option.len());
            let (name, rest) = option.split_at(end);
            let mut camel = String::with_capacity(option.len());
            let mut upper = false;
            for c in name.chars() {
                match c {
                    '_' => upper = true,
                    c if upper => {
                        camel.push(c.to_ascii_uppercase());
                        upper = false;
                    }
                    c => camel.push(c),
                }
            }
            format!("spec.options.{camel}{rest}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(spec: serde_json::Value) -> ScrapeBatch {
        let mut full = serde_json::json!({ "organizationRef": { "name": "key" } });
        if let (Some(f), Some(s)) = (full.as_object_mut(), spec.as_object()) {
            f.extend(s.clone());
        }
        serde_json::from_value(serde_json::json!({
            "apiVersion": "scraperx.io/v1alpha1", "kind": "ScrapeBatch",
            "metadata": { "name": "b", "namespace": "ns" }, "spec": full,
        }))
        .expect("a batch")
    }

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|u| (*u).to_owned()).collect()
    }

    #[test]
    fn every_url_becomes_a_job_with_the_spec_s_fields_and_core_s_defaults_for_the_rest() {
        let sb = batch(serde_json::json!({
            "options": { "renderJs": true, "timeout": 20000, "headers": { "X-A": "1" } },
            "priority": 8,
        }));
        let jobs = new_jobs(
            &sb,
            "ns",
            "uid",
            &urls(&["https://a.test/", "https://b.test/"]),
        )
        .expect("valid");
        assert_eq!(jobs.len(), 2);
        let j = &jobs[1];
        assert_eq!(j.url, "https://b.test/");
        assert_eq!(j.idempotency_key.as_deref(), Some("k8s:uid:1"));
        assert_eq!(j.client_reference.as_deref(), Some("ns/b"));
        assert_eq!(j.priority, 8);
        assert_eq!(j.max_attempts, NewJob::DEFAULT_MAX_ATTEMPTS);
        assert!(j.options.render_js);
        assert_eq!(j.options.timeout, 20_000);
        assert_eq!(j.headers.get("X-A"), Some("1"));
    }

    #[test]
    fn a_refused_spec_is_reported_by_its_path_in_the_spec() {
        let refusal = |spec: serde_json::Value, list: &[&str]| match new_jobs(
            &batch(spec),
            "ns",
            "uid",
            &urls(list),
        ) {
            Err(Error::Invalid(message)) => message,
            other => panic!("expected a refusal, got {:?}", other.map(|j| j.len())),
        };
        let ok = ["https://a.test/"];
        let m = refusal(serde_json::json!({ "options": { "timeout": 10 } }), &ok);
        assert!(m.starts_with("spec.options.timeout: "), "{m}");
        let m = refusal(serde_json::json!({ "maxAttempts": 11 }), &ok);
        assert!(m.starts_with("spec.maxAttempts: "), "{m}");
        let m = refusal(serde_json::json!({}), &["https://a.test/", "ftp://b.test/"]);
        assert!(m.starts_with("spec.urls[1] (ftp://b.test/): "), "{m}");
    }

    #[test]
    fn a_refused_field_is_named_by_its_path_in_the_spec() {
        let url = "https://a.test/";
        assert_eq!(spec_path("url", 2, url), "spec.urls[2] (https://a.test/)");
        assert_eq!(spec_path("max_attempts", 0, url), "spec.maxAttempts");
        assert_eq!(spec_path("webhook_url", 0, url), "spec.webhook");
        assert_eq!(spec_path("wait_time", 0, url), "spec.options.waitTime");
        assert_eq!(spec_path("headers", 0, url), "spec.options.headers");
        assert_eq!(
            spec_path("extract.my_rule.selector", 0, url),
            "spec.options.extract.my_rule.selector"
        );
        assert_eq!(
            spec_path("include_tags[1]", 0, url),
            "spec.options.includeTags[1]"
        );
    }

    fn configmap(data: Option<(&str, &str)>, binary: Option<(&str, Vec<u8>)>) -> ConfigMap {
        ConfigMap {
            data: data.map(|(k, v)| [(k.to_owned(), v.to_owned())].into()),
            binary_data: binary.map(|(k, v)| [(k.to_owned(), k8s_openapi::ByteString(v))].into()),
            ..ConfigMap::default()
        }
    }

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, text).expect("gzip in memory");
        enc.finish().expect("gzip in memory")
    }

    #[test]
    fn a_url_list_is_read_from_data_or_from_binary_data_plain_or_gzipped() {
        let list = "https://a.example/\nhttps://b.example/\n";
        let plain = configmap(Some(("urls", list)), None);
        assert_eq!(configmap_text(&plain, "urls").as_deref(), Ok(list));
        let raw = configmap(None, Some(("urls", list.as_bytes().to_vec())));
        assert_eq!(configmap_text(&raw, "urls").as_deref(), Ok(list));
        let zipped = configmap(None, Some(("urls.gz", gzip(list.as_bytes()))));
        assert_eq!(configmap_text(&zipped, "urls.gz").as_deref(), Ok(list));
        assert_eq!(url_lines(list).count(), 2);
    }

    #[test]
    fn a_missing_key_broken_gzip_or_binary_junk_is_refused_with_why() {
        let empty = configmap(None, None);
        assert_eq!(
            configmap_text(&empty, "urls"),
            Err("no such key".to_owned())
        );
        let broken = configmap(None, Some(("urls", vec![0x1f, 0x8b, 0, 1, 2])));
        let err = configmap_text(&broken, "urls").expect_err("broken gzip");
        assert!(err.starts_with("not valid gzip"), "{err}");
        let junk = configmap(None, Some(("urls", vec![0xff, 0xfe, 0xfd])));
        assert_eq!(
            configmap_text(&junk, "urls"),
            Err("not UTF-8 text".to_owned())
        );
    }

    #[test]
    fn a_gzip_bomb_is_refused_before_it_fills_memory() {
        let bomb = gzip(&vec![b'a'; (MAX_URL_LIST_BYTES + 10) as usize]);
        let cm = configmap(None, Some(("urls", bomb)));
        let err = configmap_text(&cm, "urls").expect_err("too large");
        assert!(err.starts_with("inflates to more than"), "{err}");
    }
}
