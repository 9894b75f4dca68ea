//! The inventory of objects an applier (Kustomization, HelmRelease) manages, recorded in its
//! status as entries whose id is `<namespace>_<name>_<group>_<kind>`.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One object in an inventory.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct ResourceRef {
    /// The object's id, `<namespace>_<name>_<group>_<kind>`, with `:` in the name written `__`.
    pub id: String,

    /// The object's API version, without the group.
    pub v: String,
}

impl ResourceRef {
    /// The entry for an object of the given id and version.
    pub fn new(id: &ObjectId, version: impl Into<String>) -> Self {
        Self { id: id.to_string(), v: version.into() }
    }

    /// The parsed id of the entry.
    pub fn object_id(&self) -> Result<ObjectId, InventoryIdError> {
        self.id.parse()
    }
}

/// The identity of an object in an inventory: namespace (empty when cluster-scoped), name,
/// API group (empty for the core group) and kind.
///
/// Printed as `<namespace>_<name>_<group>_<kind>`; a `:` in the name (RBAC objects) is
/// written as `__`, as Flux and kubectl's cli-utils do.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    /// The namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// The name.
    pub name: String,
    /// The API group, empty for the core group.
    pub group: String,
    /// The kind.
    pub kind: String,
}

/// Why a text is no inventory id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryIdError {
    /// The text has fewer than four `_`-separated fields.
    #[error("inventory id {0:?} does not have the form <namespace>_<name>_<group>_<kind>")]
    TooFewFields(String),
    /// The name field contains a single `_`, so the fields are ambiguous.
    #[error("inventory id {0:?} has too many fields")]
    TooManyFields(String),
    /// The name or the kind is empty.
    #[error("inventory id {0:?} has an empty name or kind")]
    Empty(String),
}

const SEPARATOR: char = '_';
const COLON_ESCAPED: &str = "__";

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.replace(':', COLON_ESCAPED);
        write!(f, "{}_{}_{}_{}", self.namespace, name, self.group, self.kind)
    }
}

impl FromStr for ObjectId {
    type Err = InventoryIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let too_few = || InventoryIdError::TooFewFields(text.to_string());
        let (namespace, rest) = text.split_once(SEPARATOR).ok_or_else(too_few)?;
        let (rest, kind) = rest.rsplit_once(SEPARATOR).ok_or_else(too_few)?;
        let (name, group) = rest.rsplit_once(SEPARATOR).ok_or_else(too_few)?;
        let name = name.replace(COLON_ESCAPED, ":");
        if name.contains(SEPARATOR) {
            return Err(InventoryIdError::TooManyFields(text.to_string()));
        }
        if name.is_empty() || kind.is_empty() {
            return Err(InventoryIdError::Empty(text.to_string()));
        }
        Ok(Self { namespace: namespace.to_string(), name, group: group.to_string(), kind: kind.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(namespace: &str, name: &str, group: &str, kind: &str) -> ObjectId {
        ObjectId { namespace: namespace.into(), name: name.into(), group: group.into(), kind: kind.into() }
    }

    #[test]
    fn formats_and_parses() {
        let cases = [
            (id("default", "podinfo", "apps", "Deployment"), "default_podinfo_apps_Deployment"),
            (id("default", "podinfo", "", "Service"), "default_podinfo__Service"),
            (id("", "flux-system", "", "Namespace"), "_flux-system__Namespace"),
            (
                id("", "system:controller:kube", "rbac.authorization.k8s.io", "ClusterRole"),
                "_system__controller__kube_rbac.authorization.k8s.io_ClusterRole",
            ),
            (
                id("", "gitrepositories.source.toolkit.fluxcd.io", "apiextensions.k8s.io", "CustomResourceDefinition"),
                "_gitrepositories.source.toolkit.fluxcd.io_apiextensions.k8s.io_CustomResourceDefinition",
            ),
        ];
        for (object, text) in cases {
            assert_eq!(object.to_string(), text);
            assert_eq!(text.parse::<ObjectId>(), Ok(object));
        }
    }

    #[test]
    fn rejects_malformed_ids() {
        assert!(matches!("".parse::<ObjectId>(), Err(InventoryIdError::TooFewFields(_))));
        assert!(matches!("default_podinfo".parse::<ObjectId>(), Err(InventoryIdError::TooFewFields(_))));
        assert!(matches!("a_b_c".parse::<ObjectId>(), Err(InventoryIdError::TooFewFields(_))));
        assert!(matches!("ns_a_b_apps_Deployment".parse::<ObjectId>(), Err(InventoryIdError::TooManyFields(_))));
        assert!(matches!("ns__apps_Deployment".parse::<ObjectId>(), Err(InventoryIdError::Empty(_))));
        assert!(matches!("ns_name_apps_".parse::<ObjectId>(), Err(InventoryIdError::Empty(_))));
    }

    #[test]
    fn resource_ref_round_trips() {
        let object = id("default", "podinfo", "apps", "Deployment");
        let entry = ResourceRef::new(&object, "v1");
        assert_eq!(entry.object_id(), Ok(object));
        assert_eq!(serde_json::to_string(&entry).unwrap(), r#"{"id":"default_podinfo_apps_Deployment","v":"v1"}"#);
    }
}
