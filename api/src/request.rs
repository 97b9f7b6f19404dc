//! What a customer sends to scrape a page: core's flat [`ScrapeRequest`], used by
//! `POST /v1/scrape`, `POST /v1/jobs`, and (as shared defaults and per-URL overrides)
//! `POST /v1/batches`. Core fills in the defaults and checks the job; the API adds only the
//! item's place to the field paths (`urls[3].`), the `Idempotency-Key` header as the key
//! when the body has none, and the refusal in its envelope.

use scraperx_core::pg::NewJob;
pub use scraperx_core::pg::ScrapeRequest;

use crate::error::{ApiError, ApiResult};

/// The job to submit. `at` prefixes field paths (`items[3].`), `idempotency_header` is the
/// header's value, used when the body has none.
pub fn new_job(
    request: ScrapeRequest,
    at: &str,
    idempotency_header: Option<&str>,
) -> ApiResult<NewJob> {
    let idempotency_key = request
        .idempotency_key
        .clone()
        .or_else(|| idempotency_header.map(str::to_owned));
    ScrapeRequest {
        idempotency_key,
        ..request
    }
    .into_new_job()
    .map_err(|e| match e {
        scraperx_core::Error::Validation { field, message } => {
            ApiError::validation(format!("{at}{field}"), message)
        }
        other => other.into(),
    })
}
