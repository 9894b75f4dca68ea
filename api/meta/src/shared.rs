//! Spec and status pieces that more than one API group uses.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ResourceRef;

/// Selects objects by group, version, kind, name, namespace and selectors; every field set
/// must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// The API group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,

    /// The API version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,

    /// The kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,

    /// The namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,

    /// The name, as a regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// An annotation selector, in label selector syntax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,

    /// A label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
}

/// A strategic merge or JSON6902 patch, applied to the objects the target selects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Patch {
    /// The patch, in YAML: a partial object (strategic merge) or a list of operations (JSON6902).
    pub patch: String,

    /// The objects to patch; without it, the patch names its object itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// Rewrites the name, tag or digest of a container image wherever it is used.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// The image name to look for.
    pub name: String,

    /// The name to put in its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,

    /// The tag to put in its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,

    /// The digest to put in its place; wins over the tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Fields of the selected objects that the controller leaves alone when it compares or applies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IgnoreRule {
    /// JSON pointers (RFC 6901) to the fields to ignore.
    pub paths: Vec<String>,

    /// The objects the rule applies to; all objects when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// Another object of the same kind that must be ready first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyReference {
    /// The name of the dependency.
    pub name: String,

    /// The namespace of the dependency; the dependent's namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,

    /// A CEL expression over `dep` (the dependency) and `self` that decides readiness, in place
    /// of the Ready condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_expr: Option<String>,
}

/// CEL expressions that tell the health of a custom resource kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomHealthCheck {
    /// The API version of the kind.
    pub api_version: String,

    /// The kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,

    /// A CEL expression that is true when the object is healthy.
    pub current: String,

    /// A CEL expression that is true while the object is still progressing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<String>,

    /// A CEL expression that is true when the object failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// Labels and annotations put on every object applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommonMetadata {
    /// Annotations to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,

    /// Labels to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// The objects an applier applied and now owns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceInventory {
    /// One entry per object.
    pub entries: Vec<ResourceRef>,
}

/// A record of the reconciliations of one set of applied objects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The digest, `<algorithm>:<hex>`, of the applied objects.
    pub digest: String,

    /// When these objects were first applied.
    pub first_reconciled: Time,

    /// When these objects were last reconciled.
    pub last_reconciled: Time,

    /// How long the last reconciliation took, as a Go duration.
    pub last_reconciled_duration: String,

    /// The outcome of the last reconciliation, such as `ReconciliationSucceeded`.
    pub last_reconciled_status: String,

    /// How many times these objects were reconciled.
    pub total_reconciliations: i64,

    /// More facts about the snapshot, such as the source revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// The schema of a field that holds arbitrary JSON, such as Helm values: the API server keeps
/// whatever it is given.
pub fn preserve_unknown_fields(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// A schemars transform for enums used in optional fields: drops the enum's own description,
/// so that the field's description is the one the CRD shows.
pub fn drop_description(schema: &mut schemars::Schema) {
    schema.remove("description");
}

/// The schema of an integer that Flux declares as Go's `int`: no `int64` format.
pub fn go_int(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "integer" })
}
