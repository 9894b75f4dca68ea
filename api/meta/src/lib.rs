//! What every Ferry API group shares, wire-compatible with Flux's `fluxcd/pkg/apis/meta`:
//! the status [`Condition`], the source [`Artifact`], object references, the inventory entry,
//! the well-known annotation keys, condition types and reasons, and the helpers that parse
//! and print Flux's string formats (Go durations, artifact revisions, inventory ids).
//!
//! Every Flux kind implements [`FluxObject`], and its status [`ReconcileStatus`], so that a
//! generic reconcile harness can drive any kind.
#![deny(missing_docs)]

pub mod annotations;
mod artifact;
mod condition;
pub mod conditions;
pub mod duration;
pub mod inventory;
mod object;
pub use object::parse_duration_field;
mod reference;
pub mod revision;
mod shared;
mod source;

pub use artifact::Artifact;
pub use condition::{Condition, ConditionStatus};
pub use inventory::{ObjectId, ResourceRef};
pub use object::{FluxObject, ReconcileStatus};
pub use reference::{
    KubeConfigReference, LocalObjectReference, NamespacedObjectKindReference, NamespacedObjectReference,
    SecretKeyReference,
};
pub use revision::Revision;
pub use shared::{
    CommonMetadata, CustomHealthCheck, DependencyReference, IgnoreRule, Image, Patch, ResourceInventory, Selector,
    Snapshot, drop_description, go_int, preserve_unknown_fields,
};
pub use source::{DEFAULT_REQUEUE_AFTER, Source};

/// The finalizer every Flux controller puts on the objects it reconciles.
pub const FINALIZER: &str = "finalizers.fluxcd.io";

/// The pattern Flux's CRDs give to durations that accept hours (`spec.interval`, ...).
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

/// The pattern Flux's CRDs give to short durations without hours (`spec.timeout` of sources).
pub const SHORT_DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$";

/// Re-exported so that the api crates and their users agree on one timestamp type.
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
