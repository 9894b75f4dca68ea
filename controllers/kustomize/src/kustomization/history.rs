//! `status.history`: the last builds a Kustomization applied, by digest,
//! with how each run ended.

use std::collections::BTreeMap;
use std::time::Instant;

use ferry_api_kustomize::KustomizationStatus;
use ferry_api_meta::{Snapshot, Time};

use super::{HISTORY_LIMIT, go_duration};

/// Records a run of the build `digest` in `status.history`, newest first,
/// at most [`HISTORY_LIMIT`] entries.
pub fn upsert(
    status: &mut KustomizationStatus,
    digest: &str,
    started: Instant,
    outcome: &str,
    metadata: &BTreeMap<String, String>,
) {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let duration = go_duration(started.elapsed());
    let history = status.history.get_or_insert_with(Vec::new);
    if let Some(latest) = history.first_mut()
        && latest.digest == digest
    {
        latest.last_reconciled = now;
        latest.last_reconciled_duration = duration;
        latest.last_reconciled_status = outcome.to_string();
        latest.total_reconciliations += 1;
        latest.metadata = Some(metadata.clone());
        return;
    }
    history.insert(
        0,
        Snapshot {
            digest: digest.to_string(),
            first_reconciled: now.clone(),
            last_reconciled: now,
            last_reconciled_duration: duration,
            last_reconciled_status: outcome.to_string(),
            total_reconciliations: 1,
            metadata: Some(metadata.clone()),
        },
    );
    history.truncate(HISTORY_LIMIT);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_counts_repeats_and_keeps_five() {
        let mut status = KustomizationStatus::default();
        let meta = BTreeMap::from([("revision".to_string(), "main@sha1:1".to_string())]);
        upsert(&mut status, "sha256:a", Instant::now(), "ReconciliationSucceeded", &meta);
        upsert(&mut status, "sha256:a", Instant::now(), "ReconciliationSucceeded", &meta);
        let history = status.history.as_ref().unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].total_reconciliations, 2);
        for digest in ["b", "c", "d", "e", "f", "g"] {
            upsert(&mut status, &format!("sha256:{digest}"), Instant::now(), "HealthCheckFailed", &meta);
        }
        let history = status.history.as_ref().unwrap();
        assert_eq!(history.len(), HISTORY_LIMIT);
        assert_eq!(history[0].digest, "sha256:g");
        assert_eq!(history[0].last_reconciled_status, "HealthCheckFailed");
    }
}
