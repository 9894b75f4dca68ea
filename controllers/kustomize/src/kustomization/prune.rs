//! Pruning: the objects that left the inventory, after an apply; and all of
//! them when the Kustomization is deleted, as its deletion policy says.

use ferry_api_kustomize::{DeletionPolicy, Kustomization, KustomizationStatus};
use ferry_api_meta::conditions as reasons;
use ferry_sdk::events::Severity;
use ferry_sdk::reconcile::Context;
use ferry_ssa::{ObjectRef, ResourceManager};

use super::apply::{Applied, changed_lines, inventory_refs};
use super::source::Fetched;
use super::{Error, KustomizationReconciler, Result, Run, history, timeout_of};

impl KustomizationReconciler {
    /// Prune: deletes the stale objects (those that left the inventory)
    /// when `spec.prune` is set, newest first.
    ///
    /// Conditions: none directly; a failure is `PruneFailed` and a history
    /// entry.
    pub async fn reconcile_prune(
        &self,
        ctx: &Context,
        object: &Kustomization,
        status: &mut KustomizationStatus,
        run: &Run,
        source: &Fetched,
        applied: &Applied,
    ) -> Result<()> {
        if !object.spec.prune || applied.stale.is_empty() {
            return Ok(());
        }
        let mut stale = applied.stale.clone();
        stale.reverse();
        match applied.manager.delete_all(&stale, &self.delete_options(object)).await {
            Ok(deleted) => {
                let lines = changed_lines(&deleted);
                if !lines.is_empty() {
                    tracing::info!("garbage collection completed: {}", lines.replace('\n', ", "));
                    self.event(ctx, object, Severity::Info, &lines, &source.revision).await;
                }
                Ok(())
            }
            Err(error) => {
                history::upsert(status, &applied.digest, run.started, reasons::PRUNE_FAILED, &applied.history);
                Err(Error::PruneFailed(error))
            }
        }
    }

    /// Finalize: on deletion, deletes what the inventory lists when the
    /// deletion policy asks (and waits for it with `WaitForTermination`);
    /// an unusable identity is reported and lets the object go.
    pub async fn finalize(&self, object: &Kustomization, ctx: &Context) -> Result<()> {
        if !should_delete_on_finalize(object) {
            return Ok(());
        }
        let revision = object.status.as_ref().and_then(|s| s.last_applied_revision.clone()).unwrap_or_default();
        let inventory =
            object.status.as_ref().and_then(|s| s.inventory.as_ref()).map(inventory_refs).unwrap_or_default();
        let client = match self.target_client(object).await {
            Ok(client) => client,
            Err(error) => {
                // The identity to prune with is gone: report and let the object go.
                let message = format!("unable to prune objects: {error}");
                tracing::error!("{message}");
                self.event(ctx, object, Severity::Error, &message, &revision).await;
                return Ok(());
            }
        };
        let manager = ResourceManager::new(client, self.owner());
        let mut objects = inventory;
        objects.reverse();
        let deleted = match manager.delete_all(&objects, &self.delete_options(object)).await {
            Ok(deleted) => deleted,
            Err(error) => {
                self.event(ctx, object, Severity::Error, "pruning for deleted resource failed", &revision).await;
                return Err(Error::PruneFailed(error));
            }
        };
        let lines = changed_lines(&deleted);
        if !lines.is_empty() {
            self.event(ctx, object, Severity::Info, &lines, &revision).await;
            if object.spec.deletion_policy == Some(DeletionPolicy::WaitForTermination) {
                let gone: Vec<ObjectRef> = deleted.entries.iter().map(|e| e.object.clone()).collect();
                if let Err(error) = manager.wait_for_termination(&gone, timeout_of(object)).await {
                    tracing::error!(%error, "failed to wait for resources termination");
                    self.event(ctx, object, Severity::Error, "failed to wait for resources termination", &revision)
                        .await;
                }
            }
        }
        Ok(())
    }
}

/// Flux's rule: a suspended Kustomization or one without inventory deletes
/// nothing; otherwise the deletion policy decides (MirrorPrune follows prune).
fn should_delete_on_finalize(object: &Kustomization) -> bool {
    if object.spec.suspend.unwrap_or(false) {
        return false;
    }
    let has_inventory = object
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .is_some_and(|inventory| !inventory.entries.is_empty());
    if !has_inventory {
        return false;
    }
    match object.spec.deletion_policy.unwrap_or(DeletionPolicy::MirrorPrune) {
        DeletionPolicy::MirrorPrune => object.spec.prune,
        DeletionPolicy::Delete | DeletionPolicy::WaitForTermination => true,
        DeletionPolicy::Orphan => false,
    }
}
