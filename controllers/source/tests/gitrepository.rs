//! source-controller end to end on the local control plane: a real git
//! server, the GitRepository CRD, the controller in-process, and the
//! artifact downloaded from the URL it advertises.

use std::io::Read;
use std::time::Duration;

use ferry_api_source::GitRepository;
use ferry_sdk::reconcile::{Runtime, Settings};
use ferry_source_controller::CONTROLLER_NAME;
use ferry_storage::{DigestAlgorithm, Storage};
use ferry_testenv::git::{GitServer, GitServerOptions};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use sha2::Digest;

const CRD: &str = include_str!("../../../charts/crds/source.toolkit.fluxcd.io_gitrepositories.yaml");

async fn install_crd(client: kube::Client) {
    let crd: CustomResourceDefinition = serde_yaml_ng::from_str(CRD).unwrap();
    let name = crd.metadata.name.clone().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    crds.patch(&name, &PatchParams::apply("ferry-tests").force(), &Patch::Apply(&crd)).await.unwrap();
    ferry_testenv::wait_for_condition(&crds, &name, "Established", "True", Duration::from_secs(30)).await.unwrap();
}

struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _storage: tempfile::TempDir,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), self.task).await.unwrap().unwrap().unwrap();
    }
}

async fn start_controller(client: kube::Client, namespace: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let storage =
        Storage::new(dir.path(), format!("127.0.0.1:{port}"), Duration::from_secs(60), 2, DigestAlgorithm::Sha256)
            .unwrap();
    let settings = Settings {
        namespace: Some(namespace.to_string()),
        min_retry_delay: Duration::from_millis(200),
        max_retry_delay: Duration::from_secs(2),
        ..Settings::new(CONTROLLER_NAME)
    };
    let runtime = Runtime::new(client, settings).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task =
        tokio::spawn(ferry_source_controller::run(runtime, storage, Some(([127, 0, 0, 1], port).into()), async move {
            let _ = stopped.await;
        }));
    Running { stop: Some(stop), task, _storage: dir }
}

fn git_repository(name: &str, url: &str, branch: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name},
        "spec": {"url": url, "interval": "10m", "ref": {"branch": branch}},
    })
}

async fn artifact_files(url: &str, digest: &str) -> Vec<String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bytes = reqwest::get(url).await.unwrap().error_for_status().unwrap().bytes().await.unwrap();
    assert_eq!(format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes))), digest, "digest of {url}");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_ref()));
    let mut files = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            files.push(entry.path().unwrap().display().to_string());
        }
    }
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn a_branch_becomes_a_downloadable_artifact_and_follows_new_commits() {
    let ns = ferry_testenv::TestNamespace::new("source-git").await.unwrap();
    install_crd(ns.client()).await;
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.write("deploy/app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n").unwrap();
    repo.write("README.md", "# app\n").unwrap();
    repo.write("docs/logo.png", "not really a png").unwrap();
    let first = repo.commit("first").unwrap();
    let controller = start_controller(ns.client(), ns.name()).await;

    let repos = ns.api::<GitRepository>();
    let apply = PatchParams::apply("ferry-tests");
    repos.patch("app", &apply, &Patch::Apply(git_repository("app", &server.url("app"), "main"))).await.unwrap();
    let ready =
        ferry_testenv::wait_for_condition(&repos, "app", "Ready", "True", Duration::from_secs(60)).await.unwrap();
    let status = ready.status.clone().unwrap();
    let artifact = status.artifact.clone().unwrap();
    assert_eq!(artifact.revision, format!("main@sha1:{first}"));
    assert_eq!(artifact.path, format!("gitrepository/{}/app/{first}.tar.gz", ns.name()));
    assert_eq!(ferry_testenv::condition_status(&ready, "ArtifactInStorage").as_deref(), Some("True"));
    assert_eq!(status.observed_generation, ready.metadata.generation);
    // The default exclusions leave the image out.
    assert_eq!(artifact_files(&artifact.url, &artifact.digest).await, ["README.md", "deploy/app.yaml"]);

    // A new commit, picked up at once on requestedAt.
    repo.write("deploy/app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-v2\n").unwrap();
    let second = repo.commit("second").unwrap();
    let request = serde_json::json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now-1"}}});
    repos.patch("app", &PatchParams::default(), &Patch::Merge(&request)).await.unwrap();
    let updated = ferry_testenv::wait_for(&repos, "app", Duration::from_secs(60), |r: &GitRepository| {
        r.status.as_ref().and_then(|s| s.artifact.as_ref()).is_some_and(|a| a.revision.ends_with(&second))
            && r.status.as_ref().and_then(|s| s.last_handled_reconcile_at.as_deref()) == Some("now-1")
    })
    .await
    .unwrap();
    let artifact = updated.status.unwrap().artifact.unwrap();
    assert_eq!(artifact.revision, format!("main@sha1:{second}"));
    assert_eq!(artifact_files(&artifact.url, &artifact.digest).await, ["README.md", "deploy/app.yaml"]);

    // A missing branch fails with Flux's reason and keeps the last artifact.
    repos.patch("broken", &apply, &Patch::Apply(git_repository("broken", &server.url("app"), "nope"))).await.unwrap();
    let failed =
        ferry_testenv::wait_for_condition(&repos, "broken", "Ready", "False", Duration::from_secs(60)).await.unwrap();
    let ready_condition = failed.status.as_ref().unwrap().conditions.as_ref().unwrap();
    let ready_condition = ready_condition.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready_condition.reason, "GitOperationFailed", "{ready_condition:?}");
    assert!(ready_condition.message.contains("refs/heads/nope"), "{}", ready_condition.message);
    assert_eq!(ferry_testenv::condition_status(&failed, "FetchFailed").as_deref(), Some("True"));

    // A missing Secret is an authentication failure, fixed without a restart.
    let with_secret = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "private"},
        "spec": {"url": server.url("app"), "interval": "10m", "ref": {"branch": "main"}, "secretRef": {"name": "creds"}},
    });
    repos.patch("private", &apply, &Patch::Apply(&with_secret)).await.unwrap();
    let failed = ferry_testenv::wait_for(&repos, "private", Duration::from_secs(60), |r: &GitRepository| {
        r.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.reason == "AuthenticationFailed"))
    })
    .await
    .unwrap();
    assert!(failed.status.unwrap().artifact.is_none());
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "stringData": {"username": "git", "password": "unused-by-this-server"},
    });
    ns.api::<k8s_openapi::api::core::v1::Secret>().patch("creds", &apply, &Patch::Apply(&secret)).await.unwrap();
    repos.patch("private", &PatchParams::default(), &Patch::Merge(&request)).await.unwrap();
    ferry_testenv::wait_for_condition(&repos, "private", "Ready", "True", Duration::from_secs(60)).await.unwrap();

    // Deleting an object removes its artifacts.
    repos.delete("app", &Default::default()).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while repos.get_opt("app").await.unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "the GitRepository was not finalized");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let gone = reqwest::get(&artifact.url).await.unwrap().status();
    assert_eq!(gone, reqwest::StatusCode::NOT_FOUND);

    controller.stop().await;
    ns.delete(Duration::from_secs(60)).await.unwrap();
}
