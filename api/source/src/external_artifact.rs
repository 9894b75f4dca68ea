use ferry_api_meta::{Artifact, Condition, NamespacedObjectKindReference};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An artifact that a controller outside Flux produces and serves, for Flux's appliers to
/// consume like any source.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "ExternalArtifact",
    plural = "externalartifacts",
    namespaced,
    status = "ExternalArtifactStatus",
    shortname = "ea",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Status", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].message"#),
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.sourceRef.name"),
    doc = "ExternalArtifact describes an artifact that a third-party controller produces."
)]
#[serde(rename_all = "camelCase")]
pub struct ExternalArtifactSpec {
    /// The custom resource the artifact is produced for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<NamespacedObjectKindReference>,
}

/// The artifact the producing controller published.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalArtifactStatus {
    /// The artifact served for consumers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,

    /// The conditions, Ready at least.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

impl ferry_api_meta::ReconcileStatus for ExternalArtifactStatus {
    fn conditions(&self) -> &[Condition] {
        self.conditions.as_deref().unwrap_or_default()
    }

    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        self.conditions.get_or_insert_with(Vec::new)
    }

    /// ExternalArtifact records no observed generation.
    fn observed_generation(&self) -> Option<i64> {
        None
    }

    fn set_observed_generation(&mut self, _generation: Option<i64>) {}

    /// ExternalArtifact handles no reconcile requests.
    fn last_handled_reconcile_at(&self) -> Option<&str> {
        None
    }

    fn set_last_handled_reconcile_at(&mut self, _value: Option<String>) {}
}

impl ferry_api_meta::FluxObject for ExternalArtifact {
    type Status = ExternalArtifactStatus;

    fn status(&self) -> Option<&ExternalArtifactStatus> {
        self.status.as_ref()
    }

    fn status_mut(&mut self) -> &mut ExternalArtifactStatus {
        self.status.get_or_insert_with(Default::default)
    }

    /// ExternalArtifact is not polled: it changes when its producer writes it.
    fn interval(&self) -> Option<std::time::Duration> {
        None
    }
}
