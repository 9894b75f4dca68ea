//! Flux's condition types and reasons, and helpers that read and change a list of
//! [`Condition`]s the way Kubernetes' `meta.SetStatusCondition` does.
//!
//! The constants keep Flux's exact spelling; controllers and their users match on them.

use crate::{Condition, ConditionStatus};

// Condition types every Flux kind uses (kstatus conventions).

/// The summary condition: the object is reconciled and its result is usable.
pub const READY: &str = "Ready";
/// The controller is working on the object and the result will change.
pub const RECONCILING: &str = "Reconciling";
/// The controller gave up until the spec changes.
pub const STALLED: &str = "Stalled";
/// The applied workloads passed their health checks.
pub const HEALTHY: &str = "Healthy";

// Condition types of the source API.

/// A source's artifact is in storage and served.
pub const ARTIFACT_IN_STORAGE: &str = "ArtifactInStorage";
/// The stored artifact no longer matches what the spec asks for.
pub const ARTIFACT_OUTDATED: &str = "ArtifactOutdated";
/// The source's signature was verified.
pub const SOURCE_VERIFIED: &str = "SourceVerified";
/// Fetching from the origin failed.
pub const FETCH_FAILED: &str = "FetchFailed";
/// Building the artifact failed.
pub const BUILD_FAILED: &str = "BuildFailed";
/// Writing to or reading from the artifact storage failed.
pub const STORAGE_OPERATION_FAILED: &str = "StorageOperationFailed";
/// A GitRepository's include could not be resolved.
pub const INCLUDE_UNAVAILABLE: &str = "IncludeUnavailable";

// Condition types of the helm API.

/// The Helm release was installed or upgraded.
pub const RELEASED: &str = "Released";
/// The Helm tests of the release passed.
pub const TEST_SUCCESS: &str = "TestSuccess";
/// A failed release was rolled back or uninstalled.
pub const REMEDIATED: &str = "Remediated";

// Reasons shared by all controllers.

/// An action succeeded.
pub const SUCCEEDED: &str = "Succeeded";
/// An action failed.
pub const FAILED: &str = "Failed";
/// The controller works on the object.
pub const PROGRESSING: &str = "Progressing";
/// The controller works on the object again after a failure.
pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
/// The reconciliation of the object is suspended.
pub const SUSPENDED: &str = "Suspended";
/// An object this one depends on is not ready.
pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
/// The reconciliation succeeded.
pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
/// The reconciliation failed.
pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
/// A secret the object refers to is missing or unusable.
pub const INVALID_SECRET: &str = "InvalidSecret";
/// A CEL expression in the spec does not compile or evaluate.
pub const INVALID_CEL_EXPRESSION: &str = "InvalidCELExpression";
/// The spec asks for a feature whose gate is off.
pub const FEATURE_GATE_DISABLED: &str = "FeatureGateDisabled";
/// The spec asks for a plain-text connection that the controller forbids.
pub const INSECURE_CONNECTIONS_DISALLOWED: &str = "InsecureConnectionsDisallowed";

// Reasons of the source API.

/// The URL in the spec is invalid.
pub const URL_INVALID: &str = "URLInvalid";
/// The origin refused the credentials.
pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
/// The signature did not verify.
pub const VERIFICATION_ERROR: &str = "VerificationError";
/// Creating a directory in storage failed.
pub const DIRECTORY_CREATION_FAILED: &str = "DirectoryCreationFailed";
/// Reading file attributes in storage failed.
pub const STAT_OPERATION_FAILED: &str = "StatOperationFailed";
/// Reading a file failed.
pub const READ_OPERATION_FAILED: &str = "ReadOperationFailed";
/// Taking the storage lock failed.
pub const ACQUIRE_LOCK_FAILED: &str = "AcquireLockFailed";
/// A path in the spec is invalid.
pub const INVALID_PATH: &str = "InvalidPath";
/// Writing the artifact archive failed.
pub const ARCHIVE_OPERATION_FAILED: &str = "ArchiveOperationFailed";
/// Updating the `latest` symlink in storage failed.
pub const SYMLINK_UPDATE_FAILED: &str = "SymlinkUpdateFailed";
/// The stored artifact is current.
pub const ARTIFACT_UP_TO_DATE: &str = "ArtifactUpToDate";
/// A Git operation succeeded.
pub const GIT_OPERATION_SUCCEEDED: &str = "GitOperationSucceeded";
/// A Git operation failed.
pub const GIT_OPERATION_FAILED: &str = "GitOperationFailed";
/// Fetching a Helm repository index failed.
pub const INDEXATION_FAILED: &str = "IndexationFailed";
/// Fetching a Helm repository index succeeded (Flux's spelling).
pub const INDEXATION_SUCCEEDED: &str = "IndexationSucceed";
/// Pulling a chart succeeded.
pub const CHART_PULL_SUCCEEDED: &str = "ChartPullSucceeded";
/// Pulling a chart failed.
pub const CHART_PULL_FAILED: &str = "ChartPullFailed";
/// Packaging a chart succeeded.
pub const CHART_PACKAGE_SUCCEEDED: &str = "ChartPackageSucceeded";
/// Packaging a chart failed.
pub const CHART_PACKAGE_FAILED: &str = "ChartPackageFailed";
/// Pulling an OCI artifact failed.
pub const OCI_ARTIFACT_PULL_FAILED: &str = "OCIArtifactPullFailed";
/// Extracting a layer of an OCI artifact failed.
pub const OCI_ARTIFACT_LAYER_OPERATION_FAILED: &str = "OCIArtifactLayerOperationFailed";
/// Fetching or extracting a source artifact failed.
pub const ARTIFACT_FAILED: &str = "ArtifactFailed";

// Reasons of the kustomize API.

/// Building the kustomization failed.
pub const BUILD_FAILED_REASON: &str = "BuildFailed";
/// Deleting stale objects failed.
pub const PRUNE_FAILED: &str = "PruneFailed";
/// A health check failed or timed out.
pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";

// Reasons of the helm API.

/// `helm install` succeeded.
pub const INSTALL_SUCCEEDED: &str = "InstallSucceeded";
/// `helm install` failed.
pub const INSTALL_FAILED: &str = "InstallFailed";
/// `helm upgrade` succeeded.
pub const UPGRADE_SUCCEEDED: &str = "UpgradeSucceeded";
/// `helm upgrade` failed.
pub const UPGRADE_FAILED: &str = "UpgradeFailed";
/// The Helm tests passed.
pub const TEST_SUCCEEDED: &str = "TestSucceeded";
/// The Helm tests failed.
pub const TEST_FAILED: &str = "TestFailed";
/// `helm rollback` succeeded.
pub const ROLLBACK_SUCCEEDED: &str = "RollbackSucceeded";
/// `helm rollback` failed.
pub const ROLLBACK_FAILED: &str = "RollbackFailed";
/// `helm uninstall` succeeded.
pub const UNINSTALL_SUCCEEDED: &str = "UninstallSucceeded";
/// `helm uninstall` failed.
pub const UNINSTALL_FAILED: &str = "UninstallFailed";
/// Setting up the Helm client failed.
pub const INIT_FAILED: &str = "InitFailed";
/// Reading the last Helm release failed.
pub const GET_LAST_RELEASE_FAILED: &str = "GetLastReleaseFailed";

// Reasons of the notification API.

/// The spec failed validation by the controller.
pub const VALIDATION_FAILED: &str = "ValidationFailed";
/// A receiver's token secret is missing.
pub const TOKEN_NOT_FOUND: &str = "TokenNotFound";
/// A receiver's webhook path is ready to serve.
pub const INITIALIZED: &str = "Initialized";

/// The condition of the given type, if the list has one.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the list has a condition of the given type with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(Condition::is_true)
}

/// Whether the list has a condition of the given type with status `False`.
pub fn is_false(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(Condition::is_false)
}

/// Whether the object is ready: its `Ready` condition is `True`.
pub fn is_ready(conditions: &[Condition]) -> bool {
    is_true(conditions, READY)
}

/// Adds the condition, or updates the one of the same type.
///
/// An update keeps the old `lastTransitionTime` unless the status really changed, so
/// that time tells when the state flipped and not when the controller last looked.
/// Returns whether anything changed.
pub fn set(conditions: &mut Vec<Condition>, condition: Condition) -> bool {
    let Some(existing) = conditions.iter_mut().find(|c| c.type_ == condition.type_) else {
        conditions.push(condition);
        return true;
    };
    let mut changed = false;
    if existing.status != condition.status {
        existing.status = condition.status;
        existing.last_transition_time = condition.last_transition_time;
        changed = true;
    }
    if existing.reason != condition.reason {
        existing.reason = condition.reason;
        changed = true;
    }
    if existing.message != condition.message {
        existing.message = condition.message;
        changed = true;
    }
    if existing.observed_generation != condition.observed_generation {
        existing.observed_generation = condition.observed_generation;
        changed = true;
    }
    changed
}

/// Sets a condition of the given type and status, with the time of the change being now.
pub fn mark(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
) -> bool {
    set(conditions, Condition::new(type_, status, reason, message))
}

/// Removes the condition of the given type. Returns whether there was one.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn cond(status: ConditionStatus, reason: &str, time: i64) -> Condition {
        Condition { last_transition_time: at(time), ..Condition::new(READY, status, reason, "msg") }
    }

    #[test]
    fn set_adds_a_missing_condition() {
        let mut list = Vec::new();
        assert!(set(&mut list, cond(ConditionStatus::True, SUCCEEDED, 10)));
        assert_eq!(list.len(), 1);
        assert!(is_ready(&list));
    }

    #[test]
    fn set_keeps_the_transition_time_when_the_status_stays() {
        let mut list = vec![cond(ConditionStatus::False, PROGRESSING, 10)];
        assert!(set(&mut list, cond(ConditionStatus::False, FAILED, 20)));
        assert_eq!(list[0].last_transition_time, at(10));
        assert_eq!(list[0].reason, FAILED);
    }

    #[test]
    fn set_moves_the_transition_time_when_the_status_changes() {
        let mut list = vec![cond(ConditionStatus::False, FAILED, 10)];
        assert!(set(&mut list, cond(ConditionStatus::True, SUCCEEDED, 20)));
        assert_eq!(list[0].last_transition_time, at(20));
        assert!(is_true(&list, READY));
    }

    #[test]
    fn set_reports_no_change_for_the_same_condition() {
        let mut list = vec![cond(ConditionStatus::True, SUCCEEDED, 10)];
        assert!(!set(&mut list, cond(ConditionStatus::True, SUCCEEDED, 30)));
        assert_eq!(list[0].last_transition_time, at(10));
    }

    #[test]
    fn remove_and_lookups() {
        let mut list = vec![cond(ConditionStatus::False, FAILED, 10)];
        assert!(is_false(&list, READY));
        assert!(!is_true(&list, READY));
        assert!(get(&list, STALLED).is_none());
        assert!(remove(&mut list, READY));
        assert!(!remove(&mut list, READY));
        assert!(!is_ready(&list));
    }

    #[test]
    fn new_conditions_are_stamped_now() {
        let condition = Condition::new(READY, ConditionStatus::True, SUCCEEDED, "");
        assert!(condition.last_transition_time.0 > Timestamp::from_second(1_700_000_000).unwrap());
    }

    #[test]
    fn condition_wire_format() {
        let c = cond(ConditionStatus::Unknown, PROGRESSING, 0).with_observed_generation(Some(3));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["type"], "Ready");
        assert_eq!(json["status"], "Unknown");
        assert_eq!(json["observedGeneration"], 3);
        assert_eq!(json["lastTransitionTime"], "1970-01-01T00:00:00Z");
        let back: Condition = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
    }
}
