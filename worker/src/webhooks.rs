//! Webhook delivery. When a job reaches a final state the worker queues one delivery per
//! subscribed webhook of the organization (and one for the job's own `webhook_url`), on the
//! webhooks queue, so a slow or dead endpoint never holds up scraping.
//!
//! Each delivery is a POST of JSON, signed like Stripe's: the header
//! `ScraperX-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` with the
//! webhook's secret (a per-job webhook is signed with the job's `webhook_secret`, when one
//! was given). While a rotated-out secret is still valid the header carries one `v1=` per
//! secret, the new one first (`t=..,v1=<new>,v1=<old>`); receivers accept the delivery when
//! any `v1` matches. Receivers recompute the HMAC over the raw body and reject old
//! timestamps. Secrets are opened from their sealed form only here, with the worker's key.
//! Failures are retried with exponential backoff up to the webhook's `retry_count`; each one
//! extends the webhook's `consecutive_failures`, and at [`DISABLE_AFTER`] in a row the
//! webhook is deactivated.
//!
//! A delivery holds its lease for as long as it runs (extended every third of the lease),
//! so an endpoint slower than the lease is still called once. An organization has at most
//! `MAX_CONCURRENT_DELIVERIES_PER_ORG` deliveries in flight across the fleet (a Redis slot
//! each); one over the bound is deferred, uncounted, and picked up again shortly.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use scraperx_core::{
    domain::{EventType, JobId, OrgId, WebhookId},
    hot::{RedisConn, slots::ConcurrencySlots},
    pg::{Db, Job, MAX_CONCURRENT_DELIVERIES_PER_ORG, NewJobEvent},
    queue::{JobQueue, Lease, retry_delay},
    secrets::SecretBox,
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::fetch::guard::{GuardedResolver, check_url};

/// Consecutive failed deliveries after which a webhook is switched off.
pub const DISABLE_AFTER: i32 = 20;
pub const SIGNATURE_HEADER: &str = "ScraperX-Signature";

/// A queued delivery: what to send where, rebuilt from Postgres when sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub id: uuid::Uuid,
    pub event: String,
    pub job_id: JobId,
    /// A registered webhook; None for the job's own `webhook_url`.
    pub webhook_id: Option<WebhookId>,
    pub created_at: DateTime<Utc>,
    /// A crawl's end, sent to the crawl's `webhook_url` (`job_id` is its start page's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawl: Option<crate::crawl::CrawlEnded>,
}

/// A job's or crawl's own secret as the secrets to sign with: none when it has none; a
/// secret that cannot be opened (no key, or not this key's) fails the delivery with the
/// reason, while a database that cannot be reached is the caller's error (retried).
fn signing_secrets(
    secret: scraperx_core::Result<Option<String>>,
) -> scraperx_core::Result<Result<Vec<String>, String>> {
    match secret {
        Ok(secret) => Ok(Ok(secret.into_iter().collect())),
        Err(err) if err.is_retryable() => Err(err),
        Err(err) => Ok(Err(err.to_string())),
    }
}

/// The event a final job status announces (the job event of the same name).
pub fn event_for(job: &Job) -> Option<&'static str> {
    job.is_final()
        .then(|| EventType::for_status(job.status).as_str())
}

/// `t=<t>,v1=<hex hmac>` for `body` at `t`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    sign_all(&[secret], t, body)
}

/// `t=<t>,v1=<hmac with the first secret>,v1=<with the next>...`: one signature per valid
/// secret, so a receiver holding either side of a rotation verifies the delivery.
pub fn sign_all(secrets: &[impl AsRef<str>], t: i64, body: &[u8]) -> String {
    let mut header = format!("t={t}");
    for secret in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_ref().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac.finalize().into_bytes()));
    }
    header
}

/// How long a delivery over its organization's bound waits before it is tried again.
pub const DEFER_DELAY: Duration = Duration::from_millis(500);

/// Queues the deliveries a finished job calls for. Failures are logged, never fatal: the
/// job's own outcome is already recorded.
pub async fn announce(db: &Db, queue: &JobQueue, job: &Job) {
    let Some(event) = event_for(job) else { return };
    let mut deliveries = Vec::new();
    match db.webhooks_for_event(job.organization_id, event).await {
        Ok(hooks) => deliveries.extend(hooks.into_iter().map(|h| Some(h.id))),
        Err(err) => tracing::warn!(job = %job.id, error = %err, "webhooks not read"),
    }
    if job.webhook_url.is_some() {
        deliveries.push(None);
    }
    for webhook_id in deliveries {
        // The same job, event and endpoint always make the same delivery id: announcing
        // again (a worker died before acknowledging the job) queues no second entry, and
        // a receiver can drop a repeat by the body's `id`.
        let endpoint = webhook_id.map_or_else(|| "job".to_owned(), |w| w.to_string());
        let d = Delivery {
            id: uuid::Uuid::new_v5(&job.id.as_uuid(), format!("{event}:{endpoint}").as_bytes()),
            event: event.to_owned(),
            job_id: job.id,
            webhook_id,
            created_at: Utc::now(),
            crawl: None,
        };
        let payload = serde_json::to_string(&d).unwrap_or_default();
        match queue
            .enqueue(&d.id.to_string(), &payload, 5, Duration::ZERO)
            .await
        {
            // Already waiting in the queue: nothing new to record.
            Ok(false) => {}
            Ok(true) => {
                let data = serde_json::json!({ "delivery": d.id, "event": event, "webhook_id": webhook_id });
                record(db, job, EventType::WebhookQueued, data, None).await;
            }
            Err(err) => tracing::warn!(job = %job.id, error = %err, "webhook delivery not queued"),
        }
    }
}

/// Records a webhook event on the job's timeline; a failure to record is only logged.
async fn record(db: &Db, job: &Job, kind: EventType, data: serde_json::Value, ms: Option<u32>) {
    let event = NewJobEvent::of(job, kind, data, ms, None);
    if let Err(err) = db.record_event(&event).await {
        tracing::warn!(job = %job.id, error = %err, "webhook event not recorded");
    }
}

pub struct Deliverer {
    pub db: Db,
    client: reqwest::Client,
    allow_private: bool,
    retry_base: Duration,
    retry_max: Duration,
    /// How long a lease lasts; a delivery extends its own every third of it.
    lease: Duration,
    /// Opens sealed webhook secrets.
    secrets: Option<SecretBox>,
    /// Deliveries in flight per organization.
    slots: ConcurrencySlots,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    Retrying,
    GaveUp,
    /// The webhook or job is gone, or the webhook was switched off.
    Dropped,
    /// Its organization had as many deliveries in flight as it may: put back, uncounted.
    Deferred,
    /// The lease was lost (another holder has the delivery).
    Released,
}

/// Where a delivery goes and what signs it.
struct Endpoint {
    url: String,
    /// Current first, then a rotated-out one; empty: unsigned (a per-job URL without secret).
    secrets: Result<Vec<String>, String>,
    timeout_ms: i32,
    retries: i32,
}

/// What the deliverer is built from.
pub struct DelivererSettings {
    pub allow_private: bool,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub lease: Duration,
    pub secrets: Option<SecretBox>,
}

impl Deliverer {
    pub fn new(db: Db, redis: RedisConn, s: DelivererSettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(GuardedResolver {
                allow_private: s.allow_private,
            }))
            .user_agent(concat!("ScraperX-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            db,
            client,
            allow_private: s.allow_private,
            retry_base: s.retry_base,
            retry_max: s.retry_max,
            lease: s.lease,
            secrets: s.secrets,
            slots: ConcurrencySlots::deliveries(redis, s.lease),
        })
    }

    pub async fn deliver(
        &self,
        queue: &JobQueue,
        lease: Lease,
    ) -> scraperx_core::Result<DeliveryOutcome> {
        let Ok(d) = serde_json::from_str::<Delivery>(&lease.payload) else {
            queue.ack(&lease).await?;
            return Ok(DeliveryOutcome::Dropped);
        };
        let job = match self.db.get_job_unscoped(d.job_id).await {
            Ok(job) => job,
            Err(scraperx_core::Error::NotFound { .. }) => {
                queue.ack(&lease).await?;
                return Ok(DeliveryOutcome::Dropped);
            }
            Err(e) => return Err(e),
        };
        let Some(endpoint) = self.endpoint(&d, &job).await? else {
            queue.ack(&lease).await?;
            return Ok(DeliveryOutcome::Dropped);
        };
        let (org, slot) = (job.organization_id, d.id.to_string());
        let bound = MAX_CONCURRENT_DELIVERIES_PER_ORG;
        if !self.slots.acquire(org, &slot, bound).await?.is_granted() {
            queue.defer(&lease, DEFER_DELAY).await?;
            return Ok(DeliveryOutcome::Deferred);
        }
        let outcome = self.attempt(queue, &lease, &d, &job, endpoint).await;
        if let Err(err) = self.slots.release(org, &slot).await {
            tracing::warn!(delivery = %d.id, error = %err, "delivery slot left to expire");
        }
        outcome
    }

    /// Where `d` goes; None when its webhook (or the job's URL) is gone or switched off.
    async fn endpoint(&self, d: &Delivery, job: &Job) -> scraperx_core::Result<Option<Endpoint>> {
        if let Some(crawl) = &d.crawl {
            return Ok(Some(Endpoint {
                url: crawl.webhook_url.clone(),
                secrets: signing_secrets(self.db.crawl_webhook_secret(crawl.id).await)?,
                timeout_ms: 10_000,
                retries: 3,
            }));
        }
        Ok(match d.webhook_id {
            Some(id) => self.db.webhook_target(id).await?.map(|t| Endpoint {
                secrets: match &self.secrets {
                    Some(seal) => t.signing_secrets(seal).map_err(|e| e.to_string()),
                    None => Err("no SCRX_SECRETS_KEY to open the webhook's secret".into()),
                },
                url: t.url,
                timeout_ms: t.timeout_ms,
                retries: t.retry_count,
            }),
            None => match &job.webhook_url {
                Some(url) => Some(Endpoint {
                    url: url.clone(),
                    secrets: signing_secrets(self.db.job_webhook_secret(job.id).await)?,
                    timeout_ms: 10_000,
                    retries: 3,
                }),
                None => None,
            },
        })
    }

    /// One attempt, holding the lease (and the organization's slot) while the endpoint
    /// answers; then the outcome recorded and the lease acknowledged or retried.
    async fn attempt(
        &self,
        queue: &JobQueue,
        lease: &Lease,
        d: &Delivery,
        job: &Job,
        endpoint: Endpoint,
    ) -> scraperx_core::Result<DeliveryOutcome> {
        let body = body_of(d, job);
        let (started, slot) = (std::time::Instant::now(), d.id.to_string());
        let delivered = tokio::select! {
            biased;
            () = self.hold(queue, lease, job.organization_id, &slot) => {
                tracing::warn!(delivery = %d.id, "lease lost while delivering");
                return Ok(DeliveryOutcome::Released);
            }
            sent = async {
                let secrets = endpoint.secrets.clone()?;
                self.post(&endpoint.url, &secrets, &body, endpoint.timeout_ms).await
            } => sent,
        };
        let took = crate::fetch::timing::elapsed_ms(started);
        self.settle(queue, lease, d, job, endpoint.retries, delivered, took)
            .await
    }

    /// Extends the lease and the organization's slot every third of the lease; resolves
    /// only when the lease is lost.
    async fn hold(&self, queue: &JobQueue, lease: &Lease, org: OrgId, slot: &str) {
        let mut tick = tokio::time::interval(self.lease / 3);
        tick.tick().await;
        loop {
            tick.tick().await;
            match queue.extend(lease, self.lease).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "delivery lease extension failed; retrying")
                }
            }
            if let Err(err) = self.slots.refresh(org, slot).await {
                tracing::warn!(error = %err, "delivery slot not renewed");
            }
        }
    }

    /// Records how the attempt went and acknowledges, retries or drops the delivery.
    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        queue: &JobQueue,
        lease: &Lease,
        d: &Delivery,
        job: &Job,
        retries: i32,
        delivered: Result<(), String>,
        took: u32,
    ) -> scraperx_core::Result<DeliveryOutcome> {
        let will_retry = i64::from(lease.deliveries) <= i64::from(retries);
        let (kind, data) = match &delivered {
            Ok(()) => (
                EventType::WebhookSent,
                serde_json::json!({ "delivery": d.id, "webhook_id": d.webhook_id, "attempt": lease.deliveries }),
            ),
            Err(reason) => (
                EventType::WebhookFailed,
                serde_json::json!({ "delivery": d.id, "webhook_id": d.webhook_id, "attempt": lease.deliveries,
                    "error": reason, "will_retry": will_retry }),
            ),
        };
        record(&self.db, job, kind, data, Some(took)).await;
        if let Some(id) = d.webhook_id {
            let still_active = self
                .db
                .record_webhook_delivery(id, delivered.is_ok(), DISABLE_AFTER)
                .await?;
            if !still_active {
                tracing::warn!(webhook = %id, "webhook disabled after repeated failures");
                queue.ack(lease).await?;
                return Ok(DeliveryOutcome::Dropped);
            }
        }
        match delivered {
            Ok(()) => {
                queue.ack(lease).await?;
                Ok(DeliveryOutcome::Delivered)
            }
            Err(reason) if will_retry => {
                let delay = retry_delay(lease.deliveries, self.retry_base, self.retry_max);
                tracing::info!(delivery = %d.id, %reason, ?delay, "webhook delivery failed; retrying");
                queue.retry(lease, delay).await?;
                Ok(DeliveryOutcome::Retrying)
            }
            Err(reason) => {
                tracing::warn!(delivery = %d.id, %reason, "webhook delivery failed; giving up");
                queue.ack(lease).await?;
                Ok(DeliveryOutcome::GaveUp)
            }
        }
    }

    async fn post(
        &self,
        url: &str,
        secrets: &[String],
        body: &[u8],
        timeout_ms: i32,
    ) -> Result<(), String> {
        let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
        check_url(&parsed, self.allow_private).map_err(|e| e.to_string())?;
        let mut request = self
            .client
            .post(parsed)
            .timeout(Duration::from_millis(
                u64::try_from(timeout_ms.max(1_000)).unwrap_or(30_000),
            ))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        if !secrets.is_empty() {
            request = request.header(
                SIGNATURE_HEADER,
                sign_all(secrets, Utc::now().timestamp(), body),
            );
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the endpoint answered {}", response.status()))
        }
    }
}

/// The JSON a delivery sends: the event and the job as it is now.
fn body_of(d: &Delivery, job: &Job) -> Vec<u8> {
    if let Some(crawl) = &d.crawl {
        let body = serde_json::json!({
            "id": d.id, "type": d.event, "created_at": d.created_at, "data": { "crawl": crawl },
        });
        return serde_json::to_vec(&body).unwrap_or_default();
    }
    serde_json::to_vec(&serde_json::json!({
        "id": d.id,
        "type": d.event,
        "created_at": d.created_at,
        "data": { "job": {
            "id": job.id,
            "status": job.status,
            "url": job.url,
            "batch_id": job.batch_id,
            "client_reference": job.client_reference,
            "attempts": job.attempts,
            "credits_charged": job.credits_charged,
            "error_code": job.error_code,
            "error_message": job.error_message,
            "completed_at": job.completed_at,
            "result_url": format!("/v1/jobs/{}/result", job.id),
        }},
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn during_a_rotation_the_header_carries_one_signature_per_secret_new_first() {
        let body = br#"{"a":1}"#;
        let both = sign_all(&["whsec_new", "whsec_test"], 1_700_000_000, body);
        let new = sign("whsec_new", 1_700_000_000, body);
        let old = sign("whsec_test", 1_700_000_000, body);
        let v1 = |h: &str| h.split(',').skip(1).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(v1(&both), [v1(&new), v1(&old)].concat());
        assert!(both.starts_with("t=1700000000,v1="));
    }

    #[test]
    fn signatures_are_hmac_sha256_over_timestamp_dot_body() {
        // Reference value computed independently:
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let sig = sign("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
        assert_ne!(sig, sign("whsec_other", 1_700_000_000, br#"{"a":1}"#));
        assert_ne!(sig, sign("whsec_test", 1_700_000_001, br#"{"a":1}"#));
    }
}
