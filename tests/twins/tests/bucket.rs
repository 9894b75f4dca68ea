//! Flux's real kustomize-controller applies from a Bucket that Ferry's
//! source-controller read from a real MinIO, and the real `flux` CLI lists
//! Ferry's Bucket: Ferry's Bucket artifacts and status are what Flux's
//! consumers expect.

use std::time::Duration;

use ferry_api_kustomize::Kustomization;
use ferry_api_source::Bucket;
use ferry_testenv::minio::{Minio, MinioOptions, ROOT_PASSWORD, ROOT_USER};
use ferry_twins_tests::{FIELD_MANAGER, Twins, WAIT, ready};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams};

fn config_map(namespace: &str, color: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: {namespace}\ndata:\n  color: {color}\n"
    )
}

fn revision(bucket: &Bucket) -> Option<String> {
    bucket.status.as_ref()?.artifact.as_ref().map(|a| a.revision.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn flux_kustomize_controller_applies_from_ferry_bucket_and_flux_lists_it() {
    let twins = Twins::start("twin-flux-on-ferry-bucket").await.unwrap();
    let ns = twins.name().to_string();
    let minio = Minio::start(MinioOptions::default()).await.unwrap();
    minio.make_bucket("fleet").await.unwrap();
    minio.put("fleet", "deploy/cm.yaml", config_map(&ns, "blue").as_bytes()).await.unwrap();
    minio.put("fleet", "README.md", b"not applied: outside ./deploy\n").await.unwrap();

    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "minio"},
        "stringData": {"accesskey": ROOT_USER, "secretkey": ROOT_PASSWORD},
    });
    twins.api::<Secret>().patch("minio", &apply, &Patch::Apply(&secret)).await.unwrap();
    let bucket = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket", "metadata": {"name": "app"},
        "spec": {
            "bucketName": "fleet", "endpoint": minio.endpoint(), "insecure": true, "interval": "2s",
            "secretRef": {"name": "minio"},
        },
    });
    let buckets = twins.api::<Bucket>();
    buckets.patch("app", &apply, &Patch::Apply(&bucket)).await.unwrap();
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "app"},
        "spec": {
            "interval": "10m", "retryInterval": "2s", "path": "./deploy", "prune": true,
            "sourceRef": {"kind": "Bucket", "name": "app"},
        },
    });
    twins.api::<Kustomization>().patch("app", &apply, &Patch::Apply(&kustomization)).await.unwrap();
    let first = ferry_testenv::wait_for(&buckets, "app", WAIT, |b: &Bucket| revision(b).is_some()).await.unwrap();
    let first = revision(&first).unwrap();

    let mut flux_controller = twins.start_flux_kustomize().await.unwrap();
    let applied = |revision: String| {
        move |k: &Kustomization| {
            k.status.as_ref().and_then(|s| s.last_applied_revision.as_deref()) == Some(revision.as_str())
                && ready(k).is_some_and(|c| c.status == ferry_api_meta::ConditionStatus::True)
        }
    };
    let kustomizations = twins.api::<Kustomization>();
    let done = ferry_testenv::wait_for(&kustomizations, "app", WAIT, applied(first.clone())).await;
    let done = done.unwrap_or_else(|err| panic!("{err:#}\nFlux's log:\n{}", flux_controller.log_tail(40)));
    assert_eq!(ready(&done).unwrap().message, format!("Applied revision: {first}"));
    let a = twins.api::<ConfigMap>().get("a").await.unwrap();
    assert_eq!(a.data.unwrap().get("color").map(String::as_str), Some("blue"));

    // A changed object: Ferry stores a new revision, Flux applies it.
    minio.put("fleet", "deploy/cm.yaml", config_map(&ns, "green").as_bytes()).await.unwrap();
    let second =
        ferry_testenv::wait_for(&buckets, "app", WAIT, |b: &Bucket| revision(b).is_some_and(|r| r != first)).await;
    let second = revision(&second.unwrap()).unwrap();
    let done = ferry_testenv::wait_for(&kustomizations, "app", WAIT, applied(second.clone())).await;
    done.unwrap_or_else(|err| panic!("{err:#}\nFlux's log:\n{}", flux_controller.log_tail(40)));
    let a = twins.api::<ConfigMap>().get("a").await.unwrap();
    assert_eq!(a.data.unwrap().get("color").map(String::as_str), Some("green"));
    flux_controller.check_alive().unwrap();

    // The flux CLI reads Ferry's Bucket as its own.
    let flux = std::env::var_os("FERRY_FLUX")
        .expect("FERRY_FLUX is not set: run `cargo xtask test`, or export FERRY_FLUX=$(cargo xtask tools flux)");
    let out = std::process::Command::new(flux)
        .env("KUBECONFIG", ferry_testenv::kubeconfig_path().unwrap())
        .args(["get", "sources", "bucket", "-n", &ns])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let row = listing.lines().find(|l| l.starts_with("app")).unwrap_or_else(|| panic!("{listing}"));
    // The CLI may shorten digests; the algorithm and the first hex digits stay.
    assert!(row.contains(&second["sha256:".len()..][..8]) && row.contains("True"), "{listing}");
    assert!(row.contains("stored artifact: revision 'sha256:"), "{listing}");

    kustomizations.delete("app", &Default::default()).await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while kustomizations.get_opt("app").await.unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "the Kustomization was never deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    flux_controller.stop();
    twins.stop().await.unwrap();
}
