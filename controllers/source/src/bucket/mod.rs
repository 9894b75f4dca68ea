//! Bucket: the objects of an S3-compatible bucket (MinIO, Amazon S3, any
//! S3 API), stored as Flux stores them: revision `sha256:<hex>` over the
//! sorted `<key> <etag>` index ([`index`]), file `<hex>.tar.gz`, the
//! downloaded objects (and the root `.sourceignore`) packed without
//! another filter.
//!
//! [`Reconciler::reconcile`] runs Flux's steps in order, each a method that
//! owns its conditions and hands a typed value to the next:
//! 1. [`reconcile_storage`](BucketReconciler::reconcile_storage): forgets a
//!    recorded artifact whose file is gone;
//! 2. [`reconcile_source`](BucketReconciler::reconcile_source): spec,
//!    Secrets, the ETag index; downloads the objects unless the stored
//!    artifact already is the index's revision ([`Fetched`]);
//! 3. [`reconcile_artifact`](BucketReconciler::reconcile_artifact): the
//!    step every source kind shares ([`store::publish`]), or
//!    `ArtifactInStorage` confirmed when nothing changed.
//!
//! `provider: generic` and `provider: aws` with static keys work (minio-go
//! is Flux's client for both); `gcp`, `azure`, cloud identities and STS
//! services are refused with a condition that says so ([`fetch`]).

mod error;
pub mod fetch;
pub mod index;

use std::sync::Arc;
use std::time::Duration;

use ferry_api_meta::Artifact;
use ferry_api_meta::conditions as cond;
use ferry_api_source::{Bucket, BucketStatus, NEW_REVISION_REASON};
use ferry_sdk::artifact::store::{self, Content, Publish, Recorded, StorageError};
use ferry_sdk::conditions::{StatusConditions, Summary};
use ferry_sdk::events::Severity;
use ferry_sdk::reconcile::Context;
use ferry_sdk::{Outcome, ReconcileError, Reconciler};
use ferry_storage::{ArtifactPath, Storage};
use kube::{Resource, ResourceExt};

pub use error::{Error, ProxyError, TlsError};
use index::EtagIndex;

/// The kind, as used in artifact paths.
pub const KIND: &str = "Bucket";

/// The default `spec.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The name of the link to the newest artifact (Flux's).
pub const LATEST_LINK: &str = "latest.tar.gz";

/// The Bucket reconciler.
pub struct BucketReconciler {
    storage: Arc<Storage>,
}

impl BucketReconciler {
    /// A reconciler that stores artifacts in `storage`.
    pub fn new(storage: Arc<Storage>) -> Self {
        Self { storage }
    }
}

/// What [`BucketReconciler::reconcile_source`] read.
pub struct Fetched {
    /// The index of the objects (with the ETags they were downloaded at).
    index: EtagIndex,
    /// Whether the objects were downloaded (the stored artifact is of
    /// another revision, or there is none).
    downloaded: bool,
    /// The objects, at their keys' paths; dropped after the artifact step.
    scratch: tempfile::TempDir,
}

/// Where the shared steps record the artifact and its link.
const RECORDED: Recorded<BucketStatus> = Recorded { artifact: artifact_of, url: url_of, latest: LATEST_LINK };

/// Marks the error's condition with its reason and message, and hands the
/// error on: a step sets its condition where the failure happens.
fn failed(status: &mut BucketStatus, generation: Option<i64>, error: Error) -> Error {
    status.mark_true(error.condition(), error.reason(), &error.to_string(), generation);
    error
}

/// The `ArtifactInStorage` message, as Flux's Bucket words it.
fn stored_message(revision: &str) -> String {
    format!("stored artifact: revision '{revision}'")
}

impl Reconciler for BucketReconciler {
    type Object = Bucket;
    type Error = Error;

    fn summary(&self) -> Summary {
        Summary::new(
            &[cond::STORAGE_OPERATION_FAILED, cond::FETCH_FAILED, cond::ARTIFACT_OUTDATED, cond::ARTIFACT_IN_STORAGE],
            &[cond::STORAGE_OPERATION_FAILED, cond::FETCH_FAILED, cond::ARTIFACT_OUTDATED],
        )
    }

    async fn reconcile(&self, bucket: &Bucket, status: &mut BucketStatus, ctx: &Context) -> Result<Outcome, Error> {
        self.reconcile_storage(ctx, bucket, status).await;
        let fetched = self.reconcile_source(ctx, bucket, status).await?;
        self.reconcile_artifact(ctx, bucket, status, fetched).await
    }

    async fn cleanup(&self, bucket: &Bucket, _ctx: &Context) -> Result<(), Error> {
        let namespace = bucket.namespace().unwrap_or_default();
        self.storage
            .remove_all(KIND, &namespace, &bucket.name_any())
            .map(|_| ())
            .map_err(|source| StorageError::Cleanup { source }.into())
    }
}

impl BucketReconciler {
    /// Storage: forgets `status.artifact` (and `status.url`) when its file
    /// is gone, so that the objects are downloaded and stored again;
    /// refreshes their URLs to this storage's address.
    ///
    /// Conditions: without an artifact, removes `ArtifactInStorage` and
    /// writes `Reconciling` (`building artifact`, with
    /// `: disappeared from storage` when it was lost) at once, as Flux does.
    pub async fn reconcile_storage(&self, ctx: &Context, bucket: &Bucket, status: &mut BucketStatus) {
        let recorded = status.artifact.is_some();
        if store::verify_stored(&self.storage, status, &RECORDED) {
            return;
        }
        let message = if recorded { "building artifact: disappeared from storage" } else { "building artifact" };
        status.mark_true(cond::RECONCILING, cond::PROGRESSING, message, bucket.meta().generation);
        ctx.report_progress(bucket, status).await;
    }

    /// Source: reads the Secrets, builds the S3 client, indexes the bucket
    /// (existence, root `.sourceignore`, listing under `prefix`, ignore
    /// rules) and, unless the stored artifact is the index's revision,
    /// downloads every indexed object.
    ///
    /// Conditions: sets `FetchFailed` (`AuthenticationFailed` for Secrets,
    /// keys, endpoint and unsupported providers, `InvalidSTSConfiguration`,
    /// `URLInvalid`, `FeatureGateDisabled`, `BucketOperationFailed` for
    /// every failure talking to the bucket), `StorageOperationFailed`
    /// (`DirectoryCreationFailed`), `ArtifactOutdated` (`NewRevision`) with
    /// `Reconciling` (`building artifact: ...`) written at once as
    /// progress; removes `FetchFailed` once the bucket is read.
    pub async fn reconcile_source(
        &self,
        ctx: &Context,
        bucket: &Bucket,
        status: &mut BucketStatus,
    ) -> Result<Fetched, Error> {
        let generation = bucket.meta().generation;
        let spec = &bucket.spec;
        let namespace = bucket.namespace().unwrap_or_default();
        let scratch = tempfile::Builder::new()
            .prefix(&format!("{KIND}-{namespace}-{}-", bucket.name_any()))
            .tempdir()
            .map_err(|source| {
                let error = StorageError::Scratch { message: "failed to create temporary working directory", source };
                failed(status, generation, error.into())
            })?;
        status.remove(&[cond::STORAGE_OPERATION_FAILED]);

        let remote = match fetch::Remote::new(ctx, &namespace, spec).await {
            Ok(remote) => remote,
            Err(error) => return Err(failed(status, generation, error)),
        };
        let prefix = spec.prefix.as_deref().unwrap_or_default();
        let index = match remote.index(prefix, spec.ignore.as_deref(), scratch.path()).await {
            Ok(index) => index,
            Err(error) => return Err(failed(status, generation, error)),
        };
        let stored = status.artifact.as_ref().is_some_and(|a| a.revision == index.revision());
        if stored {
            status.remove(&[cond::FETCH_FAILED]);
            return Ok(Fetched { index, downloaded: false, scratch });
        }
        let index = match remote.download(index, scratch.path()).await {
            Ok(index) => index,
            Err(error) => return Err(failed(status, generation, error)),
        };
        let message = format!("new upstream revision '{}'", index.revision());
        if status.artifact.is_some() {
            status.mark_true(cond::ARTIFACT_OUTDATED, NEW_REVISION_REASON, &message, generation);
        }
        status.mark_true(cond::RECONCILING, cond::PROGRESSING, &format!("building artifact: {message}"), generation);
        ctx.report_progress(bucket, status).await;
        status.remove(&[cond::FETCH_FAILED]);
        Ok(Fetched { index, downloaded: true, scratch })
    }

    /// Artifact: when the stored artifact is the index's revision, confirms
    /// it (`ArtifactUpToDate` trace event); else packs the downloaded
    /// objects through the step every source kind shares
    /// ([`store::publish`]: lock, archive, the `latest.tar.gz` link,
    /// `status.artifact`, `NewArtifact`, garbage collection) and records
    /// `observedIgnore` and `status.url`.
    ///
    /// Conditions: `ArtifactInStorage` (`stored artifact: revision '...'`),
    /// removes `ArtifactOutdated`; those of [`store::publish`] on failure
    /// (`StorageOperationFailed`).
    pub async fn reconcile_artifact(
        &self,
        ctx: &Context,
        bucket: &Bucket,
        status: &mut BucketStatus,
        fetched: Fetched,
    ) -> Result<Outcome, Error> {
        let generation = bucket.meta().generation;
        let revision = fetched.index.revision();
        let message = stored_message(&revision);
        if !fetched.downloaded {
            let event = format!("artifact up-to-date with remote revision: '{revision}'");
            ctx.event(bucket, Severity::Trace, cond::ARTIFACT_UP_TO_DATE, &event, &Default::default()).await;
            status.remove(&[cond::ARTIFACT_OUTDATED]);
            status.mark_true(cond::ARTIFACT_IN_STORAGE, cond::SUCCEEDED, &message, generation);
            return Ok(Outcome::ready(message).with_revision(revision));
        }
        let namespace = bucket.namespace().unwrap_or_default();
        let hex = revision.strip_prefix("sha256:").unwrap_or(&revision);
        let path = ArtifactPath::new(KIND, &namespace, &bucket.name_any(), &format!("{hex}.tar.gz"))
            .map_err(|source| failed(status, generation, StorageError::ArtifactPath { source }.into()))?;
        let event = format!(
            "stored artifact with {} fetched files from '{}' bucket",
            fetched.index.len(),
            bucket.spec.bucket_name
        );
        let request = Publish {
            path: path.clone(),
            content: Content::Tree(fetched.scratch.path().to_path_buf()),
            revision: revision.clone(),
            latest: LATEST_LINK.into(),
            event: Some(event),
        };
        store::publish(ctx, bucket, &self.storage, status, artifact_of, request).await.map_err(StorageError::from)?;
        status.observed_ignore = bucket.spec.ignore.clone();
        status.mark_true(cond::ARTIFACT_IN_STORAGE, cond::SUCCEEDED, &message, generation);
        if let Ok(link) = path.sibling(LATEST_LINK) {
            status.url = Some(self.storage.url(&link));
        }
        drop(fetched.scratch);
        // NewArtifact was announced by the step, as Flux's only event for it.
        Ok(Outcome::ready(message).with_revision(revision).quiet())
    }
}

/// Where the shared artifact step records the artifact.
fn artifact_of(status: &mut BucketStatus) -> &mut Option<Artifact> {
    &mut status.artifact
}

/// Where the storage step records the URL of the `latest` link.
fn url_of(status: &mut BucketStatus) -> &mut Option<String> {
    &mut status.url
}
