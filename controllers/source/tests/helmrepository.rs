//! HelmRepository end to end on the local control plane: a real chart
//! repository (charts packaged by ferry-helm, an index as `helm repo index`
//! writes it) over HTTP and HTTPS, the controller in-process, and the
//! stored index downloaded from the URL it advertises.

mod support;

use std::time::Duration;

use ferry_api_source::HelmRepository;
use ferry_source_controller::{HelmOptions, Options};
use ferry_testenv::TestNamespace;
use ferry_testenv::helmrepo::{ChartRepo, ChartRepoOptions};
use kube::api::{Api, Patch, PatchParams};
use support::{
    WAIT, apply_secret, condition, download, install_crd, request_reconcile, sha256, wait_condition, wait_event,
};

/// The controller for `ns`, with `--helm-index-max-size` set to `max`.
async fn start(ns: &TestNamespace, index_max_size: u64) -> support::Running {
    install_crd(ns.client()).await;
    let options = Options { helm: HelmOptions { index_max_size }, ..Options::default() };
    support::start_controller_options(ns.client(), ns.name(), Duration::from_secs(60), 2, options).await
}

async fn apply(api: &Api<HelmRepository>, name: &str, spec: serde_json::Value) {
    let mut spec = spec;
    if spec.get("interval").is_none() {
        spec["interval"] = "10m".into();
    }
    let object = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": name}, "spec": spec,
    });
    api.patch(name, &PatchParams::apply("ferry-tests").force(), &Patch::Apply(object)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_becomes_a_downloadable_artifact_and_follows_new_charts() {
    let ns = TestNamespace::new("helmrepo-index").await.unwrap();
    let controller = start(&ns, 50 << 20).await;
    let charts = ChartRepo::start(ChartRepoOptions::default()).await.unwrap();
    charts.add_chart("podinfo", "6.5.0").unwrap();
    charts.add_chart("podinfo", "6.10.0").unwrap();
    charts.add_chart("redis", "18.6.1").unwrap();
    let served = charts.write_index().unwrap();

    let repos = ns.api::<HelmRepository>();
    apply(&repos, "charts", serde_json::json!({"url": charts.url()})).await;
    let ready = wait_condition(&repos, "charts", "Ready", "True", "Succeeded").await;
    let status = ready.status.clone().unwrap();
    let artifact = status.artifact.clone().unwrap();
    // The revision is the digest of the index as served.
    let revision = sha256(&served);
    assert_eq!(artifact.revision, revision);
    let hex = revision.trim_start_matches("sha256:");
    assert_eq!(artifact.path, format!("helmrepository/{}/charts/index-{hex}.yaml", ns.name()));
    let (_, _, message) = condition(&ready, "Ready").unwrap();
    assert_eq!(message, format!("stored artifact: revision '{revision}'"));
    assert_eq!(condition(&ready, "ArtifactInStorage").unwrap().2, message);
    assert_eq!(status.observed_generation, ready.metadata.generation);

    // The artifact is the index as Flux stores it: Helm's index as indented
    // JSON, newest versions first; its digest is the stored bytes'.
    let stored = download(&artifact.url).await;
    assert_eq!(sha256(&stored), artifact.digest);
    assert_eq!(artifact.size, Some(stored.len() as i64));
    let expected = ferry_source_controller::helmrepository::index::load(&served).unwrap().to_json().unwrap();
    assert_eq!(String::from_utf8_lossy(&stored), String::from_utf8_lossy(&expected));
    let json: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    let versions: Vec<&str> =
        json["entries"]["podinfo"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["6.10.0", "6.5.0"]);
    assert_eq!(json["entries"]["redis"][0]["description"], "A test chart <redis> & more");
    assert!(String::from_utf8_lossy(&stored).contains(r#""A test chart \u003credis\u003e \u0026 more""#));
    // status.url is the index.yaml link to the newest artifact.
    let link = status.url.clone().unwrap();
    assert!(link.ends_with(&format!("helmrepository/{}/charts/index.yaml", ns.name())), "{link}");
    assert_eq!(download(&link).await, stored);
    let note = wait_event(&ns, "charts", "Normal", "NewArtifact").await;
    assert!(note.starts_with("stored fetched index of size ") && note.ends_with(&format!("from '{}'", charts.url())));

    // A new chart version, picked up at once on requestedAt.
    charts.add_chart("podinfo", "6.11.0").unwrap();
    let served = charts.write_index().unwrap();
    request_reconcile(&repos, "charts", "now-1").await;
    let updated = ferry_testenv::wait_for(&repos, "charts", WAIT, |r: &HelmRepository| {
        let status = r.status.as_ref();
        status.and_then(|s| s.artifact.as_ref()).is_some_and(|a| a.revision == sha256(&served))
            && status.and_then(|s| s.last_handled_reconcile_at.as_deref()) == Some("now-1")
    })
    .await
    .unwrap();
    assert!(condition(&updated, "ArtifactOutdated").is_none());
    let artifact = updated.status.unwrap().artifact.unwrap();
    let stored = download(&artifact.url).await;
    let json: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(json["entries"]["podinfo"][0]["version"], "6.11.0");

    // Unchanged, a reconcile keeps the artifact as it is.
    request_reconcile(&repos, "charts", "now-2").await;
    let same = ferry_testenv::wait_for(&repos, "charts", WAIT, |r: &HelmRepository| {
        r.status.as_ref().and_then(|s| s.last_handled_reconcile_at.as_deref()) == Some("now-2")
    })
    .await
    .unwrap();
    let same_artifact = same.status.clone().unwrap().artifact.unwrap();
    assert_eq!((same_artifact.revision, same_artifact.digest), (artifact.revision.clone(), artifact.digest.clone()));
    assert_eq!(condition(&same, "Ready").unwrap().0, "True");

    // Deleting the object removes its artifacts.
    repos.delete("charts", &Default::default()).await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while repos.get_opt("charts").await.unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "charts was never deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    assert_eq!(reqwest::get(&artifact.url).await.unwrap().status(), 404);
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_come_from_the_secret_ref_and_its_changes() {
    let ns = TestNamespace::new("helmrepo-auth").await.unwrap();
    let controller = start(&ns, 50 << 20).await;
    let options = ChartRepoOptions { basic_auth: Some(("flux".into(), "s3cret".into())), ..Default::default() };
    let charts = ChartRepo::start(options).await.unwrap();
    charts.add_chart("podinfo", "6.5.0").unwrap();
    let served = charts.write_index().unwrap();
    let repos = ns.api::<HelmRepository>();

    // Without credentials the server refuses: a fetch failure, in Flux's words.
    apply(&repos, "anonymous", serde_json::json!({"url": charts.url()})).await;
    let failed = wait_condition(&repos, "anonymous", "FetchFailed", "True", "Failed").await;
    let (_, _, message) = condition(&failed, "Ready").unwrap();
    assert_eq!(
        message,
        format!(
            "failed to fetch Helm repository index: failed to cache index to temporary file: \
             failed to fetch {}index.yaml : 401 Unauthorized",
            charts.url()
        )
    );
    assert_eq!(condition(&failed, "Ready").unwrap().1, "Failed");

    // A Secret that does not exist is an authentication failure.
    apply(&repos, "private", serde_json::json!({"url": charts.url(), "secretRef": {"name": "creds"}})).await;
    let failed = wait_condition(&repos, "private", "Ready", "False", "AuthenticationFailed").await;
    let (_, _, message) = condition(&failed, "FetchFailed").unwrap();
    assert_eq!(
        message,
        format!("failed to get authentication secret '{}/creds': secrets \"creds\" not found", ns.name())
    );

    // Half a basic-auth pair is refused as malformed.
    apply_secret(&ns, "creds", serde_json::json!({"username": "flux"})).await;
    let failed = ferry_testenv::wait_for(&repos, "private", WAIT, |r: &HelmRepository| {
        condition(r, "Ready").is_some_and(|(_, why, m)| why == "AuthenticationFailed" && m.contains("malformed"))
    })
    .await
    .unwrap();
    assert_eq!(
        condition(&failed, "Ready").unwrap().2,
        format!(
            "failed to detect authentication methods: secret '{}/creds': malformed basic auth - \
             has 'username' but missing 'password'",
            ns.name()
        )
    );

    // Wrong credentials: the server's 401, as Flux reports it.
    apply_secret(&ns, "creds", serde_json::json!({"username": "flux", "password": "wrong"})).await;
    let failed = ferry_testenv::wait_for(&repos, "private", WAIT, |r: &HelmRepository| {
        condition(r, "Ready").is_some_and(|(_, why, m)| why == "Failed" && m.ends_with("401 Unauthorized"))
    })
    .await
    .unwrap();
    assert_eq!(condition(&failed, "FetchFailed").unwrap().0, "True");

    // The right ones, picked up from the Secret's change alone.
    apply_secret(&ns, "creds", serde_json::json!({"username": "flux", "password": "s3cret"})).await;
    let ready = wait_condition(&repos, "private", "Ready", "True", "Succeeded").await;
    assert_eq!(ready.status.unwrap().artifact.unwrap().revision, sha256(&served));
    assert!(condition(&repos.get("private").await.unwrap(), "FetchFailed").is_none());
    let requests = charts.requests();
    assert!(requests.iter().any(|r| r.uri == "/charts/index.yaml" && r.authorized && r.status == 200), "{requests:?}");
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_oversized_and_unreadable_indexes_fail_with_flux_reasons() {
    let ns = TestNamespace::new("helmrepo-fail").await.unwrap();
    let controller = start(&ns, 4096).await;
    let charts = ChartRepo::start(ChartRepoOptions::default()).await.unwrap();
    let repos = ns.api::<HelmRepository>();

    // No index.yaml: the server's 404.
    apply(&repos, "missing", serde_json::json!({"url": charts.url()})).await;
    let failed = wait_condition(&repos, "missing", "FetchFailed", "True", "Failed").await;
    let (_, _, message) = condition(&failed, "Ready").unwrap();
    assert!(message.ends_with(&format!("failed to fetch {}index.yaml : 404 Not Found", charts.url())), "{message}");
    assert_eq!(condition(&failed, "Reconciling").unwrap().1, "ProgressingWithRetry");

    // An index over --helm-index-max-size.
    let mut big = String::from("apiVersion: v1\nentries: {}\n");
    while big.len() <= 4096 {
        big.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    charts.write_file("index.yaml", big.as_bytes()).unwrap();
    apply(&repos, "big", serde_json::json!({"url": charts.url()})).await;
    let failed = wait_condition(&repos, "big", "FetchFailed", "True", "Failed").await;
    assert_eq!(
        condition(&failed, "FetchFailed").unwrap().2,
        "failed to fetch Helm repository index: failed to cache index to temporary file: \
         index exceeds the maximum index file size of 4096 bytes"
    );

    // Not an index at all.
    charts.write_file("index.yaml", b"<html><body>Welcome</body></html>\n").unwrap();
    apply(&repos, "html", serde_json::json!({"url": charts.url()})).await;
    let failed = wait_condition(&repos, "html", "Ready", "False", "IndexationFailed").await;
    let (_, _, message) = condition(&failed, "FetchFailed").unwrap();
    assert!(message.starts_with("failed to load Helm repository from index YAML: failed to load index: "), "{message}");
    assert!(failed.status.unwrap().artifact.is_none());

    // An OCI URL for a default repository: stalled until the spec changes.
    apply(&repos, "oci-url", serde_json::json!({"url": "oci://ghcr.io/stefanprodan/charts"})).await;
    let stalled = wait_condition(&repos, "oci-url", "Stalled", "True", "URLInvalid").await;
    assert_eq!(
        condition(&stalled, "Ready").unwrap(),
        (
            "False".into(),
            "URLInvalid".into(),
            "invalid Helm repository URL: 'oci' URL scheme cannot be used with 'default' HelmRepository type".into()
        )
    );
    assert!(condition(&stalled, "Reconciling").is_none());

    // Fixing the index recovers the repository.
    charts.add_chart("podinfo", "1.0.0").unwrap();
    let served = charts.write_index().unwrap();
    request_reconcile(&repos, "html", "fixed").await;
    let ready = wait_condition(&repos, "html", "Ready", "True", "Succeeded").await;
    assert_eq!(ready.status.clone().unwrap().artifact.unwrap().revision, sha256(&served));
    assert!(condition(&ready, "FetchFailed").is_none());
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn https_repositories_are_trusted_through_the_cert_secret_ref() {
    let ns = TestNamespace::new("helmrepo-tls").await.unwrap();
    let controller = start(&ns, 50 << 20).await;
    let charts = ChartRepo::start(ChartRepoOptions { tls: true, ..Default::default() }).await.unwrap();
    charts.add_chart("podinfo", "6.5.0").unwrap();
    let served = charts.write_index().unwrap();
    assert!(charts.url().starts_with("https://"));
    let repos = ns.api::<HelmRepository>();

    // The test CA is no system root: refused.
    apply(&repos, "untrusted", serde_json::json!({"url": charts.url()})).await;
    let failed = wait_condition(&repos, "untrusted", "FetchFailed", "True", "Failed").await;
    let (_, _, message) = condition(&failed, "FetchFailed").unwrap();
    assert!(message.contains(&format!("Get \"{}index.yaml\"", charts.url())), "{message}");

    // A certSecretRef without any TLS key is refused as Flux refuses it.
    apply_secret(&ns, "empty-tls", serde_json::json!({"username": "x"})).await;
    apply(&repos, "bad-tls", serde_json::json!({"url": charts.url(), "certSecretRef": {"name": "empty-tls"}})).await;
    let failed = wait_condition(&repos, "bad-tls", "Ready", "False", "AuthenticationFailed").await;
    assert_eq!(
        condition(&failed, "Ready").unwrap().2,
        format!(
            "failed to construct Helm client's TLS config: secret '{}/empty-tls' must contain either 'ca.crt' \
             or both 'tls.crt' and 'tls.key'",
            ns.name()
        )
    );

    // With the CA from certSecretRef.
    apply_secret(&ns, "ca", serde_json::json!({"ca.crt": charts.ca_pem().unwrap()})).await;
    apply(&repos, "trusted", serde_json::json!({"url": charts.url(), "certSecretRef": {"name": "ca"}})).await;
    let ready = wait_condition(&repos, "trusted", "Ready", "True", "Succeeded").await;
    assert_eq!(ready.status.unwrap().artifact.unwrap().revision, sha256(&served));
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_certificate_comes_from_the_cert_secret_ref() {
    let ns = TestNamespace::new("helmrepo-mtls").await.unwrap();
    let controller = start(&ns, 50 << 20).await;
    let options = ChartRepoOptions { tls: true, mtls: true, ..Default::default() };
    let charts = ChartRepo::start(options).await.unwrap();
    charts.add_chart("podinfo", "6.5.0").unwrap();
    let served = charts.write_index().unwrap();
    let (cert, key) = charts.client_pem().unwrap();
    let repos = ns.api::<HelmRepository>();

    // The CA alone: the server wants a client certificate.
    apply_secret(&ns, "ca-only", serde_json::json!({"ca.crt": charts.ca_pem().unwrap()})).await;
    apply(&repos, "anonymous", serde_json::json!({"url": charts.url(), "certSecretRef": {"name": "ca-only"}})).await;
    wait_condition(&repos, "anonymous", "FetchFailed", "True", "Failed").await;

    // Half a pair is refused before any request.
    apply_secret(&ns, "half", serde_json::json!({"ca.crt": charts.ca_pem().unwrap(), "tls.crt": cert})).await;
    apply(&repos, "half", serde_json::json!({"url": charts.url(), "certSecretRef": {"name": "half"}})).await;
    let failed = wait_condition(&repos, "half", "Ready", "False", "AuthenticationFailed").await;
    assert!(condition(&failed, "Ready").unwrap().2.ends_with("contains 'tls.crt' but missing 'tls.key'"));

    // The whole pair.
    let tls = serde_json::json!({"ca.crt": charts.ca_pem().unwrap(), "tls.crt": cert, "tls.key": key});
    apply_secret(&ns, "client", tls).await;
    apply(&repos, "mtls", serde_json::json!({"url": charts.url(), "certSecretRef": {"name": "client"}})).await;
    let ready = wait_condition(&repos, "mtls", "Ready", "True", "Succeeded").await;
    assert_eq!(ready.status.unwrap().artifact.unwrap().revision, sha256(&served));
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_repositories_are_ready_without_an_artifact() {
    let ns = TestNamespace::new("helmrepo-oci").await.unwrap();
    let controller = start(&ns, 50 << 20).await;
    let repos = ns.api::<HelmRepository>();

    apply(&repos, "oci", serde_json::json!({"type": "oci", "url": "oci://ghcr.io/stefanprodan/charts"})).await;
    let ready = wait_condition(&repos, "oci", "Ready", "True", "Succeeded").await;
    assert_eq!(condition(&ready, "Ready").unwrap().2, "Helm repository is ready");
    let status = ready.status.unwrap();
    assert!(status.artifact.is_none() && status.url.is_none(), "{status:?}");
    assert!(ready.metadata.finalizers.unwrap_or_default().iter().any(|f| f == "finalizers.fluxcd.io"));

    // Credentials that are there but unusable for a registry.
    apply_secret(&ns, "registry", serde_json::json!({"token": "abc"})).await;
    apply(
        &repos,
        "oci-auth",
        serde_json::json!({"type": "oci", "url": "oci://ghcr.io/x", "secretRef": {"name": "registry"}}),
    )
    .await;
    wait_condition(&repos, "oci-auth", "Ready", "False", "AuthenticationFailed").await;
    apply_secret(&ns, "registry", serde_json::json!({"username": "u", "password": "p"})).await;
    wait_condition(&repos, "oci-auth", "Ready", "True", "Succeeded").await;

    // An OCI repository needs an oci:// URL.
    apply(&repos, "not-oci", serde_json::json!({"type": "oci", "url": "https://charts.example.com"})).await;
    let stalled = wait_condition(&repos, "not-oci", "Stalled", "True", "URLInvalid").await;
    assert_eq!(
        condition(&stalled, "Ready").unwrap().2,
        "URL scheme 'https' in 'https://charts.example.com' is not supported"
    );
    controller.stop().await;
}
