//! HelmChart: a chart pulled from the index of its HelmRepository, or
//! packaged from a path in its GitRepository's artifact, stored as Flux
//! stores it (`<name>-<version>.tgz`, revision the chart version).
//!
//! [`Reconciler::reconcile`] runs Flux's steps in order, each a method that
//! owns its conditions and hands a typed value to the next:
//! 1. [`reconcile_storage`](HelmChartReconciler::reconcile_storage): forgets
//!    a recorded artifact whose file is gone;
//! 2. [`reconcile_source`](HelmChartReconciler::reconcile_source): the
//!    source, its artifact, the build ([`build::Build`]): from a
//!    HelmRepository ([`remote`]: version selection, download with the
//!    repository's credentials) or from a GitRepository ([`local`]); a
//!    chart of the name and version already stored is not built again;
//! 3. [`reconcile_artifact`](HelmChartReconciler::reconcile_artifact): the
//!    step every source kind shares ([`store::publish`]).
//!
//! HelmRepositories of `type: oci` ([`oci`]) have no artifact: the chart
//! is pulled from the registry, its signature verified first with
//! `spec.verify` ([`crate::verify`]). Charts from a Bucket are built from
//! its artifact as from a GitRepository's. `spec.verify` is refused for
//! charts from HTTP/S repositories and ignored for those built from an
//! artifact, as in Flux.

mod artifact;
pub mod build;
pub mod dependency;
mod error;
pub mod local;
pub mod oci;
pub mod pulled;
pub mod remote;

use ferry_sdk::artifact::store::StorageError;
use std::sync::Arc;
use std::time::Duration;

use ferry_api_meta::Artifact;
use ferry_api_meta::conditions as cond;
use ferry_api_source::{
    Bucket, GitRepository, HelmChart, HelmChartSourceKind, HelmChartStatus, HelmRepository, HelmRepositoryType,
    ReconcileStrategy,
};
use ferry_sdk::artifact::Limits;
use ferry_sdk::artifact::store::{self, Content, Publish};
use ferry_sdk::conditions::{StatusConditions, Summary};
use ferry_sdk::events::Severity;
use ferry_sdk::reconcile::Context;
use ferry_sdk::{Outcome, ReconcileError, Reconciler};
use ferry_storage::{ArtifactPath, Storage};
use kube::api::Api;
use kube::{Resource, ResourceExt};

use crate::verify::Verifier;
use build::{Build, BuildError, Cause, Reason};
pub use error::Error;

/// The kind, as used in artifact paths.
pub const KIND: &str = "HelmChart";

/// The name of the link to the newest chart in storage (Flux's).
pub const LATEST_LINK: &str = "latest.tar.gz";

/// The default `--helm-chart-max-size`.
pub const DEFAULT_CHART_MAX_SIZE: u64 = 10 << 20;

/// The default `--helm-chart-file-max-size` (Helm's own limit).
pub const DEFAULT_CHART_FILE_MAX_SIZE: u64 = 5 << 20;

/// The reason of `ArtifactOutdated` when a new chart is built (Flux's).
pub const NEW_CHART_REASON: &str = "NewChart";

/// How HelmCharts are built, from the controller's flags.
#[derive(Debug, Clone)]
pub struct HelmChartOptions {
    /// `--helm-chart-max-size`: the largest chart downloaded, in bytes.
    pub chart_max_size: u64,
    /// `--helm-chart-file-max-size`: the largest file in a chart, in bytes.
    pub chart_file_max_size: u64,
    /// `--requeue-dependency`: how long to wait for a source's artifact.
    pub requeue_dependency: Duration,
}

impl Default for HelmChartOptions {
    fn default() -> Self {
        Self {
            chart_max_size: DEFAULT_CHART_MAX_SIZE,
            chart_file_max_size: DEFAULT_CHART_FILE_MAX_SIZE,
            requeue_dependency: crate::gitrepository::REQUEUE_DEPENDENCY,
        }
    }
}

/// The HelmChart reconciler.
pub struct HelmChartReconciler {
    storage: Arc<Storage>,
    options: HelmChartOptions,
}

impl HelmChartReconciler {
    /// A reconciler that stores chart artifacts in `storage`.
    pub fn new(storage: Arc<Storage>) -> Self {
        Self { storage, options: HelmChartOptions::default() }
    }

    /// Sets the options from the controller's flags.
    pub fn with_options(mut self, options: HelmChartOptions) -> Self {
        self.options = options;
        self
    }
}

/// The source a HelmChart names, read.
enum ChartSource {
    /// A chart repository's index.
    Repository(Box<HelmRepository>),
    /// A Git repository's files.
    Git(Box<GitRepository>),
    /// A bucket's objects.
    Bucket(Box<Bucket>),
}

/// Where the shared artifact step records the artifact.
fn artifact_of(status: &mut HelmChartStatus) -> &mut Option<Artifact> {
    &mut status.artifact
}

impl Reconciler for HelmChartReconciler {
    type Object = HelmChart;
    type Error = Error;

    fn summary(&self) -> Summary {
        Summary::new(
            &[
                cond::STORAGE_OPERATION_FAILED,
                cond::FETCH_FAILED,
                cond::BUILD_FAILED,
                cond::ARTIFACT_OUTDATED,
                cond::ARTIFACT_IN_STORAGE,
                cond::SOURCE_VERIFIED,
            ],
            &[cond::STORAGE_OPERATION_FAILED, cond::FETCH_FAILED, cond::BUILD_FAILED, cond::ARTIFACT_OUTDATED],
        )
    }

    async fn reconcile(
        &self,
        chart: &HelmChart,
        status: &mut HelmChartStatus,
        ctx: &Context,
    ) -> Result<Outcome, Error> {
        // Flux announces a recovery as it announces a new chart.
        let recovering = [cond::FETCH_FAILED, cond::BUILD_FAILED, cond::STORAGE_OPERATION_FAILED]
            .iter()
            .any(|type_| status.is_true(type_));
        self.reconcile_storage(chart, status);
        let build = self.reconcile_source(ctx, chart, status).await?;
        self.reconcile_artifact(ctx, chart, status, build, recovering).await
    }

    async fn cleanup(&self, chart: &HelmChart, _ctx: &Context) -> Result<(), Error> {
        let namespace = chart.namespace().unwrap_or_default();
        self.storage
            .remove_all(KIND, &namespace, &chart.name_any())
            .map(|_| ())
            .map_err(|source| StorageError::Cleanup { source }.into())
    }
}

impl HelmChartReconciler {
    /// Storage: forgets `status.artifact` (and `status.url`) when its file
    /// is gone, so that the chart is built again; refreshes their URLs to
    /// this storage's address.
    ///
    /// Conditions: removes `ArtifactInStorage` when there is no artifact.
    pub fn reconcile_storage(&self, _chart: &HelmChart, status: &mut HelmChartStatus) {
        let recorded = store::Recorded::<HelmChartStatus> {
            artifact: |s| &mut s.artifact,
            url: |s| &mut s.url,
            latest: LATEST_LINK,
        };
        store::verify_stored(&self.storage, status, &recorded);
    }

    /// Source: reads the source and its artifact, then pulls or builds the
    /// chart; stops at a chart of the name and version already stored
    /// (unless the spec changed).
    ///
    /// Conditions: sets `FetchFailed` (`SourceUnavailable`,
    /// `UnsupportedSourceKind`, `NoSourceArtifact`, `AuthenticationFailed`,
    /// `InvalidChartReference`, `ChartPullError`, ...) or `BuildFailed`
    /// (`ChartPackageError`, `ValuesFilesError`, `DependencyBuildError`,
    /// `MetadataPatchError`, `ChartVerificationError`, with `SourceVerified`
    /// False for the last), removing the other; removes both on success;
    /// sets `ArtifactOutdated` (`NewChart`) when the build differs from the
    /// stored artifact, with `Reconciling` (`building artifact: ...`)
    /// written at once as progress. `SourceVerified`: a False one is removed
    /// before the chart is looked at again; True (`Succeeded`) when a
    /// signature verified; False (`VerificationError`) alone when the
    /// verifier cannot be made; removed without `spec.verify` or when the
    /// trust policy ignores the result.
    pub async fn reconcile_source(
        &self,
        ctx: &Context,
        chart: &HelmChart,
        status: &mut HelmChartStatus,
    ) -> Result<Build, Error> {
        let generation = chart.meta().generation;
        // A failed verification is recomputed on every reconcile, as Flux does.
        if cond::is_false(status.conditions.as_deref().unwrap_or_default(), cond::SOURCE_VERIFIED) {
            status.remove(&[cond::SOURCE_VERIFIED]);
        }
        let result = self.build(ctx, chart, status).await;
        if chart.spec.verify.is_none() {
            status.remove(&[cond::SOURCE_VERIFIED]);
        }
        match &result {
            Ok(build) => {
                status.remove(&[cond::FETCH_FAILED, cond::BUILD_FAILED]);
                if build.verified {
                    let message = format!("verified signature of version {}", build.version);
                    status.mark_true(cond::SOURCE_VERIFIED, cond::SUCCEEDED, &message, generation);
                } else {
                    // A trust policy that ignores the result: no claim either way.
                    status.remove(&[cond::SOURCE_VERIFIED]);
                }
                let stored = status.artifact.as_ref().map(|a| a.revision.as_str());
                if status.observed_chart_name.as_deref() != Some(&build.name) || stored != Some(&build.version) {
                    if status.artifact.is_some() {
                        status.mark_true(cond::ARTIFACT_OUTDATED, NEW_CHART_REASON, &build.summary(), generation);
                    }
                    let message = format!("building artifact: {}", build.summary());
                    status.mark_true(cond::RECONCILING, cond::PROGRESSING, &message, generation);
                    ctx.report_progress(chart, status).await;
                }
            }
            // Flux marks only SourceVerified when the verifier cannot be made.
            Err(error @ Error::Verifier { .. }) => {
                status.mark_false(cond::SOURCE_VERIFIED, error.reason(), &error.to_string(), generation);
            }
            Err(error) => {
                let (set, other) = match error.condition() {
                    cond::BUILD_FAILED => (cond::BUILD_FAILED, cond::FETCH_FAILED),
                    _ => (cond::FETCH_FAILED, cond::BUILD_FAILED),
                };
                status.remove(&[other]);
                status.mark_true(set, error.reason(), &error.to_string(), generation);
                if let Error::Build(build) = error
                    && build.reason == Reason::Verification
                {
                    status.mark_false(cond::SOURCE_VERIFIED, cond::VERIFICATION_ERROR, &error.to_string(), generation);
                }
            }
        }
        result
    }

    /// The build for the chart's source kind.
    async fn build(&self, ctx: &Context, chart: &HelmChart, status: &mut HelmChartStatus) -> Result<Build, Error> {
        let source = self.source(ctx, chart).await?;
        let source_ref = &chart.spec.source_ref;
        let no_artifact = || Error::NoSourceArtifact {
            kind: format!("{:?}", source_ref.kind),
            name: source_ref.name.clone(),
            retry: self.options.requeue_dependency,
        };
        match source {
            ChartSource::Repository(repo) => {
                // An OCI repository has no artifact: the chart comes from the registry.
                if repo.spec.type_ == Some(HelmRepositoryType::Oci) {
                    return self.build_from_oci_repository(ctx, chart, status, &repo).await;
                }
                let artifact = repo.status.as_ref().and_then(|s| s.artifact.clone()).ok_or_else(no_artifact)?;
                status.observed_source_artifact_revision = Some(artifact.revision.clone());
                self.build_from_repository(ctx, chart, status, &repo, &artifact).await
            }
            ChartSource::Git(repo) => {
                let artifact = repo.status.as_ref().and_then(|s| s.artifact.clone()).ok_or_else(no_artifact)?;
                status.observed_source_artifact_revision = Some(artifact.revision.clone());
                self.build_from_tarball(ctx, chart, status, &artifact).await
            }
            ChartSource::Bucket(bucket) => {
                let artifact = bucket.status.as_ref().and_then(|s| s.artifact.clone()).ok_or_else(no_artifact)?;
                status.observed_source_artifact_revision = Some(artifact.revision.clone());
                self.build_from_tarball(ctx, chart, status, &artifact).await
            }
        }
    }

    /// The object `spec.sourceRef` names.
    async fn source(&self, ctx: &Context, chart: &HelmChart) -> Result<ChartSource, Error> {
        let namespace = chart.namespace().unwrap_or_default();
        let source_ref = &chart.spec.source_ref;
        let failed = |kind: &'static str, source: kube::Error| match &source {
            kube::Error::Api(status) if status.code == 404 => Error::SourceNotFound {
                kind: kind.to_string(),
                namespace: namespace.clone(),
                name: source_ref.name.clone(),
            },
            _ => Error::SourceUnavailable { source },
        };
        let client = ctx.client().clone();
        match source_ref.kind {
            HelmChartSourceKind::HelmRepository => {
                let api: Api<HelmRepository> = Api::namespaced(client, &namespace);
                let repo = api.get(&source_ref.name).await.map_err(|e| failed("HelmRepository", e))?;
                Ok(ChartSource::Repository(Box::new(repo)))
            }
            HelmChartSourceKind::GitRepository => {
                let api: Api<GitRepository> = Api::namespaced(client, &namespace);
                let repo = api.get(&source_ref.name).await.map_err(|e| failed("GitRepository", e))?;
                Ok(ChartSource::Git(Box::new(repo)))
            }
            HelmChartSourceKind::Bucket => {
                let api: Api<Bucket> = Api::namespaced(client, &namespace);
                let bucket = api.get(&source_ref.name).await.map_err(|e| failed("Bucket", e))?;
                Ok(ChartSource::Bucket(Box::new(bucket)))
            }
        }
    }

    /// The name and version of the stored chart, unless the spec changed
    /// since it was built (Flux's `Force`).
    fn cached(&self, chart: &HelmChart, status: &HelmChartStatus) -> Option<(String, String)> {
        if chart.meta().generation != status.observed_generation {
            return None;
        }
        let artifact = status.artifact.as_ref()?;
        Some((status.observed_chart_name.clone()?, artifact.revision.clone()))
    }

    /// Flux's `buildFromHelmRepository`: the repository's stored index, the
    /// version `spec.version` selects, the chart downloaded with the
    /// repository's credentials, repackaged when values files or build
    /// metadata change it.
    async fn build_from_repository(
        &self,
        ctx: &Context,
        chart: &HelmChart,
        status: &HelmChartStatus,
        repo: &HelmRepository,
        source_artifact: &Artifact,
    ) -> Result<Build, Error> {
        let namespace = repo.namespace().unwrap_or_default();
        let spec = &repo.spec;
        let (url, timeout) = crate::helmrepository::checked_spec(spec).map_err(Error::Repository)?;
        let getter =
            crate::helmrepository::getter(ctx, &namespace, spec, url, timeout).await.map_err(Error::Repository)?;
        if chart.spec.verify.is_some() {
            return Err(BuildError::new(Reason::Verification, Cause::VerificationUnsupported).into());
        }
        build::validate_name(&chart.spec.chart)?;

        let index = artifact::index(source_artifact).await.map_err(|source| Error::SourceArtifact { source })?;

        let version = chart.spec.version.as_deref().unwrap_or_default();
        let cv = remote::chart_version(&index, &chart.spec.chart, version)
            .map_err(|e| BuildError::new(Reason::Reference, Cause::Version(e)))?;
        let values_files = chart.spec.values_files.clone().unwrap_or_default();
        let effective = build::effective_values_files(&values_files).to_vec();
        let name = cv.metadata.as_ref().map(|m| m.name.clone()).unwrap_or_default();
        let mut result = Build { name, version: cv.version().to_string(), ..Build::default() };
        // Values files make a new chart of every spec: the generation marks it.
        let version_metadata = if effective.is_empty() { String::new() } else { generation(chart).to_string() };
        if !version_metadata.is_empty() {
            result.version = build::with_metadata(&result.version, &version_metadata)?;
        }
        let requires_packaging = !effective.is_empty() || !version_metadata.is_empty();
        if self.cached(chart, status) == Some((result.name.clone(), result.version.clone())) {
            result.values_files = status.observed_values_files.clone().unwrap_or(effective);
            result.packaged = requires_packaging;
            return Ok(result);
        }

        let download = remote::chart_url(&spec.url, cv).map_err(|e| BuildError::new(Reason::Pull, Cause::Url(e)))?;
        let data = match getter.get(&download, "chart", self.options.chart_max_size).await {
            Ok(data) => data,
            Err(e) => {
                let error = BuildError::new(Reason::Pull, Cause::Download(e));
                // Flux's test: these words in the message mean the
                // credentials (or the TLS settings) are wrong.
                let text = error.to_string();
                let auth = ["401", "unauthorized", "authentication required", "tls", "unknown certificate authority"];
                if auth.iter().any(|word| text.contains(word)) {
                    return Err(Error::Authentication { source: error });
                }
                return Err(error.into());
            }
        };
        let ignore_missing = chart.spec.ignore_missing_values_files.unwrap_or(false);
        let max_file = self.options.chart_file_max_size;
        let task = tokio::task::spawn_blocking(move || {
            pulled::finish(data, result, &values_files, ignore_missing, requires_packaging, max_file)
        });
        Ok(task.await.map_err(|source| Error::Task { source })??)
    }

    /// Flux's `buildFromHelmRepository` for a HelmRepository of `type: oci`:
    /// the version `spec.version` selects among the registry's tags, the
    /// chart layer pulled with the repository's credentials, repackaged
    /// when values files change it.
    async fn build_from_oci_repository(
        &self,
        ctx: &Context,
        chart: &HelmChart,
        status: &HelmChartStatus,
        repo: &HelmRepository,
    ) -> Result<Build, Error> {
        let namespace = repo.namespace().unwrap_or_default();
        let url = repo.spec.url.trim_end_matches('/');
        let registry = url.strip_prefix("oci://").and_then(|r| r.split('/').next()).unwrap_or_default();
        let options = oci::client_options(ctx, &namespace, &repo.spec, registry)
            .await
            .map_err(|source| Error::OciOptions { source })?;
        let repository =
            oci::OciChartRepository::new(url, options).map_err(|source| Error::OciRepository { source })?;
        let verifier = match &chart.spec.verify {
            Some(verify) => {
                let secret = verify.secret_ref.as_ref();
                let chart_namespace = chart.namespace().unwrap_or_default();
                let made =
                    Verifier::new(ctx, &chart_namespace, verify.provider, secret, false, &chart.name_any()).await;
                let provider = crate::verify::provider_name(verify.provider, secret);
                Some(made.map_err(|source| Error::Verifier { provider, source })?)
            }
            None => None,
        };
        build::validate_name(&chart.spec.chart)?;
        let remote = repository.chart(&chart.spec.chart).map_err(|source| Error::OciRepository { source })?;
        let pull_failed = |cause: Cause| {
            let error = BuildError::new(Reason::Pull, cause);
            // Flux's test on the message: a refusal of the credentials.
            let text = error.to_string();
            let auth = ["401", "unauthorized", "authentication required", "tls", "unknown certificate authority"];
            if auth.iter().any(|word| text.contains(word)) {
                Error::Authentication { source: error }
            } else {
                error.into()
            }
        };
        let wanted = chart.spec.version.as_deref().unwrap_or_default();
        let version = remote.version(wanted).await.map_err(|e| pull_failed(Cause::OciVersion(e)))?;
        // Verified on every reconcile, stored or not (Flux's `Verify`).
        let mut manifest = None;
        let mut verified = false;
        if let Some(verifier) = &verifier {
            let pulled = remote.manifest(&version).await.map_err(|e| pull_failed(Cause::OciDownload(e)))?;
            let url = remote.reference(&version);
            let name = format!("{}:{}", remote.client().repository().name(), oci::tag(&version));
            match verifier.verify(remote.client(), &name, &pulled.digest).await {
                Ok(outcome) => verified = outcome == crate::verify::Outcome::Verified,
                Err(source @ crate::verify::VerifyError::NoMatch(_)) => {
                    return Err(BuildError::new(Reason::Verification, Cause::SignatureMismatch(source)).into());
                }
                Err(source) => return Err(BuildError::new(Reason::Verification, Cause::Verify { url, source }).into()),
            }
            manifest = Some(pulled);
        }

        let values_files = chart.spec.values_files.clone().unwrap_or_default();
        let effective = build::effective_values_files(&values_files).to_vec();
        let mut result =
            Build { name: chart.spec.chart.clone(), version: version.clone(), verified, ..Build::default() };
        // Values files make a new chart of every spec: the generation marks it.
        let version_metadata = if effective.is_empty() { String::new() } else { generation(chart).to_string() };
        if !version_metadata.is_empty() {
            result.version = build::with_metadata(&result.version, &version_metadata)?;
        }
        let requires_packaging = !effective.is_empty() || !version_metadata.is_empty();
        if self.cached(chart, status) == Some((result.name.clone(), result.version.clone())) {
            result.values_files = status.observed_values_files.clone().unwrap_or(effective);
            result.packaged = requires_packaging;
            return Ok(result);
        }

        let pulled = match manifest {
            Some(pulled) => pulled,
            None => remote.manifest(&version).await.map_err(|e| pull_failed(Cause::OciDownload(e)))?,
        };
        let data = remote
            .download(&version, &pulled, self.options.chart_max_size)
            .await
            .map_err(|e| pull_failed(Cause::OciDownload(e)))?;
        let ignore_missing = chart.spec.ignore_missing_values_files.unwrap_or(false);
        let max_file = self.options.chart_file_max_size;
        let task = tokio::task::spawn_blocking(move || {
            pulled::finish(data, result, &values_files, ignore_missing, requires_packaging, max_file)
        });
        Ok(task.await.map_err(|source| Error::Task { source })??)
    }

    /// Flux's `buildFromTarballArtifact`: the source artifact unpacked, the
    /// chart built from its path ([`local::build`]).
    async fn build_from_tarball(
        &self,
        ctx: &Context,
        chart: &HelmChart,
        status: &HelmChartStatus,
        source_artifact: &Artifact,
    ) -> Result<Build, Error> {
        let scratch = tempfile::Builder::new().prefix("helmchart-source-").tempdir().map_err(|source| {
            StorageError::Scratch { message: "failed to create temporary working directory", source }
        })?;
        let archive = scratch.path().join("source.tar.gz");
        let root = scratch.path().join("source");
        std::fs::create_dir(&root).map_err(|source| StorageError::Scratch {
            message: "failed to create directory to untar source into",
            source,
        })?;
        artifact::fetch(source_artifact, &archive).await.map_err(|source| Error::SourceArtifact { source })?;
        ferry_sdk::artifact::extract_file(&archive, &root, Limits::default())
            .await
            .map_err(|source| Error::Untar { source })?;

        let mut metadata = String::new();
        if chart.spec.reconcile_strategy == Some(ReconcileStrategy::Revision) {
            metadata = short_revision(&source_artifact.revision);
        }
        let values_files = chart.spec.values_files.clone().unwrap_or_default();
        if !build::effective_values_files(&values_files).is_empty() {
            if !metadata.is_empty() {
                metadata.push('.');
            }
            metadata.push_str(&generation(chart).to_string());
        }
        let options = local::Options {
            values_files,
            ignore_missing_values_files: chart.spec.ignore_missing_values_files.unwrap_or(false),
            version_metadata: metadata,
            cached: self.cached(chart, status),
            cached_values_files: status.observed_values_files.clone(),
            max_file_size: self.options.chart_file_max_size,
        };
        let path = chart.spec.chart.clone();
        let task = tokio::task::spawn_blocking(move || {
            let prepared = local::prepare(&root, &path, &options);
            drop(scratch);
            prepared
        });
        let prepared = match task.await.map_err(|source| Error::Task { source })?? {
            local::Step::Done(build) => return Ok(build),
            local::Step::Package(prepared) => prepared,
        };
        let namespace = chart.namespace().unwrap_or_default();
        let remote = dependency::fetch(
            ctx,
            &namespace,
            &prepared.remote,
            self.options.chart_max_size,
            self.options.chart_file_max_size,
        )
        .await?;
        let task = tokio::task::spawn_blocking(move || local::finish(*prepared, remote));
        Ok(task.await.map_err(|source| Error::Task { source })??)
    }

    /// Artifact: stores a new chart through the step every source kind
    /// shares ([`store::publish`]), records the chart's name and values
    /// files, and announces the pull or package as Flux does (for a new
    /// artifact, or a recovery from a failure); a chart already stored is
    /// kept.
    ///
    /// Conditions: those of [`store::publish`] (`StorageOperationFailed`;
    /// removes `ArtifactOutdated`), and `ArtifactInStorage` with the build's
    /// reason (`ChartPullSucceeded`, `ChartPackageSucceeded`) and summary.
    pub async fn reconcile_artifact(
        &self,
        ctx: &Context,
        chart: &HelmChart,
        status: &mut HelmChartStatus,
        build: Build,
        recovering: bool,
    ) -> Result<Outcome, Error> {
        let generation = chart.meta().generation;
        let summary = build.summary();
        let reason = build.reason();
        let Some(package) = &build.package else {
            status.remove(&[cond::ARTIFACT_OUTDATED]);
            status.mark_true(cond::ARTIFACT_IN_STORAGE, reason, &summary, generation);
            let event = format!("artifact up-to-date with remote revision: '{}'", build.version);
            ctx.event(chart, Severity::Trace, cond::ARTIFACT_UP_TO_DATE, &event, &Default::default()).await;
            if recovering {
                ctx.event(chart, Severity::Info, reason, &summary, &Default::default()).await;
            }
            return Ok(Outcome::ready(summary).with_ready_reason(reason).with_revision(build.version).quiet());
        };
        let namespace = chart.namespace().unwrap_or_default();
        let file = format!("{}-{}.tgz", build.name, build.version);
        let path = ArtifactPath::new(KIND, &namespace, &chart.name_any(), &file)
            .map_err(|source| StorageError::ArtifactPath { source })
            .inspect_err(|error| {
                status.mark_true(cond::STORAGE_OPERATION_FAILED, error.reason(), &error.to_string(), generation);
            })?;
        let scratch = tempfile::Builder::new().prefix("helmchart-").suffix(".tgz").tempfile().and_then(|mut f| {
            std::io::Write::write_all(&mut f, package)?;
            Ok(f)
        });
        let scratch = match scratch {
            Ok(scratch) => scratch,
            Err(source) => {
                let error = Error::from(StorageError::Scratch {
                    message: "failed to write the chart to a temporary file",
                    source,
                });
                status.mark_true(cond::STORAGE_OPERATION_FAILED, error.reason(), &error.to_string(), generation);
                return Err(error);
            }
        };
        let request = Publish {
            path: path.clone(),
            content: Content::File(scratch.path().to_path_buf()),
            revision: build.version.clone(),
            latest: LATEST_LINK.into(),
            // Flux's HelmChart announces a new artifact as ChartPullSucceeded/ChartPackageSucceeded (below).
            event: None,
        };
        let published = store::publish(ctx, chart, &self.storage, status, artifact_of, request)
            .await
            .map_err(StorageError::from)?;
        status.observed_chart_name = Some(build.name.clone());
        status.observed_values_files =
            chart.spec.ignore_missing_values_files.unwrap_or(false).then(|| build.values_files.clone());
        if let Ok(link) = path.sibling(LATEST_LINK) {
            status.url = Some(self.storage.url(&link));
        }
        status.mark_true(cond::ARTIFACT_IN_STORAGE, reason, &summary, generation);
        if published.changed || recovering {
            if build.resolved_dependencies > 0 {
                let message = format!("resolved {} chart dependencies", build.resolved_dependencies);
                ctx.event(chart, Severity::Trace, "ResolvedDependencies", &message, &Default::default()).await;
            }
            ctx.event(chart, Severity::Info, reason, &summary, &Default::default()).await;
        }
        Ok(Outcome::ready(summary).with_ready_reason(reason).with_revision(build.version).quiet())
    }
}

/// The object's generation (0 before the API server set one).
fn generation(chart: &HelmChart) -> i64 {
    chart.meta().generation.unwrap_or(0)
}

/// A Git revision's commit hash, its first 12 characters (Flux's build
/// metadata for `reconcileStrategy: Revision`).
fn short_revision(revision: &str) -> String {
    let hash = revision.rsplit('@').next().unwrap_or(revision);
    let hash = hash.rsplit(':').next().unwrap_or(hash);
    let hash = hash.rsplit('/').next().unwrap_or(hash);
    hash.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_revisions_shorten_to_their_hash() {
        assert_eq!(short_revision("main@sha1:0123456789abcdef0123"), "0123456789ab");
        assert_eq!(short_revision("main/0123456789abcdef0123"), "0123456789ab");
        assert_eq!(short_revision("sha1:0123456789abcdef"), "0123456789ab");
    }
}
