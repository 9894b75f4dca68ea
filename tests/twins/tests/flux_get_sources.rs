//! The flux CLI built under hack/ reads what Ferry's source-controller
//! reconciled: `flux get sources oci|helm|chart` list Ferry's
//! OCIRepository, HelmRepositories (an HTTP chart repository and an OCI
//! registry) and HelmCharts (from both) as Ready, with Ferry's revisions.

use std::time::Duration;

use bytes::Bytes;
use ferry_api_source::{HelmChart, HelmRepository, OCIRepository};
use ferry_oci::{Client, ClientOptions, Descriptor, Manifest, Repository, media_type};
use ferry_source_controller::helmchart::oci::{CHART_CONFIG_MEDIA_TYPE, CHART_LAYER_MEDIA_TYPE};
use ferry_testenv::helmrepo::{ChartRepo, ChartRepoOptions};
use ferry_testenv::registry::{Registry, RegistryOptions};
use ferry_twins_tests::{FIELD_MANAGER, Twins, WAIT};
use kube::api::{Api, Patch, PatchParams};

/// The flux CLI from `$FERRY_FLUX` (set by `cargo xtask test`), on the local control plane.
fn flux() -> std::process::Command {
    let path = std::env::var_os("FERRY_FLUX")
        .expect("FERRY_FLUX is not set: run `cargo xtask test`, or export FERRY_FLUX=$(cargo xtask tools flux)");
    let mut command = std::process::Command::new(path);
    command.env("KUBECONFIG", ferry_testenv::kubeconfig_path().unwrap());
    command
}

/// `flux get sources <kind> -n <namespace>`: the row of `name`, split in columns.
fn row(kind: &str, namespace: &str, name: &str) -> Vec<String> {
    let out = flux().args(["get", "sources", kind, "-n", namespace]).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "flux get sources {kind}: {}", String::from_utf8_lossy(&out.stderr));
    let line = listing
        .lines()
        .find(|l| l.split('\t').next().map(str::trim) == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in:\n{listing}"));
    line.split('\t').map(|c| c.trim().to_string()).collect()
}

/// Pushes a chart archive as Helm stores it to `host/charts/<name>:<version>`.
async fn push_chart(registry: &Registry, name: &str, version: &str, archive: Vec<u8>) {
    let repository = Repository::parse(&format!("{}/charts/{name}", registry.host())).unwrap();
    let client = Client::new(repository, ClientOptions::default()).unwrap();
    let config = Bytes::from(format!(r#"{{"name":"{name}","version":"{version}","apiVersion":"v2"}}"#));
    let archive = Bytes::from(archive);
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        config: Descriptor {
            media_type: CHART_CONFIG_MEDIA_TYPE.into(),
            digest: client.push_blob(config.clone()).await.unwrap(),
            size: config.len() as u64,
            annotations: None,
        },
        layers: vec![Descriptor {
            media_type: CHART_LAYER_MEDIA_TYPE.into(),
            digest: client.push_blob(archive.clone()).await.unwrap(),
            size: archive.len() as u64,
            annotations: None,
        }],
        annotations: None,
    };
    let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    client.push_manifest(version, bytes, media_type::OCI_MANIFEST).await.unwrap();
}

/// Pushes a Flux artifact (one tarball layer) to `host/flux/app:<tag>`; returns its digest.
async fn push_artifact(registry: &Registry, tag: &str) -> String {
    let repository = Repository::parse(&format!("{}/flux/app", registry.host())).unwrap();
    let client = Client::new(repository, ClientOptions::default()).unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let storage = ferry_storage::Storage::new(
        scratch.path(),
        "localhost",
        Duration::ZERO,
        1,
        ferry_storage::DigestAlgorithm::Sha256,
    )
    .unwrap();
    let path = ferry_storage::ArtifactPath::new("push", "cli", "artifact", "a.tar.gz").unwrap();
    storage.archive(&path, src.path(), &ferry_storage::SourceIgnore::none()).unwrap();
    let layer = Bytes::from(std::fs::read(storage.local_path(&path)).unwrap());
    let metadata = ferry_oci::flux::Metadata {
        source: "https://github.com/org/app".into(),
        revision: tag.into(),
        created: String::new(),
    };
    ferry_oci::flux::push(&client, tag, layer, &metadata).await.unwrap()
}

async fn apply<K>(api: &Api<K>, kind: &str, name: &str, spec: serde_json::Value)
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let object = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": kind, "metadata": {"name": name}, "spec": spec,
    });
    api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&object)).await.unwrap();
}

/// The artifact revision of a Ready object.
async fn ready_revision<K>(api: &Api<K>, name: &str) -> Option<String>
where
    K: kube::Resource
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize
        + Send
        + Sync
        + 'static,
{
    let ready = ferry_testenv::wait_for_condition(api, name, "Ready", "True", WAIT).await.unwrap();
    let value = serde_json::to_value(ready).unwrap();
    value["status"]["artifact"]["revision"].as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn flux_get_sources_reads_ferry_oci_helm_and_chart_sources() {
    let twins = Twins::start("twin-flux-get-sources").await.unwrap();
    let ns = twins.name().to_string();
    let registry = Registry::start(RegistryOptions::default()).await.unwrap();
    let charts = ChartRepo::start(ChartRepoOptions::default()).await.unwrap();
    charts.add_chart("redis", "18.6.1").unwrap();
    charts.write_index().unwrap();
    let archive = charts.add_chart("podinfo", "6.5.0").unwrap();
    push_chart(&registry, "podinfo", "6.5.0", archive).await;
    let digest = push_artifact(&registry, "v1.0.0").await;

    let ocis = twins.api::<OCIRepository>();
    let url = format!("oci://{}/flux/app", registry.host());
    apply(&ocis, "OCIRepository", "app", serde_json::json!({"url": url, "interval": "10m", "ref": {"tag": "v1.0.0"}}))
        .await;
    let repos = twins.api::<HelmRepository>();
    apply(&repos, "HelmRepository", "http", serde_json::json!({"url": charts.url(), "interval": "10m"})).await;
    let registry_url = format!("oci://{}/charts", registry.host());
    apply(&repos, "HelmRepository", "oci", serde_json::json!({"url": registry_url, "type": "oci", "interval": "10m"}))
        .await;
    let helmcharts = twins.api::<HelmChart>();
    apply(
        &helmcharts,
        "HelmChart",
        "redis",
        serde_json::json!({"chart": "redis", "interval": "10m", "sourceRef": {"kind": "HelmRepository", "name": "http"}}),
    )
    .await;
    apply(
        &helmcharts,
        "HelmChart",
        "podinfo",
        serde_json::json!({"chart": "podinfo", "version": "6.x", "interval": "10m", "sourceRef": {"kind": "HelmRepository", "name": "oci"}}),
    )
    .await;

    let oci_revision = ready_revision(&ocis, "app").await.unwrap();
    assert_eq!(oci_revision, format!("v1.0.0@{digest}"));
    let index_revision = ready_revision(&repos, "http").await.unwrap();
    assert_eq!(ready_revision(&repos, "oci").await, None);
    assert_eq!(ready_revision(&helmcharts, "redis").await.as_deref(), Some("18.6.1"));
    assert_eq!(ready_revision(&helmcharts, "podinfo").await.as_deref(), Some("6.5.0"));

    // NAME, REVISION, SUSPENDED, READY, MESSAGE. The CLI shortens digests to 8 hex digits,
    // in messages too.
    let oci = row("oci", &ns, "app");
    assert_eq!(oci[1], oci_revision[.."v1.0.0@sha256:".len() + 8]);
    assert_eq!((oci[2].as_str(), oci[3].as_str()), ("False", "True"), "{oci:?}");
    assert_eq!(oci[4], format!("stored artifact for digest '{}'", oci[1]));
    let http = row("helm", &ns, "http");
    assert_eq!(http[1], index_revision[.."sha256:".len() + 8]);
    assert_eq!(http[3], "True", "{http:?}");
    let oci_helm = row("helm", &ns, "oci");
    assert_eq!((oci_helm[1].as_str(), oci_helm[3].as_str()), ("", "True"), "{oci_helm:?}");
    // The CLI words OCI repositories itself (Flux v1.2+ leaves them without status).
    assert_eq!(oci_helm[4], "Helm repository is Ready");
    let redis = row("chart", &ns, "redis");
    assert_eq!((redis[1].as_str(), redis[3].as_str()), ("18.6.1", "True"), "{redis:?}");
    assert_eq!(redis[4], "pulled 'redis' chart with version '18.6.1'");
    let podinfo = row("chart", &ns, "podinfo");
    assert_eq!((podinfo[1].as_str(), podinfo[3].as_str()), ("6.5.0", "True"), "{podinfo:?}");
    assert_eq!(podinfo[4], "pulled 'podinfo' chart with version '6.5.0'");

    twins.stop().await.unwrap();
}
