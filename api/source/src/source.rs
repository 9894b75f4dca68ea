//! The artifact-producing kinds of this group as [`Source`]s, and the list a
//! consumer (kustomize-controller, helm-controller) looks a `sourceRef` up
//! in, so that it reads "a source" without knowing which kind it is.
//!
//! A new kind implements [`Source`] and adds itself to [`source_kinds`];
//! no consumer changes.

use std::time::Duration;

use ferry_api_meta::{Artifact, DEFAULT_REQUEUE_AFTER, Source};
use kube_core::discovery::ApiResource;

use crate::{Bucket, ExternalArtifact, GitRepository, HelmChart, HelmRepository, OCIRepository};

macro_rules! impl_source {
    ($kind:ty, $name:literal, polled) => {
        impl_source!($kind, $name, |this: &$kind| {
            ferry_api_meta::duration::parse(&this.spec.interval).unwrap_or(DEFAULT_REQUEUE_AFTER)
        });
    };
    ($kind:ty, $name:literal, $requeue:expr) => {
        impl Source for $kind {
            fn source_kind(&self) -> &str {
                $name
            }
            fn source_api_version(&self) -> &str {
                API_VERSION
            }
            fn artifact(&self) -> Option<&Artifact> {
                self.status.as_ref()?.artifact.as_ref()
            }
            fn requeue_after(&self) -> Duration {
                ($requeue)(self)
            }
        }
    };
}

/// `source.toolkit.fluxcd.io/v1`, the API version of the kinds of this crate.
pub const API_VERSION: &str = "source.toolkit.fluxcd.io/v1";

impl_source!(GitRepository, "GitRepository", polled);
impl_source!(OCIRepository, "OCIRepository", polled);
impl_source!(Bucket, "Bucket", polled);
impl_source!(HelmChart, "HelmChart", polled);
// A HelmRepository serves its index to HelmCharts (no Kustomization or
// HelmRelease names it as a sourceRef, so it is not in `source_kinds`).
impl_source!(HelmRepository, "HelmRepository", |this: &HelmRepository| {
    ferry_api_meta::FluxObject::interval(this).unwrap_or(DEFAULT_REQUEUE_AFTER)
});
impl_source!(ExternalArtifact, "ExternalArtifact", |_: &ExternalArtifact| DEFAULT_REQUEUE_AFTER);

/// The artifact-producing kinds of this API group, as API resources (group,
/// version, kind, plural): consumers look a `sourceRef.kind` up here instead
/// of matching on kind names.
pub fn source_kinds() -> Vec<ApiResource> {
    vec![
        ApiResource::erase::<GitRepository>(&()),
        ApiResource::erase::<OCIRepository>(&()),
        ApiResource::erase::<Bucket>(&()),
        ApiResource::erase::<HelmChart>(&()),
        ApiResource::erase::<ExternalArtifact>(&()),
    ]
}

/// The API resource of source kind `kind` at `api_version` (any version of
/// this group when `None` or empty), if it is one of [`source_kinds`].
pub fn source_kind(api_version: Option<&str>, kind: &str) -> Option<ApiResource> {
    let api_version = api_version.filter(|v| !v.is_empty());
    source_kinds().into_iter().find(|resource| {
        resource.kind == kind
            && api_version.is_none_or(|v| v == resource.api_version || v.split('/').next() == Some(&resource.group))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExternalArtifactSpec, GitRepositorySpec};

    #[test]
    fn sources_tell_their_kind_artifact_and_requeue() {
        let mut repo = GitRepository::new(
            "podinfo",
            GitRepositorySpec { url: "https://example.com/x".into(), interval: "2m".into(), ..Default::default() },
        );
        let source: &dyn Source = &repo;
        assert_eq!(source.source_kind(), "GitRepository");
        assert_eq!(source.source_api_version(), "source.toolkit.fluxcd.io/v1");
        assert!(source.artifact().is_none());
        assert_eq!(source.requeue_after(), Duration::from_secs(120));
        repo.status = Some(crate::GitRepositoryStatus {
            artifact: Some(Artifact {
                path: "gitrepository/default/podinfo/abc.tar.gz".into(),
                url: "http://storage/gitrepository/default/podinfo/abc.tar.gz".into(),
                revision: "main@sha1:abc".into(),
                digest: format!("sha256:{}", "0".repeat(64)),
                last_update_time: ferry_api_meta::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
                size: None,
                metadata: None,
            }),
            ..Default::default()
        });
        assert_eq!(repo.artifact().map(|a| a.revision.as_str()), Some("main@sha1:abc"));
        let external = ExternalArtifact::new("x", ExternalArtifactSpec::default());
        assert_eq!(external.requeue_after(), DEFAULT_REQUEUE_AFTER);
    }

    #[test]
    fn kinds_resolve_by_name_and_group() {
        let git = source_kind(None, "GitRepository").unwrap();
        assert_eq!((git.plural.as_str(), git.group.as_str()), ("gitrepositories", "source.toolkit.fluxcd.io"));
        assert!(source_kind(Some("source.toolkit.fluxcd.io/v1"), "OCIRepository").is_some());
        assert!(source_kind(Some("source.toolkit.fluxcd.io/v1beta2"), "Bucket").is_some());
        assert!(source_kind(Some("example.com/v1"), "Bucket").is_none());
        assert!(source_kind(None, "HelmRepository").is_none(), "HelmRepository serves an index, not an artifact");
        assert_eq!(source_kinds().len(), 5);
    }
}
