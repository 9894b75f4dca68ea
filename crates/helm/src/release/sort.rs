//! Helm's install order of kinds (`kind_sorter.go`): known kinds in a fixed order, unknown kinds
//! after them alphabetically, stable otherwise.

use std::cmp::Ordering;

/// The order Helm installs kinds in.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// Helm's `lessByKind` as an ordering for a stable sort.
pub fn by_kind(a: &str, b: &str) -> Ordering {
    let pos = |k: &str| INSTALL_ORDER.iter().position(|x| *x == k);
    match (pos(a), pos(b)) {
        (None, None) => a.cmp(b),
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => x.cmp(&y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_order() {
        let mut kinds = vec!["Zed", "Deployment", "Service", "Alpha", "Namespace", "Deployment"];
        kinds.sort_by(|a, b| by_kind(a, b));
        assert_eq!(kinds, vec!["Namespace", "Service", "Deployment", "Deployment", "Alpha", "Zed"]);
    }
}
