//! The contract between the kinds that produce artifacts and the controllers
//! that consume them, as Flux's `source.Source` interface: a consumer reads
//! "a source" without knowing which kind it is.

use std::time::Duration;

use crate::Artifact;

/// A kind that produces an [`Artifact`] for other controllers to fetch
/// (GitRepository, OCIRepository, Bucket, HelmChart, ExternalArtifact).
///
/// The trait is object-safe: consumers that resolve a `sourceRef` at run
/// time hold a `dyn Source`. It lives here rather than with the source kinds
/// so that the SDK and any third-party kind can implement it without the
/// source API group.
pub trait Source {
    /// The kind, as a `sourceRef.kind` names it (`GitRepository`).
    fn source_kind(&self) -> &str;

    /// The API version, as a `sourceRef.apiVersion` names it
    /// (`source.toolkit.fluxcd.io/v1`).
    fn source_api_version(&self) -> &str;

    /// The artifact currently served, if the source has produced one.
    fn artifact(&self) -> Option<&Artifact>;

    /// How long a consumer waits before looking at the source again when it
    /// waits for a change of it (Flux's `GetRequeueAfter`: the interval).
    fn requeue_after(&self) -> Duration;
}

/// How long a consumer waits for a source without `spec.interval`
/// (ExternalArtifact), as Flux does.
pub const DEFAULT_REQUEUE_AFTER: Duration = Duration::from_secs(60);
