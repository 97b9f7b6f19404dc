//! The custom resources, group `scraperx.io`, version `v1alpha1`: [`ScrapeBatch`],
//! [`ScrapeCrawl`] (in `crawl.rs`) and [`WorkerPool`]. Their OpenAPI schemas come from these types (schemars) and carry every
//! rule the reconcilers check (ranges, lengths, patterns, enums, and CEL rules across fields
//! in `x-kubernetes-validations`, see [`crate::rules`]), with core's limits: the API server
//! refuses a spec the operator could only fail later. The reconcilers check again.
//! `crdgen` prints them; `crds/` holds the output, and a test fails when the two drift apart.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{EnvVar, ResourceRequirements},
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
};
use kube::CustomResource;
use schemars::JsonSchema;
use scraperx_core::{
    domain::{
        Action, Engine, ExtractRule, JobOptions, Location, NOT_BLANK, RequestHeaders, ResourceType,
        ScrollDirection, WaitUntil, action_limits,
    },
    pg::NewJob,
};
use serde::{Deserialize, Serialize};

use crate::rules;

mod crawl;

pub use crawl::{CrawlPhase, CrawlSettings, ScrapeCrawl, ScrapeCrawlSpec, ScrapeCrawlStatus};

/// A key of a ConfigMap holding URLs, one per line.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A key of a Secret holding the organization's API key (`sk_...`).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default = "default_api_key_field")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

fn default_api_key_field() -> String {
    "apiKey".into()
}

/// Scrape options shared by every URL of the batch (the REST API's, camel-cased).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::batch_options)]
pub struct BatchOptions {
    #[serde(default)]
    pub render_js: bool,
    /// A CSS selector to wait for.
    #[schemars(length(min = 1, max = JobOptions::MAX_SELECTOR_LEN), pattern(NOT_BLANK))]
    pub wait_for: Option<String>,
    /// Milliseconds to wait after load; less than the timeout.
    #[schemars(range(min = 0, max = JobOptions::MAX_WAIT_TIME_MS))]
    pub wait_time: Option<u32>,
    /// What counts as loaded in a browser: load (default), networkidle0 or networkidle2.
    #[serde(default)]
    pub wait_until: WaitUntil,
    /// The whole job's timeout, in milliseconds.
    #[schemars(range(min = JobOptions::MIN_TIMEOUT_MS, max = JobOptions::MAX_TIMEOUT_MS))]
    pub timeout: Option<u32>,
    #[serde(default)]
    pub screenshot: bool,
    #[serde(default)]
    pub pdf: bool,
    #[serde(default)]
    pub markdown: bool,
    /// The cleaned HTML too: the selected content without scripts, styles, the head and
    /// comments, its URLs absolute.
    #[serde(default)]
    pub html: bool,
    /// Text and markdown of the main content only (no navigation, header, footer, ads).
    #[serde(default)]
    pub only_main_content: bool,
    /// CSS selectors: only what they match is kept in the text and markdown.
    #[serde(default)]
    #[schemars(
        length(max = JobOptions::MAX_CONTENT_SELECTORS),
        inner(length(min = 1, max = JobOptions::MAX_SELECTOR_LEN), pattern(NOT_BLANK))
    )]
    pub include_tags: Vec<String>,
    /// CSS selectors whose matches are removed from the text and markdown.
    #[serde(default)]
    #[schemars(
        length(max = JobOptions::MAX_CONTENT_SELECTORS),
        inner(length(min = 1, max = JobOptions::MAX_SELECTOR_LEN), pattern(NOT_BLANK))
    )]
    pub exclude_tags: Vec<String>,
    /// Images inlined as `data:` URLs are left out of the markdown and images.
    #[serde(default)]
    pub remove_base64_images: bool,
    /// Named extraction rules.
    #[schemars(transform = rules::extract_rules)]
    pub extract: Option<BTreeMap<String, ExtractRule>>,
    #[serde(default)]
    pub block_resources: Vec<ResourceType>,
    /// Request headers sent to every URL.
    #[schemars(transform = rules::headers)]
    pub headers: Option<RequestHeaders>,
    /// Browser actions run in order on every page once loaded (browser engines only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = action_limits::MAX_ACTIONS))]
    pub actions: Vec<BatchAction>,
    /// The visitor's country and languages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<BatchLocation>,
    /// A phone's viewport and user agent (browser engines only).
    #[serde(default)]
    pub mobile: bool,
}

/// One browser action, flat (the API's, camel-cased): `type` says which of the other
/// fields it reads. Core's checks name what is missing or out of range.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchAction {
    #[serde(rename = "type")]
    pub kind: BatchActionKind,
    /// wait: milliseconds to wait.
    #[schemars(range(min = 1, max = action_limits::MAX_ACTION_WAIT_MS))]
    pub milliseconds: Option<u32>,
    /// wait, click, scroll: a CSS selector.
    #[schemars(length(min = 1, max = JobOptions::MAX_SELECTOR_LEN), pattern(NOT_BLANK))]
    pub selector: Option<String>,
    /// click: every match, not only the first.
    #[serde(default)]
    pub all: bool,
    /// write: the text typed.
    #[schemars(length(min = 1, max = action_limits::MAX_WRITE_BYTES))]
    pub text: Option<String>,
    /// press: a key name (Enter, Tab, ArrowDown...) or one character.
    #[schemars(length(min = 1, max = 16))]
    pub key: Option<String>,
    /// scroll: up or down (default).
    pub direction: Option<ScrollDirection>,
    /// screenshot: the full page rather than the viewport.
    #[serde(default)]
    pub full_page: bool,
    /// executeJavascript: the script, as a function body.
    #[schemars(length(min = 1, max = action_limits::MAX_SCRIPT_BYTES))]
    pub script: Option<String>,
}

/// Which action a [`BatchAction`] is.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum BatchActionKind {
    #[default]
    Wait,
    Click,
    Write,
    Press,
    Scroll,
    Screenshot,
    ExecuteJavascript,
    Scrape,
}

impl BatchAction {
    /// Core's action; `at` names the step when a field its type needs is missing.
    pub fn to_action(&self, at: &str) -> Result<Action, String> {
        let needs = |field: &Option<String>, name: &str| {
            field
                .clone()
                .ok_or_else(|| format!("{at}.{name} is required for this type"))
        };
        Ok(match self.kind {
            BatchActionKind::Wait => Action::Wait {
                milliseconds: self.milliseconds,
                selector: self.selector.clone(),
            },
            BatchActionKind::Click => Action::Click {
                selector: needs(&self.selector, "selector")?,
                all: self.all,
            },
            BatchActionKind::Write => Action::Write {
                text: needs(&self.text, "text")?,
            },
            BatchActionKind::Press => Action::Press {
                key: needs(&self.key, "key")?,
            },
            BatchActionKind::Scroll => Action::Scroll {
                direction: self.direction.unwrap_or_default(),
                selector: self.selector.clone(),
            },
            BatchActionKind::Screenshot => Action::Screenshot {
                full_page: self.full_page,
            },
            BatchActionKind::ExecuteJavascript => Action::ExecuteJavascript {
                script: needs(&self.script, "script")?,
            },
            BatchActionKind::Scrape => Action::Scrape,
        })
    }
}

/// Where the batch's visitor is: a country and, optionally, its languages.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchLocation {
    /// ISO 3166-1 alpha-2 country code.
    #[schemars(length(min = 2, max = 2), pattern(r"^[A-Za-z]{2}$"))]
    pub country: String,
    /// BCP 47 language tags, most preferred first.
    #[serde(default)]
    #[schemars(length(max = action_limits::MAX_LANGUAGES))]
    pub languages: Vec<String>,
}

impl From<&BatchLocation> for Location {
    fn from(l: &BatchLocation) -> Self {
        Location {
            country: l.country.to_ascii_uppercase(),
            languages: l.languages.clone(),
        }
    }
}

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "scraperx.io",
    version = "v1alpha1",
    kind = "ScrapeBatch",
    namespaced,
    status = "ScrapeBatchStatus",
    shortname = "sb",
    category = "scraperx",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Progress","type":"string","jsonPath":".status.progress"}"#,
    printcolumn = r#"{"name":"Succeeded","type":"integer","jsonPath":".status.succeeded"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.failed"}"#,
    printcolumn = r#"{"name":"Running","type":"integer","jsonPath":".status.running","priority":1}"#,
    printcolumn = r#"{"name":"Batch","type":"string","jsonPath":".status.batchId","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::scrape_batch)]
pub struct ScrapeBatchSpec {
    /// URLs to scrape (http or https).
    #[serde(default)]
    #[schemars(
        length(max = MAX_INLINE_URLS),
        inner(length(min = 1, max = NewJob::MAX_URL_LEN), pattern(rules::HTTP_URL))
    )]
    pub urls: Vec<String>,
    /// More URLs, one per line, from a ConfigMap key: in `data`, or in `binaryData` as text
    /// or gzipped text (a list longer than a ConfigMap's 1 MiB fits gzipped).
    pub urls_from: Option<ConfigMapKeyRef>,
    /// The organization, by a Secret holding one of its API keys.
    pub organization_ref: SecretKeyRef,
    #[serde(default = "default_engine")]
    pub engine: Engine,
    #[serde(default)]
    pub options: BatchOptions,
    /// 1 (lowest) to 10 (highest).
    #[schemars(range(min = NewJob::MIN_PRIORITY, max = NewJob::MAX_PRIORITY))]
    pub priority: Option<i32>,
    /// Called as each job finishes (http or https).
    #[schemars(length(max = NewJob::MAX_WEBHOOK_URL_LEN), pattern(rules::HTTP_URL))]
    pub webhook: Option<String>,
    /// Attempts per URL before it fails.
    #[schemars(range(min = 1, max = NewJob::MAX_ATTEMPTS))]
    pub max_attempts: Option<i32>,
    /// Stop dispatching; the jobs stay and resume when this is cleared.
    #[serde(default)]
    pub suspend: bool,
    /// Fail the batch (canceling what is left) this long after it started.
    #[schemars(range(min = 1))]
    pub active_deadline_seconds: Option<i64>,
    /// Delete the batch this long after it finished.
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i64>,
}

/// URLs listed inline in one ScrapeBatch, at most (an organization's own batch limit may be
/// lower; the reconciler checks that one).
pub const MAX_INLINE_URLS: usize = 100_000;

pub(crate) fn default_engine() -> Engine {
    Engine::Auto
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum BatchPhase {
    #[default]
    Pending,
    Running,
    Suspended,
    Succeeded,
    Failed,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScrapeBatchStatus {
    pub phase: BatchPhase,
    pub total: i64,
    pub queued: i64,
    pub running: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub canceled: i64,
    /// Finished of total, e.g. "3/10".
    pub progress: String,
    pub start_time: Option<Time>,
    pub completion_time: Option<Time>,
    pub batch_id: Option<String>,
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PoolEngine {
    Http,
    Browser,
    Stealth,
}

impl PoolEngine {
    pub fn engine(self) -> Engine {
        match self {
            PoolEngine::Http => Engine::Http,
            PoolEngine::Browser => Engine::Browser,
            PoolEngine::Stealth => Engine::Stealth,
        }
    }
}

/// How fast a pool may grow or shrink.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScalingRules {
    /// The highest recommendation (scale-down) or lowest (scale-up) over this window wins,
    /// so an oscillating load does not make the pool flap.
    #[serde(default)]
    #[schemars(range(min = 0, max = 3600))]
    pub stabilization_window_seconds: u32,
    /// At most this many replicas added or removed per step.
    #[schemars(range(min = 1, max = 1000))]
    pub max_step: u32,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrowserSettings {
    /// Browser contexts (concurrent jobs) per worker.
    #[schemars(range(min = 1, max = 64))]
    pub contexts_per_worker: Option<u32>,
}

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "scraperx.io",
    version = "v1alpha1",
    kind = "WorkerPool",
    namespaced,
    status = "WorkerPoolStatus",
    shortname = "wp",
    category = "scraperx",
    printcolumn = r#"{"name":"Engine","type":"string","jsonPath":".spec.engine"}"#,
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".status.replicas"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".status.desiredReplicas"}"#,
    printcolumn = r#"{"name":"Queue","type":"integer","jsonPath":".status.queueDepth"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rules::worker_pool)]
pub struct WorkerPoolSpec {
    pub engine: PoolEngine,
    #[schemars(range(min = 0, max = MAX_REPLICAS))]
    pub min_replicas: u32,
    /// At least minReplicas.
    #[schemars(range(min = 1, max = MAX_REPLICAS))]
    pub max_replicas: u32,
    /// Waiting plus in-flight jobs each replica should carry.
    #[schemars(range(min = 1, max = 10000))]
    pub target_jobs_per_replica: u32,
    #[schemars(length(min = 1))]
    pub image: String,
    pub resources: Option<ResourceRequirements>,
    /// The Secret (in the pool's namespace) whose worker keys the workers are given, key by
    /// key: DATABASE_URL, REDIS_URL, S3_ENDPOINT, S3_WORKER_ACCESS_KEY, S3_WORKER_SECRET_KEY
    /// and, when present, SCRX_SECRETS_KEY.
    #[serde(default = "default_connection_secret")]
    #[schemars(length(min = 1, max = 253), pattern(rules::DNS_SUBDOMAIN))]
    pub connection_secret: String,
    /// The non-root user (and group) the workers run as.
    #[serde(default = "default_run_as_user")]
    #[schemars(range(min = 1, max = i32::MAX))]
    pub run_as_user: i64,
    /// More environment; an entry named like one the operator sets replaces it.
    #[serde(default)]
    #[schemars(transform = rules::env_list)]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub browser: BrowserSettings,
    #[serde(default = "default_scale_up")]
    pub scale_up: ScalingRules,
    #[serde(default = "default_scale_down")]
    pub scale_down: ScalingRules,
    /// Time a stopping worker gets to finish its jobs.
    #[serde(default = "default_drain")]
    #[schemars(range(min = 0, max = 3600))]
    pub drain_grace_period_seconds: u32,
}

/// Replicas of one pool, at most.
pub const MAX_REPLICAS: u32 = 1000;
/// The Secret a pool's workers read when its spec names none (the chart's default).
pub const DEFAULT_CONNECTION_SECRET: &str = "scraperx-connection";
/// The images' non-root user.
pub const DEFAULT_RUN_AS_USER: i64 = 10001;

impl WorkerPoolSpec {
    /// The checks across fields the CRD's CEL rules make too (the API server refuses such a
    /// spec; this catches one stored before the rule existed).
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.min_replicas > self.max_replicas {
            return Err(rules::REPLICAS_INVERTED);
        }
        Ok(())
    }
}

fn default_connection_secret() -> String {
    DEFAULT_CONNECTION_SECRET.into()
}

fn default_run_as_user() -> i64 {
    DEFAULT_RUN_AS_USER
}

fn default_scale_up() -> ScalingRules {
    ScalingRules {
        stabilization_window_seconds: 0,
        max_step: 10,
    }
}

fn default_scale_down() -> ScalingRules {
    ScalingRules {
        stabilization_window_seconds: 60,
        max_step: 2,
    }
}

fn default_drain() -> u32 {
    30
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerPoolStatus {
    pub replicas: u32,
    pub desired_replicas: u32,
    /// Waiting plus in flight on the pool's queue.
    pub queue_depth: i64,
    pub last_scale_time: Option<Time>,
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}
