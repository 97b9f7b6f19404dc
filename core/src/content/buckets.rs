//! The buckets of seed 001 §5.2 with their lifecycle rules (§6.4) and versioning, created at
//! start-up when missing. Where the two seed sections disagree (the archives' noncurrent
//! versions: 30 days in §5.2, 7 in §6.4's content rule, on a bucket without versioning),
//! §5.2 wins: noncurrent versions only exist on the versioned archives bucket.

use aws_sdk_s3::{
    Client,
    types::{
        BucketLifecycleConfiguration, BucketVersioningStatus, ExpirationStatus,
        LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
        Transition, TransitionStorageClass, VersioningConfiguration,
    },
};

use super::s3_error;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Page content (HTML, text, JSON).
    Content,
    Screenshots,
    Pdfs,
    /// Long-term archives, versioned.
    Archives,
    /// Scratch space for processing.
    Temp,
}

impl Bucket {
    pub const ALL: [Bucket; 5] = [
        Bucket::Content,
        Bucket::Screenshots,
        Bucket::Pdfs,
        Bucket::Archives,
        Bucket::Temp,
    ];

    /// The buckets that hold objects of a job.
    pub const JOB_OBJECTS: [Bucket; 4] = [
        Bucket::Content,
        Bucket::Screenshots,
        Bucket::Pdfs,
        Bucket::Temp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Content => "scrx-content",
            Bucket::Screenshots => "scrx-screenshots",
            Bucket::Pdfs => "scrx-pdfs",
            Bucket::Archives => "scrx-archives",
            Bucket::Temp => "scrx-temp",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    pub fn expiration_days(self) -> i32 {
        match self {
            Bucket::Content => 30,
            Bucket::Screenshots => 7,
            Bucket::Pdfs => 14,
            Bucket::Archives => 365,
            Bucket::Temp => 1,
        }
    }

    /// Move to infrequent-access storage after this many days.
    pub fn transition_days(self) -> Option<i32> {
        matches!(self, Bucket::Content).then_some(7)
    }

    pub fn versioned(self) -> bool {
        matches!(self, Bucket::Archives)
    }

    pub fn noncurrent_days(self) -> Option<i32> {
        self.versioned().then_some(30)
    }

    fn lifecycle(self, with_transition: bool) -> Result<BucketLifecycleConfiguration> {
        let build = |e: aws_sdk_s3::error::BuildError| Error::Storage(e.to_string());
        let all = || LifecycleRuleFilter::builder().prefix("").build();
        let mut expire = LifecycleRule::builder()
            .id(format!("expire-{}d", self.expiration_days()))
            .status(ExpirationStatus::Enabled)
            .filter(all())
            .expiration(
                LifecycleExpiration::builder()
                    .days(self.expiration_days())
                    .build(),
            );
        if let Some(days) = self.noncurrent_days() {
            expire = expire.noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(days)
                    .build(),
            );
        }
        let mut config =
            BucketLifecycleConfiguration::builder().rules(expire.build().map_err(build)?);
        if let (true, Some(days)) = (with_transition, self.transition_days()) {
            config = config.rules(
                LifecycleRule::builder()
                    .id(format!("transition-{days}d"))
                    .status(ExpirationStatus::Enabled)
                    .filter(all())
                    .transitions(
                        Transition::builder()
                            .days(days)
                            .storage_class(TransitionStorageClass::StandardIa)
                            .build(),
                    )
                    .build()
                    .map_err(build)?,
            );
        }
        config.build().map_err(build)
    }
}

/// What setting up one bucket did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSetup {
    pub bucket: Bucket,
    pub created: bool,
    pub versioned: bool,
    /// False when the bucket wants a storage-class transition the server cannot do (MinIO
    /// without a configured remote tier); the expiration rules apply regardless.
    pub transition_applied: bool,
}

/// Creates the missing buckets and (re)applies lifecycle and versioning to all of them.
pub async fn ensure_buckets(client: &Client) -> Result<Vec<BucketSetup>> {
    let mut setups = Vec::with_capacity(Bucket::ALL.len());
    for bucket in Bucket::ALL {
        setups.push(ensure_bucket(client, bucket).await?);
    }
    Ok(setups)
}

async fn ensure_bucket(client: &Client, bucket: Bucket) -> Result<BucketSetup> {
    let name = bucket.name();
    let created = match client.head_bucket().bucket(name).send().await {
        Ok(_) => false,
        Err(e) => match s3_error(e) {
            Error::NotFound { .. } => {
                match client.create_bucket().bucket(name).send().await {
                    Ok(_) => true,
                    // Another replica created it in between.
                    Err(e)
                        if e.as_service_error().is_some_and(|s| {
                            s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                        }) =>
                    {
                        false
                    }
                    Err(e) => return Err(s3_error(e)),
                }
            }
            other => return Err(other),
        },
    };
    if bucket.versioned() {
        client
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(s3_error)?;
    }
    let mut transition_applied = bucket.transition_days().is_some();
    let with_transition = client
        .put_bucket_lifecycle_configuration()
        .bucket(name)
        .lifecycle_configuration(bucket.lifecycle(true)?)
        .send()
        .await;
    if let Err(e) = with_transition {
        let err = s3_error(e);
        if !transition_applied || !matches!(err, Error::Storage(_)) {
            return Err(err);
        }
        tracing::warn!(bucket = name, error = %err, "storage-class transition not supported; expiration only");
        transition_applied = false;
        client
            .put_bucket_lifecycle_configuration()
            .bucket(name)
            .lifecycle_configuration(bucket.lifecycle(false)?)
            .send()
            .await
            .map_err(s3_error)?;
    }
    Ok(BucketSetup {
        bucket,
        created,
        versioned: bucket.versioned(),
        transition_applied,
    })
}
