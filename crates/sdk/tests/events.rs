//! Kubernetes Events as Flux's recorder leaves them, against the local
//! control plane: a repeat of the same note is one Event series, a new note
//! for the same reason is a new Event (even when the object has not changed
//! in between), and the metadata is carried as annotations.

use std::collections::BTreeMap;

use anyhow::Result;
use ferry_sdk::events::{Recorder, Severity};
use ferry_testenv::TestNamespace;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_are_series_and_new_notes_are_new_events() -> Result<()> {
    let ns = TestNamespace::new("sdk-events").await?;
    let configmaps: Api<ConfigMap> = ns.api();
    let object = configmaps
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta { name: Some("app".into()), ..ObjectMeta::default() },
                ..ConfigMap::default()
            },
        )
        .await?;
    let recorder = Recorder::new(ns.client().clone(), "test-controller", None);
    let metadata = BTreeMap::from([("revision".to_string(), "main@sha1:abc".to_string())]);
    for _ in 0..3 {
        recorder.record(&object, Severity::Info, "NewArtifact", "stored artifact for commit 'one'", &metadata).await?;
    }
    // The same object, unchanged (same resourceVersion), a new note.
    recorder.record(&object, Severity::Info, "NewArtifact", "stored artifact for commit 'two'", &metadata).await?;
    recorder.record(&object, Severity::Error, "NewArtifact", "stored artifact for commit 'two'", &metadata).await?;

    let events: Api<Event> = ns.api();
    let mut found: Vec<(String, String, i32)> = events
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|e| e.reporting_controller.as_deref() == Some("test-controller"))
        .map(|e| {
            let annotations = e.metadata.annotations.clone().unwrap_or_default();
            assert_eq!(annotations.get("revision").map(String::as_str), Some("main@sha1:abc"), "{e:?}");
            assert_eq!(e.regarding.as_ref().and_then(|r| r.name.as_deref()), Some("app"));
            assert_eq!(e.action.as_deref(), Some("NewArtifact"));
            (
                e.type_.clone().unwrap_or_default(),
                e.note.clone().unwrap_or_default(),
                e.series.as_ref().map_or(1, |s| s.count),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("Normal".into(), "stored artifact for commit 'one'".into(), 3),
            ("Normal".into(), "stored artifact for commit 'two'".into(), 1),
            ("Warning".into(), "stored artifact for commit 'two'".into(), 1),
        ]
    );
    Ok(())
}
