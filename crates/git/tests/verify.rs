//! Commits and tags signed by real gpg and ssh-keygen (through git), checked
//! out over HTTP and verified against trusted keys.

use ferry_git::{Auth, CheckoutOptions, GitRef, TrustedKeys, VerifyError, checkout, list_refs, resolve};
use ferry_testenv::git::{GitServer, GitServerOptions};
use ferry_testenv::keys::{pgp_key, ssh_key};

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
    let alice = pgp_key(keys.path(), "alice").unwrap();
    let (fingerprint, pgp_public) = (&alice.fingerprint, &alice.public);
    let stranger_public = pgp_key(keys.path(), "mallory").unwrap().public;
    let bob = ssh_key(keys.path(), "bob").unwrap();
    let ssh_public = &bob.public;
    let stranger_ssh = ssh_key(keys.path(), "eve").unwrap().public;

    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("signed").unwrap();
    let (pgp_sign, ssh_sign) = (alice.git_config(), bob.git_config());
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
