//! The content store (seed 001 §5.4). Every object records, as S3 user metadata, the SHA-256
//! and size of its original bytes, whether it is compressed, and its job and organization.
//! Text bodies over 1 KB are gzipped and stored with `Content-Encoding: gzip`, so a
//! presigned link still serves the page to a browser; reads return the original bytes and
//! check them against the recorded hash. Bodies over the multipart threshold are uploaded
//! in parts, several at a time, and the upload is aborted if any part fails. A write rides
//! out an object store that cannot be reached or answers 5xx for up to its outage budget
//! (backing off between tries), so a MinIO restart costs the writer a wait, not its result.
//!
//! Fixed from the seed: reads take the metadata from the GET itself (the seed made a second
//! `statObject` call, racing with overwrites); per-job deletion covers every job bucket and
//! needs no date from the caller (the job's creation date is in the key); JSON and XML are
//! compressed like `text/*`.

use std::{collections::HashMap, io::Write, time::Duration};

use aws_sdk_s3::{
    Client,
    presigning::PresigningConfig,
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier},
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use flate2::{Compression, write::GzEncoder};
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use super::{Bucket, ObjectKind, job_prefix, object_key, s3_error, thumbnail};
use crate::{
    Error, Result,
    config::S3Config,
    domain::{JobId, OrgId},
};

/// Text bodies larger than this are gzipped.
pub const COMPRESS_ABOVE: usize = 1024;
/// Parts uploaded at once in a multipart upload.
const PARTS_IN_FLIGHT: usize = 4;
/// How long a write keeps trying while the object store is unreachable or failing (5xx).
pub const DEFAULT_OUTAGE_BUDGET: Duration = Duration::from_secs(60);
/// The pause after a write's first failed try; it doubles, with jitter, up to the cap.
const OUTAGE_RETRY_BASE: Duration = Duration::from_millis(250);
const OUTAGE_RETRY_CAP: Duration = Duration::from_secs(4);

const META_ORIGINAL_SIZE: &str = "original-size";
const META_COMPRESSED: &str = "compressed";
const META_CONTENT_HASH: &str = "content-hash";
const META_JOB: &str = "job-id";
const META_ORG: &str = "org-id";

/// Where an object went and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub bucket: Bucket,
    pub key: String,
    /// Bytes stored (after compression).
    pub size: u64,
    pub original_size: u64,
    /// SHA-256 of the original bytes, hex.
    pub content_hash: String,
    pub compressed: bool,
    pub content_type: String,
    /// Uploaded in parts.
    pub multipart: bool,
}

/// A screenshot, its thumbnail and its pixel size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screenshot {
    pub full: StoredObject,
    pub thumbnail: StoredObject,
    pub width: u32,
    pub height: u32,
}

/// An object read back: the original bytes, verified against the recorded hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retrieved {
    pub bytes: Bytes,
    pub content_type: Option<String>,
    pub content_hash: Option<String>,
    pub job_id: Option<String>,
    pub org_id: Option<String>,
}

/// The job an object belongs to, for its key and metadata.
#[derive(Debug, Clone, Copy)]
pub struct JobRef {
    pub org: OrgId,
    pub job: JobId,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct ContentStore {
    client: Client,
    multipart_threshold: usize,
    part_size: usize,
    outage_budget: Duration,
}

impl std::fmt::Debug for ContentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentStore")
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .finish_non_exhaustive()
    }
}

/// Whether a content type is text worth compressing.
pub fn is_text(content_type: &str) -> bool {
    let ct = content_type.trim().to_ascii_lowercase();
    ct.starts_with("text/")
        || ["json", "xml", "javascript", "svg"]
            .iter()
            .any(|t| ct.split(';').next().unwrap_or_default().contains(t))
}

/// One object to write, as [`ContentStore::put`] prepared it.
struct Upload<'a> {
    bucket: Bucket,
    key: &'a str,
    body: Bytes,
    content_type: &'a str,
    compressed: bool,
    metadata: HashMap<String, String>,
}

impl ContentStore {
    pub fn new(config: &S3Config) -> Self {
        Self::with_client(super::client(config), config)
    }

    pub fn with_client(client: Client, config: &S3Config) -> Self {
        Self {
            client,
            multipart_threshold: config.multipart_threshold,
            part_size: config.part_size,
            outage_budget: DEFAULT_OUTAGE_BUDGET,
        }
    }

    /// This store, with writes giving up after `budget` of outage instead of the default.
    pub fn with_outage_budget(mut self, budget: Duration) -> Self {
        self.outage_budget = budget;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Stores page content in the content bucket.
    pub async fn store_content(
        &self,
        job: JobRef,
        content: Bytes,
        content_type: &str,
    ) -> Result<StoredObject> {
        let key = object_key(
            job.org,
            job.job,
            job.created_at,
            ObjectKind::Content { content_type },
        );
        self.put(Bucket::Content, key, job, content, content_type)
            .await
    }

    /// Stores the job's screenshot (a PNG, or a JPEG) and a PNG thumbnail rendered from it.
    pub async fn store_screenshot(&self, job: JobRef, image: Bytes) -> Result<Screenshot> {
        let kind = match thumbnail::Encoding::of(&image)? {
            thumbnail::Encoding::Png => ObjectKind::Screenshot,
            thumbnail::Encoding::Jpeg => ObjectKind::ScreenshotJpeg,
        };
        self.store_with_thumbnail(job, image, kind, ObjectKind::ScreenshotThumb)
            .await
    }

    /// Stores a screenshot a job's action at `step` took, beside the job's own, with its
    /// thumbnail.
    pub async fn store_action_screenshot(
        &self,
        job: JobRef,
        step: usize,
        png: Bytes,
    ) -> Result<Screenshot> {
        let kinds = (
            ObjectKind::ActionScreenshot { step },
            ObjectKind::ActionScreenshotThumb { step },
        );
        self.store_with_thumbnail(job, png, kinds.0, kinds.1).await
    }

    /// Stores `image` as `kind` and its PNG thumbnail as `thumb_kind`.
    async fn store_with_thumbnail(
        &self,
        job: JobRef,
        image: Bytes,
        kind: ObjectKind<'_>,
        thumb_kind: ObjectKind<'_>,
    ) -> Result<Screenshot> {
        let encoding = thumbnail::Encoding::of(&image)?;
        let source = image.clone();
        let thumb = tokio::task::spawn_blocking(move || thumbnail::render(&source))
            .await
            .map_err(|e| Error::Storage(format!("thumbnail task: {e}")))??;
        let full_key = object_key(job.org, job.job, job.created_at, kind);
        let thumb_key = object_key(job.org, job.job, job.created_at, thumb_kind);
        let (full, thumbnail) = futures::try_join!(
            self.put(
                Bucket::Screenshots,
                full_key,
                job,
                image,
                encoding.content_type()
            ),
            self.put(
                Bucket::Screenshots,
                thumb_key,
                job,
                Bytes::from(thumb.png),
                "image/png"
            ),
        )?;
        Ok(Screenshot {
            full,
            thumbnail,
            width: thumb.width,
            height: thumb.height,
        })
    }

    pub async fn store_pdf(&self, job: JobRef, pdf: Bytes) -> Result<StoredObject> {
        let key = object_key(job.org, job.job, job.created_at, ObjectKind::Pdf);
        self.put(Bucket::Pdfs, key, job, pdf, "application/pdf")
            .await
    }

    /// Stores `original` under `bucket`/`key`, compressed when it is text over 1 KB.
    pub async fn put(
        &self,
        bucket: Bucket,
        key: String,
        job: JobRef,
        original: Bytes,
        content_type: &str,
    ) -> Result<StoredObject> {
        let content_hash = hex::encode(Sha256::digest(&original));
        let original_size = original.len() as u64;
        let compressed = is_text(content_type) && original.len() > COMPRESS_ABOVE;
        let body = if compressed {
            let raw = original.clone();
            tokio::task::spawn_blocking(move || gzip(&raw))
                .await
                .map_err(|e| Error::Storage(format!("compression task: {e}")))??
        } else {
            original
        };
        let metadata = HashMap::from([
            (META_ORIGINAL_SIZE.to_owned(), original_size.to_string()),
            (META_COMPRESSED.to_owned(), compressed.to_string()),
            (META_CONTENT_HASH.to_owned(), content_hash.clone()),
            (META_JOB.to_owned(), job.job.to_string()),
            (META_ORG.to_owned(), job.org.to_string()),
        ]);
        let size = body.len() as u64;
        let multipart = body.len() > self.multipart_threshold;
        let upload = Upload {
            bucket,
            key: &key,
            body,
            content_type,
            compressed,
            metadata,
        };
        self.upload_riding_out_outages(&upload, multipart).await?;
        Ok(StoredObject {
            bucket,
            key,
            size,
            original_size,
            content_hash,
            compressed,
            content_type: content_type.to_owned(),
            multipart,
        })
    }

    /// Uploads, trying again while the store is unreachable or failing, within the budget.
    async fn upload_riding_out_outages(&self, upload: &Upload<'_>, multipart: bool) -> Result<()> {
        let started = std::time::Instant::now();
        let mut attempt = 1;
        loop {
            let tried = if multipart {
                self.put_multipart(upload).await
            } else {
                self.put_single(upload).await
            };
            match tried {
                Err(err) if err.is_retryable() && started.elapsed() < self.outage_budget => {
                    let pause =
                        crate::queue::retry_delay(attempt, OUTAGE_RETRY_BASE, OUTAGE_RETRY_CAP);
                    tracing::warn!(key = upload.key, error = %err, ?pause, "object store unavailable; trying the write again");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn put_single(&self, u: &Upload<'_>) -> Result<()> {
        self.client
            .put_object()
            .bucket(u.bucket.name())
            .key(u.key)
            .content_type(u.content_type)
            .set_content_encoding(u.compressed.then(|| "gzip".to_owned()))
            .set_metadata(Some(u.metadata.clone()))
            .body(ByteStream::from(u.body.clone()))
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }

    async fn put_multipart(&self, u: &Upload<'_>) -> Result<()> {
        let (bucket, key, body) = (u.bucket, u.key, u.body.clone());
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(bucket.name())
            .key(key)
            .content_type(u.content_type)
            .set_content_encoding(u.compressed.then(|| "gzip".to_owned()))
            .set_metadata(Some(u.metadata.clone()))
            .send()
            .await
            .map_err(s3_error)?;
        let upload_id = upload
            .upload_id()
            .ok_or_else(|| Error::Storage("multipart upload without an id".into()))?
            .to_owned();
        let parts: Vec<(i32, Bytes)> = (0..body.len())
            .step_by(self.part_size)
            .zip(1..)
            .map(|(start, n)| {
                (
                    n,
                    body.slice(start..(start + self.part_size).min(body.len())),
                )
            })
            .collect();
        let uploaded: Result<Vec<CompletedPart>> = futures::stream::iter(parts)
            .map(|(number, chunk)| {
                let request = self
                    .client
                    .upload_part()
                    .bucket(bucket.name())
                    .key(key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(chunk));
                async move {
                    let out = request.send().await.map_err(s3_error)?;
                    Ok(CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag().map(str::to_owned))
                        .build())
                }
            })
            .buffered(PARTS_IN_FLIGHT)
            .try_collect()
            .await;
        let completed = match uploaded {
            Ok(parts) => self
                .client
                .complete_multipart_upload()
                .bucket(bucket.name())
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(s3_error),
            Err(e) => Err(e),
        };
        if let Err(e) = completed {
            // Leave no orphaned parts behind; the original error is what matters.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(bucket.name())
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
            return Err(e);
        }
        Ok(())
    }

    /// Reads an object back as its original bytes, checked against the recorded hash.
    pub async fn get(&self, bucket: Bucket, key: &str) -> Result<Retrieved> {
        let out = self
            .client
            .get_object()
            .bucket(bucket.name())
            .key(key)
            .send()
            .await
            .map_err(s3_error)?;
        let meta = out.metadata().cloned().unwrap_or_default();
        let content_type = out.content_type().map(str::to_owned);
        let stored = out
            .body
            .collect()
            .await
            .map_err(|e| Error::StorageUnavailable(format!("reading {key}: {e}")))?
            .into_bytes();
        let compressed = meta.get(META_COMPRESSED).is_some_and(|v| v == "true");
        let bytes = if compressed {
            tokio::task::spawn_blocking(move || gunzip(&stored))
                .await
                .map_err(|e| Error::Storage(format!("decompression task: {e}")))?
                .ok_or_else(|| Error::Corrupt(format!("object {key}: not gzip")))?
        } else {
            stored
        };
        let content_hash = meta.get(META_CONTENT_HASH).cloned();
        if let Some(expected) = &content_hash
            && *expected != hex::encode(Sha256::digest(&bytes))
        {
            return Err(Error::Corrupt(format!("object {key}: hash mismatch")));
        }
        Ok(Retrieved {
            bytes,
            content_type,
            content_hash,
            job_id: meta.get(META_JOB).cloned(),
            org_id: meta.get(META_ORG).cloned(),
        })
    }

    /// A URL that lets anyone holding it GET the object until `expires_in` passes.
    pub async fn presign_get(
        &self,
        bucket: Bucket,
        key: &str,
        expires_in: Duration,
    ) -> Result<String> {
        let config = PresigningConfig::expires_in(expires_in)
            .map_err(|e| Error::validation("expires_in", e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(bucket.name())
            .key(key)
            .presigned(config)
            .await
            .map_err(s3_error)?;
        Ok(request.uri().to_owned())
    }

    /// Deletes every object of a job from every job bucket; returns how many were deleted.
    pub async fn delete_job(
        &self,
        org: OrgId,
        job: JobId,
        created_at: DateTime<Utc>,
    ) -> Result<u64> {
        let prefix = job_prefix(org, job, created_at);
        let mut deleted = 0;
        for bucket in Bucket::JOB_OBJECTS {
            deleted += self.delete_prefix(bucket, &prefix).await?;
        }
        Ok(deleted)
    }

    /// Deletes every object under `prefix` in `bucket`, a page (up to 1000) at a time.
    pub async fn delete_prefix(&self, bucket: Bucket, prefix: &str) -> Result<u64> {
        let mut deleted = 0;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket.name())
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(s3_error)?;
            let keys: Vec<&str> = page.contents().iter().filter_map(|o| o.key()).collect();
            deleted += self.delete_keys(bucket.name(), &keys).await?;
        }
        Ok(deleted)
    }
}

impl ContentStore {
    /// Deletes `keys` (at most 1000) from the bucket named `bucket`. Keys already gone count
    /// as deleted: S3 deletes are idempotent.
    pub async fn delete_keys(&self, bucket: &str, keys: &[&str]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let ids = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(*k).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Storage(e.to_string()))?;
        let out = self
            .client
            .delete_objects()
            .bucket(bucket)
            .delete(
                Delete::builder()
                    .set_objects(Some(ids))
                    .quiet(true)
                    .build()
                    .map_err(|e| Error::Storage(e.to_string()))?,
            )
            .send()
            .await
            .map_err(s3_error)?;
        if let Some(first) = out.errors().first() {
            return Err(match first.code() {
                Some("AccessDenied") => Error::StorageDenied(format!("deleting from {bucket}")),
                Some("InternalError" | "SlowDown" | "ServiceUnavailable") => {
                    Error::StorageUnavailable(format!("deleting from {bucket}"))
                }
                _ => Error::Storage(format!(
                    "deleting from {bucket}: {}",
                    first.message().unwrap_or("unknown error")
                )),
            });
        }
        Ok(keys.len() as u64)
    }
}

fn gzip(raw: &[u8]) -> Result<Bytes> {
    let mut gz = GzEncoder::new(Vec::with_capacity(raw.len() / 4), Compression::default());
    gz.write_all(raw)
        .and_then(|()| gz.finish())
        .map(Bytes::from)
        .map_err(|e| Error::Storage(format!("compression: {e}")))
}

fn gunzip(stored: &[u8]) -> Option<Bytes> {
    use std::io::Read;
    let mut out = Vec::with_capacity(stored.len() * 4);
    flate2::read::GzDecoder::new(stored)
        .read_to_end(&mut out)
        .ok()?;
    Some(Bytes::from(out))
}
