//! What the source-controller integration tests share: the CRD, the
//! controller running in-process with its artifact server, GitRepository
//! manifests, artifact downloads and the events a user would list.

#![allow(dead_code)]

use std::io::Read;
use std::time::Duration;

use ferry_api_meta::{FluxObject, ReconcileStatus};
use ferry_api_source::{Bucket, GitRepository, HelmChart, HelmRepository, OCIRepository};
use ferry_sdk::reconcile::{Runtime, Settings};
use ferry_source_controller::CONTROLLER_NAME;
use ferry_storage::{DigestAlgorithm, Storage};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams};
use sha2::Digest;

const CRD: &str = include_str!("../../../../charts/crds/source.toolkit.fluxcd.io_gitrepositories.yaml");

pub const WAIT: Duration = Duration::from_secs(60);

/// The CRDs of every kind source-controller watches, as the chart installs
/// them: like Flux's, the controller needs them all (a kind without its CRD
/// never syncs its cache).
const WATCHED_CRDS: [&str; 4] = [
    include_str!("../../../../charts/crds/source.toolkit.fluxcd.io_ocirepositories.yaml"),
    include_str!("../../../../charts/crds/source.toolkit.fluxcd.io_buckets.yaml"),
    include_str!("../../../../charts/crds/source.toolkit.fluxcd.io_helmrepositories.yaml"),
    include_str!("../../../../charts/crds/source.toolkit.fluxcd.io_helmcharts.yaml"),
];

pub async fn install_crd(client: kube::Client) {
    let crd: CustomResourceDefinition = serde_yaml_ng::from_str(CRD).unwrap();
    let name = crd.metadata.name.clone().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(&name, &PatchParams::apply("ferry-tests").force(), &Patch::Apply(&crd)).await.unwrap();
    ferry_testenv::wait_for_condition(&crds, &name, "Established", "True", Duration::from_secs(30)).await.unwrap();
    ferry_testenv::install_crds(client, &WATCHED_CRDS).await.unwrap();
}

pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _storage: tempfile::TempDir,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), self.task).await.unwrap().unwrap().unwrap();
    }
}

/// The controller for `namespace`, keeping artifacts 60s and 2 per object.
pub async fn start_controller(client: kube::Client, namespace: &str) -> Running {
    start_controller_with(client, namespace, Duration::from_secs(60), 2).await
}

/// The controller with `--artifact-retention-ttl` and `--artifact-retention-records`.
pub async fn start_controller_with(client: kube::Client, namespace: &str, ttl: Duration, records: usize) -> Running {
    start_controller_options(client, namespace, ttl, records, ferry_source_controller::Options::default()).await
}

/// The controller with retention settings and the kinds' `options` (the
/// Helm size limits, ...).
pub async fn start_controller_options(
    client: kube::Client,
    namespace: &str,
    ttl: Duration,
    records: usize,
    options: ferry_source_controller::Options,
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let storage = Storage::new(dir.path(), format!("127.0.0.1:{port}"), ttl, records, DigestAlgorithm::Sha256).unwrap();
    let settings = Settings {
        namespace: Some(namespace.to_string()),
        min_retry_delay: Duration::from_millis(200),
        max_retry_delay: Duration::from_secs(2),
        ..Settings::new(CONTROLLER_NAME)
    };
    let runtime = Runtime::new(client, settings).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let addr = Some(([127, 0, 0, 1], port).into());
    let task = tokio::spawn(ferry_source_controller::run_with(runtime, storage, addr, options, async move {
        let _ = stopped.await;
    }));
    Running { stop: Some(stop), task, _storage: dir }
}

pub fn git_repository(name: &str, url: &str, branch: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name},
        "spec": {"url": url, "interval": "10m", "ref": {"branch": branch}},
    })
}

/// A GitRepository with `spec` as given (plus an interval when missing).
pub fn with_spec(name: &str, mut spec: serde_json::Value) -> serde_json::Value {
    if spec.get("interval").is_none() {
        spec["interval"] = "10m".into();
    }
    serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name},
        "spec": spec,
    })
}

pub async fn apply(api: &Api<GitRepository>, name: &str, object: serde_json::Value) {
    api.patch(name, &PatchParams::apply("ferry-tests").force(), &Patch::Apply(object)).await.unwrap();
}

pub async fn apply_secret(ns: &ferry_testenv::TestNamespace, name: &str, data: serde_json::Value) {
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data,
    });
    ns.api::<k8s_openapi::api::core::v1::Secret>()
        .patch(name, &PatchParams::apply("ferry-tests").force(), &Patch::Apply(&secret))
        .await
        .unwrap();
}

/// Asks for a reconcile of any Flux object, as `flux reconcile` does.
pub async fn request_reconcile<K>(api: &Api<K>, name: &str, token: &str)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let request = serde_json::json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&request)).await.unwrap();
}

/// The Ready condition's (status, reason, message).
pub fn ready(repo: &GitRepository) -> (String, String, String) {
    condition(repo, "Ready").unwrap_or_default()
}

/// A condition's status, reason and message, for any Flux kind.
pub fn condition<K: FluxObject>(object: &K, type_: &str) -> Option<(String, String, String)> {
    let c = object.status()?.conditions().iter().find(|c| c.type_ == type_)?;
    Some((c.status.to_string(), c.reason.clone(), c.message.clone()))
}

/// Waits until `type_` has `status` and `reason` and `also` holds; returns
/// the object, or panics with its last status.
pub async fn wait_until<K>(
    api: &Api<K>,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
    also: impl Fn(&K) -> bool,
) -> K
where
    K: FluxObject + kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::Status: std::fmt::Debug,
{
    let result = ferry_testenv::wait_for(api, name, WAIT, |object: &K| {
        condition(object, type_).is_some_and(|(s, why, _)| s == status && why == reason) && also(object)
    })
    .await;
    match result {
        Ok(object) => object,
        Err(err) => {
            let now = api.get(name).await.ok();
            let last = now.as_ref().and_then(|o| o.status());
            panic!("{name}: {type_} never became {status}/{reason}: {err}; last: {last:#?}");
        }
    }
}

/// Waits until `type_` has `status` and `reason`; returns the object.
pub async fn wait_condition<K>(api: &Api<K>, name: &str, type_: &str, status: &str, reason: &str) -> K
where
    K: FluxObject + kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
    K::Status: std::fmt::Debug,
{
    wait_until(api, name, type_, status, reason, |_| true).await
}

/// Waits until Ready has `status` and `reason`.
pub async fn wait_ready(api: &Api<GitRepository>, name: &str, status: &str, reason: &str) -> GitRepository {
    wait_condition(api, name, "Ready", status, reason).await
}

pub fn revision(repo: &GitRepository) -> Option<String> {
    repo.status.as_ref()?.artifact.as_ref().map(|a| a.revision.clone())
}

/// Downloads the artifact, checks its digest, and returns its files and
/// their contents, sorted by path.
/// `sha256:<hex>` of `data`, as artifact digests are written.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// The body at `url` (an artifact), failing on an error status.
pub async fn download(url: &str) -> Vec<u8> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::get(url).await.unwrap().error_for_status().unwrap().bytes().await.unwrap().to_vec()
}

pub async fn artifact_contents(url: &str, digest: &str) -> Vec<(String, String)> {
    let bytes = download(url).await;
    assert_eq!(sha256(&bytes), digest, "digest of {url}");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let mut files = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let mut body = String::new();
            entry.read_to_string(&mut body).unwrap();
            files.push((entry.path().unwrap().display().to_string(), body));
        }
    }
    files.sort();
    files
}

pub async fn artifact_files(url: &str, digest: &str) -> Vec<String> {
    artifact_contents(url, digest).await.into_iter().map(|(path, _)| path).collect()
}

/// The events about `name` as `kubectl events` lists them: (type, reason, note).
pub async fn events(ns: &ferry_testenv::TestNamespace, name: &str) -> Vec<(String, String, String)> {
    let api: Api<k8s_openapi::api::events::v1::Event> = ns.api();
    let list = api.list(&ListParams::default()).await.unwrap();
    list.items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

/// Waits until an event about `name` with `type_` and `reason` exists; returns its note.
pub async fn wait_event(ns: &ferry_testenv::TestNamespace, name: &str, type_: &str, reason: &str) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let all = events(ns, name).await;
        if let Some((_, _, note)) = all.iter().find(|(t, r, _)| t == type_ && r == reason) {
            return note.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no {type_} {reason} event for {name}: {all:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Applies a source object of `kind` named `name` with `spec` (plus a 10m
/// interval when it has none), whatever the kind.
pub async fn apply_source(ns: &ferry_testenv::TestNamespace, kind: &str, name: &str, mut spec: serde_json::Value) {
    if spec.get("interval").is_none() {
        spec["interval"] = "10m".into();
    }
    let object = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": kind, "metadata": {"name": name}, "spec": spec,
    });
    let resource = match kind {
        "GitRepository" => kube::api::ApiResource::erase::<GitRepository>(&()),
        "HelmChart" => kube::api::ApiResource::erase::<HelmChart>(&()),
        "HelmRepository" => kube::api::ApiResource::erase::<HelmRepository>(&()),
        "OCIRepository" => kube::api::ApiResource::erase::<OCIRepository>(&()),
        "Bucket" => kube::api::ApiResource::erase::<Bucket>(&()),
        other => panic!("no source kind {other}"),
    };
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(ns.client(), ns.name(), &resource);
    api.patch(name, &PatchParams::apply("ferry-tests").force(), &Patch::Apply(object)).await.unwrap();
}
