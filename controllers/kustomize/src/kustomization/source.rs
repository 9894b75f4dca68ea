//! The source a Kustomization builds from: its artifact, whatever the kind.
//!
//! The `sourceRef` kind is looked up among the source API's kinds and read
//! through the SDK's one generic function, so a new source kind needs no
//! change here.

use std::sync::Arc;

use ferry_api_kustomize::{Kustomization, KustomizationSourceKind};
use ferry_api_meta::{Artifact, Source as _};
use ferry_sdk::artifact::Tree;
use ferry_sdk::artifact::source::{self as sdk_source, SourceObject};
use ferry_sdk::reconcile::Context;
use kube::{Client, ResourceExt};

use self::Error as Error_;

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
    /// The kind is no source kind this controller knows.
    #[error("unsupported source kind '{0}'")]
    UnknownKind(String),
    /// Reading the source failed, or it does not exist.
    #[error(transparent)]
    Read(#[from] sdk_source::Error),
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

impl From<SourceObject> for Source {
    fn from(object: SourceObject) -> Self {
        Self { display: object.display(), artifact: object.artifact().cloned() }
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
pub fn kind_name(kustomization: &Kustomization) -> String {
    // The kind enum serialises to Flux's kind names.
    serde_json::to_value(kustomization.spec.source_ref.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Reads the source of `kustomization`.
pub async fn get(
    client: &Client,
    kustomization: &Kustomization,
    no_cross_namespace_refs: bool,
) -> Result<Source, Error> {
    let reference = &kustomization.spec.source_ref;
    let namespace = source_namespace(kustomization);
    let kind = kind_name(kustomization);
    let name = reference.name.clone();
    if no_cross_namespace_refs && Some(&namespace) != kustomization.namespace().as_ref() {
        return Err(Error::CrossNamespace { kind, namespace, name });
    }
    let resource = // Flux reads the kind alone: any `apiVersion` of the source group will do.
    ferry_api_source::source_kind(None, &kind)
        .ok_or_else(|| Error::UnknownKind(kind.clone()))?;
    Ok(sdk_source::get(client, &resource, &namespace, &name).await?.into())
}

/// A source with an artifact to build: what the later steps read of it.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The artifact.
    pub artifact: Artifact,
    /// The artifact's revision.
    pub revision: String,
    /// The revision the artifact was built from (OCI), if any.
    pub origin_revision: Option<String>,
}

impl super::KustomizationReconciler {
    /// Source: reads the referenced source, which must be allowed
    /// (`--no-cross-namespace-refs`, the ExternalArtifact gate) and have an
    /// artifact.
    ///
    /// Conditions: none directly; its failures become Ready=False with
    /// `AccessDenied` (stalled) or `ArtifactFailed` (waiting, no event).
    pub async fn reconcile_source(&self, ctx: &Context, object: &Kustomization) -> super::Result<Fetched> {
        use super::Error;
        let kind = &object.spec.source_ref.kind;
        if *kind == KustomizationSourceKind::ExternalArtifact && !self.options.allow_external_artifact {
            return Err(Error::AccessDenied(format!(
                "can't access '{}/{}/{}', ExternalArtifact feature gate is disabled",
                kind_name(object),
                source_namespace(object),
                object.spec.source_ref.name
            )));
        }
        let source = match get(ctx.client(), object, self.options.no_cross_namespace_refs).await {
            Ok(source) => source,
            Err(error @ Error_::CrossNamespace { .. }) => return Err(Error::AccessDenied(error.to_string())),
            Err(error) => return Err(Error::Source(error)),
        };
        let origin_revision = source.origin_revision();
        let Some(artifact) = source.artifact else {
            let retry = self.options.requeue_dependency;
            return Err(Error::ArtifactNotReady {
                message: format!("Source artifact not found, retrying in {}", super::go_duration(retry)),
                retry,
            });
        };
        Ok(Fetched { revision: artifact.revision.clone(), artifact, origin_revision })
    }

    /// Fetch: the artifact's tree, downloaded (its digest checked while it
    /// streams) and unpacked in memory once per revision by the SDK, then
    /// shared by every Kustomization that builds from it.
    ///
    /// Conditions: none directly; a missing artifact waits
    /// (`ArtifactFailed`, no event), other failures retry.
    pub async fn reconcile_fetch(&self, source: &Fetched) -> super::Result<Arc<Tree>> {
        use super::Error;
        match self.artifacts.tree(&source.artifact).await {
            Ok(tree) => Ok(tree),
            Err(ferry_sdk::artifact::Error::NotFound { .. }) => {
                let retry = self.options.requeue_dependency;
                Err(Error::ArtifactNotReady {
                    message: format!(
                        "Source is not ready, artifact not found, retrying in {}",
                        super::go_duration(retry)
                    ),
                    retry,
                })
            }
            Err(error @ ferry_sdk::artifact::Error::TempDir { .. }) => Err(Error::TempDir(error)),
            Err(error) => Err(Error::ArtifactFailed(error)),
        }
    }
}
