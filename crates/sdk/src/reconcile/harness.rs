//! One reconcile of one object: finalizer, suspend, the reconciler's steps,
//! then the status, event, metrics and the next time, whatever happened.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::api::Api;
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use super::finalizer::{self, Step};
use super::{Context, DEFAULT_WAIT, Error, REQUESTED_AT_ANNOTATION, Reconciler, Result, STANDBY_RECHECK, Settings};
use crate::backoff::{Backoff, IntervalJitter};
use crate::conditions;
use crate::error::{ErrorClass, ReconcileError};
use crate::events::{self, Severity};
use crate::leader::Leadership;
use crate::metrics::Metrics;
use crate::status::{self, FluxObject, ReconcileStatus};

/// When to reconcile an object again without a trigger: after the delay,
/// or (`None`) only on a change.
pub(super) type Next = Option<Duration>;

/// What every reconcile of one kind shares.
pub(super) struct Harness<R: Reconciler> {
    pub(super) reconciler: R,
    pub(super) ctx: Context,
    pub(super) settings: Settings,
    pub(super) backoff: Backoff,
    pub(super) jitter: IntervalJitter,
    pub(super) leadership: Option<Leadership>,
    /// The `resourceVersion` of each object's last status write, by
    /// `namespace/name`: a reconcile handed an older copy from the cache
    /// (one queued while the last write was still on its way back through
    /// the watch) reads the object afresh instead, so that it neither
    /// repeats finished work nor writes a status built on stale fields.
    pub(super) written: Mutex<HashMap<String, u64>>,
}

/// Decrements the in-flight gauge when a reconcile ends, however it ends.
struct InFlight<'a> {
    metrics: &'a Metrics,
    kind: &'a str,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.metrics.add_in_flight(self.kind, -1);
    }
}

/// What the harness does after the steps: requeue, result label, event.
type Verdict = (Next, &'static str, Option<((Severity, String, String), Option<String>)>);

impl<R: Reconciler> Harness<R> {
    /// Reconciles `object`, in a span labelled as controller-runtime labels
    /// its logs (`controller` is the lowercased kind).
    pub(super) async fn reconcile(&self, object: Arc<R::Object>) -> Result<Next> {
        if self.leadership.as_ref().is_some_and(|l| !l.is_leader()) {
            // Taking the lease also triggers a reconcile of everything; the
            // requeue is the safety net should that race with this check.
            tracing::debug!(name = %object.name_any(), "not the leader, skipping");
            return Ok(Some(STANDBY_RECHECK));
        }
        let kind = <R::Object as Resource>::kind(&()).into_owned();
        let name = object.name_any();
        let namespace = object.namespace().ok_or_else(|| Error::NoNamespace(name.clone()))?;
        let span = tracing::info_span!(
            "reconcile",
            controller = %kind.to_lowercase(),
            controllerGroup = %<R::Object as Resource>::group(&()),
            controllerKind = %kind,
            name = %name,
            namespace = %namespace,
            reconcileID = %reconcile_id(),
        );
        self.ctx.metrics.add_in_flight(&kind, 1);
        let _in_flight = InFlight { metrics: &self.ctx.metrics, kind: &kind };
        let started = Instant::now();
        let result = self.reconcile_object(object, &kind, &namespace, &name).instrument(span).await;
        self.ctx.metrics.record_duration(&kind, &namespace, &name, started.elapsed());
        result
    }

    async fn reconcile_object(&self, object: Arc<R::Object>, kind: &str, namespace: &str, name: &str) -> Result<Next> {
        let api: Api<R::Object> = Api::namespaced(self.ctx.client.clone(), namespace);
        let finalizer = self.settings.finalizer.as_str();
        match finalizer::prepare(&api, object, finalizer, &self.ctx.field_manager).await? {
            Step::Ignore => Ok(None),
            Step::Cleanup(object) => self.cleanup(&api, &object, kind, namespace, name).await,
            Step::Apply(object) => self.apply(&api, &object, kind, namespace, name).await,
        }
    }

    /// Runs the reconciler's cleanup, then removes the finalizer.
    async fn cleanup(
        &self,
        api: &Api<R::Object>,
        object: &R::Object,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Next> {
        let key = format!("{namespace}/{name}");
        match self.reconciler.cleanup(object, &self.ctx).await {
            Ok(()) => {
                finalizer::remove(api, object, &self.settings.finalizer, &self.ctx.field_manager).await?;
                self.backoff.reset(&key);
                self.written.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&key);
                self.ctx.metrics.record_condition(kind, namespace, name, conditions::READY, None);
                self.ctx.metrics.record_result(kind, "deleted");
                tracing::info!("cleaned up, finalizer removed");
                Ok(None)
            }
            Err(error) => {
                self.emit(object, Severity::Error, error.reason(), &error.to_string(), None).await;
                self.ctx.metrics.record_result(kind, error.class().as_str());
                tracing::error!(error = %error, reason = error.reason(), "cleanup failed");
                Ok(Some(self.backoff.next_delay(&key)))
            }
        }
    }

    /// Skips a suspended object, otherwise runs the steps and writes the
    /// status, whatever happened.
    async fn apply(
        &self,
        api: &Api<R::Object>,
        object: &R::Object,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Next> {
        let suspended = object.suspended();
        self.ctx.metrics.record_suspend(kind, namespace, name, suspended);
        if suspended {
            tracing::info!("reconciliation is suspended for this object");
            self.ctx.metrics.record_result(kind, "suspended");
            return Ok(None);
        }

        let key = format!("{namespace}/{name}");
        let fresh;
        let object = if self.is_stale(&key, object) {
            tracing::debug!("the cached copy predates the last status written, reading it afresh");
            fresh = api.get(name).await.map_err(|source| Error::ReadFailed { name: name.to_string(), source })?;
            &fresh
        } else {
            object
        };
        let before = object.status().cloned().unwrap_or_default();
        let mut status = before.clone();
        let result = self.reconciler.reconcile(object, &mut status, &self.ctx).await;
        if let Some(requested) = object.annotations().get(REQUESTED_AT_ANNOTATION) {
            status.set_last_handled_reconcile_at(Some(requested.clone()));
        }
        let (next, label, event) = match result {
            Ok(outcome) => self.succeeded(object, &before, &mut status, outcome, &key),
            Err(error) => self.failed(object, &mut status, &error, &key),
        };

        let written = status::patch(api, object, &status, &self.ctx.field_manager).await?;
        self.remember_written(&key, &written);

        self.ctx.metrics.record_result(kind, label);
        if let Some(ready) = conditions::get(status.conditions(), conditions::READY) {
            self.ctx.metrics.record_condition(kind, namespace, name, conditions::READY, Some(ready.status.as_str()));
        }
        if let Some(((severity, reason, message), revision)) = event {
            self.emit(object, severity, &reason, &message, revision).await;
        }
        Ok(next)
    }

    /// Whether `object` is older than the last status this harness wrote
    /// for `key`. Resource versions are compared as the numbers etcd makes
    /// them; one that is not a number never counts as stale.
    fn is_stale(&self, key: &str, object: &R::Object) -> bool {
        let Some(version) = resource_version(object) else { return false };
        let written = self.written.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        written.get(key).is_some_and(|last| version < *last)
    }

    /// Records the `resourceVersion` of a status just written.
    fn remember_written(&self, key: &str, written: &R::Object) {
        let mut map = self.written.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match resource_version(written) {
            Some(version) => map.insert(key.to_string(), version),
            None => map.remove(key),
        };
    }

    /// Ready=True from the owned conditions; the next reconcile at the
    /// interval; a success event when Ready changed.
    fn succeeded(
        &self,
        object: &R::Object,
        before: &<R::Object as FluxObject>::Status,
        status: &mut <R::Object as FluxObject>::Status,
        outcome: super::Outcome,
        key: &str,
    ) -> Verdict {
        let generation = object.meta().generation;
        let was_ready = conditions::get(before.conditions(), conditions::READY).cloned();
        let conds = status.conditions_mut();
        conditions::remove(conds, conditions::RECONCILING);
        conditions::remove(conds, conditions::STALLED);
        let ready_reason = outcome.ready_reason.as_deref().unwrap_or(conditions::SUCCEEDED);
        self.reconciler.summary().set_ready(conds, ready_reason, &outcome.message, generation);
        status.set_observed_generation(generation);
        self.backoff.reset(key);
        let ready = conditions::get(status.conditions(), conditions::READY).cloned();
        let changed = match (&was_ready, &ready) {
            (Some(old), Some(new)) => old.status != new.status || old.message != new.message,
            _ => true,
        };
        let event = (!outcome.quiet && changed && ready.as_ref().is_some_and(|r| r.is_true())).then(|| {
            let reason = outcome.event_reason.clone().unwrap_or_else(|| conditions::SUCCEEDED.to_string());
            (Severity::Info, reason, outcome.message.clone())
        });
        tracing::info!(revision = outcome.revision.as_deref().unwrap_or(""), "{}", outcome.message);
        let after = outcome.requeue_after.or_else(|| object.interval().map(|i| self.jitter.apply(i)));
        (after, "success", event.map(|e| (e, outcome.revision)))
    }

    /// Ready=False with the error's reason; Reconciling or Stalled by its
    /// class; the next reconcile by its class.
    fn failed(
        &self,
        object: &R::Object,
        status: &mut <R::Object as FluxObject>::Status,
        error: &R::Error,
        key: &str,
    ) -> Verdict {
        let generation = object.meta().generation;
        let reason = error.reason().to_string();
        let message = error.to_string();
        let class = error.class();
        let fixed_delay = |delay: Option<Duration>| {
            delay.or_else(|| object.retry_interval()).or_else(|| object.interval()).unwrap_or(DEFAULT_WAIT)
        };
        // Every class but Stalled keeps Reconciling=True: with retry
        // for failures, plain progress while waiting.
        let (next, severity, progress) = match class {
            ErrorClass::Transient => {
                (Some(self.backoff.next_delay(key)), Severity::Error, conditions::PROGRESSING_WITH_RETRY)
            }
            ErrorClass::Retry(delay) => {
                self.backoff.reset(key);
                (Some(fixed_delay(delay)), Severity::Error, conditions::PROGRESSING_WITH_RETRY)
            }
            ErrorClass::Waiting(delay) => {
                self.backoff.reset(key);
                (Some(fixed_delay(delay)), Severity::Info, conditions::PROGRESSING)
            }
            ErrorClass::Stalled => {
                self.backoff.reset(key);
                (None, Severity::Error, "")
            }
        };
        let conds = status.conditions_mut();
        if matches!(class, ErrorClass::Stalled) {
            conditions::remove(conds, conditions::RECONCILING);
            conditions::mark_true(conds, conditions::STALLED, &reason, &message, generation);
            status.set_observed_generation(generation);
        } else {
            conditions::remove(conds, conditions::STALLED);
            conditions::mark_true(conds, conditions::RECONCILING, progress, &message, generation);
        }
        conditions::mark_false(status.conditions_mut(), conditions::READY, &reason, &message, generation);
        if matches!(class, ErrorClass::Waiting(_)) {
            tracing::info!(reason = %reason, class = class.as_str(), message = %message, "waiting");
        } else {
            tracing::error!(reason = %reason, class = class.as_str(), error = %message, "reconciliation failed");
        }
        let event = error.records_event().then_some(((severity, reason, message), None));
        (next, class.as_str(), event)
    }

    /// Records the harness's own events through the one event path.
    async fn emit(
        &self,
        object: &R::Object,
        severity: Severity,
        reason: &str,
        message: &str,
        revision: Option<String>,
    ) {
        let metadata: BTreeMap<String, String> =
            revision.into_iter().map(|r| (events::META_REVISION_KEY.to_string(), r)).collect();
        self.ctx.event(object, severity, reason, message, &metadata).await;
    }
}

/// `metadata.resourceVersion` as a number, when it is one.
fn resource_version<K: Resource>(object: &K) -> Option<u64> {
    object.meta().resource_version.as_deref().and_then(|v| v.parse().ok())
}

fn reconcile_id() -> String {
    let bits: u128 = rand::random();
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconcile_ids_look_like_uuids() {
        let id = reconcile_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
    }
}
