//! kstatus's order of rules: what every object has (deletion, generation, the standard
//! conditions), then the built-in kinds, then the `Ready` condition, then `Current`.

use std::time::SystemTime;

use serde_json::Value;

use crate::field::{self, FieldError};
use crate::{Condition, Health, RECONCILING, STALLED, Status, builtin};

/// The health of `obj` now. See [`compute_at`].
pub fn compute(obj: &Value) -> Health {
    compute_at(obj, SystemTime::now())
}

/// The health of `obj` as kstatus computes it, with `now` as the clock (only a Pending Pod's
/// scheduling grace period reads it).
///
/// An object whose fields have unexpected shapes (a `status` that is a string, a Pod in an
/// unknown phase) is [`Status::Unknown`], with the reason in the message: kstatus fails on
/// those and Flux reports them as Unknown.
pub fn compute_at(obj: &Value, now: SystemTime) -> Health {
    match try_compute(obj, now) {
        Ok(health) => health,
        Err(FieldError(message)) => Health::unknown(message),
    }
}

fn try_compute(obj: &Value, now: SystemTime) -> Result<Health, FieldError> {
    if !obj.is_object() {
        return Err(FieldError(format!("the object is of the type {}, expected object", field::type_name(obj))));
    }
    if let Some(health) = generic_properties(obj)? {
        return Ok(health);
    }
    if let Some(health) = builtin::compute(obj, now)? {
        return Ok(health);
    }
    if let Some(health) = ready_condition(obj)? {
        return Ok(health);
    }
    Ok(Health::current("Resource is current"))
}

/// Deletion, the observed generation and the standard `Reconciling`/`Stalled` conditions:
/// when one of them decides, the kind-specific rules are not consulted.
fn generic_properties(obj: &Value) -> Result<Option<Health>, FieldError> {
    if let Some(ts) = field::nested_str(obj, &["metadata", "deletionTimestamp"])?
        && !ts.is_empty()
    {
        return Ok(Some(Health::terminating()));
    }
    if let Some(health) = check_generation(obj)? {
        return Ok(Some(health));
    }
    for cond in field::conditions(obj)? {
        let status = match cond.type_.as_str() {
            RECONCILING if cond.status == "True" => Status::InProgress,
            STALLED if cond.status == "True" => Status::Failed,
            _ => continue,
        };
        return Ok(Some(Health {
            status,
            message: cond.message.clone(),
            conditions: vec![Condition {
                type_: cond.type_,
                status: cond.status,
                reason: cond.reason,
                message: cond.message,
            }],
        }));
    }
    Ok(None)
}

/// `InProgress` when `status.observedGeneration` is set and differs from `metadata.generation`.
fn check_generation(obj: &Value) -> Result<Option<Health>, FieldError> {
    let Some(generation) = field::nested_i64(obj, &["metadata", "generation"])? else {
        return Ok(None);
    };
    let Some(observed) = field::nested_i64(obj, &["status", "observedGeneration"])? else {
        return Ok(None);
    };
    if observed == generation {
        return Ok(None);
    }
    let message =
        format!("{} generation is {generation}, but latest observed generation is {observed}", field::kind(obj));
    Ok(Some(Health::in_progress("LatestGenerationNotObserved", message)))
}

/// The widely used (if not recommended) `Ready` condition, for kinds without specific rules:
/// `True` is Current, `False` and `Unknown` are InProgress.
fn ready_condition(obj: &Value) -> Result<Option<Health>, FieldError> {
    for cond in field::conditions(obj)? {
        if cond.type_ != "Ready" {
            continue;
        }
        match cond.status.as_str() {
            "True" => return Ok(Some(Health::current("Resource is Ready"))),
            "False" | "Unknown" => return Ok(Some(Health::in_progress(&cond.reason, cond.message))),
            _ => {}
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{Case, check, now, obj};

    const CASES: &[Case] = &[
        Case {
            name: "deletion timestamp wins over everything",
            yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 3, deletionTimestamp: "2024-05-01T09:00:00Z"}
status: {observedGeneration: 2}
"#,
            status: Status::Terminating,
            message: "Resource scheduled for deletion",
            reason: None,
        },
        Case {
            name: "latest generation not observed",
            yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 3}
spec: {replicas: 1}
status: {observedGeneration: 2, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1}
"#,
            status: Status::InProgress,
            message: "Deployment generation is 3, but latest observed generation is 2",
            reason: Some("LatestGenerationNotObserved"),
        },
        Case {
            name: "flux object reconciling",
            yaml: r#"
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, generation: 1}
status:
  observedGeneration: 1
  conditions:
  - {type: Ready, status: Unknown, reason: Progressing, message: "Reconciliation in progress"}
  - {type: Reconciling, status: "True", reason: Progressing, message: "Reconciliation in progress"}
"#,
            status: Status::InProgress,
            message: "Reconciliation in progress",
            reason: Some("Progressing"),
        },
        Case {
            name: "flux object stalled",
            yaml: r#"
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: podinfo, generation: 2}
status:
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "False", reason: URLInvalid, message: "invalid URL"}
  - {type: Stalled, status: "True", reason: URLInvalid, message: "invalid URL"}
"#,
            status: Status::Failed,
            message: "invalid URL",
            reason: Some("URLInvalid"),
        },
        Case {
            name: "stalled decides even for a built-in kind",
            yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
status:
  conditions:
  - {type: Stalled, status: "True", reason: Broken, message: "broken"}
"#,
            status: Status::Failed,
            message: "broken",
            reason: Some("Broken"),
        },
        Case {
            name: "ready true",
            yaml: r#"
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: podinfo, generation: 1}
status:
  observedGeneration: 1
  conditions:
  - {type: Ready, status: "True", reason: InstallSucceeded, message: "Helm install succeeded"}
"#,
            status: Status::Current,
            message: "Resource is Ready",
            reason: None,
        },
        Case {
            name: "ready false is in progress, not failed",
            yaml: r#"
apiVersion: cluster.x-k8s.io/v1beta1
kind: Cluster
metadata: {name: c1}
status:
  conditions:
  - {type: Ready, status: "False", reason: WaitingForInfrastructure, message: "waiting for infrastructure"}
"#,
            status: Status::InProgress,
            message: "waiting for infrastructure",
            reason: Some("WaitingForInfrastructure"),
        },
        Case {
            name: "ready unknown",
            yaml: r#"
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
status:
  conditions:
  - {type: Ready, status: Unknown, reason: Pending, message: "pending"}
"#,
            status: Status::InProgress,
            message: "pending",
            reason: Some("Pending"),
        },
        Case {
            name: "reconciling false and stalled false do not decide",
            yaml: r#"
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
status:
  conditions:
  - {type: Reconciling, status: "False", reason: Done}
  - {type: Stalled, status: "False", reason: Fine}
  - {type: Ready, status: "True", reason: Ok}
"#,
            status: Status::Current,
            message: "Resource is Ready",
            reason: None,
        },
        Case {
            name: "custom resource without status",
            yaml: r#"
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, generation: 1}
spec: {size: 3}
"#,
            status: Status::Current,
            message: "Resource is current",
            reason: None,
        },
        Case {
            name: "custom resource with other conditions only",
            yaml: r#"
apiVersion: pkg.crossplane.io/v1
kind: Provider
metadata: {name: p}
status:
  conditions:
  - {type: Healthy, status: "False", reason: UnhealthyPackageRevision}
"#,
            status: Status::Current,
            message: "Resource is current",
            reason: None,
        },
        Case {
            name: "namespace",
            yaml: "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\nstatus: {phase: Active}\n",
            status: Status::Current,
            message: "Resource is current",
            reason: None,
        },
        Case {
            name: "status that is not an object",
            yaml: "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nstatus: broken\n",
            status: Status::Unknown,
            message: "status is of the type string, expected object",
            reason: None,
        },
        Case {
            name: "generation that is not an integer",
            yaml: "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, generation: two}\n",
            status: Status::Unknown,
            message: ".metadata.generation accessor error: \"two\" is of the type string, expected integer",
            reason: None,
        },
        Case {
            name: "conditions that are not a list",
            yaml: "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nstatus: {conditions: {type: Ready}}\n",
            status: Status::Unknown,
            message: "status.conditions is of the type object, expected array",
            reason: None,
        },
    ];

    #[test]
    fn generic_rules() {
        for case in CASES {
            check(case, &compute_at(&obj(case.yaml), now()));
        }
    }

    #[test]
    fn non_objects_are_unknown() {
        let got = compute(&serde_json::json!([1, 2]));
        assert_eq!(got.status, Status::Unknown);
        assert_eq!(got.message, "the object is of the type array, expected object");
        assert_eq!(compute(&serde_json::json!(null)).status, Status::Unknown);
    }
}
