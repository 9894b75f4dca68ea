//! Why a GitRepository reconcile failed: each variant is made where the
//! failure happens, carries Flux's reason for it and keeps its cause.

use ferry_sdk::artifact::store::StorageError;
use std::time::Duration;

use ferry_api_meta::conditions as cond;
use ferry_api_source as source;
use ferry_sdk::{ErrorClass, ReconcileError};

use super::{auth, include};

/// What went wrong reconciling a GitRepository.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `spec.url` has a scheme Git cannot fetch from; no retry helps.
    #[error("invalid URL '{url}': the scheme must be http, https or ssh")]
    InvalidUrl {
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
    /// `spec.provider` names a cloud identity this controller cannot
    /// obtain: said instead of cloning anonymously.
    #[error(
        "provider '{provider}' is not supported by this source-controller: use provider 'generic' with a secretRef"
    )]
    UnsupportedProvider {
        /// The provider asked for.
        provider: &'static str,
    },
    /// A referenced Secret does not exist or could not be read.
    #[error("failed to get secret '{}': {}", .0.secret(), .0)]
    Secret(#[source] ferry_sdk::secret::Error),
    /// A referenced Secret is unusable as credentials.
    #[error("invalid secret '{name}': {source}")]
    InvalidSecret {
        /// `<namespace>/<name>`.
        name: String,
        /// What is wrong with it.
        source: auth::Error,
    },
    /// Listing, fetching or checking out failed; `reason` tells a refused
    /// credential (`AuthenticationFailed`) from the rest (`GitOperationFailed`).
    #[error("failed to checkout and determine revision: {source}")]
    Git {
        /// Flux's reason.
        reason: &'static str,
        /// The Git error.
        source: ferry_git::Error,
    },
    /// `spec.url` is no URL Git understands; no retry helps.
    #[error(transparent)]
    GitUrl {
        /// The Git error.
        source: ferry_git::Error,
    },
    /// A directory of `spec.sparseCheckout` is not in the commit: an
    /// artifact without it would make a pruning consumer delete everything.
    #[error("{message}")]
    SparseCheckout {
        /// Flux's wording, naming the missing directory.
        message: String,
    },
    /// A Git operation took longer than `spec.timeout`.
    #[error("git operation timed out after {0:?}")]
    GitTimeout(Duration),
    /// The blocking Git task died.
    #[error("git operation panicked or was cancelled: {source}")]
    GitTask {
        /// The cause.
        source: tokio::task::JoinError,
    },
    /// The signature could not be verified (`reason` is Flux's).
    #[error("{message}")]
    VerificationFailed {
        /// The `SourceVerified` reason.
        reason: &'static str,
        /// Why.
        message: String,
        /// No retry helps until the spec changes.
        stalled: bool,
    },
    /// An included repository is missing or has no artifact yet.
    #[error("{message}")]
    IncludeUnavailable {
        /// The `IncludeUnavailable` reason.
        reason: &'static str,
        /// Why.
        message: String,
        /// When to look again (`--requeue-dependency`).
        retry: Duration,
        /// The API error, when reading the repository failed.
        source: Option<kube::Error>,
    },
    /// Copying an included artifact into the tree failed.
    #[error(transparent)]
    Include(#[from] include::Error),
    /// A storage failure: scratch space, artifact path, storing, cleanup.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The reason of an invalid `spec.timeout` (Flux's CRD validation refuses
/// one before its controller sees it, so Flux has no reason for it).
pub const INVALID_TIMEOUT: &str = "InvalidTimeout";

impl ReconcileError for Error {
    fn reason(&self) -> &str {
        match self {
            Self::InvalidUrl { .. } | Self::GitUrl { .. } => cond::URL_INVALID,
            Self::InvalidTimeout { .. } => INVALID_TIMEOUT,
            Self::UnsupportedProvider { .. } => source::INVALID_PROVIDER_CONFIGURATION_REASON,
            Self::Secret(_) | Self::InvalidSecret { .. } => cond::AUTHENTICATION_FAILED,
            Self::Git { reason, .. }
            | Self::VerificationFailed { reason, .. }
            | Self::IncludeUnavailable { reason, .. } => reason,
            Self::GitTimeout(_) | Self::GitTask { .. } | Self::SparseCheckout { .. } => cond::GIT_OPERATION_FAILED,
            Self::Include(include::Error::IllegalPath { .. }) => source::INCLUDE_ILLEGAL_PATH_REASON,
            Self::Include(include::Error::CopyFailed { .. } | include::Error::Task { .. }) => {
                source::INCLUDE_COPY_FAILURE_REASON
            }
            // Flux's GitRepository reports a failed cleanup as an archive operation.
            Self::Storage(StorageError::Cleanup { .. }) => cond::ARCHIVE_OPERATION_FAILED,
            Self::Storage(error) => error.reason(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidUrl { .. }
            | Self::InvalidTimeout { .. }
            | Self::UnsupportedProvider { .. }
            | Self::VerificationFailed { stalled: true, .. } => ErrorClass::Stalled,
            Self::GitUrl { .. } => ErrorClass::Stalled,
            Self::IncludeUnavailable { retry, .. } => ErrorClass::Waiting(Some(*retry)),
            _ => ErrorClass::Transient,
        }
    }
}

/// The error of a failed Git operation, with Flux's reason for it.
pub(crate) fn git_error(source: ferry_git::Error) -> Error {
    match &source {
        ferry_git::Error::AuthenticationFailed { .. } | ferry_git::Error::InvalidAuth(_) => {
            Error::Git { reason: cond::AUTHENTICATION_FAILED, source }
        }
        ferry_git::Error::InvalidUrl { .. } => Error::GitUrl { source },
        _ => Error::Git { reason: cond::GIT_OPERATION_FAILED, source },
    }
}
