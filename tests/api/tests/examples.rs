//! One realistic object of every kind, written like Flux's documentation examples: the API
//! server accepts it, it reads back into the Rust type, and it applies again unchanged.
//!
//! The tests run on a multi-threaded runtime: `TestNamespace` deletes its namespace on drop by
//! blocking the test's thread, which deadlocks a single-threaded runtime when a test fails.

use ferry_api_helm::HelmRelease;
use ferry_api_image::{ImagePolicy, ImageRepository, ImageUpdateAutomation};
use ferry_api_kustomize::Kustomization;
use ferry_api_meta::{FluxObject, ReconcileStatus, conditions};
use ferry_api_notification::{Alert, Provider, Receiver};
use ferry_api_source::{Bucket, ExternalArtifact, GitRepository, HelmChart, HelmRepository, OCIRepository};
use ferry_api_tests::round_trip;
use ferry_testenv::TestNamespace;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_repository() {
    let ns = TestNamespace::new("api-gitrepo").await.unwrap();
    let repo: GitRepository = round_trip(&ns, "gitrepository.yaml").await.unwrap();
    assert_eq!(repo.interval(), Some(Duration::from_secs(300)));
    assert_eq!(repo.spec.timeout.as_deref(), Some("1m30s"));
    let status = repo.status().unwrap();
    assert!(conditions::is_ready(status.conditions()));
    assert_eq!(status.observed_generation(), Some(1));
    let artifact = status.artifact.as_ref().unwrap();
    let revision: ferry_api_meta::Revision = artifact.revision.parse().unwrap();
    assert_eq!(revision.name.as_deref(), Some("master"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_repository() {
    let ns = TestNamespace::new("api-ocirepo").await.unwrap();
    let repo: OCIRepository = round_trip(&ns, "ocirepository.yaml").await.unwrap();
    // The server defaulted what the example left out.
    assert_eq!(repo.spec.timeout.as_deref(), Some("60s"));
    assert!(!repo.suspended());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_repository() {
    let ns = TestNamespace::new("api-helmrepo").await.unwrap();
    let repo: HelmRepository = round_trip(&ns, "helmrepository.yaml").await.unwrap();
    assert_eq!(repo.spec.provider, Some(ferry_api_source::OCIProvider::Generic));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_chart() {
    let ns = TestNamespace::new("api-helmchart").await.unwrap();
    let chart: HelmChart = round_trip(&ns, "helmchart.yaml").await.unwrap();
    assert_eq!(chart.spec.source_ref.kind, ferry_api_source::HelmChartSourceKind::HelmRepository);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket() {
    let ns = TestNamespace::new("api-bucket").await.unwrap();
    let bucket: Bucket = round_trip(&ns, "bucket.yaml").await.unwrap();
    assert_eq!(bucket.spec.sts.unwrap().provider, ferry_api_source::StsProvider::Ldap);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_artifact() {
    let ns = TestNamespace::new("api-ea").await.unwrap();
    let artifact: ExternalArtifact = round_trip(&ns, "externalartifact.yaml").await.unwrap();
    assert_eq!(artifact.interval(), None);
    assert!(artifact.status().unwrap().artifact.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kustomization() {
    let ns = TestNamespace::new("api-ks").await.unwrap();
    let ks: Kustomization = round_trip(&ns, "kustomization.yaml").await.unwrap();
    assert_eq!(ks.interval(), Some(Duration::from_secs(600)));
    assert_eq!(ks.retry_interval(), Some(Duration::from_secs(120)));
    let inventory = ks.status.unwrap().inventory.unwrap();
    let first = inventory.entries[0].object_id().unwrap();
    assert_eq!((first.group.as_str(), first.kind.as_str()), ("", "Service"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_release() {
    let ns = TestNamespace::new("api-hr").await.unwrap();
    let release: HelmRelease = round_trip(&ns, "helmrelease.yaml").await.unwrap();
    assert_eq!(release.spec.values.as_ref().unwrap()["replicaCount"], 2);
    assert!(conditions::is_true(release.status().unwrap().conditions(), conditions::RELEASED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert() {
    let ns = TestNamespace::new("api-alert").await.unwrap();
    let alert: Alert = round_trip(&ns, "alert.yaml").await.unwrap();
    assert_eq!(alert.spec.event_sources.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider() {
    let ns = TestNamespace::new("api-provider").await.unwrap();
    let provider: Provider = round_trip(&ns, "provider.yaml").await.unwrap();
    assert_eq!(provider.spec.type_, "github");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver() {
    let ns = TestNamespace::new("api-receiver").await.unwrap();
    let receiver: Receiver = round_trip(&ns, "receiver.yaml").await.unwrap();
    assert_eq!(receiver.spec.resources[1].reference.name, "*");
    assert_eq!(receiver.interval(), Some(Duration::from_secs(600)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_repository() {
    let ns = TestNamespace::new("api-imagerepo").await.unwrap();
    let repo: ImageRepository = round_trip(&ns, "imagerepository.yaml").await.unwrap();
    assert_eq!(repo.status.unwrap().last_scan_result.unwrap().tag_count, 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_policy() {
    let ns = TestNamespace::new("api-imagepolicy").await.unwrap();
    let policy: ImagePolicy = round_trip(&ns, "imagepolicy.yaml").await.unwrap();
    assert_eq!(policy.interval(), Some(Duration::from_secs(600)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_update_automation() {
    let ns = TestNamespace::new("api-iua").await.unwrap();
    let automation: ImageUpdateAutomation = round_trip(&ns, "imageupdateautomation.yaml").await.unwrap();
    assert_eq!(automation.spec.update.unwrap().strategy.as_deref(), Some("Setters"));
}
