//! Why a HelmRepository reconcile failed: each variant is made where the
//! failure happens, carries Flux's reason for it and keeps its cause.

use ferry_api_meta::conditions as cond;
use ferry_sdk::artifact::store::StorageError;
use ferry_sdk::{ErrorClass, ReconcileError};

use super::{auth, fetch, index};

/// What went wrong reconciling a HelmRepository.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `spec.url` is no URL this type of repository can use; no retry helps.
    #[error("invalid Helm repository URL: {message}")]
    InvalidUrl {
        /// Why, in Flux's words.
        message: String,
        /// The parser's error, when it failed.
        source: Option<url::ParseError>,
    },
    /// An OCI repository's URL is not `oci://` (Flux v1.1's wording); no
    /// retry helps.
    #[error("URL scheme '{scheme}' in '{url}' is not supported")]
    InvalidOciUrl {
        /// The scheme found.
        scheme: String,
        /// `spec.url`.
        url: String,
    },
    /// `spec.timeout` is no Go duration; no retry helps.
    #[error("invalid timeout '{value}': {source}")]
    InvalidTimeout {
        /// `spec.timeout`.
        value: String,
        /// Why it does not parse.
        source: ferry_api_meta::duration::DurationError,
    },
    /// A referenced Secret does not exist or could not be read.
    #[error("failed to get {what} secret '{}': {source}", source.secret())]
    Secret {
        /// `authentication` or `TLS authentication`.
        what: &'static str,
        /// The reader's error.
        source: ferry_sdk::secret::Error,
    },
    /// A referenced Secret's keys are unusable.
    #[error("{context}: {source}")]
    InvalidSecret {
        /// What was being built, in Flux's words.
        context: &'static str,
        /// What is wrong.
        source: auth::Error,
    },
    /// An OCI repository's `secretRef` holds no registry credentials.
    #[error("invalid secret '{secret}': it holds neither 'username' and 'password' nor '.dockerconfigjson'")]
    NoRegistryCredentials {
        /// `<namespace>/<name>`.
        secret: String,
    },
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(fetch::Error),
    /// Downloading the index failed (status, connection, size).
    #[error("failed to fetch Helm repository index: failed to cache index to temporary file: {source}")]
    Fetch {
        /// The download's error.
        source: fetch::Error,
    },
    /// The index is no index Helm can load.
    #[error("failed to load Helm repository from index YAML: failed to load index: {source}")]
    Index {
        /// Helm's error.
        source: index::Error,
    },
    /// The index loaded but could not be written as JSON.
    #[error("unable to get JSON index from chart repo: {source}")]
    IndexJson {
        /// The encoder's error.
        source: index::Error,
    },
    /// A storage failure: scratch space, artifact path, storing, cleanup.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ReconcileError for Error {
    fn reason(&self) -> &str {
        match self {
            Self::InvalidUrl { .. } | Self::InvalidOciUrl { .. } => cond::URL_INVALID,
            Self::InvalidTimeout { .. } => crate::gitrepository::INVALID_TIMEOUT,
            Self::Secret { .. } | Self::InvalidSecret { .. } | Self::NoRegistryCredentials { .. } => {
                cond::AUTHENTICATION_FAILED
            }
            Self::Client(_) | Self::Fetch { .. } => cond::FAILED,
            Self::Index { .. } => cond::INDEXATION_FAILED,
            Self::IndexJson { .. } => cond::ARCHIVE_OPERATION_FAILED,
            Self::Storage(error) => error.reason(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidUrl { .. } | Self::InvalidOciUrl { .. } | Self::InvalidTimeout { .. } | Self::Client(_) => {
                ErrorClass::Stalled
            }
            _ => ErrorClass::Transient,
        }
    }
}
