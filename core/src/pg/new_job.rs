//! A job as a caller submits it, and the checks it must pass before anything is stored
//! (sizes, header and URL text on the wire, attempts, priority), and the size of a batch
//! of them.

use crate::{
    Error, Result,
    domain::{Engine, HttpMethod, JobOptions, ProxyTier, RequestHeaders, wire_text},
};

/// A job to submit.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub url: String,
    pub method: HttpMethod,
    pub headers: RequestHeaders,
    pub body: Option<String>,
    pub engine: Engine,
    pub options: JobOptions,
    pub proxy_tier: ProxyTier,
    pub proxy_country: Option<String>,
    pub proxy_session_id: Option<String>,
    pub priority: i32,
    pub max_attempts: i32,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub client_reference: Option<String>,
    pub idempotency_key: Option<String>,
    pub metadata: serde_json::Value,
}

impl NewJob {
    pub const MAX_URL_LEN: usize = 8 * 1024;
    pub const MAX_BODY_BYTES: usize = 1024 * 1024;
    /// Session ids, client references, idempotency keys, webhook secrets.
    pub const MAX_TEXT: usize = 255;
    pub const MAX_METADATA_BYTES: usize = 16 * 1024;
    /// Priorities run from lowest to highest; a job without one gets the default.
    pub const MIN_PRIORITY: i32 = 1;
    pub const MAX_PRIORITY: i32 = 10;
    pub const DEFAULT_PRIORITY: i32 = 5;
    /// Attempts a job may take before it fails, at most.
    pub const MAX_ATTEMPTS: i32 = 10;
    pub const DEFAULT_MAX_ATTEMPTS: i32 = 3;
    pub const MAX_WEBHOOK_URL_LEN: usize = wire_text::MAX_WEBHOOK_URL_LEN;

    /// A GET of `url` with every default.
    pub fn get(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            method: HttpMethod::Get,
            headers: RequestHeaders::default(),
            body: None,
            engine: Engine::Auto,
            options: JobOptions::default(),
            proxy_tier: ProxyTier::Datacenter,
            proxy_country: None,
            proxy_session_id: None,
            priority: Self::DEFAULT_PRIORITY,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            webhook_url: None,
            webhook_secret: None,
            client_reference: None,
            idempotency_key: None,
            metadata: serde_json::json!({}),
        }
    }

    /// Structural checks that need no network (the API adds address checks on top): the
    /// one place every submission path (API, batches, ScrapeBatch) is checked. The error
    /// names the field as this struct calls it (`proxy_country`, `options.timeout`).
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, message: &str| Err(Error::validation(field, message));
        if self.url.len() > Self::MAX_URL_LEN {
            return bad("url", "must be at most 8 KB");
        }
        if !wire_text::is_clean_url(&self.url) {
            return bad("url", "may not contain spaces or control characters");
        }
        let parsed = url::Url::parse(&self.url)
            .map_err(|e| Error::validation("url", format!("not a valid URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return bad("url", "scheme must be http or https");
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return bad("url", "must have a host");
        }
        self.options.validate()?;
        if self.engine == crate::domain::Engine::Http
            && let Some(field) = self.options.browser_only_field()
        {
            return bad(
                field,
                "needs a browser engine (browser, stealth or auto); the http engine cannot run it",
            );
        }
        if let (Some(location), Some(country)) = (&self.options.location, &self.proxy_country)
            && !location.country.eq_ignore_ascii_case(country)
        {
            return bad(
                "options.location.country",
                "must agree with proxy_country when both are given",
            );
        }
        self.headers.validate()?;
        if self
            .body
            .as_ref()
            .is_some_and(|b| b.len() > Self::MAX_BODY_BYTES)
        {
            return bad("body", "must be at most 1 MB");
        }
        if !(Self::MIN_PRIORITY..=Self::MAX_PRIORITY).contains(&self.priority) {
            let (min, max) = (Self::MIN_PRIORITY, Self::MAX_PRIORITY);
            return bad("priority", &format!("must be between {min} and {max}"));
        }
        if !(1..=Self::MAX_ATTEMPTS).contains(&self.max_attempts) {
            let max = Self::MAX_ATTEMPTS;
            return bad("max_attempts", &format!("must be between 1 and {max}"));
        }
        if let Some(country) = &self.proxy_country
            && (country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            return bad("proxy_country", "must be a two-letter country code");
        }
        for (field, value) in [
            ("proxy_session_id", &self.proxy_session_id),
            ("client_reference", &self.client_reference),
            ("idempotency_key", &self.idempotency_key),
        ] {
            if value
                .as_ref()
                .is_some_and(|v| v.is_empty() || v.len() > Self::MAX_TEXT)
            {
                return bad(field, "must be 1 to 255 characters");
            }
        }
        if let Some(hook) = &self.webhook_url {
            wire_text::check_webhook_url("webhook_url", hook)?;
        }
        if let Some(secret) = &self.webhook_secret {
            if !(16..=Self::MAX_TEXT).contains(&secret.len()) {
                return bad("webhook_secret", "must be 16 to 255 characters");
            }
            if self.webhook_url.is_none() {
                return bad("webhook_secret", "needs a webhook_url");
            }
        }
        if !self.metadata.is_object() || self.metadata.to_string().len() > Self::MAX_METADATA_BYTES
        {
            return bad("metadata", "must be a JSON object of at most 16 KB");
        }
        Ok(())
    }
}

/// The one batch-size rule, for the API's batches, Firecrawl's and the operator's
/// ScrapeBatch: at least one URL, at most the organization's `max_batch_size`. Each caller
/// words [`Error::BatchSize`] its own way (a 422 on `urls`, a 400, a status condition).
pub fn check_batch_size(count: usize, max_batch_size: i64) -> Result<()> {
    let max = usize::try_from(max_batch_size).unwrap_or(0);
    if count == 0 || count > max {
        return Err(Error::BatchSize { count, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Action, Location};

    fn job(engine: Engine, options: JobOptions) -> NewJob {
        NewJob {
            engine,
            options,
            ..NewJob::get("https://example.com/")
        }
    }

    fn refused_field(job: &NewJob) -> String {
        match job.validate() {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn an_http_only_job_with_actions_or_mobile_is_refused_and_others_accept_them() {
        let with_actions = JobOptions {
            actions: vec![Action::Scrape],
            ..JobOptions::default()
        };
        assert_eq!(
            refused_field(&job(Engine::Http, with_actions.clone())),
            "options.actions"
        );
        let mobile = JobOptions {
            mobile: true,
            ..JobOptions::default()
        };
        assert_eq!(
            refused_field(&job(Engine::Http, mobile.clone())),
            "options.mobile"
        );
        for engine in [Engine::Auto, Engine::Browser, Engine::Stealth] {
            job(engine, with_actions.clone())
                .validate()
                .expect("accepted");
            job(engine, mobile.clone()).validate().expect("accepted");
        }
        assert_eq!(Engine::Auto.starting(&with_actions), Engine::Browser);
    }

    #[test]
    fn a_location_must_agree_with_the_proxy_country() {
        let options = JobOptions {
            location: Some(Location {
                country: "de".into(),
                languages: vec![],
            }),
            ..JobOptions::default()
        };
        let mut j = job(Engine::Auto, options);
        j.validate().expect("no proxy country");
        j.proxy_country = Some("DE".into());
        j.validate().expect("the same country");
        j.proxy_country = Some("FR".into());
        assert_eq!(refused_field(&j), "options.location.country");
    }

    #[test]
    fn a_batch_needs_one_url_and_at_most_its_organizations_limit() {
        check_batch_size(1, 1).expect("one of one");
        check_batch_size(5, 5).expect("at the limit");
        assert!(matches!(
            check_batch_size(0, 5),
            Err(Error::BatchSize { count: 0, max: 5 })
        ));
        assert!(matches!(
            check_batch_size(6, 5),
            Err(Error::BatchSize { count: 6, max: 5 })
        ));
        assert!(
            matches!(
                check_batch_size(1, -1),
                Err(Error::BatchSize { max: 0, .. })
            ),
            "a negative limit allows nothing"
        );
        assert_eq!(Error::batch_rule(0, 5), "must not be empty");
        assert_eq!(Error::batch_rule(6, 5), "at most 5 URLs per batch");
    }
}
