//! Health checks: wait until objects are Current by kstatus's rules, or by
//! the Kustomization's CEL expressions for their kind.

use std::time::{Duration, Instant};

use ferry_api_kustomize::{Kustomization, KustomizationStatus};
use ferry_api_meta::conditions as reasons;
use ferry_kstatus::{HealthChecker, Status};
use ferry_sdk::conditions::StatusConditions;
use ferry_sdk::events::Severity;
use ferry_sdk::reconcile::Context;
use ferry_ssa::{ObjectRef, ResourceManager};
use kube::ResourceExt;

use super::apply::Applied;
use super::source::Fetched;
use super::{Error, KustomizationReconciler, Result, Run, go_duration, history};

/// How often objects are polled while waiting.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The custom checks of a Kustomization, compiled once per reconcile.
pub struct Checks {
    checker: HealthChecker,
}

impl Checks {
    /// Compiles `spec.healthCheckExprs`; an invalid expression is an error
    /// for the caller to stall on.
    pub fn new(exprs: &[ferry_api_meta::CustomHealthCheck]) -> Result<Self, ferry_kstatus::Error> {
        Ok(Self { checker: HealthChecker::new(exprs)? })
    }

    fn status_of(&self, object: &serde_json::Value) -> (Status, String) {
        let health = self.checker.compute(object);
        (health.status, health.message)
    }
}

/// Waits until every object is Current, polling every [`POLL_INTERVAL`];
/// after `timeout`, fails with the objects still not Current, in Flux's
/// words (`timeout waiting for: [Deployment/apps/web status: 'InProgress']`).
pub async fn wait(
    manager: &ResourceManager,
    objects: &[ObjectRef],
    checks: &Checks,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut pending = Vec::new();
        for object in objects {
            let (status, message) = match manager.get(object).await {
                Ok(Some(live)) => match serde_json::to_value(&live) {
                    Ok(value) => checks.status_of(&value),
                    Err(e) => (Status::Unknown, e.to_string()),
                },
                Ok(None) => (Status::NotFound, "not found".to_string()),
                Err(e) => (Status::Unknown, e.to_string()),
            };
            if status != Status::Current {
                pending.push((object, status, message));
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let list: Vec<String> = pending
                .iter()
                .map(|(object, status, message)| {
                    if message.is_empty() {
                        format!("{} status: '{status}'", object.subject())
                    } else {
                        format!("{} status: '{status}': {message}", object.subject())
                    }
                })
                .collect();
            return Err(format!("timeout waiting for: [{}]", list.join(", ")));
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

impl KustomizationReconciler {
    /// Health: waits until the applied objects (`spec.wait`) or those of
    /// `spec.healthChecks` are Current, within the timeout.
    ///
    /// Conditions: sets `Healthy` (Unknown while checking, then True or
    /// False with `HealthCheckFailed`) and `Reconciling` while checking;
    /// removes `Healthy` when there is nothing to check.
    pub async fn reconcile_health(
        &self,
        ctx: &Context,
        object: &Kustomization,
        status: &mut KustomizationStatus,
        run: &Run,
        source: &Fetched,
        applied: &Applied,
    ) -> Result<()> {
        let namespace = object.namespace().unwrap_or_default();
        let generation = object.metadata.generation;
        let to_check: Vec<ObjectRef> = if object.spec.wait.unwrap_or(false) {
            applied
                .objects
                .iter()
                .filter(|o| !(o.kind == "Kustomization" && o.name == object.name_any() && o.namespace == namespace))
                .cloned()
                .collect()
        } else {
            health_check_refs(object, &namespace)
        };
        if to_check.is_empty() {
            status.remove(&[reasons::HEALTHY]);
            return Ok(());
        }
        let was_healthy = StatusConditions::is_true(status, reasons::HEALTHY);
        let message = format!(
            "Running health checks for revision {} with a timeout of {}",
            source.revision,
            go_duration(run.timeout)
        );
        status.mark_true(reasons::RECONCILING, reasons::PROGRESSING, &message, generation);
        status.mark_unknown(reasons::HEALTHY, reasons::PROGRESSING, &message, generation);
        ctx.report_progress(object, status).await;
        let check_started = Instant::now();
        if let Err(message) = wait(&applied.manager, &to_check, &run.checks, run.timeout).await {
            let message = format!("health check failed after {}: {message}", go_duration(check_started.elapsed()));
            status.mark_false(reasons::HEALTHY, reasons::HEALTH_CHECK_FAILED, &message, generation);
            history::upsert(status, &applied.digest, run.started, reasons::HEALTH_CHECK_FAILED, &applied.history);
            return Err(Error::HealthCheckFailed(message));
        }
        let message = format!("Health check passed in {}", go_duration(check_started.elapsed()));
        let is_new_revision = status.last_applied_revision.as_deref() != Some(source.revision.as_str());
        if !was_healthy || (is_new_revision && !applied.changed.is_empty()) {
            self.event(ctx, object, Severity::Info, &message, &source.revision).await;
        }
        status.mark_true(reasons::HEALTHY, reasons::SUCCEEDED, &message, generation);
        Ok(())
    }
}

/// The objects of `spec.healthChecks`, in `namespace` unless they say.
fn health_check_refs(object: &Kustomization, namespace: &str) -> Vec<ObjectRef> {
    object
        .spec
        .health_checks
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|check| {
            let api_version = check.api_version.clone().unwrap_or_default();
            let (group, version) = match api_version.split_once('/') {
                Some((group, version)) => (group.to_string(), version.to_string()),
                None => (String::new(), api_version),
            };
            ObjectRef {
                group,
                version,
                kind: check.kind.clone(),
                namespace: check.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| namespace.to_string()),
                name: check.name.clone(),
            }
        })
        .collect()
}
