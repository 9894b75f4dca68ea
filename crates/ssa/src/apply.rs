//! Staged server-side apply with dry-run drift detection, as Flux's `ApplyAllStaged`.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::{Map, Value, json};
use tracing::debug;

use crate::changeset::{Action, ChangeSet, ChangeSetEntry};
use crate::discovery::Resolved;
use crate::error::{Error, Result, dry_run_failed, is_immutable, is_not_found};
use crate::ignore::{self, CompiledRules};
use crate::normalize::{has_drifted, normalize};
use crate::object::ObjectRef;
use crate::sort::{Stage, apply_order};
use crate::{ApplyOptions, CleanupOptions, ResourceManager, any_in_metadata};

/// One desired object, ready to apply.
struct Desired {
    object: ObjectRef,
    value: Value,
    /// `None` until its kind is served (a CRD of the same set defines it).
    resolved: Option<Resolved>,
}

/// What the dry-run decided for one object.
struct Planned {
    entry: ChangeSetEntry,
    api: Option<Api<DynamicObject>>,
    payload: Option<Value>,
}

impl ResourceManager {
    /// Applies `objects` in Flux's stages and returns what happened to each.
    ///
    /// Before anything is written, every object is checked (apiVersion, kind, name; kind
    /// served by the cluster or defined by a CRD in the set; namespace given when
    /// namespaced) and normalised ([`crate::normalize`]), and `opts.labels` are stamped on it.
    /// Then, stage by stage (CRDs, Namespaces and ClusterRoles, waited for until Established /
    /// Active; `*Class` kinds, waited for; everything else), each object is dry-run applied
    /// and compared with the live one, and only after the whole stage passed the dry-run are
    /// the created or changed objects applied, with force (conflicts taken over). Objects
    /// within a stage go in Flux's kind order.
    pub async fn apply_all_staged(&self, objects: Vec<DynamicObject>, opts: &ApplyOptions) -> Result<ChangeSet> {
        let mut changes = ChangeSet::default();
        self.apply_all_staged_into(objects, opts, &mut changes).await?;
        Ok(changes)
    }

    /// [`ResourceManager::apply_all_staged`], recording into `changes` as it goes, so that
    /// after an error `changes` holds what the stages before the failing one did (Flux puts
    /// those lines in the Kustomization's error message after a partial apply).
    pub async fn apply_all_staged_into(
        &self,
        objects: Vec<DynamicObject>,
        opts: &ApplyOptions,
        changes: &mut ChangeSet,
    ) -> Result<()> {
        let rules = CompiledRules::compile(&opts.ignore)?;
        let mut desired = Vec::with_capacity(objects.len());
        for object in objects {
            desired.push(self.prepare(object, opts)?);
        }
        self.resolve_all(&mut desired).await?;

        let mut stages: [Vec<Desired>; 4] = Default::default();
        for item in desired {
            let index = match Stage::of(&item.object) {
                Stage::Definitions => 0,
                Stage::Classes => 1,
                Stage::Resources if opts.custom_stage_kinds.contains(&item.object.group_kind()) => 2,
                Stage::Resources => 3,
            };
            stages[index].push(item);
        }
        let [definitions, classes, custom, resources] = stages;
        for (stage, wait) in [(definitions, true), (classes, true), (custom, false), (resources, false)] {
            if stage.is_empty() {
                continue;
            }
            let objects = self.apply_stage(stage, opts, &rules, changes).await?;
            if wait {
                self.wait_for_ready(&objects, opts.wait_timeout, opts.wait_interval).await?;
            }
        }
        Ok(())
    }

    /// Checks, normalises and labels one object.
    fn prepare(&self, object: DynamicObject, opts: &ApplyOptions) -> Result<Desired> {
        let object_ref = ObjectRef::from_object(&object)?;
        let mut value = serde_json::to_value(&object)
            .map_err(|e| Error::InvalidObject { subject: object_ref.subject(), reason: e.to_string() })?;
        normalize(&mut value);
        if !opts.labels.is_empty() {
            let labels = value
                .as_object_mut()
                .map(|root| root.entry("metadata").or_insert_with(|| json!({})))
                .and_then(Value::as_object_mut)
                .map(|metadata| metadata.entry("labels").or_insert_with(|| json!({})));
            match labels {
                Some(Value::Object(labels)) => {
                    for (key, val) in &opts.labels {
                        labels.insert(key.clone(), Value::String(val.clone()));
                    }
                }
                _ => {
                    return Err(Error::InvalidObject {
                        subject: object_ref.subject(),
                        reason: "metadata.labels is not a map".into(),
                    });
                }
            }
        }
        Ok(Desired { object: object_ref, value, resolved: None })
    }

    /// Resolves every kind up front; kinds the set's own CRDs define are resolved later.
    async fn resolve_all(&self, desired: &mut [Desired]) -> Result<()> {
        let defined = crd_definitions(desired);
        let mut pending = Vec::new();
        for (i, item) in desired.iter_mut().enumerate() {
            match self.discovery.resolve(&item.object).await? {
                Some(resolved) => item.resolved = Some(resolved),
                None => match defined.iter().find(|d| d.matches(&item.object)) {
                    Some(definition) => pending.push((i, definition.namespaced)),
                    None => return Err(no_match(&item.object)),
                },
            }
        }
        for item in desired.iter_mut() {
            if let Some(resolved) = &item.resolved {
                check_scope(item, resolved.namespaced)?;
            }
        }
        for (i, namespaced) in pending {
            check_scope(&mut desired[i], namespaced)?;
        }
        Ok(())
    }

    /// Dry-runs every object of a stage, then applies those that are new or changed.
    /// Records each entry in `changes` once it is done and returns the stage's objects.
    async fn apply_stage(
        &self,
        mut stage: Vec<Desired>,
        opts: &ApplyOptions,
        rules: &CompiledRules,
        changes: &mut ChangeSet,
    ) -> Result<Vec<ObjectRef>> {
        stage.sort_by(|a, b| apply_order(&a.object, &b.object));
        for item in stage.iter_mut().filter(|i| i.resolved.is_none()) {
            item.resolved = Some(self.resolve_defined(&item.object, opts).await?);
        }
        let planned: Vec<Planned> = futures::stream::iter(stage.into_iter().map(|item| self.plan(item, opts, rules)))
            .buffered(opts.concurrency.max(1))
            .try_collect()
            .await?;
        let mut objects = Vec::with_capacity(planned.len());
        for plan in planned {
            if let (Some(api), Some(payload)) = (&plan.api, &plan.payload) {
                let params = PatchParams::apply(&self.owner.field_manager).force();
                api.patch(&plan.entry.object.name, &params, &Patch::Apply(payload)).await.map_err(|source| {
                    Error::ApplyFailed { subject: plan.entry.subject.clone(), source: source.into() }
                })?;
                debug!(object = %plan.entry.subject, action = %plan.entry.action, "applied");
            }
            objects.push(plan.entry.object.clone());
            changes.entries.push(plan.entry);
        }
        Ok(objects)
    }

    /// Resolves a kind a CRD of this set defines, waiting for discovery to serve it.
    async fn resolve_defined(&self, object: &ObjectRef, opts: &ApplyOptions) -> Result<Resolved> {
        let deadline = tokio::time::Instant::now() + opts.wait_timeout;
        loop {
            if let Some(resolved) = self.discovery.resolve(object).await? {
                return Ok(resolved);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(no_match(object));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Decides, by a server-side dry-run, what applying one object would do.
    async fn plan(&self, item: Desired, opts: &ApplyOptions, rules: &CompiledRules) -> Result<Planned> {
        let subject = item.object.subject();
        let Some(resolved) = &item.resolved else { return Err(no_match(&item.object)) };
        let api = resolved.api(self.client.clone(), &item.object);
        let name = item.object.name.clone();
        let mut live = get_value(&api, &name, &subject).await?;

        let skip_live = live.as_ref().is_some_and(|l| any_in_metadata(l, &opts.exclusions));
        let if_not_present = live.is_some() && any_in_metadata(&item.value, &opts.if_not_present);
        if any_in_metadata(&item.value, &opts.exclusions) || skip_live || if_not_present {
            return Ok(Planned { entry: ChangeSetEntry::new(item.object, Action::Skipped), api: None, payload: None });
        }

        let dry_run_params = PatchParams::apply(&self.owner.field_manager).force().dry_run();
        let dry_run = match api.patch(&name, &dry_run_params, &Patch::Apply(&item.value)).await {
            Ok(object) => object,
            Err(err) => {
                let forced = opts.force
                    || any_in_metadata(&item.value, &opts.force_selector)
                    || live.as_ref().is_some_and(|l| any_in_metadata(l, &opts.force_selector));
                if live.is_none() || !forced || !is_immutable(&err) {
                    return Err(dry_run_failed(subject, err));
                }
                debug!(object = %subject, error = %err, "immutable field changed, recreating");
                self.delete_and_wait(&api, &name, &subject, opts).await?;
                live = None;
                api.patch(&name, &dry_run_params, &Patch::Apply(&item.value))
                    .await
                    .map_err(|err| dry_run_failed(subject.clone(), err))?
            }
        };
        let to_value = |object: DynamicObject| {
            serde_json::to_value(&object)
                .map_err(|e| Error::InvalidObject { subject: subject.clone(), reason: e.to_string() })
        };
        let mut dry_run = to_value(dry_run)?;
        // A controller may write the object between the read and the dry-run (a Deployment's
        // revision annotation right after creation, say): the dry-run then starts from a
        // newer version than the live copy and would show drift that is not ours. Read again.
        for _ in 0..3 {
            let version = |v: &Value| v.pointer("/metadata/resourceVersion").cloned();
            match &live {
                Some(current) if version(current) != version(&dry_run) => {}
                _ => break,
            }
            live = get_value(&api, &name, &subject).await?;
            if live.is_none() {
                break;
            }
            let again = api.patch(&name, &dry_run_params, &Patch::Apply(&item.value)).await;
            dry_run = to_value(again.map_err(|err| dry_run_failed(subject.clone(), err))?)?;
        }

        let Some(live) = live else {
            return Ok(Planned {
                entry: ChangeSetEntry::new(item.object, Action::Created),
                api: Some(api),
                payload: Some(item.value),
            });
        };

        let cleaned = self.cleanup(&api, &name, &subject, &item.value, &live, &opts.cleanup).await?;
        let ignored = if rules.is_empty() { Vec::new() } else { rules.paths_for(&dry_run) };
        let drifted = if ignored.is_empty() {
            has_drifted(&live, &dry_run)
        } else {
            let (mut live_copy, mut dry_copy) = (live.clone(), dry_run.clone());
            for path in &ignored {
                ignore::remove(&mut live_copy, path);
                ignore::remove(&mut dry_copy, path);
            }
            has_drifted(&live_copy, &dry_copy)
        };
        if !cleaned && !drifted {
            return Ok(Planned {
                entry: ChangeSetEntry::new(item.object, Action::Unchanged),
                api: None,
                payload: None,
            });
        }
        let mut payload = item.value;
        for path in &ignored {
            let live_value = ignore::get(&live, path);
            if live_value == ignore::get(&dry_run, path) {
                continue;
            }
            match live_value {
                Some(value) if !ignore::owned_by_other_applier(&live, path, &self.owner.field_manager) => {
                    if !ignore::set(&mut payload, path, value.clone()) {
                        ignore::remove(&mut payload, path);
                    }
                }
                _ => ignore::remove(&mut payload, path),
            }
        }
        Ok(Planned {
            entry: ChangeSetEntry::new(item.object, Action::Configured),
            api: Some(api),
            payload: Some(payload),
        })
    }

    /// Deletes an object whose immutable fields changed and waits until it is gone.
    async fn delete_and_wait(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        subject: &str,
        opts: &ApplyOptions,
    ) -> Result<()> {
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(err) if is_not_found(&err) => {}
            Err(source) => return Err(Error::RecreateFailed { subject: subject.to_string(), source: source.into() }),
        }
        let deadline = tokio::time::Instant::now() + opts.wait_timeout;
        while get_value(api, name, subject).await?.is_some() {
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::RecreateTimeout { subject: subject.to_string(), timeout: opts.wait_timeout });
            }
            tokio::time::sleep(opts.wait_interval.min(Duration::from_millis(500))).await;
        }
        Ok(())
    }

    /// Takes over kubectl's managed fields and removes its annotation (and Flux's old
    /// markers) from the live object; returns whether it patched anything.
    async fn cleanup(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        subject: &str,
        desired: &Value,
        live: &Value,
        opts: &CleanupOptions,
    ) -> Result<bool> {
        if any_in_metadata(desired, &opts.exclusions) || any_in_metadata(live, &opts.exclusions) {
            return Ok(false);
        }
        let Some(patch) = cleanup_patch(live, opts, &self.owner.field_manager) else { return Ok(false) };
        let params = PatchParams { field_manager: Some(self.owner.field_manager.clone()), ..PatchParams::default() };
        api.patch(name, &params, &Patch::Merge(&patch))
            .await
            .map_err(|source| Error::CleanupFailed { subject: subject.to_string(), source: source.into() })?;
        debug!(object = %subject, "took over kubectl's managed fields");
        Ok(true)
    }
}

/// The merge patch that removes the listed annotations and labels and renames the matching
/// managed-fields entries to `manager` (operation Apply), merged into its own entry.
fn cleanup_patch(live: &Value, opts: &CleanupOptions, manager: &str) -> Option<Value> {
    let metadata = live.get("metadata")?;
    let mut patch = Map::new();
    for (field, keys) in [("annotations", &opts.annotations), ("labels", &opts.labels)] {
        let present: Map<String, Value> = keys
            .iter()
            .filter(|k| metadata.get(field).and_then(|m| m.get(k.as_str())).is_some())
            .map(|k| (k.clone(), Value::Null))
            .collect();
        if !present.is_empty() {
            patch.insert(field.into(), Value::Object(present));
        }
    }
    if let Some(Value::Array(entries)) = metadata.get("managedFields") {
        let text = |entry: &Value, key: &str| entry.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
        let taken = |entry: &Value| {
            text(entry, "subresource").is_empty()
                && opts
                    .field_managers
                    .iter()
                    .any(|m| text(entry, "manager").starts_with(&m.name) && text(entry, "operation") == m.operation)
        };
        if entries.iter().any(taken) {
            let mut kept: Vec<Value> = Vec::with_capacity(entries.len());
            let mut taken_fields = Vec::new();
            for entry in entries {
                if taken(entry) {
                    taken_fields.push(entry.clone());
                } else {
                    kept.push(entry.clone());
                }
            }
            let own = kept.iter_mut().find(|e| {
                text(e, "manager") == manager && text(e, "operation") == "Apply" && text(e, "subresource").is_empty()
            });
            match own {
                Some(own) => {
                    for entry in &taken_fields {
                        if let (Some(target), Some(fields)) = (own.get_mut("fieldsV1"), entry.get("fieldsV1")) {
                            merge_fields(target, fields);
                        }
                    }
                }
                None => {
                    let mut merged = taken_fields[0].clone();
                    for entry in &taken_fields[1..] {
                        if let (Some(target), Some(fields)) = (merged.get_mut("fieldsV1"), entry.get("fieldsV1")) {
                            merge_fields(target, fields);
                        }
                    }
                    if let Value::Object(map) = &mut merged {
                        map.insert("manager".into(), Value::String(manager.into()));
                        map.insert("operation".into(), Value::String("Apply".into()));
                    }
                    kept.push(merged);
                }
            }
            patch.insert("managedFields".into(), Value::Array(kept));
        }
    }
    if patch.is_empty() { None } else { Some(json!({ "metadata": patch })) }
}

/// Unions two `fieldsV1` trees.
fn merge_fields(target: &mut Value, source: &Value) {
    match (target, source) {
        (Value::Object(target), Value::Object(source)) => {
            for (key, value) in source {
                match target.get_mut(key) {
                    Some(existing) => merge_fields(existing, value),
                    None => {
                        target.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (target, source) if target.is_null() => *target = source.clone(),
        _ => {}
    }
}

async fn get_value(api: &Api<DynamicObject>, name: &str, subject: &str) -> Result<Option<Value>> {
    let object = api
        .get_opt(name)
        .await
        .map_err(|source| Error::GetFailed { subject: subject.to_string(), source: source.into() })?;
    object
        .map(|o| serde_json::to_value(&o))
        .transpose()
        .map_err(|e| Error::InvalidObject { subject: subject.to_string(), reason: e.to_string() })
}

fn no_match(object: &ObjectRef) -> Error {
    Error::NoMatch { subject: object.subject(), kind: object.kind.clone(), api_version: object.api_version() }
}

/// Requires a namespace on namespaced objects and drops it from cluster-scoped ones.
fn check_scope(item: &mut Desired, namespaced: bool) -> Result<()> {
    if namespaced && item.object.namespace.is_empty() {
        return Err(Error::NamespaceNotSpecified { subject: item.object.subject() });
    }
    if !namespaced && !item.object.namespace.is_empty() {
        item.object.namespace.clear();
        if let Some(Value::Object(metadata)) = item.value.get_mut("metadata") {
            metadata.remove("namespace");
        }
    }
    Ok(())
}

/// A kind that a CRD in the set defines.
struct Definition {
    group: String,
    kind: String,
    versions: Vec<String>,
    namespaced: bool,
}

impl Definition {
    fn matches(&self, object: &ObjectRef) -> bool {
        self.group == object.group && self.kind == object.kind && self.versions.contains(&object.version)
    }
}

fn crd_definitions(desired: &[Desired]) -> Vec<Definition> {
    desired
        .iter()
        .filter(|d| d.object.kind == "CustomResourceDefinition" && d.object.group == "apiextensions.k8s.io")
        .filter_map(|d| {
            let spec = d.value.get("spec")?;
            let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
            Some(Definition {
                group: text(spec.get("group"))?,
                kind: text(spec.get("names").and_then(|n| n.get("kind")))?,
                versions: spec
                    .get("versions")
                    .and_then(Value::as_array)
                    .map(|vs| vs.iter().filter_map(|v| text(v.get("name"))).collect())
                    .unwrap_or_default(),
                namespaced: text(spec.get("scope")).as_deref() != Some("Cluster"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_takes_over_kubectl_fields_and_drops_its_annotation() {
        let live = json!({"metadata": {
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"},
            "managedFields": [
                {"manager": "kustomize-controller", "operation": "Apply", "apiVersion": "v1",
                 "fieldsV1": {"f:data": {"f:a": {}}}},
                {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
                 "fieldsV1": {"f:data": {"f:b": {}}, "f:metadata": {"f:annotations": {".": {}}}}},
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                 "fieldsV1": {"f:data": {"f:c": {}}}}
            ]
        }});
        let options = ApplyOptions::default();
        let patch = cleanup_patch(&live, &options.cleanup, "kustomize-controller").unwrap();
        assert_eq!(patch["metadata"]["annotations"], json!({"kubectl.kubernetes.io/last-applied-configuration": null}));
        let entries = patch["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["manager"], "kustomize-controller");
        assert_eq!(
            entries[0]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}, "f:metadata": {"f:annotations": {".": {}}}})
        );
        assert_eq!(entries[1]["manager"], "kube-controller-manager");

        let clean = json!({"metadata": {"managedFields": [{"manager": "kustomize-controller", "operation": "Apply"}]}});
        assert!(cleanup_patch(&clean, &options.cleanup, "kustomize-controller").is_none());
    }

    #[test]
    fn cleanup_renames_when_the_manager_has_no_entry_yet() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "before-first-apply", "operation": "Update", "fieldsV1": {"f:data": {}}}
        ]}});
        let patch = cleanup_patch(&live, &ApplyOptions::default().cleanup, "ferry").unwrap();
        assert_eq!(
            patch["metadata"]["managedFields"],
            json!([{"manager": "ferry", "operation": "Apply", "fieldsV1": {"f:data": {}}}])
        );
    }
}
