//! The operator's one error type.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Core(#[from] scraperx_core::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("finalizer: {0}")]
    Finalizer(String),
    #[error("serialization: {0}")]
    Serialization(String),
    /// A backup or restore that could not be made or did not verify.
    #[error("backup: {0}")]
    Backup(String),
    /// The backup target (S3) refused or failed.
    #[error("backup storage: {0}")]
    BackupStorage(String),
    /// A tool (pg_dump, redis-cli...) that would not start or failed.
    #[error("{tool}: {detail}")]
    Tool { tool: String, detail: String },
}

impl Error {
    /// The metrics label of this error.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Core(_) => "storage",
            Error::Invalid(_) => "invalid",
            Error::Finalizer(_) => "finalizer",
            Error::Serialization(_) => "serialization",
            Error::Backup(_) => "backup",
            Error::BackupStorage(_) => "backup_storage",
            Error::Tool { .. } => "tool",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
