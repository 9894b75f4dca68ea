//! The artifact-producing step every source kind shares: lock, archive (or
//! copy), point `latest` at it, record `status.artifact`, set
//! `ArtifactInStorage`, announce `NewArtifact`, and collect old files.
//!
//! A source kind prepares its content (a directory, or a file it built) and
//! calls [`publish`]; the step owns the conditions it sets, so a new kind
//! does not copy them.
//!
//! Conditions: sets `ArtifactInStorage` (True) and removes `ArtifactOutdated`
//! on success; sets `StorageOperationFailed` (True) with Flux's reason for
//! the operation that failed (`AcquireLockFailed`, `ArchiveOperationFailed`,
//! `SymlinkUpdateFailed`). A failed garbage collection does not fail the
//! step: it is announced as a `GarbageCollectionFailed` warning event.

use std::path::PathBuf;
use std::sync::Arc;

use ferry_api_meta::conditions as cond;
use ferry_api_meta::{Artifact, ReconcileStatus, Time};
use ferry_storage::{ArtifactPath, SourceIgnore, Storage};
use kube::Resource;

use crate::conditions::StatusConditions;
use crate::events::Severity;
use crate::reconcile::Context;

/// The event reason of a failed garbage collection, as Flux's.
pub const GARBAGE_COLLECTION_FAILED: &str = "GarbageCollectionFailed";

/// The event reason of a new artifact, as Flux's.
pub const NEW_ARTIFACT: &str = "NewArtifact";

/// What a source kind stores.
#[derive(Debug, Clone)]
pub enum Content {
    /// A directory, packed into a reproducible tar.gz without what
    /// `.sourceignore` files and `ignore` (the kind's `spec.ignore`) exclude.
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Extra ignore rules, `.gitignore` syntax.
        ignore: Option<String>,
    },
    /// A directory packed whole, for content a kind filtered itself before
    /// it got to disk (a Bucket's objects, selected by its ignore rules
    /// while listing, are archived without another filter, as Flux does).
    Tree(PathBuf),
    /// A file stored as it is (a chart, a downloaded archive).
    File(PathBuf),
}

/// One call of the step.
#[derive(Debug, Clone)]
pub struct Publish {
    /// Where the artifact goes, `<kind>/<namespace>/<name>/<file>`.
    pub path: ArtifactPath,
    /// What to store.
    pub content: Content,
    /// The revision the content is of (`main@sha1:...`).
    pub revision: String,
    /// The name of the link to the newest artifact (`latest.tar.gz`).
    pub latest: String,
    /// The `NewArtifact` event message, sent when the digest changed;
    /// `None` for kinds that announce a new artifact under a reason of
    /// their own, as Flux's HelmChart does (`ChartPullSucceeded`).
    pub event: Option<String>,
}

/// What the step stored.
#[derive(Debug, Clone)]
pub struct Published {
    /// The artifact now in `status.artifact`.
    pub artifact: Artifact,
    /// Whether the digest differs from the artifact before.
    pub changed: bool,
    /// The `ArtifactInStorage` message, fit for the Ready condition.
    pub message: String,
}

/// Why the step failed; `StorageOperationFailed` is already set.
#[derive(Debug, thiserror::Error)]
#[error("{message}: {source}")]
pub struct Error {
    /// Flux's reason for the operation that failed.
    pub reason: &'static str,
    /// What was being done.
    pub message: &'static str,
    /// The cause.
    #[source]
    pub source: ferry_storage::Error,
}

/// A storage failure of a source kind, the same for every kind: its working
/// directory, its artifact path, the shared [`publish`] step, or removing
/// its artifacts. Each kind wraps it in its own error enum, so the reasons
/// and messages stay Flux's without each kind repeating them.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A scratch directory or file could not be made or written.
    #[error("{message}: {source}")]
    Scratch {
        /// What was being done (Flux's wording).
        message: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// The artifact path for this object is invalid.
    #[error("invalid artifact path: {source}")]
    ArtifactPath {
        /// The cause.
        source: ferry_storage::Error,
    },
    /// Storing the artifact failed (the shared step set its condition).
    #[error(transparent)]
    Publish(#[from] Error),
    /// Removing the stored artifacts of a deleted object failed.
    #[error("garbage collection for deleted resource failed: {source}")]
    Cleanup {
        /// The cause.
        source: ferry_storage::Error,
    },
}

impl StorageError {
    /// Flux's reason for the failure.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Scratch { .. } => cond::DIRECTORY_CREATION_FAILED,
            Self::ArtifactPath { .. } => cond::INVALID_PATH,
            Self::Publish(error) => error.reason,
            Self::Cleanup { .. } => GARBAGE_COLLECTION_FAILED,
        }
    }
}

/// Where a kind records its artifact and the URL of its `latest` link
/// (`status.artifact`, `status.url`).
pub struct Recorded<S> {
    /// `status.artifact`.
    pub artifact: fn(&mut S) -> &mut Option<Artifact>,
    /// `status.url`, the URL of the link to the newest artifact.
    pub url: fn(&mut S) -> &mut Option<String>,
    /// The link's file name (`latest.tar.gz`, `index.yaml`).
    pub latest: &'static str,
}

/// The storage step of a kind that publishes a `latest` link: whether the
/// recorded artifact's file is still in `storage`. When it is, its URL and
/// the link's are refreshed to this storage's address (the advertised
/// address may have changed since); when it is gone, both are forgotten and
/// `ArtifactInStorage` removed, so that the kind stores it again even if
/// its source did not change.
pub fn verify_stored<S: ReconcileStatus>(storage: &Storage, status: &mut S, recorded: &Recorded<S>) -> bool {
    let stored = (recorded.artifact)(status).as_ref().and_then(|a| ArtifactPath::parse(&a.path).ok());
    match stored.filter(|path| storage.exists(path)) {
        Some(path) => {
            if let Some(artifact) = (recorded.artifact)(status) {
                artifact.url = storage.url(&path);
            }
            if let Ok(link) = path.sibling(recorded.latest) {
                *(recorded.url)(status) = Some(storage.url(&link));
            }
            true
        }
        None => {
            *(recorded.artifact)(status) = None;
            *(recorded.url)(status) = None;
            status.remove(&[cond::ARTIFACT_IN_STORAGE]);
            false
        }
    }
}

/// Stores `request.content` at `request.path` in `storage` and records it on
/// `status` (its artifact through `artifact_of`), as the module docs say.
pub async fn publish<K, S>(
    ctx: &Context,
    object: &K,
    storage: &Arc<Storage>,
    status: &mut S,
    artifact_of: fn(&mut S) -> &mut Option<Artifact>,
    request: Publish,
) -> Result<Published, Error>
where
    K: Resource<DynamicType = ()>,
    S: ReconcileStatus,
{
    let generation = object.meta().generation;
    let path = request.path.clone();
    let written = {
        let (storage, request) = (storage.clone(), request.clone());
        tokio::task::spawn_blocking(move || write(&storage, &request)).await
    };
    let (stored, latest_url) = match written {
        Ok(Ok(written)) => written,
        Ok(Err(error)) => {
            status.mark_true(cond::STORAGE_OPERATION_FAILED, error.reason, &error.to_string(), generation);
            return Err(error);
        }
        Err(join) => {
            let error = Error {
                reason: cond::ARCHIVE_OPERATION_FAILED,
                message: "unable to archive artifact to storage",
                source: ferry_storage::Error::Io {
                    action: "archiving",
                    path: path.as_str().into(),
                    source: std::io::Error::other(join),
                },
            };
            status.mark_true(cond::STORAGE_OPERATION_FAILED, error.reason, &error.to_string(), generation);
            return Err(error);
        }
    };
    tracing::debug!(latest = %latest_url, "updated the latest link");

    let current = artifact_of(status);
    let changed = current.as_ref().is_none_or(|a| a.digest != stored.digest);
    let artifact = Artifact {
        path: path.as_str().to_string(),
        url: storage.url(&path),
        revision: request.revision.clone(),
        digest: stored.digest.clone(),
        last_update_time: Time(k8s_openapi::jiff::Timestamp::now()),
        size: i64::try_from(stored.size).ok(),
        metadata: None,
    };
    *current = Some(artifact.clone());
    let message = format!("stored artifact for revision '{}'", request.revision);
    status.mark_true(cond::ARTIFACT_IN_STORAGE, cond::SUCCEEDED, &message, generation);
    status.remove(&[cond::ARTIFACT_OUTDATED, cond::STORAGE_OPERATION_FAILED]);
    if let Some(event) = request.event.as_deref().filter(|_| changed) {
        ctx.event(object, Severity::Info, NEW_ARTIFACT, event, &Default::default()).await;
    }
    collect_garbage(ctx, object, storage, path).await;
    Ok(Published { artifact, changed, message })
}

/// The filesystem half of the step, on a blocking thread.
fn write(storage: &Storage, request: &Publish) -> Result<(ferry_storage::Stored, String), Error> {
    let fail = |reason, message| move |source| Error { reason, message, source };
    let path = &request.path;
    let _lock = storage.lock(path).map_err(fail(cond::ACQUIRE_LOCK_FAILED, "failed to acquire lock for artifact"))?;
    let archive_failed = fail(cond::ARCHIVE_OPERATION_FAILED, "unable to archive artifact to storage");
    let stored = match &request.content {
        Content::Dir { dir, ignore } => SourceIgnore::load(dir, ignore.as_deref())
            .and_then(|rules| storage.archive(path, dir, &rules))
            .map_err(archive_failed)?,
        Content::Tree(dir) => storage.archive(path, dir, &SourceIgnore::none()).map_err(archive_failed)?,
        Content::File(file) => std::fs::File::open(file)
            .map_err(|source| ferry_storage::Error::Io { action: "opening", path: file.clone(), source })
            .and_then(|reader| storage.write(path, std::io::BufReader::new(reader)))
            .map_err(archive_failed)?,
    };
    let latest = storage
        .symlink(path, &request.latest)
        .map_err(fail(cond::SYMLINK_UPDATE_FAILED, "failed to update status URL symlink"))?;
    Ok((stored, latest))
}

/// Removes old files of the object; a failure is a warning event and a log
/// line, never a failed reconcile (the new artifact is stored and served).
async fn collect_garbage<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    object: &K,
    storage: &Arc<Storage>,
    current: ArtifactPath,
) {
    let storage = storage.clone();
    let result = tokio::task::spawn_blocking(move || storage.garbage_collect(&current)).await;
    let message = match result {
        Ok(Ok(removed)) => {
            if !removed.is_empty() {
                tracing::debug!(count = removed.len(), "garbage collected old artifacts");
            }
            return;
        }
        Ok(Err(error)) => format!("garbage collection of artifacts failed: {error}"),
        Err(join) => format!("garbage collection of artifacts failed: {join}"),
    };
    tracing::warn!("{message}");
    ctx.event(object, Severity::Error, GARBAGE_COLLECTION_FAILED, &message, &Default::default()).await;
}
