//! ferry-git against real servers: git http-backend over HTTP and HTTPS,
//! with and without auth, and sshd.

use std::path::Path;

use ferry_git::{Auth, CheckoutOptions, Error, GitRef, checkout, list_refs, resolve};
use ferry_testenv::git::{GitRepo, GitServer, GitServerOptions};
use ferry_testenv::proxy::ForwardProxy;
use ferry_testenv::sshd::SshServer;

fn sample(repo: &GitRepo) -> String {
    repo.write("deploy/app.yaml", "kind: ConfigMap\n").unwrap();
    repo.write("deploy/overlays/prod/patch.yaml", "replicas: 3\n").unwrap();
    repo.write("docs/README.md", "# docs\n").unwrap();
    repo.write("run.sh", "#!/bin/sh\n").unwrap();
    let first = repo.commit("first").unwrap();
    use std::os::unix::fs::PermissionsExt;
    let script = repo.work_dir().join("run.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    repo.commit("make run.sh executable").unwrap();
    first
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn resolves_and_checks_out_every_kind_of_ref() {
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("app").unwrap();
    let first = sample(&repo);
    let head = repo.head().unwrap();
    repo.tag("v1.0.0", Some("first release")).unwrap();
    repo.checkout("feature").unwrap();
    repo.write("feature.txt", "new\n").unwrap();
    let feature = repo.commit("feature").unwrap();
    repo.push_ref("refs/pull/1/head").unwrap();
    repo.tag("v1.1.0", None).unwrap();
    repo.checkout("main").unwrap();

    let url = server.url("app");
    let refs = blocking({
        let url = url.clone();
        move || list_refs(&url, &Auth::default())
    })
    .await
    .unwrap();
    let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    for wanted in ["refs/heads/main", "refs/heads/feature", "refs/tags/v1.0.0", "refs/tags/v1.1.0", "refs/pull/1/head"]
    {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }

    let cases = [
        (GitRef { branch: Some("main".into()), ..GitRef::default() }, format!("main@sha1:{head}")),
        (GitRef { tag: Some("v1.0.0".into()), ..GitRef::default() }, format!("v1.0.0@sha1:{head}")),
        (GitRef { semver: Some("~1".into()), ..GitRef::default() }, format!("v1.1.0@sha1:{feature}")),
        (
            GitRef { name: Some("refs/pull/1/head".into()), ..GitRef::default() },
            format!("refs/pull/1/head@sha1:{feature}"),
        ),
        (
            GitRef { commit: Some(first.clone()), branch: Some("main".into()), ..GitRef::default() },
            format!("main@sha1:{first}"),
        ),
        (GitRef { commit: Some(first.clone()), ..GitRef::default() }, format!("sha1:{first}")),
    ];
    for (reference, revision) in cases {
        let resolved = resolve(&refs, &reference).unwrap();
        assert_eq!(resolved.revision, revision, "{reference:?}");
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("checkout");
        let commit = blocking({
            let (url, resolved, target) = (url.clone(), resolved.clone(), target.clone());
            move || checkout(&url, &Auth::default(), &resolved, &target, &CheckoutOptions::default())
        })
        .await
        .unwrap();
        assert_eq!(commit.hash, resolved.commit);
        assert!(!target.join(".git").exists());
        let listed = files(&target);
        assert!(listed.contains(&"deploy/app.yaml".to_string()), "{listed:?}");
        assert_eq!(listed.contains(&"feature.txt".to_string()), resolved.commit == feature, "{reference:?}");
    }

    // Executable bits survive; sparse checkouts keep only their directories.
    let resolved = resolve(&refs, &GitRef { branch: Some("main".into()), ..GitRef::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().to_path_buf();
    let options = CheckoutOptions { sparse: vec!["deploy/overlays".into()], ..CheckoutOptions::default() };
    let commit = blocking({
        let (url, resolved, target) = (url.clone(), resolved.clone(), target.clone());
        move || checkout(&url, &Auth::default(), &resolved, &target, &options)
    })
    .await
    .unwrap();
    assert_eq!(files(&target), ["deploy/overlays/prod/patch.yaml"]);
    assert_eq!(commit.message.trim(), "make run.sh executable");
    assert!(commit.signature.is_none());
    let full = tempfile::tempdir().unwrap();
    let full_path = full.path().to_path_buf();
    blocking({
        let (url, resolved) = (url.clone(), resolved.clone());
        move || checkout(&url, &Auth::default(), &resolved, &full_path, &CheckoutOptions::default())
    })
    .await
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(full.path().join("run.sh")).unwrap().permissions().mode();
    assert_ne!(mode & 0o111, 0, "run.sh is executable");
}

#[tokio::test]
async fn missing_refs_and_bad_urls_fail_clearly() {
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("app").unwrap();
    sample(&repo);
    let url = server.url("app");
    let refs = blocking(move || list_refs(&url, &Auth::default())).await.unwrap();
    let err = resolve(&refs, &GitRef { branch: Some("nope".into()), ..GitRef::default() }).unwrap_err();
    assert!(matches!(err, Error::RefNotFound(_)), "{err}");
    assert!(err.to_string().contains("refs/heads/nope"), "{err}");

    let missing = server.url("does-not-exist");
    let err = blocking(move || list_refs(&missing, &Auth::default())).await.unwrap_err();
    assert!(matches!(err, Error::FetchFailed { .. }), "{err}");
    let closed = "http://127.0.0.1:1/app.git".to_string();
    let err = blocking(move || list_refs(&closed, &Auth::default())).await.unwrap_err();
    assert!(matches!(err, Error::FetchFailed { .. }), "{err}");
}

/// A 404 is no authentication failure, whatever digits the URL holds: the
/// transport's status decides, not the text of the message (which once
/// turned a cold CI run's port 40119 into `AuthenticationFailed`).
#[tokio::test]
async fn a_not_found_on_a_port_that_reads_401_or_403_is_not_an_authentication_failure() {
    let mut servers = Vec::new();
    for (low, high) in [(40100, 40200), (40300, 40400)] {
        for port in low..high {
            let options = GitServerOptions { port: Some(port), ..GitServerOptions::default() };
            if let Ok(server) = GitServer::start(options).await {
                servers.push(server);
                break;
            }
        }
    }
    assert_eq!(servers.len(), 2, "one free port in 40100..40199 and one in 40300..40399");
    for server in &servers {
        sample(&server.create_repo("app").unwrap());
        let port = server.addr().port().to_string();
        assert!(port.starts_with("401") || port.starts_with("403"), "{port}");
        // Missing repositories whose names hold the same digits, and an existing one for contrast.
        for name in ["does-not-exist", "401", "403-forbidden"] {
            let url = server.url(name);
            let err = blocking(move || list_refs(&url, &Auth::default())).await.unwrap_err();
            assert!(matches!(err, Error::FetchFailed { .. }), "{err}");
            assert!(err.to_string().contains(&port), "the message names the URL: {err}");
        }
        let url = server.url("app");
        let refs = blocking(move || list_refs(&url, &Auth::default())).await.unwrap();
        assert!(refs.iter().any(|r| r.name == "refs/heads/main"));
    }

    // The same digits, with a real refusal: still AuthenticationFailed.
    let basic = Some(("git".into(), "s3cret".into()));
    let mut refusing = None;
    for port in 40100..40200 {
        let options = GitServerOptions { port: Some(port), basic_auth: basic.clone(), ..GitServerOptions::default() };
        if let Ok(server) = GitServer::start(options).await {
            refusing = Some(server);
            break;
        }
    }
    let refusing = refusing.expect("a free port in 40100..40199");
    sample(&refusing.create_repo("app").unwrap());
    let url = refusing.url("app");
    let err = blocking(move || list_refs(&url, &Auth::default())).await.unwrap_err();
    assert!(matches!(err, Error::AuthenticationFailed { .. }), "{err}");
}

#[tokio::test]
async fn basic_auth_and_bearer_tokens() {
    let options = GitServerOptions { basic_auth: Some(("git".into(), "s3cret".into())), ..GitServerOptions::default() };
    let server = GitServer::start(options).await.unwrap();
    sample(&server.create_repo("private").unwrap());
    let url = server.url("private");
    let good = Auth { username: Some("git".into()), password: Some("s3cret".into()), ..Auth::default() };
    let refs = blocking({
        let url = url.clone();
        move || list_refs(&url, &good)
    })
    .await
    .unwrap();
    assert!(refs.iter().any(|r| r.name == "refs/heads/main"));
    let bad = Auth { username: Some("git".into()), password: Some("wrong".into()), ..Auth::default() };
    let err = blocking({
        let url = url.clone();
        move || list_refs(&url, &bad)
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::AuthenticationFailed { .. }), "{err}");
    let err = blocking(move || list_refs(&url, &Auth::default())).await.unwrap_err();
    assert!(matches!(err, Error::AuthenticationFailed { .. }), "{err}");

    let options = GitServerOptions { bearer_token: Some("t0ken".into()), ..GitServerOptions::default() };
    let server = GitServer::start(options).await.unwrap();
    sample(&server.create_repo("token").unwrap());
    let url = server.url("token");
    let auth = Auth { bearer_token: Some("t0ken".into()), ..Auth::default() };
    let refs = blocking(move || list_refs(&url, &auth)).await.unwrap();
    assert!(refs.iter().any(|r| r.name == "refs/heads/main"));
}

#[tokio::test]
async fn https_with_a_custom_ca() {
    let server = GitServer::start(GitServerOptions { tls: true, ..GitServerOptions::default() }).await.unwrap();
    sample(&server.create_repo("secure").unwrap());
    let url = server.url("secure");
    let err = blocking({
        let url = url.clone();
        move || list_refs(&url, &Auth::default())
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::FetchFailed { .. }), "an unknown CA is refused: {err}");
    let auth = Auth { ca_pem: Some(server.ca_pem().unwrap().as_bytes().to_vec()), ..Auth::default() };
    let refs = blocking({
        let (url, auth) = (url.clone(), auth.clone());
        move || list_refs(&url, &auth)
    })
    .await
    .unwrap();
    let resolved = resolve(&refs, &GitRef { branch: Some("main".into()), ..GitRef::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().to_path_buf();
    blocking(move || checkout(&url, &auth, &resolved, &target, &CheckoutOptions::default())).await.unwrap();
    assert!(dir.path().join("deploy/app.yaml").exists());
    let garbage = Auth { ca_pem: Some(b"not a certificate".to_vec()), ..Auth::default() };
    let url = server.url("secure");
    let err = blocking(move || list_refs(&url, &garbage)).await.unwrap_err();
    assert!(matches!(err, Error::InvalidAuth(_)) || matches!(err, Error::FetchFailed { .. }), "{err}");
}

#[tokio::test]
async fn ssh_with_keys_and_known_hosts() {
    let http = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = http.create_repo("app").unwrap();
    sample(&repo);
    let head = repo.head().unwrap();
    let ssh = SshServer::start().await.unwrap();
    let url = ssh.url(&http.root().join("app.git"));
    let auth = Auth {
        ssh_identity: Some(ssh.identity().as_bytes().to_vec()),
        ssh_known_hosts: Some(ssh.known_hosts().into_bytes()),
        ..Auth::default()
    };
    let refs = blocking({
        let (url, auth) = (url.clone(), auth.clone());
        move || list_refs(&url, &auth)
    })
    .await
    .unwrap();
    let resolved = resolve(&refs, &GitRef { branch: Some("main".into()), ..GitRef::default() }).unwrap();
    assert_eq!(resolved.commit, head);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().to_path_buf();
    blocking({
        let (url, auth) = (url.clone(), auth.clone());
        move || checkout(&url, &auth, &resolved, &target, &CheckoutOptions::default())
    })
    .await
    .unwrap();
    assert!(dir.path().join("deploy/app.yaml").exists());

    let unknown_host = Auth {
        ssh_known_hosts: Some(
            b"[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
                .to_vec(),
        ),
        ..auth.clone()
    };
    let err = blocking({
        let url = url.clone();
        move || list_refs(&url, &unknown_host)
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::FetchFailed { .. } | Error::AuthenticationFailed { .. }), "{err}");
    // What ssh said is in the error, not on the process's stderr.
    assert!(err.to_string().contains("ssh: Host key verification failed."), "{err}");
    // Algorithms as --ssh-kex-algos/--ssh-hostkey-algos set them: one the
    // server offers works, one it does not is refused, junk is refused early.
    let preferred = Auth {
        ssh_kex_algorithms: vec!["curve25519-sha256".into(), "diffie-hellman-group14-sha256".into()],
        ssh_host_key_algorithms: vec!["ssh-ed25519".into()],
        ..auth.clone()
    };
    blocking({
        let url = url.clone();
        move || list_refs(&url, &preferred)
    })
    .await
    .unwrap();
    let unoffered = Auth { ssh_host_key_algorithms: vec!["ssh-dss".into()], ..auth.clone() };
    let err = blocking({
        let url = url.clone();
        move || list_refs(&url, &unoffered)
    })
    .await
    .unwrap_err();
    assert!(err.to_string().contains("ssh: "), "{err}");
    let junk = Auth { ssh_kex_algorithms: vec!["a; rm -rf /".into()], ..auth.clone() };
    let err = blocking({
        let url = url.clone();
        move || list_refs(&url, &junk)
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::InvalidAuth(_)), "{err}");
    let no_known_hosts = Auth { ssh_known_hosts: None, ..auth };
    let err = blocking(move || list_refs(&url, &no_known_hosts)).await.unwrap_err();
    assert!(matches!(err, Error::InvalidAuth(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn submodules_are_checked_out_recursively_when_asked() {
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    // leaf <- lib (absolute URL) <- app (relative URL), each pinned at a commit.
    let leaf = server.create_repo("leaf").unwrap();
    leaf.write("leaf.txt", "leaf v1\n").unwrap();
    leaf.commit("leaf v1").unwrap();
    let lib = server.create_repo("lib").unwrap();
    lib.write("lib.yaml", "kind: Lib\n").unwrap();
    lib.git(&["-c", "protocol.file.allow=always", "submodule", "add", "--quiet", &server.url("leaf"), "nested/leaf"])
        .unwrap();
    lib.commit("lib with leaf").unwrap();
    let app = server.create_repo("app").unwrap();
    app.write("app.yaml", "kind: App\n").unwrap();
    app.git(&["-c", "protocol.file.allow=always", "submodule", "add", "--quiet", "../lib.git", "vendor/lib"]).unwrap();
    app.commit("app with lib").unwrap();
    // A later commit of the leaf is not what lib pins.
    leaf.write("leaf.txt", "leaf v2\n").unwrap();
    leaf.commit("leaf v2").unwrap();

    let url = server.url("app");
    let refs = blocking({
        let url = url.clone();
        move || list_refs(&url, &Auth::default())
    })
    .await
    .unwrap();
    let resolved = resolve(&refs, &GitRef { branch: Some("main".into()), ..GitRef::default() }).unwrap();
    let checkout_with = |recurse: bool| {
        let (url, resolved) = (url.clone(), resolved.clone());
        blocking(move || {
            let dir = tempfile::tempdir().unwrap();
            let options = CheckoutOptions { recurse_submodules: recurse, ..CheckoutOptions::default() };
            checkout(&url, &Auth::default(), &resolved, dir.path(), &options).map(|_| dir)
        })
    };
    let without = checkout_with(false).await.unwrap();
    assert_eq!(files(without.path()), [".gitmodules", "app.yaml"]);
    assert!(without.path().join("vendor/lib").is_dir(), "the gitlink is an empty directory");

    let with = checkout_with(true).await.unwrap();
    assert_eq!(
        files(with.path()),
        [".gitmodules", "app.yaml", "vendor/lib/.gitmodules", "vendor/lib/lib.yaml", "vendor/lib/nested/leaf/leaf.txt"]
    );
    assert_eq!(std::fs::read_to_string(with.path().join("vendor/lib/nested/leaf/leaf.txt")).unwrap(), "leaf v1\n");

    // A submodule pointing at a local path is refused.
    let hostile = server.create_repo("hostile").unwrap();
    hostile.write("a.txt", "a").unwrap();
    hostile
        .git(&[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "--quiet",
            &lib.bare().display().to_string(),
            "x",
        ])
        .unwrap();
    hostile.commit("local submodule").unwrap();
    let url = server.url("hostile");
    let err = blocking(move || {
        let refs = list_refs(&url, &Auth::default())?;
        let resolved = resolve(&refs, &GitRef { branch: Some("main".into()), ..GitRef::default() })?;
        let dir = tempfile::tempdir()?;
        let options = CheckoutOptions { recurse_submodules: true, ..CheckoutOptions::default() };
        checkout(&url, &Auth::default(), &resolved, dir.path(), &options)
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");
}

/// proxySecretRef: HTTP and HTTPS remotes are reached through the proxy (a
/// real forward proxy that counts what it relays), with its credentials; SSH
/// with a proxy is refused instead of silently going direct.
#[tokio::test]
async fn http_and_https_go_through_the_proxy() {
    let proxy = ForwardProxy::start(Some(("mandalorian".into(), "grogu".into()))).await.unwrap();
    let with_proxy = |auth: Auth| Auth { proxy: Some(format!("http://mandalorian:grogu@{}", proxy.addr())), ..auth };

    // Plain HTTP: absolute-URI requests.
    let http = GitServer::start(GitServerOptions::default()).await.unwrap();
    sample(&http.create_repo("app").unwrap());
    let url = http.url("app");
    let auth = with_proxy(Auth::default());
    let refs = blocking({
        let (url, auth) = (url.clone(), auth.clone());
        move || list_refs(&url, &auth)
    })
    .await
    .unwrap();
    let resolved = resolve(&refs, &GitRef { branch: Some("main".into()), ..GitRef::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().to_path_buf();
    blocking(move || checkout(&url, &auth, &resolved, &target, &CheckoutOptions::default())).await.unwrap();
    assert!(dir.path().join("deploy/app.yaml").exists());
    let relayed = proxy.requests();
    assert!(
        relayed.iter().all(|r| r.relayed && r.target.starts_with(&format!("http://{}/", http.addr()))),
        "{relayed:?}"
    );
    assert!(relayed.iter().any(|r| r.method == "POST" && r.target.ends_with("/git-upload-pack")), "{relayed:?}");
    assert_eq!(proxy.relayed(), http.requests().len(), "every request the server saw came through the proxy");

    // HTTPS: CONNECT tunnels, the custom CA still checked end to end.
    let https = GitServer::start(GitServerOptions { tls: true, ..GitServerOptions::default() }).await.unwrap();
    sample(&https.create_repo("secure").unwrap());
    let before = proxy.relayed();
    let auth = with_proxy(Auth { ca_pem: Some(https.ca_pem().unwrap().as_bytes().to_vec()), ..Auth::default() });
    let url = https.url("secure");
    let refs = blocking(move || list_refs(&url, &auth)).await.unwrap();
    assert!(refs.iter().any(|r| r.name == "refs/heads/main"));
    let tunnels: Vec<_> = proxy.requests().into_iter().skip(before).collect();
    assert!(!tunnels.is_empty(), "went through the proxy");
    assert!(tunnels.iter().all(|r| r.method == "CONNECT" && r.target == https.addr().to_string()), "{tunnels:?}");

    // Wrong proxy credentials: the proxy refuses, nothing reaches the server.
    let served = http.requests().len();
    let wrong = Auth { proxy: Some(format!("http://mandalorian:nope@{}", proxy.addr())), ..Auth::default() };
    let url = http.url("app");
    let err = blocking(move || list_refs(&url, &wrong)).await.unwrap_err();
    assert!(matches!(err, Error::FetchFailed { .. }), "{err}");
    assert!(proxy.refused() > 0);
    assert_eq!(http.requests().len(), served);

    // No proxy configured: direct, the proxy sees nothing more.
    let seen = proxy.requests().len();
    let url = http.url("app");
    blocking(move || list_refs(&url, &Auth::default())).await.unwrap();
    assert_eq!(proxy.requests().len(), seen);

    // Unusable addresses and SSH are refused clearly.
    for (url, address) in [
        (http.url("app"), "socks5://127.0.0.1:1080".to_string()),
        (http.url("app"), "not a url".to_string()),
        ("ssh://git@127.0.0.1:22/app.git".to_string(), proxy.url()),
    ] {
        let auth = Auth { proxy: Some(address), ..Auth::default() };
        let err = blocking(move || list_refs(&url, &auth)).await.unwrap_err();
        assert!(matches!(err, Error::InvalidAuth(_)), "{err}");
    }
}

/// `ref.commit` with `ref.branch`, as Flux does it: the branch is cloned
/// and the commit must be in its history; the revision names the branch.
#[tokio::test]
async fn a_commit_with_a_branch_must_be_on_that_branch() {
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("app").unwrap();
    let first = sample(&repo);
    let main_tip = repo.head().unwrap();
    repo.checkout("feature").unwrap();
    repo.write("feature.txt", "new\n").unwrap();
    let on_feature = repo.commit("feature only").unwrap();
    repo.checkout("main").unwrap();
    let url = server.url("app");
    let refs = blocking({
        let url = url.clone();
        move || list_refs(&url, &Auth::default())
    })
    .await
    .unwrap();

    let pinned = |commit: &str, branch: &str| GitRef {
        commit: Some(commit.to_string()),
        branch: Some(branch.to_string()),
        ..GitRef::default()
    };
    let attempt = |reference: GitRef| {
        let (url, refs) = (url.clone(), refs.clone());
        blocking(move || {
            let resolved = resolve(&refs, &reference)?;
            let dir = tempfile::tempdir()?;
            let commit = checkout(&url, &Auth::default(), &resolved, dir.path(), &CheckoutOptions::default())?;
            Ok::<_, Error>((resolved.revision, commit.hash, files(dir.path())))
        })
    };

    // An older commit of the branch: its tree, the branch in the revision.
    let (revision, hash, listed) = attempt(pinned(&first, "main")).await.unwrap();
    assert_eq!((revision, hash), (format!("main@sha1:{first}"), first.clone()));
    assert!(!listed.contains(&"feature.txt".to_string()));
    // The tip itself, and an ancestor reached from another branch.
    attempt(pinned(&main_tip, "main")).await.unwrap();
    let (revision, ..) = attempt(pinned(&first, "feature")).await.unwrap();
    assert_eq!(revision, format!("feature@sha1:{first}"));
    // A commit that exists in the repository, but not on the branch.
    let err = attempt(pinned(&on_feature, "main")).await.unwrap_err();
    assert!(matches!(err, Error::CheckoutFailed { .. }), "{err}");
    assert!(err.to_string().contains("not on branch 'main'"), "{err}");
    // A branch the remote does not have.
    let err = attempt(pinned(&first, "nope")).await.unwrap_err();
    assert!(matches!(err, Error::RefNotFound(_)), "{err}");
}

/// Kustomize remote bases against the local git server: parsed with
/// kustomize's grammar, fetched shallow at their ref into a directory.
#[tokio::test]
async fn remote_bases_are_fetched_at_their_ref() {
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("bases").unwrap();
    repo.write("deploy/base/kustomization.yaml", "resources: [cm.yaml]\n").unwrap();
    repo.write("deploy/base/cm.yaml", "kind: ConfigMap\nmetadata: {name: v1}\n").unwrap();
    let v1 = repo.commit("v1").unwrap();
    repo.tag("v1.0.0", Some("release")).unwrap();
    repo.write("deploy/base/cm.yaml", "kind: ConfigMap\nmetadata: {name: v2}\n").unwrap();
    let v2 = repo.commit("v2").unwrap();

    let base = server.url("bases");
    for (spec, commit, name) in [
        (format!("{base}//deploy/base?ref=v1.0.0"), &v1, "v1"),
        (format!("git::{base}//deploy/base?ref=main"), &v2, "v2"),
        (format!("{base}/deploy/base"), &v2, "v2"),
        (format!("{base}//deploy/base?version={v1}"), &v1, "v1"),
    ] {
        let parsed = ferry_git::parse_repo_spec(&spec).unwrap();
        assert_eq!(parsed.clone_url, base, "{spec}");
        assert_eq!(parsed.path, "deploy/base", "{spec}");
        let fetched = blocking(move || {
            let dir = tempfile::tempdir().unwrap();
            let fetched = ferry_git::fetch_remote_base(&parsed, &Auth::default(), dir.path(), None)?;
            let cm = std::fs::read_to_string(fetched.root.join("cm.yaml"))?;
            Ok::<_, Error>((fetched.commit, cm))
        })
        .await
        .unwrap();
        assert_eq!(&fetched.0, commit, "{spec}");
        assert!(fetched.1.contains(&format!("name: {name}")), "{spec}: {}", fetched.1);
    }

    // A missing ref, a missing repository, a file:// base: clear errors.
    for (spec, expect_ref_error) in [
        (format!("{base}//deploy/base?ref=nope"), true),
        (format!("{}//deploy", server.url("missing")), false),
        ("file:///tmp/repo//deploy".to_string(), false),
    ] {
        let parsed = ferry_git::parse_repo_spec(&spec).unwrap();
        let err = blocking(move || {
            let dir = tempfile::tempdir().unwrap();
            ferry_git::fetch_remote_base(&parsed, &Auth::default(), dir.path(), None)
        })
        .await
        .unwrap_err();
        assert_eq!(matches!(err, Error::RefNotFound(_)), expect_ref_error, "{spec}: {err}");
    }
}
