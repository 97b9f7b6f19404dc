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
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
