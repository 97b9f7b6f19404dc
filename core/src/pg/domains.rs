//! What ScraperX learns about target domains. Invariant: fleet-wide facts (protection seen,
//! whether pages need JavaScript, delays, robots.txt, success rates) live in
//! `domain_intelligence` and never choose an engine; the engine an auto job starts with is
//! learned per organization (`organization_domain_engines`), so one tenant's jobs never
//! change another's engine choice or bill.

use chrono::{DateTime, Utc};

use super::Db;
use crate::{
    Result,
    domain::{Engine, OrgId},
};

/// The fleet-wide facts about a domain.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DomainIntel {
    pub domain: String,
    pub protection_type: Option<String>,
    pub recommended_delay_ms: i32,
    pub robots_txt_crawl_delay: Option<i32>,
    pub robots_txt_cached_at: Option<DateTime<Utc>>,
    pub total_requests: i64,
    pub success_rate: Option<f64>,
}

/// One scrape's lesson about its domain.
#[derive(Debug, Clone)]
pub struct DomainOutcome<'a> {
    /// Whose job it was: what it teaches about engines is that organization's alone.
    pub organization_id: OrgId,
    pub domain: &'a str,
    pub success: bool,
    pub response_ms: Option<i32>,
    /// cloudflare, akamai, datadome or perimeterx.
    pub protection: Option<&'a str>,
    /// The engine that got the page, when it took escalation to get it (see
    /// [`Engine::teaches`]); remembered for the job's organization only.
    pub escalated_to: Option<Engine>,
    pub needed_javascript: bool,
    /// The target answered 429: slow down.
    pub rate_limited: bool,
}

/// The delay between requests to a domain: doubled on a 429 (from at least 1 s, to at most a
/// minute), shaved by a tenth on success.
pub const MIN_BACKOFF_DELAY_MS: i32 = 1_000;
pub const MAX_DELAY_MS: i32 = 60_000;

impl Db {
    pub async fn domain_intel(&self, domain: &str) -> Result<Option<DomainIntel>> {
        Ok(crate::pg::sql::query_as(
            "SELECT domain, protection_type, \
                    COALESCE(recommended_delay_ms, 0) AS recommended_delay_ms, robots_txt_crawl_delay, \
                    robots_txt_cached_at, COALESCE(total_requests, 0) AS total_requests, \
                    success_rate::float8 AS success_rate \
             FROM domain_intelligence WHERE domain = $1",
        )
        .bind(domain.to_ascii_lowercase())
        .fetch_optional(self.exec())
        .await?)
    }

    /// The engine `organization`'s own auto jobs learned for `domain`, if any.
    pub async fn learned_engine(
        &self,
        organization: OrgId,
        domain: &str,
    ) -> Result<Option<Engine>> {
        Ok(crate::pg::sql::query_scalar(
            "SELECT recommended_engine FROM organization_domain_engines \
             WHERE organization_id = $1 AND domain = $2",
        )
        .bind(organization)
        .bind(domain.to_ascii_lowercase())
        .fetch_optional(self.exec())
        .await?)
    }

    /// Folds one outcome into the domain's fleet-wide row (created on first sight) and, when
    /// it escalated, into its organization's learned engine, in one transaction.
    pub async fn record_domain_outcome(&self, o: &DomainOutcome<'_>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        Self::record_domain_facts(&mut tx, o).await?;
        if let Some(engine) = o
            .escalated_to
            .filter(|e| matches!(e, Engine::Browser | Engine::Stealth))
        {
            crate::pg::sql::query(
                "INSERT INTO organization_domain_engines (organization_id, domain, recommended_engine) \
                 VALUES ($1, $2, $3) \
                 ON CONFLICT (organization_id, domain) DO UPDATE \
                 SET recommended_engine = EXCLUDED.recommended_engine, learned_at = NOW()",
            )
            .bind(o.organization_id)
            .bind(o.domain.to_ascii_lowercase())
            .bind(engine)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_domain_facts(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        o: &DomainOutcome<'_>,
    ) -> Result<()> {
        let protection = o.protection;
        crate::pg::sql::query(
            "INSERT INTO domain_intelligence AS d (domain, protection_type, cloudflare_detected, \
                 akamai_detected, datadome_detected, perimeterx_detected, \
                 requires_js_rendering, avg_response_time_ms, success_rate, total_requests, \
                 successful_requests, recommended_delay_ms, last_analyzed_at, protection_level) \
             VALUES ($1, $2, $2 = 'cloudflare', $2 = 'akamai', $2 = 'datadome', $2 = 'perimeterx', \
                 $3, $4, CASE WHEN $5 THEN 1 ELSE 0 END, 1, \
                 CASE WHEN $5 THEN 1 ELSE 0 END, CASE WHEN $6 THEN $7 ELSE 0 END, NOW(), \
                 CASE WHEN $2 IS NULL THEN 'none' ELSE 'medium' END) \
             ON CONFLICT (domain) DO UPDATE SET \
                 protection_type = COALESCE(EXCLUDED.protection_type, d.protection_type), \
                 cloudflare_detected = d.cloudflare_detected OR COALESCE(EXCLUDED.cloudflare_detected, FALSE), \
                 akamai_detected = d.akamai_detected OR COALESCE(EXCLUDED.akamai_detected, FALSE), \
                 datadome_detected = d.datadome_detected OR COALESCE(EXCLUDED.datadome_detected, FALSE), \
                 perimeterx_detected = d.perimeterx_detected OR COALESCE(EXCLUDED.perimeterx_detected, FALSE), \
                 requires_js_rendering = d.requires_js_rendering OR $3, \
                 avg_response_time_ms = COALESCE(ROUND(d.avg_response_time_ms * 0.8 + $4 * 0.2)::int, $4, d.avg_response_time_ms), \
                 total_requests = d.total_requests + 1, \
                 successful_requests = d.successful_requests + CASE WHEN $5 THEN 1 ELSE 0 END, \
                 success_rate = ROUND(((d.successful_requests + CASE WHEN $5 THEN 1 ELSE 0 END)::numeric \
                     / (d.total_requests + 1)), 4), \
                 recommended_delay_ms = CASE WHEN $6 THEN LEAST(GREATEST(COALESCE(d.recommended_delay_ms, 0) * 2, $7), $8) \
                     ELSE (COALESCE(d.recommended_delay_ms, 0) * 9) / 10 END, \
                 last_analyzed_at = NOW()",
        )
        .bind(o.domain.to_ascii_lowercase())
        .bind(protection)
        .bind(o.needed_javascript)
        .bind(o.response_ms)
        .bind(o.success)
        .bind(o.rate_limited)
        .bind(MIN_BACKOFF_DELAY_MS)
        .bind(MAX_DELAY_MS)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Records the crawl-delay a domain's robots.txt asks for (None: it asks for none).
    pub async fn record_robots(&self, domain: &str, crawl_delay_ms: Option<i32>) -> Result<()> {
        crate::pg::sql::query(
            "INSERT INTO domain_intelligence (domain, robots_txt_crawl_delay, robots_txt_cached_at, recommended_delay_ms) \
             VALUES ($1, $2, NOW(), 0) \
             ON CONFLICT (domain) DO UPDATE SET robots_txt_crawl_delay = $2, robots_txt_cached_at = NOW()",
        )
        .bind(domain.to_ascii_lowercase())
        .bind(crawl_delay_ms)
        .execute(self.exec())
        .await?;
        Ok(())
    }
}
