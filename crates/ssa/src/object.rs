//! Object identities: [`ObjectRef`], its Flux inventory form, and how Flux names an object in
//! messages (`Kind/namespace/name`).

use std::fmt;

use ferry_api_meta::inventory::InventoryIdError;
use ferry_api_meta::{ObjectId, ResourceRef};
use kube::api::{DynamicObject, GroupVersionKind};

use crate::error::{Error, Result};

/// The identity of one Kubernetes object: group, version, kind, namespace and name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// The API group, empty for the core group.
    pub group: String,
    /// The API version, without the group.
    pub version: String,
    /// The kind.
    pub kind: String,
    /// The namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ObjectRef {
    /// The reference for `apiVersion` (`group/version` or `version`), kind, namespace and name.
    pub fn new(api_version: &str, kind: &str, namespace: &str, name: &str) -> Self {
        let (group, version) = split_api_version(api_version);
        Self {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// The reference of an object; it must have an apiVersion, a kind and a name.
    pub fn from_object(object: &DynamicObject) -> Result<Self> {
        let types = object.types.as_ref();
        let api_version = types.map(|t| t.api_version.as_str()).unwrap_or_default();
        let kind = types.map(|t| t.kind.as_str()).unwrap_or_default();
        let name = object.metadata.name.as_deref().unwrap_or_default();
        let namespace = object.metadata.namespace.as_deref().unwrap_or_default();
        if api_version.is_empty() || kind.is_empty() || name.is_empty() {
            return Err(Error::InvalidObject {
                subject: format!("{kind}/{namespace}/{name}"),
                reason: "apiVersion, kind and metadata.name are required".to_string(),
            });
        }
        Ok(Self::new(api_version, kind, namespace, name))
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// The group, version and kind.
    pub fn gvk(&self) -> GroupVersionKind {
        GroupVersionKind::gvk(&self.group, &self.version, &self.kind)
    }

    /// How Flux names the object in messages: `Kind/namespace/name`, or `Kind/name` when
    /// cluster-scoped.
    pub fn subject(&self) -> String {
        subject(&self.kind, &self.namespace, &self.name)
    }

    /// `group/Kind`, or `Kind` for the core group, as `--custom-apply-stage-kinds` names kinds.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() { self.kind.clone() } else { format!("{}/{}", self.group, self.kind) }
    }

    /// The object's inventory id (version left out).
    pub fn object_id(&self) -> ObjectId {
        ObjectId {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            group: self.group.clone(),
            kind: self.kind.clone(),
        }
    }

    /// The object's entry in a Flux inventory (`status.inventory.entries[]`).
    pub fn to_inventory_entry(&self) -> ResourceRef {
        ResourceRef::new(&self.object_id(), self.version.clone())
    }

    /// The object an inventory entry stands for.
    pub fn from_inventory_entry(entry: &ResourceRef) -> Result<Self, InventoryIdError> {
        let id = entry.object_id()?;
        Ok(Self { group: id.group, version: entry.v.clone(), kind: id.kind, namespace: id.namespace, name: id.name })
    }

    /// Whether both name the same object, whatever the API version.
    pub fn same_object(&self, other: &Self) -> bool {
        self.group == other.group
            && self.kind == other.kind
            && self.namespace == other.namespace
            && self.name == other.name
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.subject())
    }
}

/// `Kind/namespace/name`, or `Kind/name` without a namespace.
pub(crate) fn subject(kind: &str, namespace: &str, name: &str) -> String {
    if namespace.is_empty() { format!("{kind}/{name}") } else { format!("{kind}/{namespace}/{name}") }
}

/// Splits `group/version` (or the core group's `version`).
pub(crate) fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_formatted_like_flux() {
        let deployment = ObjectRef::new("apps/v1", "Deployment", "apps", "web");
        assert_eq!(deployment.to_string(), "Deployment/apps/web");
        assert_eq!(deployment.api_version(), "apps/v1");
        let namespace = ObjectRef::new("v1", "Namespace", "", "apps");
        assert_eq!(namespace.subject(), "Namespace/apps");
        assert_eq!(namespace.group, "");
        assert_eq!(namespace.api_version(), "v1");
    }

    #[test]
    fn inventory_entries_round_trip() {
        let objects = [
            ObjectRef::new("apps/v1", "Deployment", "apps", "web"),
            ObjectRef::new("v1", "Namespace", "", "apps"),
            ObjectRef::new("rbac.authorization.k8s.io/v1", "ClusterRole", "", "system:web"),
            ObjectRef::new("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com"),
        ];
        for object in objects {
            let entry = object.to_inventory_entry();
            assert_eq!(ObjectRef::from_inventory_entry(&entry).unwrap(), object);
        }
        let entry = ObjectRef::new("apps/v1", "Deployment", "apps", "web").to_inventory_entry();
        assert_eq!(entry.id, "apps_web_apps_Deployment");
        assert_eq!(entry.v, "v1");
        let cluster_role = ObjectRef::new("rbac.authorization.k8s.io/v1", "ClusterRole", "", "system:web");
        assert_eq!(cluster_role.to_inventory_entry().id, "_system__web_rbac.authorization.k8s.io_ClusterRole");
    }

    #[test]
    fn bad_inventory_entries_are_errors() {
        let entry = ResourceRef { id: "nonsense".into(), v: "v1".into() };
        assert!(ObjectRef::from_inventory_entry(&entry).is_err());
    }

    #[test]
    fn objects_without_a_name_are_rejected() {
        let object: DynamicObject =
            serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}))
                .unwrap();
        let err = ObjectRef::from_object(&object).unwrap_err();
        assert!(err.to_string().contains("metadata.name"), "{err}");
    }
}
