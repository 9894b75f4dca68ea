//! The finalizer contract: what the harness guarantees a [`Reconciler`]
//! about deletion, and the two writes that keep it.
//!
//! # Expected flow
//!
//! 1. A user creates an object.
//! 2. The harness sees it, adds the finalizer ([`Settings::finalizer`],
//!    Flux's `finalizers.fluxcd.io`) with a merge patch under the field
//!    manager, and goes on with the updated object.
//! 3. [`Reconciler::reconcile`] runs; the harness writes the status.
//! 4. The user updates the object: step 3 again.
//! 5. The user deletes the object: Kubernetes sets `deletionTimestamp` and
//!    keeps the object while the finalizer is there.
//! 6. The harness sees the deleting object and runs [`Reconciler::cleanup`]
//!    (never `reconcile`, and never for a suspended check: suspend does not
//!    hold up deletion).
//! 7. When cleanup succeeds, the harness removes the finalizer, and
//!    Kubernetes deletes the object. When it fails, the failure is recorded
//!    (event, metrics, log) and cleanup is retried with the per-object
//!    backoff; the finalizer stays.
//!
//! # Guarantees
//!
//! If `reconcile` ever started for an object, `cleanup` succeeds before the
//! object is gone (unless someone else removes the finalizer by hand).
//! A deleting object without the finalizer is left alone: the harness never
//! adds a finalizer to an object being deleted.
//!
//! # Assumptions
//!
//! The finalizer name is unique among the controllers writing the object
//! (Flux's controllers share `finalizers.fluxcd.io`, but each kind has one
//! controller). `reconcile` and `cleanup` are idempotent and tolerate being
//! run several times, or being cancelled at any `.await` (shutdown cancels
//! reconciles still running at the shutdown deadline). `cleanup` tolerates
//! `reconcile` never having run or never having succeeded.
//!
//! # Caveats
//!
//! Deletion gets stuck while no controller runs, or while cleanup keeps
//! failing. Both writes are conditional on the resourceVersion read: a
//! concurrent update fails the write, and the object is reconciled again
//! from the newer version.
//!
//! [`Reconciler`]: super::Reconciler
//! [`Reconciler::reconcile`]: super::Reconciler::reconcile
//! [`Reconciler::cleanup`]: super::Reconciler::cleanup
//! [`Settings::finalizer`]: super::Settings::finalizer

use std::fmt::Debug;
use std::sync::Arc;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::{Error, Result};

/// What the harness does with an object, by its finalizer and deletion.
pub(super) enum Step<K> {
    /// Not deleting, finalizer in place: run the steps on this object.
    Apply(Arc<K>),
    /// Deleting, finalizer in place: clean up, then call [`remove`].
    Cleanup(Arc<K>),
    /// Deleting without our finalizer: nothing to do.
    Ignore,
}

/// Decides the [`Step`] for `object`, adding the finalizer `name` first
/// when the object is live and lacks it.
pub(super) async fn prepare<K>(api: &Api<K>, object: Arc<K>, name: &str, field_manager: &str) -> Result<Step<K>>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    let has_finalizer = object.finalizers().iter().any(|f| f == name);
    if object.meta().deletion_timestamp.is_some() {
        return Ok(if has_finalizer { Step::Cleanup(object) } else { Step::Ignore });
    }
    if has_finalizer {
        return Ok(Step::Apply(object));
    }
    let mut finalizers = object.finalizers().to_vec();
    finalizers.push(name.to_string());
    Ok(Step::Apply(Arc::new(set(api, &object, finalizers, field_manager).await?)))
}

/// Removes the finalizer `name` from `object` after its cleanup succeeded.
pub(super) async fn remove<K>(api: &Api<K>, object: &K, name: &str, field_manager: &str) -> Result<()>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    let remaining: Vec<String> = object.finalizers().iter().filter(|f| *f != name).cloned().collect();
    set(api, object, remaining, field_manager).await.map(drop)
}

/// Sets the finalizers with a merge patch conditional on the resourceVersion read.
async fn set<K>(api: &Api<K>, object: &K, finalizers: Vec<String>, field_manager: &str) -> Result<K>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    let name = object.name_any();
    let patch = serde_json::json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": object.resource_version(),
        }
    });
    let params = PatchParams { field_manager: Some(field_manager.to_string()), ..PatchParams::default() };
    api.patch(&name, &params, &Patch::Merge(&patch)).await.map_err(|source| Error::FinalizerFailed { name, source })
}
