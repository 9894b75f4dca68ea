//! GitRepository: from a Git ref to a stored, digest-addressed tarball.
//!
//! The steps, in Flux's order:
//! 1. source: read the Secrets, list the remote's refs, resolve `spec.ref`;
//!    when the artifact already holds that revision (and nothing that shapes
//!    it changed), stop here without cloning; otherwise fetch the commit and
//!    verify its signature when `spec.verify` asks (conditions `FetchFailed`,
//!    `SourceVerified`);
//! 2. artifact: pack the tree minus ignored files, link `latest.tar.gz`,
//!    record `status.artifact`, collect old files (conditions
//!    `ArtifactInStorage`, `StorageOperationFailed`).

pub mod auth;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferry_api_meta::conditions as cond;
use ferry_api_meta::{Artifact, Condition};
use ferry_api_source::{GitRepository, GitRepositorySpec, GitRepositoryStatus};
use ferry_git::{CheckoutOptions, GitRef, TrustedKeys, VerifyError};
use ferry_sdk::conditions::{Summary, mark_false, mark_true};
use ferry_sdk::events::Severity;
use ferry_sdk::reconcile::Context;
use ferry_sdk::{ErrorClass, Outcome, ReconcileError, Reconciler};
use ferry_storage::{ArtifactPath, SourceIgnore, Storage};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::{Resource, ResourceExt};

/// The kind, as used in artifact paths.
pub const KIND: &str = "GitRepository";

/// The default `spec.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong reconciling a GitRepository.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec cannot work (a bad URL, a bad duration).
    #[error("{0}")]
    InvalidSpec(String),
    /// A referenced Secret could not be read.
    #[error("failed to get secret '{name}': {message}")]
    SecretUnavailable {
        /// `<namespace>/<name>`.
        name: String,
        /// Why.
        message: String,
    },
    /// A referenced Secret is unusable.
    #[error("invalid secret '{name}': {message}")]
    InvalidSecret {
        /// `<namespace>/<name>`.
        name: String,
        /// Why.
        message: String,
    },
    /// The remote refused the credentials.
    #[error("{0}")]
    AuthenticationFailed(String),
    /// Listing, fetching or checking out failed.
    #[error("{0}")]
    GitOperationFailed(String),
    /// The signature could not be verified.
    #[error("{0}")]
    VerificationFailed(String),
    /// Writing the artifact failed.
    #[error("{0}")]
    StorageOperationFailed(String),
}

impl ReconcileError for Error {
    fn reason(&self) -> &str {
        match self {
            Self::InvalidSpec(_) => cond::URL_INVALID,
            Self::SecretUnavailable { .. } | Self::InvalidSecret { .. } | Self::AuthenticationFailed(_) => {
                cond::AUTHENTICATION_FAILED
            }
            Self::GitOperationFailed(_) => cond::GIT_OPERATION_FAILED,
            Self::VerificationFailed(_) => cond::VERIFICATION_ERROR,
            Self::StorageOperationFailed(_) => cond::ARCHIVE_OPERATION_FAILED,
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidSpec(_) => ErrorClass::Stalled,
            _ => ErrorClass::Transient,
        }
    }
}

/// The GitRepository reconciler.
pub struct GitRepositoryReconciler {
    storage: Arc<Storage>,
}

impl GitRepositoryReconciler {
    /// A reconciler that stores artifacts in `storage`.
    pub fn new(storage: Arc<Storage>) -> Self {
        Self { storage }
    }
}

fn is_ssh(url: &str) -> bool {
    url.starts_with("ssh://")
}

fn git_ref(spec: &GitRepositorySpec) -> GitRef {
    let r = spec.reference.clone().unwrap_or_default();
    GitRef { branch: r.branch, tag: r.tag, semver: r.semver, name: r.name, commit: r.commit }
}

async fn secret_data(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<BTreeMap<String, k8s_openapi::ByteString>, Error> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client().clone(), namespace);
    let full = format!("{namespace}/{name}");
    match secrets.get_opt(name).await {
        Ok(Some(secret)) => Ok(secret.data.unwrap_or_default()),
        Ok(None) => Err(Error::SecretUnavailable { name: full, message: "not found".into() }),
        Err(err) => Err(Error::SecretUnavailable { name: full, message: err.to_string() }),
    }
}

fn set_fetch_failed(status: &mut GitRepositoryStatus, generation: Option<i64>, err: &Error) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    mark_true(conditions, cond::FETCH_FAILED, err.reason(), &err.to_string(), generation);
}

fn remove(conditions: &mut Option<Vec<Condition>>, types: &[&str]) {
    if let Some(list) = conditions {
        list.retain(|c| !types.contains(&c.type_.as_str()));
    }
}

impl Reconciler for GitRepositoryReconciler {
    type Object = GitRepository;
    type Error = Error;

    fn summary(&self) -> Summary {
        Summary::new(
            &[
                cond::FETCH_FAILED,
                cond::INCLUDE_UNAVAILABLE,
                cond::SOURCE_VERIFIED,
                cond::ARTIFACT_OUTDATED,
                cond::ARTIFACT_IN_STORAGE,
                cond::STORAGE_OPERATION_FAILED,
            ],
            &[cond::FETCH_FAILED, cond::INCLUDE_UNAVAILABLE, cond::ARTIFACT_OUTDATED, cond::STORAGE_OPERATION_FAILED],
        )
    }

    async fn reconcile(
        &self,
        repo: &GitRepository,
        status: &mut GitRepositoryStatus,
        ctx: &Context,
    ) -> Result<Outcome, Error> {
        let generation = repo.meta().generation;
        let result = self.reconcile_steps(repo, status, ctx).await;
        match &result {
            Err(err @ Error::StorageOperationFailed(_)) => {
                let conditions = status.conditions.get_or_insert_with(Vec::new);
                mark_true(conditions, cond::STORAGE_OPERATION_FAILED, err.reason(), &err.to_string(), generation);
            }
            Err(Error::VerificationFailed(_)) => {}
            Err(err) => set_fetch_failed(status, generation, err),
            Ok(_) => remove(&mut status.conditions, &[cond::FETCH_FAILED, cond::STORAGE_OPERATION_FAILED]),
        }
        result
    }

    async fn cleanup(&self, repo: &GitRepository, _ctx: &Context) -> Result<(), Error> {
        let namespace = repo.namespace().unwrap_or_default();
        self.storage
            .remove_all(KIND, &namespace, &repo.name_any())
            .map(|_| ())
            .map_err(|e| Error::StorageOperationFailed(format!("garbage collection for deleted resource failed: {e}")))
    }
}

impl GitRepositoryReconciler {
    async fn reconcile_steps(
        &self,
        repo: &GitRepository,
        status: &mut GitRepositoryStatus,
        ctx: &Context,
    ) -> Result<Outcome, Error> {
        let spec = &repo.spec;
        let namespace = repo.namespace().unwrap_or_default();
        let generation = repo.meta().generation;
        let url = spec.url.clone();
        if !(url.starts_with("http://") || url.starts_with("https://") || is_ssh(&url)) {
            return Err(Error::InvalidSpec(format!("invalid URL '{url}': the scheme must be http, https or ssh")));
        }
        let timeout = match &spec.timeout {
            Some(text) => ferry_api_meta::duration::parse(text)
                .map_err(|e| Error::InvalidSpec(format!("invalid timeout '{text}': {e}")))?,
            None => DEFAULT_TIMEOUT,
        };

        // Credentials.
        let mut credentials = ferry_git::Auth::default();
        if let Some(secret) = &spec.secret_ref {
            let data = secret_data(ctx, &namespace, &secret.name).await?;
            credentials = auth::from_secret(&data, is_ssh(&url)).map_err(|e| Error::InvalidSecret {
                name: format!("{namespace}/{}", secret.name),
                message: e.to_string(),
            })?;
        }
        if let Some(proxy) = &spec.proxy_secret_ref {
            let data = secret_data(ctx, &namespace, &proxy.name).await?;
            credentials.proxy = Some(auth::proxy_from_secret(&data).map_err(|e| Error::InvalidSecret {
                name: format!("{namespace}/{}", proxy.name),
                message: e.to_string(),
            })?);
        }

        // Resolve the ref on the remote.
        let reference = git_ref(spec);
        let resolved = {
            let (url, credentials, reference) = (url.clone(), credentials.clone(), reference.clone());
            run_blocking(timeout, move || {
                let refs = if reference.commit.as_deref().is_some_and(|c| !c.is_empty()) && reference.branch.is_none() {
                    Vec::new()
                } else {
                    ferry_git::list_refs(&url, &credentials).map_err(git_error)?
                };
                ferry_git::resolve(&refs, &reference).map_err(git_error)
            })
            .await?
        };

        // Nothing to do when the stored artifact already is this revision,
        // shaped the same way.
        let ignore = spec.ignore.clone();
        let sparse = spec.sparse_checkout.clone().unwrap_or_default();
        let artifact_path =
            ArtifactPath::new(KIND, &namespace, &repo.name_any(), &format!("{}.tar.gz", resolved.commit))
                .map_err(|e| Error::StorageOperationFailed(e.to_string()))?;
        let unchanged = status.artifact.as_ref().is_some_and(|a| a.revision == resolved.revision)
            && self.storage.exists(&artifact_path)
            && status.observed_ignore == ignore
            && status.observed_sparse_checkout.clone().unwrap_or_default() == sparse
            && (spec.verify.is_none() || status.source_verification_mode.is_some());
        if unchanged {
            let message = format!("stored artifact for revision '{}'", resolved.revision);
            let conditions = status.conditions.get_or_insert_with(Vec::new);
            mark_true(conditions, cond::ARTIFACT_IN_STORAGE, cond::SUCCEEDED, &message, generation);
            remove(&mut status.conditions, &[cond::ARTIFACT_OUTDATED]);
            return Ok(Outcome::ready(message).with_revision(resolved.revision));
        }

        // Fetch and write the tree.
        let work = tempfile::Builder::new()
            .prefix("gitrepository-")
            .tempdir()
            .map_err(|e| Error::StorageOperationFailed(format!("failed to create temporary working directory: {e}")))?;
        let dir: PathBuf = work.path().to_path_buf();
        let commit = {
            let (url, credentials, resolved, dir) = (url.clone(), credentials.clone(), resolved.clone(), dir.clone());
            let options = CheckoutOptions { timeout: Some(timeout), sparse: sparse.clone() };
            run_blocking(timeout, move || {
                ferry_git::checkout(&url, &credentials, &resolved, &dir, &options).map_err(git_error)
            })
            .await?
        };

        // Verify.
        if let Some(verify) = &spec.verify {
            let mode = verify.mode.clone().unwrap_or_else(|| "HEAD".into());
            let data = secret_data(ctx, &namespace, &verify.secret_ref.name).await?;
            let keys =
                TrustedKeys::from_secret_data(data.iter().map(|(k, v)| (k.as_str(), v.0.as_slice()))).map_err(|e| {
                    Error::InvalidSecret {
                        name: format!("{namespace}/{}", verify.secret_ref.name),
                        message: e.to_string(),
                    }
                })?;
            let mut verified = Vec::new();
            let mut failure: Option<VerifyError> = None;
            if matches!(mode.as_str(), "Tag" | "TagAndHEAD") {
                match &commit.tag {
                    Some(tag) => match keys.verify(&tag.name, &tag.payload, tag.signature.as_deref()) {
                        Ok(_) => verified.push(format!("tag '{}'", tag.name)),
                        Err(e) => failure = Some(e),
                    },
                    None => failure = Some(VerifyError::Unsigned("the reference (no annotated tag)".into())),
                }
            }
            if failure.is_none() && matches!(mode.as_str(), "head" | "HEAD" | "TagAndHEAD") {
                match keys.verify(&commit.hash, &commit.payload, commit.signature.as_deref()) {
                    Ok(_) => verified.push(format!("commit '{}'", commit.hash)),
                    Err(e) => failure = Some(e),
                }
            }
            let conditions = status.conditions.get_or_insert_with(Vec::new);
            if let Some(err) = failure {
                let message = format!("signature verification failed: {err}");
                mark_false(conditions, cond::SOURCE_VERIFIED, cond::VERIFICATION_ERROR, &message, generation);
                status.source_verification_mode = None;
                return Err(Error::VerificationFailed(message));
            }
            let message = format!("verified signature of {}", verified.join(" and "));
            mark_true(conditions, cond::SOURCE_VERIFIED, cond::SUCCEEDED, &message, generation);
            status.source_verification_mode = Some(if mode == "head" { "HEAD".into() } else { mode });
        } else {
            remove(&mut status.conditions, &[cond::SOURCE_VERIFIED]);
            status.source_verification_mode = None;
        }

        // Pack and record the artifact.
        let storage = self.storage.clone();
        let (stored, url_of_latest) = {
            let (path, dir, ignore) = (artifact_path.clone(), dir.clone(), ignore.clone());
            tokio::task::spawn_blocking(move || -> Result<_, ferry_storage::Error> {
                let _lock = storage.lock(&path)?;
                let rules = SourceIgnore::load(&dir, ignore.as_deref())?;
                let stored = storage.archive(&path, &dir, &rules)?;
                let latest = storage.symlink(&path, "latest.tar.gz")?;
                Ok((stored, latest))
            })
            .await
            .map_err(|e| Error::StorageOperationFailed(e.to_string()))?
            .map_err(|e| Error::StorageOperationFailed(format!("failed to archive artifact: {e}")))?
        };
        tracing::debug!(latest = %url_of_latest, "updated the latest link");
        let changed = status.artifact.as_ref().is_none_or(|a| a.revision != resolved.revision);
        status.artifact = Some(Artifact {
            path: artifact_path.as_str().to_string(),
            url: self.storage.url(&artifact_path),
            revision: resolved.revision.clone(),
            digest: stored.digest.clone(),
            last_update_time: Time(k8s_openapi::jiff::Timestamp::now()),
            size: i64::try_from(stored.size).ok(),
            metadata: None,
        });
        status.observed_ignore = ignore;
        status.observed_sparse_checkout = (!sparse.is_empty()).then_some(sparse);
        status.observed_recurse_submodules = spec.recurse_submodules;
        let message = format!("stored artifact for revision '{}'", resolved.revision);
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        mark_true(conditions, cond::ARTIFACT_IN_STORAGE, cond::SUCCEEDED, &message, generation);
        remove(&mut status.conditions, &[cond::ARTIFACT_OUTDATED]);
        if changed {
            let summary = commit.message.lines().next().unwrap_or_default();
            let event = format!("stored artifact for commit '{summary}'");
            ctx.event(repo, Severity::Info, "NewArtifact", &event).await;
        }
        let storage = self.storage.clone();
        let current = artifact_path.clone();
        match tokio::task::spawn_blocking(move || storage.garbage_collect(&current)).await {
            Ok(Ok(removed)) if !removed.is_empty() => {
                tracing::debug!(count = removed.len(), "garbage collected old artifacts");
            }
            Ok(Err(err)) => tracing::warn!(%err, "garbage collection of old artifacts failed"),
            _ => {}
        }
        Ok(Outcome::ready(message).with_revision(resolved.revision))
    }
}

fn git_error(err: ferry_git::Error) -> Error {
    match err {
        ferry_git::Error::AuthenticationFailed { .. } | ferry_git::Error::InvalidAuth(_) => {
            Error::AuthenticationFailed(format!("failed to checkout and determine revision: {err}"))
        }
        ferry_git::Error::InvalidUrl { .. } => Error::InvalidSpec(err.to_string()),
        other => Error::GitOperationFailed(format!("failed to checkout and determine revision: {other}")),
    }
}

/// Runs blocking git work off the runtime, bounded by `timeout`.
async fn run_blocking<T, F>(timeout: Duration, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    match tokio::time::timeout(timeout, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(Error::GitOperationFailed(format!("git operation panicked or was cancelled: {join}"))),
        Err(_) => Err(Error::GitOperationFailed(format!("git operation timed out after {timeout:?}"))),
    }
}
