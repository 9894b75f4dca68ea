//! GitRepository: from a Git ref to a stored, digest-addressed tarball.
//!
//! The steps, in Flux's order:
//! 1. source: read the Secrets, look up the included repositories' artifacts
//!    (condition `IncludeUnavailable`), list the remote's refs, resolve
//!    `spec.ref`; when the artifact already holds that revision (and nothing
//!    that shapes it changed: ignore rules, sparse paths, submodules,
//!    includes and their artifacts), stop here without cloning; otherwise
//!    fetch the commit (and its submodules when asked) and verify its
//!    signature when `spec.verify` asks (conditions `FetchFailed`,
//!    `SourceVerified`);
//! 2. include: copy the included artifacts into the tree;
//! 3. artifact: pack the tree minus ignored files, link `latest.tar.gz`,
//!    record `status.artifact`, collect old files (conditions
//!    `ArtifactInStorage`, `StorageOperationFailed`).

pub mod auth;
pub mod include;
pub mod sparse;
pub mod verification;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferry_api_meta::conditions as cond;
use ferry_api_meta::{Artifact, Condition};
use ferry_api_source::{self as source, GitProvider, GitRepository, GitRepositorySpec, GitRepositoryStatus};
use ferry_git::{CheckoutOptions, GitRef, TrustedKeys};
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

/// How long to wait for an included repository (Flux's `--requeue-dependency`).
pub const REQUEUE_DEPENDENCY: Duration = Duration::from_secs(30);

/// What went wrong reconciling a GitRepository.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec cannot work (a bad URL, a bad duration).
    #[error("{0}")]
    InvalidSpec(String),
    /// `spec.provider` names a cloud identity this controller cannot obtain.
    #[error("{0}")]
    UnsupportedProvider(String),
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
    /// The signature could not be verified (`reason` is Flux's).
    #[error("{message}")]
    VerificationFailed {
        /// The `SourceVerified` reason.
        reason: &'static str,
        /// Why.
        message: String,
        /// No retry helps until the spec changes.
        stalled: bool,
    },
    /// An included repository is missing or has no artifact yet.
    #[error("{message}")]
    IncludeUnavailable {
        /// The `IncludeUnavailable` reason.
        reason: &'static str,
        /// Why.
        message: String,
        /// When to look again (`--requeue-dependency`).
        retry: Duration,
    },
    /// Copying an included artifact into the tree failed.
    #[error(transparent)]
    Include(#[from] include::Error),
    /// Writing the artifact failed.
    #[error("{0}")]
    StorageOperationFailed(String),
}

impl ReconcileError for Error {
    fn reason(&self) -> &str {
        match self {
            Self::InvalidSpec(_) => cond::URL_INVALID,
            Self::UnsupportedProvider(_) => source::INVALID_PROVIDER_CONFIGURATION_REASON,
            Self::SecretUnavailable { .. } | Self::InvalidSecret { .. } | Self::AuthenticationFailed(_) => {
                cond::AUTHENTICATION_FAILED
            }
            Self::GitOperationFailed(_) => cond::GIT_OPERATION_FAILED,
            Self::VerificationFailed { reason, .. } | Self::IncludeUnavailable { reason, .. } => reason,
            Self::Include(include::Error::IllegalPath { .. }) => source::INCLUDE_ILLEGAL_PATH_REASON,
            Self::Include(include::Error::CopyFailed { .. }) => source::INCLUDE_COPY_FAILURE_REASON,
            Self::StorageOperationFailed(_) => cond::ARCHIVE_OPERATION_FAILED,
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidSpec(_) | Self::UnsupportedProvider(_) | Self::VerificationFailed { stalled: true, .. } => {
                ErrorClass::Stalled
            }
            Self::IncludeUnavailable { retry, .. } => ErrorClass::Waiting(Some(*retry)),
            _ => ErrorClass::Transient,
        }
    }
}

/// How GitRepositories are fetched, from the controller's flags.
#[derive(Debug, Clone)]
pub struct GitOptions {
    /// `--ssh-kex-algos`.
    pub ssh_kex_algorithms: Vec<String>,
    /// `--ssh-hostkey-algos`.
    pub ssh_host_key_algorithms: Vec<String>,
    /// `--requeue-dependency`: how long to wait for an included repository.
    pub requeue_dependency: Duration,
}

impl Default for GitOptions {
    fn default() -> Self {
        Self {
            ssh_kex_algorithms: Vec::new(),
            ssh_host_key_algorithms: Vec::new(),
            requeue_dependency: REQUEUE_DEPENDENCY,
        }
    }
}

/// The GitRepository reconciler.
pub struct GitRepositoryReconciler {
    storage: Arc<Storage>,
    options: GitOptions,
}

impl GitRepositoryReconciler {
    /// A reconciler that stores artifacts in `storage`.
    pub fn new(storage: Arc<Storage>) -> Self {
        Self { storage, options: GitOptions::default() }
    }

    /// Sets the options from the controller's flags.
    pub fn with_options(mut self, options: GitOptions) -> Self {
        self.options = options;
        self
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
            Err(err @ (Error::StorageOperationFailed(_) | Error::Include(_))) => {
                let conditions = status.conditions.get_or_insert_with(Vec::new);
                mark_true(conditions, cond::STORAGE_OPERATION_FAILED, err.reason(), &err.to_string(), generation);
            }
            Err(err @ Error::IncludeUnavailable { .. }) => {
                let conditions = status.conditions.get_or_insert_with(Vec::new);
                mark_true(conditions, cond::INCLUDE_UNAVAILABLE, err.reason(), &err.to_string(), generation);
            }
            Err(Error::VerificationFailed { .. }) => {}
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

        // Cloud identities (GitHub App, Azure and AWS workload identity) are
        // not obtained by Ferry: say so instead of cloning anonymously.
        let provider = match spec.provider.unwrap_or_default() {
            GitProvider::Generic => None,
            GitProvider::Aws => Some("aws"),
            GitProvider::Azure => Some("azure"),
            GitProvider::Github => Some("github"),
        };
        if let Some(provider) = provider {
            return Err(Error::UnsupportedProvider(format!(
                "provider '{provider}' is not supported by this source-controller: use provider 'generic' with a secretRef"
            )));
        }

        // Credentials.
        let mut credentials = ferry_git::Auth::default();
        if let Some(secret) = &spec.secret_ref {
            let data = secret_data(ctx, &namespace, &secret.name).await?;
            credentials = auth::from_secret(&data, is_ssh(&url)).map_err(|e| Error::InvalidSecret {
                name: format!("{namespace}/{}", secret.name),
                message: e.to_string(),
            })?;
        }
        credentials.ssh_kex_algorithms = self.options.ssh_kex_algorithms.clone();
        credentials.ssh_host_key_algorithms = self.options.ssh_host_key_algorithms.clone();
        if let Some(proxy) = &spec.proxy_secret_ref {
            let data = secret_data(ctx, &namespace, &proxy.name).await?;
            credentials.proxy = Some(auth::proxy_from_secret(&data).map_err(|e| Error::InvalidSecret {
                name: format!("{namespace}/{}", proxy.name),
                message: e.to_string(),
            })?);
        }

        // A failed verification is computed again; a passed one stays until
        // the new revision is verified.
        if let Some(conditions) = &mut status.conditions {
            conditions.retain(|c| !(c.type_ == cond::SOURCE_VERIFIED && c.is_false()));
        }

        // The included repositories' artifacts.
        let includes = spec.include.clone().unwrap_or_default();
        let included = self.fetch_includes(ctx, &namespace, &includes).await?;
        remove(&mut status.conditions, &[cond::INCLUDE_UNAVAILABLE]);
        let includes_changed = include::artifacts_differ(&included, status.included_artifacts.as_deref());
        if includes_changed && status.included_artifacts.is_some() {
            let conditions = status.conditions.get_or_insert_with(Vec::new);
            let message = "included artifacts differ from last observed includes";
            mark_true(conditions, cond::ARTIFACT_OUTDATED, source::INCLUDE_CHANGE_REASON, message, generation);
        }

        // Resolve the ref on the remote.
        let reference = git_ref(spec);
        // One deadline for listing and fetching together: the whole git
        // operation takes at most `spec.timeout`, as in Flux.
        let deadline = std::time::Instant::now() + timeout;
        let resolved = {
            let (url, credentials, reference) = (url.clone(), credentials.clone(), reference.clone());
            run_blocking(timeout, move || {
                let refs = if reference.commit.as_deref().is_some_and(|c| !c.is_empty()) && reference.branch.is_none() {
                    Vec::new()
                } else {
                    ferry_git::list_refs_until(&url, &credentials, Some(deadline)).map_err(git_error)?
                };
                ferry_git::resolve(&refs, &reference).map_err(git_error)
            })
            .await?
        };

        // Nothing to do when the stored artifact already is this revision,
        // shaped the same way.
        let ignore = spec.ignore.clone();
        let sparse = spec.sparse_checkout.clone().unwrap_or_default();
        let recurse = spec.recurse_submodules.unwrap_or(false);
        let artifact_path =
            ArtifactPath::new(KIND, &namespace, &repo.name_any(), &format!("{}.tar.gz", resolved.commit))
                .map_err(|e| Error::StorageOperationFailed(e.to_string()))?;
        let unchanged = status.artifact.as_ref().is_some_and(|a| a.revision == resolved.revision)
            && self.storage.exists(&artifact_path)
            && status.observed_ignore == ignore
            && status.observed_sparse_checkout.clone().unwrap_or_default() == sparse
            && status.observed_recurse_submodules.unwrap_or(false) == recurse
            && status.observed_include.clone().unwrap_or_default() == includes
            && !includes_changed
            && !spec
                .verify
                .as_ref()
                .is_some_and(|v| verification::required(v.mode.as_deref(), status.source_verification_mode.as_deref()));
        if unchanged {
            let message = format!("stored artifact for revision '{}'", resolved.revision);
            let conditions = status.conditions.get_or_insert_with(Vec::new);
            mark_true(conditions, cond::ARTIFACT_IN_STORAGE, cond::SUCCEEDED, &message, generation);
            remove(&mut status.conditions, &[cond::ARTIFACT_OUTDATED]);
            return Ok(Outcome::ready(message).with_revision(resolved.revision));
        }
        if let Some(current) = status.artifact.as_ref().filter(|a| a.revision != resolved.revision) {
            tracing::debug!(from = %current.revision, to = %resolved.revision, "new upstream revision");
            let message = format!("new upstream revision '{}'", resolved.revision);
            let conditions = status.conditions.get_or_insert_with(Vec::new);
            mark_true(conditions, cond::ARTIFACT_OUTDATED, source::NEW_REVISION_REASON, &message, generation);
        }

        // Fetch and write the tree.
        let work = tempfile::Builder::new()
            .prefix("gitrepository-")
            .tempdir()
            .map_err(|e| Error::StorageOperationFailed(format!("failed to create temporary working directory: {e}")))?;
        let dir: PathBuf = work.path().to_path_buf();
        let commit = {
            let (url, credentials, resolved, dir) = (url.clone(), credentials.clone(), resolved.clone(), dir.clone());
            let options = CheckoutOptions {
                timeout: Some(timeout),
                deadline: Some(deadline),
                sparse: sparse.clone(),
                recurse_submodules: recurse,
            };
            run_blocking(timeout, move || {
                ferry_git::checkout(&url, &credentials, &resolved, &dir, &options).map_err(git_error)
            })
            .await?
        };

        // Every sparse directory asked for is there.
        sparse::validate(&dir, &sparse).map_err(Error::GitOperationFailed)?;

        // Verify.
        match &spec.verify {
            Some(verify) => {
                let verified = self.verify(ctx, &namespace, verify, &resolved, &commit).await;
                let conditions = status.conditions.get_or_insert_with(Vec::new);
                match verified {
                    Ok((mode, message)) => {
                        mark_true(conditions, cond::SOURCE_VERIFIED, cond::SUCCEEDED, &message, generation);
                        status.source_verification_mode = Some(mode);
                    }
                    Err(err) => {
                        mark_false(conditions, cond::SOURCE_VERIFIED, err.reason(), &err.to_string(), generation);
                        status.source_verification_mode = None;
                        return Err(err);
                    }
                }
            }
            None => {
                remove(&mut status.conditions, &[cond::SOURCE_VERIFIED]);
                status.source_verification_mode = None;
            }
        }

        // Copy the includes in, pack and record the artifact.
        let storage = self.storage.clone();
        let (stored, url_of_latest) = {
            let (path, dir, ignore, includes, included) =
                (artifact_path.clone(), dir.clone(), ignore.clone(), includes.clone(), included.clone());
            tokio::task::spawn_blocking(move || -> Result<_, Error> {
                include::copy_all(&storage, &includes, &included, &dir)?;
                let pack = || -> Result<_, ferry_storage::Error> {
                    let _lock = storage.lock(&path)?;
                    let rules = SourceIgnore::load(&dir, ignore.as_deref())?;
                    let stored = storage.archive(&path, &dir, &rules)?;
                    let latest = storage.symlink(&path, "latest.tar.gz")?;
                    Ok((stored, latest))
                };
                pack().map_err(|e| Error::StorageOperationFailed(format!("unable to archive artifact to storage: {e}")))
            })
            .await
            .map_err(|e| Error::StorageOperationFailed(e.to_string()))??
        };
        tracing::debug!(latest = %url_of_latest, "updated the latest link");
        let new_digest = status.artifact.as_ref().is_none_or(|a| a.digest != stored.digest);
        status.artifact = Some(Artifact {
            path: artifact_path.as_str().to_string(),
            url: self.storage.url(&artifact_path),
            revision: resolved.revision.clone(),
            digest: stored.digest.clone(),
            last_update_time: Time(k8s_openapi::jiff::Timestamp::now()),
            size: i64::try_from(stored.size).ok(),
            metadata: None,
        });
        status.included_artifacts = (!included.is_empty()).then_some(included);
        status.observed_ignore = ignore;
        status.observed_sparse_checkout = (!sparse.is_empty()).then_some(sparse);
        status.observed_recurse_submodules = spec.recurse_submodules;
        status.observed_include = spec.include.clone();
        let message = format!("stored artifact for revision '{}'", resolved.revision);
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        mark_true(conditions, cond::ARTIFACT_IN_STORAGE, cond::SUCCEEDED, &message, generation);
        remove(&mut status.conditions, &[cond::ARTIFACT_OUTDATED]);
        if new_digest {
            let event = format!("stored artifact for commit '{}'", short_message(&commit.message));
            ctx.event(repo, Severity::Info, source::NEW_ARTIFACT_REASON, &event, &Default::default()).await;
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
        // NewArtifact was announced above, as Flux's only event for it.
        Ok(Outcome::ready(message).with_revision(resolved.revision).quiet())
    }

    /// The artifacts of the included repositories, in `spec.include` order.
    async fn fetch_includes(
        &self,
        ctx: &Context,
        namespace: &str,
        includes: &[ferry_api_source::GitRepositoryInclude],
    ) -> Result<Vec<Artifact>, Error> {
        let repos: Api<GitRepository> = Api::namespaced(ctx.client().clone(), namespace);
        let mut artifacts = Vec::with_capacity(includes.len());
        for include in includes {
            let name = &include.repository.name;
            let found = repos.get_opt(name).await.map_err(|e| Error::IncludeUnavailable {
                reason: source::INCLUDE_NOT_FOUND_REASON,
                message: format!("could not get resource for include '{name}': {e}"),
                retry: self.options.requeue_dependency,
            })?;
            let Some(found) = found else {
                return Err(Error::IncludeUnavailable {
                    reason: source::INCLUDE_NOT_FOUND_REASON,
                    message: format!("could not get resource for include '{name}': not found"),
                    retry: self.options.requeue_dependency,
                });
            };
            let Some(artifact) = found.status.and_then(|s| s.artifact) else {
                return Err(Error::IncludeUnavailable {
                    reason: source::INCLUDE_NO_ARTIFACT_REASON,
                    message: format!("no artifact available for include '{name}'"),
                    retry: self.options.requeue_dependency,
                });
            };
            artifacts.push(artifact);
        }
        Ok(artifacts)
    }

    /// Verifies the commit (and its tag) as `spec.verify` asks; returns the
    /// mode verified and the `SourceVerified` message.
    async fn verify(
        &self,
        ctx: &Context,
        namespace: &str,
        verify: &ferry_api_source::GitRepositoryVerification,
        resolved: &ferry_git::Resolved,
        commit: &ferry_git::Commit,
    ) -> Result<(String, String), Error> {
        let failed =
            |reason: &'static str, message: String| Error::VerificationFailed { reason, message, stalled: false };
        let mode = match verify.mode.as_deref() {
            Some(mode @ ("HEAD" | "Tag" | "TagAndHEAD")) => mode.to_string(),
            _ => "HEAD".to_string(),
        };
        let secret = &verify.secret_ref.name;
        let data = secret_data(ctx, namespace, secret)
            .await
            .map_err(|e| failed(cond::VERIFICATION_ERROR, format!("PGP public keys secret error: {e}")))?;
        let keys = TrustedKeys::from_secret_data(data.iter().map(|(k, v)| (k.as_str(), v.0.as_slice())))
            .map_err(|e| failed(cond::VERIFICATION_ERROR, format!("invalid secret '{namespace}/{secret}': {e}")))?;
        let mut message = String::from("verified signature of");
        if mode != "HEAD" {
            let Some(tag) = &commit.tag else {
                return Err(Error::VerificationFailed {
                    reason: source::INVALID_VERIFICATION_MODE_REASON,
                    message: "cannot verify tag object's signature if a tag reference is not specified".into(),
                    stalled: true,
                });
            };
            let tag_name = format!("{}@sha1:{}", tag.name, resolved.tag_object.as_deref().unwrap_or_default());
            if tag.signature.as_deref().is_none_or(|s| s.trim().is_empty()) {
                let message = format!("cannot verify signature of tag '{tag_name}' since it is not signed");
                return Err(failed(source::INVALID_GIT_OBJECT_REASON, message));
            }
            let key = keys.verify(&tag.name, &tag.payload, tag.signature.as_deref()).map_err(|e| {
                failed(
                    source::INVALID_TAG_SIGNATURE_REASON,
                    format!("signature verification of tag '{tag_name}' failed: {e}"),
                )
            })?;
            message.push_str(&format!("\n\t- tag '{tag_name}' with key '{key}'"));
        }
        if mode != "Tag" {
            let key = keys.verify(&commit.hash, &commit.payload, commit.signature.as_deref()).map_err(|e| {
                let message = format!("signature verification of commit '{}' failed: {e}", commit.hash);
                failed(source::INVALID_COMMIT_SIGNATURE_REASON, message)
            })?;
            message.push_str(&format!("\n\t- commit '{}' with key '{key}'", commit.hash));
        }
        Ok((mode, message))
    }
}

/// The first line of a commit message, cut at 50 characters as Flux's
/// `ShortMessage` does.
pub fn short_message(message: &str) -> String {
    let subject = message.split('\n').next().unwrap_or_default();
    if subject.chars().count() > 50 {
        format!("{}...", subject.chars().take(50).collect::<String>())
    } else {
        subject.to_string()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_messages_are_subjects_cut_at_fifty_characters() {
        assert_eq!(short_message("fix: a bug\n\nlong body"), "fix: a bug");
        let long = "é".repeat(60);
        assert_eq!(short_message(&long), format!("{}...", "é".repeat(50)));
        assert_eq!(short_message(""), "");
    }
}
