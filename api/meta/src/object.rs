use std::time::Duration;

use crate::Condition;

/// The status every Flux kind shares: conditions, the generation the controller last
/// reconciled, and the last `reconcile.fluxcd.io/requestedAt` value it handled.
///
/// A generic reconcile harness writes these fields for any kind; the kind-specific fields
/// stay with the kind's own reconciler.
pub trait ReconcileStatus {
    /// The status conditions.
    fn conditions(&self) -> &[Condition];

    /// The status conditions, for changing them (see [`crate::conditions::set`]).
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;

    /// The `metadata.generation` last reconciled, if any.
    fn observed_generation(&self) -> Option<i64>;

    /// Records the `metadata.generation` just reconciled.
    fn set_observed_generation(&mut self, generation: Option<i64>);

    /// The last value of the `reconcile.fluxcd.io/requestedAt` annotation handled.
    fn last_handled_reconcile_at(&self) -> Option<&str>;

    /// Records the value of the `reconcile.fluxcd.io/requestedAt` annotation just handled.
    fn set_last_handled_reconcile_at(&mut self, value: Option<String>);
}

/// What a generic reconcile harness needs to know about any Flux kind: its status, how often
/// to reconcile it and whether it is suspended.
///
/// Defaults fit kinds without the field: no retry interval, never suspended.
pub trait FluxObject {
    /// The kind's status.
    type Status: ReconcileStatus + Default;

    /// The status, if the object has one.
    fn status(&self) -> Option<&Self::Status>;

    /// The status, created empty first when the object has none.
    fn status_mut(&mut self) -> &mut Self::Status;

    /// How often to reconcile (`spec.interval`); `None` when the kind has no interval or the
    /// value does not parse.
    fn interval(&self) -> Option<Duration>;

    /// How soon to retry after a failure (`spec.retryInterval`), when the kind has one and it
    /// is set; the harness falls back to [`FluxObject::interval`].
    fn retry_interval(&self) -> Option<Duration> {
        None
    }

    /// Whether `spec.suspend` stops reconciliation.
    fn suspended(&self) -> bool {
        false
    }
}

/// Parses an optional Go duration field, treating a malformed value as unset.
pub fn parse_duration_field(value: Option<&str>) -> Option<Duration> {
    value.and_then(|text| crate::duration::parse(text).ok())
}

/// Implements [`ReconcileStatus`] for a status struct with the usual Flux fields:
/// `conditions: Option<Vec<Condition>>`, `observed_generation: Option<i64>` and
/// `last_handled_reconcile_at: Option<String>`.
#[macro_export]
macro_rules! impl_reconcile_status {
    ($status:ty) => {
        impl $crate::ReconcileStatus for $status {
            fn conditions(&self) -> &[$crate::Condition] {
                self.conditions.as_deref().unwrap_or_default()
            }
            fn conditions_mut(&mut self) -> &mut Vec<$crate::Condition> {
                self.conditions.get_or_insert_with(Vec::new)
            }
            fn observed_generation(&self) -> Option<i64> {
                self.observed_generation
            }
            fn set_observed_generation(&mut self, generation: Option<i64>) {
                self.observed_generation = generation;
            }
            fn last_handled_reconcile_at(&self) -> Option<&str> {
                self.last_handled_reconcile_at.as_deref()
            }
            fn set_last_handled_reconcile_at(&mut self, value: Option<String>) {
                self.last_handled_reconcile_at = value;
            }
        }
    };
}

/// Implements [`FluxObject`] for a kind whose spec has `interval: String`, and optionally
/// `suspend: Option<bool>` and `retry_interval: Option<String>`.
///
/// `impl_flux_object!(GitRepository, GitRepositoryStatus, suspend)` or
/// `impl_flux_object!(Kustomization, KustomizationStatus, suspend, retry_interval)`.
#[macro_export]
macro_rules! impl_flux_object {
    ($kind:ty, $status:ty $(, $opt:ident)*) => {
        impl $crate::FluxObject for $kind {
            type Status = $status;
            fn status(&self) -> Option<&$status> {
                self.status.as_ref()
            }
            fn status_mut(&mut self) -> &mut $status {
                self.status.get_or_insert_with(Default::default)
            }
            fn interval(&self) -> Option<std::time::Duration> {
                $crate::parse_duration_field(Some(self.spec.interval.as_str()))
            }
            $($crate::impl_flux_object!(@$opt);)*
        }
    };
    (@suspend) => {
        fn suspended(&self) -> bool {
            self.spec.suspend.unwrap_or(false)
        }
    };
    (@retry_interval) => {
        fn retry_interval(&self) -> Option<std::time::Duration> {
            $crate::parse_duration_field(self.spec.retry_interval.as_deref())
        }
    };
}
