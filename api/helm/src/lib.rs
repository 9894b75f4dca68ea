//! The `helm.toolkit.fluxcd.io/v2` API: the [`HelmRelease`], which installs, upgrades, tests,
//! rolls back and uninstalls a Helm chart release.
#![deny(missing_docs)]
// kube's `printcolumn(...)` options repeat `type_ = "string"`, which this lint mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

mod helm_release;

pub use helm_release::*;

/// The API group of this kind.
pub const GROUP: &str = "helm.toolkit.fluxcd.io";

/// The API version this kind is served and stored at.
pub const VERSION: &str = "v2";

/// The CustomResourceDefinitions of this group.
pub fn crds() -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    use kube_core::CustomResourceExt;
    vec![HelmRelease::crd()]
}
