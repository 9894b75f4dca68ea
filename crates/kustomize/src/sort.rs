//! Output order: kustomize's legacy order (by kind, then id) unless `sortOptions` says otherwise.

use crate::resource::Resource;
use crate::types::SortOptions;
use crate::{Error, Result};

const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

const ORDER_LAST: &[&str] = &["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"];

pub(crate) fn sort(resources: &mut [Resource], options: Option<&SortOptions>) -> Result<()> {
    let (first, last): (Vec<String>, Vec<String>) = match options {
        None => {
            (ORDER_FIRST.iter().map(|s| s.to_string()).collect(), ORDER_LAST.iter().map(|s| s.to_string()).collect())
        }
        Some(o) => match o.order.as_deref() {
            Some("fifo") => {
                if o.legacy_sort_options.is_some() {
                    return Err(Error::msg(
                        "the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'",
                    ));
                }
                return Ok(());
            }
            Some("legacy") => match &o.legacy_sort_options {
                Some(l) => (l.order_first.clone(), l.order_last.clone()),
                None => (
                    ORDER_FIRST.iter().map(|s| s.to_string()).collect(),
                    ORDER_LAST.iter().map(|s| s.to_string()).collect(),
                ),
            },
            // kustomize defaults the order only when `sortOptions` is absent altogether.
            _ => return Err(Error::msg("the field 'sortOptions.order' must be one of [fifo, legacy]")),
        },
    };
    let rank = |kind: &str| -> i64 {
        if let Some(i) = first.iter().position(|k| k == kind) {
            return i as i64 - first.len() as i64;
        }
        if let Some(i) = last.iter().position(|k| k == kind) {
            return i as i64 + 1;
        }
        0
    };
    resources.sort_by_cached_key(|r| {
        let id = r.id();
        (rank(&id.gvk.kind), id.gvk.key(), legacy_sort_string(&id))
    });
    Ok(())
}

fn legacy_sort_string(id: &crate::resource::ResId) -> String {
    let ns = if id.namespace.is_empty() { "~X" } else { &id.namespace };
    let name = if id.name.is_empty() { "~N" } else { &id.name };
    format!("{}|{}|{}", id.gvk.key(), ns, name)
}
