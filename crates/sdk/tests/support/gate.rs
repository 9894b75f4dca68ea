//! `Gate`, a second test kind whose reconciles wait until the test opens
//! the gate: it makes the reconcile queue observable, and gives the
//! all-in-one runtime a second kind next to `Mirror`.

use std::time::Duration;

use anyhow::{Context as _, Result};
use ferry_sdk::deps::kube::api::{Api, Patch, PatchParams};
use ferry_sdk::deps::kube::{Client, CustomResource};
use ferry_sdk::deps::meta::Condition;
use ferry_sdk::reconcile::Context;
use ferry_sdk::{FluxObject, Outcome, ReconcileError, ReconcileStatus, Reconciler};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// The controller name the tests give the Gate controller.
pub const CONTROLLER_NAME: &str = "gate-controller";

/// An object whose reconcile passes once the gate is open.
#[derive(CustomResource, Debug, Clone, Serialize, Deserialize, JsonSchema, Default)]
#[kube(group = "test.ferry.dev", version = "v1", kind = "Gate", namespaced, status = "GateStatus")]
pub struct GateSpec {
    /// A label for the test's own use.
    #[serde(default)]
    pub note: String,
}

/// The harness's status fields.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GateStatus {
    /// Ready, Reconciling, Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The last `reconcile.fluxcd.io/requestedAt` handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

impl ReconcileStatus for GateStatus {
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

impl FluxObject for Gate {
    type Status = GateStatus;

    fn status(&self) -> Option<&GateStatus> {
        self.status.as_ref()
    }
    fn status_mut(&mut self) -> &mut GateStatus {
        self.status.get_or_insert_with(GateStatus::default)
    }
    fn interval(&self) -> Option<Duration> {
        None
    }
}

/// The test dropped the gate without opening it.
#[derive(Debug, thiserror::Error)]
#[error("the gate was dropped")]
pub struct GateDropped;

impl ReconcileError for GateDropped {
    fn reason(&self) -> &str {
        "GateDropped"
    }
}

/// Reconciles Gates once `open` says so; cleanup never waits.
pub struct GateReconciler {
    /// Whether reconciles may pass.
    pub open: watch::Receiver<bool>,
}

impl Reconciler for GateReconciler {
    type Object = Gate;
    type Error = GateDropped;

    async fn reconcile(&self, _gate: &Gate, _status: &mut GateStatus, _ctx: &Context) -> Result<Outcome, GateDropped> {
        let mut open = self.open.clone();
        open.wait_for(|open| *open).await.map_err(|_| GateDropped)?;
        Ok(Outcome::ready("passed the gate"))
    }

    async fn cleanup(&self, _gate: &Gate, _ctx: &Context) -> Result<(), GateDropped> {
        Ok(())
    }
}

/// A Gate named `name`.
pub fn gate(name: &str) -> Gate {
    Gate::new(name, GateSpec { note: String::new() })
}

/// Installs `crd`, e.g. `Gate::crd()` (idempotently: test binaries share it).
pub async fn install_crd(client: &Client, crd: CustomResourceDefinition) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.metadata.name.clone().context("crd has a name")?;
    crds.patch(&name, &PatchParams::apply("ferry-sdk-tests").force(), &Patch::Apply(&crd)).await?;
    ferry_testenv::wait_for(&crds, &name, Duration::from_secs(30), |crd| {
        crd.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| conditions.iter().any(|c| c.type_ == "Established" && c.status == "True"))
    })
    .await?;
    Ok(())
}
