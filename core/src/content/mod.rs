//! The MinIO content tier of seed 001 §5, through aws-sdk-s3 (any S3 works):
//!
//! - [`buckets`]: the §5.2 buckets with lifecycle (§6.4) and versioning, created at start-up;
//! - [`keys`]: object keys `{org}/{yyyy}/{mm}/{dd}/{job}/{type}.{ext}` (§5.3);
//! - [`store`]: the content store of §5.4: hashes, gzip, metadata, screenshots with
//!   thumbnails, PDFs, presigned GETs, per-job deletion, multipart uploads;
//! - [`thumbnail`]: screenshot thumbnails;
//! - [`outbox`]: deletes the objects of rows that retention removed.
//!
//! Failures arrive as typed errors: [`Error::StorageUnavailable`] (retry, or a 503),
//! [`Error::StorageDenied`] (these credentials may not), [`Error::NotFound`],
//! [`Error::Corrupt`] (bytes that do not match their recorded hash).

pub mod buckets;
pub mod keys;
pub mod outbox;
pub mod store;
pub mod thumbnail;

use std::time::Duration;

use aws_sdk_s3::{
    Client,
    config::{
        BehaviorVersion, Credentials, Region, http::HttpResponse, retry::RetryConfig,
        timeout::TimeoutConfig,
    },
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

pub use buckets::{Bucket, BucketSetup, ensure_buckets};
pub use keys::{ObjectKind, job_prefix, object_key};
pub use outbox::{DrainReport, drain_object_deletions};
pub use store::{ContentStore, JobRef, Retrieved, Screenshot, StoredObject};

use crate::{Error, config::S3Config};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// An S3 client for `config`'s endpoint and credentials (path-style, as MinIO wants).
pub fn client(config: &S3Config) -> Client {
    let credentials = Credentials::new(
        &config.access_key,
        &config.secret_key,
        None,
        None,
        "scraperx-config",
    );
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .endpoint_url(&config.endpoint)
        .credentials_provider(credentials)
        .force_path_style(true)
        .http_client(http)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .build();
    Client::from_conf(conf)
}

/// Classifies an SDK failure once, for every caller.
pub(crate) fn s3_error<E>(err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    // A service's answer is its code and message; only a transport failure needs the whole
    // chain of causes (which for an answer repeats the raw response).
    let text = match (&code, err.message()) {
        (Some(code), message) => format!(
            "{code} (HTTP {}): {}",
            status.map_or_else(|| "?".to_owned(), |s| s.to_string()),
            message.unwrap_or("no message")
        ),
        (None, _) => DisplayErrorContext(&err).to_string(),
    };
    match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            Error::StorageUnavailable(text)
        }
        _ => match (code.as_deref(), status) {
            (Some("NoSuchKey" | "NoSuchBucket" | "NotFound" | "NoSuchUpload"), _)
            | (_, Some(404)) => Error::NotFound { entity: "object" },
            (Some("AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch"), _)
            | (_, Some(403)) => Error::StorageDenied(text),
            (_, Some(s)) if s >= 500 => Error::StorageUnavailable(text),
            _ => Error::Storage(text),
        },
    }
}
