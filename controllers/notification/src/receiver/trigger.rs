//! Asks for the reconciliation of a Receiver's resources by annotating them
//! with `reconcile.fluxcd.io/requestedAt`, the way `flux reconcile` does.

use std::collections::BTreeMap;

use ferry_api_notification::CrossNamespaceObjectReference;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;

/// The annotation that asks a Flux controller to reconcile now.
pub const RECONCILE_REQUEST_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";

/// Why a resource could not be annotated.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Cross-namespace references are disabled (`--no-cross-namespace-refs`).
    #[error("cross-namespace references are not allowed")]
    CrossNamespace,
    /// The kind has no default API version and none was given.
    #[error("apiVersion must be specified for kind \"{0}\"")]
    NoApiVersion(String),
    /// `*` needs `matchLabels`.
    #[error("matchLabels field not set when using wildcard '*' as name")]
    WildcardWithoutLabels,
    /// The kind is not served by the cluster.
    #[error("unable to find kind {kind}: {source}")]
    Discovery {
        /// The kind.
        kind: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Listing by labels failed.
    #[error("failed listing resources in namespace \"{namespace}\" by matching labels: {source}")]
    List {
        /// The namespace.
        namespace: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The patch failed.
    #[error("unable to annotate {kind} \"{namespace}/{name}\" error: {source}")]
    Annotate {
        /// The kind.
        kind: String,
        /// The namespace.
        namespace: String,
        /// The name.
        name: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
}

/// The API version Flux assumes for a kind when a resource names none.
pub fn default_api_version(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Bucket" | "HelmChart" | "HelmRepository" | "GitRepository" | "OCIRepository" => "source.toolkit.fluxcd.io/v1",
        "ImageRepository" => "image.toolkit.fluxcd.io/v1",
        "ArtifactGenerator" => "source.extensions.fluxcd.io/v1beta1",
        _ => return None,
    })
}

/// Annotates the objects `resource` selects (in `default_namespace` unless
/// it names one); returns how many were annotated.
pub async fn request_reconciliation(
    client: &kube::Client,
    resource: &CrossNamespaceObjectReference,
    default_namespace: &str,
    no_cross_namespace_refs: bool,
) -> Result<usize, Error> {
    let namespace = match resource.namespace.as_deref().filter(|n| !n.is_empty()) {
        Some(ns) if no_cross_namespace_refs && ns != default_namespace => return Err(Error::CrossNamespace),
        Some(ns) => ns,
        None => default_namespace,
    };
    let api_version = match resource.api_version.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => v,
        None => default_api_version(&resource.kind).ok_or_else(|| Error::NoApiVersion(resource.kind.clone()))?,
    };
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, &resource.kind);
    let (api_resource, _) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|source| Error::Discovery { kind: resource.kind.clone(), source })?;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &api_resource);
    let names = if resource.name == "*" {
        let labels = resource.match_labels.as_ref().ok_or(Error::WildcardWithoutLabels)?;
        let selector = selector(labels);
        let list = api
            .list_metadata(&ListParams::default().labels(&selector))
            .await
            .map_err(|source| Error::List { namespace: namespace.to_string(), source })?;
        if list.items.is_empty() {
            tracing::info!(kind = %resource.kind, %namespace, %selector, "no resources found with matching labels");
        }
        list.items.into_iter().filter_map(|o| o.metadata.name).collect()
    } else {
        vec![resource.name.clone()]
    };
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = serde_json::json!({"metadata": {"annotations": {RECONCILE_REQUEST_ANNOTATION: now}}});
    for name in &names {
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(|source| Error::Annotate {
            kind: resource.kind.clone(),
            namespace: namespace.to_string(),
            name: name.clone(),
            source,
        })?;
        tracing::info!(kind = %resource.kind, %namespace, %name, "resource annotated");
    }
    Ok(names.len())
}

fn selector(labels: &BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}
