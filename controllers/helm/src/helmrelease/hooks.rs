//! Running a release's hooks as Helm's `execHook` runs them: the hooks of
//! one event by weight then name, each created afresh (an existing one is
//! deleted first under `before-hook-creation`, the default policy), waited
//! for when it is a Job or a Pod, and deleted afterwards as its
//! `hook-succeeded` / `hook-failed` policies say. Each hook's last run
//! (start, end, phase) is recorded in the release.

use std::time::{Duration, Instant};

use ferry_ssa::{ApplyOptions, DeleteOptions, ObjectRef, ResourceManager};
use kube::api::DynamicObject;

use super::record::{Hook, Release, now};
use super::render;

/// The default delete policy.
pub const BEFORE_HOOK_CREATION: &str = "before-hook-creation";
/// Delete the hook after every hook of the event succeeded.
pub const HOOK_SUCCEEDED: &str = "hook-succeeded";
/// Delete the hook when it failed.
pub const HOOK_FAILED: &str = "hook-failed";

/// How often a running hook is looked at.
const POLL: Duration = Duration::from_millis(500);

/// Why a hook failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The hook's document is no object.
    #[error("{hook}: {source}")]
    Object {
        /// The hook.
        hook: String,
        /// The cause.
        #[source]
        source: Box<render::Error>,
    },
    /// Creating or deleting the hook failed.
    #[error("{event} hook {hook}: {source}")]
    Apply {
        /// The event.
        event: String,
        /// The hook.
        hook: String,
        /// The cause.
        #[source]
        source: Box<ferry_ssa::Error>,
    },
    /// The hook ran and failed.
    #[error("{event} hook {hook} failed: {message}")]
    Failed {
        /// The event.
        event: String,
        /// The hook.
        hook: String,
        /// What its status says.
        message: String,
    },
    /// The hook did not finish in time.
    #[error("{event} hook {hook}: timed out waiting for the condition")]
    Timeout {
        /// The event.
        event: String,
        /// The hook.
        hook: String,
    },
}

/// What runs hooks: the manager applying them and the release they belong to.
pub struct Runner<'a> {
    /// Applies and deletes the hook objects.
    pub manager: &'a ResourceManager,
    /// The apply options of the release's objects.
    pub apply: &'a ApplyOptions,
    /// The release name.
    pub name: &'a str,
    /// The release namespace.
    pub namespace: &'a str,
}

impl Runner<'_> {
    /// Runs the hooks of `event` of `release` (those `select` keeps) within
    /// `timeout`, recording their runs in `release.hooks`.
    pub async fn run(
        &self,
        release: &mut Release,
        event: &str,
        timeout: Duration,
        select: impl Fn(&Hook) -> bool,
    ) -> Result<(), Error> {
        let mut order: Vec<usize> = (0..release.hooks.len())
            .filter(|i| release.hooks[*i].runs_on(event) && select(&release.hooks[*i]))
            .collect();
        order.sort_by(|a, b| {
            let (a, b) = (&release.hooks[*a], &release.hooks[*b]);
            a.weight.cmp(&b.weight).then_with(|| a.name.cmp(&b.name))
        });
        let deadline = Instant::now() + timeout;
        for &index in &order {
            let hook = release.hooks[index].clone();
            let object = self.object(&hook)?;
            let reference = ObjectRef::from_object(&object).map_err(|source| Error::Apply {
                event: event.into(),
                hook: hook.path.clone(),
                source: Box::new(source),
            })?;
            if has_policy(&hook, BEFORE_HOOK_CREATION) {
                self.delete(event, &hook, &reference).await?;
            }
            release.hooks[index].last_run.started_at = Some(now());
            release.hooks[index].last_run.completed_at = None;
            release.hooks[index].last_run.phase = "Running".into();
            let outcome = match self.manager.apply_all_staged(vec![object], self.apply).await {
                Ok(_) => self.wait(event, &hook, &reference, deadline).await,
                Err(source) => {
                    Err(Error::Apply { event: event.into(), hook: hook.path.clone(), source: Box::new(source) })
                }
            };
            release.hooks[index].last_run.completed_at = Some(now());
            match outcome {
                Ok(()) => release.hooks[index].last_run.phase = "Succeeded".into(),
                Err(error) => {
                    release.hooks[index].last_run.phase = "Failed".into();
                    if has_policy(&hook, HOOK_FAILED) {
                        self.delete(event, &hook, &reference).await?;
                    }
                    return Err(error);
                }
            }
        }
        for &index in &order {
            let hook = release.hooks[index].clone();
            if has_policy(&hook, HOOK_SUCCEEDED) {
                let object = self.object(&hook)?;
                if let Ok(reference) = ObjectRef::from_object(&object) {
                    self.delete(event, &hook, &reference).await?;
                }
            }
        }
        Ok(())
    }

    fn object(&self, hook: &Hook) -> Result<DynamicObject, Error> {
        let mut documents = render::documents(&hook.manifest, &hook.path)
            .map_err(|source| Error::Object { hook: hook.path.clone(), source: Box::new(source) })?;
        let value = documents.pop().unwrap_or_default();
        render::to_object(value, self.name, self.namespace)
            .map_err(|source| Error::Object { hook: hook.path.clone(), source: Box::new(source) })
    }

    async fn delete(&self, event: &str, hook: &Hook, reference: &ObjectRef) -> Result<(), Error> {
        let options = DeleteOptions {
            owner_labels: Default::default(),
            exclusions: Default::default(),
            propagation: kube::api::PropagationPolicy::Background,
        };
        self.manager.delete_all(std::slice::from_ref(reference), &options).await.map_err(|source| Error::Apply {
            event: event.into(),
            hook: hook.path.clone(),
            source: Box::new(source),
        })?;
        // Helm waits for the deletion before creating the hook again.
        let _ = self.manager.wait_for_termination(std::slice::from_ref(reference), Duration::from_secs(60)).await;
        Ok(())
    }

    /// Jobs until complete, Pods until succeeded; anything else is done once created.
    async fn wait(&self, event: &str, hook: &Hook, reference: &ObjectRef, deadline: Instant) -> Result<(), Error> {
        if !matches!(hook.kind.as_str(), "Job" | "Pod") {
            return Ok(());
        }
        loop {
            let live = self.manager.get(reference).await.ok().flatten();
            if let Some(live) = live.and_then(|l| serde_json::to_value(&l).ok()) {
                match finished(&hook.kind, &live) {
                    Some(Ok(())) => return Ok(()),
                    Some(Err(message)) => {
                        return Err(Error::Failed { event: event.into(), hook: hook.path.clone(), message });
                    }
                    None => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout { event: event.into(), hook: hook.path.clone() });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Whether the hook's policies include `policy` (`before-hook-creation`
/// when it names none, as Helm defaults).
pub fn has_policy(hook: &Hook, policy: &str) -> bool {
    if hook.delete_policies.is_empty() {
        return policy == BEFORE_HOOK_CREATION;
    }
    hook.delete_policies.iter().any(|p| p == policy)
}

/// Whether a Job or Pod finished: `Some(Ok)` succeeded, `Some(Err)` failed.
pub fn finished(kind: &str, live: &serde_json::Value) -> Option<Result<(), String>> {
    let status = live.get("status")?;
    match kind {
        "Job" => {
            let conditions = status.get("conditions").and_then(|c| c.as_array()).cloned().unwrap_or_default();
            for condition in conditions {
                let is_true = condition.get("status").and_then(|s| s.as_str()) == Some("True");
                match condition.get("type").and_then(|t| t.as_str()) {
                    Some("Complete") if is_true => return Some(Ok(())),
                    Some("Failed") if is_true => {
                        let message = condition.get("message").and_then(|m| m.as_str()).unwrap_or("job failed");
                        return Some(Err(message.to_string()));
                    }
                    _ => {}
                }
            }
            None
        }
        _ => match status.get("phase").and_then(|p| p.as_str()) {
            Some("Succeeded") => Some(Ok(())),
            Some("Failed") => Some(Err("pod failed".into())),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_default_to_before_hook_creation() {
        let mut hook = Hook::default();
        assert!(has_policy(&hook, BEFORE_HOOK_CREATION));
        assert!(!has_policy(&hook, HOOK_SUCCEEDED));
        hook.delete_policies = vec![HOOK_SUCCEEDED.into()];
        assert!(!has_policy(&hook, BEFORE_HOOK_CREATION));
        assert!(has_policy(&hook, HOOK_SUCCEEDED));
    }

    #[test]
    fn jobs_and_pods_finish_by_their_status() {
        let job = serde_json::json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}});
        assert_eq!(finished("Job", &job), Some(Ok(())));
        let failed =
            serde_json::json!({"status": {"conditions": [{"type": "Failed", "status": "True", "message": "x"}]}});
        assert_eq!(finished("Job", &failed), Some(Err("x".into())));
        assert_eq!(finished("Pod", &serde_json::json!({"status": {"phase": "Running"}})), None);
        assert_eq!(finished("Pod", &serde_json::json!({"status": {"phase": "Succeeded"}})), Some(Ok(())));
    }
}
