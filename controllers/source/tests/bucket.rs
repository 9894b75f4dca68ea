//! Bucket end to end on the local control plane: a real MinIO (built from
//! hack/minio) on loopback, objects written to it over S3, the controller
//! in-process, and the stored artifact downloaded from the URL it
//! advertises. The revision is checked against Flux's formula computed here
//! from the ETags MinIO returned on upload.

mod support;

use ferry_api_source::{Bucket, HelmChart};
use ferry_testenv::TestNamespace;
use ferry_testenv::minio::{Minio, MinioOptions, ROOT_PASSWORD, ROOT_USER};
use ferry_testenv::proxy::ForwardProxy;
use kube::api::{Api, Patch, PatchParams};
use sha2::Digest as _;
use support::{
    apply_secret, artifact_contents, condition, install_crd, request_reconcile, start_controller, wait_condition,
    wait_event, wait_until,
};

async fn apply(api: &Api<Bucket>, name: &str, mut spec: serde_json::Value) {
    if spec.get("interval").is_none() {
        spec["interval"] = "10m".into();
    }
    let object = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket",
        "metadata": {"name": name}, "spec": spec,
    });
    api.patch(name, &PatchParams::apply("ferry-tests").force(), &Patch::Apply(object)).await.unwrap();
}

fn revision(bucket: &Bucket) -> String {
    bucket.status.as_ref().and_then(|s| s.artifact.as_ref()).map(|a| a.revision.clone()).unwrap_or_default()
}

/// Flux's revision of a bucket, computed from scratch: SHA-256 over the
/// sorted `<key> <etag>\n` lines.
fn flux_revision(entries: &[(&str, String)]) -> String {
    let mut sorted: Vec<(&str, &String)> = entries.iter().map(|(k, e)| (*k, e)).collect();
    sorted.sort();
    let lines: String = sorted.iter().map(|(k, e)| format!("{k} {e}\n")).collect();
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(lines.as_bytes())))
}

async fn credentials_secret(ns: &TestNamespace, name: &str) {
    apply_secret(ns, name, serde_json::json!({"accesskey": ROOT_USER, "secretkey": ROOT_PASSWORD})).await;
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n";

#[tokio::test(flavor = "multi_thread")]
async fn objects_are_stored_with_fluxs_revision_and_follow_changes() {
    let ns = TestNamespace::new("bucket-store").await.unwrap();
    install_crd(ns.client()).await;
    let controller = start_controller(ns.client(), ns.name()).await;
    let minio = Minio::start(MinioOptions::default()).await.unwrap();
    minio.make_bucket("podinfo").await.unwrap();
    let cm = minio.put("podinfo", "deploy/cm.yaml", CM.as_bytes()).await.unwrap();
    let readme = minio.put("podinfo", "README.md", b"# podinfo\n").await.unwrap();
    let notes = minio.put("podinfo", "docs/notes.txt", b"notes\n").await.unwrap();
    // A folder marker and the ignore file itself never enter the index.
    minio.put("podinfo", "empty/", b"").await.unwrap();
    minio.put("podinfo", ".sourceignore", b"# docs stay out\ndocs/\n").await.unwrap();
    credentials_secret(&ns, "minio-keys").await;

    let api = ns.api::<Bucket>();
    let spec = serde_json::json!({
        "bucketName": "podinfo", "endpoint": minio.endpoint(), "insecure": true,
        "secretRef": {"name": "minio-keys"},
    });
    apply(&api, "app", spec.clone()).await;
    let ready = wait_until(&api, "app", "Ready", "True", "Succeeded", |_| true).await;
    let expected = flux_revision(&[("README.md", readme.clone()), ("deploy/cm.yaml", cm.clone())]);
    assert_ne!(notes, "");
    let status = ready.status.clone().unwrap();
    let artifact = status.artifact.clone().unwrap();
    assert_eq!(artifact.revision, expected);
    let hex = expected.strip_prefix("sha256:").unwrap();
    assert_eq!(artifact.path, format!("bucket/{}/app/{hex}.tar.gz", ns.name()));
    let message = format!("stored artifact: revision '{expected}'");
    assert_eq!(condition(&ready, "Ready").unwrap().2, message);
    assert_eq!(condition(&ready, "ArtifactInStorage").unwrap(), ("True".into(), "Succeeded".into(), message));
    assert!(status.url.as_deref().unwrap().ends_with(&format!("bucket/{}/app/latest.tar.gz", ns.name())));
    // The objects and the root .sourceignore, as Flux packs them.
    let files = artifact_contents(&artifact.url, &artifact.digest.clone()).await;
    assert_eq!(
        files,
        vec![
            (".sourceignore".to_string(), "# docs stay out\ndocs/\n".to_string()),
            ("README.md".to_string(), "# podinfo\n".to_string()),
            ("deploy/cm.yaml".to_string(), CM.to_string()),
        ]
    );
    let note = wait_event(&ns, "app", "Normal", "NewArtifact").await;
    assert_eq!(note, "stored artifact with 2 fetched files from 'podinfo' bucket");

    // A changed object is a new revision and a new artifact.
    let cm2 = minio.put("podinfo", "deploy/cm.yaml", format!("{CM}data:\n  a: b\n").as_bytes()).await.unwrap();
    assert_ne!(cm2, cm);
    request_reconcile(&api, "app", "changed").await;
    let expected2 = flux_revision(&[("README.md", readme.clone()), ("deploy/cm.yaml", cm2.clone())]);
    let changed = wait_until(&api, "app", "Ready", "True", "Succeeded", |b| revision(b) == expected2).await;
    assert!(condition(&changed, "ArtifactOutdated").is_none());

    // spec.ignore comes after the bucket's .sourceignore and wins.
    let mut ignoring = spec.clone();
    ignoring["ignore"] = "*.md\n!docs/\n".into();
    apply(&api, "app", ignoring).await;
    let expected3 = flux_revision(&[("deploy/cm.yaml", cm2.clone()), ("docs/notes.txt", notes.clone())]);
    let ignored = wait_until(&api, "app", "Ready", "True", "Succeeded", |b| revision(b) == expected3).await;
    let status = ignored.status.clone().unwrap();
    assert_eq!(status.observed_ignore.as_deref(), Some("*.md\n!docs/\n"));
    let artifact = status.artifact.unwrap();
    let files: Vec<String> =
        artifact_contents(&artifact.url, &artifact.digest).await.into_iter().map(|(path, _)| path).collect();
    assert_eq!(files, [".sourceignore", "deploy/cm.yaml", "docs/notes.txt"]);

    // A deleted object changes the revision too.
    minio.remove("podinfo", "docs/notes.txt").await.unwrap();
    request_reconcile(&api, "app", "deleted").await;
    let expected4 = flux_revision(&[("deploy/cm.yaml", cm2)]);
    wait_until(&api, "app", "Ready", "True", "Succeeded", |b| revision(b) == expected4).await;
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prefix_keeps_full_keys_and_aws_provider_works_with_static_keys() {
    let ns = TestNamespace::new("bucket-prefix").await.unwrap();
    install_crd(ns.client()).await;
    let controller = start_controller(ns.client(), ns.name()).await;
    let minio = Minio::start(MinioOptions::default()).await.unwrap();
    minio.make_bucket("fleet").await.unwrap();
    let staging = minio.put("fleet", "clusters/staging/app.yaml", CM.as_bytes()).await.unwrap();
    let nested = minio.put("fleet", "clusters/staging/infra/ns.yaml", b"kind: Namespace\n").await.unwrap();
    minio.put("fleet", "clusters/production/app.yaml", CM.as_bytes()).await.unwrap();
    // More than one listing page would need 1000 objects; the prefix
    // keeps only these two.
    credentials_secret(&ns, "keys").await;

    let api = ns.api::<Bucket>();
    apply(
        &api,
        "staging",
        serde_json::json!({
            "provider": "aws", "region": "us-east-1", "bucketName": "fleet", "endpoint": minio.endpoint(),
            "insecure": true, "prefix": "clusters/staging/", "secretRef": {"name": "keys"}, "timeout": "30s",
        }),
    )
    .await;
    let ready = wait_until(&api, "staging", "Ready", "True", "Succeeded", |_| true).await;
    let expected = flux_revision(&[("clusters/staging/app.yaml", staging), ("clusters/staging/infra/ns.yaml", nested)]);
    assert_eq!(revision(&ready), expected);
    let artifact = ready.status.unwrap().artifact.unwrap();
    let files: Vec<String> =
        artifact_contents(&artifact.url, &artifact.digest).await.into_iter().map(|(p, _)| p).collect();
    assert_eq!(files, ["clusters/staging/app.yaml", "clusters/staging/infra/ns.yaml"]);
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn many_objects_are_listed_across_pages() {
    let ns = TestNamespace::new("bucket-pages").await.unwrap();
    install_crd(ns.client()).await;
    let controller = start_controller(ns.client(), ns.name()).await;
    let minio = Minio::start(MinioOptions::default()).await.unwrap();
    minio.make_bucket("many").await.unwrap();
    let mut entries = Vec::new();
    let keys: Vec<String> = (0..1005).map(|i| format!("objects/{i:04}.yaml")).collect();
    for key in &keys {
        let etag = minio.put("many", key, format!("n: {key}\n").as_bytes()).await.unwrap();
        entries.push((key.as_str(), etag));
    }
    credentials_secret(&ns, "keys").await;
    let api = ns.api::<Bucket>();
    apply(
        &api,
        "many",
        serde_json::json!({"bucketName": "many", "endpoint": minio.endpoint(), "insecure": true, "secretRef": {"name": "keys"}}),
    )
    .await;
    let ready = wait_until(&api, "many", "Ready", "True", "Succeeded", |_| true).await;
    assert_eq!(revision(&ready), flux_revision(&entries));
    let note = wait_event(&ns, "many", "Normal", "NewArtifact").await;
    assert_eq!(note, "stored artifact with 1005 fetched files from 'many' bucket");
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_cert_secret_ref_and_a_proxy_from_proxy_secret_ref() {
    let ns = TestNamespace::new("bucket-tls").await.unwrap();
    install_crd(ns.client()).await;
    let controller = start_controller(ns.client(), ns.name()).await;
    let minio = Minio::start(MinioOptions { tls: true }).await.unwrap();
    minio.make_bucket("secure").await.unwrap();
    let etag = minio.put("secure", "app.yaml", CM.as_bytes()).await.unwrap();
    credentials_secret(&ns, "keys").await;
    let api = ns.api::<Bucket>();
    let spec = serde_json::json!({"bucketName": "secure", "endpoint": minio.endpoint(), "secretRef": {"name": "keys"}});

    // An unknown CA fails the existence check.
    apply(&api, "untrusted", spec.clone()).await;
    let failed = wait_until(&api, "untrusted", "FetchFailed", "True", "BucketOperationFailed", |_| true).await;
    let message = condition(&failed, "FetchFailed").unwrap().2;
    assert!(message.starts_with("failed to confirm existence of 'secure' bucket: HEAD \"https://"), "{message}");

    // The CA from certSecretRef makes it trusted.
    apply_secret(&ns, "ca", serde_json::json!({"ca.crt": minio.ca_pem().unwrap()})).await;
    let mut trusted = spec.clone();
    trusted["certSecretRef"] = serde_json::json!({"name": "ca"});
    apply(&api, "trusted", trusted.clone()).await;
    let ready = wait_until(&api, "trusted", "Ready", "True", "Succeeded", |_| true).await;
    assert_eq!(revision(&ready), flux_revision(&[("app.yaml", etag.clone())]));

    // A certSecretRef without its keys is an authentication failure.
    apply_secret(&ns, "empty-tls", serde_json::json!({"other": "x"})).await;
    let mut bad = spec.clone();
    bad["certSecretRef"] = serde_json::json!({"name": "empty-tls"});
    apply(&api, "bad-tls", bad).await;
    let failed = wait_until(&api, "bad-tls", "FetchFailed", "True", "AuthenticationFailed", |_| true).await;
    assert!(condition(&failed, "FetchFailed").unwrap().2.starts_with("failed to get TLS config: "));

    // Through a proxy with basic auth.
    let proxy = ForwardProxy::start(Some(("proxy-user".into(), "proxy-pass".into()))).await.unwrap();
    apply_secret(
        &ns,
        "proxy",
        serde_json::json!({"address": proxy.url(), "username": "proxy-user", "password": "proxy-pass"}),
    )
    .await;
    let mut proxied = trusted.clone();
    proxied["proxySecretRef"] = serde_json::json!({"name": "proxy"});
    apply(&api, "proxied", proxied).await;
    let ready = wait_until(&api, "proxied", "Ready", "True", "Succeeded", |_| true).await;
    assert_eq!(revision(&ready), flux_revision(&[("app.yaml", etag)]));
    assert!(proxy.relayed() > 0, "the requests went through the proxy");
    assert!(proxy.requests().iter().all(|r| r.method == "CONNECT" && r.target == minio.endpoint()));
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_carry_fluxs_reasons() {
    let ns = TestNamespace::new("bucket-fail").await.unwrap();
    install_crd(ns.client()).await;
    let controller = start_controller(ns.client(), ns.name()).await;
    let minio = Minio::start(MinioOptions::default()).await.unwrap();
    minio.make_bucket("private").await.unwrap();
    minio.put("private", "app.yaml", CM.as_bytes()).await.unwrap();
    credentials_secret(&ns, "keys").await;
    apply_secret(&ns, "wrong", serde_json::json!({"accesskey": "nobody", "secretkey": "wrong-secret"})).await;
    apply_secret(&ns, "half", serde_json::json!({"accesskey": ROOT_USER})).await;
    let api = ns.api::<Bucket>();
    let endpoint = minio.endpoint();
    let base = |bucket: &str, secret: Option<&str>| {
        let mut spec = serde_json::json!({"bucketName": bucket, "endpoint": endpoint, "insecure": true});
        if let Some(secret) = secret {
            spec["secretRef"] = serde_json::json!({"name": secret});
        }
        spec
    };
    let fetch_failed = |bucket: &Bucket| condition(bucket, "FetchFailed").unwrap().2;

    // A bucket that does not exist.
    apply(&api, "missing", base("nope", Some("keys"))).await;
    let missing = wait_until(&api, "missing", "Ready", "False", "BucketOperationFailed", |_| true).await;
    assert_eq!(fetch_failed(&missing), "bucket 'nope' not found");
    let note = wait_event(&ns, "missing", "Warning", "BucketOperationFailed").await;
    assert_eq!(note, "bucket 'nope' not found");

    // Wrong credentials, and none at all on a private bucket.
    apply(&api, "wrong", base("private", Some("wrong"))).await;
    let wrong = wait_until(&api, "wrong", "FetchFailed", "True", "BucketOperationFailed", |_| true).await;
    assert_eq!(
        fetch_failed(&wrong),
        "failed to confirm existence of 'private' bucket: The Access Key Id you provided does not exist in our records."
    );
    apply(&api, "anonymous", base("private", None)).await;
    let anonymous = wait_until(&api, "anonymous", "FetchFailed", "True", "BucketOperationFailed", |_| true).await;
    assert_eq!(fetch_failed(&anonymous), "failed to confirm existence of 'private' bucket: Access Denied.");

    // Secrets that are missing or lack their keys.
    apply(&api, "no-secret", base("private", Some("absent"))).await;
    let absent = wait_until(&api, "no-secret", "FetchFailed", "True", "AuthenticationFailed", |_| true).await;
    assert_eq!(
        fetch_failed(&absent),
        format!("failed to get secret '{}/absent': secrets \"absent\" not found", ns.name())
    );
    apply(&api, "half", base("private", Some("half"))).await;
    let half = wait_until(&api, "half", "FetchFailed", "True", "AuthenticationFailed", |_| true).await;
    assert_eq!(fetch_failed(&half), "invalid 'half' secret data: required fields 'accesskey' and 'secretkey'");

    // An endpoint nothing listens on.
    let closed = ferry_testenv::process::free_port().unwrap();
    let mut unreachable = base("private", Some("keys"));
    unreachable["endpoint"] = format!("127.0.0.1:{closed}").into();
    apply(&api, "unreachable", unreachable).await;
    let down = wait_until(&api, "unreachable", "FetchFailed", "True", "BucketOperationFailed", |_| true).await;
    assert!(
        fetch_failed(&down).starts_with("failed to confirm existence of 'private' bucket: HEAD \"http://127.0.0.1:")
    );

    // What Ferry cannot do is refused and stalls.
    let mut gcp = base("private", None);
    gcp["provider"] = "gcp".into();
    apply(&api, "gcp", gcp).await;
    let gcp = wait_until(&api, "gcp", "Stalled", "True", "AuthenticationFailed", |_| true).await;
    assert!(fetch_failed(&gcp).starts_with("provider 'gcp' is not supported by Ferry"));
    let mut azure = base("private", None);
    azure["provider"] = "azure".into();
    apply(&api, "azure", azure).await;
    wait_until(&api, "azure", "Stalled", "True", "AuthenticationFailed", |_| true).await;
    let mut aws = base("private", None);
    aws["provider"] = "aws".into();
    apply(&api, "aws-identity", aws.clone()).await;
    let identity = wait_until(&api, "aws-identity", "Stalled", "True", "AuthenticationFailed", |_| true).await;
    assert!(fetch_failed(&identity).starts_with("AWS authentication failed: "));
    aws["serviceAccountName"] = "app".into();
    apply(&api, "aws-account", aws).await;
    let gate = wait_until(&api, "aws-account", "Stalled", "True", "FeatureGateDisabled", |_| true).await;
    assert!(fetch_failed(&gate).contains("ObjectLevelWorkloadIdentity feature gate"));
    let mut ldap = base("private", None);
    ldap["sts"] = serde_json::json!({"provider": "ldap", "endpoint": "https://sts.example.com"});
    apply(&api, "ldap", ldap).await;
    let sts = wait_until(&api, "ldap", "Stalled", "True", "InvalidSTSConfiguration", |_| true).await;
    assert!(fetch_failed(&sts).starts_with("STS provider 'ldap' is not supported by Ferry"));
    let mut endpoint_with_scheme = base("private", Some("keys"));
    endpoint_with_scheme["endpoint"] = format!("http://{endpoint}").into();
    apply(&api, "scheme", endpoint_with_scheme).await;
    let scheme = wait_until(&api, "scheme", "Stalled", "True", "AuthenticationFailed", |_| true).await;
    assert!(fetch_failed(&scheme).contains("cannot have fully qualified paths"), "{}", fetch_failed(&scheme));

    // Fixing the spec recovers.
    apply(&api, "missing", base("private", Some("keys"))).await;
    let fixed = wait_until(&api, "missing", "Ready", "True", "Succeeded", |_| true).await;
    assert!(condition(&fixed, "FetchFailed").is_none());
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn helm_charts_are_packaged_from_a_bucket() {
    let ns = TestNamespace::new("bucket-chart").await.unwrap();
    install_crd(ns.client()).await;
    let controller = start_controller(ns.client(), ns.name()).await;
    let minio = Minio::start(MinioOptions::default()).await.unwrap();
    minio.make_bucket("charts").await.unwrap();
    minio.put("charts", "charts/app/Chart.yaml", b"apiVersion: v2\nname: app\nversion: 0.4.0\n").await.unwrap();
    minio.put("charts", "charts/app/values.yaml", b"replicas: 1\n").await.unwrap();
    minio.put("charts", "charts/app/templates/cm.yaml", CM.as_bytes()).await.unwrap();
    credentials_secret(&ns, "keys").await;
    let buckets = ns.api::<Bucket>();
    apply(
        &buckets,
        "charts",
        serde_json::json!({"bucketName": "charts", "endpoint": minio.endpoint(), "insecure": true, "secretRef": {"name": "keys"}}),
    )
    .await;
    let source = wait_until(&buckets, "charts", "Ready", "True", "Succeeded", |_| true).await;
    let source_revision = revision(&source);

    let charts: Api<HelmChart> = ns.api();
    for (name, strategy) in [("by-version", "ChartVersion"), ("by-revision", "Revision")] {
        let object = serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart", "metadata": {"name": name},
            "spec": {"chart": "./charts/app", "interval": "10m", "reconcileStrategy": strategy,
                     "sourceRef": {"kind": "Bucket", "name": "charts"}},
        });
        charts.patch(name, &PatchParams::apply("ferry-tests").force(), &Patch::Apply(object)).await.unwrap();
    }
    let by_version = wait_condition(&charts, "by-version", "Ready", "True", "ChartPackageSucceeded").await;
    let status = by_version.status.unwrap();
    let artifact = status.artifact.unwrap();
    assert_eq!(artifact.path, format!("helmchart/{}/by-version/app-0.4.0.tgz", ns.name()));
    assert_eq!(status.observed_source_artifact_revision.as_deref(), Some(source_revision.as_str()));
    let bytes = support::download(&artifact.url).await;
    let loaded = ferry_helm::chart::load::load_archive(&bytes).unwrap();
    assert_eq!(loaded.metadata.version, "0.4.0");

    // Per revision: the first 12 hex of the bucket's digest, as Flux does.
    let by_revision = wait_condition(&charts, "by-revision", "Ready", "True", "ChartPackageSucceeded").await;
    let hex = source_revision.strip_prefix("sha256:").unwrap();
    let version = format!("0.4.0+{}", &hex[..12]);
    assert_eq!(
        by_revision.status.unwrap().artifact.unwrap().path,
        format!("helmchart/{}/by-revision/app-{version}.tgz", ns.name())
    );
    controller.stop().await;
}
