use std::collections::BTreeMap;

use ferry_api_meta::LocalObjectReference;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::CrossNamespaceObjectReference;

/// Forwards the events of selected Flux objects to a Provider.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "notification.toolkit.fluxcd.io",
    version = "v1beta3",
    kind = "Alert",
    plural = "alerts",
    namespaced,
    category = "all",
    category = "fluxcd",
    category = "fluxcd-notifications",
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    doc = "Alert forwards the events of selected Flux objects to a Provider."
)]
#[serde(rename_all = "camelCase")]
pub struct AlertSpec {
    /// The Provider that delivers the events, in the same namespace.
    pub provider_ref: LocalObjectReference,

    /// The least severity forwarded: `info` forwards everything, `error` only errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "info", "enum" = ["info", "error"]))]
    pub event_severity: Option<String>,

    /// The objects whose events are forwarded.
    pub event_sources: Vec<CrossNamespaceObjectReference>,

    /// Regular expressions; only events whose message matches one are forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_list: Option<Vec<String>>,

    /// Extra key-value pairs added to every forwarded event's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_metadata: Option<BTreeMap<String, String>>,

    /// Regular expressions; events whose message matches one are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusion_list: Option<Vec<String>>,

    /// Deprecated: a short text added to every event; use `eventMetadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub summary: Option<String>,

    /// When true, events are dropped until it is set back to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}
