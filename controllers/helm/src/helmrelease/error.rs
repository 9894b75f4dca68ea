//! Why a HelmRelease reconcile failed: each variant is made where the
//! failure happens, carries Flux's reason and keeps its cause.

use std::time::Duration;

use ferry_api_meta::conditions as reasons;
use ferry_sdk::error::{ErrorClass, ReconcileError};

use super::{chart, storage, values};

/// Flux's reason for an ACL refusal.
pub const ACCESS_DENIED: &str = "AccessDenied";
/// The chart source has no artifact yet.
pub const SOURCE_NOT_READY: &str = "SourceNotReady";
/// The values could not be composed.
pub const VALUES_ERROR: &str = "ValuesError";
/// The OCI revision does not fit the chart.
pub const CHART_MUTATE_ERROR: &str = "ChartMutateError";
/// No client for the target could be built.
pub const REST_CLIENT_ERROR: &str = "RESTClientError";
/// The release state could not be determined.
pub const STATE_ERROR: &str = "StateError";
/// No previous release to roll back to.
pub const MISSING_ROLLBACK_TARGET: &str = "MissingRollbackTarget";
/// The HelmChart of `spec.chart` could not be applied.
pub const HELM_CHART_ERROR: &str = "HelmChartError";
/// A spec field Ferry does not implement yet.
pub const UNSUPPORTED_SPEC: &str = "UnsupportedSpec";

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec asks for what this controller does not do (yet): refused,
    /// never ignored.
    #[error("{0}")]
    Unsupported(String),
    /// A reference is not allowed (cross-namespace).
    #[error("{0}")]
    AccessDenied(#[source] chart::Error),
    /// The HelmChart of `spec.chart` could not be applied or removed.
    #[error("{0}")]
    HelmChart(#[source] chart::Error),
    /// The chart source could not be read or its chart loaded.
    #[error("{0}")]
    ArtifactFailed(#[source] chart::Error),
    /// The chart source has no artifact yet.
    #[error("{message}")]
    SourceNotReady {
        /// Which source.
        message: String,
        /// When to look again.
        retry: Duration,
    },
    /// A dependency is not ready.
    #[error("{message}")]
    DependencyNotReady {
        /// Which one and why.
        message: String,
        /// When to look again.
        retry: Duration,
    },
    /// A dependency's `readyExpr` does not compile or evaluate.
    #[error("Reconciliation failed terminally due to configuration error: {context}{source}")]
    InvalidCel {
        /// Which expression.
        context: String,
        /// The CEL error.
        source: ferry_kstatus::Error,
    },
    /// An object could not be turned into JSON for a `readyExpr`.
    #[error("serialising '{name}' for its readyExpr: {source}")]
    Serialize {
        /// The object.
        name: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// The values could not be composed.
    #[error("{0}")]
    Values(#[source] Box<values::Error>),
    /// The OCI revision does not fit the chart version.
    #[error("{0}")]
    ChartMutate(#[source] chart::Error),
    /// No client for the target could be built.
    #[error("{0}")]
    Client(#[source] ferry_sdk::client::Error),
    /// The state of the release in storage could not be read.
    #[error("Could not determine release state: {0}")]
    State(#[source] storage::Error),
    /// A release action failed; its condition is set, its event recorded.
    #[error("{message}")]
    ActionFailed {
        /// Flux's reason (`InstallFailed`, `UpgradeFailed`, `TestFailed`, ...).
        reason: &'static str,
        /// The condition's message.
        message: String,
        /// The action's failure.
        #[source]
        source: Box<super::action::Error>,
        /// With a `RetryOnFailure` strategy, when to try again.
        retry: Option<Duration>,
    },
    /// A failed release was remediated (rolled back or uninstalled); Ready
    /// stays False until the next attempt succeeds.
    #[error("{message}")]
    Remediated {
        /// `RollbackSucceeded` or `UninstallSucceeded`.
        reason: &'static str,
        /// The Remediated condition's message.
        message: String,
    },
    /// The retries are used up: stalled until the spec changes, with the
    /// reason and message of the last failure (the Released or TestSuccess
    /// condition's).
    #[error("{message}")]
    RetriesExceeded {
        /// The last failure's reason (`InstallFailed`, ...).
        reason: &'static str,
        /// Its message.
        message: String,
    },
    /// Nothing to roll back to.
    #[error("Failed to perform remediation: {0}")]
    MissingRollbackTarget(String),
}

impl ReconcileError for Error {
    fn reason(&self) -> &str {
        match self {
            Self::Unsupported(_) => UNSUPPORTED_SPEC,
            Self::AccessDenied(_) => ACCESS_DENIED,
            Self::HelmChart(_) => HELM_CHART_ERROR,
            Self::ArtifactFailed(_) => reasons::ARTIFACT_FAILED,
            Self::SourceNotReady { .. } => SOURCE_NOT_READY,
            Self::DependencyNotReady { .. } => reasons::DEPENDENCY_NOT_READY,
            Self::InvalidCel { .. } => reasons::INVALID_CEL_EXPRESSION,
            Self::Serialize { .. } => reasons::RECONCILIATION_FAILED,
            Self::Values(_) => VALUES_ERROR,
            Self::ChartMutate(_) => CHART_MUTATE_ERROR,
            Self::Client(_) => REST_CLIENT_ERROR,
            Self::State(_) => STATE_ERROR,
            Self::ActionFailed { reason, .. } | Self::Remediated { reason, .. } => reason,
            Self::RetriesExceeded { reason, .. } => reason,
            Self::MissingRollbackTarget(_) => MISSING_ROLLBACK_TARGET,
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            Self::Unsupported(_)
            | Self::AccessDenied(_)
            | Self::InvalidCel { .. }
            | Self::RetriesExceeded { .. }
            | Self::MissingRollbackTarget(_) => ErrorClass::Stalled,
            Self::SourceNotReady { retry, .. } | Self::DependencyNotReady { retry, .. } => {
                ErrorClass::Waiting(Some(*retry))
            }
            Self::ActionFailed { retry: Some(retry), .. } => ErrorClass::Retry(Some(*retry)),
            _ => ErrorClass::Transient,
        }
    }

    /// The actions record their own events, with Flux's metadata; a chart
    /// source that is not ready is waited for quietly, as in Flux.
    fn records_event(&self) -> bool {
        !matches!(
            self,
            Self::ActionFailed { .. }
                | Self::Remediated { .. }
                | Self::RetriesExceeded { .. }
                | Self::SourceNotReady { .. }
        )
    }
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
