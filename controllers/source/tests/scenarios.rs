//! What a user of source-controller sees, scenario by scenario, on the local
//! control plane: revisions for every kind of ref, includes, submodules,
//! signature verification, failures and their recovery, SSH, new commits
//! within an interval with garbage collection, and the events.

mod support;

use std::time::Duration;

use ferry_api_source::GitRepository;
use ferry_testenv::TestNamespace;
use ferry_testenv::git::{GitServer, GitServerOptions};
use ferry_testenv::keys::{pgp_key, ssh_key};
use ferry_testenv::sshd::SshServer;
use support::*;

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_ref_resolves_to_fluxs_revision_format() {
    let ns = TestNamespace::new("source-refs").await.unwrap();
    install_crd(ns.client()).await;
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.write("app.yaml", "v: 1\n").unwrap();
    let first = repo.commit("first").unwrap();
    repo.tag("v1.0.0", Some("release 1.0.0")).unwrap();
    repo.write("app.yaml", "v: 1.1\n").unwrap();
    let second = repo.commit("second").unwrap();
    repo.tag("v1.1.0", None).unwrap();
    repo.write("app.yaml", "v: 2\n").unwrap();
    let third = repo.commit("third").unwrap();
    repo.tag("v2.0.0", Some("release 2.0.0")).unwrap();
    repo.checkout("pr").unwrap();
    repo.write("pr.yaml", "pr: 1\n").unwrap();
    let pull = repo.commit("pull request").unwrap();
    repo.push_ref("refs/pull/1/head").unwrap();
    let controller = start_controller(ns.client(), ns.name()).await;

    let url = server.url("app");
    let repos = ns.api::<GitRepository>();
    let cases = [
        ("tag", serde_json::json!({"tag": "v1.0.0"}), format!("v1.0.0@sha1:{first}")),
        ("semver", serde_json::json!({"semver": ">=1.0.0 <2.0.0"}), format!("v1.1.0@sha1:{second}")),
        ("commit", serde_json::json!({"commit": first}), format!("sha1:{first}")),
        ("commit-on-branch", serde_json::json!({"branch": "main", "commit": second}), format!("main@sha1:{second}")),
        ("pull", serde_json::json!({"name": "refs/pull/1/head"}), format!("refs/pull/1/head@sha1:{pull}")),
        ("branch", serde_json::json!({"branch": "main"}), format!("main@sha1:{third}")),
        // Flux's precedence: the semver range wins over the tag and branch.
        (
            "precedence",
            serde_json::json!({"branch": "pr", "tag": "v1.0.0", "semver": "2.x"}),
            format!("v2.0.0@sha1:{third}"),
        ),
    ];
    for (name, reference, _) in &cases {
        apply(&repos, name, with_spec(name, serde_json::json!({"url": url, "ref": reference}))).await;
    }
    for (name, _, expected) in &cases {
        let ready = wait_ready(&repos, name, "True", "Succeeded").await;
        assert_eq!(revision(&ready).as_deref(), Some(expected.as_str()), "{name}");
        let (_, _, message) = ready_tuple(&ready);
        assert_eq!(message, format!("stored artifact for revision '{expected}'"), "{name}");
        let artifact = ready.status.unwrap().artifact.unwrap();
        let files = artifact_files(&artifact.url, &artifact.digest).await;
        assert_eq!(files.contains(&"pr.yaml".to_string()), *name == "pull", "{name}: {files:?}");
    }
    controller.stop().await;
    ns.delete(WAIT).await.unwrap();
}

fn ready_tuple(repo: &GitRepository) -> (String, String, String) {
    ready(repo)
}

#[tokio::test(flavor = "multi_thread")]
async fn includes_are_copied_in_and_follow_the_included_artifact() {
    let ns = TestNamespace::new("source-include").await.unwrap();
    install_crd(ns.client()).await;
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let lib = server.create_repo("lib").unwrap();
    lib.write("deploy/lib.yaml", "lib: 1\n").unwrap();
    lib.write("README.md", "# lib\n").unwrap();
    lib.commit("lib 1").unwrap();
    let app = server.create_repo("app").unwrap();
    app.write("app.yaml", "app: 1\n").unwrap();
    let app_commit = app.commit("app 1").unwrap();
    let controller = start_controller(ns.client(), ns.name()).await;
    let repos = ns.api::<GitRepository>();

    // An include of a repository that does not exist yet: IncludeUnavailable.
    let app_spec = serde_json::json!({
        "url": server.url("app"), "ref": {"branch": "main"},
        "include": [
            {"repository": {"name": "lib"}, "fromPath": "deploy", "toPath": "vendor/lib"},
            {"repository": {"name": "lib"}},
        ],
    });
    apply(&repos, "app", with_spec("app", app_spec.clone())).await;
    let waiting = wait_ready(&repos, "app", "False", "NotFound").await;
    let (status, reason, message) = condition(&waiting, "IncludeUnavailable").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "NotFound"));
    assert!(message.contains("could not get resource for include 'lib'"), "{message}");

    // The included repository exists but has no artifact yet (a missing branch).
    apply(&repos, "lib", git_repository("lib", &server.url("lib"), "nope")).await;
    let waiting = wait_ready(&repos, "app", "False", "NoArtifact").await;
    let (_, _, message) = condition(&waiting, "IncludeUnavailable").unwrap();
    assert_eq!(message, "no artifact available for include 'lib'");

    // Once it has one, the includer packs it in; the revision stays its own.
    apply(&repos, "lib", git_repository("lib", &server.url("lib"), "main")).await;
    let ready = wait_ready(&repos, "app", "True", "Succeeded").await;
    let status = ready.status.clone().unwrap();
    assert!(condition(&ready, "IncludeUnavailable").is_none());
    let artifact = status.artifact.clone().unwrap();
    assert_eq!(artifact.revision, format!("main@sha1:{app_commit}"));
    let lib_artifact = repos.get("lib").await.unwrap().status.unwrap().artifact.unwrap();
    let included = status.included_artifacts.clone().unwrap();
    assert_eq!(included.len(), 2);
    assert!(included.iter().all(|a| a.revision == lib_artifact.revision && a.digest == lib_artifact.digest));
    assert_eq!(status.observed_include.as_ref().map(Vec::len), Some(2));
    assert_eq!(
        artifact_contents(&artifact.url, &artifact.digest).await,
        [
            ("app.yaml".to_string(), "app: 1\n".to_string()),
            ("lib/README.md".to_string(), "# lib\n".to_string()),
            ("lib/deploy/lib.yaml".to_string(), "lib: 1\n".to_string()),
            ("vendor/lib/lib.yaml".to_string(), "lib: 1\n".to_string()),
        ]
    );

    // A new artifact of the included repository rebuilds the includer at
    // once: same revision, new digest, new contents.
    lib.write("deploy/lib.yaml", "lib: 2\n").unwrap();
    lib.commit("lib 2").unwrap();
    request_reconcile(&repos, "lib", "lib-2").await;
    let rebuilt = ferry_testenv::wait_for(&repos, "app", WAIT, |r: &GitRepository| {
        r.status.as_ref().and_then(|s| s.artifact.as_ref()).is_some_and(|a| a.digest != artifact.digest)
    })
    .await
    .unwrap();
    let rebuilt_artifact = rebuilt.status.clone().unwrap().artifact.unwrap();
    assert_eq!(rebuilt_artifact.revision, artifact.revision);
    let contents = artifact_contents(&rebuilt_artifact.url, &rebuilt_artifact.digest).await;
    assert!(contents.contains(&("vendor/lib/lib.yaml".to_string(), "lib: 2\n".to_string())), "{contents:?}");
    assert!(!rebuilt.metadata.annotations.unwrap_or_default().contains_key("reconcile.fluxcd.io/requestedAt"));

    // An include whose fromPath is missing fails the storage step.
    let mut broken = app_spec.clone();
    broken["include"] = serde_json::json!([{"repository": {"name": "lib"}, "fromPath": "missing"}]);
    apply(&repos, "broken", with_spec("broken", broken)).await;
    let failed = wait_ready(&repos, "broken", "False", "CopyFailure").await;
    let (status, _, message) = condition(&failed, "StorageOperationFailed").unwrap();
    assert_eq!(status, "True");
    assert!(message.starts_with("failed to copy 'lib' include from missing to lib:"), "{message}");

    controller.stop().await;
    ns.delete(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn submodules_are_packed_when_asked() {
    let ns = TestNamespace::new("source-submodules").await.unwrap();
    install_crd(ns.client()).await;
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let lib = server.create_repo("lib").unwrap();
    lib.write("lib.yaml", "lib: 1\n").unwrap();
    lib.commit("lib").unwrap();
    let app = server.create_repo("app").unwrap();
    app.write("app.yaml", "app: 1\n").unwrap();
    app.git(&["-c", "protocol.file.allow=always", "submodule", "add", "--quiet", "../lib.git", "vendor/lib"]).unwrap();
    app.commit("app with lib").unwrap();
    let controller = start_controller(ns.client(), ns.name()).await;
    let repos = ns.api::<GitRepository>();

    let spec = |recurse: bool| serde_json::json!({"url": server.url("app"), "ref": {"branch": "main"}, "recurseSubmodules": recurse});
    apply(&repos, "app", with_spec("app", spec(false))).await;
    let plain = wait_ready(&repos, "app", "True", "Succeeded").await;
    let artifact = plain.status.clone().unwrap().artifact.unwrap();
    assert_eq!(artifact_files(&artifact.url, &artifact.digest).await, ["app.yaml"]);

    apply(&repos, "app", with_spec("app", spec(true))).await;
    let recursed = ferry_testenv::wait_for(&repos, "app", WAIT, |r: &GitRepository| {
        r.status.as_ref().is_some_and(|s| s.observed_recurse_submodules == Some(true))
    })
    .await
    .unwrap();
    let artifact = recursed.status.unwrap().artifact.unwrap();
    assert_eq!(artifact_files(&artifact.url, &artifact.digest).await, ["app.yaml", "vendor/lib/lib.yaml"]);
    controller.stop().await;
    ns.delete(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_are_verified_with_pgp_and_ssh_keys() {
    let ns = TestNamespace::new("source-verify").await.unwrap();
    install_crd(ns.client()).await;
    let keys = tempfile::tempdir().unwrap();
    let alice = pgp_key(keys.path(), "alice").unwrap();
    let mallory = pgp_key(keys.path(), "mallory").unwrap();
    let bob = ssh_key(keys.path(), "bob").unwrap();
    let (fingerprint, pgp_public) = (&alice.fingerprint, &alice.public);
    let (ssh_public, ssh_fingerprint) = (&bob.public, &bob.fingerprint);

    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("signed").unwrap();
    let sign = |config: &[String], args: &[&str]| {
        let mut all: Vec<&str> = config.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        repo.git(&all).unwrap();
    };
    repo.write("a.yaml", "a: 1\n").unwrap();
    repo.git(&["add", "--all"]).unwrap();
    sign(&alice.git_config(), &["commit", "--quiet", "-S", "-m", "signed with pgp"]);
    let pgp_commit = repo.head().unwrap();
    repo.git(&["push", "--quiet", "origin", "main"]).unwrap();
    repo.checkout("ssh").unwrap();
    repo.write("b.yaml", "b: 1\n").unwrap();
    repo.git(&["add", "--all"]).unwrap();
    sign(&bob.git_config(), &["commit", "--quiet", "-S", "-m", "signed with ssh"]);
    sign(&bob.git_config(), &["tag", "-s", "v1.0.0", "-m", "ssh release"]);
    let ssh_commit = repo.head().unwrap();
    repo.git(&["push", "--quiet", "origin", "ssh", "v1.0.0"]).unwrap();
    apply_secret(&ns, "keys", serde_json::json!({"alice.asc": pgp_public, "bob.sshpub": ssh_public})).await;

    let controller = start_controller(ns.client(), ns.name()).await;
    let repos = ns.api::<GitRepository>();
    let verified = |reference: serde_json::Value, mode: &str| {
        serde_json::json!({
            "url": server.url("signed"), "ref": reference,
            "verify": {"mode": mode, "secretRef": {"name": "keys"}},
        })
    };
    apply(&repos, "pgp", with_spec("pgp", verified(serde_json::json!({"branch": "main"}), "HEAD"))).await;
    let ready = wait_ready(&repos, "pgp", "True", "Succeeded").await;
    let key_id = &fingerprint[fingerprint.len() - 16..];
    assert_eq!(
        condition(&ready, "SourceVerified").unwrap(),
        (
            "True".to_string(),
            "Succeeded".to_string(),
            format!("verified signature of\n\t- commit '{pgp_commit}' with key '{key_id}'")
        )
    );
    assert_eq!(ready.status.as_ref().unwrap().source_verification_mode.as_deref(), Some("HEAD"));

    apply(&repos, "ssh", with_spec("ssh", verified(serde_json::json!({"tag": "v1.0.0"}), "TagAndHEAD"))).await;
    let ready = wait_ready(&repos, "ssh", "True", "Succeeded").await;
    let (_, _, message) = condition(&ready, "SourceVerified").unwrap();
    assert!(message.starts_with("verified signature of\n\t- tag 'v1.0.0@sha1:"), "{message}");
    assert!(
        message.ends_with(&format!(
            "with key '{ssh_fingerprint}'\n\t- commit '{ssh_commit}' with key '{ssh_fingerprint}'"
        )),
        "{message}"
    );
    assert_eq!(revision(&ready), Some(format!("v1.0.0@sha1:{ssh_commit}")));

    // A commit signed by a key the Secret does not hold: SourceVerified=False,
    // Ready=False, and the artifact stays the last verified one.
    repo.checkout("main").unwrap();
    repo.write("a.yaml", "a: 2\n").unwrap();
    repo.git(&["add", "--all"]).unwrap();
    sign(&mallory.git_config(), &["commit", "--quiet", "-S", "-m", "signed by a stranger"]);
    let stranger_commit = repo.head().unwrap();
    repo.git(&["push", "--quiet", "origin", "main"]).unwrap();
    request_reconcile(&repos, "pgp", "stranger").await;
    let failed = wait_ready(&repos, "pgp", "False", "InvalidCommitSignature").await;
    let (status, reason, message) = condition(&failed, "SourceVerified").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("False", "InvalidCommitSignature"));
    assert!(message.starts_with(&format!("signature verification of commit '{stranger_commit}' failed")), "{message}");
    assert_eq!(revision(&failed), Some(format!("main@sha1:{pgp_commit}")));
    let note = wait_event(&ns, "pgp", "Warning", "InvalidCommitSignature").await;
    assert!(note.contains(&stranger_commit), "{note}");

    // Tag mode on a branch cannot work until the spec changes.
    apply(&repos, "no-tag", with_spec("no-tag", verified(serde_json::json!({"branch": "ssh"}), "Tag"))).await;
    let stalled = wait_ready(&repos, "no-tag", "False", "InvalidVerificationMode").await;
    assert_eq!(condition(&stalled, "Stalled").map(|c| c.0), Some("True".to_string()));
    assert!(stalled.status.unwrap().artifact.is_none());

    controller.stop().await;
    ns.delete(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_give_fluxs_reasons_and_warning_events_and_recover() {
    let ns = TestNamespace::new("source-failures").await.unwrap();
    install_crd(ns.client()).await;
    let options = GitServerOptions { basic_auth: Some(("git".into(), "s3cret".into())), ..GitServerOptions::default() };
    let server = GitServer::start(options).await.unwrap();
    let repo = server.create_repo("private").unwrap();
    repo.write("app.yaml", "app: 1\n").unwrap();
    let commit = repo.commit("first").unwrap();
    let ssh = SshServer::start().await.unwrap();
    let controller = start_controller(ns.client(), ns.name()).await;
    let repos = ns.api::<GitRepository>();

    // A wrong password, fixed in the Secret: recovered without a restart.
    apply_secret(&ns, "creds", serde_json::json!({"username": "git", "password": "wrong"})).await;
    let private =
        serde_json::json!({"url": server.url("private"), "ref": {"branch": "main"}, "secretRef": {"name": "creds"}});
    apply(&repos, "private", with_spec("private", private.clone())).await;
    let failed = wait_ready(&repos, "private", "False", "AuthenticationFailed").await;
    assert_eq!(
        condition(&failed, "FetchFailed").map(|c| (c.0, c.1)),
        Some(("True".into(), "AuthenticationFailed".into()))
    );
    wait_event(&ns, "private", "Warning", "AuthenticationFailed").await;
    apply_secret(&ns, "creds", serde_json::json!({"username": "git", "password": "s3cret"})).await;
    let recovered = wait_ready(&repos, "private", "True", "Succeeded").await;
    assert_eq!(revision(&recovered), Some(format!("main@sha1:{commit}")));
    assert!(condition(&recovered, "FetchFailed").is_none());

    // A URL where no repository is.
    let mut missing = private.clone();
    missing["url"] = server.url("nothing-here").into();
    apply(&repos, "wrong-url", with_spec("wrong-url", missing)).await;
    let failed = wait_ready(&repos, "wrong-url", "False", "GitOperationFailed").await;
    assert_eq!(condition(&failed, "FetchFailed").map(|c| c.0), Some("True".into()));
    wait_event(&ns, "wrong-url", "Warning", "GitOperationFailed").await;

    // A missing ref.
    let mut no_ref = private.clone();
    no_ref["ref"] = serde_json::json!({"tag": "v9.9.9"});
    apply(&repos, "no-ref", with_spec("no-ref", no_ref)).await;
    let failed = wait_ready(&repos, "no-ref", "False", "GitOperationFailed").await;
    assert!(ready(&failed).2.contains("refs/tags/v9.9.9"), "{:?}", ready(&failed));

    // A missing Secret.
    let mut no_secret = private.clone();
    no_secret["secretRef"] = serde_json::json!({"name": "absent"});
    apply(&repos, "no-secret", with_spec("no-secret", no_secret)).await;
    let failed = wait_ready(&repos, "no-secret", "False", "AuthenticationFailed").await;
    assert!(ready(&failed).2.contains("absent"), "{:?}", ready(&failed));
    wait_event(&ns, "no-secret", "Warning", "AuthenticationFailed").await;

    // A cloud identity provider Ferry cannot use: stalled, with Flux's reason, nothing fetched.
    let mut github = private.clone();
    github["provider"] = "github".into();
    apply(&repos, "github-app", with_spec("github-app", github)).await;
    let failed = wait_ready(&repos, "github-app", "False", "InvalidProviderConfiguration").await;
    assert!(ready(&failed).2.contains("provider 'github' is not supported"), "{:?}", ready(&failed));
    assert_eq!(condition(&failed, "Stalled").map(|c| c.0), Some("True".into()));
    assert!(failed.status.as_ref().unwrap().artifact.is_none());
    wait_event(&ns, "github-app", "Warning", "InvalidProviderConfiguration").await;

    // SSH: an unknown host key is refused; the right known_hosts works.
    let other_host = ssh_key(tempfile::tempdir().unwrap().path(), "other-host").unwrap().public;
    let other_host: Vec<&str> = other_host.split_whitespace().take(2).collect();
    let wrong_hosts = format!("[127.0.0.1]:{} {}\n", ssh.port(), other_host.join(" "));
    apply_secret(&ns, "ssh", serde_json::json!({"identity": ssh.identity(), "known_hosts": wrong_hosts})).await;
    let over_ssh = serde_json::json!({
        "url": ssh.url(&server.root().join("private.git")), "ref": {"branch": "main"}, "secretRef": {"name": "ssh"},
    });
    apply(&repos, "ssh", with_spec("ssh", over_ssh)).await;
    let failed = wait_ready(&repos, "ssh", "False", "GitOperationFailed").await;
    assert!(ready(&failed).2.contains("failed to checkout and determine revision"), "{:?}", ready(&failed));
    assert!(ready(&failed).2.contains("ssh: Host key verification failed."), "{:?}", ready(&failed));
    assert!(failed.status.as_ref().unwrap().artifact.is_none());
    wait_event(&ns, "ssh", "Warning", "GitOperationFailed").await;
    apply_secret(&ns, "ssh", serde_json::json!({"identity": ssh.identity(), "known_hosts": ssh.known_hosts()})).await;
    let ready_ssh = wait_ready(&repos, "ssh", "True", "Succeeded").await;
    let artifact = ready_ssh.status.unwrap().artifact.unwrap();
    assert_eq!(artifact.revision, format!("main@sha1:{commit}"));
    assert_eq!(artifact_files(&artifact.url, &artifact.digest).await, ["app.yaml"]);

    controller.stop().await;
    ns.delete(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn new_commits_within_an_interval_and_old_artifacts_are_collected() {
    let ns = TestNamespace::new("source-interval").await.unwrap();
    install_crd(ns.client()).await;
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.write("app.yaml", "v: 1\n").unwrap();
    let first = repo.commit("first commit\n\nwith a body").unwrap();
    // Keep one artifact per object, for an hour: collection by count.
    let controller = start_controller_with(ns.client(), ns.name(), Duration::from_secs(3600), 1).await;
    let repos = ns.api::<GitRepository>();
    let spec = serde_json::json!({"url": server.url("app"), "ref": {"branch": "main"}, "interval": "2s"});
    apply(&repos, "app", with_spec("app", spec)).await;
    let ready = wait_ready(&repos, "app", "True", "Succeeded").await;
    let old = ready.status.unwrap().artifact.unwrap();
    assert_eq!(old.revision, format!("main@sha1:{first}"));
    let note = wait_event(&ns, "app", "Normal", "NewArtifact").await;
    assert_eq!(note, "stored artifact for commit 'first commit'");

    repo.write("app.yaml", "v: 2\n").unwrap();
    let second = repo.commit("a second commit whose subject runs on well past fifty characters").unwrap();
    let updated = ferry_testenv::wait_for(&repos, "app", Duration::from_secs(20), |r: &GitRepository| {
        revision(r).is_some_and(|rev| rev.ends_with(&second))
    })
    .await
    .expect("the new commit within a few intervals, without a reconcile request");
    let new = updated.status.unwrap().artifact.unwrap();
    assert_eq!(artifact_files(&new.url, &new.digest).await, ["app.yaml"]);
    // A new digest, a new NewArtifact event, with the subject cut as Flux cuts it.
    let expected = "stored artifact for commit 'a second commit whose subject runs on well past fi...'";
    let deadline = std::time::Instant::now() + WAIT;
    while !events(&ns, "app").await.iter().any(|(_, reason, note)| reason == "NewArtifact" && note == expected) {
        assert!(std::time::Instant::now() < deadline, "{:?}", events(&ns, "app").await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The old artifact is gone from the server; the new one and latest stay.
    assert_eq!(reqwest::get(&old.url).await.unwrap().status(), reqwest::StatusCode::NOT_FOUND);
    let latest = new.url.replace(&format!("{second}.tar.gz"), "latest.tar.gz");
    assert_eq!(reqwest::get(&latest).await.unwrap().status(), reqwest::StatusCode::OK);

    controller.stop().await;
    ns.delete(WAIT).await.unwrap();
}
