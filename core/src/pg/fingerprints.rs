//! Browser fingerprints for the stealth engine: picked in rotation among the valid ones
//! that work (one per sticky session), with their use and success recorded.

use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::Db;
use crate::Result;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FingerprintRow {
    pub id: Uuid,
    pub user_agent: String,
    pub accept_language: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub screen_width: Option<i32>,
    pub screen_height: Option<i32>,
    pub device_pixel_ratio: Option<f64>,
    pub navigator_properties: Option<Json<Value>>,
    pub webgl_properties: Option<Json<Value>>,
    /// The font families the claimed platform has (migration 0021); none: the machine's.
    pub font_list: Option<Vec<String>>,
    pub usage_count: i64,
    pub success_rate: Option<f64>,
}

/// The columns of a [`FingerprintRow`].
const COLUMNS: &str = "id, user_agent, accept_language, locale, timezone, screen_width, screen_height, \
    device_pixel_ratio::float8 AS device_pixel_ratio, navigator_properties, webgl_properties, \
    font_list, COALESCE(usage_count, 0) AS usage_count, success_rate::float8 AS success_rate";

/// The fingerprints the stealth engine may wear: valid, unexpired, desktop, and succeeding
/// at least half the time (or untried).
const USABLE: &str = "COALESCE(is_valid, TRUE) AND (expires_at IS NULL OR expires_at > NOW()) \
    AND device_type = 'desktop' AND COALESCE(success_rate, 1) >= 0.5";

/// The fingerprints a `mobile` job may wear: valid, unexpired phones.
const MOBILE: &str = "COALESCE(is_valid, TRUE) AND (expires_at IS NULL OR expires_at > NOW()) \
    AND device_type = 'mobile'";

impl Db {
    /// A usable fingerprint: for a sticky `session`, the same one on every job of the
    /// session (while the usable set stays the same), so a site sees one browser across
    /// them; otherwise the least recently used.
    pub async fn pick_fingerprint(&self, session: Option<&str>) -> Result<Option<FingerprintRow>> {
        let order = match session {
            Some(_) => "md5(id::text || $1)",
            None => "last_used_at NULLS FIRST, random()",
        };
        let sql =
            format!("SELECT {COLUMNS} FROM fingerprints WHERE {USABLE} ORDER BY {order} LIMIT 1");
        let mut query = crate::pg::sql::query_as(&sql);
        if let Some(s) = session {
            query = query.bind(s);
        }
        Ok(query.fetch_optional(self.exec()).await?)
    }

    /// A phone's fingerprint for a `mobile` job (its viewport and user agent): for a sticky
    /// `session`, the same one on every job of the session; otherwise any.
    pub async fn pick_mobile_fingerprint(
        &self,
        session: Option<&str>,
    ) -> Result<Option<FingerprintRow>> {
        let order = match session {
            Some(_) => "md5(id::text || $1)",
            None => "random()",
        };
        let sql =
            format!("SELECT {COLUMNS} FROM fingerprints WHERE {MOBILE} ORDER BY {order} LIMIT 1");
        let mut query = crate::pg::sql::query_as(&sql);
        if let Some(s) = session {
            query = query.bind(s);
        }
        Ok(query.fetch_optional(self.exec()).await?)
    }

    /// Every usable fingerprint, oldest first.
    pub async fn usable_fingerprints(&self) -> Result<Vec<FingerprintRow>> {
        let sql =
            format!("SELECT {COLUMNS} FROM fingerprints WHERE {USABLE} ORDER BY created_at, id");
        Ok(crate::pg::sql::query_as(&sql)
            .fetch_all(self.exec())
            .await?)
    }

    /// Counts a use; the success rate is an exponential moving average (weight 0.1).
    pub async fn record_fingerprint_use(&self, id: Uuid, success: bool) -> Result<()> {
        crate::pg::sql::query(
            "UPDATE fingerprints SET usage_count = COALESCE(usage_count, 0) + 1, last_used_at = NOW(), \
                 success_rate = ROUND((COALESCE(success_rate, 1) * 0.9 + CASE WHEN $2 THEN 0.1 ELSE 0 END)::numeric, 4) \
             WHERE id = $1",
        )
        .bind(id)
        .bind(success)
        .execute(self.exec())
        .await?;
        Ok(())
    }
}
