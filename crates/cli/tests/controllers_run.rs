//! `ferry controllers run`: source-controller and kustomize-controller in one
//! process take a commit from a real git server to the cluster.

mod support;

use std::time::Duration;

use ferry_api_kustomize::Kustomization;
use ferry_testenv::TestNamespace;
use ferry_testenv::git::{GitServer, GitServerOptions};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use support::Controllers;

#[tokio::test(flavor = "multi_thread")]
async fn both_controllers_in_one_process_deploy_a_commit() {
    let ns = TestNamespace::new("ferry-aio").await.unwrap();
    ferry_testenv::install_crds(ns.client(), &ferry_testenv::SOURCE_AND_KUSTOMIZE_CRDS).await.unwrap();
    ferry_testenv::install_crds(ns.client(), &ferry_testenv::HELM_CRDS).await.unwrap();
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.write(
        "app/cm.yaml",
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n  namespace: {}\ndata:\n  a: b\n",
            ns.name()
        ),
    )
    .unwrap();
    let commit = repo.commit("one").unwrap();

    let controllers = Controllers::start(ns.name(), &["--enable-leader-election"]);

    let apply = PatchParams::apply("ferry-tests");
    let repository = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "metadata": {"name": "app"},
        "spec": {"url": server.url("app"), "interval": "1m", "ref": {"branch": "main"}},
    });
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "app"},
        "spec": {"interval": "1m", "path": "./app", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "app"}},
    });
    let repos: Api<ferry_api_source::GitRepository> = ns.api();
    repos.patch("app", &apply, &Patch::Apply(&repository)).await.unwrap();
    let kustomizations: Api<Kustomization> = ns.api();
    kustomizations.patch("app", &apply, &Patch::Apply(&kustomization)).await.unwrap();

    let ready = ferry_testenv::wait_for_condition(&kustomizations, "app", "Ready", "True", Duration::from_secs(90))
        .await
        .unwrap();
    let revision = ready.status.unwrap().last_applied_revision.unwrap();
    assert_eq!(revision, format!("main@sha1:{commit}"));
    let configmap = ns.api::<ConfigMap>().get("hello").await.unwrap();
    assert_eq!(configmap.data.unwrap().get("a").map(String::as_str), Some("b"));

    // One process, one metrics and one health server for both.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let readyz = reqwest::get(format!("http://127.0.0.1:{}/readyz", controllers.health_port)).await.unwrap();
    assert!(readyz.status().is_success());
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", controllers.metrics_port))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for kind in ["GitRepository", "Kustomization"] {
        assert!(
            metrics.contains(&format!("gotk_reconcile_duration_seconds_count{{kind=\"{kind}\"")),
            "no {kind} histogram in {metrics}"
        );
    }
    // Each controller holds its own Lease, as its standalone twin would.
    let leases: Api<Lease> = ns.api();
    for name in ["source-controller-leader-election", "kustomize-controller-leader-election"] {
        let lease = leases.get(name).await.unwrap();
        assert!(lease.spec.and_then(|s| s.holder_identity).is_some_and(|h| !h.is_empty()), "{name}");
    }

    // SIGTERM stops both cleanly.
    controllers.stop().await;
    ns.delete(Duration::from_secs(60)).await.unwrap();
}
