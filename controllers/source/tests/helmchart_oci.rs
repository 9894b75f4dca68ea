//! HelmCharts from OCI registries on the local control plane: charts
//! pushed to a real registry (Debian's docker-registry) by `helm push` and
//! by ferry-oci as Helm stores them, pulled through a HelmRepository of
//! `type: oci` with its credentials, and dependencies of a chart from Git
//! pulled from a registry; the controller in-process.

mod support;

use bytes::Bytes;
use ferry_api_source::{GitRepository, HelmChart, HelmRepository};
use ferry_oci::{Client, ClientOptions, Credentials, Descriptor, Manifest, Repository, media_type};
use ferry_testenv::TestNamespace;
use ferry_testenv::git::{GitServer, GitServerOptions};
use ferry_testenv::registry::{Registry, RegistryOptions};
use kube::api::{Patch, PatchParams};
use support::{
    WAIT, apply_secret, apply_source, condition, download, install_crd, sha256, start_controller, wait_condition,
    wait_event,
};

const USER: &str = "flux";
const PASSWORD: &str = "s3cret";

/// A chart `name` at `version` with a second values file, packaged as
/// `helm package` packages it.
fn package(name: &str, version: &str) -> Vec<u8> {
    let file = |path: &str, data: &str| ferry_helm::chart::File { name: path.into(), data: data.as_bytes().to_vec() };
    let files = vec![
        file("Chart.yaml", &format!("apiVersion: v2\nname: {name}\nversion: {version}\n")),
        file("values.yaml", "replicas: 1\n"),
        file("values-prod.yaml", "replicas: 3\n"),
        file("templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"),
    ];
    let chart = ferry_helm::chart::load::load_files(files).unwrap();
    ferry_helm::archive::write::package(&chart, 1_700_000_000).unwrap()
}

/// The client of `host/charts/<name>` with the registry's credentials.
fn client(registry: &Registry, name: &str, auth: bool) -> Client {
    let repository = Repository::parse(&format!("{}/charts/{name}", registry.host())).unwrap();
    let credentials = auth.then(|| Credentials { username: USER.into(), password: PASSWORD.into() });
    Client::new(repository, ClientOptions { credentials, ..Default::default() }).unwrap()
}

/// Pushes the chart as Helm stores it (config and chart layer, the tag
/// with `_` for `+`) with ferry-oci; returns the manifest's digest.
async fn push(client: &Client, name: &str, version: &str, archive: &[u8]) -> String {
    let config = Bytes::from(
        serde_json::to_vec(&serde_json::json!({"name": name, "version": version, "apiVersion": "v2"})).unwrap(),
    );
    let config_digest = client.push_blob(config.clone()).await.unwrap();
    let layer_digest = client.push_blob(Bytes::from(archive.to_vec())).await.unwrap();
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        config: Descriptor {
            media_type: ferry_source_controller::helmchart::oci::CHART_CONFIG_MEDIA_TYPE.into(),
            digest: config_digest,
            size: config.len() as u64,
            annotations: None,
        },
        layers: vec![Descriptor {
            media_type: ferry_source_controller::helmchart::oci::CHART_LAYER_MEDIA_TYPE.into(),
            digest: layer_digest,
            size: archive.len() as u64,
            annotations: None,
        }],
        annotations: None,
    };
    let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    client.push_manifest(&version.replace('+', "_"), bytes, media_type::OCI_MANIFEST).await.unwrap()
}

/// Pushes the archive with the real `helm push` (`$FERRY_HELM`, set by
/// `cargo xtask test`) to `oci://host/charts`, logging in with `auth`.
fn helm_push(registry: &Registry, archive: &[u8], file: &str, auth: bool) {
    let helm = std::env::var("FERRY_HELM").expect("FERRY_HELM is not set: run through `cargo xtask test`");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file);
    std::fs::write(&path, archive).unwrap();
    let mut command = std::process::Command::new(helm);
    command
        .arg("push")
        .arg(&path)
        .arg(format!("oci://{}/charts", registry.host()))
        .arg("--plain-http")
        .arg("--registry-config")
        .arg(dir.path().join("registry.json"))
        .env("HELM_CACHE_HOME", dir.path().join("cache"))
        .env("HELM_CONFIG_HOME", dir.path().join("config"));
    if auth {
        command.args(["--username", USER, "--password", PASSWORD]);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "helm push: {}", String::from_utf8_lossy(&output.stderr));
}

/// The artifact of a ready chart, downloaded and checked against its digest.
async fn stored_chart(chart: &HelmChart) -> (ferry_api_meta::Artifact, Vec<u8>) {
    let artifact = chart.status.as_ref().unwrap().artifact.clone().unwrap();
    let bytes = download(&artifact.url).await;
    assert_eq!(sha256(&bytes), artifact.digest);
    (artifact, bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_charts_are_pulled_by_semver_with_the_repository_credentials() {
    let ns = TestNamespace::new("helmchart-oci").await.unwrap();
    install_crd(ns.client()).await;
    let registry =
        Registry::start(RegistryOptions { basic_auth: Some((USER.into(), PASSWORD.into())), ..Default::default() })
            .await
            .unwrap();
    let first = package("app", "1.0.0");
    helm_push(&registry, &first, "app-1.0.0.tgz", true);
    let app = client(&registry, "app", true);
    let latest = package("app", "1.1.0+build.1");
    push(&app, "app", "1.1.0+build.1", &latest).await;
    push(&app, "app", "2.0.0-rc.1", &package("app", "2.0.0-rc.1")).await;
    let controller = start_controller(ns.client(), ns.name()).await;

    apply_secret(&ns, "auth", serde_json::json!({"username": USER, "password": PASSWORD})).await;
    let url = format!("oci://{}/charts", registry.host());
    apply_source(
        &ns,
        "HelmRepository",
        "charts",
        serde_json::json!({"url": url, "type": "oci", "secretRef": {"name": "auth"}}),
    )
    .await;
    let repos = ns.api::<HelmRepository>();
    ferry_testenv::wait_for_condition(&repos, "charts", "Ready", "True", WAIT).await.unwrap();
    let source = serde_json::json!({"kind": "HelmRepository", "name": "charts"});

    // The latest stable tag, `_` read as `+`: pulled byte for byte.
    let api = ns.api::<HelmChart>();
    apply_source(&ns, "HelmChart", "latest", serde_json::json!({"chart": "app", "sourceRef": source})).await;
    let ready = wait_condition(&api, "latest", "Ready", "True", "ChartPullSucceeded").await;
    assert_eq!(condition(&ready, "Ready").unwrap().2, "pulled 'app' chart with version '1.1.0+build.1'");
    let (artifact, bytes) = stored_chart(&ready).await;
    assert_eq!(artifact.revision, "1.1.0+build.1");
    assert_eq!(artifact.path, format!("helmchart/{}/latest/app-1.1.0+build.1.tgz", ns.name()));
    assert_eq!(bytes, latest);
    let status = ready.status.clone().unwrap();
    assert_eq!(status.observed_chart_name.as_deref(), Some("app"));
    // An OCI repository has no artifact to observe.
    assert_eq!(status.observed_source_artifact_revision, None);
    let note = wait_event(&ns, "latest", "Normal", "ChartPullSucceeded").await;
    assert_eq!(note, "pulled 'app' chart with version '1.1.0+build.1'");

    // A version pushed by `helm push`, by exact version and with values
    // files merged: repackaged, versioned with the generation.
    apply_source(
        &ns,
        "HelmChart",
        "pinned",
        serde_json::json!({"chart": "app", "version": "1.0.0", "sourceRef": source}),
    )
    .await;
    let pinned = wait_condition(&api, "pinned", "Ready", "True", "ChartPullSucceeded").await;
    assert_eq!(stored_chart(&pinned).await.1, first);
    apply_source(
        &ns,
        "HelmChart",
        "merged",
        serde_json::json!({"chart": "app", "version": "~1.0", "sourceRef": source, "valuesFiles": ["values.yaml", "values-prod.yaml"]}),
    )
    .await;
    let merged = wait_condition(&api, "merged", "Ready", "True", "ChartPackageSucceeded").await;
    let version = format!("1.0.0+{}", merged.metadata.generation.unwrap());
    let (artifact, bytes) = stored_chart(&merged).await;
    assert_eq!(artifact.revision, version);
    let loaded = ferry_helm::chart::load::load_archive(&bytes).unwrap();
    assert_eq!(loaded.metadata.version, version);
    assert_eq!(loaded.values.get("replicas"), Some(&ferry_helm::Value::Float(3.0)));

    // Pre-releases only when the range asks for them.
    apply_source(
        &ns,
        "HelmChart",
        "pre",
        serde_json::json!({"chart": "app", "version": ">=2.0.0-0", "sourceRef": source}),
    )
    .await;
    let pre = wait_condition(&api, "pre", "Ready", "True", "ChartPullSucceeded").await;
    assert_eq!(pre.status.unwrap().artifact.unwrap().revision, "2.0.0-rc.1");

    // No tag in range, a version that is not there, a chart that is not there.
    apply_source(
        &ns,
        "HelmChart",
        "range",
        serde_json::json!({"chart": "app", "version": ">=3.0.0", "sourceRef": source}),
    )
    .await;
    let range = wait_condition(&api, "range", "FetchFailed", "True", "ChartPullError").await;
    assert_eq!(
        condition(&range, "FetchFailed").unwrap().2,
        "chart pull error: failed to get chart version for remote reference: could not locate a version matching provided version string >=3.0.0"
    );
    apply_source(
        &ns,
        "HelmChart",
        "absent",
        serde_json::json!({"chart": "app", "version": "9.9.9", "sourceRef": source}),
    )
    .await;
    let absent = wait_condition(&api, "absent", "FetchFailed", "True", "ChartPullError").await;
    let message = condition(&absent, "FetchFailed").unwrap().2;
    let prefix =
        format!("chart pull error: failed to download chart for remote reference: failed to get '{url}/app:9.9.9':");
    assert!(message.starts_with(&prefix), "{message}");
    apply_source(&ns, "HelmChart", "nochart", serde_json::json!({"chart": "nope", "sourceRef": source})).await;
    let nochart = wait_condition(&api, "nochart", "FetchFailed", "True", "ChartPullError").await;
    let message = condition(&nochart, "FetchFailed").unwrap().2;
    assert!(
        message.contains(&format!("could not get tags for \"nope\": could not fetch tags for \"{url}/nope\"")),
        "{message}"
    );

    // Credentials in a docker config work as basic ones.
    let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{USER}:{PASSWORD}"));
    let config = serde_json::json!({"auths": {registry.host(): {"auth": auth}}}).to_string();
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "docker"},
        "type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": config},
    });
    ns.api::<k8s_openapi::api::core::v1::Secret>()
        .patch("docker", &PatchParams::apply("ferry-tests").force(), &Patch::Apply(&secret))
        .await
        .unwrap();
    apply_source(
        &ns,
        "HelmRepository",
        "docker",
        serde_json::json!({"url": url, "type": "oci", "secretRef": {"name": "docker"}}),
    )
    .await;
    let docker = serde_json::json!({"kind": "HelmRepository", "name": "docker"});
    apply_source(
        &ns,
        "HelmChart",
        "docker",
        serde_json::json!({"chart": "app", "version": "1.0.0", "sourceRef": docker}),
    )
    .await;
    wait_condition(&api, "docker", "Ready", "True", "ChartPullSucceeded").await;

    // Wrong credentials and none: refused by the registry.
    apply_secret(&ns, "wrong", serde_json::json!({"username": USER, "password": "wrong"})).await;
    apply_source(
        &ns,
        "HelmRepository",
        "wrong",
        serde_json::json!({"url": url, "type": "oci", "secretRef": {"name": "wrong"}}),
    )
    .await;
    apply_source(&ns, "HelmRepository", "anonymous", serde_json::json!({"url": url, "type": "oci"})).await;
    for repo in ["wrong", "anonymous"] {
        let source = serde_json::json!({"kind": "HelmRepository", "name": repo});
        apply_source(&ns, "HelmChart", repo, serde_json::json!({"chart": "app", "sourceRef": source})).await;
        let denied = wait_condition(&api, repo, "FetchFailed", "True", "AuthenticationFailed").await;
        let message = condition(&denied, "FetchFailed").unwrap().2;
        assert!(message.starts_with("failed to authenticate with the Helm repository: chart pull error:"), "{message}");
        assert!(message.contains("401"), "{message}");
    }
    // A cloud provider's identity is refused.
    apply_source(&ns, "HelmRepository", "aws", serde_json::json!({"url": url, "type": "oci", "provider": "aws"})).await;
    let aws = serde_json::json!({"kind": "HelmRepository", "name": "aws"});
    apply_source(&ns, "HelmChart", "aws", serde_json::json!({"chart": "app", "sourceRef": aws})).await;
    let aws = wait_condition(&api, "aws", "FetchFailed", "True", "AuthenticationFailed").await;
    assert!(condition(&aws, "FetchFailed").unwrap().2.contains("workload identity of aws is not supported by Ferry"));
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dependencies_are_pulled_from_oci_registries() {
    let ns = TestNamespace::new("helmchart-oci-deps").await.unwrap();
    install_crd(ns.client()).await;
    // A registry behind basic auth, known through a HelmRepository, and an
    // open one, known through none.
    let guarded =
        Registry::start(RegistryOptions { basic_auth: Some((USER.into(), PASSWORD.into())), ..Default::default() })
            .await
            .unwrap();
    let redis = client(&guarded, "redis", true);
    push(&redis, "redis", "18.6.1", &package("redis", "18.6.1")).await;
    push(&redis, "redis", "19.0.0", &package("redis", "19.0.0")).await;
    let open = Registry::start(RegistryOptions::default()).await.unwrap();
    push(&client(&open, "lib", false), "lib", "0.2.0", &package("lib", "0.2.0")).await;

    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.write(
        "charts/umbrella/Chart.yaml",
        format!(
            "apiVersion: v2\nname: umbrella\nversion: 2.0.0\ndependencies:\n- name: redis\n  alias: cache\n  version: 18.x\n  repository: oci://{}/charts/\n- name: lib\n  version: 0.2.0\n  repository: oci://{}/charts\n",
            guarded.host(),
            open.host()
        ),
    )
    .unwrap();
    repo.write("charts/umbrella/values.yaml", "").unwrap();
    repo.commit("first").unwrap();
    let controller = start_controller(ns.client(), ns.name()).await;
    apply_source(&ns, "GitRepository", "app", serde_json::json!({"url": server.url("app"), "ref": {"branch": "main"}}))
        .await;
    ferry_testenv::wait_for_condition(&ns.api::<GitRepository>(), "app", "Ready", "True", WAIT).await.unwrap();
    let source = serde_json::json!({"kind": "GitRepository", "name": "app"});

    // Without the HelmRepository of the guarded registry: refused.
    let api = ns.api::<HelmChart>();
    apply_source(&ns, "HelmChart", "umbrella", serde_json::json!({"chart": "charts/umbrella", "sourceRef": source}))
        .await;
    let failed = wait_condition(&api, "umbrella", "BuildFailed", "True", "DependencyBuildError").await;
    let message = condition(&failed, "BuildFailed").unwrap().2;
    assert!(message.contains("failed to add remote dependency 'cache'"), "{message}");
    assert!(message.contains("401"), "{message}");

    // With it, its credentials are used.
    apply_secret(&ns, "auth", serde_json::json!({"username": USER, "password": PASSWORD})).await;
    let url = format!("oci://{}/charts", guarded.host());
    apply_source(
        &ns,
        "HelmRepository",
        "deps",
        serde_json::json!({"url": url, "type": "oci", "secretRef": {"name": "auth"}}),
    )
    .await;
    support::request_reconcile(&api, "umbrella", "with-credentials").await;
    let umbrella = wait_condition(&api, "umbrella", "Ready", "True", "ChartPackageSucceeded").await;
    let (_, bytes) = stored_chart(&umbrella).await;
    let loaded = ferry_helm::chart::load::load_archive(&bytes).unwrap();
    let mut dependencies: Vec<(&str, &str)> =
        loaded.dependencies.iter().map(|d| (d.name(), d.metadata.version.as_str())).collect();
    dependencies.sort();
    assert_eq!(dependencies, [("cache", "18.6.1"), ("lib", "0.2.0")]);
    controller.stop().await;
}

/// A cosign key pair: the signer and the `cosign.pub` PEM.
fn cosign_key() -> (ring::signature::EcdsaKeyPair, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let rng = ring::rand::SystemRandom::new();
    let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &key.serialize_der(),
        &rng,
    )
    .unwrap();
    (signer, key.public_key_pem())
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_charts_are_verified_with_cosign_keys() {
    let ns = TestNamespace::new("helmchart-oci-cosign").await.unwrap();
    install_crd(ns.client()).await;
    let registry = Registry::start(RegistryOptions::default()).await.unwrap();
    let app = client(&registry, "app", false);
    let signed_digest = push(&app, "app", "1.0.0", &package("app", "1.0.0")).await;
    push(&app, "app", "1.1.0", &package("app", "1.1.0")).await;
    // 1.0.0 signed here as `cosign sign --key` signs; 1.1.0 not.
    let (signer, public) = cosign_key();
    let payload = ferry_oci::cosign::payload(&format!("{}/charts/app", registry.host()), &signed_digest);
    let signature = signer.sign(&ring::rand::SystemRandom::new(), &payload).unwrap();
    ferry_oci::cosign::push_signature(&app, &signed_digest, payload, signature.as_ref()).await.unwrap();
    let controller = start_controller(ns.client(), ns.name()).await;
    apply_secret(&ns, "cosign", serde_json::json!({"cosign.pub": public})).await;
    let url = format!("oci://{}/charts", registry.host());
    apply_source(&ns, "HelmRepository", "charts", serde_json::json!({"url": url, "type": "oci"})).await;
    let source = serde_json::json!({"kind": "HelmRepository", "name": "charts"});
    let verify = serde_json::json!({"provider": "cosign", "secretRef": {"name": "cosign"}});

    // The signed version verifies, and stays verified on later reconciles.
    let api = ns.api::<HelmChart>();
    apply_source(
        &ns,
        "HelmChart",
        "signed",
        serde_json::json!({"chart": "app", "version": "1.0.0", "sourceRef": source, "verify": verify}),
    )
    .await;
    let signed = wait_condition(&api, "signed", "SourceVerified", "True", "Succeeded").await;
    assert_eq!(condition(&signed, "SourceVerified").unwrap().2, "verified signature of version 1.0.0");
    let signed = wait_condition(&api, "signed", "Ready", "True", "ChartPullSucceeded").await;
    assert_eq!(signed.status.unwrap().artifact.unwrap().revision, "1.0.0");
    support::request_reconcile(&api, "signed", "again").await;
    ferry_testenv::wait_for(&api, "signed", WAIT, |c: &HelmChart| {
        c.status.as_ref().and_then(|s| s.last_handled_reconcile_at.as_deref()) == Some("again")
    })
    .await
    .unwrap();
    let again = api.get("signed").await.unwrap();
    assert_eq!(condition(&again, "SourceVerified").unwrap().0, "True");

    // The unsigned version is refused and not stored.
    apply_source(
        &ns,
        "HelmChart",
        "unsigned",
        serde_json::json!({"chart": "app", "version": "1.1.0", "sourceRef": source, "verify": verify}),
    )
    .await;
    let unsigned = wait_condition(&api, "unsigned", "BuildFailed", "True", "ChartVerificationError").await;
    let expected = format!(
        "chart verification error: no matching signatures were found for '{}/charts/app:1.1.0'",
        registry.host()
    );
    assert_eq!(condition(&unsigned, "BuildFailed").unwrap().2, expected);
    assert_eq!(condition(&unsigned, "SourceVerified").unwrap(), ("False".into(), "VerificationError".into(), expected));
    assert!(unsigned.status.unwrap().artifact.is_none());

    // Another key does not verify the signed one.
    let (_, other) = cosign_key();
    apply_secret(&ns, "other", serde_json::json!({"cosign.pub": other})).await;
    let wrong = serde_json::json!({"provider": "cosign", "secretRef": {"name": "other"}});
    apply_source(
        &ns,
        "HelmChart",
        "wrong-key",
        serde_json::json!({"chart": "app", "version": "1.0.0", "sourceRef": source, "verify": wrong}),
    )
    .await;
    wait_condition(&api, "wrong-key", "SourceVerified", "False", "VerificationError").await;

    // Verifiers that cannot be made: only SourceVerified says so, as in Flux.
    apply_source(
        &ns,
        "HelmChart",
        "keyless",
        serde_json::json!({"chart": "app", "sourceRef": source, "verify": {"provider": "cosign"}}),
    )
    .await;
    let keyless = wait_condition(&api, "keyless", "SourceVerified", "False", "VerificationError").await;
    let message = condition(&keyless, "SourceVerified").unwrap().2;
    assert!(message.starts_with("failed to verify the signature using provider 'cosign keyless': keyless verification is not supported by Ferry: it needs the Fulcio root certificate and the Rekor transparency log"), "{message}");
    assert!(condition(&keyless, "FetchFailed").is_none());
    let keyless = wait_condition(&api, "keyless", "Stalled", "True", "VerificationError").await;
    assert_eq!(condition(&keyless, "Ready").unwrap().1, "VerificationError");
    apply_secret(&ns, "nokeys", serde_json::json!({"readme": "no keys here"})).await;
    let nokeys = serde_json::json!({"provider": "cosign", "secretRef": {"name": "nokeys"}});
    apply_source(
        &ns,
        "HelmChart",
        "nokeys",
        serde_json::json!({"chart": "app", "sourceRef": source, "verify": nokeys}),
    )
    .await;
    let nokeys = wait_condition(&api, "nokeys", "SourceVerified", "False", "VerificationError").await;
    assert_eq!(
        condition(&nokeys, "SourceVerified").unwrap().2,
        format!(
            "failed to verify the signature using provider 'cosign': no public keys found in secret '{}/nokeys'",
            ns.name()
        )
    );

    // Dropping spec.verify drops the condition.
    apply_source(
        &ns,
        "HelmChart",
        "signed",
        serde_json::json!({"chart": "app", "version": "1.0.0", "sourceRef": source}),
    )
    .await;
    ferry_testenv::wait_for(&api, "signed", WAIT, |c: &HelmChart| {
        condition(c, "SourceVerified").is_none() && condition(c, "Ready").is_some_and(|r| r.0 == "True")
    })
    .await
    .unwrap();
    controller.stop().await;
}
