//! Commits and tags signed by real gpg and ssh-keygen (through git), checked
//! out over HTTP and verified against trusted keys.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_git::{Auth, CheckoutOptions, GitRef, TrustedKeys, VerifyError, checkout, list_refs, resolve};
use ferry_testenv::git::{GitServer, GitServerOptions};

/// A gpg home with one fresh signing key; returns (wrapper program, fingerprint, armored public key).
fn gpg_key(dir: &Path, name: &str) -> (PathBuf, String, String) {
    let home = dir.join(format!("gnupg-{name}"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let gpg = |args: &[&str]| {
        let out =
            Command::new("gpg").arg("--homedir").arg(&home).args(["--batch", "--quiet"]).args(args).output().unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let uid = format!("{name} <{name}@ferry.invalid>");
    gpg(&["--passphrase", "", "--quick-gen-key", &uid, "ed25519", "sign", "never"]);
    let listing = gpg(&["--with-colons", "--list-keys", &uid]);
    let fingerprint = listing.lines().find(|l| l.starts_with("fpr:")).unwrap().split(':').nth(9).unwrap().to_string();
    let public = gpg(&["--armor", "--export", &fingerprint]);
    let wrapper = dir.join(format!("gpg-{name}.sh"));
    std::fs::write(&wrapper, format!("#!/bin/sh\nexec gpg --homedir {} \"$@\"\n", home.display())).unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (wrapper, fingerprint, public)
}

fn ssh_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(format!("ssh-{name}"));
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public)
}

async fn checkout_ref(server: &GitServer, reference: GitRef) -> ferry_git::Commit {
    let url = server.url("signed");
    tokio::task::spawn_blocking(move || {
        let refs = list_refs(&url, &Auth::default()).unwrap();
        let resolved = resolve(&refs, &reference).unwrap();
        let dir = tempfile::tempdir().unwrap();
        checkout(&url, &Auth::default(), &resolved, dir.path(), &CheckoutOptions::default()).unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn verifies_pgp_and_ssh_signatures_on_commits_and_tags() {
    let keys = tempfile::tempdir().unwrap();
    let (gpg, fingerprint, pgp_public) = gpg_key(keys.path(), "alice");
    let (_, _, stranger_public) = gpg_key(keys.path(), "mallory");
    let (ssh_private, ssh_public) = ssh_key(keys.path(), "bob");
    let (_, stranger_ssh) = ssh_key(keys.path(), "eve");

    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("signed").unwrap();
    let pgp_sign = [
        "-c".to_string(),
        format!("gpg.program={}", gpg.display()),
        "-c".to_string(),
        format!("user.signingkey={fingerprint}"),
    ];
    let ssh_sign = [
        "-c".to_string(),
        "gpg.format=ssh".to_string(),
        "-c".to_string(),
        format!("user.signingkey={}", ssh_private.display()),
    ];
    let with = |config: &[String], rest: &[&str]| {
        let mut args: Vec<&str> = config.iter().map(String::as_str).collect();
        args.extend_from_slice(rest);
        repo.git(&args).unwrap();
    };

    // An unsigned commit, then a PGP-signed one with a PGP-signed tag, then
    // an SSH-signed commit with an SSH-signed tag.
    repo.write("a.txt", "a").unwrap();
    repo.commit("unsigned").unwrap();
    repo.checkout("unsigned").unwrap();
    repo.checkout("main").unwrap();
    repo.write("b.txt", "b").unwrap();
    repo.git(&["add", "--all"]).unwrap();
    with(&pgp_sign, &["commit", "--quiet", "-S", "-m", "signed with pgp"]);
    with(&pgp_sign, &["tag", "-s", "v1.0.0", "-m", "pgp release"]);
    repo.checkout("pgp").unwrap();
    repo.checkout("main").unwrap();
    repo.write("c.txt", "c").unwrap();
    repo.git(&["add", "--all"]).unwrap();
    with(&ssh_sign, &["commit", "--quiet", "-S", "-m", "signed with ssh"]);
    with(&ssh_sign, &["tag", "-s", "v2.0.0", "-m", "ssh release"]);
    repo.git(&["push", "--quiet", "--force", "origin", "main", "pgp", "unsigned", "v1.0.0", "v2.0.0"]).unwrap();

    let trusted = TrustedKeys::from_secret_data([
        ("author.asc", pgp_public.as_bytes()),
        ("author.sshpub", ssh_public.as_bytes()),
        ("README", &b"ignored"[..]),
    ])
    .unwrap();
    let strangers =
        TrustedKeys::from_secret_data([("x.asc", stranger_public.as_bytes()), ("y.sshpub", stranger_ssh.as_bytes())])
            .unwrap();

    let pgp = checkout_ref(&server, GitRef { branch: Some("pgp".into()), ..GitRef::default() }).await;
    let verified = trusted.verify(&pgp.hash, &pgp.payload, pgp.signature.as_deref()).unwrap();
    // Flux names PGP signers by their key ID: the fingerprint's last 16 digits.
    assert_eq!(verified, fingerprint[fingerprint.len() - 16..]);
    assert!(matches!(
        strangers.verify(&pgp.hash, &pgp.payload, pgp.signature.as_deref()),
        Err(VerifyError::Untrusted(_))
    ));

    let ssh = checkout_ref(&server, GitRef { branch: Some("main".into()), ..GitRef::default() }).await;
    let verified = trusted.verify(&ssh.hash, &ssh.payload, ssh.signature.as_deref()).unwrap();
    assert!(verified.starts_with("SHA256:"), "{verified}");
    assert!(matches!(
        strangers.verify(&ssh.hash, &ssh.payload, ssh.signature.as_deref()),
        Err(VerifyError::Untrusted(_))
    ));

    let unsigned = checkout_ref(&server, GitRef { branch: Some("unsigned".into()), ..GitRef::default() }).await;
    assert!(matches!(
        trusted.verify(&unsigned.hash, &unsigned.payload, unsigned.signature.as_deref()),
        Err(VerifyError::Unsigned(_))
    ));

    // Tags: the tag objects carry their own signatures.
    for (tag, key_kind) in [("v1.0.0", "pgp"), ("v2.0.0", "ssh")] {
        let commit = checkout_ref(&server, GitRef { tag: Some(tag.into()), ..GitRef::default() }).await;
        let object = commit.tag.expect("annotated tag");
        assert_eq!(object.name, tag);
        let by = trusted.verify(tag, &object.payload, object.signature.as_deref()).unwrap();
        assert_eq!(by.starts_with("SHA256:"), key_kind == "ssh", "{by}");
        assert!(strangers.verify(tag, &object.payload, object.signature.as_deref()).is_err());
        // A tampered payload no longer verifies.
        let mut tampered = object.payload.clone();
        tampered.extend_from_slice(b"extra");
        assert!(trusted.verify(tag, &tampered, object.signature.as_deref()).is_err());
    }

    // Bad key material is a clear error.
    assert!(matches!(TrustedKeys::from_secret_data([("a.asc", &b"garbage"[..])]), Err(VerifyError::InvalidKey { .. })));
    assert!(matches!(TrustedKeys::from_secret_data([("a.txt", &b"x"[..])]), Err(VerifyError::NoKeys)));
}
