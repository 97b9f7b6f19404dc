//! The CRDs' rules that attributes on a single field cannot state: CEL rules across fields or
//! over map keys (`x-kubernetes-validations`), map sizes, list semantics, and the patterns the
//! types share. Invariant: each states a check a reconciler (or core's `NewJob::validate`)
//! also makes, with the same limit, so `kubectl apply` refuses what the operator would only
//! fail later; the messages are the ones the reconcilers report.

use schemars::Schema;
use scraperx_core::domain::{JobOptions, RequestHeaders};
use serde_json::{Value, json};

/// An http or https URL with a host: the shape `NewJob::validate` requires (it parses the URL
/// in full; this is what a schema pattern can check).
pub const HTTP_URL: &str = r"^[Hh][Tt][Tt][Pp][Ss]?://([^/?#\s@]*@)?[^/?#\s@:]";
/// A Kubernetes object name (RFC 1123 subdomain).
pub const DNS_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

pub const NO_URLS: &str = "the batch lists no URLs (give urls or urlsFrom)";
pub const REPLICAS_INVERTED: &str = "minReplicas must not exceed maxReplicas";
pub const EMPTY_RULE_NAME: &str = "extraction rule names must not be empty";
pub const HEADER_TOO_LARGE: &str = "each header (name and value) must be at most 8 KB";
pub const CRAWL_FIXED: &str = "url and crawl cannot change once the crawl exists \
    (suspend, activeDeadlineSeconds and ttlSecondsAfterFinished can)";

const VALIDATIONS: &str = "x-kubernetes-validations";

/// Adds one CEL rule to `schema`: the API server refuses an object for which `rule` is false,
/// with `message`.
fn cel(schema: &mut Schema, rule: &str, message: &str) {
    let entry = json!({ "rule": rule, "message": message });
    match schema.get_mut(VALIDATIONS).and_then(Value::as_array_mut) {
        Some(rules) => rules.push(entry),
        None => {
            schema.insert(VALIDATIONS.into(), json!([entry]));
        }
    }
}

/// ScrapeBatch's spec: some URLs, inline or from a ConfigMap (whose lines the reconciler
/// counts again when it reads them).
pub fn scrape_batch(schema: &mut Schema) {
    cel(
        schema,
        "(has(self.urls) && size(self.urls) > 0) || has(self.urlsFrom)",
        NO_URLS,
    );
}

/// ScrapeCrawl's spec: the crawl is created once, from its URL and crawl options, so they
/// stay as they were (the reconciler warns, with the same message, about a crawl stored
/// before this rule).
pub fn scrape_crawl(schema: &mut Schema) {
    cel(
        schema,
        "self.url == oldSelf.url && self.crawl == oldSelf.crawl",
        CRAWL_FIXED,
    );
}

/// A batch's options: the wait after load ends before the job's timeout does.
pub fn batch_options(schema: &mut Schema) {
    let default = JobOptions::DEFAULT_TIMEOUT_MS;
    cel(
        schema,
        &format!(
            "!has(self.waitTime) || self.waitTime < (has(self.timeout) ? self.timeout : {default})"
        ),
        &wait_time_message(),
    );
}

/// The refusal of a wait after load that does not end before the timeout.
pub fn wait_time_message() -> String {
    format!(
        "waitTime must be less than timeout ({} ms when not set)",
        JobOptions::DEFAULT_TIMEOUT_MS
    )
}

/// A batch's extraction rules: how many, and named.
pub fn extract_rules(schema: &mut Schema) {
    schema.insert("maxProperties".into(), JobOptions::MAX_EXTRACT_RULES.into());
    cel(schema, "self.all(name, size(name) > 0)", EMPTY_RULE_NAME);
}

/// A batch's request headers: how many, and how large each.
pub fn headers(schema: &mut Schema) {
    schema.insert("maxProperties".into(), RequestHeaders::MAX_HEADERS.into());
    cel(
        schema,
        &format!(
            "self.all(name, size(name) + size(self[name]) <= {})",
            RequestHeaders::MAX_HEADER_BYTES
        ),
        HEADER_TOO_LARGE,
    );
}

/// WorkerPool's spec: a range of replicas that is not empty.
pub fn worker_pool(schema: &mut Schema) {
    cel(
        schema,
        "self.minReplicas <= self.maxReplicas",
        REPLICAS_INVERTED,
    );
}

/// A container's environment: entries keyed by name, so the API server refuses a name twice
/// (server-side apply of the Deployment would fail on it).
pub fn env_list(schema: &mut Schema) {
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert("x-kubernetes-list-map-keys".into(), json!(["name"]));
}
