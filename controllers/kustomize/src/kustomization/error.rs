//! Why a Kustomization reconcile failed: each variant is made where the
//! failure happens, carries Flux's reason for it and keeps its cause.

use std::time::Duration;

use ferry_api_meta::conditions as reasons;
use ferry_sdk::error::{ErrorClass, ReconcileError};

use super::{ACCESS_DENIED, build, source};

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source reference is not allowed (cross-namespace, feature gate).
    #[error("{0}")]
    AccessDenied(String),
    /// The source could not be read, or does not exist (yet).
    #[error(transparent)]
    Source(source::Error),
    /// The source has no artifact yet, or it is not served.
    #[error("{message}")]
    ArtifactNotReady {
        /// The message.
        message: String,
        /// When to look again.
        retry: Duration,
    },
    /// Downloading or extracting the artifact failed.
    #[error(transparent)]
    ArtifactFailed(ferry_sdk::artifact::Error),
    /// A dependency is not ready.
    #[error("{message}")]
    DependencyNotReady {
        /// Which dependency and why.
        message: String,
        /// When to look again.
        retry: Duration,
    },
    /// A CEL expression (`healthCheckExprs`, `readyExpr`) does not compile
    /// or evaluate: no retry helps until the spec changes.
    #[error("Reconciliation failed terminally due to configuration error: {context}{source}")]
    InvalidCel {
        /// Which expression, when known (`failed to evaluate dependency x: `).
        context: String,
        /// The CEL error.
        source: ferry_kstatus::Error,
    },
    /// An object could not be turned into JSON for a CEL expression.
    #[error("serialising '{name}' for its readyExpr: {source}")]
    Serialize {
        /// The object.
        name: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// Reading a build input (decryption keys, variables) failed.
    #[error(transparent)]
    BuildInput(super::inputs::InputError),
    /// The build failed.
    #[error(transparent)]
    BuildFailed(build::Error),
    /// The build task died.
    #[error("build task failed: {source}")]
    BuildTask {
        /// The cause.
        source: tokio::task::JoinError,
    },
    /// A built object is no Kubernetes object.
    #[error("{describe}: not a Kubernetes object: {source}")]
    NotAnObject {
        /// Which object.
        describe: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// Encrypted data without decryption settings: Flux finds these at
    /// apply time and says so with its reason.
    #[error(transparent)]
    Encrypted(build::Error),
    /// A client for the target could not be built.
    #[error("failed to build kube client: {source}")]
    ClientFailed {
        /// The cause.
        source: ferry_sdk::client::Error,
    },
    /// The cluster or identity to apply with is out of reach.
    #[error("failed to build kube client: {0}")]
    Target(#[source] super::target::Error),
    /// The spec asks for what a feature gate keeps off.
    #[error("{0}")]
    FeatureGateDisabled(String),
    /// Applying failed.
    #[error(transparent)]
    ApplyFailed(ferry_ssa::Error),
    /// Pruning failed.
    #[error(transparent)]
    PruneFailed(ferry_ssa::Error),
    /// The health checks failed.
    #[error("{0}")]
    HealthCheckFailed(String),
    /// A temporary directory could not be made.
    #[error(transparent)]
    TempDir(ferry_sdk::artifact::Error),
}

impl ReconcileError for Error {
    fn reason(&self) -> &str {
        match self {
            Self::AccessDenied(_) => ACCESS_DENIED,
            Self::Source(_) | Self::ArtifactNotReady { .. } | Self::ArtifactFailed(_) => reasons::ARTIFACT_FAILED,
            Self::DependencyNotReady { .. } => reasons::DEPENDENCY_NOT_READY,
            Self::InvalidCel { .. } => reasons::INVALID_CEL_EXPRESSION,
            Self::Serialize { .. } => reasons::RECONCILIATION_FAILED,
            Self::BuildInput(_) | Self::BuildFailed(_) | Self::BuildTask { .. } | Self::NotAnObject { .. } => {
                reasons::BUILD_FAILED_REASON
            }
            Self::Encrypted(_) | Self::ClientFailed { .. } | Self::Target(_) | Self::ApplyFailed(_) => {
                reasons::RECONCILIATION_FAILED
            }
            Self::FeatureGateDisabled(_) => reasons::FEATURE_GATE_DISABLED,
            Self::PruneFailed(_) => reasons::PRUNE_FAILED,
            Self::HealthCheckFailed(_) => reasons::HEALTH_CHECK_FAILED,
            Self::TempDir(_) => reasons::DIRECTORY_CREATION_FAILED,
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            Self::AccessDenied(_) | Self::InvalidCel { .. } | Self::FeatureGateDisabled(_) => ErrorClass::Stalled,
            Self::Target(error) if error.is_stalled() => ErrorClass::Stalled,
            Self::Source(source::Error::Read(ferry_sdk::artifact::source::Error::NotFound { .. })) => {
                ErrorClass::Waiting(None)
            }
            Self::ArtifactNotReady { retry, .. } | Self::DependencyNotReady { retry, .. } => {
                ErrorClass::Waiting(Some(*retry))
            }
            Self::Source(_) | Self::TempDir(_) | Self::Serialize { .. } => ErrorClass::Transient,
            _ => ErrorClass::Retry(None),
        }
    }

    /// As Flux: a missing source or artifact is waited for without an event.
    fn records_event(&self) -> bool {
        !matches!(
            self,
            Self::Source(source::Error::Read(ferry_sdk::artifact::source::Error::NotFound { .. }))
                | Self::ArtifactNotReady { .. }
        )
    }
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
