//! The backup target: a bucket on a second S3 that holds the dumps, snapshots, checksums,
//! manifests and outcomes, plus the S3 moves the mirror shares (listing a bucket, copying an
//! object with its metadata from one S3 to another).

use std::{collections::BTreeMap, path::Path};

use aws_sdk_s3::{
    Client,
    error::{DisplayErrorContext, ProvideErrorMetadata},
    primitives::ByteStream,
    types::{Delete, ObjectIdentifier},
};
use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};

use super::{plan::Listed, settings::TargetConfig};
use crate::{Error, Result};

fn storage<E: std::error::Error>(what: &str) -> impl FnOnce(E) -> Error + '_ {
    move |e| Error::BackupStorage(format!("{what}: {}", DisplayErrorContext(e)))
}

/// The backups bucket on the target, and the target's client (for the mirror buckets).
#[derive(Clone, Debug)]
pub struct BackupTarget {
    pub client: Client,
    pub bucket: String,
    pub mirror_prefix: String,
}

impl BackupTarget {
    pub fn new(config: &TargetConfig) -> Self {
        Self {
            client: scraperx_core::content::client(&config.s3),
            bucket: config.bucket.clone(),
            mirror_prefix: config.mirror_prefix.clone(),
        }
    }

    /// Creates the backups bucket when it is missing.
    pub async fn ensure(&self) -> Result<()> {
        ensure_bucket(&self.client, &self.bucket).await
    }

    pub async fn put_file(&self, key: &str, path: &Path) -> Result<()> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| Error::Backup(format!("reading {}: {e}", path.display())))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(storage(key))?;
        Ok(())
    }

    pub async fn put_bytes(&self, key: &str, body: Bytes, content_type: &str) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(storage(key))?;
        Ok(())
    }

    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        let body =
            serde_json::to_vec_pretty(value).map_err(|e| Error::Serialization(e.to_string()))?;
        self.put_bytes(key, body.into(), "application/json").await
    }

    /// An object's bytes; `None` when there is no such object.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let body = out.body.collect().await.map_err(storage(key))?;
                Ok(Some(body.into_bytes()))
            }
            Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
            Err(e) => Err(storage(key)(e)),
        }
    }

    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Backup(format!("{key} is not a record: {e}"))),
        }
    }

    /// Streams an object into `path`.
    pub async fn download(&self, key: &str, path: &Path) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(storage(key))?;
        let mut file = tokio::fs::File::create(path)
            .await
            .map_err(|e| Error::Backup(format!("creating {}: {e}", path.display())))?;
        let mut body = out.body;
        while let Some(chunk) = body.try_next().await.map_err(storage(key))? {
            file.write_all(&chunk)
                .await
                .map_err(|e| Error::Backup(format!("writing {}: {e}", path.display())))?;
        }
        file.flush()
            .await
            .map_err(|e| Error::Backup(format!("writing {}: {e}", path.display())))?;
        Ok(())
    }

    /// Every key under `prefix` in the backups bucket.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(list(&self.client, &self.bucket, prefix)
            .await?
            .into_keys()
            .collect())
    }

    /// Deletes every object under `prefix`; returns how many.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        let keys = self.keys(prefix).await?;
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::BackupStorage(e.to_string()))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| Error::BackupStorage(e.to_string()))?;
            self.client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(storage(prefix))?;
        }
        Ok(keys.len())
    }
}

/// Creates `bucket` when it is missing.
pub async fn ensure_bucket(client: &Client, bucket: &str) -> Result<()> {
    if client.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.code(),
                Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(storage(bucket)(e)),
    }
}

/// Every object of `bucket` under `prefix`, with size and ETag.
pub async fn list(client: &Client, bucket: &str, prefix: &str) -> Result<BTreeMap<String, Listed>> {
    let mut found = BTreeMap::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(storage(bucket))?;
        for object in page.contents() {
            if let Some(key) = object.key() {
                found.insert(
                    key.to_owned(),
                    Listed {
                        size: object.size().unwrap_or(0),
                        etag: object.e_tag().unwrap_or_default().to_owned(),
                    },
                );
            }
        }
    }
    Ok(found)
}

/// Copies one object between two S3 services with its content type, encoding, cache
/// control and user metadata (the content store's recorded hash is in the metadata);
/// returns its size.
pub async fn copy_object(from: (&Client, &str), to: (&Client, &str), key: &str) -> Result<u64> {
    let (src, src_bucket) = from;
    let (dst, dst_bucket) = to;
    let object = src
        .get_object()
        .bucket(src_bucket)
        .key(key)
        .send()
        .await
        .map_err(storage(key))?;
    let content_type = object.content_type().map(str::to_owned);
    let encoding = object.content_encoding().map(str::to_owned);
    let cache = object.cache_control().map(str::to_owned);
    let metadata = object.metadata().cloned();
    let body = object
        .body
        .collect()
        .await
        .map_err(storage(key))?
        .into_bytes();
    let size = body.len() as u64;
    dst.put_object()
        .bucket(dst_bucket)
        .key(key)
        .set_content_type(content_type)
        .set_content_encoding(encoding)
        .set_cache_control(cache)
        .set_metadata(metadata)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(storage(key))?;
    Ok(size)
}
