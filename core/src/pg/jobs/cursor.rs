//! A job listing's filters and its position: ordered by (created_at, id) descending, the
//! cursor an opaque token a client hands back unchanged.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Job;
use crate::{
    Error, Result,
    domain::{BatchId, JobId, JobStatus},
};

/// Filters of a job listing; all optional.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub batch_id: Option<BatchId>,
    pub client_reference: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// Position in a listing ordered by (created_at, id) descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobCursor {
    pub created_at: DateTime<Utc>,
    pub id: JobId,
}

impl JobCursor {
    /// An opaque token for clients.
    pub fn encode(&self) -> String {
        format!(
            "{}.{}",
            self.created_at.timestamp_micros(),
            self.id.as_uuid().simple()
        )
    }

    pub fn decode(token: &str) -> Result<Self> {
        let bad = || Error::validation("cursor", "not a cursor returned by this API");
        let (micros, id) = token.split_once('.').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let created_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        Ok(Self {
            created_at,
            id: JobId(id),
        })
    }
}

#[derive(Debug, Clone)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    /// Present when more jobs follow.
    pub next: Option<JobCursor>,
}
