//! OCIRepository end to end on the local control plane: a real registry
//! (Debian's docker-registry, distribution 2.8) on loopback, Flux artifacts
//! pushed to it as `ferry push artifact` pushes them (ferry-oci, with the
//! tarball source-controller makes), the controller in-process, and the
//! stored artifact downloaded from the URL it advertises.

mod support;

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use ferry_api_source::OCIRepository;
use ferry_oci::flux::{self, Metadata};
use ferry_oci::{Client, ClientOptions, Credentials, Repository};
use ferry_storage::{ArtifactPath, DigestAlgorithm, SourceIgnore, Storage};
use ferry_testenv::TestNamespace;
use ferry_testenv::registry::{Registry, RegistryOptions};
use kube::api::{Api, Patch, PatchParams};
use support::{
    WAIT, apply_secret, artifact_contents, condition, install_crd, request_reconcile, start_controller, wait_event,
    wait_until,
};

/// A reproducible tarball of `files`, as `ferry push artifact` makes it.
fn tarball(files: &[(&str, &str)]) -> Vec<u8> {
    let src = tempfile::tempdir().unwrap();
    for (path, body) in files {
        let path = src.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    let scratch = tempfile::tempdir().unwrap();
    let storage = Storage::new(scratch.path(), "localhost", Duration::ZERO, 1, DigestAlgorithm::Sha256).unwrap();
    let path = ArtifactPath::new("push", "cli", "artifact", "a.tar.gz").unwrap();
    storage.archive(&path, src.path(), &SourceIgnore::none()).unwrap();
    std::fs::read(storage.local_path(&path)).unwrap()
}

/// Pushes `files` as a Flux artifact under `tag`; returns the manifest digest.
async fn push(registry: &Registry, creds: Option<(&str, &str)>, tag: &str, files: &[(&str, &str)]) -> String {
    let options = ClientOptions {
        credentials: creds.map(|(u, p)| Credentials { username: u.into(), password: p.into() }),
        roots: registry
            .ca_pem()
            .map(|pem| reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let client = Client::new(Repository::parse(&format!("{}/org/app", registry.host())).unwrap(), options).unwrap();
    let metadata = Metadata {
        source: "https://github.com/org/app".into(),
        revision: format!("{tag}@sha1:0123456789abcdef"),
        created: "2026-01-01T00:00:00Z".into(),
    };
    flux::push(&client, tag, Bytes::from(tarball(files)), &metadata).await.unwrap()
}

async fn apply(api: &Api<OCIRepository>, name: &str, mut spec: serde_json::Value) {
    spec["interval"] = "10m".into();
    let object = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
        "metadata": {"name": name}, "spec": spec,
    });
    api.patch(name, &PatchParams::apply("ferry-tests").force(), &Patch::Apply(object)).await.unwrap();
}

fn revision(repo: &OCIRepository) -> String {
    repo.status.as_ref().and_then(|s| s.artifact.as_ref()).map(|a| a.revision.clone()).unwrap_or_default()
}

const FILES: &[(&str, &str)] =
    &[("apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"), ("README.md", "the app\n")];

#[tokio::test(flavor = "multi_thread")]
async fn a_pushed_artifact_is_pulled_by_tag_semver_and_digest() {
    let ns = TestNamespace::new("ocirepo-pull").await.unwrap();
    install_crd(ns.client()).await;
    let controller = start_controller(ns.client(), ns.name()).await;
    let registry = Registry::start(RegistryOptions::default()).await.unwrap();
    let v1 = push(&registry, None, "v1.0.0", FILES).await;
    let url = format!("oci://{}/org/app", registry.host());

    let repos = ns.api::<OCIRepository>();
    apply(&repos, "app", serde_json::json!({"url": url, "ref": {"tag": "v1.0.0"}})).await;
    let ready = wait_until(&repos, "app", "Ready", "True", "Succeeded", |_| true).await;
    let status = ready.status.clone().unwrap();
    let artifact = status.artifact.clone().unwrap();
    assert_eq!(artifact.revision, format!("v1.0.0@{v1}"));
    assert_eq!(artifact.path, format!("ocirepository/{}/app/{v1}.tar.gz", ns.name()));
    let message = format!("stored artifact for digest 'v1.0.0@{v1}'");
    assert_eq!(condition(&ready, "Ready").unwrap().2, message);
    assert_eq!(condition(&ready, "ArtifactInStorage").unwrap().2, message);
    let metadata = artifact.metadata.clone().unwrap();
    assert_eq!(metadata[flux::SOURCE_ANNOTATION], "https://github.com/org/app");
    assert_eq!(metadata[flux::REVISION_ANNOTATION], "v1.0.0@sha1:0123456789abcdef");
    let files = artifact_contents(&artifact.url, &artifact.digest).await;
    assert_eq!(files, FILES.iter().rev().map(|(p, b)| (p.to_string(), b.to_string())).collect::<Vec<_>>());
    assert!(status.url.unwrap().ends_with(&format!("ocirepository/{}/app/latest.tar.gz", ns.name())));
    let note = wait_event(&ns, "app", "Normal", "NewArtifact").await;
    assert_eq!(
        note,
        format!(
            "stored artifact with revision 'v1.0.0@{v1}' from '{url}', origin source 'https://github.com/org/app', origin revision 'v1.0.0@sha1:0123456789abcdef'"
        )
    );

    // Semver picks the highest version in range; pre-releases only when asked.
    push(&registry, None, "v1.1.0", &[("apps/cm.yaml", "v1.1")]).await;
    let v12 = push(&registry, None, "1.2.0", &[("apps/cm.yaml", "v1.2")]).await;
    let rc = push(&registry, None, "2.0.0-rc.1", &[("apps/cm.yaml", "rc")]).await;
    push(&registry, None, "latest", &[("apps/cm.yaml", "latest")]).await;
    apply(&repos, "app", serde_json::json!({"url": url, "ref": {"semver": ">=1.0.0"}})).await;
    let picked =
        wait_until(&repos, "app", "Ready", "True", "Succeeded", |r| revision(r) == format!("1.2.0@{v12}")).await;
    let artifact = picked.status.unwrap().artifact.unwrap();
    assert_eq!(artifact_contents(&artifact.url, &artifact.digest).await, [("apps/cm.yaml".into(), "v1.2".into())]);
    apply(&repos, "app", serde_json::json!({"url": url, "ref": {"semver": ">=1.0.0-0", "semverFilter": ".*-rc.*"}}))
        .await;
    wait_until(&repos, "app", "Ready", "True", "Succeeded", |r| revision(r) == format!("2.0.0-rc.1@{rc}")).await;
    apply(&repos, "app", serde_json::json!({"url": url, "ref": {"semver": ">=3.0.0"}})).await;
    let none = wait_until(&repos, "app", "FetchFailed", "True", "ReadOperationFailed", |_| true).await;
    assert_eq!(
        condition(&none, "FetchFailed").unwrap().2,
        format!("failed to determine the artifact tag for '{url}': no match found for semver: >=3.0.0")
    );

    // A digest is the revision itself; `ignore` leaves files out and is observed.
    apply(&repos, "app", serde_json::json!({"url": url, "ref": {"digest": v1}, "ignore": "README.md"})).await;
    let pinned = wait_until(&repos, "app", "Ready", "True", "Succeeded", |r| revision(r) == v1).await;
    let status = pinned.status.unwrap();
    assert_eq!(status.observed_ignore.as_deref(), Some("README.md"));
    let artifact = status.artifact.unwrap();
    assert_eq!(artifact_contents(&artifact.url, &artifact.digest).await, [("apps/cm.yaml".into(), FILES[0].1.into())]);

    // `copy` stores the layer as it is; the default tag is `latest`.
    let layer = tarball(&[("apps/cm.yaml", "latest")]);
    apply(
        &repos,
        "app",
        serde_json::json!({"url": url, "layerSelector": {"mediaType": flux::CONTENT_MEDIA_TYPE, "operation": "copy"}}),
    )
    .await;
    let copied = wait_until(&repos, "app", "Ready", "True", "Succeeded", |r| revision(r).starts_with("latest@")).await;
    let status = copied.status.unwrap();
    assert_eq!(status.artifact.as_ref().unwrap().digest, ferry_oci::digest(&layer));
    assert_eq!(status.observed_layer_selector.unwrap().operation, Some(ferry_api_source::LayerOperation::Copy));

    // A media type no layer has.
    apply(&repos, "app", serde_json::json!({"url": url, "layerSelector": {"mediaType": "application/x-none"}})).await;
    let missing = wait_until(&repos, "app", "FetchFailed", "True", "OCIArtifactLayerOperationFailed", |_| true).await;
    assert_eq!(
        condition(&missing, "FetchFailed").unwrap().2,
        "failed to find layer with media type 'application/x-none' in artifact"
    );

    // A missing tag.
    apply(&repos, "app", serde_json::json!({"url": url, "ref": {"tag": "v9.9.9"}})).await;
    let missing = wait_until(&repos, "app", "Ready", "False", "OCIArtifactPullFailed", |_| true).await;
    let (_, _, message) = condition(&missing, "FetchFailed").unwrap();
    assert!(message.starts_with("failed to determine artifact digest: ") && message.contains("v9.9.9"), "{message}");

    controller.stop().await;
    ns.delete(WAIT).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_proxies_tls_and_signatures_have_flux_reasons() {
    let ns = TestNamespace::new("ocirepo-auth").await.unwrap();
    install_crd(ns.client()).await;
    let controller = start_controller(ns.client(), ns.name()).await;
    let options = RegistryOptions { basic_auth: Some(("flux".into(), "s3cret".into())), tls: true, token_auth: false };
    let registry = Registry::start(options).await.unwrap();
    let digest = push(&registry, Some(("flux", "s3cret")), "v1.0.0", FILES).await;
    let url = format!("oci://{}/org/app", registry.host());
    let ca = registry.ca_pem().unwrap();
    apply_secret(&ns, "ca", serde_json::json!({"ca.crt": ca})).await;
    let docker_config = |password: &str| {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("flux:{password}"));
        serde_json::json!({"auths": {registry.host(): {"auth": auth}}}).to_string()
    };
    apply_secret(&ns, "creds", serde_json::json!({".dockerconfigjson": docker_config("wrong")})).await;

    let repos = ns.api::<OCIRepository>();
    let spec = serde_json::json!({
        "url": url, "ref": {"tag": "v1.0.0"}, "secretRef": {"name": "creds"}, "certSecretRef": {"name": "ca"},
    });
    apply(&repos, "app", spec.clone()).await;
    let denied = wait_until(&repos, "app", "Ready", "False", "OCIArtifactPullFailed", |_| true).await;
    let (_, _, message) = condition(&denied, "FetchFailed").unwrap();
    assert!(message.contains("unauthorized"), "{message}");

    // Fixing the Secret is seen at once (the Secret is watched).
    apply_secret(&ns, "creds", serde_json::json!({".dockerconfigjson": docker_config("s3cret")})).await;
    let ready = wait_until(&repos, "app", "Ready", "True", "Succeeded", |_| true).await;
    assert_eq!(revision(&ready), format!("v1.0.0@{digest}"));
    assert!(condition(&ready, "FetchFailed").is_none());

    // Basic auth keys work too.
    apply_secret(&ns, "basic", serde_json::json!({"username": "flux", "password": "s3cret"})).await;
    let mut basic = spec.clone();
    basic["secretRef"]["name"] = "basic".into();
    apply(&repos, "basic", basic).await;
    wait_until(&repos, "basic", "Ready", "True", "Succeeded", |_| true).await;

    // A registry that wants bearer tokens: the credentials go to its token service.
    let token_options =
        RegistryOptions { basic_auth: Some(("flux".into(), "s3cret".into())), tls: false, token_auth: true };
    let tokens = Registry::start(token_options).await.unwrap();
    let token_digest = push(&tokens, Some(("flux", "s3cret")), "v2.0.0", FILES).await;
    let token_url = format!("oci://{}/org/app", tokens.host());
    apply(
        &repos,
        "token",
        serde_json::json!({"url": token_url, "ref": {"semver": "2.x"}, "secretRef": {"name": "basic"}}),
    )
    .await;
    let token = wait_until(&repos, "token", "Ready", "True", "Succeeded", |_| true).await;
    assert_eq!(revision(&token), format!("v2.0.0@{token_digest}"));

    // The image pull secrets of a ServiceAccount.
    let account = serde_json::json!({
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "puller"},
        "imagePullSecrets": [{"name": "basic"}, {"name": "creds"}],
    });
    let accounts = ns.api::<k8s_openapi::api::core::v1::ServiceAccount>();
    accounts.patch("puller", &PatchParams::apply("ferry-tests"), &Patch::Apply(account)).await.unwrap();
    let mut pulled_by_account = spec.clone();
    pulled_by_account.as_object_mut().unwrap().remove("secretRef");
    pulled_by_account["serviceAccountName"] = "puller".into();
    apply(&repos, "account", pulled_by_account.clone()).await;
    wait_until(&repos, "account", "Ready", "True", "Succeeded", |_| true).await;
    pulled_by_account["serviceAccountName"] = "nobody".into();
    apply(&repos, "no-account", pulled_by_account).await;
    let missing = wait_until(&repos, "no-account", "Ready", "False", "AuthenticationFailed", |_| true).await;
    let (_, _, message) = condition(&missing, "FetchFailed").unwrap();
    assert!(
        message.starts_with(&format!("failed to get credential: failed to get service account '{}/nobody'", ns.name())),
        "{message}"
    );

    // Through a proxy with basic auth, from `proxySecretRef`.
    let proxy = ferry_testenv::proxy::ForwardProxy::start(Some(("px".into(), "py".into()))).await.unwrap();
    apply_secret(&ns, "proxy", serde_json::json!({"address": proxy.url(), "username": "px", "password": "py"})).await;
    let mut proxied = spec.clone();
    proxied["proxySecretRef"] = serde_json::json!({"name": "proxy"});
    apply(&repos, "proxied", proxied).await;
    wait_until(&repos, "proxied", "Ready", "True", "Succeeded", |_| true).await;
    assert!(proxy.relayed() > 0, "nothing went through the proxy");
    apply_secret(&ns, "no-address", serde_json::json!({"username": "px"})).await;
    let mut no_address = spec.clone();
    no_address["proxySecretRef"] = serde_json::json!({"name": "no-address"});
    apply(&repos, "no-address", no_address).await;
    let failed = wait_until(&repos, "no-address", "Ready", "False", "AuthenticationFailed", |_| true).await;
    assert_eq!(
        condition(&failed, "FetchFailed").unwrap().2,
        "failed to get proxy address: invalid proxy secret: 'address' is required"
    );

    // Without the CA the registry's certificate is not trusted.
    let mut untrusted = spec.clone();
    untrusted.as_object_mut().unwrap().remove("certSecretRef");
    apply(&repos, "untrusted", untrusted).await;
    wait_until(&repos, "untrusted", "Ready", "False", "OCIArtifactPullFailed", |_| true).await;

    // Refused with Flux's reasons: a tag in the URL, cloud providers, verification.
    apply(&repos, "tagged", serde_json::json!({"url": format!("{url}:v1.0.0")})).await;
    let tagged = wait_until(&repos, "tagged", "Stalled", "True", "URLInvalid", |_| true).await;
    assert!(
        condition(&tagged, "FetchFailed").unwrap().2.starts_with(&format!("URL validation failed for '{url}:v1.0.0'"))
    );
    apply(&repos, "aws", serde_json::json!({"url": url, "provider": "aws"})).await;
    let aws = wait_until(&repos, "aws", "Ready", "False", "AuthenticationFailed", |_| true).await;
    assert!(condition(&aws, "FetchFailed").unwrap().2.starts_with("failed to get credential from aws: "));
    let mut verify = spec.clone();
    verify["verify"] = serde_json::json!({"provider": "cosign"});
    apply(&repos, "verify", verify).await;
    let verify = wait_until(&repos, "verify", "SourceVerified", "False", "VerificationError", |_| true).await;
    assert_eq!(condition(&verify, "Ready").unwrap().1, "VerificationError");
    assert!(
        condition(&verify, "SourceVerified")
            .unwrap()
            .2
            .starts_with("failed to verify the signature using provider 'cosign keyless': "),
    );

    // A cosign signature made here, verified with the public key of a Secret.
    let key = rcgen::KeyPair::generate().unwrap();
    let rng = ring::rand::SystemRandom::new();
    let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &key.serialize_der(),
        &rng,
    )
    .unwrap();
    let payload = ferry_oci::cosign::payload(&format!("{}/org/app", registry.host()), &digest);
    let signature = signer.sign(&rng, &payload).unwrap();
    let options = ClientOptions {
        credentials: Some(Credentials { username: "flux".into(), password: "s3cret".into() }),
        roots: vec![reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()],
        ..Default::default()
    };
    let client = Client::new(Repository::parse(&format!("{}/org/app", registry.host())).unwrap(), options).unwrap();
    ferry_oci::cosign::push_signature(&client, &digest, payload, signature.as_ref()).await.unwrap();
    apply_secret(&ns, "cosign", serde_json::json!({"cosign.pub": key.public_key_pem()})).await;
    let mut signed = spec.clone();
    signed["verify"] = serde_json::json!({"provider": "cosign", "secretRef": {"name": "cosign"}});
    apply(&repos, "signed", signed.clone()).await;
    let verified = wait_until(&repos, "signed", "SourceVerified", "True", "Succeeded", |_| true).await;
    assert_eq!(
        condition(&verified, "SourceVerified").unwrap().2,
        format!("verified signature of revision v1.0.0@{digest}")
    );
    assert_eq!(condition(&verified, "Ready").unwrap().0, "True");
    let other = rcgen::KeyPair::generate().unwrap();

    // As Flux, a verified revision is not verified again until the spec
    // changes: a key swapped in the Secret alone leaves it verified ...
    apply_secret(&ns, "cosign", serde_json::json!({"cosign.pub": other.public_key_pem()})).await;
    request_reconcile(&repos, "signed", "swapped-key").await;
    let handled = ferry_testenv::wait_for(&repos, "signed", WAIT, |r: &OCIRepository| {
        r.status.as_ref().and_then(|s| s.last_handled_reconcile_at.as_deref()) == Some("swapped-key")
    })
    .await
    .unwrap();
    assert_eq!(condition(&handled, "SourceVerified").unwrap().0, "True", "not verified again without a new generation");
    // ... and a new generation verifies it again, with the new key.
    let mut changed = signed.clone();
    changed["timeout"] = "59s".into();
    apply(&repos, "signed", changed).await;
    wait_until(&repos, "signed", "SourceVerified", "False", "VerificationError", |_| true).await;
    apply_secret(&ns, "other-key", serde_json::json!({"cosign.pub": other.public_key_pem()})).await;

    signed["verify"]["secretRef"]["name"] = "other-key".into();
    apply(&repos, "wrong-key", signed).await;
    let unverified = wait_until(&repos, "wrong-key", "SourceVerified", "False", "VerificationError", |_| true).await;
    assert_eq!(
        condition(&unverified, "SourceVerified").unwrap().2,
        format!(
            "failed to verify the signature using provider 'cosign': no matching signatures were found for '{}/org/app:v1.0.0'",
            registry.host()
        )
    );
    assert!(unverified.status.unwrap().artifact.is_none(), "an unverified artifact is not stored");

    // Deleting an object removes its artifacts.
    let artifact = ready.status.unwrap().artifact.unwrap();
    repos.delete("app", &Default::default()).await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while repos.get_opt("app").await.unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "app was never deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    assert_eq!(reqwest::get(&artifact.url).await.unwrap().status(), 404);

    controller.stop().await;
    ns.delete(WAIT).await.unwrap();
}

/// The `flux` CLI from `$FERRY_FLUX` (set by `cargo xtask test`).
fn flux() -> std::process::Command {
    let path = std::env::var_os("FERRY_FLUX")
        .expect("FERRY_FLUX is not set: run `cargo xtask test`, or export FERRY_FLUX=$(cargo xtask tools flux)");
    let mut command = std::process::Command::new(path);
    command.env("KUBECONFIG", ferry_testenv::kubeconfig_path().unwrap());
    command
}

#[tokio::test(flavor = "multi_thread")]
async fn what_flux_push_artifact_pushed_is_reconciled_and_flux_get_sources_oci_reads_it() {
    let ns = TestNamespace::new("ocirepo-flux").await.unwrap();
    install_crd(ns.client()).await;
    let controller = start_controller(ns.client(), ns.name()).await;
    let registry = Registry::start(RegistryOptions::default()).await.unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("deploy")).unwrap();
    std::fs::write(src.path().join("deploy/cm.yaml"), FILES[0].1).unwrap();
    let url = format!("oci://{}/flux/app", registry.host());
    let out = flux()
        .args(["push", "artifact", &format!("{url}:v3.0.0"), "--path", src.path().to_str().unwrap()])
        .args(["--source=https://github.com/org/app", "--revision=main@sha1:feed", "--insecure-registry"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let repos = ns.api::<OCIRepository>();
    apply(&repos, "app", serde_json::json!({"url": url, "ref": {"semver": ">=3.0.0"}})).await;
    let ready = wait_until(&repos, "app", "Ready", "True", "Succeeded", |_| true).await;
    let artifact = ready.status.unwrap().artifact.unwrap();
    assert!(artifact.revision.starts_with("v3.0.0@sha256:"), "{}", artifact.revision);
    assert_eq!(artifact.metadata.unwrap()[flux::REVISION_ANNOTATION], "main@sha1:feed");
    assert_eq!(
        artifact_contents(&artifact.url, &artifact.digest).await,
        [("deploy/cm.yaml".into(), FILES[0].1.into())]
    );

    let out = flux().args(["get", "sources", "oci", "-n", ns.name()]).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let row = listing.lines().find(|l| l.starts_with("app")).unwrap_or_else(|| panic!("{listing}"));
    // The CLI shortens digests to 8 hex digits.
    let short = &artifact.revision[.."v3.0.0@sha256:".len() + 8];
    assert!(row.contains(short) && row.contains("True"), "{listing}");

    controller.stop().await;
    ns.delete(WAIT).await.unwrap();
}
