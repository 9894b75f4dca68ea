//! The runtime around controllers, on the local control plane: the queue
//! depth it reports, several controllers in one process (all-in-one), and
//! one controller identity running several kinds.

#[allow(dead_code)]
#[path = "../examples/configmap_mirror/mirror.rs"]
mod mirror;
#[allow(dead_code)]
mod support {
    pub mod gate;
}

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use ferry_sdk::reconcile::{Runtime, Settings};
use ferry_testenv::{TestNamespace, wait_for, wait_for_condition};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{CustomResourceExt, Resource};
use mirror::{Mirror, MirrorSpec};
use support::gate::{self, Gate, GateReconciler};
use tokio::sync::{oneshot, watch};

const TIMEOUT: Duration = Duration::from_secs(30);

fn init_logs() {
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("info,ferry_sdk=debug").try_init();
}

fn settings(ns: &TestNamespace, name: &str) -> Settings {
    Settings {
        namespace: Some(ns.name().to_string()),
        min_retry_delay: Duration::from_millis(200),
        max_retry_delay: Duration::from_secs(5),
        shutdown_timeout: Duration::from_secs(10),
        ..Settings::new(name)
    }
}

async fn scrape(addr: SocketAddr) -> Result<String> {
    let http = ferry_sdk::http::client(Duration::from_secs(5))?;
    Ok(http.get(format!("http://{addr}/metrics")).send().await?.text().await?)
}

/// The value of the series `name{kind="<kind>"}`, if present.
fn gauge(text: &str, name: &str, kind: &str) -> Option<i64> {
    let prefix = format!("{name}{{kind=\"{kind}\"}} ");
    text.lines().find_map(|line| line.strip_prefix(&prefix)?.trim().parse().ok())
}

/// Scrapes until `queue depth` and `in flight` of `kind` are as expected.
async fn wait_for_queue(addr: SocketAddr, kind: &str, depth: i64, in_flight: i64) -> Result<()> {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        text = scrape(addr).await?;
        if gauge(&text, "ferry_reconcile_queue_depth", kind) == Some(depth)
            && gauge(&text, "ferry_reconcile_in_flight", kind).unwrap_or(0) == in_flight
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("queue of {kind} never reached depth {depth} with {in_flight} in flight:\n{text}")
}

async fn delete_all<K>(api: &Api<K>) -> Result<()>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    api.delete_collection(&DeleteParams::default(), &ListParams::default()).await?;
    let gone = async {
        while !api.list(&ListParams::default()).await?.items.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok::<_, anyhow::Error>(())
    };
    tokio::time::timeout(TIMEOUT, gone).await.context("objects were not cleaned up")?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_depth_counts_objects_waiting_and_returns_to_zero() -> Result<()> {
    init_logs();
    let ns = TestNamespace::new("sdk-queue").await?;
    gate::install_crd(&ns.client(), Gate::crd()).await?;
    let (open_tx, open) = watch::channel(false);
    let mut runtime = Runtime::new(ns.client(), Settings { concurrency: 1, ..settings(&ns, gate::CONTROLLER_NAME) })?
        .with_metrics_addr(Some("127.0.0.1:0".parse()?));
    let metrics = runtime.bind().await?.metrics.context("metrics bound")?;
    runtime.manager(gate::CONTROLLER_NAME).add(GateReconciler { open }).start()?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(runtime.wait(async move {
        let _ = stop_rx.await;
    }));

    wait_for_queue(metrics, "Gate", 0, 0).await?;
    let gates: Api<Gate> = ns.api();
    for name in ["g1", "g2", "g3"] {
        gates.create(&PostParams::default(), &gate::gate(name)).await?;
    }
    // One reconcile runs (--concurrent 1) and waits at the gate; the other two wait in the queue.
    wait_for_queue(metrics, "Gate", 2, 1).await?;

    open_tx.send_replace(true);
    for name in ["g1", "g2", "g3"] {
        wait_for_condition(&gates, name, "Ready", "True", TIMEOUT).await?;
    }
    // Idle again: nothing waits and nothing runs (Gates have no interval).
    wait_for_queue(metrics, "Gate", 0, 0).await?;
    let text = scrape(metrics).await?;
    assert!(text.contains("ferry_reconcile_total{kind=\"Gate\",result=\"success\"}"), "{text}");

    delete_all(&gates).await?;
    wait_for_queue(metrics, "Gate", 0, 0).await?;
    let _ = stop_tx.send(());
    tokio::time::timeout(TIMEOUT, task).await.context("runtime did not stop")???;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_runtime_runs_two_controllers() -> Result<()> {
    init_logs();
    let ns = TestNamespace::new("sdk-allinone").await?;
    let client = ns.client();
    gate::install_crd(&client, Gate::crd()).await?;
    gate::install_crd(&client, Mirror::crd()).await?;
    let (_open_tx, open) = watch::channel(true);
    let localhost: SocketAddr = "127.0.0.1:0".parse()?;
    let leases = ferry_sdk::leader::Config {
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(3),
        retry_period: Duration::from_millis(500),
        ..ferry_sdk::leader::Config::new(ns.name(), "mirror-controller-leader-election")
    };
    let mut runtime = Runtime::new(client.clone(), settings(&ns, mirror::CONTROLLER_NAME))?
        .with_metrics_addr(Some(localhost))
        .with_health_addr(Some(localhost))
        .with_leader_election(Some(leases));
    let bound = runtime.bind().await?;
    let (metrics, health) = (bound.metrics.context("metrics")?, bound.health.context("health")?);
    runtime.manager(mirror::CONTROLLER_NAME).add_with(mirror::MirrorReconciler, mirror::watches).start()?;
    runtime.manager(gate::CONTROLLER_NAME).add(GateReconciler { open: open.clone() }).start()?;
    let duplicate = runtime.manager(gate::CONTROLLER_NAME).add(GateReconciler { open }).start();
    assert!(
        matches!(duplicate, Err(ferry_sdk::reconcile::Error::DuplicateController(ref name)) if name == "gate-controller"),
        "{:?}",
        duplicate.err()
    );
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(runtime.wait(async move {
        let _ = stop_rx.await;
    }));

    let http = ferry_sdk::http::client(Duration::from_secs(5))?;
    let ready = async {
        while http.get(format!("http://{health}/readyz")).send().await?.status() != 200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok::<_, anyhow::Error>(())
    };
    tokio::time::timeout(TIMEOUT, ready).await.context("/readyz never turned ready")??;

    let configmaps: Api<ConfigMap> = ns.api();
    let mirrors: Api<Mirror> = ns.api();
    let gates: Api<Gate> = ns.api();
    let source = ConfigMap {
        metadata: ObjectMeta { name: Some("src".into()), ..ObjectMeta::default() },
        data: Some([("k".to_string(), "v".to_string())].into()),
        ..ConfigMap::default()
    };
    configmaps.create(&PostParams::default(), &source).await?;
    let spec = MirrorSpec { source: "src".into(), target: "dst".into(), interval: "10m".into(), suspend: false };
    mirrors.create(&PostParams::default(), &Mirror::new("m1", spec)).await?;
    gates.create(&PostParams::default(), &gate::gate("g1")).await?;
    let mirrored = wait_for_condition(&mirrors, "m1", "Ready", "True", TIMEOUT).await?;
    let gated = wait_for_condition(&gates, "g1", "Ready", "True", TIMEOUT).await?;
    wait_for(&configmaps, "dst", TIMEOUT, |copy| copy.data == source.data).await?;

    // Each controller writes status under its own field manager.
    let managers = |fields: &Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry>>| {
        fields
            .iter()
            .flatten()
            .filter(|entry| entry.subresource.as_deref() == Some("status"))
            .filter_map(|entry| entry.manager.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(managers(&mirrored.metadata.managed_fields), ["mirror-controller"]);
    assert_eq!(managers(&gated.metadata.managed_fields), ["gate-controller"]);

    // One Lease per controller, as their Flux twins would hold.
    let lease_api: Api<Lease> = ns.api();
    for name in ["mirror-controller-leader-election", "gate-controller-leader-election"] {
        let lease = lease_api.get(name).await?;
        assert!(lease.spec.and_then(|s| s.holder_identity).is_some(), "{name} has a holder");
    }

    // One /metrics, labelled by kind.
    let mut text = String::new();
    for _ in 0..50 {
        text = scrape(metrics).await?;
        if text.contains("ferry_reconcile_total{kind=\"Gate\",result=\"success\"}")
            && text.contains("ferry_reconcile_total{kind=\"Mirror\",result=\"success\"}")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for kind in ["Mirror", "Gate"] {
        assert!(text.contains(&format!("ferry_reconcile_total{{kind=\"{kind}\",result=\"success\"}}")), "{text}");
        assert!(text.contains(&format!("gotk_reconcile_duration_seconds_count{{kind=\"{kind}\"")), "{text}");
        assert!(text.contains(&format!("ferry_reconcile_queue_depth{{kind=\"{kind}\"}}")), "{text}");
    }

    delete_all(&mirrors).await?;
    delete_all(&gates).await?;
    let _ = stop_tx.send(());
    tokio::time::timeout(TIMEOUT, task).await.context("runtime did not stop both controllers")???;
    // Both released their Leases, and the servers are down.
    for name in ["mirror-controller-leader-election", "gate-controller-leader-election"] {
        let holder = lease_api.get(name).await?.spec.and_then(|s| s.holder_identity);
        assert!(holder.as_deref().is_none_or(str::is_empty), "{name} still held by {holder:?}");
    }
    assert!(scrape(metrics).await.is_err(), "/metrics still served after shutdown");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_identity_runs_two_kinds() -> Result<()> {
    init_logs();
    let ns = TestNamespace::new("sdk-manager").await?;
    let client = ns.client();
    gate::install_crd(&client, Gate::crd()).await?;
    gate::install_crd(&client, Mirror::crd()).await?;
    let (_open_tx, open) = watch::channel(true);
    let localhost: SocketAddr = "127.0.0.1:0".parse()?;
    let identity = "twin-controller";
    let leases = ferry_sdk::leader::Config {
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(3),
        retry_period: Duration::from_millis(500),
        ..ferry_sdk::leader::Config::new(ns.name(), &format!("{identity}-leader-election"))
    };
    let mut runtime = Runtime::new(client.clone(), settings(&ns, identity))?
        .with_metrics_addr(Some(localhost))
        .with_leader_election(Some(leases));
    let metrics = runtime.bind().await?.metrics.context("metrics")?;
    let twice = runtime
        .manager(identity)
        .add(GateReconciler { open: open.clone() })
        .add(GateReconciler { open: open.clone() })
        .start();
    assert!(
        matches!(twice, Err(ferry_sdk::reconcile::Error::DuplicateKind { ref kind, .. }) if kind == "Gate"),
        "{twice:?}"
    );
    runtime
        .manager(identity)
        .add_with(mirror::MirrorReconciler, mirror::watches)
        .add(GateReconciler { open })
        .start()?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(runtime.wait(async move {
        let _ = stop_rx.await;
    }));

    let configmaps: Api<ConfigMap> = ns.api();
    let mirrors: Api<Mirror> = ns.api();
    let gates: Api<Gate> = ns.api();
    let source = ConfigMap {
        metadata: ObjectMeta { name: Some("src".into()), ..ObjectMeta::default() },
        data: Some([("k".to_string(), "v".to_string())].into()),
        ..ConfigMap::default()
    };
    configmaps.create(&PostParams::default(), &source).await?;
    let spec = MirrorSpec { source: "src".into(), target: "dst".into(), interval: "10m".into(), suspend: false };
    mirrors.create(&PostParams::default(), &Mirror::new("m1", spec)).await?;
    gates.create(&PostParams::default(), &gate::gate("g1")).await?;
    let mirrored = wait_for_condition(&mirrors, "m1", "Ready", "True", TIMEOUT).await?;
    let gated = wait_for_condition(&gates, "g1", "Ready", "True", TIMEOUT).await?;

    // One field manager for both kinds' status.
    let managers = |fields: &Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry>>| {
        fields
            .iter()
            .flatten()
            .filter(|entry| entry.subresource.as_deref() == Some("status"))
            .filter_map(|entry| entry.manager.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(managers(&mirrored.metadata.managed_fields), [identity]);
    assert_eq!(managers(&gated.metadata.managed_fields), [identity]);

    // One Lease for the identity, none per kind.
    let lease_api: Api<Lease> = ns.api();
    let leases: Vec<String> = lease_api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|l| l.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(leases, [format!("{identity}-leader-election")]);

    // One /metrics, each kind under its own label.
    let mut text = String::new();
    for _ in 0..50 {
        text = scrape(metrics).await?;
        if text.contains("controller_runtime_reconcile_total{controller=\"gate\"")
            && text.contains("controller_runtime_reconcile_total{controller=\"mirror\"")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (kind, controller) in [("Mirror", "mirror"), ("Gate", "gate")] {
        assert!(text.contains(&format!("ferry_reconcile_total{{kind=\"{kind}\",result=\"success\"}}")), "{text}");
        assert!(
            text.contains(&format!("workqueue_depth{{controller=\"{controller}\",name=\"{controller}\"}}")),
            "{text}"
        );
    }

    delete_all(&mirrors).await?;
    delete_all(&gates).await?;
    let _ = stop_tx.send(());
    tokio::time::timeout(TIMEOUT, task).await.context("runtime did not stop")???;
    let holder = lease_api.get(&format!("{identity}-leader-election")).await?.spec.and_then(|s| s.holder_identity);
    assert!(holder.as_deref().is_none_or(str::is_empty), "lease still held by {holder:?}");
    Ok(())
}

/// `Absent`, a kind whose CRD no test installs: its cache never syncs.
mod absent {
    use std::time::Duration;

    use ferry_sdk::deps::kube::CustomResource;
    use ferry_sdk::reconcile::Context;
    use ferry_sdk::{FluxObject, Outcome, Reconciler};
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    use super::gate::{GateDropped, GateStatus};

    /// Nothing to say.
    #[derive(CustomResource, Debug, Clone, Serialize, Deserialize, JsonSchema, Default)]
    #[kube(group = "test.ferry.dev", version = "v1", kind = "Absent", namespaced, status = "GateStatus")]
    pub struct AbsentSpec {}

    impl FluxObject for Absent {
        type Status = GateStatus;
        fn status(&self) -> Option<&GateStatus> {
            self.status.as_ref()
        }
        fn status_mut(&mut self) -> &mut GateStatus {
            self.status.get_or_insert_with(GateStatus::default)
        }
        fn interval(&self) -> Option<Duration> {
            None
        }
    }

    /// Never called: there is no Absent to reconcile.
    pub struct AbsentReconciler;

    impl Reconciler for AbsentReconciler {
        type Object = Absent;
        type Error = GateDropped;
        async fn reconcile(&self, _: &Absent, _: &mut GateStatus, _: &Context) -> Result<Outcome, GateDropped> {
            Ok(Outcome::ready("reconciled"))
        }
        async fn cleanup(&self, _: &Absent, _: &Context) -> Result<(), GateDropped> {
            Ok(())
        }
    }
}

/// A kind whose CRD is missing never syncs its cache, so nothing of it can
/// be in flight: shutdown must not wait `--graceful-shutdown-timeout` for it
/// (kube-runtime keeps its runner held past shutdown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_on_a_kind_that_never_synced() -> Result<()> {
    init_logs();
    let ns = TestNamespace::new("sdk-unsynced").await?;
    let long = Settings { shutdown_timeout: Duration::from_secs(600), ..settings(&ns, "absent-controller") };
    let mut runtime = Runtime::new(ns.client(), long)?;
    runtime.manager("absent-controller").add(absent::AbsentReconciler).start()?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(runtime.wait(async move {
        let _ = stop_rx.await;
    }));
    // Long enough for the watch to fail against the missing CRD at least once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!task.is_finished(), "the runtime stopped by itself");
    let _ = stop_tx.send(());
    tokio::time::timeout(TIMEOUT, task).await.context("shutdown waited on a cache that never synced")???;
    Ok(())
}
