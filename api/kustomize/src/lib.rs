//! The `kustomize.toolkit.fluxcd.io/v1` API: the [`Kustomization`], which builds a
//! directory of a source artifact with kustomize and applies the result.
#![deny(missing_docs)]
// kube's `printcolumn(...)` options repeat `type_ = "string"`, which this lint mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

mod kustomization;

pub use kustomization::*;

/// The API group of this kind.
pub const GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// The API version this kind is served and stored at.
pub const VERSION: &str = "v1";

/// The CustomResourceDefinitions of this group.
pub fn crds() -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    use kube_core::CustomResourceExt;
    vec![Kustomization::crd()]
}
