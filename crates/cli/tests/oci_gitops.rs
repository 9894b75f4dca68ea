//! GitOps from an OCI registry, end to end: `ferry push artifact` pushes a
//! directory to a real registry, `ferry controllers run` (source-controller
//! and kustomize-controller in one process) pulls it through an
//! OCIRepository and applies it through a Kustomization; a new push with a
//! semver tag is deployed next.

mod support;

use std::process::Command;
use std::time::Duration;

use ferry_api_kustomize::Kustomization;
use ferry_testenv::TestNamespace;
use ferry_testenv::registry::{Registry, RegistryOptions};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use support::Controllers;

/// `ferry push artifact` of a ConfigMap with `value`, as `tag`.
fn push(registry: &Registry, namespace: &str, tag: &str, value: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("app")).unwrap();
    let cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\n  namespace: {namespace}\ndata:\n  a: {value}\n"
    );
    std::fs::write(dir.path().join("app/cm.yaml"), cm).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["push", "artifact", &format!("oci://{}/manifests/app:{tag}", registry.host())])
        .arg(format!("--path={}", dir.path().display()))
        .args(["--source=https://github.com/org/app", &format!("--revision={tag}@sha1:abc"), "--creds=flux:pw"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kustomization_applies_what_ferry_push_artifact_pushed() {
    let ns = TestNamespace::new("ferry-oci-gitops").await.unwrap();
    ferry_testenv::install_crds(ns.client(), &ferry_testenv::SOURCE_AND_KUSTOMIZE_CRDS).await.unwrap();
    ferry_testenv::install_crds(ns.client(), &ferry_testenv::HELM_CRDS).await.unwrap();
    let registry = Registry::start(RegistryOptions {
        basic_auth: Some(("flux".into(), "pw".into())),
        tls: false,
        token_auth: false,
    })
    .await
    .unwrap();
    push(&registry, ns.name(), "1.0.0", "one");

    let controllers = Controllers::start(ns.name(), &[]);

    let apply = PatchParams::apply("ferry-tests");
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "registry"},
        "stringData": {"username": "flux", "password": "pw"},
    });
    ns.api::<k8s_openapi::api::core::v1::Secret>().patch("registry", &apply, &Patch::Apply(&secret)).await.unwrap();
    let repository = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository", "metadata": {"name": "app"},
        "spec": {
            "url": format!("oci://{}/manifests/app", registry.host()), "interval": "1m",
            "ref": {"semver": "1.x"}, "secretRef": {"name": "registry"},
        },
    });
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "app"},
        "spec": {"interval": "1m", "path": "./app", "prune": true, "sourceRef": {"kind": "OCIRepository", "name": "app"}},
    });
    let repos: Api<ferry_api_source::OCIRepository> = ns.api();
    repos.patch("app", &apply, &Patch::Apply(&repository)).await.unwrap();
    let kustomizations: Api<Kustomization> = ns.api();
    kustomizations.patch("app", &apply, &Patch::Apply(&kustomization)).await.unwrap();

    let wait = Duration::from_secs(90);
    let ready = ferry_testenv::wait_for(&kustomizations, "app", wait, |k: &Kustomization| {
        k.status
            .as_ref()
            .and_then(|s| s.last_applied_revision.as_deref())
            .is_some_and(|r| r.starts_with("1.0.0@sha256:"))
    })
    .await
    .unwrap();
    let source = repos.get("app").await.unwrap();
    let stored = source.status.unwrap().artifact.unwrap().revision;
    assert_eq!(ready.status.unwrap().last_applied_revision.unwrap(), stored);
    let configmap = ns.api::<ConfigMap>().get("hello").await.unwrap();
    assert_eq!(configmap.data.unwrap().get("a").map(String::as_str), Some("one"));

    // A newer version in range is pulled on request and applied.
    push(&registry, ns.name(), "1.1.0", "two");
    let request = serde_json::json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}});
    repos.patch("app", &PatchParams::default(), &Patch::Merge(&request)).await.unwrap();
    ferry_testenv::wait_for(&kustomizations, "app", wait, |k: &Kustomization| {
        k.status
            .as_ref()
            .and_then(|s| s.last_applied_revision.as_deref())
            .is_some_and(|r| r.starts_with("1.1.0@sha256:"))
    })
    .await
    .unwrap();
    let configmap = ns.api::<ConfigMap>().get("hello").await.unwrap();
    assert_eq!(configmap.data.unwrap().get("a").map(String::as_str), Some("two"));

    controllers.stop().await;
    ns.delete(Duration::from_secs(60)).await.unwrap();
}
