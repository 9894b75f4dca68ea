//! source-controller end to end on the local control plane: a real git
//! server, the GitRepository CRD, the controller in-process, and the
//! artifact downloaded from the URL it advertises.

mod support;

use std::time::Duration;

use ferry_api_source::GitRepository;
use ferry_testenv::git::{GitServer, GitServerOptions};
use kube::api::{Patch, PatchParams};
use support::{artifact_files, git_repository, install_crd, start_controller};

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
