//! Ferry's server-side apply resource manager, the equivalent of Flux's `fluxcd/pkg/ssa`
//! `ResourceManager` that kustomize-controller applies with.
//!
//! - [`ResourceManager::apply_all_staged`] applies a set of objects in Flux's stages (CRDs,
//!   Namespaces and ClusterRoles first, then `*Class` kinds, then the rest), detecting drift
//!   with a server-side dry-run so only changed objects are written, and honouring the
//!   `kustomize.toolkit.fluxcd.io/{ssa,force,reconcile}` annotations and `spec.ignore`.
//! - [`ResourceManager::delete_all`] prunes, honouring `prune: disabled` and owner labels.
//! - [`ResourceManager::wait_for_termination`] and [`ResourceManager::get`] serve the
//!   `WaitForTermination` deletion policy and the caller's health checks.
//! - [`diff_inventory`] finds what a new revision no longer contains, in deletion order.
//!
//! Every object of a stage is validated by a server-side dry-run before any of them is written,
//! and every kind is resolved before the first stage, so a commit with an unknown kind or an
//! invalid object leaves the cluster as it was.
#![deny(missing_docs)]

mod apply;
mod changeset;
mod delete;
mod discovery;
mod error;
mod ignore;
mod normalize;
mod object;
mod sort;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ferry_api_meta::IgnoreRule;
use kube::api::DynamicObject;

pub use changeset::{Action, ChangeSet, ChangeSetEntry};
pub use error::{Error, Result};
pub use normalize::normalize;
pub use object::ObjectRef;
pub use sort::{Stage, apply_order, diff_inventory};

/// Who applies: the field manager recorded in `managedFields`, and the API group that prefixes
/// the owner labels and the annotations the manager reads (`<group>/ssa`, `<group>/prune`...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The field manager, e.g. `kustomize-controller`.
    pub field_manager: String,
    /// The API group, e.g. `kustomize.toolkit.fluxcd.io`.
    pub group: String,
}

impl Owner {
    /// kustomize-controller's identity, as Flux's.
    pub fn kustomize_controller() -> Self {
        Self { field_manager: "kustomize-controller".into(), group: "kustomize.toolkit.fluxcd.io".into() }
    }

    /// The owner labels for the applier object `name` in `namespace`:
    /// `<group>/name` and `<group>/namespace`.
    pub fn labels(&self, name: &str, namespace: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (format!("{}/name", self.group), name.to_string()),
            (format!("{}/namespace", self.group), namespace.to_string()),
        ])
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}/{suffix}", self.group)
    }
}

/// A managed-fields entry to take over: entries whose manager name starts with `name` and
/// whose operation is `operation` (`Apply` or `Update`) become the manager's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldManager {
    /// The manager name prefix.
    pub name: String,
    /// `Apply` or `Update`.
    pub operation: String,
}

impl FieldManager {
    /// Entries of managers named `name…` with `operation`.
    pub fn new(name: &str, operation: &str) -> Self {
        Self { name: name.into(), operation: operation.into() }
    }
}

/// What to remove from live objects before applying, so that leftovers of `kubectl apply`
/// (client-side) and of older Flux versions do not keep fields alive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanupOptions {
    /// Annotation keys to remove.
    pub annotations: Vec<String>,
    /// Label keys to remove.
    pub labels: Vec<String>,
    /// Managed-fields entries to take over.
    pub field_managers: Vec<FieldManager>,
    /// Objects carrying any of these labels or annotations (key, value; the value compared
    /// without case) are not cleaned up.
    pub exclusions: BTreeMap<String, String>,
}

/// How [`ResourceManager::apply_all_staged`] applies.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Recreate every object whose update is refused for an immutable field (`spec.force`).
    pub force: bool,
    /// Labels stamped on every object (the owner labels).
    pub labels: BTreeMap<String, String>,
    /// Fields left as they are in the cluster (`spec.ignore`).
    pub ignore: Vec<IgnoreRule>,
    /// How long to wait for CRDs and Namespaces (and recreated objects) between stages.
    pub wait_timeout: Duration,
    /// How often to look while waiting.
    pub wait_interval: Duration,
    /// Objects (desired or live) carrying any of these labels or annotations are skipped.
    /// Default: `<group>/reconcile: disabled`, `<group>/ssa: ignore`.
    pub exclusions: BTreeMap<String, String>,
    /// Desired objects carrying any of these are only created, never changed.
    /// Default: `<group>/ssa: ifnotpresent`.
    pub if_not_present: BTreeMap<String, String>,
    /// Objects (desired or live) carrying any of these are recreated on immutable-field errors.
    /// Default: `<group>/force: enabled`.
    pub force_selector: BTreeMap<String, String>,
    /// Leftovers removed before applying.
    pub cleanup: CleanupOptions,
    /// How many objects are dry-run at once.
    pub concurrency: usize,
    /// `group/Kind` (core kinds as `Kind`) applied in a stage of their own, after the
    /// definitions and classes and before the other resources (`--custom-apply-stage-kinds`).
    pub custom_stage_kinds: BTreeSet<String>,
}

impl ApplyOptions {
    /// kustomize-controller's options for `owner`: the annotations under the owner's group,
    /// kubectl's leftovers cleaned up unless the object says `<group>/ssa: Merge`.
    pub fn new(owner: &Owner) -> Self {
        let map = |pairs: &[(String, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
        };
        let disabled = ferry_api_meta::annotations::DISABLED_VALUE;
        Self {
            force: false,
            labels: BTreeMap::new(),
            ignore: Vec::new(),
            wait_timeout: Duration::from_secs(60),
            wait_interval: Duration::from_secs(1),
            exclusions: map(&[
                (owner.key("reconcile"), disabled),
                (owner.key("ssa"), ferry_api_meta::annotations::SSA_IGNORE),
            ]),
            if_not_present: map(&[(owner.key("ssa"), ferry_api_meta::annotations::SSA_IF_NOT_PRESENT)]),
            force_selector: map(&[(owner.key("force"), ferry_api_meta::annotations::ENABLED_VALUE)]),
            cleanup: CleanupOptions {
                annotations: vec![
                    "kubectl.kubernetes.io/last-applied-configuration".into(),
                    owner.key("checksum"),
                    "fluxcd.io/sync-checksum".into(),
                ],
                labels: vec!["fluxcd.io/sync-gc-mark".into()],
                field_managers: vec![
                    FieldManager::new("kubectl", "Apply"),
                    FieldManager::new("kubectl", "Update"),
                    FieldManager::new("before-first-apply", "Update"),
                    FieldManager::new(&owner.field_manager, "Update"),
                ],
                exclusions: map(&[(owner.key("ssa"), ferry_api_meta::annotations::SSA_MERGE)]),
            },
            concurrency: 4,
            custom_stage_kinds: BTreeSet::new(),
        }
    }
}

impl Default for ApplyOptions {
    /// [`ApplyOptions::new`] for kustomize-controller.
    fn default() -> Self {
        Self::new(&Owner::kustomize_controller())
    }
}

/// How [`ResourceManager::delete_all`] deletes.
#[derive(Clone, Debug, PartialEq)]
pub struct DeleteOptions {
    /// Only live objects whose labels include all of these are deleted (the applier's owner
    /// labels); objects owned by another applier, or by none, are skipped. Empty: no check.
    pub owner_labels: BTreeMap<String, String>,
    /// Live objects carrying any of these labels or annotations are skipped.
    /// Default: `<group>/prune: disabled`, `<group>/reconcile: disabled`.
    pub exclusions: BTreeMap<String, String>,
    /// How dependents are garbage collected.
    pub propagation: kube::api::PropagationPolicy,
}

impl DeleteOptions {
    /// Flux's prune options for the applier `name` in `namespace` owned by `owner`.
    pub fn new(owner: &Owner, name: &str, namespace: &str) -> Self {
        let disabled = ferry_api_meta::annotations::DISABLED_VALUE.to_string();
        Self {
            owner_labels: owner.labels(name, namespace),
            exclusions: BTreeMap::from([(owner.key("prune"), disabled.clone()), (owner.key("reconcile"), disabled)]),
            propagation: kube::api::PropagationPolicy::Background,
        }
    }
}

/// Applies, prunes and waits for objects with server-side apply under one field manager.
pub struct ResourceManager {
    client: kube::Client,
    owner: Owner,
    discovery: discovery::Discovery,
}

impl ResourceManager {
    /// A manager applying with `client` as `owner`.
    pub fn new(client: kube::Client, owner: Owner) -> Self {
        Self { discovery: discovery::Discovery::new(client.clone()), client, owner }
    }

    /// The owner this manager applies as.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// The live object, or `None` when it (or its kind) does not exist.
    pub async fn get(&self, object: &ObjectRef) -> Result<Option<DynamicObject>> {
        let Some(resolved) = self.discovery.resolve(object).await? else { return Ok(None) };
        resolved
            .api(self.client.clone(), object)
            .get_opt(&object.name)
            .await
            .map_err(|source| Error::GetFailed { subject: object.subject(), source: source.into() })
    }
}

/// Whether the object's labels or annotations hold any of `selector`'s keys with its value
/// (compared without case), as Flux's `AnyInMetadata`.
pub(crate) fn any_in_metadata(object: &serde_json::Value, selector: &BTreeMap<String, String>) -> bool {
    let metadata = object.get("metadata");
    selector.iter().any(|(key, value)| {
        ["labels", "annotations"].iter().any(|field| {
            metadata
                .and_then(|m| m.get(*field))
                .and_then(|m| m.get(key))
                .and_then(serde_json::Value::as_str)
                .is_some_and(|v| !v.is_empty() && v.eq_ignore_ascii_case(value))
        })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn metadata_selectors_ignore_case_of_values() {
        let object = json!({"metadata": {"annotations": {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}}});
        let options = ApplyOptions::default();
        assert!(any_in_metadata(&object, &options.if_not_present));
        assert!(!any_in_metadata(&object, &options.exclusions));
        let object = json!({"metadata": {"labels": {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}}});
        assert!(any_in_metadata(&object, &options.exclusions));
        assert!(!any_in_metadata(&json!({}), &options.exclusions));
    }

    #[test]
    fn delete_options_use_the_owner_group() {
        let owner = Owner::kustomize_controller();
        let options = DeleteOptions::new(&owner, "apps", "flux-system");
        assert_eq!(options.owner_labels.get("kustomize.toolkit.fluxcd.io/name").map(String::as_str), Some("apps"));
        assert_eq!(
            options.exclusions.get(ferry_api_meta::annotations::PRUNE).map(String::as_str),
            Some(ferry_api_meta::annotations::DISABLED_VALUE)
        );
    }
}
