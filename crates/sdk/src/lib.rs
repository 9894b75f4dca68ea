//! The Ferry SDK: everything a Flux-style GitOps controller needs.
//!
//! Ferry's own controllers are built on it, and so can yours. It is a small
//! facade over focused modules:
//!
//! - [`reconcile`]: the harness on kube-runtime's `Controller` (finalizer,
//!   suspend, `requestedAt`, backoff, interval requeue, watches, status
//!   written once per reconcile), and the [`Manager`](reconcile::Manager)
//!   that runs any number of kinds under one controller identity.
//! - [`module`]: a controller packaged for its own binary and for
//!   `ferry controllers run`.
//! - [`conditions`] and [`status`]: kstatus conditions the way Flux sets them,
//!   and the server-side-apply status patch.
//! - [`error`]: the reason and class every reconcile error carries.
//! - [`dependencies`]: `dependsOn` by Flux's rules, with cycles named.
//! - [`events`]: deduplicated Kubernetes Events and Flux's event webhook.
//! - [`metrics`] and [`health`]: `/metrics`, `/healthz` and `/readyz`.
//! - [`leader`]: Lease-based leader election.
//! - [`backoff`]: per-object retry backoff and interval jitter.
//! - [`artifact`]: artifact download with digest check, and safe extraction.
//! - [`flags`]: the command-line flags every Flux controller shares.
//! - [`client`]: clients for impersonation and for kubeconfig Secrets.
//! - [`secret`]: reading the Secrets a spec references, in one place.
//! - [`telemetry`]: logs shaped like Flux's.
//!
//! The tutorial in `docs/sdk.md` walks through the example controller in
//! `crates/sdk/examples/`.
#![deny(missing_docs)]

pub mod artifact;
pub mod backoff;
pub mod client;
pub mod conditions;
pub mod dependencies;
pub mod error;
pub mod events;
pub mod flags;
pub mod health;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod module;
pub mod reconcile;
pub mod secret;
pub mod status;
pub mod telemetry;

pub use error::{ErrorClass, ReconcileError};
pub use reconcile::{Outcome, Reconciler};
pub use status::{FluxObject, ReconcileStatus};

/// Re-exports of the crates an SDK user needs in their signatures.
pub mod deps {
    pub use ferry_api_meta as meta;
    pub use k8s_openapi;
    pub use kube;
}
