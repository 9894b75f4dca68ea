//! Clients for other identities, against the local control plane: an
//! impersonated service account gets its own (lack of) permissions, and a
//! kubeconfig Secret yields a working client while exec credentials are refused.

use anyhow::{Context, Result};
use ferry_sdk::client::{ClientFactory, Error};
use ferry_testenv::TestNamespace;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

async fn factory() -> Result<ClientFactory> {
    let path = ferry_testenv::kubeconfig_path()?;
    let kubeconfig = Kubeconfig::read_from(&path)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(ClientFactory::new(config, 50.0, 300))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonates_the_service_account() -> Result<()> {
    let ns = TestNamespace::new("sdk-impersonate").await?;
    let factory = factory().await?;
    // The admin can list ConfigMaps here; the service account has no RBAC at all.
    let admin: Api<ConfigMap> = Api::namespaced(factory.client()?, ns.name());
    admin.list(&ListParams::default()).await?;
    let client = factory.impersonating(ns.name(), "deployer")?;
    let as_sa: Api<ConfigMap> = Api::namespaced(client, ns.name());
    match as_sa.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403);
            assert!(
                status.message.contains(&format!("system:serviceaccount:{}:deployer", ns.name())),
                "{}",
                status.message
            );
        }
        other => panic!("expected 403 for the impersonated service account, got {other:?}"),
    }
    Ok(())
}

/// Every client the SDK builds counts its requests as client-go does, for
/// the "Kubernetes API requests" panel of Flux's dashboard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_count_their_requests() -> Result<()> {
    let ns = TestNamespace::new("sdk-requests").await?;
    let factory = factory().await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(factory.client()?, ns.name());
    configmaps.list(&ListParams::default()).await?;
    assert!(configmaps.get_opt("absent").await?.is_none());
    let text = ferry_sdk::metrics::Metrics::new()?.render();
    let count = |code: &str| {
        text.lines()
            .filter(|l| l.starts_with(&format!("rest_client_requests_total{{code=\"{code}\",host=\"127.0.0.1:")))
            .filter(|l| l.contains("method=\"GET\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    assert!(count("200") >= 1 && count("404") >= 1, "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_clients_from_kubeconfig_secrets() -> Result<()> {
    let ns = TestNamespace::new("sdk-kubeconfig").await?;
    let factory = factory().await?;
    let secrets: Api<Secret> = ns.api();
    let kubeconfig = std::fs::read(ferry_testenv::kubeconfig_path()?)?;
    let secret = |name: &str, key: &str, value: Vec<u8>| Secret {
        metadata: ObjectMeta { name: Some(name.into()), ..ObjectMeta::default() },
        data: Some([(key.to_string(), ByteString(value))].into()),
        ..Secret::default()
    };
    secrets.create(&PostParams::default(), &secret("remote", "value.yaml", kubeconfig)).await?;
    let client = factory.from_kubeconfig_secret(ns.name(), "remote", None, false, false).await?;
    let remote: Api<ConfigMap> = Api::namespaced(client, ns.name());
    remote.list(&ListParams::default()).await.context("the kubeconfig's client works")?;

    let missing = factory.from_kubeconfig_secret(ns.name(), "remote", Some("other"), false, false).await;
    assert!(matches!(missing, Err(Error::SecretKeyMissing { .. })), "{:?}", missing.err());

    let exec = r#"
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ["-c", "touch /tmp/pwned"]}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"#;
    secrets.create(&PostParams::default(), &secret("exec", "value", exec.as_bytes().to_vec())).await?;
    let refused = factory.from_kubeconfig_secret(ns.name(), "exec", None, false, false).await;
    let error = refused.err().context("exec kubeconfig must be refused")?;
    assert!(matches!(error, Error::InvalidKubeconfig { .. }), "{error}");
    assert!(error.to_string().contains("exec"), "{error}");

    // A kubeconfig that turns TLS verification off (and so carries no CA):
    // verified anyway unless allowed, so the self-signed server is refused.
    let mut insecure = Kubeconfig::read_from(ferry_testenv::kubeconfig_path()?)?;
    for cluster in &mut insecure.clusters {
        if let Some(cluster) = cluster.cluster.as_mut() {
            cluster.certificate_authority_data = None;
            cluster.insecure_skip_tls_verify = Some(true);
        }
    }
    // JSON is YAML.
    secrets.create(&PostParams::default(), &secret("insecure", "value", serde_json::to_vec(&insecure)?)).await?;
    let verified = factory.from_kubeconfig_secret(ns.name(), "insecure", None, false, false).await?;
    let refused = Api::<ConfigMap>::namespaced(verified, ns.name()).list(&ListParams::default()).await;
    assert!(refused.is_err(), "TLS must be verified without --insecure-kubeconfig-tls");
    let trusting = factory.from_kubeconfig_secret(ns.name(), "insecure", None, false, true).await?;
    Api::<ConfigMap>::namespaced(trusting, ns.name()).list(&ListParams::default()).await?;

    secrets.create(&PostParams::default(), &secret("garbage", "value", b": not yaml [".to_vec())).await?;
    let garbage = factory.from_kubeconfig_secret(ns.name(), "garbage", None, false, false).await;
    assert!(matches!(garbage, Err(Error::InvalidKubeconfig { .. })));
    Ok(())
}
