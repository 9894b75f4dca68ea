//! Health checks: wait until objects are Current by kstatus's rules, or by
//! the Kustomization's CEL expressions for their kind.

use std::time::{Duration, Instant};

use ferry_kstatus::{HealthChecker, Status};
use ferry_ssa::{ObjectRef, ResourceManager};

/// How often objects are polled while waiting.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The custom checks of a Kustomization, compiled once per reconcile.
pub struct Checks {
    checker: HealthChecker,
}

impl Checks {
    /// Compiles `spec.healthCheckExprs`; an invalid expression is an error
    /// for the caller to stall on.
    pub fn new(exprs: &[ferry_api_meta::CustomHealthCheck]) -> Result<Self, String> {
        Ok(Self { checker: HealthChecker::new(exprs).map_err(|e| e.to_string())? })
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
