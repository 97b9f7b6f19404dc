//! The payloads of the job events a worker records, one struct each. Each names its event
//! type ([`Payload::KIND`]), so a payload cannot be recorded under the wrong type. The API
//! serves them as they are written (`GET /v1/jobs/{id}/events`, `data`): a field renamed
//! here is renamed for every client.

use scraperx_core::domain::{Engine, EventType, HttpMethod, ProxyTier};
use serde::Serialize;
use uuid::Uuid;

use crate::fetch::Timings;

/// A job event's payload, and the event type it is recorded as.
pub trait Payload: Serialize {
    const KIND: EventType;
}

macro_rules! payload {
    ($name:ident, $kind:ident) => {
        impl Payload for $name<'_> {
            const KIND: EventType = EventType::$kind;
        }
    };
}

/// The engine a stage of the fetch runs on.
#[derive(Debug, Serialize)]
pub struct EngineSelected {
    pub engine: Engine,
}

impl Payload for EngineSelected {
    const KIND: EventType = EventType::EngineSelected;
}

/// A request leaves for the target. `method` is the job's on plain HTTP; a browser
/// navigates with GET, and its events carry none.
#[derive(Debug, Serialize)]
pub struct RequestSent<'a> {
    pub engine: Engine,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<HttpMethod>,
    pub url: &'a str,
    pub proxied: bool,
}
payload!(RequestSent, RequestSent);

/// The job goes through a proxy provider.
#[derive(Debug, Serialize)]
pub struct ProxyAssigned<'a> {
    pub provider: Uuid,
    pub tier: ProxyTier,
    pub country: Option<&'a str>,
    pub engine: Engine,
}
payload!(ProxyAssigned, ProxyAssigned);

/// The stealth engine wears a fingerprint from the table.
#[derive(Debug, Serialize)]
pub struct FingerprintApplied<'a> {
    pub fingerprint_id: Uuid,
    pub user_agent: &'a str,
    pub timezone: &'a str,
}
payload!(FingerprintApplied, FingerprintApplied);

/// Why the fetch moved to a stronger engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Escalation {
    /// A challenge (bot protection) stood before the content.
    Challenge,
    /// The page was an empty shell that needs JavaScript.
    JavascriptShell,
}

/// The fetch moved from one engine to the next, with what the page showed.
#[derive(Debug, Serialize)]
pub struct Escalated {
    pub from: Engine,
    pub to: Engine,
    pub reason: Escalation,
    pub protection: Option<&'static str>,
    pub captcha: Option<&'static str>,
    pub score: f64,
}

impl Payload for Escalated {
    const KIND: EventType = EventType::Escalated;
}

/// The page's response, with where the time went (the event's duration is the total).
#[derive(Debug, Serialize)]
pub struct ResponseReceived<'a> {
    pub status: u16,
    pub final_url: &'a str,
    pub redirects: u32,
    pub bytes: usize,
    pub timings: Timings,
}
payload!(ResponseReceived, ResponseReceived);

/// A CAPTCHA was seen and left: no solver, or not on a page a solver can reach.
#[derive(Debug, Serialize)]
pub struct CaptchaDetected {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub solver: &'static str,
}

impl Payload for CaptchaDetected {
    const KIND: EventType = EventType::CaptchaDetected;
}

/// The solver took a CAPTCHA on.
#[derive(Debug, Serialize)]
pub struct CaptchaSolving<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
}
payload!(CaptchaSolving, CaptchaSolving);

/// The solver got past the CAPTCHA (the event's duration is the solve time).
#[derive(Debug, Serialize)]
pub struct CaptchaSolved<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
}
payload!(CaptchaSolved, CaptchaSolved);

/// The solver did not get past the CAPTCHA.
#[derive(Debug, Serialize)]
pub struct CaptchaFailed<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub error: Option<&'a str>,
}
payload!(CaptchaFailed, CaptchaFailed);

/// A screenshot was stored.
#[derive(Debug, Serialize)]
pub struct ScreenshotTaken {
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

impl Payload for ScreenshotTaken {
    const KIND: EventType = EventType::ScreenshotTaken;
}

/// What extraction found, and what it cut short (absent when nothing was).
pub use crate::extract::Summary as ContentExtracted;
payload!(ContentExtracted, ContentExtracted);

/// A failed attempt goes back to the queue for another.
#[derive(Debug, Serialize)]
pub struct RetryScheduled<'a> {
    /// The attempt that failed.
    pub attempt: i32,
    pub delay_ms: u64,
    pub error_code: &'static str,
    pub error: &'a str,
}
payload!(RetryScheduled, RetryScheduled);

/// Why a job went `running → queued`: the data of its `job.queued` event (the transition
/// adds `from`, `attempt` and `error_code`).
#[derive(Debug, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Requeued {
    /// Its previous worker died mid-lease; this is delivery number `deliveries`.
    LeaseExpired { deliveries: u32 },
    /// Its worker stopped before finishing it and handed it back.
    WorkerShutdown,
    /// The attempt failed with `error`, and attempts are left.
    Retry { error: &'static str },
}

impl Requeued {
    /// The transition's event data.
    pub fn data(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({}))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn json_of(p: &impl Serialize) -> serde_json::Value {
        serde_json::to_value(p).expect("serializable")
    }

    #[test]
    fn requeue_reasons_keep_the_shape_the_api_served_before() {
        assert_eq!(
            Requeued::LeaseExpired { deliveries: 2 }.data(),
            json!({ "reason": "lease_expired", "deliveries": 2 })
        );
        assert_eq!(
            Requeued::WorkerShutdown.data(),
            json!({ "reason": "worker_shutdown" })
        );
        assert_eq!(
            Requeued::Retry {
                error: "network_error"
            }
            .data(),
            json!({ "reason": "retry", "error": "network_error" })
        );
    }

    #[test]
    fn escalations_and_captchas_keep_their_field_names() {
        let e = Escalated {
            from: Engine::Http,
            to: Engine::Browser,
            reason: Escalation::JavascriptShell,
            protection: None,
            captcha: Some("turnstile"),
            score: 0.25,
        };
        assert_eq!(
            json_of(&e),
            json!({ "from": "http", "to": "browser", "reason": "javascript_shell",
                    "protection": null, "captcha": "turnstile", "score": 0.25 })
        );
        let c = CaptchaFailed {
            kind: "recaptcha",
            error: Some("no answer"),
        };
        assert_eq!(
            json_of(&c),
            json!({ "type": "recaptcha", "error": "no answer" })
        );
    }

    #[test]
    fn a_browser_request_carries_no_method_and_an_extraction_without_cuts_no_cut() {
        let sent = RequestSent {
            engine: Engine::Browser,
            method: None,
            url: "https://example.test/",
            proxied: false,
        };
        assert_eq!(
            json_of(&sent),
            json!({ "engine": "browser", "url": "https://example.test/", "proxied": false })
        );
        let extracted = ContentExtracted {
            links: 3,
            images: 1,
            rules: 0,
            cut: &[],
        };
        assert_eq!(
            json_of(&extracted),
            json!({ "links": 3, "images": 1, "rules": 0 })
        );
    }
}
