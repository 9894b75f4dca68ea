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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ferry_api_meta::FluxObject;

    use super::*;

    #[test]
    fn retry_interval_is_parsed_from_the_spec() {
        let mut ks = Kustomization::new(
            "apps",
            KustomizationSpec {
                interval: "10m".into(),
                retry_interval: Some("2m30s".into()),
                prune: true,
                source_ref: CrossNamespaceSourceReference {
                    kind: KustomizationSourceKind::GitRepository,
                    name: "flux-system".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        assert_eq!(ks.interval(), Some(Duration::from_secs(600)));
        assert_eq!(ks.retry_interval(), Some(Duration::from_secs(150)));
        ks.spec.suspend = Some(true);
        assert!(ks.suspended());
        let json = serde_json::to_value(&ks).unwrap();
        assert_eq!(json["spec"]["sourceRef"]["kind"], "GitRepository");
        assert_eq!(json["spec"]["retryInterval"], "2m30s");
    }
}
