//! The reason and class that every reconcile error carries.
//!
//! The class decides what happens next: a transient error is retried with
//! backoff, a stalled one waits for the spec to change, a waiting one is
//! requeued after a fixed delay. The reason goes into the Ready condition,
//! the Kubernetes Event and the metrics, never a Debug string.

use std::time::Duration;

/// What the harness does after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Retry with per-object exponential backoff.
    Transient,
    /// Do not retry until the object's spec (generation) changes; sets
    /// `Stalled=True`.
    Stalled,
    /// Requeue after a fixed delay (the object's retry interval when this is
    /// `None`), e.g. while a dependency is not ready. Not counted as a failure.
    Waiting(Option<Duration>),
    /// A failure retried after a fixed delay (the object's retry interval
    /// when this is `None`) instead of backoff, as Flux's appliers
    /// (kustomize-controller, helm-controller) retry at `spec.retryInterval`.
    /// Counted and reported as a failure, like [`ErrorClass::Transient`].
    Retry(Option<Duration>),
}

impl ErrorClass {
    /// The class as a metric label value: `transient`, `stalled`, `waiting` or `retry`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Stalled => "stalled",
            Self::Waiting(_) => "waiting",
            Self::Retry(_) => "retry",
        }
    }
}

/// An error a reconciler returns: it says its condition reason and class.
pub trait ReconcileError: std::error::Error + Send + Sync + 'static {
    /// The reason for the Ready condition and the Event, in Flux's
    /// CamelCase vocabulary (e.g. `ArtifactFailed`).
    fn reason(&self) -> &str;

    /// How the harness handles the error. Transient by default.
    fn class(&self) -> ErrorClass {
        ErrorClass::Transient
    }

    /// Whether the harness records an Event for the error (it always sets
    /// the conditions and logs). True by default; Flux's kustomize-controller,
    /// for one, waits for a missing source or artifact without an event.
    fn records_event(&self) -> bool {
        true
    }
}
