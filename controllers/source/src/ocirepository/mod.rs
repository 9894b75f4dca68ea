//! OCIRepository: an OCI artifact pulled from a registry (`flux push
//! artifact`'s, or any image whose layer is a tarball), its selected layer
//! extracted (or copied) and stored as Flux stores it: revision
//! `<tag>@sha256:<digest>`, file `sha256:<digest>.tar.gz`, the manifest's
//! annotations in the artifact's metadata.
//!
//! [`Reconciler::reconcile`] runs Flux's steps in order, each a method that
//! owns its conditions and hands a typed value to the next:
//! 1. [`reconcile_storage`](OCIRepositoryReconciler::reconcile_storage):
//!    forgets a recorded artifact whose file is gone;
//! 2. [`reconcile_source`](OCIRepositoryReconciler::reconcile_source):
//!    spec, Secrets, the reference's digest; stops with
//!    [`Source::Unchanged`] when the stored artifact is that revision with
//!    the same `ignore` and `layerSelector`, else pulls the layer
//!    ([`Pulled`]);
//! 3. [`reconcile_artifact`](OCIRepositoryReconciler::reconcile_artifact):
//!    the step every source kind shares ([`store::publish`]).

mod error;
pub mod fetch;

use ferry_sdk::artifact::store::StorageError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferry_api_meta::Artifact;
use ferry_api_meta::conditions as cond;
use ferry_api_source::{LayerOperation, OCIRepository, OCIRepositoryStatus};
use ferry_sdk::artifact::store::{self, Content, Publish};
use ferry_sdk::conditions::{StatusConditions, Summary};
use ferry_sdk::events::Severity;
use ferry_sdk::reconcile::Context;
use ferry_sdk::{Outcome, ReconcileError, Reconciler};
use ferry_storage::{ArtifactPath, Storage};
use kube::{Resource, ResourceExt};

pub use error::{Error, VerifyError};

/// The kind, as used in artifact paths.
pub const KIND: &str = "OCIRepository";

/// The default `spec.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The name of the link to the newest artifact (Flux's).
pub const LATEST_LINK: &str = "latest.tar.gz";

/// The largest layer pulled: Flux sets no limit; this one keeps a hostile
/// registry from filling the disk.
pub const MAX_LAYER_SIZE: u64 = 1 << 30;

/// The OCIRepository reconciler.
pub struct OCIRepositoryReconciler {
    storage: Arc<Storage>,
}

impl OCIRepositoryReconciler {
    /// A reconciler that stores artifacts in `storage`.
    pub fn new(storage: Arc<Storage>) -> Self {
        Self { storage }
    }
}

/// What [`OCIRepositoryReconciler::reconcile_source`] decided.
pub enum Source {
    /// The stored artifact already is this revision, made with this spec.
    Unchanged {
        /// `<tag>@sha256:<digest>`.
        revision: String,
        /// The `ArtifactInStorage` message.
        message: String,
    },
    /// A pulled layer to store.
    Pulled(Box<Pulled>),
}

/// A pulled layer, extracted or copied into a scratch directory.
pub struct Pulled {
    /// Where the artifact goes (`sha256:<hex>.tar.gz`).
    path: ArtifactPath,
    /// `<tag>@sha256:<digest>`, or the digest alone.
    revision: String,
    /// The manifest's annotations.
    annotations: BTreeMap<String, String>,
    /// The content: the extracted directory, or the copied layer file.
    content: Content,
    /// Keeps the scratch directory until the artifact is stored.
    _scratch: tempfile::TempDir,
}

/// Where the shared artifact step records the artifact.
fn artifact_of(status: &mut OCIRepositoryStatus) -> &mut Option<Artifact> {
    &mut status.artifact
}

/// Marks the error's condition with its reason and message, and hands the
/// error on: a step sets its condition where the failure happens.
fn failed(status: &mut OCIRepositoryStatus, generation: Option<i64>, error: Error) -> Error {
    let condition = error.condition();
    if condition == cond::SOURCE_VERIFIED {
        status.mark_false(condition, error.reason(), &error.to_string(), generation);
    } else {
        status.mark_true(condition, error.reason(), &error.to_string(), generation);
    }
    error
}

/// The `ArtifactInStorage` message, as Flux's OCIRepository words it.
fn stored_message(revision: &str) -> String {
    format!("stored artifact for digest '{revision}'")
}

/// Whether `ignore` or `layerSelector` changed since the stored artifact
/// was made (Flux's `ociContentConfigChanged`).
fn content_config_changed(repo: &OCIRepository, status: &OCIRepositoryStatus) -> bool {
    repo.spec.ignore != status.observed_ignore || repo.spec.layer_selector != status.observed_layer_selector
}

impl Reconciler for OCIRepositoryReconciler {
    type Object = OCIRepository;
    type Error = Error;

    fn summary(&self) -> Summary {
        Summary::new(
            &[
                cond::STORAGE_OPERATION_FAILED,
                cond::FETCH_FAILED,
                cond::ARTIFACT_OUTDATED,
                cond::ARTIFACT_IN_STORAGE,
                cond::SOURCE_VERIFIED,
            ],
            &[cond::STORAGE_OPERATION_FAILED, cond::FETCH_FAILED, cond::ARTIFACT_OUTDATED],
        )
    }

    async fn reconcile(
        &self,
        repo: &OCIRepository,
        status: &mut OCIRepositoryStatus,
        ctx: &Context,
    ) -> Result<Outcome, Error> {
        self.reconcile_storage(repo, status);
        let pulled = match self.reconcile_source(ctx, repo, status).await? {
            Source::Unchanged { revision, message } => {
                let event = format!("artifact up-to-date with remote revision: '{revision}'");
                ctx.event(repo, Severity::Trace, cond::ARTIFACT_UP_TO_DATE, &event, &Default::default()).await;
                return Ok(Outcome::ready(message).with_revision(revision));
            }
            Source::Pulled(pulled) => *pulled,
        };
        self.reconcile_artifact(ctx, repo, status, pulled).await
    }

    async fn cleanup(&self, repo: &OCIRepository, _ctx: &Context) -> Result<(), Error> {
        let namespace = repo.namespace().unwrap_or_default();
        self.storage
            .remove_all(KIND, &namespace, &repo.name_any())
            .map(|_| ())
            .map_err(|source| StorageError::Cleanup { source }.into())
    }
}

impl OCIRepositoryReconciler {
    /// Storage: forgets `status.artifact` (and `status.url`) when its file
    /// is gone, so that it is pulled and stored again; refreshes their URLs
    /// to this storage's address.
    ///
    /// Conditions: removes `ArtifactInStorage` when there is no artifact.
    pub fn reconcile_storage(&self, _repo: &OCIRepository, status: &mut OCIRepositoryStatus) {
        let stored = status.artifact.as_ref().and_then(|a| ArtifactPath::parse(&a.path).ok());
        match stored.filter(|path| self.storage.exists(path)) {
            Some(path) => {
                if let Some(artifact) = &mut status.artifact {
                    artifact.url = self.storage.url(&path);
                }
                if let Ok(link) = path.sibling(LATEST_LINK) {
                    status.url = Some(self.storage.url(&link));
                }
            }
            None => {
                status.artifact = None;
                status.url = None;
                status.remove(&[cond::ARTIFACT_IN_STORAGE]);
            }
        }
    }

    /// Source: checks the spec, reads the Secrets, resolves the reference
    /// to a digest and, unless the stored artifact is that revision made
    /// with the same `ignore` and `layerSelector`, pulls the selected layer
    /// and extracts or copies it.
    ///
    /// Conditions: sets `FetchFailed` (`URLInvalid`, `AuthenticationFailed`,
    /// `ReadOperationFailed`, `OCIArtifactPullFailed`,
    /// `OCIArtifactLayerOperationFailed`), `SourceVerified` with `verify`
    /// (True, `Succeeded`, when a cosign signature verifies with a key of
    /// its Secret or a notation signature passes its trust policy; removed
    /// when the policy ignores the result; else False, `VerificationError`;
    /// kept as it is for a stored revision verified at this generation),
    /// `ArtifactOutdated` (`NewRevision`) with
    /// `Reconciling` (`building artifact: ...`) written at once as progress,
    /// and `ArtifactInStorage` when unchanged; removes `FetchFailed` once the
    /// layer is pulled (or unchanged), `SourceVerified` without `verify`.
    pub async fn reconcile_source(
        &self,
        ctx: &Context,
        repo: &OCIRepository,
        status: &mut OCIRepositoryStatus,
    ) -> Result<Source, Error> {
        let generation = repo.meta().generation;
        let spec = &repo.spec;
        let namespace = repo.namespace().unwrap_or_default();
        let remote = match fetch::Remote::new(ctx, &namespace, spec).await {
            Ok(remote) => remote,
            Err(error) => return Err(failed(status, generation, error)),
        };
        let resolved = match remote.resolve(spec.reference.as_ref()).await {
            Ok(resolved) => resolved,
            Err(error) => return Err(failed(status, generation, error)),
        };
        let revision = resolved.revision.clone();

        let stored = status.artifact.as_ref().is_some_and(|a| a.revision == revision);
        if !stored {
            let message = format!("new revision '{revision}' for '{}'", resolved.reference);
            if status.artifact.is_some() {
                status.mark_true(cond::ARTIFACT_OUTDATED, ferry_api_source::NEW_REVISION_REASON, &message, generation);
            }
            status.mark_true(
                cond::RECONCILING,
                cond::PROGRESSING,
                &format!("building artifact: {message}"),
                generation,
            );
            ctx.report_progress(repo, status).await;
        }

        // As Flux, a signature is checked again only for a new revision, a
        // changed spec, or after a failed (or ignored) verification: an
        // unchanged, verified artifact costs no registry round trips.
        let verified = ferry_api_meta::conditions::get(
            ferry_api_meta::ReconcileStatus::conditions(&*status),
            cond::SOURCE_VERIFIED,
        )
        .is_some_and(|c| c.is_true() && c.observed_generation == generation);
        match &spec.verify {
            None => status.remove(&[cond::SOURCE_VERIFIED]),
            Some(_) if stored && verified => {}
            Some(verify) => match remote.verify(ctx, &namespace, verify, &resolved).await {
                Ok(crate::verify::Outcome::Verified) => {
                    let message = format!("verified signature of revision {revision}");
                    status.mark_true(cond::SOURCE_VERIFIED, cond::SUCCEEDED, &message, generation);
                }
                // A `skip` or `audit` trust policy neither verifies nor refuses.
                Ok(crate::verify::Outcome::Ignored) => status.remove(&[cond::SOURCE_VERIFIED]),
                Err(error) => return Err(failed(status, generation, error)),
            },
        }

        if stored && !content_config_changed(repo, status) {
            let message = stored_message(&revision);
            status.remove(&[cond::FETCH_FAILED, cond::ARTIFACT_OUTDATED]);
            status.mark_true(cond::ARTIFACT_IN_STORAGE, cond::SUCCEEDED, &message, generation);
            return Ok(Source::Unchanged { revision, message });
        }

        let operation = spec.layer_selector.as_ref().and_then(|s| s.operation).unwrap_or_default();
        let media_type = spec.layer_selector.as_ref().and_then(|s| s.media_type.as_deref()).filter(|m| !m.is_empty());
        let pulled = remote.pull(&resolved, media_type, operation).await;
        let (scratch, content, annotations) = match pulled {
            Ok(pulled) => pulled,
            Err(error) => return Err(failed(status, generation, error)),
        };
        status.remove(&[cond::FETCH_FAILED]);

        let digest = revision.rsplit('@').next().unwrap_or(&revision);
        let path = ArtifactPath::new(KIND, &namespace, &repo.name_any(), &format!("{digest}.tar.gz"))
            .map_err(|source| Error::from(StorageError::ArtifactPath { source }));
        let path = match path {
            Ok(path) => path,
            Err(error) => return Err(failed(status, generation, error)),
        };
        let content = match (operation, content) {
            (LayerOperation::Copy, file) => Content::File(file),
            (LayerOperation::Extract, dir) => Content::Dir { dir, ignore: spec.ignore.clone() },
        };
        Ok(Source::Pulled(Box::new(Pulled { path, revision, annotations, content, _scratch: scratch })))
    }

    /// Artifact: stores the content through the step every source kind
    /// shares ([`store::publish`]: lock, archive or copy, the
    /// `latest.tar.gz` link, `status.artifact`, `NewArtifact`, garbage
    /// collection), then records the annotations in the artifact's
    /// metadata, `observedIgnore`, `observedLayerSelector` and `status.url`.
    ///
    /// Conditions: those of [`store::publish`] (`ArtifactInStorage` or
    /// `StorageOperationFailed`; removes `ArtifactOutdated`), with
    /// `ArtifactInStorage` worded as Flux words it for this kind.
    pub async fn reconcile_artifact(
        &self,
        ctx: &Context,
        repo: &OCIRepository,
        status: &mut OCIRepositoryStatus,
        pulled: Pulled,
    ) -> Result<Outcome, Error> {
        let generation = repo.meta().generation;
        let mut event = format!("stored artifact with revision '{}' from '{}'", pulled.revision, repo.spec.url);
        let origin = |key| pulled.annotations.get(key).filter(|v: &&String| !v.is_empty());
        if let (Some(source), Some(revision)) =
            (origin(ferry_oci::flux::SOURCE_ANNOTATION), origin(ferry_oci::flux::REVISION_ANNOTATION))
        {
            event.push_str(&format!(", origin source '{source}', origin revision '{revision}'"));
        }
        let request = Publish {
            path: pulled.path.clone(),
            content: pulled.content.clone(),
            revision: pulled.revision.clone(),
            latest: LATEST_LINK.into(),
            event: Some(event),
        };
        store::publish(ctx, repo, &self.storage, status, artifact_of, request).await.map_err(StorageError::from)?;
        if let Some(artifact) = &mut status.artifact {
            artifact.metadata = (!pulled.annotations.is_empty()).then(|| pulled.annotations.clone());
        }
        status.observed_ignore = repo.spec.ignore.clone();
        status.observed_layer_selector = repo.spec.layer_selector.clone();
        let message = stored_message(&pulled.revision);
        status.mark_true(cond::ARTIFACT_IN_STORAGE, cond::SUCCEEDED, &message, generation);
        if let Ok(link) = pulled.path.sibling(LATEST_LINK) {
            status.url = Some(self.storage.url(&link));
        }
        // NewArtifact was announced by the step, as Flux's only event for it.
        Ok(Outcome::ready(message).with_revision(pulled.revision).quiet())
    }
}
