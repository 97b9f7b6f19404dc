//! Submitting jobs: one statement for many, each job's reservation taken in the same
//! transaction (all or none), idempotent by key, its secret sealed to its row. A job starts
//! `pending` (dispatched later), or `queued` on a named queue with both its `job.created` and
//! `job.queued` events: the `pending → queued` move made in the same statement, so a batch
//! is one write however large (the caller then puts the entries on Redis; one it could not
//! is restored by the re-enqueue sweep, as after any failed enqueue).

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

    /// Submits jobs as [`Db::submit_jobs`] does, each already `queued` on `queues[i]` (the
    /// name of the queue job i starts on, [`crate::dispatch::QueueSet::for_job`]).
    pub async fn submit_jobs_queued(
        &self,
        org: OrgId,
        api_key: Option<ApiKeyId>,
        batch: Option<BatchId>,
        jobs: &[NewJob],
        queues: &[&str],
    ) -> Result<Vec<Submission>> {
        if queues.len() != jobs.len() {
            return Err(Error::validation("queues", "one queue name per job"));
        }
        let names = queues.iter().map(|q| Some((*q).to_owned())).collect();
        self.submit_starting(org, (api_key, batch), jobs, names)
            .await
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
        self.submit_starting(org, (api_key, batch), jobs, vec![None; jobs.len()])
            .await
    }

    /// Submits `jobs`, job i `pending` when `queues[i]` is `None`, else `queued` on it.
    async fn submit_starting(
        &self,
        org: OrgId,
        (api_key, batch): (Option<ApiKeyId>, Option<BatchId>),
        jobs: &[NewJob],
        queues: Vec<Option<String>>,
    ) -> Result<Vec<Submission>> {
        validate_each(jobs)?;
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = jobs.iter().map(|_| Uuid::now_v7()).collect();
        let secrets = self.seal_job_secrets(&ids, jobs)?;
        let columns = Columns::of(jobs, &ids, secrets, queues)?;

        let inserted = insert_rows(self, (org, api_key, batch), &columns).await?;
        let existing = replayed_originals(self, org, jobs, &ids, &inserted).await?;
        in_input_order(jobs, ids, inserted, existing)
    }
}

/// Every job checked; with several, a refusal's field is prefixed by the job's place.
fn validate_each(jobs: &[NewJob]) -> Result<()> {
    for (i, job) in jobs.iter().enumerate() {
        job.validate().map_err(|e| match e {
            Error::Validation { field, message } if jobs.len() > 1 => Error::Validation {
                field: format!("urls[{i}].{field}"),
                message,
            },
            other => other,
        })?;
    }
    Ok(())
}

/// The submitted jobs as the INSERT's columns, one array per column, in input order.
struct Columns {
    ids: Vec<Uuid>,
    urls: Vec<Option<String>>,
    methods: Vec<Option<String>>,
    headers: Vec<serde_json::Value>,
    bodies: Vec<Option<String>>,
    engines: Vec<Option<String>>,
    options: Vec<serde_json::Value>,
    tiers: Vec<Option<String>>,
    countries: Vec<Option<String>>,
    sessions: Vec<Option<String>>,
    priorities: Vec<i32>,
    max_attempts: Vec<i32>,
    webhook_urls: Vec<Option<String>>,
    webhook_secrets: Vec<Option<Vec<u8>>>,
    references: Vec<Option<String>>,
    keys: Vec<Option<String>>,
    metadata: Vec<serde_json::Value>,
    prices: Vec<i64>,
    /// The queue each job is queued on, or none: it stays `pending`.
    queues: Vec<Option<String>>,
}

impl Columns {
    fn of(
        jobs: &[NewJob],
        ids: &[Uuid],
        webhook_secrets: Vec<Option<Vec<u8>>>,
        queues: Vec<Option<String>>,
    ) -> Result<Self> {
        let col = |f: fn(&NewJob) -> Option<String>| jobs.iter().map(f).collect::<Vec<_>>();
        let options = jobs
            .iter()
            .map(|j| serde_json::to_value(&j.options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::validation("options", e.to_string()))?;
        Ok(Self {
            ids: ids.to_vec(),
            urls: col(|j| Some(j.url.clone())),
            methods: col(|j| Some(j.method.as_str().to_owned())),
            headers: jobs.iter().map(|j| j.headers.to_json()).collect(),
            bodies: col(|j| j.body.clone()),
            engines: col(|j| Some(j.engine.as_str().to_owned())),
            options,
            tiers: col(|j| Some(j.proxy_tier.as_str().to_owned())),
            countries: col(|j| j.proxy_country.as_ref().map(|c| c.to_ascii_uppercase())),
            sessions: col(|j| j.proxy_session_id.clone()),
            priorities: jobs.iter().map(|j| j.priority).collect(),
            max_attempts: jobs.iter().map(|j| j.max_attempts).collect(),
            webhook_urls: col(|j| j.webhook_url.clone()),
            webhook_secrets,
            references: col(|j| j.client_reference.clone()),
            keys: col(|j| j.idempotency_key.clone()),
            metadata: jobs.iter().map(|j| j.metadata.clone()).collect(),
            prices: jobs
                .iter()
                .map(|j| pricing::reservation(j.engine, j.proxy_tier, &j.options))
                .collect(),
            queues,
        })
    }
}

/// Inserts the jobs whose idempotency key is new, each with its `job.created` event, and
/// those given a queue `queued` on it with their `job.queued` event, and reserves their
/// credits, in one statement and so one transaction (migration 0026: the organization's
/// row is locked only until it commits); the rows inserted, or
/// [`Error::InsufficientCredits`] and nothing inserted.
async fn insert_rows(
    db: &Db,
    (org, api_key, batch): (OrgId, Option<ApiKeyId>, Option<BatchId>),
    c: &Columns,
) -> Result<Vec<Job>> {
    let sql = format!(
        "WITH ins AS (INSERT INTO scrape_jobs (id, organization_id, api_key_id, batch_id, url, url_hash, method, \
             headers, body, engine, options, proxy_tier, proxy_country, proxy_session_id, \
             priority, max_attempts, webhook_url, webhook_secret_sealed, client_reference, \
             idempotency_key, metadata, credits_estimated, credit_breakdown, status, queued_at, \
             queue_name) \
         SELECT u.id, $1, $2, $3, u.url, '', u.method, u.headers, u.body, u.engine, u.options, \
             u.tier, u.country, u.session, u.priority, u.max_attempts, u.webhook_url, \
             u.webhook_secret, u.reference, u.key, u.metadata, u.credits, \
             jsonb_build_object('engine', u.engine, 'proxy_tier', u.tier, 'estimated', u.credits), \
             CASE WHEN u.queue IS NULL THEN 'pending' ELSE 'queued' END, \
             CASE WHEN u.queue IS NULL THEN NULL ELSE NOW() END, u.queue \
         FROM UNNEST($4::uuid[], $5::text[], $6::text[], $7::jsonb[], $8::text[], $9::text[], \
             $10::jsonb[], $11::text[], $12::text[], $13::text[], $14::int[], $15::int[], \
             $16::text[], $17::bytea[], $18::text[], $19::text[], $20::jsonb[], $21::bigint[], \
             $22::text[]) \
             AS u(id, url, method, headers, body, engine, options, tier, country, session, \
                  priority, max_attempts, webhook_url, webhook_secret, reference, key, metadata, \
                  credits, queue) \
         ON CONFLICT (organization_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
         RETURNING *), \
         events AS (INSERT INTO job_events (job_id, organization_id, event_type, event_data) \
             SELECT id, organization_id, 'job.created', \
                    jsonb_build_object('credits_reserved', credits_estimated, 'engine', engine) \
             FROM ins \
             UNION ALL \
             SELECT id, organization_id, 'job.queued', \
                    jsonb_build_object('from', 'pending', 'queue', queue_name) \
             FROM ins WHERE queue_name IS NOT NULL), \
         charge AS (SELECT reserve_credits_or_fail($1, \
             COALESCE((SELECT SUM(credits_estimated) FROM ins), 0)::bigint) AS covered) \
         SELECT {JOB_COLUMNS} FROM ins, charge WHERE charge.covered"
    );
    crate::pg::sql::query_as(&sql)
        .bind(org)
        .bind(api_key)
        .bind(batch)
        .bind(&c.ids)
        .bind(&c.urls)
        .bind(&c.methods)
        .bind(&c.headers)
        .bind(&c.bodies)
        .bind(&c.engines)
        .bind(&c.options)
        .bind(&c.tiers)
        .bind(&c.countries)
        .bind(&c.sessions)
        .bind(&c.priorities)
        .bind(&c.max_attempts)
        .bind(&c.webhook_urls)
        .bind(&c.webhook_secrets)
        .bind(&c.references)
        .bind(&c.keys)
        .bind(&c.metadata)
        .bind(&c.prices)
        .bind(&c.queues)
        .fetch_all(db.exec())
        .await
        .map_err(insufficient_credits)
}

/// The refusal `reserve_credits_or_fail` raises (SQLSTATE SX402, the amount in DETAIL) as
/// [`Error::InsufficientCredits`]; any other error as it maps.
fn insufficient_credits(err: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &err
        && db.code().as_deref() == Some("SX402")
    {
        let detail = db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .and_then(|pg| pg.detail())
            .and_then(|d| d.parse().ok());
        return Error::InsufficientCredits {
            required: detail.unwrap_or_default(),
        };
    }
    err.into()
}

/// The originals of the jobs not inserted: they collided on their idempotency key.
async fn replayed_originals(
    db: &Db,
    org: OrgId,
    jobs: &[NewJob],
    ids: &[Uuid],
    inserted: &[Job],
) -> Result<Vec<Job>> {
    let inserted_set: HashSet<Uuid> = inserted.iter().map(|j| j.id.as_uuid()).collect();
    let replayed: Vec<String> = jobs
        .iter()
        .zip(ids)
        .filter(|(_, id)| !inserted_set.contains(id))
        .filter_map(|(j, _)| j.idempotency_key.clone())
        .collect();
    if replayed.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM scrape_jobs WHERE organization_id = $1 AND idempotency_key = ANY($2)"
    );
    Ok(crate::pg::sql::query_as(&sql)
        .bind(org)
        .bind(&replayed)
        .fetch_all(db.exec())
        .await?)
}

/// Each submitted job's outcome, in input order: created, or the original of its key.
fn in_input_order(
    jobs: &[NewJob],
    ids: Vec<Uuid>,
    inserted: Vec<Job>,
    existing: Vec<Job>,
) -> Result<Vec<Submission>> {
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
