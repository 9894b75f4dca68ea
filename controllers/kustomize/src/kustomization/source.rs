//! The source a Kustomization builds from: its artifact, whatever the kind.

use ferry_api_kustomize::{Kustomization, KustomizationSourceKind};
use ferry_api_meta::Artifact;
use ferry_api_source::{Bucket, ExternalArtifact, GitRepository, OCIRepository};
use kube::api::Api;
use kube::{Client, ResourceExt};

/// The OCI annotation holding the revision an OCI artifact was built from.
pub const OCI_REVISION_ANNOTATION: &str = "org.opencontainers.image.revision";

/// Why the source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--no-cross-namespace-refs` forbids this reference.
    #[error("can't access '{kind}/{namespace}/{name}', cross-namespace references have been blocked")]
    CrossNamespace {
        /// The source kind.
        kind: String,
        /// The source namespace.
        namespace: String,
        /// The source name.
        name: String,
    },
    /// The source does not exist.
    #[error("Source '{0}' not found")]
    NotFound(String),
    /// Reading the source failed.
    #[error("unable to get source '{name}': {source}")]
    GetFailed {
        /// `namespace/name`.
        name: String,
        /// The cause.
        source: kube::Error,
    },
}

/// A source's artifact and the facts the Kustomization needs of it.
#[derive(Debug, Clone)]
pub struct Source {
    /// `Kind/namespace/name`, for messages.
    pub display: String,
    /// The artifact, when the source has one.
    pub artifact: Option<Artifact>,
}

impl Source {
    /// The origin revision of the artifact (OCI's revision annotation), if any.
    pub fn origin_revision(&self) -> Option<String> {
        self.artifact.as_ref()?.metadata.as_ref()?.get(OCI_REVISION_ANNOTATION).cloned()
    }
}

/// The namespace of the source a Kustomization references.
pub fn source_namespace(kustomization: &Kustomization) -> String {
    kustomization
        .spec
        .source_ref
        .namespace
        .clone()
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| kustomization.namespace().unwrap_or_default())
}

/// The kind name as Flux writes it.
pub fn kind_name(kind: &KustomizationSourceKind) -> &'static str {
    match kind {
        KustomizationSourceKind::GitRepository => "GitRepository",
        KustomizationSourceKind::OCIRepository => "OCIRepository",
        KustomizationSourceKind::Bucket => "Bucket",
        KustomizationSourceKind::ExternalArtifact => "ExternalArtifact",
    }
}

/// The artifact of source `namespace/name` of kind `K`.
async fn artifact_of<K>(
    client: &Client,
    namespace: &str,
    name: &str,
    artifact: impl FnOnce(K) -> Option<Artifact>,
) -> Result<Option<Artifact>, kube::Error>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    Ok(artifact(api.get(name).await?))
}

/// Reads the source of `kustomization`.
pub async fn get(
    client: &Client,
    kustomization: &Kustomization,
    no_cross_namespace_refs: bool,
) -> Result<Source, Error> {
    let reference = &kustomization.spec.source_ref;
    let namespace = source_namespace(kustomization);
    let kind = kind_name(&reference.kind);
    let name = reference.name.clone();
    if no_cross_namespace_refs && Some(&namespace) != kustomization.namespace().as_ref() {
        return Err(Error::CrossNamespace { kind: kind.into(), namespace, name });
    }
    let key = format!("{namespace}/{name}");
    let display = format!("{kind}/{key}");
    let missing = |error: kube::Error| match &error {
        kube::Error::Api(status) if status.code == 404 => Error::NotFound(display.clone()),
        _ => Error::GetFailed { name: key.clone(), source: error },
    };
    let artifact = match reference.kind {
        KustomizationSourceKind::GitRepository => {
            artifact_of::<GitRepository>(client, &namespace, &name, |s| s.status.and_then(|s| s.artifact)).await
        }
        KustomizationSourceKind::OCIRepository => {
            artifact_of::<OCIRepository>(client, &namespace, &name, |s| s.status.and_then(|s| s.artifact)).await
        }
        KustomizationSourceKind::Bucket => {
            artifact_of::<Bucket>(client, &namespace, &name, |s| s.status.and_then(|s| s.artifact)).await
        }
        KustomizationSourceKind::ExternalArtifact => {
            artifact_of::<ExternalArtifact>(client, &namespace, &name, |s| s.status.and_then(|s| s.artifact)).await
        }
    }
    .map_err(missing)?;
    Ok(Source { display, artifact })
}
