//! The `image.toolkit.fluxcd.io/v1` API: the kinds that scan registries for image tags
//! ([`ImageRepository`]), pick the latest by a policy ([`ImagePolicy`]) and commit the
//! result to Git ([`ImageUpdateAutomation`]).
#![deny(missing_docs)]
// kube's `printcolumn(...)` options repeat `type_ = "string"`, which this lint mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

mod image_policy;
mod image_repository;
mod image_update_automation;

pub use image_policy::*;
pub use image_repository::*;
pub use image_update_automation::*;

/// The API group of these kinds.
pub const GROUP: &str = "image.toolkit.fluxcd.io";

/// The API version these kinds are served and stored at.
pub const VERSION: &str = "v1";

/// The CustomResourceDefinitions of this group.
pub fn crds() -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    use kube_core::CustomResourceExt;
    vec![ImagePolicy::crd(), ImageRepository::crd(), ImageUpdateAutomation::crd()]
}
