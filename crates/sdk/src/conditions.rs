//! kstatus conditions, set and summarised the way Flux does.
//!
//! `Ready` is the summary; `Reconciling` and `Stalled` have negative polarity
//! (`True` means something is not done or not well), as can a controller's
//! own condition types. A condition's `lastTransitionTime` only moves when its
//! status changes.

pub use ferry_api_meta::conditions::{
    DEPENDENCY_NOT_READY, FAILED, PROGRESSING, PROGRESSING_WITH_RETRY, READY, RECONCILING, STALLED, SUCCEEDED, get,
    is_false, is_true, remove,
};
pub use ferry_api_meta::{Condition, ConditionStatus};

/// Sets a condition. Its `lastTransitionTime` is kept unless its status
/// changes; reason, message and observedGeneration are always updated. An
/// empty reason becomes `Unknown` (the API requires one).
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) {
    let reason = if reason.is_empty() { "Unknown" } else { reason };
    ferry_api_meta::conditions::set(
        conditions,
        Condition::new(type_, status, reason, message).with_observed_generation(generation),
    );
}

/// Sets `type_` to `True`.
pub fn mark_true(conditions: &mut Vec<Condition>, type_: &str, reason: &str, message: &str, generation: Option<i64>) {
    set(conditions, type_, ConditionStatus::True, reason, message, generation);
}

/// Sets `type_` to `False`.
pub fn mark_false(conditions: &mut Vec<Condition>, type_: &str, reason: &str, message: &str, generation: Option<i64>) {
    set(conditions, type_, ConditionStatus::False, reason, message, generation);
}

/// Sets `type_` to `Unknown`.
pub fn mark_unknown(
    conditions: &mut Vec<Condition>,
    type_: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) {
    set(conditions, type_, ConditionStatus::Unknown, reason, message, generation);
}

/// Condition changes on a status itself, so that a reconciler writes
/// `status.mark_true(..)` instead of reaching for the list
/// (`status.conditions.get_or_insert_with(Vec::new)`) at every step.
///
/// Implemented for every [`ReconcileStatus`](ferry_api_meta::ReconcileStatus).
pub trait StatusConditions {
    /// Sets `type_` to `True` (see [`set`]).
    fn mark_true(&mut self, type_: &str, reason: &str, message: &str, generation: Option<i64>);
    /// Sets `type_` to `False` (see [`set`]).
    fn mark_false(&mut self, type_: &str, reason: &str, message: &str, generation: Option<i64>);
    /// Sets `type_` to `Unknown` (see [`set`]).
    fn mark_unknown(&mut self, type_: &str, reason: &str, message: &str, generation: Option<i64>);
    /// Removes the conditions of these types; removing a missing one is no change.
    fn remove(&mut self, types: &[&str]);
    /// Whether the condition `type_` is `True`.
    fn is_true(&self, type_: &str) -> bool;
}

impl<S: ferry_api_meta::ReconcileStatus + ?Sized> StatusConditions for S {
    fn mark_true(&mut self, type_: &str, reason: &str, message: &str, generation: Option<i64>) {
        mark_true(self.conditions_mut(), type_, reason, message, generation);
    }

    fn mark_false(&mut self, type_: &str, reason: &str, message: &str, generation: Option<i64>) {
        mark_false(self.conditions_mut(), type_, reason, message, generation);
    }

    fn mark_unknown(&mut self, type_: &str, reason: &str, message: &str, generation: Option<i64>) {
        mark_unknown(self.conditions_mut(), type_, reason, message, generation);
    }

    fn remove(&mut self, types: &[&str]) {
        // Only touch a list that exists: an absent list stays absent.
        if self.conditions().iter().any(|c| types.contains(&c.type_.as_str())) {
            self.conditions_mut().retain(|c| !types.contains(&c.type_.as_str()));
        }
    }

    fn is_true(&self, type_: &str) -> bool {
        is_true(self.conditions(), type_)
    }
}

/// Which conditions make up `Ready`, and which of them have negative polarity.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Owned condition types in priority order. `Stalled` and `Reconciling`
    /// always come first and need not be listed.
    pub owned: Vec<String>,
    /// Owned condition types with negative polarity, besides `Stalled` and
    /// `Reconciling`.
    pub negative_polarity: Vec<String>,
}

impl Summary {
    /// A summary over `owned` types, of which `negative_polarity` are negative.
    pub fn new(owned: &[&str], negative_polarity: &[&str]) -> Self {
        Self {
            owned: owned.iter().map(|s| s.to_string()).collect(),
            negative_polarity: negative_polarity.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn is_negative(&self, type_: &str) -> bool {
        type_ == STALLED || type_ == RECONCILING || self.negative_polarity.iter().any(|t| t == type_)
    }

    /// The Ready condition that the owned conditions add up to, or `None`
    /// when all of them are fine (so Ready is `True` with the caller's reason).
    ///
    /// A negative-polarity condition that is `True` wins first, then a
    /// positive one that is `False`, then any that is `Unknown`; within a
    /// group the order of priority decides.
    pub fn merge<'a>(&self, conditions: &'a [Condition]) -> Option<(ConditionStatus, &'a Condition)> {
        let order: Vec<&str> =
            [STALLED, RECONCILING].into_iter().chain(self.owned.iter().map(String::as_str)).collect();
        let owned = || order.iter().filter_map(|t| get(conditions, t));
        if let Some(c) = owned().find(|c| self.is_negative(&c.type_) && c.is_true()) {
            return Some((ConditionStatus::False, c));
        }
        if let Some(c) = owned().find(|c| !self.is_negative(&c.type_) && c.is_false()) {
            return Some((ConditionStatus::False, c));
        }
        owned().find(|c| c.status == ConditionStatus::Unknown).map(|c| (ConditionStatus::Unknown, c))
    }

    /// Sets Ready from the owned conditions: their worst state if any is not
    /// fine, else `True` with `reason` and `message`.
    pub fn set_ready(&self, conditions: &mut Vec<Condition>, reason: &str, message: &str, generation: Option<i64>) {
        match self.merge(conditions).map(|(status, c)| (status, c.reason.clone(), c.message.clone())) {
            Some((status, reason, message)) => set(conditions, READY, status, &reason, &message, generation),
            None => mark_true(conditions, READY, reason, message, generation),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::{SignedDuration, Timestamp};

    #[test]
    fn last_transition_time_moves_only_on_status_change() {
        let mut conditions = Vec::new();
        mark_false(&mut conditions, READY, "Failed", "boom", Some(1));
        let old = Time(Timestamp::now() - SignedDuration::from_hours(1));
        conditions[0].last_transition_time = old.clone();

        mark_false(&mut conditions, READY, "OtherFailure", "still broken", Some(2));
        assert_eq!(conditions[0].last_transition_time, old);
        assert_eq!(conditions[0].reason, "OtherFailure");
        assert_eq!(conditions[0].observed_generation, Some(2));

        mark_true(&mut conditions, READY, SUCCEEDED, "ok", Some(2));
        assert_ne!(conditions[0].last_transition_time, old);
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn empty_reason_becomes_unknown() {
        let mut conditions = Vec::new();
        mark_true(&mut conditions, "Foo", "", "", None);
        assert_eq!(conditions[0].reason, "Unknown");
    }

    #[test]
    fn ready_summarises_negative_polarity_first() {
        let summary = Summary::new(&["FetchFailed", "ArtifactInStorage"], &["FetchFailed"]);
        let mut conditions = Vec::new();
        mark_false(&mut conditions, "ArtifactInStorage", "NoArtifact", "no artifact", None);
        mark_true(&mut conditions, "FetchFailed", "AuthFailed", "bad credentials", None);
        summary.set_ready(&mut conditions, SUCCEEDED, "done", Some(3));
        let ready = get(&conditions, READY).unwrap();
        assert_eq!((ready.status, ready.reason.as_str()), (ConditionStatus::False, "AuthFailed"));
        assert_eq!(ready.message, "bad credentials");
        assert_eq!(ready.observed_generation, Some(3));

        mark_true(&mut conditions, STALLED, "InvalidURL", "bad url", None);
        summary.set_ready(&mut conditions, SUCCEEDED, "done", None);
        assert_eq!(get(&conditions, READY).unwrap().reason, "InvalidURL");
    }

    #[test]
    fn ready_true_when_all_owned_are_fine() {
        let summary = Summary::new(&["ArtifactInStorage"], &[]);
        let mut conditions = Vec::new();
        mark_true(&mut conditions, "ArtifactInStorage", SUCCEEDED, "stored", None);
        summary.set_ready(&mut conditions, SUCCEEDED, "stored artifact for revision main@sha1:abc", Some(1));
        let ready = get(&conditions, READY).unwrap();
        assert_eq!(ready.status, ConditionStatus::True);
        assert_eq!(ready.message, "stored artifact for revision main@sha1:abc");
    }

    #[test]
    fn statuses_change_their_own_conditions() {
        use ferry_api_meta::ReconcileStatus;
        #[derive(Default)]
        struct Status {
            conditions: Option<Vec<Condition>>,
        }
        impl ReconcileStatus for Status {
            fn conditions(&self) -> &[Condition] {
                self.conditions.as_deref().unwrap_or_default()
            }
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                self.conditions.get_or_insert_with(Vec::new)
            }
            fn observed_generation(&self) -> Option<i64> {
                None
            }
            fn set_observed_generation(&mut self, _: Option<i64>) {}
            fn last_handled_reconcile_at(&self) -> Option<&str> {
                None
            }
            fn set_last_handled_reconcile_at(&mut self, _: Option<String>) {}
        }
        let mut status = Status::default();
        status.remove(&["A"]);
        assert!(status.conditions.is_none(), "removing from no list leaves no list");
        status.mark_true("A", SUCCEEDED, "ok", Some(1));
        status.mark_false("B", FAILED, "no", Some(1));
        status.mark_unknown("C", PROGRESSING, "working", Some(1));
        assert!(StatusConditions::is_true(&status, "A"));
        assert!(is_false(status.conditions(), "B"));
        status.remove(&["A", "C"]);
        let types: Vec<&str> = status.conditions().iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["B"]);
    }

    #[test]
    fn unknown_wins_over_true() {
        let summary = Summary::new(&["A", "B"], &[]);
        let mut conditions = Vec::new();
        mark_true(&mut conditions, "A", SUCCEEDED, "", None);
        mark_unknown(&mut conditions, "B", PROGRESSING, "working", None);
        summary.set_ready(&mut conditions, SUCCEEDED, "", None);
        assert_eq!(get(&conditions, READY).unwrap().status, ConditionStatus::Unknown);
        assert!(is_true(&conditions, "A"));
        remove(&mut conditions, "A");
        assert!(get(&conditions, "A").is_none());
    }
}
