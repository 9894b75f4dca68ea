//! What a successful reconcile reports to the harness.

use std::time::Duration;

/// What a successful reconcile reports: the Ready message, the revision,
/// and how the harness should announce it and when to come back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The Ready message (e.g. `stored artifact for revision 'main@sha1:…'`).
    pub message: String,
    /// The revision reconciled, added to event metadata as `<group>/revision`.
    pub revision: Option<String>,
    /// Requeue after this instead of the interval.
    pub requeue_after: Option<Duration>,
    /// The reason of the success event (default `Succeeded`), e.g. Flux's
    /// `NewArtifact` or `ReconciliationSucceeded`.
    pub event_reason: Option<String>,
    /// The reason of the Ready=True condition (default `Succeeded`), e.g.
    /// Flux's `ReconciliationSucceeded` for Kustomizations.
    pub ready_reason: Option<String>,
    /// No success event from the harness: the reconciler announces its
    /// progress itself (NewArtifact, a change set), as Flux's controllers do.
    pub quiet: bool,
}

impl Outcome {
    /// Success with a Ready message.
    pub fn ready(message: impl Into<String>) -> Self {
        Self { message: message.into(), ..Self::default() }
    }

    /// Adds the revision reconciled.
    pub fn with_revision(mut self, revision: impl Into<String>) -> Self {
        self.revision = Some(revision.into());
        self
    }

    /// Requeues after `delay` instead of the interval.
    pub fn requeue_after(mut self, delay: Duration) -> Self {
        self.requeue_after = Some(delay);
        self
    }

    /// Sets the reason of the success event.
    pub fn with_event_reason(mut self, reason: impl Into<String>) -> Self {
        self.event_reason = Some(reason.into());
        self
    }

    /// Leaves announcing success to the reconciler (see [`Outcome::quiet`]).
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Sets the reason of the Ready=True condition.
    pub fn with_ready_reason(mut self, reason: impl Into<String>) -> Self {
        self.ready_reason = Some(reason.into());
        self
    }
}
