//! GitRepository: from a Git ref to a stored, digest-addressed tarball.
//!
//! [`Reconciler::reconcile`] runs Flux's steps in order, each a method that
//! owns its conditions and hands a typed value to the next:
//! 1. [`reconcile_storage`](GitRepositoryReconciler::reconcile_storage):
//!    is the recorded artifact still stored ([`Storage`]);
//! 2. [`reconcile_source`](GitRepositoryReconciler::reconcile_source): spec,
//!    Secrets, the included artifacts, the remote's refs; stops with
//!    [`Source::Unchanged`] when the stored artifact already is the revision
//!    (shaped the same way), else fetches and verifies the commit
//!    ([`Checkout`]);
//! 3. [`reconcile_include`](GitRepositoryReconciler::reconcile_include):
//!    copies the included artifacts into the tree;
//! 4. [`reconcile_artifact`](GitRepositoryReconciler::reconcile_artifact):
//!    the step every source kind shares ([`store::publish`]).

pub mod auth;
mod error;
pub mod include;
pub mod sparse;
pub mod verification;

use ferry_sdk::artifact::store::StorageError;
use std::sync::Arc;
use std::time::Duration;

use ferry_api_meta::Artifact;
use ferry_api_meta::conditions as cond;
use ferry_api_source::{
    self as source, GitProvider, GitRepository, GitRepositoryInclude, GitRepositorySpec, GitRepositoryStatus,
};
use ferry_git::{CheckoutOptions, GitRef, TrustedKeys};
use ferry_sdk::artifact::store::{self, Content, Publish};
use ferry_sdk::conditions::{StatusConditions, Summary};
use ferry_sdk::reconcile::Context;
use ferry_sdk::{Outcome, ReconcileError, Reconciler};
use ferry_storage::{ArtifactPath, Storage};
use kube::api::Api;
use kube::{Resource, ResourceExt};

use error::git_error;
pub use error::{Error, INVALID_TIMEOUT};

/// The kind, as used in artifact paths.
pub const KIND: &str = "GitRepository";

/// The default `spec.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long to wait for an included repository (Flux's `--requeue-dependency`).
pub const REQUEUE_DEPENDENCY: Duration = Duration::from_secs(30);

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

/// What [`GitRepositoryReconciler::reconcile_storage`] found.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    /// Whether the file of `status.artifact` is still in storage.
    pub artifact_present: bool,
}

/// What [`GitRepositoryReconciler::reconcile_source`] decided.
pub enum Source {
    /// The stored artifact already is this revision: nothing more to do.
    Unchanged {
        /// The revision (`main@sha1:...`).
        revision: String,
        /// The `ArtifactInStorage` message.
        message: String,
    },
    /// A new tree to store (boxed: a checkout is large next to a revision).
    Fetched(Box<Checkout>),
}

/// A fetched and verified commit in a working directory, with what shapes
/// its artifact.
pub struct Checkout {
    work: tempfile::TempDir,
    path: ArtifactPath,
    resolved: ferry_git::Resolved,
    commit: ferry_git::Commit,
    includes: Vec<GitRepositoryInclude>,
    included: Vec<Artifact>,
}

fn is_ssh(url: &str) -> bool {
    url.starts_with("ssh://")
}

fn git_ref(spec: &GitRepositorySpec) -> GitRef {
    let r = spec.reference.clone().unwrap_or_default();
    GitRef { branch: r.branch, tag: r.tag, semver: r.semver, name: r.name, commit: r.commit }
}

/// A referenced Secret's data, read by the SDK's one Secret reader.
async fn secret_data(ctx: &Context, namespace: &str, name: &str) -> Result<ferry_sdk::secret::Data, Error> {
    ferry_sdk::secret::read(ctx.client(), namespace, name).await.map_err(Error::Secret)
}

/// Where the shared artifact step records the artifact.
fn artifact_of(status: &mut GitRepositoryStatus) -> &mut Option<Artifact> {
    &mut status.artifact
}

/// Marks `type_` True with the error's reason and message, and hands the
/// error on: a step sets its condition where the failure happens.
fn failed(status: &mut GitRepositoryStatus, type_: &str, generation: Option<i64>, error: Error) -> Error {
    status.mark_true(type_, error.reason(), &error.to_string(), generation);
    error
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
        let stored = self.reconcile_storage(repo, status);
        let checkout = match self.reconcile_source(ctx, repo, status, stored).await? {
            Source::Unchanged { revision, message } => return Ok(Outcome::ready(message).with_revision(revision)),
            Source::Fetched(checkout) => *checkout,
        };
        let checkout = self.reconcile_include(repo, status, checkout).await?;
        self.reconcile_artifact(ctx, repo, status, checkout).await
    }

    async fn cleanup(&self, repo: &GitRepository, _ctx: &Context) -> Result<(), Error> {
        let namespace = repo.namespace().unwrap_or_default();
        self.storage
            .remove_all(KIND, &namespace, &repo.name_any())
            .map(|_| ())
            .map_err(|source| StorageError::Cleanup { source }.into())
    }
}

impl GitRepositoryReconciler {
    /// Storage: whether the recorded artifact is still stored, so that a
    /// lost file is rebuilt even when the revision did not move.
    ///
    /// Conditions: sets and removes none.
    pub fn reconcile_storage(&self, _repo: &GitRepository, status: &GitRepositoryStatus) -> Stored {
        let artifact_present = status
            .artifact
            .as_ref()
            .and_then(|a| ArtifactPath::parse(&a.path).ok())
            .is_some_and(|path| self.storage.exists(&path));
        Stored { artifact_present }
    }

    /// Source: checks the spec, reads the Secrets and the included
    /// repositories' artifacts, resolves `spec.ref` on the remote and, unless
    /// the stored artifact already is that revision shaped the same way
    /// (ignore rules, sparse paths, submodules, includes and their
    /// artifacts), fetches the commit and verifies it as `spec.verify` asks.
    ///
    /// Conditions: sets `FetchFailed` (bad spec, Secret, Git failure),
    /// `IncludeUnavailable`, `ArtifactOutdated` (`NewRevision`,
    /// `IncludeChange`), `SourceVerified` (True or False), and
    /// `ArtifactInStorage` when unchanged; removes `FetchFailed` and
    /// `IncludeUnavailable` once past them, a failed `SourceVerified`
    /// before verifying again, and `SourceVerified` when nothing is verified.
    pub async fn reconcile_source(
        &self,
        ctx: &Context,
        repo: &GitRepository,
        status: &mut GitRepositoryStatus,
        stored: Stored,
    ) -> Result<Source, Error> {
        let generation = repo.meta().generation;
        let fetch_failed =
            |status: &mut GitRepositoryStatus, error| failed(status, cond::FETCH_FAILED, generation, error);
        let spec = &repo.spec;
        let namespace = repo.namespace().unwrap_or_default();
        let (url, timeout) = match checked_spec(spec) {
            Ok(checked) => checked,
            Err(error) => return Err(fetch_failed(status, error)),
        };
        let credentials = match self.credentials(ctx, &namespace, spec).await {
            Ok(credentials) => credentials,
            Err(error) => return Err(fetch_failed(status, error)),
        };

        // A failed verification is computed again; a passed one stays until
        // the new revision is verified.
        if let Some(conditions) = &mut status.conditions {
            conditions.retain(|c| !(c.type_ == cond::SOURCE_VERIFIED && c.is_false()));
        }

        // The included repositories' artifacts.
        let includes = spec.include.clone().unwrap_or_default();
        let included = match self.fetch_includes(ctx, &namespace, &includes).await {
            Ok(included) => included,
            Err(error) => return Err(failed(status, cond::INCLUDE_UNAVAILABLE, generation, error)),
        };
        status.remove(&[cond::INCLUDE_UNAVAILABLE]);
        let includes_changed = include::artifacts_differ(&included, status.included_artifacts.as_deref());
        if includes_changed && status.included_artifacts.is_some() {
            let message = "included artifacts differ from last observed includes";
            status.mark_true(cond::ARTIFACT_OUTDATED, source::INCLUDE_CHANGE_REASON, message, generation);
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
            .await
        };
        let resolved = match resolved {
            Ok(resolved) => resolved,
            Err(error) => return Err(fetch_failed(status, error)),
        };

        // Nothing to do when the stored artifact already is this revision,
        // shaped the same way.
        let path = ArtifactPath::new(KIND, &namespace, &repo.name_any(), &format!("{}.tar.gz", resolved.commit))
            .map_err(|source| Error::from(StorageError::ArtifactPath { source }));
        let path = match path {
            Ok(path) => path,
            Err(error) => return Err(failed(status, cond::STORAGE_OPERATION_FAILED, generation, error)),
        };
        let sparse = spec.sparse_checkout.clone().unwrap_or_default();
        let recurse = spec.recurse_submodules.unwrap_or(false);
        let unchanged = status.artifact.as_ref().is_some_and(|a| a.revision == resolved.revision)
            && stored.artifact_present
            && self.storage.exists(&path)
            && status.observed_ignore == spec.ignore
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
            status.mark_true(cond::ARTIFACT_IN_STORAGE, cond::SUCCEEDED, &message, generation);
            status.remove(&[cond::ARTIFACT_OUTDATED, cond::FETCH_FAILED, cond::STORAGE_OPERATION_FAILED]);
            return Ok(Source::Unchanged { revision: resolved.revision, message });
        }
        if let Some(current) = status.artifact.as_ref().filter(|a| a.revision != resolved.revision) {
            tracing::debug!(from = %current.revision, to = %resolved.revision, "new upstream revision");
            let message = format!("new upstream revision '{}'", resolved.revision);
            status.mark_true(cond::ARTIFACT_OUTDATED, source::NEW_REVISION_REASON, &message, generation);
        }

        // Fetch the tree.
        let work = match tempfile::Builder::new().prefix("gitrepository-").tempdir() {
            Ok(work) => work,
            Err(source) => {
                let error = Error::from(StorageError::Scratch {
                    message: "failed to create temporary working directory",
                    source,
                });
                return Err(failed(status, cond::STORAGE_OPERATION_FAILED, generation, error));
            }
        };
        let commit = {
            let (url, credentials, resolved, dir) =
                (url.clone(), credentials.clone(), resolved.clone(), work.path().to_path_buf());
            let options = CheckoutOptions {
                timeout: Some(timeout),
                deadline: Some(deadline),
                sparse: sparse.clone(),
                recurse_submodules: recurse,
            };
            run_blocking(timeout, move || {
                ferry_git::checkout(&url, &credentials, &resolved, &dir, &options).map_err(git_error)
            })
            .await
        };
        let commit = match commit {
            Ok(commit) => commit,
            Err(error) => return Err(fetch_failed(status, error)),
        };
        status.remove(&[cond::FETCH_FAILED]);

        // Every sparse directory asked for is there.
        if let Err(message) = sparse::validate(work.path(), &sparse) {
            let error = Error::SparseCheckout { message };
            return Err(failed(status, cond::FETCH_FAILED, generation, error));
        }

        // Verify.
        match &spec.verify {
            Some(verify) => match self.verify(ctx, &namespace, verify, &resolved, &commit).await {
                Ok((mode, message)) => {
                    status.mark_true(cond::SOURCE_VERIFIED, cond::SUCCEEDED, &message, generation);
                    status.source_verification_mode = Some(mode);
                }
                Err(error) => {
                    status.mark_false(cond::SOURCE_VERIFIED, error.reason(), &error.to_string(), generation);
                    status.source_verification_mode = None;
                    return Err(error);
                }
            },
            None => {
                status.remove(&[cond::SOURCE_VERIFIED]);
                status.source_verification_mode = None;
            }
        }
        Ok(Source::Fetched(Box::new(Checkout { work, path, resolved, commit, includes, included })))
    }

    /// Include: copies each included artifact (its `fromPath`) to its
    /// `toPath` in the checked-out tree.
    ///
    /// Conditions: sets `StorageOperationFailed` (`IllegalPath`,
    /// `CopyFailure`) when an include cannot be copied; removes none.
    pub async fn reconcile_include(
        &self,
        repo: &GitRepository,
        status: &mut GitRepositoryStatus,
        checkout: Checkout,
    ) -> Result<Checkout, Error> {
        if checkout.includes.is_empty() {
            return Ok(checkout);
        }
        let storage = self.storage.clone();
        let copied = tokio::task::spawn_blocking(move || {
            include::copy_all(&storage, &checkout.includes, &checkout.included, checkout.work.path())
                .map(|()| checkout)
                .map_err(Error::from)
        })
        .await
        .unwrap_or_else(|source| Err(Error::from(include::Error::Task { source })));
        copied.map_err(|error| failed(status, cond::STORAGE_OPERATION_FAILED, repo.meta().generation, error))
    }

    /// Artifact: packs the tree through the step every source kind shares
    /// ([`store::publish`]: lock, archive minus ignored files, `latest.tar.gz`,
    /// `status.artifact`, `NewArtifact`, garbage collection), then records
    /// what shaped it (`observed*`, `includedArtifacts`).
    ///
    /// Conditions: those of [`store::publish`]: sets `ArtifactInStorage` or
    /// `StorageOperationFailed`, removes `ArtifactOutdated` and
    /// `StorageOperationFailed` on success.
    pub async fn reconcile_artifact(
        &self,
        ctx: &Context,
        repo: &GitRepository,
        status: &mut GitRepositoryStatus,
        checkout: Checkout,
    ) -> Result<Outcome, Error> {
        let spec = &repo.spec;
        let request = Publish {
            path: checkout.path.clone(),
            content: Content::Dir { dir: checkout.work.path().to_path_buf(), ignore: spec.ignore.clone() },
            revision: checkout.resolved.revision.clone(),
            latest: "latest.tar.gz".into(),
            event: Some(format!("stored artifact for commit '{}'", short_message(&checkout.commit.message))),
        };
        let published =
            store::publish(ctx, repo, &self.storage, status, artifact_of, request).await.map_err(StorageError::from)?;
        status.included_artifacts = (!checkout.included.is_empty()).then_some(checkout.included);
        status.observed_ignore = spec.ignore.clone();
        let sparse = spec.sparse_checkout.clone().unwrap_or_default();
        status.observed_sparse_checkout = (!sparse.is_empty()).then_some(sparse);
        status.observed_recurse_submodules = spec.recurse_submodules;
        status.observed_include = spec.include.clone();
        // NewArtifact was announced by the step, as Flux's only event for it.
        Ok(Outcome::ready(published.message).with_revision(checkout.resolved.revision).quiet())
    }

    /// The credentials `spec.secretRef` and `spec.proxySecretRef` describe,
    /// with the controller's SSH algorithms.
    async fn credentials(
        &self,
        ctx: &Context,
        namespace: &str,
        spec: &GitRepositorySpec,
    ) -> Result<ferry_git::Auth, Error> {
        let mut credentials = ferry_git::Auth::default();
        if let Some(secret) = &spec.secret_ref {
            let data = secret_data(ctx, namespace, &secret.name).await?;
            credentials = auth::from_secret(&data, is_ssh(&spec.url))
                .map_err(|source| Error::InvalidSecret { name: format!("{namespace}/{}", secret.name), source })?;
        }
        credentials.ssh_kex_algorithms = self.options.ssh_kex_algorithms.clone();
        credentials.ssh_host_key_algorithms = self.options.ssh_host_key_algorithms.clone();
        if let Some(proxy) = &spec.proxy_secret_ref {
            let data = secret_data(ctx, namespace, &proxy.name).await?;
            credentials.proxy = Some(
                auth::proxy_from_secret(&data)
                    .map_err(|source| Error::InvalidSecret { name: format!("{namespace}/{}", proxy.name), source })?,
            );
        }
        Ok(credentials)
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
                source: Some(e),
            })?;
            let Some(found) = found else {
                return Err(Error::IncludeUnavailable {
                    reason: source::INCLUDE_NOT_FOUND_REASON,
                    message: format!("could not get resource for include '{name}': not found"),
                    retry: self.options.requeue_dependency,
                    source: None,
                });
            };
            let Some(artifact) = found.status.and_then(|s| s.artifact) else {
                return Err(Error::IncludeUnavailable {
                    reason: source::INCLUDE_NO_ARTIFACT_REASON,
                    message: format!("no artifact available for include '{name}'"),
                    retry: self.options.requeue_dependency,
                    source: None,
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
        let keys = TrustedKeys::from_secret_data(data.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
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

/// The URL and timeout of a spec that can work; cloud providers are
/// refused rather than cloned anonymously.
fn checked_spec(spec: &GitRepositorySpec) -> Result<(String, Duration), Error> {
    let url = spec.url.clone();
    if !(url.starts_with("http://") || url.starts_with("https://") || is_ssh(&url)) {
        return Err(Error::InvalidUrl { url });
    }
    let timeout = match &spec.timeout {
        Some(text) => ferry_api_meta::duration::parse(text)
            .map_err(|source| Error::InvalidTimeout { value: text.clone(), source })?,
        None => DEFAULT_TIMEOUT,
    };
    let provider = match spec.provider.unwrap_or_default() {
        GitProvider::Generic => None,
        GitProvider::Aws => Some("aws"),
        GitProvider::Azure => Some("azure"),
        GitProvider::Github => Some("github"),
    };
    if let Some(provider) = provider {
        return Err(Error::UnsupportedProvider { provider });
    }
    Ok((url, timeout))
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

/// Runs blocking git work off the runtime, bounded by `timeout`.
async fn run_blocking<T, F>(timeout: Duration, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    match tokio::time::timeout(timeout, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(result)) => result,
        Ok(Err(source)) => Err(Error::GitTask { source }),
        Err(_) => Err(Error::GitTimeout(timeout)),
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
