//! The `Mirror` kind and its reconciler: keeps a copy of a ConfigMap under
//! another name. Built only on `ferry_sdk`'s public API; `main.rs` runs it,
//! and the SDK's integration tests run it in-process.

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_sdk::conditions::Summary;
use ferry_sdk::deps::k8s_openapi::api::core::v1::ConfigMap;
use ferry_sdk::deps::kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};
use ferry_sdk::deps::kube::{CustomResource, ResourceExt};
use ferry_sdk::deps::meta::Condition;
use ferry_sdk::reconcile::{Context, Controller};
use ferry_sdk::{ErrorClass, FluxObject, Outcome, ReconcileError, ReconcileStatus, Reconciler};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The controller's name: reporting controller and field manager.
pub const CONTROLLER_NAME: &str = "mirror-controller";
/// The label put on mirrored ConfigMaps, naming their Mirror.
pub const OWNER_LABEL: &str = "mirror.example.ferry.dev/name";

/// Keep a copy of the ConfigMap `spec.source` named `spec.target`.
#[derive(CustomResource, Debug, Clone, Serialize, Deserialize, JsonSchema, Default)]
#[kube(group = "example.ferry.dev", version = "v1", kind = "Mirror", namespaced, status = "MirrorStatus")]
#[kube(
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MirrorSpec {
    /// The ConfigMap to copy.
    pub source: String,
    /// The name of the copy.
    pub target: String,
    /// How often to reconcile, as a Go duration.
    pub interval: String,
    /// Stop reconciling.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// What the controller observed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MirrorStatus {
    /// Ready, Reconciling, Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The last `reconcile.fluxcd.io/requestedAt` handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// The resourceVersion of the source last copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirrored_revision: Option<String>,
}

impl ReconcileStatus for MirrorStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }
    fn observed_generation(&self) -> Option<i64> {
        self.observed_generation
    }
    fn set_observed_generation(&mut self, generation: Option<i64>) {
        self.observed_generation = generation;
    }
    fn last_handled_reconcile_at(&self) -> Option<&str> {
        self.last_handled_reconcile_at.as_deref()
    }
    fn set_last_handled_reconcile_at(&mut self, value: Option<String>) {
        self.last_handled_reconcile_at = value;
    }
}

impl FluxObject for Mirror {
    type Status = MirrorStatus;

    fn status(&self) -> Option<&MirrorStatus> {
        self.status.as_ref()
    }
    fn status_mut(&mut self) -> &mut MirrorStatus {
        self.status.get_or_insert_with(MirrorStatus::default)
    }
    fn interval(&self) -> Option<Duration> {
        // A bad interval is reported as Stalled by the reconciler.
        ferry_sdk::flags::parse_duration(&self.spec.interval).ok()
    }
    fn suspended(&self) -> bool {
        self.spec.suspend
    }
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The spec cannot work until it is changed.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// The source ConfigMap does not exist (yet).
    #[error("source ConfigMap {0} not found")]
    SourceNotFound(String),
    /// Reading the source failed.
    #[error("reading source ConfigMap {0}: {1}")]
    ReadFailed(String, #[source] ferry_sdk::deps::kube::Error),
    /// Writing the copy failed.
    #[error("applying ConfigMap {0}: {1}")]
    ApplyFailed(String, #[source] ferry_sdk::deps::kube::Error),
    /// Deleting the copy failed.
    #[error("deleting ConfigMap {0}: {1}")]
    CleanupFailed(String, #[source] ferry_sdk::deps::kube::Error),
}

impl ReconcileError for MirrorError {
    fn reason(&self) -> &str {
        match self {
            Self::InvalidSpec(_) => "InvalidSpec",
            Self::SourceNotFound(_) => "SourceNotFound",
            Self::ReadFailed(..) => "ReadFailed",
            Self::ApplyFailed(..) => "ApplyFailed",
            Self::CleanupFailed(..) => "CleanupFailed",
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidSpec(_) => ErrorClass::Stalled,
            _ => ErrorClass::Transient,
        }
    }
}

/// The desired copy of `source` for `mirror`: a pure function.
pub fn desired_copy(mirror: &Mirror, source: &ConfigMap) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(mirror.spec.target.clone()),
            namespace: mirror.namespace(),
            labels: Some(BTreeMap::from([(OWNER_LABEL.to_string(), mirror.name_any())])),
            ..ObjectMeta::default()
        },
        data: source.data.clone(),
        binary_data: source.binary_data.clone(),
        ..ConfigMap::default()
    }
}

/// The reconciler of `Mirror`.
pub struct MirrorReconciler;

impl Reconciler for MirrorReconciler {
    type Object = Mirror;
    type Error = MirrorError;

    fn summary(&self) -> Summary {
        Summary::default()
    }

    async fn reconcile(
        &self,
        mirror: &Mirror,
        status: &mut MirrorStatus,
        ctx: &Context,
    ) -> Result<Outcome, MirrorError> {
        let spec = &mirror.spec;
        ferry_sdk::flags::parse_duration(&spec.interval).map_err(|e| MirrorError::InvalidSpec(e.to_string()))?;
        if spec.source == spec.target {
            return Err(MirrorError::InvalidSpec("source and target are the same ConfigMap".into()));
        }
        let namespace = mirror.namespace().unwrap_or_default();
        let configmaps: Api<ConfigMap> = Api::namespaced(ctx.client().clone(), &namespace);
        let source = configmaps
            .get_opt(&spec.source)
            .await
            .map_err(|e| MirrorError::ReadFailed(spec.source.clone(), e))?
            .ok_or_else(|| MirrorError::SourceNotFound(spec.source.clone()))?;
        let copy = desired_copy(mirror, &source);
        configmaps
            .patch(&spec.target, &PatchParams::apply(ctx.controller_name()).force(), &Patch::Apply(&copy))
            .await
            .map_err(|e| MirrorError::ApplyFailed(spec.target.clone(), e))?;
        let revision = source.resource_version().unwrap_or_default();
        status.mirrored_revision = Some(revision.clone());
        Ok(Outcome::ready(format!("mirrored ConfigMap {} to {}", spec.source, spec.target)).with_revision(revision))
    }

    async fn cleanup(&self, mirror: &Mirror, ctx: &Context) -> Result<(), MirrorError> {
        let namespace = mirror.namespace().unwrap_or_default();
        let configmaps: Api<ConfigMap> = Api::namespaced(ctx.client().clone(), &namespace);
        match configmaps.delete(&mirror.spec.target, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(ferry_sdk::deps::kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(MirrorError::CleanupFailed(mirror.spec.target.clone(), e)),
        }
    }
}

/// Adds the Mirror controller's watches: a source ConfigMap labelled
/// `reconcile.fluxcd.io/watch: Enabled` triggers the Mirrors that copy it.
pub fn watches(controller: Controller<MirrorReconciler>) -> Controller<MirrorReconciler> {
    controller.watch_config_maps(|mirror: &Mirror| vec![mirror.spec.source.clone()])
}
