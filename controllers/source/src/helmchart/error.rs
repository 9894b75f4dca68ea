//! Why a HelmChart reconcile failed: each variant is made where the failure
//! happens, carries Flux's reason for it and keeps its cause.

use ferry_sdk::artifact::store::StorageError;
use std::time::Duration;

use ferry_api_meta::conditions as cond;
use ferry_sdk::{ErrorClass, ReconcileError};

use super::build::BuildError;

/// The reason of a source that cannot be read (Flux's).
pub const SOURCE_UNAVAILABLE: &str = "SourceUnavailable";
/// The reason of a source kind that cannot be built from (Flux's).
pub const UNSUPPORTED_SOURCE_KIND: &str = "UnsupportedSourceKind";
/// The reason of a source without an artifact yet (Flux's).
pub const NO_SOURCE_ARTIFACT: &str = "NoSourceArtifact";

/// What went wrong reconciling a HelmChart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source could not be read from the API server.
    #[error("failed to get source: {source}")]
    SourceUnavailable {
        /// The client's error.
        source: kube::Error,
    },
    /// The source does not exist.
    #[error("failed to get source: {kind} '{namespace}/{name}' not found")]
    SourceNotFound {
        /// `spec.sourceRef.kind`.
        kind: String,
        /// The namespace.
        namespace: String,
        /// `spec.sourceRef.name`.
        name: String,
    },
    /// A source kind Ferry cannot build charts from yet; no retry helps.
    #[error("failed to get source: {message}")]
    UnsupportedSource {
        /// What is not supported, and what is.
        message: String,
    },
    /// The source has no artifact yet: wait for it.
    #[error("no artifact available for {kind} source '{name}'")]
    NoSourceArtifact {
        /// `spec.sourceRef.kind`.
        kind: String,
        /// `spec.sourceRef.name`.
        name: String,
        /// When to look again.
        retry: Duration,
    },
    /// The HelmRepository's spec or Secrets are unusable (its URL,
    /// timeout, credentials).
    #[error(transparent)]
    Repository(crate::helmrepository::Error),
    /// The credentials or TLS settings of an OCI HelmRepository are unusable.
    #[error(transparent)]
    OciOptions {
        /// Why.
        source: super::oci::OptionsError,
    },
    /// An OCI HelmRepository's URL is unusable, or its client could not be built.
    #[error(transparent)]
    OciRepository {
        /// Why.
        source: super::oci::Error,
    },
    /// The verifier of `spec.verify` could not be made (its Secret, its
    /// provider): Flux marks only `SourceVerified`.
    #[error("failed to verify the signature using provider '{provider}': {source}")]
    Verifier {
        /// `spec.verify.provider` (`cosign keyless` without a Secret).
        provider: String,
        /// Why.
        source: crate::verify::VerifyError,
    },
    /// The source's artifact could not be downloaded (or, for a
    /// HelmRepository, its index loaded).
    #[error(transparent)]
    SourceArtifact {
        /// Why.
        source: super::artifact::Error,
    },
    /// The source's artifact could not be unpacked.
    #[error("artifact untar error: {source}")]
    Untar {
        /// The SDK's error.
        source: ferry_sdk::artifact::Error,
    },
    /// The repository refused the credentials (a 401, a TLS failure).
    #[error("failed to authenticate with the Helm repository: {source}")]
    Authentication {
        /// The build error that says so.
        source: BuildError,
    },
    /// The chart could not be pulled or built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A storage failure: scratch space, artifact path, storing, cleanup.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The build task died.
    #[error("chart build task failed: {source}")]
    Task {
        /// The cause.
        source: tokio::task::JoinError,
    },
}

impl Error {
    /// The condition a failure of the source step sets, as Flux's
    /// `observeChartBuild` sorts build errors (everything else there,
    /// scratch directories included, is `FetchFailed`).
    pub fn condition(&self) -> &'static str {
        match self {
            Self::Build(error) if error.reason.is_build_failure() => cond::BUILD_FAILED,
            _ => cond::FETCH_FAILED,
        }
    }
}

impl ReconcileError for Error {
    fn reason(&self) -> &str {
        match self {
            Self::SourceUnavailable { .. } | Self::SourceNotFound { .. } => SOURCE_UNAVAILABLE,
            Self::UnsupportedSource { .. } => UNSUPPORTED_SOURCE_KIND,
            Self::NoSourceArtifact { .. } => NO_SOURCE_ARTIFACT,
            Self::Repository(error) => error.reason(),
            // An index that does not load is Flux's ErrExternal: a pull error.
            Self::SourceArtifact { source: super::artifact::Error::Index { .. } } => {
                super::build::Reason::Pull.reason()
            }
            Self::SourceArtifact { .. } => cond::READ_OPERATION_FAILED,
            Self::Untar { .. } | Self::Task { .. } => cond::FAILED,
            Self::Authentication { .. } | Self::OciOptions { .. } => cond::AUTHENTICATION_FAILED,
            Self::Verifier { .. } => cond::VERIFICATION_ERROR,
            Self::OciRepository { source: super::oci::Error::InvalidUrl { .. } } => cond::URL_INVALID,
            Self::OciRepository { .. } => cond::FAILED,
            Self::Build(error) => error.reason.reason(),
            Self::Storage(error) => error.reason(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            Self::UnsupportedSource { .. } => ErrorClass::Stalled,
            Self::NoSourceArtifact { retry, .. } => ErrorClass::Waiting(Some(*retry)),
            Self::Repository(error) => error.class(),
            Self::OciOptions {
                source: super::oci::OptionsError::Provider { .. } | super::oci::OptionsError::InvalidTimeout { .. },
            }
            | Self::OciRepository { .. } => ErrorClass::Stalled,
            Self::Verifier { source, .. } if source.is_stalling() => ErrorClass::Stalled,
            // Verification cannot succeed until the spec changes either.
            Self::Build(error) if error.reason.persistent() || error.reason == super::build::Reason::Verification => {
                ErrorClass::Stalled
            }
            _ => ErrorClass::Transient,
        }
    }
}
