//! Where a Flux user dropping Ferry in would be surprised (issue 13), on the
//! local control plane: a missing `sparseCheckout` directory, and a changed
//! `verify.mode` at an unchanged revision.

mod support;

use ferry_api_source::GitRepository;
use ferry_testenv::TestNamespace;
use ferry_testenv::git::{GitServer, GitServerOptions};
use ferry_testenv::keys::ssh_key;
use support::*;

/// Item 4: Flux fails with GitOperationFailed when a sparse checkout
/// directory does not exist, instead of storing an artifact without it
/// (which a pruning Kustomization would read as "delete everything").
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_sparse_checkout_directory_fails_the_fetch() {
    let ns = TestNamespace::new("source-sparse").await.unwrap();
    install_crd(ns.client()).await;
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.write("deploy/app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n").unwrap();
    repo.commit("first").unwrap();
    let controller = start_controller(ns.client(), ns.name()).await;
    let repos = ns.api::<GitRepository>();
    let spec = |sparse: serde_json::Value| serde_json::json!({"url": server.url("app"), "ref": {"branch": "main"}, "sparseCheckout": sparse});

    apply(&repos, "missing", with_spec("missing", spec(serde_json::json!(["deploy", "./clusters/prod"])))).await;
    let failed = wait_ready(&repos, "missing", "False", "GitOperationFailed").await;
    let (_, _, message) = ready(&failed);
    assert!(
        message.starts_with(
            "failed to sparse checkout directories : sparse checkout dir './clusters/prod' does not exist in repository"
        ),
        "{message}"
    );
    assert_eq!(condition(&failed, "FetchFailed").map(|c| c.0), Some("True".to_string()));
    assert!(failed.status.unwrap().artifact.is_none());

    // The directories that exist make an artifact.
    apply(&repos, "missing", with_spec("missing", spec(serde_json::json!(["./deploy"])))).await;
    let fixed = wait_ready(&repos, "missing", "True", "Succeeded").await;
    let artifact = fixed.status.unwrap().artifact.unwrap();
    assert_eq!(artifact_files(&artifact.url, &artifact.digest).await, ["deploy/app.yaml"]);

    controller.stop().await;
    ns.delete(WAIT).await.unwrap();
}

/// Item 8: a `verify.mode` asking for more than was verified (HEAD, then
/// TagAndHEAD) is verified again at the same revision, as Flux's
/// `requiresVerification` does; here the tag is not signed, so it fails.
#[tokio::test(flavor = "multi_thread")]
async fn a_changed_verify_mode_is_verified_again_at_the_same_revision() {
    let ns = TestNamespace::new("source-remode").await.unwrap();
    install_crd(ns.client()).await;
    let keys = tempfile::tempdir().unwrap();
    let bob = ssh_key(keys.path(), "bob").unwrap();
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("signed").unwrap();
    repo.write("a.yaml", "a: 1\n").unwrap();
    repo.git(&["add", "--all"]).unwrap();
    let mut args: Vec<String> = bob.git_config();
    args.extend(["commit", "--quiet", "-S", "-m", "signed with ssh"].map(String::from));
    repo.git(&args.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    let commit = repo.head().unwrap();
    // An annotated tag without a signature.
    repo.git(&["tag", "-a", "v1.0.0", "-m", "unsigned release"]).unwrap();
    repo.git(&["push", "--quiet", "origin", "main", "v1.0.0"]).unwrap();
    apply_secret(&ns, "keys", serde_json::json!({"bob.sshpub": bob.public})).await;

    let controller = start_controller(ns.client(), ns.name()).await;
    let repos = ns.api::<GitRepository>();
    let spec = |mode: &str| {
        serde_json::json!({"url": server.url("signed"), "ref": {"tag": "v1.0.0"},
            "verify": {"mode": mode, "secretRef": {"name": "keys"}}})
    };
    apply(&repos, "app", with_spec("app", spec("HEAD"))).await;
    let verified = wait_ready(&repos, "app", "True", "Succeeded").await;
    assert_eq!(verified.status.as_ref().unwrap().source_verification_mode.as_deref(), Some("HEAD"));
    assert!(revision(&verified).unwrap().ends_with(&commit));

    apply(&repos, "app", with_spec("app", spec("TagAndHEAD"))).await;
    let failed = wait_ready(&repos, "app", "False", "InvalidGitObject").await;
    let (status, reason, message) = condition(&failed, "SourceVerified").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("False", "InvalidGitObject"));
    assert!(message.starts_with("cannot verify signature of tag 'v1.0.0@sha1:"), "{message}");

    // Back to HEAD, verified again and Ready.
    apply(&repos, "app", with_spec("app", spec("HEAD"))).await;
    let again = wait_ready(&repos, "app", "True", "Succeeded").await;
    assert_eq!(again.status.as_ref().unwrap().source_verification_mode.as_deref(), Some("HEAD"));

    controller.stop().await;
    ns.delete(WAIT).await.unwrap();
}
