//! The `notification.toolkit.fluxcd.io` API: the [`Receiver`] (v1), which turns incoming
//! webhooks into reconcile requests, and the [`Alert`] and [`Provider`] (v1beta3), which
//! forward Flux events to chat, Git commit statuses and other services.
//!
//! Alert and Provider have no status: the controller reads them when an event arrives and
//! reports problems as events, so they do not implement [`ferry_api_meta::FluxObject`].
#![deny(missing_docs)]
// kube's `printcolumn(...)` options repeat `type_ = "string"`, which this lint mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

mod alert;
mod provider;
mod receiver;

pub use alert::*;
pub use provider::*;
pub use receiver::*;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of these kinds.
pub const GROUP: &str = "notification.toolkit.fluxcd.io";

/// The API version of the Receiver.
pub const RECEIVER_VERSION: &str = "v1";

/// The API version of the Alert and the Provider.
pub const ALERT_VERSION: &str = "v1beta3";

/// The CustomResourceDefinitions of this group.
pub fn crds() -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> {
    use kube_core::CustomResourceExt;
    vec![Alert::crd(), Provider::crd(), Receiver::crd()]
}

/// Selects Flux objects by kind and name (`*` for all), or by labels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceObjectReference {
    /// The API version of the objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,

    /// The kind of the objects.
    #[schemars(extend("enum" = [
        "Bucket", "GitRepository", "Kustomization", "HelmRelease", "HelmChart", "HelmRepository",
        "ImageRepository", "ImagePolicy", "ImageUpdateAutomation", "OCIRepository", "ArtifactGenerator",
        "ExternalArtifact",
    ]))]
    pub kind: String,

    /// The name of the object, or `*` for every object of the kind.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,

    /// The namespace of the objects; the referrer's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub namespace: Option<String>,

    /// Labels the objects must have, when `name` is `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<std::collections::BTreeMap<String, String>>,
}

/// The prefix of every Receiver's webhook path.
pub const RECEIVER_WEBHOOK_PATH: &str = "/hook/";

/// The Ready reason when a Receiver's Secret or its `token` is missing.
pub const TOKEN_NOT_FOUND_REASON: &str = "TokenNotFound";

/// The Ready reason when a Receiver's spec is invalid.
pub const VALIDATION_FAILED_REASON: &str = "ValidationFailed";

/// The receiver types Flux accepts, as spelt in a Receiver's `spec.type`.
pub mod receiver_types {
    /// Any caller that knows the path.
    pub const GENERIC: &str = "generic";
    /// Callers that sign the body with HMAC (`X-Signature: sha1=…|sha256=…|sha512=…`).
    pub const GENERIC_HMAC: &str = "generic-hmac";
    /// GitHub webhooks (`X-Hub-Signature-256`).
    pub const GITHUB: &str = "github";
    /// GitLab webhooks (`X-Gitlab-Token`).
    pub const GITLAB: &str = "gitlab";
    /// Bitbucket Server webhooks (`X-Hub-Signature`).
    pub const BITBUCKET: &str = "bitbucket";
    /// Harbor webhooks (`Authorization` is the token).
    pub const HARBOR: &str = "harbor";
    /// Docker Hub webhooks.
    pub const DOCKERHUB: &str = "dockerhub";
    /// Quay webhooks.
    pub const QUAY: &str = "quay";
    /// Nexus webhooks (`X-Nexus-Webhook-Signature`).
    pub const NEXUS: &str = "nexus";
    /// Azure Container Registry webhooks.
    pub const ACR: &str = "acr";
    /// Google Container Registry Pub/Sub pushes.
    pub const GCR: &str = "gcr";
    /// CDEvents.
    pub const CDEVENTS: &str = "cdevents";
    /// OIDC-authenticated callers.
    pub const GENERIC_OIDC: &str = "generic-oidc";
}
