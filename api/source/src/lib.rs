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
mod verification;

pub use bucket::*;
pub use external_artifact::*;
pub use git_repository::*;
pub use helm_chart::*;
pub use helm_repository::*;
pub use oci_repository::*;
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
