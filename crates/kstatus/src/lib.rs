//! The health of Kubernetes objects, computed as kstatus (`sigs.k8s.io/cli-utils/pkg/kstatus`)
//! computes it for Flux's health checks, and the CEL health check expressions of a
//! Kustomization's `spec.healthCheckExprs`.
//!
//! Everything here is pure: it reads an object (a `serde_json::Value` as the API server returns
//! it) and says whether it is `Current`, `InProgress`, `Failed` or `Terminating`. Fetching the
//! objects and waiting for them is the controller's part.
//!
//! - [`compute`] applies kstatus's rules: deletion, observed generation, the standard
//!   `Reconciling`/`Stalled` conditions, the built-in kinds (Deployment, StatefulSet, Pod, Job,
//!   CustomResourceDefinition, ...), then the `Ready` condition, and `Current` for anything else.
//! - [`CelHealthCheck`] evaluates one `healthCheckExprs` entry; [`HealthChecker`] picks the entry
//!   for an object's group and kind and falls back to [`compute`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod builtin;
mod cel;
mod field;
mod generic;
mod time;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::cel::{CelHealthCheck, Error, HealthChecker, eval_bool};
pub use crate::generic::{compute, compute_at};

/// The health of an object, with kstatus's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// The object's controller has not finished acting on its latest spec.
    InProgress,
    /// The object's controller gave up: it will not reach the desired state without a change.
    Failed,
    /// The object has reached its desired state.
    Current,
    /// The object is being deleted.
    Terminating,
    /// The object does not exist.
    NotFound,
    /// The health could not be computed (an unexpected object shape, a failing expression).
    Unknown,
}

impl Status {
    /// The kstatus name of this status, as Flux prints it (`InProgress`, `Current`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "InProgress",
            Status::Failed => "Failed",
            Status::Current => "Current",
            Status::Terminating => "Terminating",
            Status::NotFound => "NotFound",
            Status::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The condition type kstatus reports while an object is still progressing.
pub const RECONCILING: &str = "Reconciling";
/// The condition type kstatus reports when an object has failed.
pub const STALLED: &str = "Stalled";

/// A standard condition (`Reconciling` or `Stalled`) that explains a [`Health`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// [`RECONCILING`] or [`STALLED`].
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A one-word CamelCase reason, e.g. `LessReady`.
    pub reason: String,
    /// A human readable message.
    pub message: String,
}

impl Condition {
    fn new(type_: &str, reason: &str, message: &str) -> Self {
        Condition {
            type_: type_.to_owned(),
            status: "True".to_owned(),
            reason: reason.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// The result of computing an object's health: its status, why, and the standard condition
/// that goes with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The status.
    pub status: Status,
    /// A human readable explanation, e.g. `Deployment is available. Replicas: 2`.
    pub message: String,
    /// `Reconciling` for [`Status::InProgress`], `Stalled` for [`Status::Failed`], when known.
    pub conditions: Vec<Condition>,
}

impl Health {
    /// `Current` with a message and no condition.
    pub fn current(message: impl Into<String>) -> Self {
        Health { status: Status::Current, message: message.into(), conditions: Vec::new() }
    }

    /// `InProgress` with a `Reconciling` condition.
    pub fn in_progress(reason: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Health { status: Status::InProgress, conditions: vec![Condition::new(RECONCILING, reason, &message)], message }
    }

    /// `Failed` with a `Stalled` condition.
    pub fn failed(reason: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Health { status: Status::Failed, conditions: vec![Condition::new(STALLED, reason, &message)], message }
    }

    /// `Terminating`: the object has a deletion timestamp.
    pub fn terminating() -> Self {
        Health {
            status: Status::Terminating,
            message: "Resource scheduled for deletion".into(),
            conditions: Vec::new(),
        }
    }

    /// `NotFound`: the object does not exist in the cluster.
    pub fn not_found() -> Self {
        Health { status: Status::NotFound, message: "Resource not found".into(), conditions: Vec::new() }
    }

    /// `Unknown` with the reason the health could not be computed.
    pub fn unknown(message: impl Into<String>) -> Self {
        Health { status: Status::Unknown, message: message.into(), conditions: Vec::new() }
    }

    /// A status alone, without message, as a CEL expression yields it.
    fn bare(status: Status) -> Self {
        Health { status, message: String::new(), conditions: Vec::new() }
    }
}

#[cfg(test)]
mod testutil {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde_json::Value;

    use crate::{Health, Status};

    /// The object written as YAML.
    pub(crate) fn obj(yaml: &str) -> Value {
        serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("bad test YAML: {e}\n{yaml}"))
    }

    /// 2024-05-01T10:00:00Z, the clock of the tests.
    pub(crate) fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_714_557_600)
    }

    /// One case of a table: an object and the health kstatus gives it.
    pub(crate) struct Case {
        pub(crate) name: &'static str,
        pub(crate) yaml: &'static str,
        pub(crate) status: Status,
        pub(crate) message: &'static str,
        /// The reason of the Reconciling/Stalled condition, `None` for no condition.
        pub(crate) reason: Option<&'static str>,
    }

    pub(crate) fn check(case: &Case, got: &Health) {
        assert_eq!(got.status, case.status, "{}: status ({got:?})", case.name);
        assert_eq!(got.message, case.message, "{}: message", case.name);
        match case.reason {
            None => assert!(got.conditions.is_empty(), "{}: conditions {:?}", case.name, got.conditions),
            Some(reason) => {
                assert_eq!(got.conditions.len(), 1, "{}: conditions {:?}", case.name, got.conditions);
                let c = &got.conditions[0];
                assert_eq!(c.reason, reason, "{}: reason", case.name);
                assert_eq!(c.status, "True", "{}: condition status", case.name);
                let want_type = if case.status == Status::Failed { crate::STALLED } else { crate::RECONCILING };
                assert_eq!(c.type_, want_type, "{}: condition type", case.name);
            }
        }
    }
}
