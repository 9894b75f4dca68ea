//! The `source.toolkit.fluxcd.io/v1` API: the kinds that fetch content from an origin (Git,
//! OCI registries, Helm repositories, object storage) and serve it as an [`Artifact`] for the
//! appliers.
//!
//! [`Artifact`]: ferry_api_meta::Artifact
#![deny(missing_docs)]
// kube's `printcolumn(...)` options repeat `type_ = "string"`, which this lint mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

mod bucket;
mod external_artifact;
mod git_repository;
mod helm_chart;
mod helm_repository;
mod oci_repository;
mod source;
mod verification;

pub use bucket::*;
pub use external_artifact::*;
pub use git_repository::*;
pub use helm_chart::*;
pub use helm_repository::*;
pub use oci_repository::*;
pub use source::*;
pub use verification::*;

/// The API group of these kinds.
pub const GROUP: &str = "source.toolkit.fluxcd.io";

/// The API version these kinds are served and stored at.
pub const VERSION: &str = "v1";

/// The CustomResourceDefinitions of this group.
pub fn crds() -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    use kube_core::CustomResourceExt;
    vec![
        Bucket::crd(),
        ExternalArtifact::crd(),
        GitRepository::crd(),
        HelmChart::crd(),
        HelmRepository::crd(),
        OCIRepository::crd(),
    ]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ferry_api_meta::{Condition, ConditionStatus, FluxObject, ReconcileStatus, conditions};

    use super::*;

    fn git(interval: &str) -> GitRepository {
        GitRepository::new(
            "podinfo",
            GitRepositorySpec {
                url: "https://github.com/stefanprodan/podinfo".into(),
                interval: interval.into(),
                ..GitRepositorySpec::default()
            },
        )
    }

    #[test]
    fn status_mut_creates_the_status_and_keeps_changes() {
        let mut repo = git("5m");
        assert!(repo.status().is_none());
        let status = repo.status_mut();
        status.set_observed_generation(Some(3));
        status.set_last_handled_reconcile_at(Some("now".into()));
        conditions::set(
            status.conditions_mut(),
            Condition::new(conditions::READY, ConditionStatus::True, "Succeeded", ""),
        );
        let status = repo.status().unwrap();
        assert_eq!(status.observed_generation(), Some(3));
        assert_eq!(status.last_handled_reconcile_at(), Some("now"));
        assert!(conditions::is_ready(status.conditions()));
    }

    #[test]
    fn interval_and_suspend_come_from_the_spec() {
        let mut repo = git("1m30s");
        assert_eq!(repo.interval(), Some(Duration::from_secs(90)));
        assert_eq!(repo.retry_interval(), None);
        assert!(!repo.suspended());
        repo.spec.suspend = Some(true);
        assert!(repo.suspended());
        assert_eq!(git("soon").interval(), None);
    }

    #[test]
    fn helm_repository_interval_defaults_to_a_minute() {
        let repo = HelmRepository::new("podinfo", HelmRepositorySpec::default());
        assert_eq!(repo.interval(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn external_artifact_keeps_no_generation() {
        let mut artifact = ExternalArtifact::new("generated", ExternalArtifactSpec::default());
        artifact.status_mut().set_observed_generation(Some(2));
        assert_eq!(artifact.status().unwrap().observed_generation(), None);
        assert_eq!(artifact.interval(), None);
    }

    #[test]
    fn wire_names_are_flux_names() {
        let mut repo = git("5m");
        repo.spec.reference = Some(GitRepositoryRef { branch: Some("main".into()), ..Default::default() });
        repo.spec.provider = Some(GitProvider::Azure);
        let json = serde_json::to_value(&repo).unwrap();
        assert_eq!(json["apiVersion"], "source.toolkit.fluxcd.io/v1");
        assert_eq!(json["kind"], "GitRepository");
        assert_eq!(json["spec"]["ref"]["branch"], "main");
        assert_eq!(json["spec"]["provider"], "azure");
        assert!(json["spec"].get("timeout").is_none(), "unset fields are left out, not null");
    }
}
