//! kstatus's rules for the built-in kinds whose controllers do not set the standard conditions.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::field::{self, FieldError, conditions, int_or, str_or};
use crate::{Health, time};

type Rule = fn(&Value, SystemTime) -> Result<Health, FieldError>;

/// How long a Pod may stay unscheduled before it is reported as unschedulable.
const SCHEDULE_WINDOW: Duration = Duration::from_secs(15);

/// The Deployment controller's "no progress deadline" marker (`math.MaxInt32`).
const NO_PROGRESS_DEADLINE: i64 = i32::MAX as i64;

/// The rule for the object's group and kind, if it is one of the built-in kinds.
fn rule_for(obj: &Value) -> Option<Rule> {
    let group = field::group_of(field::str_or(obj, &["apiVersion"], ""));
    let rule: Rule = match (group, field::kind(obj)) {
        ("", "Service") => service,
        ("", "Pod") => pod,
        ("", "Secret" | "ConfigMap") | ("batch", "CronJob") => always_ready,
        ("", "PersistentVolumeClaim") => pvc,
        ("apps", "StatefulSet") => statefulset,
        ("apps" | "extensions", "DaemonSet") => daemonset,
        ("apps" | "extensions", "Deployment") => deployment,
        ("apps" | "extensions", "ReplicaSet") => replicaset,
        ("policy", "PodDisruptionBudget") => pdb,
        ("batch", "Job") => job,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd,
        _ => return None,
    };
    Some(rule)
}

/// The health of a built-in kind, `None` for any other kind.
pub(crate) fn compute(obj: &Value, now: SystemTime) -> Result<Option<Health>, FieldError> {
    match rule_for(obj) {
        Some(rule) => rule(obj, now).map(Some),
        None => Ok(None),
    }
}

fn always_ready(_: &Value, _: SystemTime) -> Result<Health, FieldError> {
    Ok(Health::current("Resource is always ready"))
}

/// StatefulSets never set conditions: the replica counters and revisions tell.
fn statefulset(obj: &Value, _: SystemTime) -> Result<Health, FieldError> {
    if str_or(obj, &["spec", "updateStrategy", "type"], "") == "OnDelete" {
        return Ok(Health::current("StatefulSet is using the ondelete update strategy"));
    }
    let spec = int_or(obj, &["spec", "replicas"], 1);
    let ready = int_or(obj, &["status", "readyReplicas"], 0);
    let current = int_or(obj, &["status", "currentReplicas"], 0);
    let updated = int_or(obj, &["status", "updatedReplicas"], 0);
    let replicas = int_or(obj, &["status", "replicas"], 0);
    let partition = int_or(obj, &["spec", "updateStrategy", "rollingUpdate", "partition"], -1);

    if spec > replicas {
        return Ok(Health::in_progress("LessReplicas", format!("Replicas: {replicas}/{spec}")));
    }
    if spec > ready {
        return Ok(Health::in_progress("LessReady", format!("Ready: {ready}/{spec}")));
    }
    if replicas > spec {
        return Ok(Health::in_progress("ExtraPods", format!("Pending termination: {}", replicas - spec)));
    }
    if partition != -1 {
        if updated < spec - partition {
            return Ok(Health::in_progress("PartitionRollout", format!("updated: {updated}/{}", spec - partition)));
        }
        return Ok(Health::current(format!("Partition rollout complete. updated: {updated}")));
    }
    if spec > current {
        return Ok(Health::in_progress("LessCurrent", format!("current: {current}/{spec}")));
    }
    if str_or(obj, &["status", "currentRevision"], "") != str_or(obj, &["status", "updateRevision"], "") {
        return Ok(Health::in_progress("RevisionMismatch", "Waiting for updated revision to match current"));
    }
    Ok(Health::current(format!("All replicas scheduled as expected. Replicas: {replicas}")))
}

/// Deployments: Failed once the progress deadline is exceeded, otherwise the replica counters
/// and the `Progressing`/`Available` conditions.
fn deployment(obj: &Value, _: SystemTime) -> Result<Health, FieldError> {
    let mut progressing =
        int_or(obj, &["spec", "progressDeadlineSeconds"], NO_PROGRESS_DEADLINE) == NO_PROGRESS_DEADLINE;
    let mut available = false;
    for c in conditions(obj)? {
        match c.type_.as_str() {
            "Progressing" => {
                if c.reason == "ProgressDeadlineExceeded" {
                    let mut health = Health::failed(&c.reason, c.message);
                    health.message = "Progress deadline exceeded".into();
                    return Ok(health);
                }
                if c.status == "True" && c.reason == "NewReplicaSetAvailable" {
                    progressing = true;
                }
            }
            "Available" if c.status == "True" => available = true,
            _ => {}
        }
    }

    let spec = int_or(obj, &["spec", "replicas"], 1);
    let replicas = int_or(obj, &["status", "replicas"], 0);
    let updated = int_or(obj, &["status", "updatedReplicas"], 0);
    let ready = int_or(obj, &["status", "readyReplicas"], 0);
    let available_replicas = int_or(obj, &["status", "availableReplicas"], 0);

    if spec > replicas {
        return Ok(Health::in_progress("LessReplicas", format!("Replicas: {replicas}/{spec}")));
    }
    if spec > updated {
        return Ok(Health::in_progress("LessUpdated", format!("Updated: {updated}/{spec}")));
    }
    if replicas > spec {
        return Ok(Health::in_progress("ExtraPods", format!("Pending termination: {}", replicas - spec)));
    }
    if updated > available_replicas {
        return Ok(Health::in_progress("LessAvailable", format!("Available: {available_replicas}/{updated}")));
    }
    if spec > ready {
        return Ok(Health::in_progress("LessReady", format!("Ready: {ready}/{spec}")));
    }
    if !progressing {
        return Ok(Health::in_progress("ReplicaSetNotAvailable", "ReplicaSet not Available"));
    }
    if !available {
        return Ok(Health::in_progress("DeploymentNotAvailable", "Deployment not Available"));
    }
    Ok(Health::current(format!("Deployment is available. Replicas: {replicas}")))
}

fn replicaset(obj: &Value, _: SystemTime) -> Result<Health, FieldError> {
    for c in conditions(obj)? {
        if c.type_ == "ReplicaFailure" && c.status == "True" {
            return Ok(Health::in_progress("ReplicaFailure", "Replica Failure condition. Check Pods"));
        }
    }
    let spec = int_or(obj, &["spec", "replicas"], 1);
    let replicas = int_or(obj, &["status", "replicas"], 0);
    let ready = int_or(obj, &["status", "readyReplicas"], 0);
    let available = int_or(obj, &["status", "availableReplicas"], 0);
    let labelled = int_or(obj, &["status", "fullyLabeledReplicas"], 0);

    if spec > labelled {
        return Ok(Health::in_progress("LessLabelled", format!("Labelled: {labelled}/{spec}")));
    }
    if spec > available {
        return Ok(Health::in_progress("LessAvailable", format!("Available: {available}/{spec}")));
    }
    if spec > ready {
        return Ok(Health::in_progress("LessReady", format!("Ready: {ready}/{spec}")));
    }
    if replicas > spec {
        return Ok(Health::in_progress("ExtraPods", format!("Pending termination: {}", replicas - spec)));
    }
    Ok(Health::current(format!("ReplicaSet is available. Replicas: {replicas}")))
}

/// DaemonSets must have been seen by their controller (generation and observed generation set)
/// before the scheduling counters mean anything.
fn daemonset(obj: &Value, _: SystemTime) -> Result<Health, FieldError> {
    let kind = field::kind(obj);
    if field::nested_i64(obj, &["metadata", "generation"])?.is_none() {
        return Ok(Health::in_progress("NoGeneration", format!("{kind} metadata.generation not found")));
    }
    if field::nested_i64(obj, &["status", "observedGeneration"])?.is_none() {
        return Ok(Health::in_progress("NoObservedGeneration", format!("{kind} status.observedGeneration not found")));
    }
    let desired = int_or(obj, &["status", "desiredNumberScheduled"], -1);
    let current = int_or(obj, &["status", "currentNumberScheduled"], 0);
    let updated = int_or(obj, &["status", "updatedNumberScheduled"], 0);
    let available = int_or(obj, &["status", "numberAvailable"], 0);
    let ready = int_or(obj, &["status", "numberReady"], 0);

    if desired == -1 {
        return Ok(Health::in_progress("NoDesiredNumber", "Missing .status.desiredNumberScheduled"));
    }
    if desired > current {
        return Ok(Health::in_progress("LessCurrent", format!("Current: {current}/{desired}")));
    }
    if desired > updated {
        return Ok(Health::in_progress("LessUpdated", format!("Updated: {updated}/{desired}")));
    }
    if desired > available {
        return Ok(Health::in_progress("LessAvailable", format!("Available: {available}/{desired}")));
    }
    if desired > ready {
        return Ok(Health::in_progress("LessReady", format!("Ready: {ready}/{desired}")));
    }
    Ok(Health::current(format!("All replicas scheduled as expected. Replicas: {desired}")))
}

fn pvc(obj: &Value, _: SystemTime) -> Result<Health, FieldError> {
    let phase = str_or(obj, &["status", "phase"], "unknown");
    if phase != "Bound" {
        return Ok(Health::in_progress("NotBound", format!("PVC is not Bound. phase: {phase}")));
    }
    Ok(Health::current("PVC is Bound"))
}

fn pod(obj: &Value, now: SystemTime) -> Result<Health, FieldError> {
    let conds = conditions(obj)?;
    match str_or(obj, &["status", "phase"], "") {
        "Succeeded" => Ok(Health::current("Pod has completed successfully")),
        "Failed" => Ok(Health::current("Pod has completed, but not successfully")),
        "Running" => {
            if conds.iter().any(|c| c.type_ == "Ready" && c.status == "True") {
                return Ok(Health::current("Pod is Ready"));
            }
            let crashing = crash_looping_containers(obj);
            if !crashing.is_empty() {
                return Ok(Health::failed(
                    "ContainerCrashLooping",
                    format!("Containers in CrashLoop state: {}", crashing.join(",")),
                ));
            }
            Ok(Health::in_progress("PodRunningNotReady", "Pod is running but is not Ready"))
        }
        "Pending" => {
            let unschedulable =
                conds.iter().any(|c| c.type_ == "PodScheduled" && c.status == "False" && c.reason == "Unschedulable");
            if unschedulable {
                // A Pod gets a grace period to be scheduled; without a creation timestamp
                // it is as old as can be.
                let created =
                    time::parse_rfc3339(str_or(obj, &["metadata", "creationTimestamp"], "")).unwrap_or(i64::MIN);
                if time::seconds_before(now, SCHEDULE_WINDOW) < created {
                    return Ok(Health::in_progress("PodNotScheduled", "Pod has not been scheduled"));
                }
                return Ok(Health::failed("PodUnschedulable", "Pod could not be scheduled"));
            }
            Ok(Health::in_progress("PodPending", "Pod is in the Pending phase"))
        }
        "" => Ok(Health::in_progress("PodNotObserved", "Pod phase not available")),
        other => Err(FieldError(format!("unknown phase {other}"))),
    }
}

/// Names of the containers waiting with reason `CrashLoopBackOff`.
fn crash_looping_containers(obj: &Value) -> Vec<String> {
    let Ok(Some(Value::Array(statuses))) = field::nested(obj, &["status", "containerStatuses"]) else {
        return Vec::new();
    };
    statuses
        .iter()
        .filter(|cs| cs.pointer("/state/waiting/reason").and_then(Value::as_str) == Some("CrashLoopBackOff"))
        .filter_map(|cs| cs.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// A PDB that reached this rule has its generation observed, so the disruption controller has
/// computed it.
fn pdb(_: &Value, _: SystemTime) -> Result<Health, FieldError> {
    Ok(Health::current("AllowedDisruptions has been computed."))
}

/// Jobs are InProgress until they start, Current while running and after completing, Failed
/// when they failed; a suspended Job is Current.
fn job(obj: &Value, _: SystemTime) -> Result<Health, FieldError> {
    let parallelism = int_or(obj, &["spec", "parallelism"], 1);
    let completions = int_or(obj, &["spec", "completions"], parallelism);
    let succeeded = int_or(obj, &["status", "succeeded"], 0);
    let active = int_or(obj, &["status", "active"], 0);
    let failed = int_or(obj, &["status", "failed"], 0);
    for c in conditions(obj)? {
        if c.status != "True" {
            continue;
        }
        match c.type_.as_str() {
            "Complete" => {
                return Ok(Health::current(format!("Job Completed. succeeded: {succeeded}/{completions}")));
            }
            "Failed" => return Ok(Health::failed("JobFailed", format!("Job Failed. failed: {failed}/{completions}"))),
            "Suspended" => return Ok(Health::current("Job is suspended")),
            _ => {}
        }
    }
    if str_or(obj, &["status", "startTime"], "").is_empty() {
        return Ok(Health::in_progress("JobNotStarted", "Job not started"));
    }
    Ok(Health::current(format!("Job in progress. success:{succeeded}, active: {active}, failed: {failed}")))
}

/// Services are ready once they have a cluster IP; kstatus checks it for LoadBalancers only.
fn service(obj: &Value, _: SystemTime) -> Result<Health, FieldError> {
    if str_or(obj, &["spec", "type"], "ClusterIP") == "LoadBalancer"
        && str_or(obj, &["spec", "clusterIP"], "").is_empty()
    {
        return Ok(Health::in_progress("NoIPAssigned", "ClusterIP not set. Service type: LoadBalancer"));
    }
    Ok(Health::current("Service is ready"))
}

/// CRDs: Failed when their names are not accepted or establishing failed, Current once
/// established, InProgress while installing.
fn crd(obj: &Value, _: SystemTime) -> Result<Health, FieldError> {
    for c in conditions(obj)? {
        if c.type_ == "NamesAccepted" && c.status == "False" {
            return Ok(Health::failed(&c.reason, c.message));
        }
        if c.type_ == "Established" {
            if c.status == "False" && c.reason != "Installing" {
                return Ok(Health::failed(&c.reason, c.message));
            }
            if c.status == "True" {
                return Ok(Health::current("CRD is established"));
            }
        }
    }
    Ok(Health::in_progress("Installing", "Install in progress"))
}

#[cfg(test)]
mod tests {
    use crate::Status::{Current, Failed, InProgress, Unknown};
    use crate::compute_at;
    use crate::testutil::{Case, check, now, obj};

    const DEPLOYMENTS: &[Case] = &[
        Case {
            name: "deployment available",
            yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 2}
spec: {replicas: 2, progressDeadlineSeconds: 600}
status:
  observedGeneration: 2
  replicas: 2
  updatedReplicas: 2
  readyReplicas: 2
  availableReplicas: 2
  conditions:
  - {type: Available, status: "True", reason: MinimumReplicasAvailable}
  - {type: Progressing, status: "True", reason: NewReplicaSetAvailable}
"#,
            status: Current,
            message: "Deployment is available. Replicas: 2",
            reason: None,
        },
        Case {
            name: "deployment scaling up",
            yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, generation: 2}
spec: {replicas: 2}
status: {observedGeneration: 2, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1}
"#,
            status: InProgress,
            message: "Replicas: 1/2",
            reason: Some("LessReplicas"),
        },
        Case {
            name: "deployment without status defaults to one replica",
            yaml: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
            status: InProgress,
            message: "Replicas: 0/1",
            reason: Some("LessReplicas"),
        },
        Case {
            name: "deployment rolling out",
            yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 3}
status: {replicas: 3, updatedReplicas: 1, readyReplicas: 3, availableReplicas: 3}
"#,
            status: InProgress,
            message: "Updated: 1/3",
            reason: Some("LessUpdated"),
        },
        Case {
            name: "deployment old pods terminating",
            yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 2}
status: {replicas: 3, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2}
"#,
            status: InProgress,
            message: "Pending termination: 1",
            reason: Some("ExtraPods"),
        },
        Case {
            name: "deployment pods not available",
            yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 2}
status: {replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 1}
"#,
            status: InProgress,
            message: "Available: 1/2",
            reason: Some("LessAvailable"),
        },
        Case {
            name: "deployment pods not ready",
            yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 2}
status: {replicas: 2, updatedReplicas: 2, readyReplicas: 1, availableReplicas: 2}
"#,
            status: InProgress,
            message: "Ready: 1/2",
            reason: Some("LessReady"),
        },
        Case {
            name: "deployment with deadline waits for the new replicaset",
            yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 1, progressDeadlineSeconds: 600}
status:
  replicas: 1
  updatedReplicas: 1
  readyReplicas: 1
  availableReplicas: 1
  conditions:
  - {type: Available, status: "True"}
  - {type: Progressing, status: "True", reason: ReplicaSetUpdated}
"#,
            status: InProgress,
            message: "ReplicaSet not Available",
            reason: Some("ReplicaSetNotAvailable"),
        },
        Case {
            name: "deployment not available",
            yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 1}
status:
  replicas: 1
  updatedReplicas: 1
  readyReplicas: 1
  availableReplicas: 1
  conditions:
  - {type: Available, status: "False", reason: MinimumReplicasUnavailable}
"#,
            status: InProgress,
            message: "Deployment not Available",
            reason: Some("DeploymentNotAvailable"),
        },
        Case {
            name: "deployment progress deadline exceeded",
            yaml: r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec: {replicas: 2, progressDeadlineSeconds: 60}
status:
  replicas: 2
  updatedReplicas: 1
  conditions:
  - {type: Progressing, status: "False", reason: ProgressDeadlineExceeded, message: "ReplicaSet \"web-5d\" has timed out progressing."}
"#,
            status: Failed,
            message: "Progress deadline exceeded",
            reason: Some("ProgressDeadlineExceeded"),
        },
        Case {
            name: "extensions deployment uses the same rules",
            yaml: "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2}\nstatus: {replicas: 1}\n",
            status: InProgress,
            message: "Replicas: 1/2",
            reason: Some("LessReplicas"),
        },
    ];

    const STATEFULSETS: &[Case] = &[
        Case {
            name: "statefulset ready",
            yaml: r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, generation: 1}
spec: {replicas: 3}
status: {observedGeneration: 1, replicas: 3, readyReplicas: 3, currentReplicas: 3, updatedReplicas: 3, currentRevision: db-7b, updateRevision: db-7b}
"#,
            status: Current,
            message: "All replicas scheduled as expected. Replicas: 3",
            reason: None,
        },
        Case {
            name: "statefulset on delete",
            yaml: "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec: {updateStrategy: {type: OnDelete}}\n",
            status: Current,
            message: "StatefulSet is using the ondelete update strategy",
            reason: None,
        },
        Case {
            name: "statefulset creating replicas",
            yaml: "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec: {replicas: 3}\nstatus: {replicas: 2, readyReplicas: 2}\n",
            status: InProgress,
            message: "Replicas: 2/3",
            reason: Some("LessReplicas"),
        },
        Case {
            name: "statefulset not ready",
            yaml: "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec: {replicas: 3}\nstatus: {replicas: 3, readyReplicas: 1}\n",
            status: InProgress,
            message: "Ready: 1/3",
            reason: Some("LessReady"),
        },
        Case {
            name: "statefulset scaling down",
            yaml: "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec: {replicas: 1}\nstatus: {replicas: 2, readyReplicas: 2}\n",
            status: InProgress,
            message: "Pending termination: 1",
            reason: Some("ExtraPods"),
        },
        Case {
            name: "statefulset partition rolling out",
            yaml: r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec: {replicas: 4, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}}
status: {replicas: 4, readyReplicas: 4, updatedReplicas: 1}
"#,
            status: InProgress,
            message: "updated: 1/2",
            reason: Some("PartitionRollout"),
        },
        Case {
            name: "statefulset partition complete",
            yaml: r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec: {replicas: 4, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 2}}}
status: {replicas: 4, readyReplicas: 4, updatedReplicas: 2}
"#,
            status: Current,
            message: "Partition rollout complete. updated: 2",
            reason: None,
        },
        Case {
            name: "statefulset current replicas lagging",
            yaml: "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec: {replicas: 2}\nstatus: {replicas: 2, readyReplicas: 2, currentReplicas: 1}\n",
            status: InProgress,
            message: "current: 1/2",
            reason: Some("LessCurrent"),
        },
        Case {
            name: "statefulset revision mismatch",
            yaml: r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec: {replicas: 2}
status: {replicas: 2, readyReplicas: 2, currentReplicas: 2, currentRevision: db-1, updateRevision: db-2}
"#,
            status: InProgress,
            message: "Waiting for updated revision to match current",
            reason: Some("RevisionMismatch"),
        },
    ];

    const DAEMONSETS: &[Case] = &[
        Case {
            name: "daemonset ready",
            yaml: r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 1}
status: {observedGeneration: 1, desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3, numberReady: 3}
"#,
            status: Current,
            message: "All replicas scheduled as expected. Replicas: 3",
            reason: None,
        },
        Case {
            name: "daemonset without generation",
            yaml: "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\n",
            status: InProgress,
            message: "DaemonSet metadata.generation not found",
            reason: Some("NoGeneration"),
        },
        Case {
            name: "daemonset not observed",
            yaml: "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, generation: 1}\n",
            status: InProgress,
            message: "DaemonSet status.observedGeneration not found",
            reason: Some("NoObservedGeneration"),
        },
        Case {
            name: "daemonset without desired number",
            yaml: "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent, generation: 1}\nstatus: {observedGeneration: 1}\n",
            status: InProgress,
            message: "Missing .status.desiredNumberScheduled",
            reason: Some("NoDesiredNumber"),
        },
        Case {
            name: "daemonset scheduling",
            yaml: r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 1}
status: {observedGeneration: 1, desiredNumberScheduled: 3, currentNumberScheduled: 2}
"#,
            status: InProgress,
            message: "Current: 2/3",
            reason: Some("LessCurrent"),
        },
        Case {
            name: "daemonset updating",
            yaml: r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 1}
status: {observedGeneration: 1, desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 1}
"#,
            status: InProgress,
            message: "Updated: 1/3",
            reason: Some("LessUpdated"),
        },
        Case {
            name: "daemonset not available",
            yaml: r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 1}
status: {observedGeneration: 1, desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2, numberReady: 3}
"#,
            status: InProgress,
            message: "Available: 2/3",
            reason: Some("LessAvailable"),
        },
        Case {
            name: "daemonset not ready",
            yaml: r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, generation: 1}
status: {observedGeneration: 1, desiredNumberScheduled: 3, currentNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3, numberReady: 0}
"#,
            status: InProgress,
            message: "Ready: 0/3",
            reason: Some("LessReady"),
        },
    ];

    const REPLICASETS: &[Case] = &[
        Case {
            name: "replicaset available",
            yaml: r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-5d}
spec: {replicas: 2}
status: {replicas: 2, fullyLabeledReplicas: 2, readyReplicas: 2, availableReplicas: 2}
"#,
            status: Current,
            message: "ReplicaSet is available. Replicas: 2",
            reason: None,
        },
        Case {
            name: "replicaset replica failure",
            yaml: r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-5d}
spec: {replicas: 2}
status:
  replicas: 0
  conditions:
  - {type: ReplicaFailure, status: "True", reason: FailedCreate, message: "pods \"web-5d-x\" is forbidden: exceeded quota"}
"#,
            status: InProgress,
            message: "Replica Failure condition. Check Pods",
            reason: Some("ReplicaFailure"),
        },
        Case {
            name: "replicaset labelling",
            yaml: "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: r}\nspec: {replicas: 2}\nstatus: {fullyLabeledReplicas: 1}\n",
            status: InProgress,
            message: "Labelled: 1/2",
            reason: Some("LessLabelled"),
        },
        Case {
            name: "replicaset not available",
            yaml: "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: r}\nspec: {replicas: 2}\nstatus: {fullyLabeledReplicas: 2, availableReplicas: 1}\n",
            status: InProgress,
            message: "Available: 1/2",
            reason: Some("LessAvailable"),
        },
        Case {
            name: "replicaset not ready",
            yaml: r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: r}
spec: {replicas: 2}
status: {fullyLabeledReplicas: 2, availableReplicas: 2, readyReplicas: 1}
"#,
            status: InProgress,
            message: "Ready: 1/2",
            reason: Some("LessReady"),
        },
        Case {
            name: "replicaset scaling down",
            yaml: r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: r}
spec: {replicas: 1}
status: {replicas: 3, fullyLabeledReplicas: 3, availableReplicas: 3, readyReplicas: 3}
"#,
            status: InProgress,
            message: "Pending termination: 2",
            reason: Some("ExtraPods"),
        },
    ];

    const PODS: &[Case] = &[
        Case {
            name: "pod ready",
            yaml: r#"
apiVersion: v1
kind: Pod
metadata: {name: web-1}
status:
  phase: Running
  conditions:
  - {type: Initialized, status: "True"}
  - {type: Ready, status: "True"}
"#,
            status: Current,
            message: "Pod is Ready",
            reason: None,
        },
        Case {
            name: "pod succeeded",
            yaml: "apiVersion: v1\nkind: Pod\nmetadata: {name: once}\nstatus: {phase: Succeeded}\n",
            status: Current,
            message: "Pod has completed successfully",
            reason: None,
        },
        Case {
            name: "pod failed is still current",
            yaml: "apiVersion: v1\nkind: Pod\nmetadata: {name: once}\nstatus: {phase: Failed}\n",
            status: Current,
            message: "Pod has completed, but not successfully",
            reason: None,
        },
        Case {
            name: "pod crash looping",
            yaml: r#"
apiVersion: v1
kind: Pod
metadata: {name: web-1}
status:
  phase: Running
  conditions:
  - {type: Ready, status: "False", reason: ContainersNotReady}
  containerStatuses:
  - name: app
    state: {waiting: {reason: CrashLoopBackOff, message: "back-off 5m0s restarting failed container"}}
  - name: sidecar
    state: {running: {startedAt: "2024-05-01T09:00:00Z"}}
  - name: init
    state: {waiting: {reason: CrashLoopBackOff}}
"#,
            status: Failed,
            message: "Containers in CrashLoop state: app,init",
            reason: Some("ContainerCrashLooping"),
        },
        Case {
            name: "pod running not ready",
            yaml: r#"
apiVersion: v1
kind: Pod
metadata: {name: web-1}
status:
  phase: Running
  containerStatuses:
  - {name: app, state: {waiting: {reason: ContainerCreating}}}
"#,
            status: InProgress,
            message: "Pod is running but is not Ready",
            reason: Some("PodRunningNotReady"),
        },
        Case {
            name: "pod pending",
            yaml: "apiVersion: v1\nkind: Pod\nmetadata: {name: web-1}\nstatus: {phase: Pending}\n",
            status: InProgress,
            message: "Pod is in the Pending phase",
            reason: Some("PodPending"),
        },
        Case {
            name: "pod unschedulable within the grace period",
            yaml: r#"
apiVersion: v1
kind: Pod
metadata: {name: web-1, creationTimestamp: "2024-05-01T09:59:50Z"}
status:
  phase: Pending
  conditions:
  - {type: PodScheduled, status: "False", reason: Unschedulable, message: "0/3 nodes are available"}
"#,
            status: InProgress,
            message: "Pod has not been scheduled",
            reason: Some("PodNotScheduled"),
        },
        Case {
            name: "pod unschedulable after the grace period",
            yaml: r#"
apiVersion: v1
kind: Pod
metadata: {name: web-1, creationTimestamp: "2024-05-01T09:59:00Z"}
status:
  phase: Pending
  conditions:
  - {type: PodScheduled, status: "False", reason: Unschedulable, message: "0/3 nodes are available"}
"#,
            status: Failed,
            message: "Pod could not be scheduled",
            reason: Some("PodUnschedulable"),
        },
        Case {
            name: "pod not observed",
            yaml: "apiVersion: v1\nkind: Pod\nmetadata: {name: web-1}\n",
            status: InProgress,
            message: "Pod phase not available",
            reason: Some("PodNotObserved"),
        },
        Case {
            name: "pod in an unknown phase",
            yaml: "apiVersion: v1\nkind: Pod\nmetadata: {name: web-1}\nstatus: {phase: Exploded}\n",
            status: Unknown,
            message: "unknown phase Exploded",
            reason: None,
        },
    ];

    const JOBS: &[Case] = &[
        Case {
            name: "job complete",
            yaml: r#"
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {completions: 3, parallelism: 1}
status:
  startTime: "2024-05-01T09:00:00Z"
  succeeded: 3
  conditions:
  - {type: Complete, status: "True"}
"#,
            status: Current,
            message: "Job Completed. succeeded: 3/3",
            reason: None,
        },
        Case {
            name: "job failed",
            yaml: r#"
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {backoffLimit: 2}
status:
  startTime: "2024-05-01T09:00:00Z"
  failed: 3
  conditions:
  - {type: Failed, status: "True", reason: BackoffLimitExceeded}
"#,
            status: Failed,
            message: "Job Failed. failed: 3/1",
            reason: Some("JobFailed"),
        },
        Case {
            name: "job suspended",
            yaml: r#"
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec: {suspend: true}
status:
  conditions:
  - {type: Suspended, status: "True", reason: JobSuspended}
"#,
            status: Current,
            message: "Job is suspended",
            reason: None,
        },
        Case {
            name: "job not started",
            yaml: "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\nspec: {parallelism: 2}\n",
            status: InProgress,
            message: "Job not started",
            reason: Some("JobNotStarted"),
        },
        Case {
            name: "job running",
            yaml: r#"
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
status: {startTime: "2024-05-01T09:00:00Z", active: 1, succeeded: 0}
"#,
            status: Current,
            message: "Job in progress. success:0, active: 1, failed: 0",
            reason: None,
        },
    ];

    const OTHERS: &[Case] = &[
        Case {
            name: "cronjob",
            yaml: "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\nspec: {schedule: '0 0 * * *'}\n",
            status: Current,
            message: "Resource is always ready",
            reason: None,
        },
        Case {
            name: "configmap",
            yaml: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
            status: Current,
            message: "Resource is always ready",
            reason: None,
        },
        Case {
            name: "secret",
            yaml: "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: Opaque\n",
            status: Current,
            message: "Resource is always ready",
            reason: None,
        },
        Case {
            name: "pvc bound",
            yaml: "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nstatus: {phase: Bound}\n",
            status: Current,
            message: "PVC is Bound",
            reason: None,
        },
        Case {
            name: "pvc pending",
            yaml: "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nstatus: {phase: Pending}\n",
            status: InProgress,
            message: "PVC is not Bound. phase: Pending",
            reason: Some("NotBound"),
        },
        Case {
            name: "pvc without status",
            yaml: "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\n",
            status: InProgress,
            message: "PVC is not Bound. phase: unknown",
            reason: Some("NotBound"),
        },
        Case {
            name: "service cluster ip",
            yaml: "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n",
            status: Current,
            message: "Service is ready",
            reason: None,
        },
        Case {
            name: "load balancer without cluster ip",
            yaml: "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: LoadBalancer}\n",
            status: InProgress,
            message: "ClusterIP not set. Service type: LoadBalancer",
            reason: Some("NoIPAssigned"),
        },
        Case {
            name: "load balancer with cluster ip",
            yaml: r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer, clusterIP: 10.96.0.12}
status: {loadBalancer: {}}
"#,
            status: Current,
            message: "Service is ready",
            reason: None,
        },
        Case {
            name: "pdb",
            yaml: r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, generation: 1}
spec: {minAvailable: 1}
status: {observedGeneration: 1, disruptionsAllowed: 1}
"#,
            status: Current,
            message: "AllowedDisruptions has been computed.",
            reason: None,
        },
        Case {
            name: "crd established",
            yaml: r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
status:
  conditions:
  - {type: NamesAccepted, status: "True", reason: NoConflicts}
  - {type: Established, status: "True", reason: InitialNamesAccepted}
"#,
            status: Current,
            message: "CRD is established",
            reason: None,
        },
        Case {
            name: "crd installing",
            yaml: r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
status:
  conditions:
  - {type: Established, status: "False", reason: Installing, message: "the initial names have not been accepted"}
"#,
            status: InProgress,
            message: "Install in progress",
            reason: Some("Installing"),
        },
        Case {
            name: "crd without status",
            yaml: "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n",
            status: InProgress,
            message: "Install in progress",
            reason: Some("Installing"),
        },
        Case {
            name: "crd names not accepted",
            yaml: r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
status:
  conditions:
  - {type: NamesAccepted, status: "False", reason: ListKindConflict, message: "\"WidgetList\" is already in use"}
"#,
            status: Failed,
            message: "\"WidgetList\" is already in use",
            reason: Some("ListKindConflict"),
        },
        Case {
            name: "crd not established",
            yaml: r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
status:
  conditions:
  - {type: Established, status: "False", reason: Terminating, message: "the CRD is being deleted"}
"#,
            status: Failed,
            message: "the CRD is being deleted",
            reason: Some("Terminating"),
        },
        Case {
            name: "a Deployment kind in another group is a custom resource",
            yaml: "apiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 5}\n",
            status: Current,
            message: "Resource is current",
            reason: None,
        },
    ];

    fn run(cases: &[Case]) {
        for case in cases {
            check(case, &compute_at(&obj(case.yaml), now()));
        }
    }

    #[test]
    fn deployments() {
        run(DEPLOYMENTS);
    }

    #[test]
    fn statefulsets() {
        run(STATEFULSETS);
    }

    #[test]
    fn daemonsets() {
        run(DAEMONSETS);
    }

    #[test]
    fn replicasets() {
        run(REPLICASETS);
    }

    #[test]
    fn pods() {
        run(PODS);
    }

    #[test]
    fn jobs() {
        run(JOBS);
    }

    #[test]
    fn other_kinds() {
        run(OTHERS);
    }

    #[test]
    fn stalled_condition_carries_the_deployment_message() {
        let health = compute_at(&obj(DEPLOYMENTS[9].yaml), now());
        assert_eq!(health.conditions[0].message, "ReplicaSet \"web-5d\" has timed out progressing.");
    }
}
