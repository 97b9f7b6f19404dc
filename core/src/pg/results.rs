//! Job results: one row per job holding the response, where its content lives, extraction
//! output, captures and timings.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

use super::Db;
use crate::{
    Error, Result,
    domain::{ContentStorage, JobId, OrgId, ResultId},
};

/// A result to record. Optional parts are filled by the engines that produce them.
#[derive(Debug, Clone, Default)]
pub struct NewJobResult {
    pub status_code: Option<i32>,
    pub headers: Option<serde_json::Value>,
    pub content_type: Option<String>,
    pub content_length: Option<i64>,
    pub final_url: Option<String>,
    pub redirect_count: i32,
    pub content_storage: Option<ContentStorage>,
    pub content_inline: Option<String>,
    pub content_minio_bucket: Option<String>,
    pub content_minio_key: Option<String>,
    pub content_hash: Option<String>,
    pub content_compressed: bool,
    pub extracted_title: Option<String>,
    pub extracted_text: Option<String>,
    pub extracted_links: Option<serde_json::Value>,
    pub extracted_images: Option<serde_json::Value>,
    pub extracted_data: Option<serde_json::Value>,
    pub extracted_markdown: Option<String>,
    pub screenshot_minio_bucket: Option<String>,
    pub screenshot_minio_key: Option<String>,
    pub screenshot_thumbnail_key: Option<String>,
    pub pdf_minio_bucket: Option<String>,
    pub pdf_minio_key: Option<String>,
    pub dns_time_ms: Option<i32>,
    pub connect_time_ms: Option<i32>,
    pub tls_time_ms: Option<i32>,
    pub ttfb_ms: Option<i32>,
    pub download_time_ms: Option<i32>,
    pub render_time_ms: Option<i32>,
    pub total_time_ms: Option<i32>,
    pub protection_detected: Option<String>,
    pub captcha_encountered: bool,
    pub captcha_type: Option<String>,
    pub captcha_solved: bool,
    pub captcha_solve_time_ms: Option<i32>,
    pub detection_score: Option<f64>,
    /// The status line's reason phrase (`OK`, `Not Found`).
    pub status_text: Option<String>,
    /// The cookies the site set, as a JSON array.
    pub cookies: Option<serde_json::Value>,
    /// The response's `Content-Encoding` as sent.
    pub content_encoding: Option<String>,
    pub screenshot_width: Option<i32>,
    pub screenshot_height: Option<i32>,
    pub pdf_page_count: Option<i32>,
    /// The proxy the page came through: its address, the exit country asked for, and the
    /// provider's name.
    pub proxy_ip: Option<std::net::IpAddr>,
    pub proxy_country: Option<String>,
    pub proxy_provider: Option<String>,
    /// What the job's actions gave back (None without actions).
    pub action_outputs: Option<crate::domain::ActionOutputs>,
    /// The cleaned HTML, when the job's options asked for it.
    pub extracted_html: Option<String>,
    /// The page's meta tags under Firecrawl's names (an object).
    pub extracted_metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobResult {
    pub id: ResultId,
    pub job_id: JobId,
    pub organization_id: OrgId,
    pub status_code: Option<i32>,
    pub headers: Option<Json<serde_json::Value>>,
    pub content_type: Option<String>,
    pub content_length: Option<i64>,
    pub final_url: Option<String>,
    pub redirect_count: Option<i32>,
    pub content_storage_type: ContentStorage,
    pub content_inline: Option<String>,
    pub content_minio_bucket: Option<String>,
    pub content_minio_key: Option<String>,
    pub content_hash: Option<String>,
    pub extracted_title: Option<String>,
    pub extracted_text: Option<String>,
    pub extracted_links: Option<Json<serde_json::Value>>,
    /// The page's images, absolute URLs.
    pub extracted_images: Option<Json<serde_json::Value>>,
    pub extracted_data: Option<Json<serde_json::Value>>,
    pub extracted_markdown: Option<String>,
    pub screenshot_minio_key: Option<String>,
    pub pdf_minio_key: Option<String>,
    pub total_time_ms: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub action_outputs: Option<Json<crate::domain::ActionOutputs>>,
    pub extracted_html: Option<String>,
    pub extracted_metadata: Option<Json<serde_json::Value>>,
    /// The language model's json for a page of a Firecrawl batch or crawl, once asked.
    pub llm_json: Option<Json<serde_json::Value>>,
}

const RESULT_COLUMNS: &str = "id, job_id, organization_id, status_code, headers, content_type, \
    content_length, final_url, redirect_count, content_storage_type, content_inline, \
    content_minio_bucket, content_minio_key, content_hash, extracted_title, extracted_text, \
    extracted_links, extracted_images, extracted_data, extracted_markdown, screenshot_minio_key, \
    pdf_minio_key, total_time_ms, created_at, expires_at, action_outputs, extracted_html, \
    extracted_metadata, llm_json";

impl Db {
    /// Keeps the language model's json with a job's result.
    pub async fn set_result_llm_json(
        &self,
        org: OrgId,
        job: JobId,
        json: &serde_json::Value,
    ) -> Result<()> {
        crate::pg::sql::query(
            "UPDATE job_results SET llm_json = $3 WHERE organization_id = $1 AND job_id = $2",
        )
        .bind(org)
        .bind(job)
        .bind(Json(json))
        .execute(self.exec())
        .await?;
        Ok(())
    }

    /// Stores a job's result (replacing an earlier attempt's) and links it from the job.
    pub async fn record_result(&self, job: JobId, result: &NewJobResult) -> Result<JobResult> {
        let mut tx = self.pool.begin().await?;
        let row = record_result_in(&mut tx, job, result).await?;
        tx.commit().await?;
        Ok(row)
    }
}

/// [`Db::record_result`] inside a caller's transaction.
pub(super) async fn record_result_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    job: JobId,
    result: &NewJobResult,
) -> Result<JobResult> {
    let storage = result.content_storage.unwrap_or(
        match (&result.content_inline, &result.content_minio_key) {
            (Some(_), _) => ContentStorage::Inline,
            (None, Some(_)) => ContentStorage::Minio,
            (None, None) => ContentStorage::None,
        },
    );
    let org: Option<OrgId> =
        crate::pg::sql::query_scalar("SELECT organization_id FROM scrape_jobs WHERE id = $1")
            .bind(job)
            .fetch_optional(&mut **tx)
            .await?;
    let org = org.ok_or(Error::NotFound { entity: "job" })?;
    crate::pg::sql::query("DELETE FROM job_results WHERE job_id = $1")
        .bind(job)
        .execute(&mut **tx)
        .await?;
    let sql = format!(
        "INSERT INTO job_results (job_id, organization_id, status_code, headers, content_type, \
                 content_length, final_url, redirect_count, content_storage_type, content_inline, \
                 content_minio_bucket, content_minio_key, content_hash, content_compressed, \
                 extracted_title, extracted_text, extracted_links, extracted_images, extracted_data, \
                 extracted_markdown, screenshot_minio_bucket, screenshot_minio_key, \
                 screenshot_thumbnail_key, pdf_minio_bucket, pdf_minio_key, dns_time_ms, \
                 connect_time_ms, tls_time_ms, ttfb_ms, download_time_ms, render_time_ms, \
                 total_time_ms, protection_detected, captcha_encountered, captcha_type, captcha_solved, \
                 captcha_solve_time_ms, detection_score, status_text, cookies, content_encoding, \
                 screenshot_width, screenshot_height, pdf_page_count, proxy_ip, proxy_country, \
                 proxy_provider, action_outputs, extracted_html, extracted_metadata) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                 $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, \
                 $36, $37, $38::float8::numeric(5,4), $39, $40, $41, $42, $43, $44, $45::inet, $46, $47, $48, $49, $50) \
             RETURNING {RESULT_COLUMNS}"
    );
    let row: JobResult = crate::pg::sql::query_as(&sql)
        .bind(job)
        .bind(org)
        .bind(result.status_code)
        .bind(&result.headers)
        .bind(&result.content_type)
        .bind(result.content_length)
        .bind(&result.final_url)
        .bind(result.redirect_count)
        .bind(storage)
        .bind(&result.content_inline)
        .bind(&result.content_minio_bucket)
        .bind(&result.content_minio_key)
        .bind(&result.content_hash)
        .bind(result.content_compressed)
        .bind(&result.extracted_title)
        .bind(&result.extracted_text)
        .bind(&result.extracted_links)
        .bind(&result.extracted_images)
        .bind(&result.extracted_data)
        .bind(&result.extracted_markdown)
        .bind(&result.screenshot_minio_bucket)
        .bind(&result.screenshot_minio_key)
        .bind(&result.screenshot_thumbnail_key)
        .bind(&result.pdf_minio_bucket)
        .bind(&result.pdf_minio_key)
        .bind(result.dns_time_ms)
        .bind(result.connect_time_ms)
        .bind(result.tls_time_ms)
        .bind(result.ttfb_ms)
        .bind(result.download_time_ms)
        .bind(result.render_time_ms)
        .bind(result.total_time_ms)
        .bind(&result.protection_detected)
        .bind(result.captcha_encountered)
        .bind(&result.captcha_type)
        .bind(result.captcha_solved)
        .bind(result.captcha_solve_time_ms)
        .bind(result.detection_score)
        .bind(&result.status_text)
        .bind(&result.cookies)
        .bind(&result.content_encoding)
        .bind(result.screenshot_width)
        .bind(result.screenshot_height)
        .bind(result.pdf_page_count)
        .bind(result.proxy_ip.map(|ip| ip.to_string()))
        .bind(&result.proxy_country)
        .bind(&result.proxy_provider)
        .bind(result.action_outputs.as_ref().map(Json))
        .bind(&result.extracted_html)
        .bind(&result.extracted_metadata)
        .fetch_one(&mut **tx)
        .await?;
    crate::pg::sql::query("UPDATE scrape_jobs SET result_id = $2 WHERE id = $1")
        .bind(job)
        .bind(row.id)
        .execute(&mut **tx)
        .await?;
    Ok(row)
}

impl Db {
    /// A job's result, scoped by organization.
    pub async fn get_result(&self, org: OrgId, job: JobId) -> Result<JobResult> {
        let sql = format!(
            "SELECT {RESULT_COLUMNS} FROM job_results WHERE job_id = $1 AND organization_id = $2"
        );
        crate::pg::sql::query_as(&sql)
            .bind(job)
            .bind(org)
            .fetch_optional(self.exec())
            .await?
            .ok_or(Error::NotFound { entity: "result" })
    }
}

/// What a finished job must match to stand in for a new request.
#[derive(Debug, Clone)]
pub struct CacheMatch<'a> {
    pub org: OrgId,
    pub url: &'a str,
    pub engine: crate::domain::Engine,
    pub method: crate::domain::HttpMethod,
    pub options: &'a crate::domain::JobOptions,
    pub headers: &'a crate::domain::RequestHeaders,
    pub body: Option<&'a str>,
    pub country: Option<&'a str>,
    /// Completed no earlier than this.
    pub since: DateTime<Utc>,
}

impl<'a> CacheMatch<'a> {
    /// What a result must match to answer `job` of `org`: its URL, engine, method, options,
    /// headers, body and proxy country, completed no earlier than `since`.
    pub fn of(org: OrgId, job: &'a crate::pg::NewJob, since: DateTime<Utc>) -> Self {
        Self {
            org,
            url: &job.url,
            engine: job.engine,
            method: job.method,
            options: &job.options,
            headers: &job.headers,
            body: job.body.as_deref(),
            country: job.proxy_country.as_deref(),
            since,
        }
    }
}

impl Db {
    /// The result of this organization's latest completed job for the same URL and the same
    /// result-changing options, finished since `since`: the Postgres tier of the response
    /// cache (served by the dedup index on url_hash, organization_id, created_at).
    pub async fn find_cached_result(&self, m: &CacheMatch<'_>) -> Result<Option<JobResult>> {
        let options = serde_json::to_value(crate::domain::JobOptions {
            timeout: 0,
            ..m.options.clone()
        })
        .unwrap_or_default();
        let sql = format!(
            "SELECT {} FROM job_results r JOIN scrape_jobs j ON j.id = r.job_id \
             WHERE j.organization_id = $1 AND j.url_hash = calculate_url_hash($2) AND j.url = $2 \
               AND j.status = 'completed' AND j.completed_at >= $3 AND j.engine = $4 AND j.method = $5 \
               AND (j.options - 'timeout') = ($6::jsonb - 'timeout') \
               AND COALESCE(j.headers, '{{}}'::jsonb) = $7 AND j.body IS NOT DISTINCT FROM $8 \
               AND j.proxy_country IS NOT DISTINCT FROM $9 \
             ORDER BY j.completed_at DESC LIMIT 1",
            RESULT_COLUMNS
                .split(", ")
                .map(|c| format!("r.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(crate::pg::sql::query_as(&sql)
            .bind(m.org)
            .bind(m.url)
            .bind(m.since)
            .bind(m.engine)
            .bind(m.method)
            .bind(options)
            .bind(m.headers.to_json())
            .bind(m.body)
            .bind(m.country)
            .fetch_optional(self.exec())
            .await?)
    }
}
