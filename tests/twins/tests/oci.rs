//! Flux's real kustomize-controller applies from an OCIRepository that
//! Ferry's source-controller pulled from a real registry: Ferry's OCI
//! artifacts are what Flux's consumers expect.

use std::time::Duration;

use bytes::Bytes;
use ferry_api_kustomize::Kustomization;
use ferry_api_source::OCIRepository;
use ferry_oci::flux::{self, Metadata};
use ferry_oci::{Client, ClientOptions, Repository};
use ferry_storage::{ArtifactPath, DigestAlgorithm, SourceIgnore, Storage};
use ferry_testenv::registry::{Registry, RegistryOptions};
use ferry_twins_tests::{FIELD_MANAGER, Twins, WAIT, ready};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};

/// Pushes `deploy/cm.yaml` (a ConfigMap `a` with `color`) as `ferry push artifact` does.
async fn push(registry: &Registry, namespace: &str, tag: &str, color: &str) -> String {
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("deploy")).unwrap();
    let cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: {namespace}\ndata:\n  color: {color}\n"
    );
    std::fs::write(src.path().join("deploy/cm.yaml"), cm).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let storage = Storage::new(scratch.path(), "localhost", Duration::ZERO, 1, DigestAlgorithm::Sha256).unwrap();
    let path = ArtifactPath::new("push", "cli", "artifact", "a.tar.gz").unwrap();
    storage.archive(&path, src.path(), &SourceIgnore::none()).unwrap();
    let layer = std::fs::read(storage.local_path(&path)).unwrap();
    let repository = Repository::parse(&format!("{}/twin/app", registry.host())).unwrap();
    let client = Client::new(repository, ClientOptions::default()).unwrap();
    let metadata =
        Metadata { source: "https://github.com/org/app".into(), revision: tag.into(), created: String::new() };
    flux::push(&client, tag, Bytes::from(layer), &metadata).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn flux_kustomize_controller_applies_from_ferry_oci_repository() {
    let twins = Twins::start("twin-flux-on-ferry-oci").await.unwrap();
    let ns = twins.name().to_string();
    let registry = Registry::start(RegistryOptions::default()).await.unwrap();
    let first = push(&registry, &ns, "1.0.0", "blue").await;

    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let repository = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository", "metadata": {"name": "app"},
        "spec": {"url": format!("oci://{}/twin/app", registry.host()), "interval": "2s", "ref": {"semver": "1.x"}},
    });
    twins.api::<OCIRepository>().patch("app", &apply, &Patch::Apply(&repository)).await.unwrap();
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "metadata": {"name": "app"},
        "spec": {
            "interval": "10m", "retryInterval": "2s", "path": "./deploy", "prune": true,
            "sourceRef": {"kind": "OCIRepository", "name": "app"},
        },
    });
    twins.api::<Kustomization>().patch("app", &apply, &Patch::Apply(&kustomization)).await.unwrap();

    let mut flux_controller = twins.start_flux_kustomize().await.unwrap();
    let applied = |revision: String| {
        move |k: &Kustomization| {
            k.status.as_ref().and_then(|s| s.last_applied_revision.as_deref()) == Some(revision.as_str())
                && ready(k).is_some_and(|c| c.status == ferry_api_meta::ConditionStatus::True)
        }
    };
    let kustomizations = twins.api::<Kustomization>();
    let done = ferry_testenv::wait_for(&kustomizations, "app", WAIT, applied(format!("1.0.0@{first}"))).await;
    let done = done.unwrap_or_else(|err| panic!("{err:#}\nFlux's log:\n{}", flux_controller.log_tail(40)));
    assert_eq!(ready(&done).unwrap().message, format!("Applied revision: 1.0.0@{first}"));
    let a = twins.api::<ConfigMap>().get("a").await.unwrap();
    assert_eq!(a.data.unwrap().get("color").map(String::as_str), Some("blue"));

    // A newer tag in range: Ferry pulls it, Flux applies it.
    let second = push(&registry, &ns, "1.1.0", "green").await;
    let done = ferry_testenv::wait_for(&kustomizations, "app", WAIT, applied(format!("1.1.0@{second}"))).await;
    done.unwrap_or_else(|err| panic!("{err:#}\nFlux's log:\n{}", flux_controller.log_tail(40)));
    let a = twins.api::<ConfigMap>().get("a").await.unwrap();
    assert_eq!(a.data.unwrap().get("color").map(String::as_str), Some("green"));
    flux_controller.check_alive().unwrap();

    kustomizations.delete("app", &Default::default()).await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while kustomizations.get_opt("app").await.unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "the Kustomization was never deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    flux_controller.stop();
    twins.stop().await.unwrap();
}
