//! Workloads run on the simulated node: a Deployment becomes Available, and
//! deleting its namespace finishes.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn deployment_becomes_available_and_namespace_deletion_finishes() {
    let ns = ferry_testenv::TestNamespace::new("workloads").await.unwrap();
    let deployments = ns.api::<Deployment>();
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "ghcr.io/example/web:1.0.0"}]},
            },
        },
    }))
    .unwrap();
    deployments.create(&PostParams::default(), &deployment).await.unwrap();
    let available =
        ferry_testenv::wait_for_deployment_available(&deployments, "web", Duration::from_secs(90)).await.unwrap();
    assert_eq!(available.status.unwrap().available_replicas, Some(2));

    let pods = ns.api::<Pod>().list(&ListParams::default().labels("app=web")).await.unwrap();
    assert_eq!(pods.items.len(), 2);
    for pod in &pods.items {
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Running"));
        assert_eq!(pod.spec.as_ref().unwrap().node_name.as_deref(), Some("kwok-node-0"));
    }

    ns.delete(Duration::from_secs(90)).await.unwrap();
}

#[tokio::test]
async fn namespaces_isolate_concurrent_binaries() {
    ferry_cluster_tests::namespace_isolation("workloads").await.unwrap();
}

/// A namespace dropped inside a current-thread runtime (the default of
/// `#[tokio::test]`) is deleted without hanging the test.
#[tokio::test]
async fn dropping_a_namespace_on_a_current_thread_runtime_does_not_hang() {
    let ns = ferry_testenv::TestNamespace::new("drop").await.unwrap();
    let name = ns.name().to_string();
    drop(ns);
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(ferry_testenv::client().await.unwrap());
    let gone_or_going =
        namespaces.get_opt(&name).await.unwrap().is_none_or(|n| n.metadata.deletion_timestamp.is_some());
    assert!(gone_or_going, "namespace {name} was not deleted");
}
