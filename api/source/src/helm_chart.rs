use ferry_api_meta::{Artifact, Condition, DURATION_PATTERN};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::OciChartVerification;

/// Fetches or packages a Helm chart from a HelmRepository, GitRepository or Bucket and serves
/// it as an artifact.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "HelmChart",
    plural = "helmcharts",
    namespaced,
    status = "HelmChartStatus",
    shortname = "hc",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    printcolumn(name = "Chart", type_ = "string", json_path = ".spec.chart"),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
    printcolumn(name = "Source Kind", type_ = "string", json_path = ".spec.sourceRef.kind"),
    printcolumn(name = "Source Name", type_ = "string", json_path = ".spec.sourceRef.name"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Status", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].message"#),
    doc = "HelmChart fetches or packages a Helm chart and serves it as an artifact."
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.verify) || self.sourceRef.kind == 'HelmRepository'",
    "message": "spec.verify is only supported when spec.sourceRef.kind is 'HelmRepository'",
}]))]
pub struct HelmChartSpec {
    /// The chart's name in a HelmRepository, or its path in a GitRepository or Bucket.
    pub chart: String,

    /// A semver range of chart versions, for charts from a HelmRepository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "*"))]
    pub version: Option<String>,

    /// Where the chart comes from.
    pub source_ref: LocalHelmChartSourceReference,

    /// How often to look for a new chart version.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: String,

    /// What makes a new artifact for charts from Git or a Bucket: a new `ChartVersion`, or
    /// any new source `Revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "ChartVersion"))]
    pub reconcile_strategy: Option<ReconcileStrategy>,

    /// Values files, relative to the chart, merged in order into the packaged chart's values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_files: Option<Vec<String>>,

    /// Whether a values file that does not exist is skipped instead of failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_missing_values_files: Option<bool>,

    /// When true, nothing is fetched until it is set back to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,

    /// How to verify the signature of a chart from an OCI HelmRepository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<OciChartVerification>,
}

/// The source a chart comes from, in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalHelmChartSourceReference {
    /// The API version of the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,

    /// The kind of the source.
    pub kind: HelmChartSourceKind,

    /// The name of the source.
    pub name: String,
}

/// Kinds a HelmChart can come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum HelmChartSourceKind {
    /// A Helm repository.
    #[default]
    HelmRepository,
    /// A Git repository holding the chart's directory.
    GitRepository,
    /// A bucket holding the chart's directory.
    Bucket,
}

/// What makes a new artifact of a chart built from a directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[schemars(transform = ferry_api_meta::drop_description)]
pub enum ReconcileStrategy {
    /// A new version in `Chart.yaml`.
    #[default]
    ChartVersion,
    /// Any new revision of the source.
    Revision,
}

/// What the controller last observed and produced for a HelmChart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("default" = {"observedGeneration": -1}))]
pub struct HelmChartStatus {
    /// The generation of the spec the controller last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The revision of the source artifact the chart was last built from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_source_artifact_revision: Option<String>,

    /// The chart name of the last artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_chart_name: Option<String>,

    /// The values files merged into the last artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_values_files: Option<Vec<String>>,

    /// The conditions: Ready, Reconciling, Stalled, ArtifactInStorage, FetchFailed, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,

    /// Where the chart artifact is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,

    /// The artifact of the last chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,

    /// The last `reconcile.fluxcd.io/requestedAt` value handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

ferry_api_meta::impl_reconcile_status!(HelmChartStatus);
ferry_api_meta::impl_flux_object!(HelmChart, HelmChartStatus, suspend);
