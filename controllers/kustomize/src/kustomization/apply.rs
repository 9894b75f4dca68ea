//! The apply step: the built objects applied in stages with server-side
//! apply, and the new inventory, whose leavers are stale.

use std::collections::{BTreeMap, HashSet};

use ferry_api_kustomize::{Kustomization, KustomizationStatus};
use ferry_api_meta::conditions as reasons;
use ferry_api_meta::{ObjectId, ResourceInventory, ResourceRef};
use ferry_sdk::events::Severity;
use ferry_sdk::reconcile::Context;
use ferry_ssa::{ApplyOptions, ChangeSet, ObjectRef, ResourceManager};
use kube::ResourceExt;
use kube::api::DynamicObject;

use super::inputs::Built;
use super::source::Fetched;
use super::{Error, KustomizationReconciler, Result, Run, build, history};

/// What the apply step did, for prune and health.
pub struct Applied {
    /// The manager that applied, with the target's client.
    pub manager: ResourceManager,
    /// The objects applied (the new inventory).
    pub objects: Vec<ObjectRef>,
    /// The objects of the old inventory no longer applied.
    pub stale: Vec<ObjectRef>,
    /// The event lines of what changed; empty when nothing did.
    pub changed: String,
    /// The digest of the build, the history key.
    pub digest: String,
    /// The history metadata.
    pub history: BTreeMap<String, String>,
}

impl KustomizationReconciler {
    /// Apply: the built objects, with commonMetadata and the owner labels,
    /// applied in Flux's stages (`--custom-apply-stage-kinds`), undoing the
    /// changes of `--override-manager`s; records the new inventory.
    ///
    /// Conditions: none directly; a failure is `ReconciliationFailed` and a
    /// history entry.
    pub async fn reconcile_apply(
        &self,
        ctx: &Context,
        object: &Kustomization,
        status: &mut KustomizationStatus,
        run: &Run,
        source: &Fetched,
        built: Built,
    ) -> Result<Applied> {
        let manager = ResourceManager::new(built.client, self.owner());
        let objects = self.desired_objects(object, built.objects)?;
        let mut apply_options = ApplyOptions {
            force: object.spec.force.unwrap_or(false),
            labels: owner_labels(object),
            ignore: object.spec.ignore.clone().unwrap_or_default(),
            wait_timeout: run.timeout,
            concurrency: self.options.concurrent_ssa,
            custom_stage_kinds: self.options.custom_stage_kinds.clone(),
            ..ApplyOptions::new(&self.owner())
        };
        // Undo what the disallowed managers did, whether they applied or updated.
        for name in &self.options.override_managers {
            for operation in ["Apply", "Update"] {
                apply_options.cleanup.field_managers.push(ferry_ssa::FieldManager::new(name, operation));
            }
        }
        let changes = match manager.apply_all_staged(objects, &apply_options).await {
            Ok(changes) => changes,
            Err(error) => {
                history::upsert(status, &built.digest, run.started, reasons::RECONCILIATION_FAILED, &built.history);
                return Err(Error::ApplyFailed(error));
            }
        };
        let changed = changed_lines(&changes);
        if !changed.is_empty() {
            self.event(ctx, object, Severity::Info, &changed, &source.revision).await;
        }

        // The new inventory; what left it is stale.
        let skipped: HashSet<ObjectId> = changes
            .entries
            .iter()
            .filter(|e| e.action == ferry_ssa::Action::Skipped)
            .map(|e| object_id(&e.object))
            .collect();
        let applied: Vec<ObjectRef> = changes
            .entries
            .iter()
            .filter(|e| e.action != ferry_ssa::Action::Skipped)
            .map(|e| e.object.clone())
            .collect();
        let old_inventory = status.inventory.take();
        let new_ids: HashSet<ObjectId> = applied.iter().map(object_id).collect();
        status.inventory = Some(ResourceInventory {
            entries: applied.iter().map(|o| ResourceRef::new(&object_id(o), version_of(o))).collect(),
        });
        let stale: Vec<ObjectRef> = old_inventory
            .as_ref()
            .map(inventory_refs)
            .unwrap_or_default()
            .into_iter()
            .filter(|o| !new_ids.contains(&object_id(o)) && !skipped.contains(&object_id(o)))
            .collect();
        Ok(Applied { manager, objects: applied, stale, changed, digest: built.digest, history: built.history })
    }

    /// The built objects as the API server takes them, with commonMetadata.
    fn desired_objects(&self, object: &Kustomization, built: Vec<serde_json::Value>) -> Result<Vec<DynamicObject>> {
        let common = object.spec.common_metadata.clone().unwrap_or_default();
        built
            .into_iter()
            .map(|mut value| {
                for (field, extra) in [("labels", &common.labels), ("annotations", &common.annotations)] {
                    let Some(extra) = extra else { continue };
                    if let Some(metadata) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                        let map = metadata.entry(field).or_insert_with(|| serde_json::json!({}));
                        if let Some(map) = map.as_object_mut() {
                            for (k, v) in extra {
                                map.insert(k.clone(), serde_json::Value::String(v.clone()));
                            }
                        }
                    }
                }
                let describe = build::describe(&value);
                serde_json::from_value::<DynamicObject>(value).map_err(|source| Error::NotAnObject { describe, source })
            })
            .collect()
    }
}

pub(super) fn owner_labels(object: &Kustomization) -> BTreeMap<String, String> {
    BTreeMap::from([
        (ferry_api_meta::annotations::KUSTOMIZE_NAME_LABEL.to_string(), object.name_any()),
        (ferry_api_meta::annotations::KUSTOMIZE_NAMESPACE_LABEL.to_string(), object.namespace().unwrap_or_default()),
    ])
}

/// The lines of a change set that changed something, Flux's event message.
pub(super) fn changed_lines(changes: &ChangeSet) -> String {
    changes.entries.iter().filter(|e| e.action.is_change()).map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
}

fn object_id(object: &ObjectRef) -> ObjectId {
    ObjectId {
        namespace: object.namespace.clone(),
        name: object.name.clone(),
        group: object.group.clone(),
        kind: object.kind.clone(),
    }
}

fn version_of(object: &ObjectRef) -> String {
    object.version.clone()
}

pub(super) fn inventory_refs(inventory: &ResourceInventory) -> Vec<ObjectRef> {
    inventory
        .entries
        .iter()
        .filter_map(|entry| {
            let id = entry.object_id().ok()?;
            Some(ObjectRef {
                group: id.group,
                version: entry.v.clone(),
                kind: id.kind,
                namespace: id.namespace,
                name: id.name,
            })
        })
        .collect()
}
