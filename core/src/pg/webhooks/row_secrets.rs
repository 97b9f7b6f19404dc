//! The webhook signing secrets a job or a crawl brings with it, at rest: sealed with the
//! component's key, bound to their row, as the row is inserted; opened only by the worker
//! that signs the deliveries. The database never holds a new one in the clear, and the
//! start-up re-seal moves the plaintext job secrets written before into the sealed column.

use uuid::Uuid;

use crate::{
    Error, Result,
    domain::{CrawlId, JobId},
    pg::{Db, NewJob},
    secrets::{Binding, SecretBox},
};

/// Plaintext job secrets re-sealed per statement at start-up.
const RESEAL_PAGE: i64 = 1_000;

impl Db {
    /// The sealed form of each job's own webhook secret, in the order of `jobs`, bound to the
    /// row id it is inserted under. A secret with no key to seal it is refused.
    pub(crate) fn seal_job_secrets(
        &self,
        ids: &[Uuid],
        jobs: &[NewJob],
    ) -> Result<Vec<Option<Vec<u8>>>> {
        ids.iter()
            .zip(jobs)
            .map(|(id, job)| {
                job.webhook_secret
                    .as_ref()
                    .map(|secret| {
                        let seal = self.secret_box("a job's webhook secret")?;
                        seal.seal(secret.as_bytes(), &Binding::job(JobId::from(*id)))
                    })
                    .transpose()
            })
            .collect()
    }

    /// The secret a job's own `webhook_url` deliveries are signed with, if it has one.
    pub async fn job_webhook_secret(&self, job: JobId) -> Result<Option<String>> {
        let row: Option<(Option<Vec<u8>>, Option<String>)> = sqlx::query_as(
            "SELECT webhook_secret_sealed, webhook_secret FROM scrape_jobs WHERE id = $1",
        )
        .bind(job)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some((Some(sealed), _)) => {
                let opened = self
                    .secret_box("a job's webhook secret")?
                    .open(&sealed, &Binding::job(job))?;
                String::from_utf8(opened)
                    .map(Some)
                    .map_err(|_| Error::Corrupt("job webhook secret".into()))
            }
            // Written before sealing, and not yet re-sealed.
            Some((None, plain)) => Ok(plain),
            None => Ok(None),
        }
    }

    /// The secret a crawl's deliveries are signed with (its end, and each page's), if it has one.
    pub async fn crawl_webhook_secret(&self, crawl: CrawlId) -> Result<Option<String>> {
        let sealed: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT webhook_secret_sealed FROM crawls WHERE id = $1")
                .bind(crawl)
                .fetch_optional(&self.pool)
                .await?
                .flatten();
        sealed
            .map(|sealed| {
                let opened = self
                    .secret_box("a crawl's webhook secret")?
                    .open(&sealed, &Binding::crawl(crawl))?;
                String::from_utf8(opened).map_err(|_| Error::Corrupt("crawl webhook secret".into()))
            })
            .transpose()
    }

    /// Seals the plaintext job secrets written before sealing, a page per statement; returns
    /// how many were sealed. Idempotent: a row sealed meanwhile is left alone.
    pub(super) async fn reseal_job_secrets(&self, seal: &SecretBox) -> Result<u64> {
        let mut sealed_count = 0;
        loop {
            let page: Vec<(Uuid, String)> = sqlx::query_as(
                "SELECT id, webhook_secret FROM scrape_jobs \
                 WHERE webhook_secret IS NOT NULL AND webhook_secret_sealed IS NULL LIMIT $1",
            )
            .bind(RESEAL_PAGE)
            .fetch_all(&self.pool)
            .await?;
            if page.is_empty() {
                return Ok(sealed_count);
            }
            let (ids, sealed): (Vec<Uuid>, Vec<Vec<u8>>) = page
                .into_iter()
                .map(|(id, secret)| {
                    seal.seal(secret.as_bytes(), &Binding::job(JobId::from(id)))
                        .map(|s| (id, s))
                })
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .unzip();
            sealed_count += sqlx::query(
                "UPDATE scrape_jobs j SET webhook_secret_sealed = u.sealed, webhook_secret = NULL \
                 FROM UNNEST($1::uuid[], $2::bytea[]) AS u(id, sealed) \
                 WHERE j.id = u.id AND j.webhook_secret_sealed IS NULL",
            )
            .bind(&ids)
            .bind(&sealed)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
    }

    pub(crate) fn secret_box(&self, what: &'static str) -> Result<&SecretBox> {
        self.secrets.as_ref().ok_or(Error::SecretsUnavailable(what))
    }
}
