//! Pruning and waiting, as Flux's `DeleteAll`, `WaitForSet` and `WaitForSetTermination`.

use std::time::Duration;

use kube::api::{DeleteParams, DynamicObject};
use serde_json::Value;
use tracing::debug;

use crate::changeset::{Action, ChangeSet, ChangeSetEntry};
use crate::error::{Error, Result, is_not_found};
use crate::object::ObjectRef;
use crate::sort::apply_order;
use crate::{DeleteOptions, ResourceManager, any_in_metadata};

impl ResourceManager {
    /// Deletes `objects` in reverse apply order (Namespaces and CRDs last). Objects already
    /// gone count as deleted; live objects without all of `opts.owner_labels`, or carrying
    /// one of `opts.exclusions` (`prune: disabled`), are skipped. Every object is tried; the
    /// failures are reported together.
    pub async fn delete_all(&self, objects: &[ObjectRef], opts: &DeleteOptions) -> Result<ChangeSet> {
        let mut objects = objects.to_vec();
        objects.sort_by(|a, b| apply_order(b, a));
        let mut changes = ChangeSet::default();
        let mut failures = Vec::new();
        for object in objects {
            match self.delete_one(&object, opts).await {
                Ok(action) => changes.entries.push(ChangeSetEntry::new(object, action)),
                Err(err) => failures.push(err.to_string()),
            }
        }
        if failures.is_empty() {
            Ok(changes)
        } else {
            let mut text = failures.join(";");
            text.push(';');
            Err(Error::DeleteFailed(text))
        }
    }

    async fn delete_one(&self, object: &ObjectRef, opts: &DeleteOptions) -> Result<Action> {
        let subject = object.subject();
        let Some(resolved) = self.discovery.resolve(object).await? else { return Ok(Action::Deleted) };
        let api = resolved.api(self.client.clone(), object);
        let live = match api.get_opt(&object.name).await {
            Ok(Some(live)) => live,
            Ok(None) => return Ok(Action::Deleted),
            Err(source) => return Err(Error::GetFailed { subject, source: source.into() }),
        };
        let labels = live.metadata.labels.clone().unwrap_or_default();
        if !opts.owner_labels.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            debug!(object = %subject, "owned by another applier, not deleted");
            return Ok(Action::Skipped);
        }
        let live_value = serde_json::to_value(&live).unwrap_or(Value::Null);
        if any_in_metadata(&live_value, &opts.exclusions) {
            return Ok(Action::Skipped);
        }
        let params = DeleteParams { propagation_policy: Some(opts.propagation.clone()), ..DeleteParams::default() };
        match api.delete(&object.name, &params).await {
            Ok(_) => {}
            Err(err) if is_not_found(&err) => {}
            Err(source) => return Err(Error::DeleteFailed(format!("{subject} delete failed: {source}"))),
        }
        if object.kind == "CustomResourceDefinition" {
            self.forget_kinds_of(&live);
        }
        Ok(Action::Deleted)
    }

    /// A deleted CRD's kinds must be looked up afresh.
    fn forget_kinds_of(&self, crd: &DynamicObject) {
        let spec = &crd.data["spec"];
        let group = spec["group"].as_str().unwrap_or_default();
        let kind = spec["names"]["kind"].as_str().unwrap_or_default();
        for version in spec["versions"].as_array().into_iter().flatten() {
            let version = version["name"].as_str().unwrap_or_default();
            self.discovery.forget(&ObjectRef {
                group: group.into(),
                version: version.into(),
                kind: kind.into(),
                ..ObjectRef::default()
            });
        }
    }

    /// Waits until none of `objects` exists any more (deletion policy `WaitForTermination`).
    pub async fn wait_for_termination(&self, objects: &[ObjectRef], timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut remaining = Vec::new();
            for object in objects {
                if let Some(live) = self.get(object).await? {
                    let state = if live.metadata.deletion_timestamp.is_some() { "Terminating" } else { "Current" };
                    remaining.push(format!("{} status: '{state}'", object.subject()));
                }
            }
            if remaining.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::WaitTimeout(remaining.join(", ")));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Waits until every object exists and is ready to be used: CRDs Established, Namespaces
    /// Active, none being deleted.
    pub(crate) async fn wait_for_ready(
        &self,
        objects: &[ObjectRef],
        timeout: Duration,
        interval: Duration,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut waiting = Vec::new();
            for object in objects {
                let state = match self.get(object).await? {
                    None => Some("NotFound"),
                    Some(live) if live.metadata.deletion_timestamp.is_some() => Some("Terminating"),
                    Some(live) if !is_ready(object, &live) => Some("InProgress"),
                    Some(_) => None,
                };
                if let Some(state) = state {
                    waiting.push(format!("{} status: '{state}'", object.subject()));
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::WaitTimeout(waiting.join(", ")));
            }
            tokio::time::sleep(interval.min(Duration::from_millis(500))).await;
        }
    }
}

fn is_ready(object: &ObjectRef, live: &DynamicObject) -> bool {
    let status = &live.data["status"];
    match (object.group.as_str(), object.kind.as_str()) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Established" && c["status"] == "True"),
        ("", "Namespace") => status["phase"].as_str().is_none_or(|p| p == "Active"),
        _ => true,
    }
}
