use std::collections::BTreeMap;

use ferry_api_meta::{Artifact, Condition, DURATION_PATTERN, LocalObjectReference, SHORT_DURATION_PATTERN};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::OCIProvider;

/// A Helm chart repository: an HTTP index (served as an artifact) or an OCI registry.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "HelmRepository",
    plural = "helmrepositories",
    namespaced,
    status = "HelmRepositoryStatus",
    shortname = "helmrepo",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Status", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].message"#),
    doc = "HelmRepository points to a Helm chart repository, HTTP or OCI, that HelmCharts pull from."
)]
#[serde(rename_all = "camelCase")]
pub struct HelmRepositorySpec {
    /// The repository address: `http(s)://` for an index, `oci://` for a registry.
    #[schemars(regex(pattern = r"^(http|https|oci)://.*$"))]
    pub url: String,

    /// A Secret with `username`/`password` (and, for OCI, a dockerconfigjson).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,

    /// A Secret with `ca.crt`, and optionally `tls.crt` and `tls.key`, for TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,

    /// Whether to send the credentials to chart hosts other than the repository's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_credentials: Option<bool>,

    /// How often to fetch the index; unused for OCI repositories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Option<String>,

    /// Whether to talk to an OCI registry over plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,

    /// How long fetching the index may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SHORT_DURATION_PATTERN))]
    pub timeout: Option<String>,

    /// When true, nothing is fetched until it is set back to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,

    /// Reserved for cross-namespace access rules; not enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_from: Option<AccessFrom>,

    /// `default` for an HTTP repository with an index, `oci` for an OCI registry.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<HelmRepositoryType>,

    /// Who authenticates to an OCI registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "generic"))]
    pub provider: Option<OCIProvider>,
}

/// The kind of Helm repository.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = ferry_api_meta::drop_description)]
pub enum HelmRepositoryType {
    /// An HTTP server with an `index.yaml`.
    #[default]
    Default,
    /// An OCI registry.
    Oci,
}

/// Namespaces allowed to refer to an object from elsewhere.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessFrom {
    /// Selectors of the namespaces allowed; any may match.
    pub namespace_selectors: Vec<NamespaceSelector>,
}

/// Selects namespaces by their labels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// Labels a namespace must all have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
}

/// What the controller last observed and produced for a HelmRepository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("default" = {"observedGeneration": -1}))]
pub struct HelmRepositoryStatus {
    /// The generation of the spec the controller last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The conditions: Ready, Reconciling, Stalled, ArtifactInStorage, FetchFailed, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,

    /// Where the index artifact is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,

    /// The artifact of the last fetched index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,

    /// The last `reconcile.fluxcd.io/requestedAt` value handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

ferry_api_meta::impl_reconcile_status!(HelmRepositoryStatus);

impl ferry_api_meta::FluxObject for HelmRepository {
    type Status = HelmRepositoryStatus;

    fn status(&self) -> Option<&HelmRepositoryStatus> {
        self.status.as_ref()
    }

    fn status_mut(&mut self) -> &mut HelmRepositoryStatus {
        self.status.get_or_insert_with(Default::default)
    }

    /// `spec.interval`, or Flux's default of one minute when unset.
    fn interval(&self) -> Option<std::time::Duration> {
        match self.spec.interval.as_deref() {
            Some(text) => ferry_api_meta::parse_duration_field(Some(text)),
            None => Some(std::time::Duration::from_secs(60)),
        }
    }

    fn suspended(&self) -> bool {
        self.spec.suspend.unwrap_or(false)
    }
}
