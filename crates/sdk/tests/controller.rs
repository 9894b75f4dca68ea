//! The example Mirror controller, run in-process against the local control
//! plane: conditions, requestedAt, suspend, finalizer cleanup, backoff,
//! events to a webhook, metrics and probes, and leader election.

#[allow(dead_code)]
#[path = "../examples/configmap_mirror/mirror.rs"]
mod mirror;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use axum::Json;
use axum::extract::State;
use axum::routing::post;
use ferry_sdk::events::Webhook;
use ferry_sdk::leader;
use ferry_sdk::reconcile::Settings;
use ferry_sdk::reconcile::{Bound, Controller, Runtime};
use ferry_testenv::{TestNamespace, condition_status, wait_for, wait_for_condition};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, CustomResourceExt};
use mirror::{Mirror, MirrorSpec};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const TIMEOUT: Duration = Duration::from_secs(30);

/// How a test runs the Mirror controller (`main.rs` takes it from flags).
pub struct Options {
    /// Harness settings (scope, timings, names).
    pub settings: Settings,
    /// `--events-addr`, if any.
    pub events_addr: Option<String>,
    /// Where to serve `/metrics`, if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    /// Where to serve `/healthz` and `/readyz`, if anywhere.
    pub health_addr: Option<SocketAddr>,
    /// The Lease to hold, when leader election is on.
    pub leader_election: Option<leader::Config>,
}

/// Runs the Mirror controller until `shutdown` resolves. `bound` is told
/// the servers' addresses once they listen.
pub async fn run(
    client: Client,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
    bound: Option<tokio::sync::oneshot::Sender<Bound>>,
) -> anyhow::Result<()> {
    run_with(client, options, mirror::watches, shutdown, bound).await
}

/// Like [`run`], with the controller's watches set by `watches`.
pub async fn run_with(
    client: Client,
    options: Options,
    watches: impl FnOnce(Controller<mirror::MirrorReconciler>) -> Controller<mirror::MirrorReconciler>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    bound: Option<tokio::sync::oneshot::Sender<Bound>>,
) -> anyhow::Result<()> {
    let webhook = options.events_addr.as_deref().map(Webhook::new).transpose()?;
    let mut runtime = Runtime::new(client, options.settings)?
        .with_metrics_addr(options.metrics_addr)
        .with_health_addr(options.health_addr)
        .with_events_webhook(webhook)
        .with_leader_election(options.leader_election);
    let addresses = runtime.bind().await?;
    if let Some(bound) = bound {
        let _ = bound.send(addresses);
    }
    runtime.run(mirror::MirrorReconciler, watches, shutdown).await?;
    Ok(())
}

/// Installs the Mirror CRD (idempotently: all test binaries share it).
async fn install_crd(client: &Client) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = Mirror::crd();
    let name = crd.metadata.name.clone().context("crd has a name")?;
    crds.patch(&name, &PatchParams::apply("ferry-sdk-tests").force(), &Patch::Apply(&crd)).await?;
    wait_for(&crds, &name, TIMEOUT, |crd| {
        crd.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|conditions| conditions.iter().any(|c| c.type_ == "Established" && c.status == "True"))
    })
    .await?;
    Ok(())
}

struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
    bound: Bound,
}

/// Deletes the test's Mirrors while their controller still runs (their
/// finalizers would otherwise keep the namespace from going), then stops it.
async fn finish(ns: &TestNamespace, controller: Running) -> Result<()> {
    delete_mirrors(ns).await?;
    controller.stop().await
}

async fn delete_mirrors(ns: &TestNamespace) -> Result<()> {
    let mirrors: Api<Mirror> = ns.api();
    mirrors.delete_collection(&DeleteParams::default(), &ListParams::default()).await?;
    let gone = async {
        while !mirrors.list(&ListParams::default()).await?.items.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok::<_, anyhow::Error>(())
    };
    tokio::time::timeout(TIMEOUT, gone).await.context("mirrors were not cleaned up")?
}

impl Running {
    async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(TIMEOUT, self.task).await.context("controller did not stop")??
    }
}

fn settings(ns: &TestNamespace) -> Settings {
    Settings {
        namespace: Some(ns.name().to_string()),
        min_retry_delay: Duration::from_millis(200),
        max_retry_delay: Duration::from_secs(5),
        shutdown_timeout: Duration::from_secs(10),
        ..Settings::new(mirror::CONTROLLER_NAME)
    }
}

async fn start(ns: &TestNamespace, options: Options) -> Result<Running> {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("info,ferry_sdk=debug,kube_runtime=debug")
        .try_init();
    install_crd(&ns.client()).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let (bound_tx, bound_rx) = oneshot::channel();
    let client = ns.client();
    let task = tokio::spawn(async move {
        run(
            client,
            options,
            async move {
                let why = stopped.await;
                tracing::info!(?why, "test stop");
            },
            Some(bound_tx),
        )
        .await
    });
    let bound = bound_rx.await.context("controller exited before binding")?;
    Ok(Running { stop: Some(stop), task, bound })
}

fn options(ns: &TestNamespace) -> Options {
    Options { settings: settings(ns), events_addr: None, metrics_addr: None, health_addr: None, leader_election: None }
}

fn mirror(name: &str, source: &str, target: &str) -> Mirror {
    Mirror::new(
        name,
        MirrorSpec { source: source.into(), target: target.into(), interval: "10m".into(), suspend: false },
    )
}

fn configmap(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta { name: Some(name.into()), ..ObjectMeta::default() },
        data: Some(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        ..ConfigMap::default()
    }
}

fn condition(object: &Mirror, type_: &str) -> Option<(String, String)> {
    let c = object.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)?;
    Some((c.status.as_str().to_string(), c.reason.clone()))
}

async fn request_reconcile(api: &Api<Mirror>, name: &str, token: &str) -> Result<()> {
    let patch = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciles_honours_requested_at_and_suspend_and_cleans_up() -> Result<()> {
    let ns = TestNamespace::new("sdk-mirror").await?;
    let controller = start(&ns, options(&ns)).await?;
    let configmaps: Api<ConfigMap> = ns.api();
    let mirrors: Api<Mirror> = ns.api();
    configmaps.create(&PostParams::default(), &configmap("app", &[("color", "blue")])).await?;
    mirrors.create(&PostParams::default(), &mirror("m1", "app", "app-copy")).await?;

    let ready = wait_for_condition(&mirrors, "m1", "Ready", "True", TIMEOUT).await?;
    let status = ready.status.clone().context("status")?;
    assert_eq!(condition(&ready, "Ready").map(|c| c.1).as_deref(), Some("Succeeded"));
    assert_eq!(status.observed_generation, ready.metadata.generation);
    assert!(condition(&ready, "Reconciling").is_none() && condition(&ready, "Stalled").is_none());
    assert!(ready.metadata.finalizers.unwrap_or_default().contains(&"finalizers.fluxcd.io".to_string()));
    let copy = configmaps.get("app-copy").await?;
    assert_eq!(copy.data.unwrap_or_default().get("color").map(String::as_str), Some("blue"));

    // The status is written with server-side apply under the controller's name.
    let managers: Vec<(String, String)> = ready
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .map(|m| (m.manager.unwrap_or_default(), m.operation.unwrap_or_default()))
        .collect();
    assert_eq!(managers, vec![(mirror::CONTROLLER_NAME.to_string(), "Apply".to_string())]);

    // requestedAt is handled and echoed; the condition keeps its transition time.
    let transition = ready.status.as_ref().and_then(|s| s.conditions.first()).map(|c| c.last_transition_time.clone());
    request_reconcile(&mirrors, "m1", "first").await?;
    let handled = wait_for(&mirrors, "m1", TIMEOUT, |m| {
        m.status.as_ref().and_then(|s| s.last_handled_reconcile_at.as_deref()) == Some("first")
    })
    .await?;
    let ready_again = handled.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready")).cloned();
    assert_eq!(ready_again.map(|c| c.last_transition_time), transition);

    // Suspended: a new request is not handled, until resumed.
    mirrors.patch("m1", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"suspend": true}}))).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    request_reconcile(&mirrors, "m1", "while-suspended").await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let suspended = mirrors.get("m1").await?;
    assert_eq!(suspended.status.and_then(|s| s.last_handled_reconcile_at).as_deref(), Some("first"));
    mirrors.patch("m1", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"suspend": false}}))).await?;
    wait_for(&mirrors, "m1", TIMEOUT, |m| {
        m.status.as_ref().and_then(|s| s.last_handled_reconcile_at.as_deref()) == Some("while-suspended")
    })
    .await?;

    // Deleting runs the cleanup (the copy goes) and then releases the object.
    mirrors.delete("m1", &DeleteParams::default()).await?;
    let gone = async {
        loop {
            if mirrors.get_opt("m1").await?.is_none() && configmaps.get_opt("app-copy").await?.is_none() {
                return Ok::<_, anyhow::Error>(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(TIMEOUT, gone).await.context("mirror and copy were not deleted")??;
    assert!(configmaps.get_opt("app").await?.is_some(), "the source stays");
    finish(&ns, controller).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backs_off_on_errors_visibly_and_stalls_on_bad_spec() -> Result<()> {
    let ns = TestNamespace::new("sdk-backoff").await?;
    let controller = start(&ns, options(&ns)).await?;
    let configmaps: Api<ConfigMap> = ns.api();
    let mirrors: Api<Mirror> = ns.api();
    mirrors.create(&PostParams::default(), &mirror("m2", "missing", "copy")).await?;

    let failing = wait_for(&mirrors, "m2", TIMEOUT, |m| {
        condition(m, "Ready") == Some(("False".into(), "SourceNotFound".into()))
            && condition(m, "Reconciling") == Some(("True".into(), "ProgressingWithRetry".into()))
    })
    .await?;
    assert_eq!(failing.status.and_then(|s| s.observed_generation), None, "not reconciled yet");

    // Retries with backoff show as a Warning event series.
    let events: Api<Event> = ns.api();
    let warnings = async {
        loop {
            let list = events.list(&ListParams::default()).await?;
            if let Some(event) = list.items.iter().find(|e| {
                e.reason.as_deref() == Some("SourceNotFound")
                    && e.type_.as_deref() == Some("Warning")
                    && e.count.is_some_and(|count| count >= 2)
            }) {
                return Ok::<_, anyhow::Error>(event.clone());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let warning = tokio::time::timeout(TIMEOUT, warnings).await.context("no repeated warning event")??;
    assert_eq!(warning.source.and_then(|s| s.component).as_deref(), Some(mirror::CONTROLLER_NAME));
    assert!(warning.message.unwrap_or_default().contains("source ConfigMap missing not found"));

    // Once the source appears, the next retry succeeds (the backoff is short here).
    configmaps.create(&PostParams::default(), &configmap("missing", &[("a", "b")])).await?;
    wait_for_condition(&mirrors, "m2", "Ready", "True", TIMEOUT).await?;

    // An impossible spec stalls: no retries until the spec changes.
    mirrors.create(&PostParams::default(), &mirror("m3", "same", "same")).await?;
    let stalled =
        wait_for(&mirrors, "m3", TIMEOUT, |m| condition(m, "Stalled") == Some(("True".into(), "InvalidSpec".into())))
            .await?;
    assert_eq!(condition(&stalled, "Ready"), Some(("False".into(), "InvalidSpec".into())));
    assert!(condition(&stalled, "Reconciling").is_none());
    assert_eq!(stalled.status.and_then(|s| s.observed_generation), stalled.metadata.generation);
    finish(&ns, controller).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_configmaps_trigger_reconciles_of_their_users() -> Result<()> {
    let ns = TestNamespace::new("sdk-watch").await?;
    let controller = start(&ns, options(&ns)).await?;
    let configmaps: Api<ConfigMap> = ns.api();
    let mirrors: Api<Mirror> = ns.api();
    let mut source = configmap("watched", &[("v", "1")]);
    source.metadata.labels = Some(BTreeMap::from([("reconcile.fluxcd.io/watch".into(), "Enabled".into())]));
    configmaps.create(&PostParams::default(), &source).await?;
    mirrors.create(&PostParams::default(), &mirror("m7", "watched", "watched-copy")).await?;
    wait_for_condition(&mirrors, "m7", "Ready", "True", TIMEOUT).await?;

    // No requestedAt, no spec change, a 10m interval: only the watch can bring the change over.
    let patch = json!({"data": {"v": "2"}});
    configmaps.patch("watched", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let copied = wait_for(&configmaps, "watched-copy", TIMEOUT, |copy| {
        copy.data.as_ref().and_then(|d| d.get("v")).map(String::as_str) == Some("2")
    })
    .await?;
    assert_eq!(copied.metadata.labels.unwrap_or_default().get(mirror::OWNER_LABEL).map(String::as_str), Some("m7"));
    finish(&ns, controller).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_follow_their_sources_revision() -> Result<()> {
    let ns = TestNamespace::new("sdk-sources").await?;
    install_crd(&ns.client()).await?;
    // Here the source ConfigMap stands in for a source kind, and its
    // `revision` annotation for `status.artifact.revision`. It is not labelled.
    let (stop, stopped) = oneshot::channel::<()>();
    let client = ns.client();
    let namespace = ns.name().to_string();
    let options = options(&ns);
    let task = tokio::spawn(async move {
        let watches = move |controller: Controller<mirror::MirrorReconciler>| {
            controller.watch_sources(
                move |m: &Mirror| vec![ObjectRef::<ConfigMap>::new(&m.spec.source).within(&namespace)],
                |source: &ConfigMap| source.metadata.annotations.as_ref()?.get("revision").cloned(),
            )
        };
        let shutdown = async move {
            let _ = stopped.await;
        };
        run_with(client, options, watches, shutdown, None).await
    });
    let controller = Running { stop: Some(stop), task, bound: Bound::default() };

    let configmaps: Api<ConfigMap> = ns.api();
    let mirrors: Api<Mirror> = ns.api();
    let mut source = configmap("artifact", &[("v", "1")]);
    source.metadata.annotations = Some(BTreeMap::from([("revision".into(), "main@sha1:1".into())]));
    configmaps.create(&PostParams::default(), &source).await?;
    mirrors.create(&PostParams::default(), &mirror("m8", "artifact", "artifact-copy")).await?;
    wait_for_condition(&mirrors, "m8", "Ready", "True", TIMEOUT).await?;
    // Adding the finalizer triggers one more reconcile of its own: let it pass.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let copy_says = |want: &'static str| {
        move |copy: &ConfigMap| copy.data.as_ref().and_then(|d| d.get("v")).map(String::as_str) == Some(want)
    };

    // A change that keeps the revision does not reach the consumer...
    configmaps.patch("artifact", &PatchParams::default(), &Patch::Merge(&json!({"data": {"v": "2"}}))).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let copy = configmaps.get("artifact-copy").await?;
    assert!(copy_says("1")(&copy), "reconciled without a new revision: {:?}", copy.data);

    // ...a new revision does.
    let patch = json!({"metadata": {"annotations": {"revision": "main@sha1:3"}}, "data": {"v": "3"}});
    configmaps.patch("artifact", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    wait_for(&configmaps, "artifact-copy", TIMEOUT, copy_says("3")).await?;
    finish(&ns, controller).await
}

#[derive(Clone, Default)]
struct Sink {
    payloads: Arc<Mutex<Vec<Value>>>,
    status: u16,
}

async fn receive(State(sink): State<Sink>, Json(payload): Json<Value>) -> axum::http::StatusCode {
    sink.payloads.lock().unwrap().push(payload);
    axum::http::StatusCode::from_u16(sink.status).unwrap()
}

async fn start_sink(status: u16) -> Result<(SocketAddr, Sink)> {
    let sink = Sink { payloads: Arc::default(), status };
    let router = axum::Router::new().route("/", post(receive)).with_state(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((addr, sink))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_webhook_in_fluxs_shape() -> Result<()> {
    let ns = TestNamespace::new("sdk-events").await?;
    let (addr, sink) = start_sink(200).await?;
    let controller = start(&ns, Options { events_addr: Some(format!("http://{addr}/")), ..options(&ns) }).await?;
    let configmaps: Api<ConfigMap> = ns.api();
    let mirrors: Api<Mirror> = ns.api();
    configmaps.create(&PostParams::default(), &configmap("src", &[("k", "v")])).await?;
    let mut object = mirror("m4", "src", "dst");
    object.metadata.annotations = Some(BTreeMap::from([("event.toolkit.fluxcd.io/team".into(), "platform".into())]));
    mirrors.create(&PostParams::default(), &object).await?;
    let ready = wait_for_condition(&mirrors, "m4", "Ready", "True", TIMEOUT).await?;

    let received = async {
        loop {
            if let Some(p) = sink.payloads.lock().unwrap().iter().find(|p| p["reason"] == "Succeeded").cloned() {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let payload = tokio::time::timeout(TIMEOUT, received).await.context("no event reached the sink")?;
    assert_eq!(payload["involvedObject"]["kind"], "Mirror");
    assert_eq!(payload["involvedObject"]["apiVersion"], "example.ferry.dev/v1");
    assert_eq!(payload["involvedObject"]["name"], "m4");
    assert_eq!(payload["involvedObject"]["namespace"], ns.name());
    assert_eq!(payload["involvedObject"]["uid"], json!(ready.metadata.uid));
    assert_eq!(payload["severity"], "info");
    assert_eq!(payload["message"], "mirrored ConfigMap src to dst");
    assert_eq!(payload["reportingController"], mirror::CONTROLLER_NAME);
    assert!(payload["reportingInstance"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(payload["timestamp"].as_str().is_some_and(|s| s.ends_with('Z')));
    let source = configmaps.get("src").await?;
    assert_eq!(payload["metadata"]["example.ferry.dev/revision"], json!(source.metadata.resource_version));
    assert_eq!(payload["metadata"]["event.toolkit.fluxcd.io/team"], "platform");
    finish(&ns, controller).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_answer_429_counts_as_delivered() -> Result<()> {
    let (addr, sink) = start_sink(429).await?;
    let webhook =
        ferry_sdk::events::Webhook::new(&format!("http://{addr}/"))?.with_retries(3, Duration::from_millis(50));
    let object = configmap("x", &[]);
    let mut object = object;
    object.metadata.namespace = Some("default".into());
    let payload = ferry_sdk::events::payload(
        &object,
        ferry_sdk::events::Severity::Error,
        "Failed",
        "boom",
        &BTreeMap::new(),
        "test",
        "test-0",
    );
    webhook.post(&payload).await?;
    assert_eq!(sink.payloads.lock().unwrap().len(), 1, "a 429 is not retried");

    // A 500 is retried, and the error says so once retries run out.
    let (addr, sink) = start_sink(500).await?;
    let webhook =
        ferry_sdk::events::Webhook::new(&format!("http://{addr}/"))?.with_retries(2, Duration::from_millis(20));
    let error = webhook.post(&payload).await.unwrap_err();
    assert!(error.to_string().contains("500"), "{error}");
    assert_eq!(sink.payloads.lock().unwrap().len(), 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_histogram_and_readyz_turns_ready() -> Result<()> {
    let ns = TestNamespace::new("sdk-metrics").await?;
    let localhost: SocketAddr = "127.0.0.1:0".parse()?;
    let controller =
        start(&ns, Options { metrics_addr: Some(localhost), health_addr: Some(localhost), ..options(&ns) }).await?;
    let health = controller.bound.health.context("health bound")?;
    let metrics = controller.bound.metrics.context("metrics bound")?;
    let http = ferry_sdk::http::client(Duration::from_secs(5))?;
    let healthz = http.get(format!("http://{health}/healthz")).send().await?;
    assert_eq!(healthz.status(), 200);
    let ready = async {
        loop {
            if http.get(format!("http://{health}/readyz")).send().await?.status() == 200 {
                return Ok::<_, anyhow::Error>(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    if tokio::time::timeout(TIMEOUT, ready).await.is_err() {
        let finished = controller.task.is_finished();
        let result = if finished { Some(controller.task.await) } else { None };
        bail!("/readyz never turned ready (controller finished: {finished}, {result:?})");
    }

    let configmaps: Api<ConfigMap> = ns.api();
    let mirrors: Api<Mirror> = ns.api();
    configmaps.create(&PostParams::default(), &configmap("src", &[("k", "v")])).await?;
    mirrors.create(&PostParams::default(), &mirror("m5", "src", "dst")).await?;
    wait_for_condition(&mirrors, "m5", "Ready", "True", TIMEOUT).await?;

    // The duration is observed when the reconcile returns, just after the status write.
    let series =
        format!("gotk_reconcile_duration_seconds_count{{kind=\"Mirror\",name=\"m5\",namespace=\"{}\"}}", ns.name());
    let mut text = String::new();
    for _ in 0..50 {
        text = http.get(format!("http://{metrics}/metrics")).send().await?.text().await?;
        if text.contains(&series) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(text.contains(&series), "{series} missing from:\n{text}");
    assert!(text.contains("gotk_reconcile_duration_seconds_bucket{kind=\"Mirror\",name=\"m5\""));
    assert!(text.contains("le=\"1e-8\"") || text.contains("le=\"0.00000001\""), "Flux's buckets:\n{text}");
    assert!(text.contains("ferry_reconcile_total{kind=\"Mirror\",result=\"success\"}"));
    // What Flux's control-plane dashboard charts, under controller-runtime's names.
    for series in [
        "controller_runtime_reconcile_total{controller=\"mirror\",result=\"requeue_after\"}",
        "controller_runtime_reconcile_time_seconds_bucket{controller=\"mirror\"",
        "controller_runtime_active_workers{controller=\"mirror\"}",
        "controller_runtime_max_concurrent_reconciles{controller=\"mirror\"}",
        "workqueue_depth{controller=\"mirror\",name=\"mirror\"}",
    ] {
        assert!(text.contains(series), "{series} missing from:\n{text}");
    }
    assert!(text.contains(&format!(
        "gotk_reconcile_condition{{kind=\"Mirror\",name=\"m5\",namespace=\"{}\",status=\"True\",type=\"Ready\"}} 1",
        ns.name()
    )));
    assert!(text.contains("process_resident_memory_bytes"));
    // Idle after the reconcile: nothing waits (the next one is 10m away) and nothing runs.
    let idle = "ferry_reconcile_queue_depth{kind=\"Mirror\"} 0";
    for _ in 0..50 {
        if text.contains(idle) && text.contains("ferry_reconcile_in_flight{kind=\"Mirror\"} 0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        text = http.get(format!("http://{metrics}/metrics")).send().await?.text().await?;
    }
    assert!(text.contains(idle), "{idle} missing from:\n{text}");
    finish(&ns, controller).await
}

/// One controller instance on a runtime of its own, so that "killing" it
/// stops every task at once, as a crashed process would: no lease release.
struct Instance {
    runtime: tokio::runtime::Runtime,
    bound: Bound,
    identity: String,
    stop: oneshot::Sender<()>,
}

fn start_instance(ns: &TestNamespace, identity: &str) -> Result<Instance> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let leader = ferry_sdk::leader::Config {
        identity: identity.to_string(),
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(3),
        retry_period: Duration::from_millis(500),
        ..ferry_sdk::leader::Config::new(ns.name(), "mirror-controller-leader-election")
    };
    let options = Options { metrics_addr: Some("127.0.0.1:0".parse()?), leader_election: Some(leader), ..options(ns) };
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    runtime.spawn(async move {
        let client = match ferry_testenv::client().await {
            Ok(client) => client,
            Err(error) => {
                eprintln!("client: {error}");
                return;
            }
        };
        let (tx, rx) = oneshot::channel();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let run = tokio::spawn(run(client, options, shutdown, Some(tx)));
        if let Ok(bound) = rx.await {
            let _ = bound_tx.send(bound);
        }
        let _ = run.await;
    });
    let bound = bound_rx.recv_timeout(TIMEOUT).context("instance did not start")?;
    Ok(Instance { runtime, bound, identity: identity.to_string(), stop })
}

async fn reconcile_count(instance: &Instance) -> Result<u64> {
    let addr = instance.bound.metrics.context("metrics bound")?;
    let http = ferry_sdk::http::client(Duration::from_secs(5))?;
    let text = http.get(format!("http://{addr}/metrics")).send().await?.text().await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("ferry_reconcile_total{kind=\"Mirror\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum())
}

async fn lease_holder(leases: &Api<Lease>) -> Result<Option<String>> {
    Ok(leases.get_opt("mirror-controller-leader-election").await?.and_then(|l| l.spec).and_then(|s| s.holder_identity))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_reconciles_and_a_killed_leader_hands_over() -> Result<()> {
    let ns = TestNamespace::new("sdk-leader").await?;
    install_crd(&ns.client()).await?;
    let first = start_instance(&ns, "instance-a")?;
    let leases: Api<Lease> = ns.api();
    let acquired = async {
        loop {
            if lease_holder(&leases).await?.as_deref() == Some("instance-a") {
                return Ok::<_, anyhow::Error>(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(TIMEOUT, acquired).await.context("first instance never led")??;
    let second = start_instance(&ns, "instance-b")?;

    let configmaps: Api<ConfigMap> = ns.api();
    let mirrors: Api<Mirror> = ns.api();
    configmaps.create(&PostParams::default(), &configmap("src", &[("k", "v")])).await?;
    mirrors.create(&PostParams::default(), &mirror("m6", "src", "dst")).await?;
    wait_for_condition(&mirrors, "m6", "Ready", "True", TIMEOUT).await?;
    request_reconcile(&mirrors, "m6", "one").await?;
    wait_for(&mirrors, "m6", TIMEOUT, |m| {
        m.status.as_ref().and_then(|s| s.last_handled_reconcile_at.as_deref()) == Some("one")
    })
    .await?;
    assert!(reconcile_count(&first).await? >= 2, "the leader reconciles");
    assert_eq!(reconcile_count(&second).await?, 0, "the standby does not");

    // Kill the leader without letting it release the lease.
    let killed_at = std::time::Instant::now();
    let Instance { runtime, identity, .. } = first;
    runtime.shutdown_background();
    let handed_over = async {
        loop {
            if lease_holder(&leases).await?.as_deref() == Some(second.identity.as_str()) {
                return Ok::<_, anyhow::Error>(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), handed_over).await.context("no handover")??;
    let took = killed_at.elapsed();
    // Lease 4 s plus one retry period of 0.5 s, with slack for a busy machine.
    assert!(took < Duration::from_secs(8), "handover after {took:?} (from {identity})");

    request_reconcile(&mirrors, "m6", "two").await?;
    let handled = wait_for(&mirrors, "m6", TIMEOUT, |m| {
        m.status.as_ref().and_then(|s| s.last_handled_reconcile_at.as_deref()) == Some("two")
    })
    .await?;
    if condition_status(&handled, "Ready").as_deref() != Some("True") {
        bail!("not ready after handover: {:?}", handled.status);
    }
    assert!(reconcile_count(&second).await? >= 1, "the new leader reconciles");

    // A graceful stop (SIGTERM) releases the lease: a standby takes over at
    // once instead of waiting for the lease to expire.
    let third = start_instance(&ns, "instance-c")?;
    let stopped_at = std::time::Instant::now();
    let _ = second.stop.send(());
    let released = async {
        loop {
            if lease_holder(&leases).await?.as_deref() == Some(third.identity.as_str()) {
                return Ok::<_, anyhow::Error>(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), released).await.context("no handover after release")??;
    let took = stopped_at.elapsed();
    assert!(took < Duration::from_secs(3), "handover after a release took {took:?}");
    delete_mirrors(&ns).await?;
    second.runtime.shutdown_background();
    third.runtime.shutdown_background();
    Ok(())
}
