use ferry_api_meta::{Condition, DURATION_PATTERN, LocalObjectReference};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::CrossNamespaceObjectReference;

/// Serves a webhook that, when called by a Git host or registry, asks for the reconciliation
/// of selected Flux objects.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "notification.toolkit.fluxcd.io",
    version = "v1",
    kind = "Receiver",
    plural = "receivers",
    namespaced,
    status = "ReceiverStatus",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-notifications",
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Status", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].message"#),
    doc = "Receiver serves a webhook that triggers the reconciliation of Flux objects."
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.type != 'generic-oidc' || (has(self.oidcProviders) && size(self.oidcProviders) > 0)",
     "message": "generic-oidc receivers must define at least one oidcProvider"},
    {"rule": "self.type == 'generic-oidc' || !has(self.oidcProviders) || size(self.oidcProviders) == 0",
     "message": "oidcProviders can only be set when type is generic-oidc"},
    {"rule": "self.type != 'generic-oidc' || !has(self.secretRef)",
     "message": "secretRef cannot be set when type is generic-oidc"},
    {"rule": "self.type == 'generic-oidc' || has(self.secretRef)",
     "message": "secretRef is required when type is not generic-oidc"},
]))]
pub struct ReceiverSpec {
    /// Who calls the webhook, which decides how a call is verified.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = [
        "generic", "generic-hmac", "generic-oidc", "github", "gitlab", "bitbucket", "harbor", "dockerhub",
        "quay", "gcr", "nexus", "acr", "cdevents",
    ]))]
    pub type_: String,

    /// How often the controller checks the Receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN), extend("default" = "10m"))]
    pub interval: Option<String>,

    /// The event types accepted, such as `push` for GitHub; all when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,

    /// The objects to reconcile when the webhook is called.
    pub resources: Vec<ReceiverResource>,

    /// A CEL expression over `res` and `req` that filters the resources per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_filter: Option<String>,

    /// A Secret whose `token` secures the webhook path and verifies signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,

    /// The OIDC issuers whose tokens authenticate calls, for `generic-oidc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["issuerURL"]))]
    pub oidc_providers: Option<Vec<OidcProvider>>,

    /// When true, calls are ignored until it is set back to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

/// An object to reconcile, optionally filtered per call by a CEL expression.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReceiverResource {
    /// The objects.
    #[serde(flatten)]
    pub reference: CrossNamespaceObjectReference,

    /// A CEL expression over `res` and `req` that must be true for this object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// An OIDC issuer whose tokens authenticate webhook calls.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcProvider {
    /// The issuer URL; it must match the tokens' `iss` claim.
    #[serde(rename = "issuerURL")]
    #[schemars(regex(pattern = r"^https?://"))]
    pub issuer_url: String,

    /// The audience the tokens must be issued for; the webhook URL when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,

    /// Named CEL expressions over the claims, usable in the validations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<Vec<OidcVariable>>,

    /// CEL expressions over the claims and variables that must all be true.
    #[schemars(length(min = 1))]
    pub validations: Vec<OidcValidation>,
}

/// A named CEL expression over token claims.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OidcVariable {
    /// The variable's name.
    pub name: String,

    /// The CEL expression.
    pub expression: String,
}

/// A CEL expression a token must satisfy, with the message returned when it does not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OidcValidation {
    /// The CEL expression.
    pub expression: String,

    /// The message returned when the expression is false.
    pub message: String,
}

/// What the controller last observed for a Receiver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("default" = {"observedGeneration": -1}))]
pub struct ReceiverStatus {
    /// The conditions: Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,

    /// The path the webhook is served at, `/hook/<sha256 of token, name and namespace>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,

    /// The generation of the spec the controller last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The last `reconcile.fluxcd.io/requestedAt` value handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

ferry_api_meta::impl_reconcile_status!(ReceiverStatus);

impl ferry_api_meta::FluxObject for Receiver {
    type Status = ReceiverStatus;

    fn status(&self) -> Option<&ReceiverStatus> {
        self.status.as_ref()
    }

    fn status_mut(&mut self) -> &mut ReceiverStatus {
        self.status.get_or_insert_with(Default::default)
    }

    /// `spec.interval`, or the default of ten minutes when unset.
    fn interval(&self) -> Option<std::time::Duration> {
        match self.spec.interval.as_deref() {
            Some(text) => ferry_api_meta::parse_duration_field(Some(text)),
            None => Some(std::time::Duration::from_secs(600)),
        }
    }

    fn suspended(&self) -> bool {
        self.spec.suspend.unwrap_or(false)
    }
}
