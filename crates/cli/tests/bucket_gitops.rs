//! GitOps from an S3 bucket, end to end: manifests written to a real MinIO,
//! `ferry controllers run` (source-controller and kustomize-controller in
//! one process) reads them through a Bucket with keys from a Secret and
//! applies them through a Kustomization, which becomes Ready; a changed
//! object is deployed next, and a deleted one pruned.

mod support;

use std::time::Duration;

use ferry_api_kustomize::Kustomization;
use ferry_api_source::Bucket;
use ferry_testenv::TestNamespace;
use ferry_testenv::minio::{Minio, MinioOptions, ROOT_PASSWORD, ROOT_USER};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use support::Controllers;

fn config_map(namespace: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n  a: {value}\n"
    )
}

fn applied(k: &Kustomization) -> Option<&str> {
    k.status.as_ref()?.last_applied_revision.as_deref()
}

fn is_ready(k: &Kustomization) -> bool {
    k.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == ferry_api_meta::ConditionStatus::True)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kustomization_from_a_bucket_becomes_ready_and_applies() {
    let ns = TestNamespace::new("ferry-bucket-gitops").await.unwrap();
    ferry_testenv::install_crds(ns.client(), &ferry_testenv::SOURCE_AND_KUSTOMIZE_CRDS).await.unwrap();
    ferry_testenv::install_crds(ns.client(), &ferry_testenv::HELM_CRDS).await.unwrap();
    let minio = Minio::start(MinioOptions::default()).await.unwrap();
    minio.make_bucket("manifests").await.unwrap();
    minio.put("manifests", "app/hello.yaml", config_map(ns.name(), "hello", "one").as_bytes()).await.unwrap();
    minio.put("manifests", "app/extra.yaml", config_map(ns.name(), "extra", "x").as_bytes()).await.unwrap();

    let controllers = Controllers::start(ns.name(), &[]);

    let apply = PatchParams::apply("ferry-tests");
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "minio"},
        "stringData": {"accesskey": ROOT_USER, "secretkey": ROOT_PASSWORD},
    });
    ns.api::<k8s_openapi::api::core::v1::Secret>().patch("minio", &apply, &Patch::Apply(&secret)).await.unwrap();
    let bucket = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket", "metadata": {"name": "app"},
        "spec": {
            "bucketName": "manifests", "endpoint": minio.endpoint(), "insecure": true, "interval": "1m",
            "secretRef": {"name": "minio"},
        },
    });
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "app"},
        "spec": {"interval": "1m", "path": "./app", "prune": true, "sourceRef": {"kind": "Bucket", "name": "app"}},
    });
    let buckets: Api<Bucket> = ns.api();
    buckets.patch("app", &apply, &Patch::Apply(&bucket)).await.unwrap();
    let kustomizations: Api<Kustomization> = ns.api();
    kustomizations.patch("app", &apply, &Patch::Apply(&kustomization)).await.unwrap();

    let wait = Duration::from_secs(90);
    let ready = ferry_testenv::wait_for(&kustomizations, "app", wait, |k: &Kustomization| {
        applied(k).is_some_and(|r| r.starts_with("sha256:")) && is_ready(k)
    })
    .await
    .unwrap();
    let stored = buckets.get("app").await.unwrap().status.unwrap().artifact.unwrap().revision;
    assert_eq!(applied(&ready), Some(stored.as_str()));
    let configmaps = ns.api::<ConfigMap>();
    let hello = configmaps.get("hello").await.unwrap();
    assert_eq!(hello.data.unwrap().get("a").map(String::as_str), Some("one"));
    assert!(configmaps.get_opt("extra").await.unwrap().is_some());

    // A changed object and a deleted one: applied and pruned on request.
    minio.put("manifests", "app/hello.yaml", config_map(ns.name(), "hello", "two").as_bytes()).await.unwrap();
    minio.remove("manifests", "app/extra.yaml").await.unwrap();
    let request = serde_json::json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}});
    buckets.patch("app", &PatchParams::default(), &Patch::Merge(&request)).await.unwrap();
    ferry_testenv::wait_for(&kustomizations, "app", wait, |k: &Kustomization| {
        applied(k).is_some_and(|r| r != stored) && is_ready(k)
    })
    .await
    .unwrap();
    let hello = configmaps.get("hello").await.unwrap();
    assert_eq!(hello.data.unwrap().get("a").map(String::as_str), Some("two"));
    assert!(configmaps.get_opt("extra").await.unwrap().is_none(), "the deleted object is pruned");

    controllers.stop().await;
    ns.delete(Duration::from_secs(60)).await.unwrap();
}
