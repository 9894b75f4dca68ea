//! Where the chart comes from: the HelmChart the controller creates from
//! `spec.chart` (named `<namespace>-<name>` in the source's namespace, as
//! Flux names it), or the source `spec.chartRef` names; and the chart
//! itself, downloaded with its digest checked and loaded by ferry-helm.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferry_api_helm::HelmRelease;
use ferry_api_meta::{Artifact, Source as _};
use ferry_api_source::HelmChart;
use ferry_helm::chart::Chart;
use ferry_sdk::artifact::source as sdk_source;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::{Client, ResourceExt};

/// How many loaded charts are kept, by artifact digest.
const CHART_CACHE_SIZE: usize = 64;

/// Why the chart could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--no-cross-namespace-refs` forbids the reference.
    #[error("can't access '{kind}/{namespace}/{name}', cross-namespace references have been blocked")]
    CrossNamespace {
        /// The source kind.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// `chartRef` names a kind that holds no chart.
    #[error("unsupported source kind '{0}'")]
    UnsupportedKind(String),
    /// Reading the source failed, or it does not exist.
    #[error("could not get Source object: {0}")]
    Source(#[source] sdk_source::Error),
    /// Applying the templated HelmChart failed.
    #[error("failed to run server-side apply: {0}")]
    HelmChartApply(#[source] kube::Error),
    /// Deleting the HelmChart no longer wanted failed.
    #[error("failed to delete HelmChart '{name}': {source}")]
    HelmChartDelete {
        /// `namespace/name`.
        name: String,
        /// The refusal.
        #[source]
        source: kube::Error,
    },
    /// Downloading the artifact failed.
    #[error("Could not load chart: {0}")]
    Download(#[source] ferry_sdk::artifact::Error),
    /// The artifact is no chart.
    #[error("Could not load chart: {0}")]
    Load(#[source] ferry_helm::chart::load::Error),
    /// Reading the downloaded artifact failed.
    #[error("Could not load chart: {0}")]
    Io(#[source] std::io::Error),
    /// The OCI revision does not fit the chart version.
    #[error("{0}")]
    Mutate(String),
}

/// The source of a release's chart: its kind, place and artifact.
#[derive(Debug, Clone)]
pub struct ChartSource {
    /// `HelmChart`, `OCIRepository` or `ExternalArtifact`.
    pub kind: String,
    /// `Kind/namespace/name`.
    pub display: String,
    /// Its artifact, once it has one.
    pub artifact: Option<Artifact>,
}

/// The name of the HelmChart made from `spec.chart`: `<namespace>-<name>`.
pub fn helm_chart_name(object: &HelmRelease) -> String {
    format!("{}-{}", object.namespace().unwrap_or_default(), object.name_any())
}

/// The namespace of the HelmChart made from `spec.chart`: its source's.
pub fn helm_chart_namespace(object: &HelmRelease) -> String {
    object
        .spec
        .chart
        .as_ref()
        .and_then(|c| c.spec.source_ref.namespace.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| object.namespace().unwrap_or_default())
}

/// `(kind, namespace, name)` of the chart source `object` reads.
pub fn source_reference(object: &HelmRelease) -> (String, String, String) {
    let own = object.namespace().unwrap_or_default();
    if let Some(reference) = &object.spec.chart_ref {
        let namespace = reference.namespace.clone().filter(|n| !n.is_empty()).unwrap_or(own);
        return (reference.kind.clone(), namespace, reference.name.clone());
    }
    ("HelmChart".to_string(), helm_chart_namespace(object), helm_chart_name(object))
}

/// The HelmChart `spec.chart` describes, as Flux's `buildHelmChartFromTemplate`.
pub fn helm_chart_from_template(object: &HelmRelease) -> Option<serde_json::Value> {
    let template = object.spec.chart.as_ref()?;
    let spec = &template.spec;
    let mut chart_spec = serde_json::json!({
        "chart": spec.chart,
        "sourceRef": {"kind": spec.source_ref.kind, "name": spec.source_ref.name},
        "interval": spec.interval.clone().unwrap_or_else(|| object.spec.interval.clone()),
    });
    if let Some(version) = &spec.version {
        chart_spec["version"] = version.clone().into();
    }
    if let Some(strategy) = spec.reconcile_strategy {
        chart_spec["reconcileStrategy"] = serde_json::to_value(strategy).unwrap_or_default();
    }
    if let Some(files) = &spec.values_files {
        chart_spec["valuesFiles"] = files.clone().into();
    }
    if let Some(ignore) = spec.ignore_missing_values_files {
        chart_spec["ignoreMissingValuesFiles"] = ignore.into();
    }
    if let Some(verify) = &spec.verify {
        chart_spec["verify"] = serde_json::to_value(verify).unwrap_or_default();
    }
    let mut metadata = serde_json::json!({
        "name": helm_chart_name(object),
        "namespace": helm_chart_namespace(object),
        "labels": {
            format!("{}/name", ferry_api_helm::GROUP): object.name_any(),
            format!("{}/namespace", ferry_api_helm::GROUP): object.namespace().unwrap_or_default(),
        },
    });
    if let Some(common) = &template.metadata {
        if let Some(labels) = &common.labels {
            for (k, v) in labels {
                metadata["labels"][k] = v.clone().into();
            }
        }
        if let Some(annotations) = &common.annotations {
            metadata["annotations"] = serde_json::to_value(annotations).unwrap_or_default();
        }
    }
    Some(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": metadata,
        "spec": chart_spec,
    }))
}

/// Applies the HelmChart of `spec.chart` and deletes one no longer wanted
/// (`status.helmChart` naming another, or `chartRef` used instead).
/// Returns the new `status.helmChart`.
pub async fn reconcile_template(
    client: &Client,
    object: &HelmRelease,
    current: Option<&str>,
    field_manager: &str,
    no_cross_namespace_refs: bool,
) -> Result<Option<String>, Error> {
    let desired =
        object.spec.chart.as_ref().map(|_| format!("{}/{}", helm_chart_namespace(object), helm_chart_name(object)));
    let mut current = current.map(str::to_string).filter(|c| !c.is_empty());
    if let Some(existing) = current.clone()
        && Some(&existing) != desired.as_ref()
    {
        delete_helm_chart(client, &existing).await?;
        current = None;
    }
    let Some(chart) = helm_chart_from_template(object) else { return Ok(current) };
    let namespace = helm_chart_namespace(object);
    if no_cross_namespace_refs && Some(&namespace) != object.namespace().as_ref() {
        return Err(Error::CrossNamespace { kind: "HelmChart".into(), namespace, name: helm_chart_name(object) });
    }
    let api: Api<HelmChart> = Api::namespaced(client.clone(), &namespace);
    api.patch(&helm_chart_name(object), &PatchParams::apply(field_manager).force(), &Patch::Apply(&chart))
        .await
        .map_err(Error::HelmChartApply)?;
    Ok(desired)
}

/// Deletes the HelmChart `namespace/name`, gone already or not.
pub async fn delete_helm_chart(client: &Client, namespaced_name: &str) -> Result<(), Error> {
    let Some((namespace, name)) = namespaced_name.split_once('/') else { return Ok(()) };
    let api: Api<HelmChart> = Api::namespaced(client.clone(), namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(Error::HelmChartDelete { name: namespaced_name.to_string(), source }),
    }
}

/// Reads the chart source of `object`.
pub async fn get_source(
    client: &Client,
    object: &HelmRelease,
    no_cross_namespace_refs: bool,
) -> Result<ChartSource, Error> {
    let (kind, namespace, name) = source_reference(object);
    if no_cross_namespace_refs && Some(&namespace) != object.namespace().as_ref() {
        return Err(Error::CrossNamespace { kind, namespace, name });
    }
    if !matches!(kind.as_str(), "HelmChart" | "OCIRepository" | "ExternalArtifact") {
        return Err(Error::UnsupportedKind(kind));
    }
    let api_version = object.spec.chart_ref.as_ref().and_then(|r| r.api_version.as_deref());
    let resource = ferry_api_source::source_kind(api_version, &kind)
        .or_else(|| ferry_api_source::source_kind(None, &kind))
        .ok_or_else(|| Error::UnsupportedKind(kind.clone()))?;
    let source = sdk_source::get(client, &resource, &namespace, &name).await.map_err(Error::Source)?;
    Ok(ChartSource { kind, display: source.display(), artifact: source.artifact().cloned() })
}

/// Downloads charts (digest checked by the SDK's fetch) and keeps the
/// loaded ones by digest.
pub struct Loader {
    fetcher: ferry_sdk::artifact::Fetcher,
    cache: Mutex<HashMap<String, Arc<Chart>>>,
}

impl Loader {
    /// A loader downloading with `fetcher`.
    pub fn new(fetcher: ferry_sdk::artifact::Fetcher) -> Self {
        Self { fetcher, cache: Mutex::new(HashMap::new()) }
    }

    /// The chart of `artifact`.
    pub async fn load(&self, artifact: &Artifact) -> Result<Arc<Chart>, Error> {
        if let Some(chart) = self.cache.lock().ok().and_then(|c| c.get(&artifact.digest).cloned()) {
            return Ok(chart);
        }
        let dir = tempfile::tempdir().map_err(Error::Io)?;
        let path = dir.path().join("chart.tgz");
        self.fetcher.fetch(&artifact.url, &artifact.digest, &path).await.map_err(Error::Download)?;
        let data = tokio::fs::read(&path).await.map_err(Error::Io)?;
        let chart = tokio::task::spawn_blocking(move || ferry_helm::chart::load::load_archive(&data))
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?
            .map_err(Error::Load)?;
        let chart = Arc::new(chart);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CHART_CACHE_SIZE {
                cache.clear();
            }
            cache.insert(artifact.digest.clone(), chart.clone());
        }
        Ok(chart)
    }
}

/// For charts from OCIRepositories, Flux's `mutateChartWithSourceRevision`:
/// the chart version gets the first 12 hex digits of the artifact digest as
/// build metadata, and the digest is returned (for
/// `lastAttemptedRevisionDigest` and the snapshots).
pub fn mutate_with_source_revision(chart: &mut Chart, source: &ChartSource) -> Result<Option<String>, Error> {
    if source.kind != "OCIRepository" {
        return Ok(None);
    }
    let Some(artifact) = &source.artifact else { return Ok(None) };
    let version: ferry_semver::Version = chart
        .metadata
        .version
        .parse()
        .map_err(|_| Error::Mutate(format!("invalid chart version {}", chart.metadata.version)))?;
    let revision = artifact.revision.as_str();
    let (tag, digest) = match revision.split_once('@') {
        Some((tag, digest)) => (Some(tag), digest),
        None => (None, revision),
    };
    if let Some(tag) = tag
        && let Ok(tag_version) = tag.trim_start_matches('v').parse::<ferry_semver::Version>()
        && tag_version != version
    {
        return Err(Error::Mutate(format!(
            "artifact revision {tag} does not match chart version {}",
            chart.metadata.version
        )));
    }
    let Some((_, hex)) = digest.split_once(':') else {
        return Err(Error::Mutate(format!("failed to parse digest from revision {revision}")));
    };
    let short: String = hex.chars().take(12).collect();
    let base = chart.metadata.version.split('+').next().unwrap_or_default().to_string();
    chart.metadata.version = format!("{base}+{short}");
    Ok(Some(digest.to_string()))
}

impl super::HelmReleaseReconciler {
    /// HelmChart: applies the HelmChart of `spec.chart` (owned by this
    /// object, in its source's namespace) and removes one no longer wanted;
    /// records it in `status.helmChart`.
    ///
    /// Conditions: none directly; failures are `AccessDenied` (stalled) or
    /// `HelmChartError`.
    pub async fn reconcile_helm_chart(
        &self,
        ctx: &ferry_sdk::reconcile::Context,
        object: &HelmRelease,
        status: &mut ferry_api_helm::HelmReleaseStatus,
    ) -> super::Result<()> {
        use super::Error;
        let current = status.helm_chart.clone();
        match reconcile_template(
            ctx.client(),
            object,
            current.as_deref(),
            ctx.field_manager(),
            self.options.no_cross_namespace_refs,
        )
        .await
        {
            Ok(chart) => {
                status.helm_chart = chart;
                Ok(())
            }
            Err(error @ Error_::CrossNamespace { .. }) => Err(Error::AccessDenied(error)),
            Err(error) => Err(Error::HelmChart(error)),
        }
    }

    /// Source: the chart source, which must be allowed and have an artifact.
    ///
    /// Conditions: none directly; failures are `AccessDenied` (stalled),
    /// `ArtifactFailed`, or `SourceNotReady` (waiting, no event).
    pub async fn reconcile_source(
        &self,
        ctx: &ferry_sdk::reconcile::Context,
        object: &HelmRelease,
    ) -> super::Result<ChartSource> {
        use super::Error;
        let source = match get_source(ctx.client(), object, self.options.no_cross_namespace_refs).await {
            Ok(source) => source,
            Err(error @ Error_::CrossNamespace { .. }) => return Err(Error::AccessDenied(error)),
            Err(error) => return Err(Error::ArtifactFailed(error)),
        };
        if source.artifact.is_none() {
            let retry = self.options.requeue_dependency;
            return Err(Error::SourceNotReady {
                message: format!("{} is not ready: does not have an artifact", source.display),
                retry,
            });
        }
        Ok(source)
    }

    /// Chart: the artifact downloaded (digest checked) and loaded, its
    /// version given the OCI digest for OCIRepository sources.
    ///
    /// Conditions: none directly; failures are `ArtifactFailed`,
    /// `SourceNotReady` for an artifact not served (yet), `ChartMutateError`.
    pub async fn reconcile_chart(&self, source: &ChartSource) -> super::Result<(Chart, Option<String>)> {
        use super::Error;
        let Some(artifact) = &source.artifact else {
            return Err(Error::SourceNotReady {
                message: format!("{} is not ready: does not have an artifact", source.display),
                retry: self.options.requeue_dependency,
            });
        };
        let chart = match self.loader.load(artifact).await {
            Ok(chart) => chart,
            Err(Error_::Download(ferry_sdk::artifact::Error::NotFound { .. })) => {
                let retry = self.options.requeue_dependency;
                return Err(Error::SourceNotReady {
                    message: format!("Source not ready: artifact not found. Retrying in {}", super::go_duration(retry)),
                    retry,
                });
            }
            Err(error) => return Err(Error::ArtifactFailed(error)),
        };
        let mut chart = (*chart).clone();
        let digest = mutate_with_source_revision(&mut chart, source).map_err(Error::ChartMutate)?;
        Ok((chart, digest))
    }
}

use self::Error as Error_;
