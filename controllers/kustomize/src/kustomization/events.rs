//! The events of a Kustomization, with Flux's reasons and metadata, and the
//! end of a successful run that records it and sends the closing event.

use std::collections::BTreeMap;

use ferry_api_kustomize::{Kustomization, KustomizationStatus};
use ferry_api_meta::conditions as reasons;
use ferry_sdk::events::Severity;
use ferry_sdk::reconcile::{Context, Outcome};

use super::apply::Applied;
use super::history::upsert;
use super::source::Fetched;
use super::{KustomizationReconciler, Run, go_duration};

impl KustomizationReconciler {
    /// An event about `object` at `revision`: Flux's `Progressing` (or
    /// `error`) reason with the revision as metadata.
    pub(super) async fn event(
        &self,
        ctx: &Context,
        object: &Kustomization,
        severity: Severity,
        message: &str,
        revision: &str,
    ) {
        let mut metadata = BTreeMap::new();
        if !revision.is_empty() {
            metadata.insert(ferry_sdk::events::META_REVISION_KEY.to_string(), revision.to_string());
        }
        let reason = match severity {
            Severity::Error => "error",
            _ => reasons::PROGRESSING,
        };
        self.record(ctx, object, severity, reason, message, &metadata).await;
    }

    /// An event with its reason and metadata.
    pub(super) async fn record(
        &self,
        ctx: &Context,
        object: &Kustomization,
        severity: Severity,
        reason: &str,
        message: &str,
        metadata: &BTreeMap<String, String>,
    ) {
        ctx.event(object, severity, reason, message, metadata).await;
    }
}

impl KustomizationReconciler {
    /// Finish: records the applied revision and the history entry, and
    /// sends Flux's closing event (which notification providers that set
    /// commit statuses act on).
    ///
    /// Conditions: none; the harness sets Ready from the returned outcome.
    pub async fn finish(
        &self,
        ctx: &Context,
        object: &Kustomization,
        status: &mut KustomizationStatus,
        run: &Run,
        source: Fetched,
        applied: &Applied,
    ) -> Outcome {
        status.last_applied_revision = Some(source.revision.clone());
        status.last_applied_origin_revision = source.origin_revision.clone();
        upsert(status, &applied.digest, run.started, reasons::RECONCILIATION_SUCCEEDED, &applied.history);
        // Flux's closing event, on every successful run; notification
        // providers that set commit statuses act on its `commit_status`.
        let interval = ferry_api_meta::duration::parse(&object.spec.interval).unwrap_or_default();
        let message = format!(
            "Reconciliation finished in {}, next run in {}",
            go_duration(run.started.elapsed()),
            go_duration(interval)
        );
        tracing::info!(revision = %source.revision, "{message}");
        let metadata = BTreeMap::from([
            (ferry_sdk::events::META_REVISION_KEY.to_string(), source.revision.clone()),
            (ferry_sdk::events::META_COMMIT_STATUS_KEY.to_string(), "update".to_string()),
        ]);
        self.record(ctx, object, Severity::Info, reasons::RECONCILIATION_SUCCEEDED, &message, &metadata).await;
        Outcome::ready(format!("Applied revision: {}", source.revision))
            .with_revision(source.revision)
            .with_ready_reason(reasons::RECONCILIATION_SUCCEEDED)
            // The events above are the ones Flux's kustomize-controller sends.
            .quiet()
    }
}
