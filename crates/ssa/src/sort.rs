//! The order Flux applies objects in (and deletes them in, reversed), and the apply stages.

use std::cmp::Ordering;

use crate::object::ObjectRef;

/// Kinds applied first, in this order (Flux's order, from kubectl's kustomize ordering).
const ORDER_FIRST: &[&str] = &[
    "CustomResourceDefinition",
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "PriorityClass",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Kinds applied last, in this order.
const ORDER_LAST: &[&str] = &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

fn kind_rank(kind: &str) -> i64 {
    if let Some(i) = ORDER_FIRST.iter().position(|k| *k == kind) {
        return i as i64 - ORDER_FIRST.len() as i64;
    }
    if let Some(i) = ORDER_LAST.iter().position(|k| *k == kind) {
        return 1 + i as i64;
    }
    0
}

/// Flux's apply order: by kind rank, then group, kind, namespace and name.
pub fn apply_order(a: &ObjectRef, b: &ObjectRef) -> Ordering {
    kind_rank(&a.kind)
        .cmp(&kind_rank(&b.kind))
        .then_with(|| a.group.cmp(&b.group))
        .then_with(|| a.kind.cmp(&b.kind))
        .then_with(|| a.namespace.cmp(&b.namespace))
        .then_with(|| a.name.cmp(&b.name))
}

/// The stage of a staged apply an object belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// CustomResourceDefinitions, Namespaces and ClusterRoles, waited for before going on.
    Definitions,
    /// Kinds named `*Class` (StorageClass, IngressClass, PriorityClass, GatewayClass...).
    Classes,
    /// Everything else.
    Resources,
}

impl Stage {
    /// The stage of `object`, as Flux's `ApplyAllStaged` decides it.
    pub fn of(object: &ObjectRef) -> Self {
        let crd =
            object.kind.eq_ignore_ascii_case("CustomResourceDefinition") && object.group == "apiextensions.k8s.io";
        let namespace =
            object.kind.eq_ignore_ascii_case("Namespace") && object.group.is_empty() && object.version == "v1";
        let cluster_role =
            object.kind.eq_ignore_ascii_case("ClusterRole") && object.group == "rbac.authorization.k8s.io";
        if crd || namespace || cluster_role {
            Self::Definitions
        } else if object.kind.ends_with("Class") {
            Self::Classes
        } else {
            Self::Resources
        }
    }
}

/// The objects of `old` that are not in `new` (same group, kind, namespace and name, any
/// version), in deletion order: the reverse of the apply order, so Namespaces and CRDs go last.
pub fn diff_inventory(old: &[ObjectRef], new: &[ObjectRef]) -> Vec<ObjectRef> {
    let mut stale: Vec<ObjectRef> = old.iter().filter(|o| !new.iter().any(|n| n.same_object(o))).cloned().collect();
    stale.sort_by(|a, b| apply_order(b, a));
    stale.dedup_by(|a, b| a.same_object(b));
    stale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(api_version: &str, kind: &str, namespace: &str, name: &str) -> ObjectRef {
        ObjectRef::new(api_version, kind, namespace, name)
    }

    #[test]
    fn sorts_like_flux() {
        let mut objects = vec![
            r("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "", "hook"),
            r("example.com/v1", "Widget", "apps", "w"),
            r("apps/v1", "Deployment", "apps", "web"),
            r("v1", "Service", "apps", "web"),
            r("v1", "ConfigMap", "apps", "b"),
            r("v1", "ConfigMap", "apps", "a"),
            r("v1", "Namespace", "", "apps"),
            r("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com"),
            r("batch/v1", "Job", "apps", "migrate"),
        ];
        objects.sort_by(apply_order);
        let subjects: Vec<String> = objects.iter().map(ObjectRef::subject).collect();
        assert_eq!(
            subjects,
            [
                "CustomResourceDefinition/widgets.example.com",
                "Namespace/apps",
                "ConfigMap/apps/a",
                "ConfigMap/apps/b",
                "Service/apps/web",
                "Deployment/apps/web",
                "Job/apps/migrate",
                "Widget/apps/w",
                "ValidatingWebhookConfiguration/hook",
            ]
        );
    }

    #[test]
    fn stages_like_flux() {
        assert_eq!(Stage::of(&r("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "x")), Stage::Definitions);
        assert_eq!(Stage::of(&r("v1", "Namespace", "", "x")), Stage::Definitions);
        assert_eq!(Stage::of(&r("rbac.authorization.k8s.io/v1", "ClusterRole", "", "x")), Stage::Definitions);
        assert_eq!(Stage::of(&r("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "x")), Stage::Resources);
        assert_eq!(Stage::of(&r("storage.k8s.io/v1", "StorageClass", "", "x")), Stage::Classes);
        assert_eq!(Stage::of(&r("networking.k8s.io/v1", "IngressClass", "", "x")), Stage::Classes);
        assert_eq!(Stage::of(&r("gateway.networking.k8s.io/v1", "GatewayClass", "", "x")), Stage::Classes);
        assert_eq!(Stage::of(&r("example.com/v1", "Namespace", "", "x")), Stage::Resources);
        assert_eq!(Stage::of(&r("apps/v1", "Deployment", "a", "x")), Stage::Resources);
    }

    #[test]
    fn diff_inventory_returns_stale_objects_in_deletion_order() {
        let old = vec![
            r("v1", "Namespace", "", "apps"),
            r("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com"),
            r("apps/v1", "Deployment", "apps", "web"),
            r("v1", "ConfigMap", "apps", "config"),
            r("v1", "Service", "apps", "web"),
            r("example.com/v1", "Widget", "apps", "w"),
        ];
        // The Service moved to another version of its API: same object, not stale.
        let new = vec![r("v2", "Service", "apps", "web")];
        let stale: Vec<String> = diff_inventory(&old, &new).iter().map(ObjectRef::subject).collect();
        assert_eq!(
            stale,
            [
                "Widget/apps/w",
                "Deployment/apps/web",
                "ConfigMap/apps/config",
                "Namespace/apps",
                "CustomResourceDefinition/widgets.example.com",
            ]
        );
        assert!(diff_inventory(&old, &old).is_empty());
        assert!(diff_inventory(&[], &old).is_empty());
    }
}
