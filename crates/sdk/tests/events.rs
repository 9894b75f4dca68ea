//! Kubernetes Events as Flux's (client-go's) recorder leaves them, against
//! the local control plane: core/v1 Events with the controller as source; a
//! repeat of the same message counts up one Event, a new message for the
//! same reason is a new Event (even when the object has not changed in
//! between), and the metadata is carried as annotations.

use std::collections::BTreeMap;

use anyhow::Result;
use ferry_sdk::events::{Recorder, Severity};
use ferry_testenv::TestNamespace;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::core::v1::Event;
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
        .filter(|e| e.source.as_ref().and_then(|s| s.component.as_deref()) == Some("test-controller"))
        .map(|e| {
            let annotations = e.metadata.annotations.clone().unwrap_or_default();
            assert_eq!(annotations.get("revision").map(String::as_str), Some("main@sha1:abc"), "{e:?}");
            assert_eq!(e.involved_object.name.as_deref(), Some("app"));
            assert_eq!(e.reason.as_deref(), Some("NewArtifact"));
            assert_eq!(e.reporting_component.as_deref(), Some("test-controller"));
            assert!(e.first_timestamp.is_some() && e.last_timestamp >= e.first_timestamp, "{e:?}");
            (e.type_.clone().unwrap_or_default(), e.message.clone().unwrap_or_default(), e.count.unwrap_or_default())
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
