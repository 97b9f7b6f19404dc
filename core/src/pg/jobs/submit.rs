//! Submitting jobs: one statement for many, each job's reservation taken in the same
//! transaction (all or none), idempotent by key, its secret sealed to its row.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::{JOB_COLUMNS, Job};
use crate::{
    Error, Result,
    domain::{ApiKeyId, BatchId, OrgId, pricing},
    pg::{Db, NewJob},
};

/// The outcome of submitting one job.
#[derive(Debug, Clone)]
pub enum Submission {
    /// A new job, its estimated credits reserved.
    Created(Job),
    /// The idempotency key was used before: the original job, nothing charged.
    Existing(Job),
}

impl Submission {
    pub fn job(&self) -> &Job {
        match self {
            Submission::Created(job) | Submission::Existing(job) => job,
        }
    }

    pub fn into_job(self) -> Job {
        match self {
            Submission::Created(job) | Submission::Existing(job) => job,
        }
    }

    pub fn is_created(&self) -> bool {
        matches!(self, Submission::Created(_))
    }
}

impl Db {
    /// Submits one job: see [`Db::submit_jobs`].
    pub async fn submit_job(
        &self,
        org: OrgId,
        api_key: Option<ApiKeyId>,
        job: &NewJob,
    ) -> Result<Submission> {
        let mut out = self
            .submit_jobs(org, api_key, None, std::slice::from_ref(job))
            .await?;
        out.pop().ok_or(Error::NotFound { entity: "job" })
    }

    /// Submits jobs in one transaction with one multi-row INSERT: each job reserves
    /// [`pricing::reservation`] (the most it can cost) and the total is taken with `deduct_credits`. When
    /// the balance cannot cover it nothing is inserted ([`Error::InsufficientCredits`]). A job
    /// whose idempotency key exists already is not inserted nor charged: its original comes
    /// back as [`Submission::Existing`]. Results are in input order.
    pub async fn submit_jobs(
        &self,
        org: OrgId,
        api_key: Option<ApiKeyId>,
        batch: Option<BatchId>,
        jobs: &[NewJob],
    ) -> Result<Vec<Submission>> {
        for (i, job) in jobs.iter().enumerate() {
            job.validate().map_err(|e| match e {
                Error::Validation { field, message } if jobs.len() > 1 => Error::Validation {
                    field: format!("urls[{i}].{field}"),
                    message,
                },
                other => other,
            })?;
        }
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = jobs.iter().map(|_| Uuid::now_v7()).collect();
        let col = |f: fn(&NewJob) -> Option<String>| jobs.iter().map(f).collect::<Vec<_>>();
        let urls = col(|j| Some(j.url.clone()));
        let methods = col(|j| Some(j.method.as_str().to_owned()));
        let bodies = col(|j| j.body.clone());
        let engines = col(|j| Some(j.engine.as_str().to_owned()));
        let tiers = col(|j| Some(j.proxy_tier.as_str().to_owned()));
        let countries = col(|j| j.proxy_country.as_ref().map(|c| c.to_ascii_uppercase()));
        let sessions = col(|j| j.proxy_session_id.clone());
        let webhook_urls = col(|j| j.webhook_url.clone());
        let webhook_secrets = self.seal_job_secrets(&ids, jobs)?;
        let references = col(|j| j.client_reference.clone());
        let keys = col(|j| j.idempotency_key.clone());
        let headers: Vec<serde_json::Value> = jobs.iter().map(|j| j.headers.to_json()).collect();
        let metadata: Vec<serde_json::Value> = jobs.iter().map(|j| j.metadata.clone()).collect();
        let options = jobs
            .iter()
            .map(|j| serde_json::to_value(&j.options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::validation("options", e.to_string()))?;
        let prices: Vec<i64> = jobs
            .iter()
            .map(|j| pricing::reservation(j.engine, j.proxy_tier, &j.options))
            .collect();
        let priorities: Vec<i32> = jobs.iter().map(|j| j.priority).collect();
        let max_attempts: Vec<i32> = jobs.iter().map(|j| j.max_attempts).collect();

        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "WITH ins AS (INSERT INTO scrape_jobs (id, organization_id, api_key_id, batch_id, url, url_hash, method, \
                 headers, body, engine, options, proxy_tier, proxy_country, proxy_session_id, \
                 priority, max_attempts, webhook_url, webhook_secret_sealed, client_reference, \
                 idempotency_key, metadata, credits_estimated, credit_breakdown) \
             SELECT u.id, $1, $2, $3, u.url, '', u.method, u.headers, u.body, u.engine, u.options, \
                 u.tier, u.country, u.session, u.priority, u.max_attempts, u.webhook_url, \
                 u.webhook_secret, u.reference, u.key, u.metadata, u.credits, \
                 jsonb_build_object('engine', u.engine, 'proxy_tier', u.tier, 'estimated', u.credits) \
             FROM UNNEST($4::uuid[], $5::text[], $6::text[], $7::jsonb[], $8::text[], $9::text[], \
                 $10::jsonb[], $11::text[], $12::text[], $13::text[], $14::int[], $15::int[], \
                 $16::text[], $17::bytea[], $18::text[], $19::text[], $20::jsonb[], $21::bigint[]) \
                 AS u(id, url, method, headers, body, engine, options, tier, country, session, \
                      priority, max_attempts, webhook_url, webhook_secret, reference, key, metadata, \
                      credits) \
             ON CONFLICT (organization_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
             RETURNING *), \
             created AS (INSERT INTO job_events (job_id, organization_id, event_type, event_data) \
                 SELECT id, organization_id, 'job.created', \
                        jsonb_build_object('credits_reserved', credits_estimated, 'engine', engine) \
                 FROM ins) \
             SELECT {JOB_COLUMNS} FROM ins"
        );
        let inserted: Vec<Job> = crate::pg::sql::query_as(&sql)
            .bind(org)
            .bind(api_key)
            .bind(batch)
            .bind(&ids)
            .bind(&urls)
            .bind(&methods)
            .bind(&headers)
            .bind(&bodies)
            .bind(&engines)
            .bind(&options)
            .bind(&tiers)
            .bind(&countries)
            .bind(&sessions)
            .bind(&priorities)
            .bind(&max_attempts)
            .bind(&webhook_urls)
            .bind(&webhook_secrets)
            .bind(&references)
            .bind(&keys)
            .bind(&metadata)
            .bind(&prices)
            .fetch_all(&mut *tx)
            .await?;

        let required: i64 = inserted.iter().map(|j| j.credits_estimated).sum();
        if required > 0 {
            let covered: bool = crate::pg::sql::query_scalar("SELECT deduct_credits($1, $2)")
                .bind(org)
                .bind(required)
                .fetch_one(&mut *tx)
                .await?;
            if !covered {
                return Err(Error::InsufficientCredits { required });
            }
        }
        // Jobs not inserted collided on their idempotency key: return the originals.
        let inserted_set: HashSet<Uuid> = inserted.iter().map(|j| j.id.as_uuid()).collect();
        let replayed: Vec<String> = jobs
            .iter()
            .zip(&ids)
            .filter(|(_, id)| !inserted_set.contains(id))
            .filter_map(|(j, _)| j.idempotency_key.clone())
            .collect();
        let existing: Vec<Job> = if replayed.is_empty() {
            Vec::new()
        } else {
            let sql = format!(
                "SELECT {JOB_COLUMNS} FROM scrape_jobs WHERE organization_id = $1 AND idempotency_key = ANY($2)"
            );
            crate::pg::sql::query_as(&sql)
                .bind(org)
                .bind(&replayed)
                .fetch_all(&mut *tx)
                .await?
        };
        tx.commit().await?;

        let mut created: HashMap<Uuid, Job> =
            inserted.into_iter().map(|j| (j.id.as_uuid(), j)).collect();
        let existing: HashMap<String, Job> = existing
            .into_iter()
            .filter_map(|j| j.idempotency_key.clone().map(|k| (k, j)))
            .collect();
        jobs.iter()
            .zip(ids)
            .map(|(new, id)| {
                if let Some(job) = created.remove(&id) {
                    return Ok(Submission::Created(job));
                }
                new.idempotency_key
                    .as_ref()
                    .and_then(|k| existing.get(k))
                    .cloned()
                    .map(Submission::Existing)
                    .ok_or(Error::Conflict {
                        constraint: "idx_jobs_idempotency".into(),
                    })
            })
            .collect()
    }
}
