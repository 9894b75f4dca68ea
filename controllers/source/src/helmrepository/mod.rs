//! HelmRepository: a chart repository's `index.yaml`, fetched, checked and
//! stored as Flux stores it (the artifact is the index as JSON, its
//! revision the digest of the index as fetched); or, for `type: oci`, a
//! static pointer to a registry with nothing to fetch or store.
//!
//! [`Reconciler::reconcile`] runs Flux's steps in order for `type: default`,
//! each a method that owns its conditions and hands a typed value to the
//! next:
//! 1. [`reconcile_storage`](HelmRepositoryReconciler::reconcile_storage):
//!    forgets a recorded artifact whose file is gone;
//! 2. [`reconcile_source`](HelmRepositoryReconciler::reconcile_source):
//!    spec, Secrets, the download; stops with [`Source::Unchanged`] when the
//!    index is the stored revision, else loads it ([`Fetched`]);
//! 3. [`reconcile_artifact`](HelmRepositoryReconciler::reconcile_artifact):
//!    the step every source kind shares ([`store::publish`]).
//!
//! `type: oci` goes to [`reconcile_oci`](HelmRepositoryReconciler::reconcile_oci).

pub mod auth;
mod error;
pub mod fetch;
pub mod index;

use ferry_sdk::artifact::store::StorageError;
use std::sync::Arc;
use std::time::Duration;

use ferry_api_meta::Artifact;
use ferry_api_meta::conditions as cond;
use ferry_api_source::{HelmRepository, HelmRepositorySpec, HelmRepositoryStatus, HelmRepositoryType};
use ferry_sdk::artifact::store::{self, Content, Publish};
use ferry_sdk::conditions::{StatusConditions, Summary};
use ferry_sdk::events::Severity;
use ferry_sdk::reconcile::Context;
use ferry_sdk::{Outcome, ReconcileError, Reconciler};
use ferry_storage::{ArtifactPath, DigestAlgorithm, Storage};
use kube::{Resource, ResourceExt};
use reqwest::Url;

pub use error::Error;
use fetch::Getter;

/// The kind, as used in artifact paths.
pub const KIND: &str = "HelmRepository";

/// The default `spec.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The default `--helm-index-max-size`.
pub const DEFAULT_INDEX_MAX_SIZE: u64 = 50 << 20;

/// The Ready message of an OCI HelmRepository (Flux v1.1's).
pub const OCI_READY_MESSAGE: &str = "Helm repository is ready";

/// The name of the link to the newest index in storage (Flux's).
pub const INDEX_LINK: &str = "index.yaml";

/// How HelmRepositories are fetched, from the controller's flags.
#[derive(Debug, Clone)]
pub struct HelmOptions {
    /// `--helm-index-max-size`: the largest index accepted, in bytes.
    pub index_max_size: u64,
}

impl Default for HelmOptions {
    fn default() -> Self {
        Self { index_max_size: DEFAULT_INDEX_MAX_SIZE }
    }
}

/// The HelmRepository reconciler.
pub struct HelmRepositoryReconciler {
    storage: Arc<Storage>,
    options: HelmOptions,
}

impl HelmRepositoryReconciler {
    /// A reconciler that stores index artifacts in `storage`.
    pub fn new(storage: Arc<Storage>) -> Self {
        Self { storage, options: HelmOptions::default() }
    }

    /// Sets the options from the controller's flags.
    pub fn with_options(mut self, options: HelmOptions) -> Self {
        self.options = options;
        self
    }
}

/// What [`HelmRepositoryReconciler::reconcile_source`] decided.
pub enum Source {
    /// The stored artifact already is this revision: nothing more to do.
    Unchanged {
        /// The revision (`sha256:...`).
        revision: String,
        /// The `ArtifactInStorage` message.
        message: String,
    },
    /// A new index to store.
    Fetched(Box<Fetched>),
}

/// A fetched and loaded index, with what its artifact needs.
pub struct Fetched {
    /// Where the artifact goes (`index-<hex>.yaml`).
    path: ArtifactPath,
    /// The digest of the index as fetched.
    revision: String,
    /// The index as Flux stores it (JSON).
    json: Vec<u8>,
    /// The repository URL, for the event.
    url: String,
}

/// Where the shared artifact step records the artifact.
fn artifact_of(status: &mut HelmRepositoryStatus) -> &mut Option<Artifact> {
    &mut status.artifact
}

/// Marks `type_` True with the error's reason and message, and hands the
/// error on: a step sets its condition where the failure happens.
fn failed(status: &mut HelmRepositoryStatus, type_: &str, generation: Option<i64>, error: Error) -> Error {
    status.mark_true(type_, error.reason(), &error.to_string(), generation);
    error
}

/// The `ArtifactInStorage` message, as Flux's HelmRepository words it.
fn stored_message(revision: &str) -> String {
    format!("stored artifact: revision '{revision}'")
}

impl Reconciler for HelmRepositoryReconciler {
    type Object = HelmRepository;
    type Error = Error;

    fn summary(&self) -> Summary {
        Summary::new(
            &[cond::STORAGE_OPERATION_FAILED, cond::FETCH_FAILED, cond::ARTIFACT_OUTDATED, cond::ARTIFACT_IN_STORAGE],
            &[cond::STORAGE_OPERATION_FAILED, cond::FETCH_FAILED, cond::ARTIFACT_OUTDATED],
        )
    }

    async fn reconcile(
        &self,
        repo: &HelmRepository,
        status: &mut HelmRepositoryStatus,
        ctx: &Context,
    ) -> Result<Outcome, Error> {
        if repo.spec.type_ == Some(HelmRepositoryType::Oci) {
            return self.reconcile_oci(ctx, repo, status).await;
        }
        self.reconcile_storage(repo, status);
        let fetched = match self.reconcile_source(ctx, repo, status).await? {
            Source::Unchanged { revision, message } => {
                let event = format!("artifact up-to-date with remote revision: '{revision}'");
                ctx.event(repo, Severity::Trace, cond::ARTIFACT_UP_TO_DATE, &event, &Default::default()).await;
                return Ok(Outcome::ready(message).with_revision(revision));
            }
            Source::Fetched(fetched) => *fetched,
        };
        self.reconcile_artifact(ctx, repo, status, fetched).await
    }

    async fn cleanup(&self, repo: &HelmRepository, _ctx: &Context) -> Result<(), Error> {
        let namespace = repo.namespace().unwrap_or_default();
        self.storage
            .remove_all(KIND, &namespace, &repo.name_any())
            .map(|_| ())
            .map_err(|source| StorageError::Cleanup { source }.into())
    }
}

impl HelmRepositoryReconciler {
    /// Storage: forgets `status.artifact` (and `status.url`) when its file
    /// is gone, so that it is fetched and stored again even when the index
    /// did not change; refreshes their URLs to this storage's address.
    ///
    /// Conditions: removes `ArtifactInStorage` when there is no artifact.
    pub fn reconcile_storage(&self, _repo: &HelmRepository, status: &mut HelmRepositoryStatus) {
        let recorded = store::Recorded::<HelmRepositoryStatus> {
            artifact: |s| &mut s.artifact,
            url: |s| &mut s.url,
            latest: INDEX_LINK,
        };
        store::verify_stored(&self.storage, status, &recorded);
    }

    /// Source: checks the spec, reads the Secrets, downloads the index and,
    /// unless it is the stored revision, loads it as Helm does and writes
    /// it as Flux stores it.
    ///
    /// Conditions: sets `FetchFailed` (`URLInvalid`, `AuthenticationFailed`,
    /// `Failed`, `IndexationFailed`), `ArtifactOutdated` (`NewRevision`),
    /// and `ArtifactInStorage` when unchanged; removes `FetchFailed` once
    /// the index is loaded (or unchanged), and `ArtifactOutdated` when
    /// unchanged.
    pub async fn reconcile_source(
        &self,
        ctx: &Context,
        repo: &HelmRepository,
        status: &mut HelmRepositoryStatus,
    ) -> Result<Source, Error> {
        let generation = repo.meta().generation;
        let fetch_failed =
            |status: &mut HelmRepositoryStatus, error| failed(status, cond::FETCH_FAILED, generation, error);
        let spec = &repo.spec;
        let namespace = repo.namespace().unwrap_or_default();
        let (url, timeout) = match checked_spec(spec) {
            Ok(checked) => checked,
            Err(error) => return Err(fetch_failed(status, error)),
        };
        let getter = match getter(ctx, &namespace, spec, url, timeout).await {
            Ok(getter) => getter,
            Err(error) => return Err(fetch_failed(status, error)),
        };
        let index_url = getter.index_url();
        let raw = match getter.get(&index_url, "index", self.options.index_max_size).await {
            Ok(raw) => raw,
            Err(source) => return Err(fetch_failed(status, Error::Fetch { source })),
        };

        // The revision is the digest of the index as served; an artifact of
        // that revision needs nothing more (Flux compares in the algorithm of
        // the recorded revision).
        if let Some(current) = &status.artifact {
            let algorithm = DigestAlgorithm::of_digest(&current.revision).ok();
            if algorithm.is_some_and(|a| a.digest(&raw) == current.revision) {
                let revision = current.revision.clone();
                let message = stored_message(&revision);
                status.remove(&[cond::FETCH_FAILED, cond::ARTIFACT_OUTDATED]);
                status.mark_true(cond::ARTIFACT_IN_STORAGE, cond::SUCCEEDED, &message, generation);
                return Ok(Source::Unchanged { revision, message });
            }
        }

        let loaded = index::load(&raw).map_err(|source| Error::Index { source });
        let json = match loaded.and_then(|index| index.to_json().map_err(|source| Error::IndexJson { source })) {
            Ok(json) => json,
            Err(error) => return Err(fetch_failed(status, error)),
        };
        status.remove(&[cond::FETCH_FAILED]);

        let revision = self.storage.algorithm().digest(&raw);
        if status.artifact.is_some() {
            let message = format!("new index revision '{revision}'");
            status.mark_true(cond::ARTIFACT_OUTDATED, ferry_api_source::NEW_REVISION_REASON, &message, generation);
        }
        let hex = revision.split_once(':').map_or(revision.as_str(), |(_, hex)| hex);
        let path = ArtifactPath::new(KIND, &namespace, &repo.name_any(), &format!("index-{hex}.yaml"))
            .map_err(|source| Error::from(StorageError::ArtifactPath { source }));
        let path = match path {
            Ok(path) => path,
            Err(error) => return Err(failed(status, cond::STORAGE_OPERATION_FAILED, generation, error)),
        };
        Ok(Source::Fetched(Box::new(Fetched { path, revision, json, url: spec.url.clone() })))
    }

    /// Artifact: stores the index JSON through the step every source kind
    /// shares ([`store::publish`]: lock, write, the `index.yaml` link,
    /// `status.artifact`, `NewArtifact`, garbage collection), and points
    /// `status.url` at the link.
    ///
    /// Conditions: those of [`store::publish`] (`ArtifactInStorage` or
    /// `StorageOperationFailed`; removes `ArtifactOutdated`), with
    /// `ArtifactInStorage` worded as Flux words it for this kind; sets
    /// `StorageOperationFailed` when the scratch file cannot be written.
    pub async fn reconcile_artifact(
        &self,
        ctx: &Context,
        repo: &HelmRepository,
        status: &mut HelmRepositoryStatus,
        fetched: Fetched,
    ) -> Result<Outcome, Error> {
        let generation = repo.meta().generation;
        let scratch =
            tempfile::Builder::new().prefix("helmrepository-").suffix(".json").tempfile().and_then(|mut f| {
                std::io::Write::write_all(&mut f, &fetched.json)?;
                Ok(f)
            });
        let scratch = match scratch {
            Ok(scratch) => scratch,
            Err(source) => {
                let error = Error::from(StorageError::Scratch {
                    message: "failed to write the index to a temporary file",
                    source,
                });
                return Err(failed(status, cond::STORAGE_OPERATION_FAILED, generation, error));
            }
        };
        let event =
            format!("stored fetched index of size {} from '{}'", human_size(fetched.json.len() as f64), fetched.url);
        let request = Publish {
            path: fetched.path.clone(),
            content: Content::File(scratch.path().to_path_buf()),
            revision: fetched.revision.clone(),
            latest: INDEX_LINK.into(),
            event: Some(event),
        };
        store::publish(ctx, repo, &self.storage, status, artifact_of, request).await.map_err(StorageError::from)?;
        let message = stored_message(&fetched.revision);
        status.mark_true(cond::ARTIFACT_IN_STORAGE, cond::SUCCEEDED, &message, generation);
        if let Ok(link) = fetched.path.sibling(INDEX_LINK) {
            status.url = Some(self.storage.url(&link));
        }
        // NewArtifact was announced by the step, as Flux's only event for it.
        Ok(Outcome::ready(message).with_revision(fetched.revision).quiet())
    }

    /// An OCI repository: nothing is fetched or stored (HelmCharts pull
    /// from the registry themselves). Flux v1.2 and later leave such an
    /// object without status or finalizer; Ferry's harness always records
    /// one, so it gives v1.1's: Ready with `Succeeded` and "Helm repository
    /// is ready" once the URL is `oci://` and the Secrets are usable.
    /// Artifacts left from a `type: default` past are removed, as Flux's
    /// garbage collection does on a type change.
    ///
    /// Conditions: removes every artifact condition (`FetchFailed`,
    /// `ArtifactInStorage`, `ArtifactOutdated`, `StorageOperationFailed`).
    pub async fn reconcile_oci(
        &self,
        ctx: &Context,
        repo: &HelmRepository,
        status: &mut HelmRepositoryStatus,
    ) -> Result<Outcome, Error> {
        let namespace = repo.namespace().unwrap_or_default();
        status.remove(&[
            cond::FETCH_FAILED,
            cond::ARTIFACT_IN_STORAGE,
            cond::ARTIFACT_OUTDATED,
            cond::STORAGE_OPERATION_FAILED,
        ]);
        if status.artifact.is_some() || status.url.is_some() {
            self.storage
                .remove_all(KIND, &namespace, &repo.name_any())
                .map_err(|source| StorageError::Cleanup { source })?;
            status.artifact = None;
            status.url = None;
        }
        let spec = &repo.spec;
        let scheme = spec.url.split_once("://").map_or("", |(scheme, _)| scheme);
        if scheme != "oci" {
            return Err(Error::InvalidOciUrl { scheme: scheme.to_string(), url: spec.url.clone() });
        }
        if let Some(timeout) = &spec.timeout {
            ferry_api_meta::duration::parse(timeout)
                .map_err(|source| Error::InvalidTimeout { value: timeout.clone(), source })?;
        }
        if let Some(secret) = &spec.cert_secret_ref {
            let data = read_secret(ctx, &namespace, &secret.name, "TLS authentication").await?;
            let name = format!("{namespace}/{}", secret.name);
            auth::tls_from_secret(&name, &data, true).map_err(|source| Error::InvalidSecret {
                context: "failed to construct Helm client's TLS config",
                source,
            })?;
        }
        if let Some(secret) = &spec.secret_ref {
            let data = read_secret(ctx, &namespace, &secret.name, "authentication").await?;
            let name = format!("{namespace}/{}", secret.name);
            let basic = auth::basic_from_secret(&name, &data).map_err(|source| Error::InvalidSecret {
                context: "failed to detect authentication methods",
                source,
            })?;
            if basic.is_none() && !data.contains_key(".dockerconfigjson") {
                return Err(Error::NoRegistryCredentials { secret: name });
            }
        }
        Ok(Outcome::ready(OCI_READY_MESSAGE))
    }
}

/// The getter the spec and its Secrets describe: TLS from
/// `certSecretRef` (else, deprecated, from `secretRef`), basic auth from
/// `secretRef`.
pub(crate) async fn getter(
    ctx: &Context,
    namespace: &str,
    spec: &HelmRepositorySpec,
    url: Url,
    timeout: Duration,
) -> Result<Getter, Error> {
    let mut tls = None;
    if let Some(secret) = &spec.cert_secret_ref {
        let data = read_secret(ctx, namespace, &secret.name, "TLS authentication").await?;
        tls = auth::tls_from_secret(&format!("{namespace}/{}", secret.name), &data, true).map_err(|source| {
            Error::InvalidSecret { context: "failed to construct Helm client's TLS config", source }
        })?;
    }
    let mut basic = None;
    if let Some(secret) = &spec.secret_ref {
        let data = read_secret(ctx, namespace, &secret.name, "authentication").await?;
        let name = format!("{namespace}/{}", secret.name);
        let invalid = |source| Error::InvalidSecret { context: "failed to detect authentication methods", source };
        basic = auth::basic_from_secret(&name, &data).map_err(invalid)?;
        if tls.is_none() {
            tls = auth::tls_from_secret(&name, &data, false).map_err(invalid)?;
            if tls.is_some() {
                tracing::info!(
                    "warning: specifying TLS authentication data via `.spec.secretRef` is deprecated, please use `.spec.certSecretRef` instead"
                );
            }
        }
    }
    Getter::new(url, basic, tls, spec.pass_credentials.unwrap_or(false), timeout).map_err(Error::Client)
}

/// A referenced Secret's data, read by the SDK's one Secret reader.
async fn read_secret(
    ctx: &Context,
    namespace: &str,
    name: &str,
    what: &'static str,
) -> Result<ferry_sdk::secret::Data, Error> {
    ferry_sdk::secret::read(ctx.client(), namespace, name).await.map_err(|source| Error::Secret { what, source })
}

/// The URL and timeout of a `type: default` spec that can work.
pub(crate) fn checked_spec(spec: &HelmRepositorySpec) -> Result<(Url, Duration), Error> {
    let invalid = |message: String, source| Error::InvalidUrl { message, source };
    if spec.url.starts_with("oci://") {
        return Err(invalid("'oci' URL scheme cannot be used with 'default' HelmRepository type".into(), None));
    }
    let url = Url::parse(&spec.url).map_err(|e| invalid(format!("parse {:?}: {e}", spec.url), Some(e)))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!("scheme {:?} not supported", url.scheme()), None));
    }
    let timeout = match &spec.timeout {
        Some(text) => ferry_api_meta::duration::parse(text)
            .map_err(|source| Error::InvalidTimeout { value: text.clone(), source })?,
        None => DEFAULT_TIMEOUT,
    };
    Ok((url, timeout))
}

/// A size as Docker's `units.HumanSize` writes it (Flux's event wording):
/// decimal units, four significant digits.
pub fn human_size(mut size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    // Go's %.4g: four significant digits, trailing zeros dropped.
    let digits = if size == 0.0 { 1 } else { size.abs().log10().floor() as i32 + 1 };
    let decimals = (4 - digits).max(0) as usize;
    let mut text = format!("{size:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human_as_docker_writes_them() {
        assert_eq!(human_size(532.0), "532B");
        assert_eq!(human_size(1234.0), "1.234kB");
        assert_eq!(human_size(1500.0), "1.5kB");
        assert_eq!(human_size(12_345_678.0), "12.35MB");
        assert_eq!(human_size(0.0), "0B");
    }

    #[test]
    fn oci_urls_are_refused_for_default_repositories() {
        let spec = HelmRepositorySpec { url: "oci://ghcr.io/x".into(), ..Default::default() };
        let error = checked_spec(&spec).unwrap_err();
        assert_eq!(error.reason(), cond::URL_INVALID);
        assert_eq!(
            error.to_string(),
            "invalid Helm repository URL: 'oci' URL scheme cannot be used with 'default' HelmRepository type"
        );
    }
}
