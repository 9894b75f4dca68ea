//! The reconcile harness, on kube-runtime's `Controller`.
//!
//! A [`Reconciler`] writes only the steps of its kind; the harness does the
//! rest the way Flux's controllers do:
//!
//! - deletion runs [`Reconciler::cleanup`], then removes the finalizer;
//!   otherwise the finalizer is added first (the contract is in
//!   [`finalizer`]);
//! - `spec.suspend` skips the object;
//! - `reconcile.fluxcd.io/requestedAt` is echoed into
//!   `status.lastHandledReconcileAt`;
//! - the status is written once per reconcile, whatever happened: Ready
//!   summarised from the owned conditions, `Reconciling`/`Stalled` from the
//!   error class, observedGeneration, all in one server-side apply;
//! - errors retry with per-object backoff, stalled errors wait for a spec
//!   change, waiting errors requeue after a fixed delay; success requeues at
//!   `spec.interval` with jitter;
//! - events ([`Context::event`]), metrics and logs carry the error's reason
//!   and class, and the kind (`controller="gitrepository"`);
//! - only the leader reconciles; shutdown stops taking work and waits a
//!   bounded time for reconciles in flight.
//!
//! The pieces, from the inside out: a [`Reconciler`] returns an
//! [`Outcome`] and uses a [`Context`]; a [`Controller`] is one kind and its
//! watches; a [`Manager`] is one controller identity running any number of
//! kinds under one Lease, field manager and event source; a [`Runtime`] is
//! the process, with its servers, running one or more managers. Each kind
//! has its own work queue, in front of kube-runtime's scheduler.

mod context;
mod controller;
pub mod finalizer;
mod harness;
mod manager;
mod outcome;
mod queue;
mod reconciler;
mod runtime;
mod settings;

use std::time::Duration;

pub use context::Context;
pub use controller::Controller;
pub use manager::Manager;
pub use outcome::Outcome;
pub use reconciler::Reconciler;
pub use runtime::{Bound, Runtime, shutdown_signal};
pub use settings::Settings;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The retry or jitter settings are invalid.
    #[error(transparent)]
    InvalidSettings(#[from] crate::backoff::Error),
    /// `--watch-label-selector` could not be parsed.
    #[error("invalid label selector {0:?}")]
    InvalidSelector(String),
    /// Writing the status failed.
    #[error(transparent)]
    StatusFailed(#[from] crate::status::Error),
    /// Reading an object afresh (its cached copy was stale) failed.
    #[error("reading {name}: {source}")]
    ReadFailed {
        /// The object's name.
        name: String,
        /// The API server's refusal.
        source: kube::Error,
    },
    /// Adding or removing the finalizer failed.
    #[error("updating finalizers of {name}: {source}")]
    FinalizerFailed {
        /// The object's name.
        name: String,
        /// The API server's refusal.
        source: kube::Error,
    },
    /// The object has no namespace (every Flux kind is namespaced).
    #[error("object {0} has no namespace")]
    NoNamespace(String),
    /// The metrics could not be registered, or a server could not bind.
    #[error(transparent)]
    MetricsFailed(#[from] crate::metrics::Error),
    /// `--metrics-addr` or `--health-addr` is not an address.
    #[error("invalid flags: {0}")]
    InvalidAddress(#[source] crate::flags::Error),
    /// `--events-addr` is not a URL.
    #[error("invalid flags: --events-addr: {0}")]
    InvalidEventsAddress(#[source] crate::events::Error),
    /// This instance lost its leader lease and stopped.
    #[error("leader election lost")]
    LeadershipLost,
    /// Two managers of one runtime were given the same identity.
    #[error("a controller named {0} is already running in this process")]
    DuplicateController(String),
    /// One kind was added twice to a manager.
    #[error("controller {controller} already runs {kind}")]
    DuplicateKind {
        /// The manager's identity.
        controller: String,
        /// The kind added twice.
        kind: String,
    },
    /// A manager was started without a kind.
    #[error("controller {0} has no kind to run")]
    NoKinds(String),
    /// A manager's task panicked or was cancelled.
    #[error("controller {0} stopped abnormally (panicked or cancelled)")]
    ControllerAborted(String),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Flux's finalizer.
pub use ferry_api_meta::FINALIZER;
/// The annotation that asks for a reconcile now; its value is echoed into
/// `status.lastHandledReconcileAt`.
pub use ferry_api_meta::annotations::REQUESTED_AT as REQUESTED_AT_ANNOTATION;
/// The value of [`WATCH_LABEL`] that turns watching on.
pub use ferry_api_meta::annotations::WATCH_ENABLED as WATCH_LABEL_ENABLED;
/// The label that opts a Secret or ConfigMap into watches.
pub use ferry_api_meta::annotations::WATCH_LABEL;

/// How often a standby looks again at an object it skipped.
pub const STANDBY_RECHECK: Duration = Duration::from_secs(5);

/// How long a waiting error requeues when neither it nor the object says.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
