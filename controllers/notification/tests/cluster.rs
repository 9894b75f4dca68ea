//! notification-controller against the local control plane: the Receiver
//! reconciler and webhook (ending in a GitRepository fetching the pushed
//! commit, with Ferry's source-controller in-process), and the event
//! server forwarding to real loopback providers.

mod support;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use ferry_api_notification::{Alert, Provider, Receiver};
use ferry_api_source::GitRepository;
use ferry_notification_controller::event::server::{EventServer, Options};
use ferry_notification_controller::notifier::Retry;
use ferry_notification_controller::receiver::server::ReceiverServer;
use ferry_notification_controller::{CONTROLLER_NAME, receiver};
use ferry_sdk::reconcile::{Runtime, Settings};
use ferry_storage::{DigestAlgorithm, Storage};
use ferry_testenv::TestNamespace;
use ferry_testenv::git::{GitServer, GitServerOptions};
use hmac::Mac;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::{Service, ok, refuse};

const NOTIFICATION_CRDS: [&str; 3] = [
    include_str!("../../../charts/crds/notification.toolkit.fluxcd.io_alerts.yaml"),
    include_str!("../../../charts/crds/notification.toolkit.fluxcd.io_providers.yaml"),
    include_str!("../../../charts/crds/notification.toolkit.fluxcd.io_receivers.yaml"),
];

async fn apply<K>(ns: &TestNamespace, object: serde_json::Value)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + serde::Serialize,
{
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    ns.api::<K>().patch(&name, &PatchParams::apply("ferry-tests").force(), &Patch::Apply(&object)).await.unwrap();
}

async fn secret(ns: &TestNamespace, name: &str, data: serde_json::Value) {
    apply::<Secret>(ns, json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}))
        .await;
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

fn settings(ns: &TestNamespace, name: &str) -> Settings {
    Settings {
        namespace: Some(ns.name().to_string()),
        min_retry_delay: Duration::from_millis(200),
        max_retry_delay: Duration::from_secs(2),
        ..Settings::new(name)
    }
}

fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn github_push_webhook_makes_a_git_repository_fetch_the_new_commit() {
    let ns = TestNamespace::new("notif-recv").await.unwrap();
    let mut crds: Vec<&str> = ferry_testenv::SOURCE_AND_KUSTOMIZE_CRDS.to_vec();
    crds.extend(NOTIFICATION_CRDS);
    ferry_testenv::install_crds(ns.client(), &crds).await.unwrap();

    // source-controller and the Receiver reconciler, in-process.
    let storage_dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let storage = Storage::new(
        storage_dir.path(),
        format!("127.0.0.1:{port}"),
        Duration::from_secs(60),
        2,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let (source_stop, source_stopped) = tokio::sync::oneshot::channel::<()>();
    let source_runtime = Runtime::new(ns.client(), settings(&ns, ferry_source_controller::CONTROLLER_NAME)).unwrap();
    let source = tokio::spawn(ferry_source_controller::run(
        source_runtime,
        storage,
        Some(([127, 0, 0, 1], port).into()),
        async move {
            let _ = source_stopped.await;
        },
    ));
    let mut runtime = Runtime::new(ns.client(), settings(&ns, CONTROLLER_NAME)).unwrap();
    ferry_notification_controller::add_kinds(runtime.manager(CONTROLLER_NAME)).start().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let notification = tokio::spawn(async move {
        runtime
            .wait(async move {
                let _ = stopped.await;
            })
            .await
    });
    let hooks = serve(ReceiverServer::new(ns.client()).router()).await;

    // A repository whose GitRepository polls only every hour: only the webhook makes it fetch soon.
    let git = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = git.create_repo("app").unwrap();
    repo.write("README.md", "one").unwrap();
    let first = repo.commit("one").unwrap();
    apply::<GitRepository>(
        &ns,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "app"}, "spec": {"url": git.url("app"), "interval": "1h", "ref": {"branch": "main"}}}),
    )
    .await;
    let repos = ns.api::<GitRepository>();
    let revision = |r: &GitRepository| r.status.as_ref().and_then(|s| s.artifact.as_ref()).map(|a| a.revision.clone());
    ferry_testenv::wait_for(&repos, "app", Duration::from_secs(60), |r| {
        revision(r).is_some_and(|rev| rev.ends_with(&first))
    })
    .await
    .unwrap();

    secret(&ns, "webhook-token", json!({"token": "s3cr3t"})).await;
    apply::<Receiver>(
        &ns,
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
        "metadata": {"name": "github"}, "spec": {"type": "github", "events": ["push"],
        "secretRef": {"name": "webhook-token"}, "resources": [{"kind": "GitRepository", "name": "app"}]}}),
    )
    .await;
    let receivers = ns.api::<Receiver>();
    let ready = ferry_testenv::wait_for_condition(&receivers, "github", "Ready", "True", Duration::from_secs(30))
        .await
        .unwrap();
    let path = receiver::webhook_path("s3cr3t", "github", ns.name());
    let status = ready.status.unwrap();
    assert_eq!(status.webhook_path.as_deref(), Some(path.as_str()));
    let ready_condition = status.conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready_condition.reason, "Succeeded");
    assert_eq!(ready_condition.message, format!("Receiver initialized for path: {path}"));

    repo.write("README.md", "two").unwrap();
    let second = repo.commit("two").unwrap();
    let body = serde_json::to_vec(&json!({"ref": "refs/heads/main", "after": second})).unwrap();
    let http = reqwest::Client::new();
    let call = |signature: String, event: &'static str| {
        http.post(format!("{hooks}{path}"))
            .header("Content-Type", "application/json")
            .header("X-GitHub-Event", event)
            .header("X-Hub-Signature-256", signature)
            .body(body.clone())
            .send()
    };

    // A bad signature: 401, and nothing is annotated.
    let answer = call(sign("wrong", &body), "push").await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    // An event the Receiver does not take: 400.
    assert_eq!(call(sign("s3cr3t", &body), "issues").await.unwrap().status(), StatusCode::BAD_REQUEST);
    let annotations = repos.get("app").await.unwrap().metadata.annotations.unwrap_or_default();
    assert!(!annotations.contains_key("reconcile.fluxcd.io/requestedAt"));
    // Unknown path: 404.
    let unknown = http.post(format!("{hooks}/hook/0000")).body("{}").send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let started = Instant::now();
    assert_eq!(call(sign("s3cr3t", &body), "push").await.unwrap().status(), StatusCode::OK);
    ferry_testenv::wait_for(&repos, "app", Duration::from_secs(30), |r| {
        revision(r).is_some_and(|rev| rev.ends_with(&second))
    })
    .await
    .unwrap();
    eprintln!("webhook to new artifact: {:?}", started.elapsed());

    // Refused specs: an unsupported type, a missing token.
    apply::<Receiver>(
        &ns,
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
        "metadata": {"name": "gcr"}, "spec": {"type": "gcr", "secretRef": {"name": "webhook-token"},
        "resources": [{"kind": "GitRepository", "name": "app"}]}}),
    )
    .await;
    let gcr =
        ferry_testenv::wait_for_condition(&receivers, "gcr", "Ready", "False", Duration::from_secs(30)).await.unwrap();
    let condition = gcr.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(condition.reason, "ValidationFailed");
    apply::<Receiver>(
        &ns,
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
        "metadata": {"name": "nosecret"}, "spec": {"type": "generic", "secretRef": {"name": "absent"},
        "resources": [{"kind": "GitRepository", "name": "app"}]}}),
    )
    .await;
    let missing = ferry_testenv::wait_for_condition(&receivers, "nosecret", "Ready", "False", Duration::from_secs(30))
        .await
        .unwrap();
    let condition = missing.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(condition.reason, "TokenNotFound");

    let _ = stop.send(());
    let _ = source_stop.send(());
    tokio::time::timeout(Duration::from_secs(30), notification).await.unwrap().unwrap().unwrap();
    tokio::time::timeout(Duration::from_secs(30), source).await.unwrap().unwrap().unwrap();
    ns.delete(Duration::from_secs(60)).await.unwrap();
}

fn event(ns: &str, name: &str, message: &str, severity: &str) -> serde_json::Value {
    json!({
        "involvedObject": {"kind": "GitRepository", "name": name, "namespace": ns,
                           "apiVersion": "source.toolkit.fluxcd.io/v1"},
        "severity": severity, "timestamp": "2026-12-02T10:00:00Z", "message": message,
        "reason": "NewArtifact", "reportingController": "source-controller",
        "metadata": {"source.toolkit.fluxcd.io/revision": "main@sha1:0123456789abcdef0123456789abcdef01234567"}
    })
}

#[tokio::test]
async fn events_reach_matching_alerts_once_and_a_slow_provider_blocks_nobody() {
    let ns = TestNamespace::new("notif-events").await.unwrap();
    let mut crds: Vec<&str> = ferry_testenv::SOURCE_AND_KUSTOMIZE_CRDS.to_vec();
    crds.extend(NOTIFICATION_CRDS);
    ferry_testenv::install_crds(ns.client(), &crds).await.unwrap();

    // A generic-hmac receiver that refuses bad signatures, and a provider that never answers in time.
    let sink = Service::start(|s| {
        let valid = s
            .header("x-signature")
            .strip_prefix("sha256=")
            .is_some_and(|sig| sign("hmac-key", &s.body) == format!("sha256={sig}"));
        if valid { ok() } else { refuse(StatusCode::UNAUTHORIZED, "bad signature") }
    })
    .await;
    let slow = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_addr = slow.local_addr().unwrap();
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "late"
        });
        axum::serve(slow, app).await.unwrap()
    });

    secret(&ns, "hmac", json!({"token": "hmac-key", "address": sink.url("/events")})).await;
    apply::<Provider>(
        &ns,
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": {"name": "sink"}, "spec": {"type": "generic-hmac", "secretRef": {"name": "hmac"}}}),
    )
    .await;
    apply::<Provider>(&ns, json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": {"name": "slow"}, "spec": {"type": "generic", "address": format!("http://{slow_addr}/"), "timeout": "50s"}}))
    .await;
    apply::<Provider>(
        &ns,
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": {"name": "zulip"}, "spec": {"type": "zulip", "address": "https://zulip.example.com"}}),
    )
    .await;
    // The slow Alert is listed first, so its provider is handed the event first.
    for (name, provider, extra) in [
        ("a-slow", "slow", json!({})),
        ("b-sink", "sink", json!({"exclusionList": ["^ignored"], "eventMetadata": {"cluster": "dev"}})),
        (
            "c-labels",
            "sink",
            json!({"eventSources": [{"kind": "GitRepository", "name": "*", "matchLabels": {"team": "a"}}],
            "summary": "by label"}),
        ),
        ("d-zulip", "zulip", json!({})),
    ] {
        let mut spec =
            json!({"providerRef": {"name": provider}, "eventSources": [{"kind": "GitRepository", "name": "app"}]});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        apply::<Alert>(
            &ns,
            json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": {"name": name}, "spec": spec}),
        )
        .await;
    }
    apply::<GitRepository>(&ns, json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "labelled", "labels": {"team": "a"}}, "spec": {"url": "https://example.com/x", "interval": "1h"}}))
    .await;

    let options = Options { rate_limit_interval: Duration::from_secs(300), no_cross_namespace_refs: false };
    let retry = Retry { max: 1, wait_min: Duration::from_millis(10), wait_max: Duration::from_millis(10) };
    let server = EventServer::with_retry(ns.client(), options, retry);
    let url = serve(server.router()).await;
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>| http.post(&url).header("Content-Type", "application/json").body(body).send();

    let started = Instant::now();
    let first = serde_json::to_vec(&event(ns.name(), "app", "stored artifact", "info")).unwrap();
    assert_eq!(post(first.clone()).await.unwrap().status(), StatusCode::ACCEPTED);
    // The fast provider gets it although the slow one is still waiting.
    while sink.seen().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "the slow provider held up the others");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = sink.seen()[0].json();
    assert_eq!(delivered["metadata"]["cluster"], "dev");
    assert_eq!(delivered["metadata"]["revision"], "main@sha1:0123456789abcdef0123456789abcdef01234567");
    assert_eq!(delivered["involvedObject"]["name"], "app");

    // The same event again within the interval: dropped.
    assert_eq!(post(first).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    // Excluded by the list: accepted, not forwarded.
    let ignored = serde_json::to_vec(&event(ns.name(), "app", "ignored message", "info")).unwrap();
    assert_eq!(post(ignored).await.unwrap().status(), StatusCode::ACCEPTED);
    // Matched by labels.
    let labelled = serde_json::to_vec(&event(ns.name(), "labelled", "by labels", "error")).unwrap();
    assert_eq!(post(labelled).await.unwrap().status(), StatusCode::ACCEPTED);
    let deadline = Instant::now() + Duration::from_secs(10);
    while sink.seen().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = sink.seen();
    assert_eq!(
        seen.len(),
        2,
        "one per matching event: {:?}",
        seen.iter().map(|s| s.json()["message"].clone()).collect::<Vec<_>>()
    );
    assert_eq!(seen[1].json()["metadata"]["summary"], "by label");

    // Bad input gets a clear error.
    let answer = post(b"{not json".to_vec()).await.unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    assert!(answer.text().await.unwrap().starts_with("invalid event"));
    let answer = post(br#"{"message":"no object","severity":"info"}"#.to_vec()).await.unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let huge = vec![b' '; 3 * 1024 * 1024 + 1];
    assert_eq!(post(huge).await.unwrap().status(), StatusCode::PAYLOAD_TOO_LARGE);

    // The unsupported provider type is reported on its Alert, not ignored.
    let events: Api<k8s_openapi::api::core::v1::Event> = ns.api();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = events.list(&Default::default()).await.unwrap();
        let failed = list.items.iter().find(|e| {
            e.reason.as_deref() == Some("NotificationDispatchFailed")
                && e.involved_object.name.as_deref() == Some("d-zulip")
        });
        if let Some(failed) = failed {
            assert!(failed.message.as_deref().unwrap_or_default().contains("provider type 'zulip' is not supported"));
            break;
        }
        assert!(Instant::now() < deadline, "no NotificationDispatchFailed event for the zulip Alert");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ns.delete(Duration::from_secs(60)).await.unwrap();
}

/// End to end: a Kustomization failing to build in the local control plane
/// (kustomize-controller and source-controller in-process, posting their
/// events to Ferry's event server) produces an alert at a generic-hmac
/// provider, with a signature that verifies.
#[tokio::test]
async fn a_failing_kustomization_alerts_a_generic_hmac_provider() {
    let ns = TestNamespace::new("notif-e2e").await.unwrap();
    let mut crds: Vec<&str> = ferry_testenv::SOURCE_AND_KUSTOMIZE_CRDS.to_vec();
    crds.extend(NOTIFICATION_CRDS);
    ferry_testenv::install_crds(ns.client(), &crds).await.unwrap();

    let sink = Service::start(|s| {
        let valid = s
            .header("x-signature")
            .strip_prefix("sha256=")
            .is_some_and(|sig| sign("e2e-key", &s.body) == format!("sha256={sig}"));
        if valid { ok() } else { refuse(StatusCode::UNAUTHORIZED, "bad signature") }
    })
    .await;
    secret(&ns, "hmac", json!({"token": "e2e-key"})).await;
    apply::<Provider>(
        &ns,
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": {"name": "hmac"}, "spec": {"type": "generic-hmac", "address": sink.url("/flux"),
        "secretRef": {"name": "hmac"}}}),
    )
    .await;
    apply::<Alert>(
        &ns,
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
        "metadata": {"name": "errors"}, "spec": {"providerRef": {"name": "hmac"}, "eventSeverity": "error",
        "eventSources": [{"kind": "Kustomization", "name": "*"}]}}),
    )
    .await;
    let options = Options { rate_limit_interval: Duration::from_secs(300), no_cross_namespace_refs: false };
    let events_url = serve(EventServer::new(ns.client(), options).unwrap().router()).await;
    let webhook = || Some(ferry_sdk::events::Webhook::new(&format!("{events_url}/")).unwrap());

    let storage_dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let storage = Storage::new(
        storage_dir.path(),
        format!("127.0.0.1:{port}"),
        Duration::from_secs(60),
        2,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let (source_stop, source_stopped) = tokio::sync::oneshot::channel::<()>();
    let source_runtime = Runtime::new(ns.client(), settings(&ns, ferry_source_controller::CONTROLLER_NAME))
        .unwrap()
        .with_events_webhook(webhook());
    let source = tokio::spawn(ferry_source_controller::run(
        source_runtime,
        storage,
        Some(([127, 0, 0, 1], port).into()),
        async move {
            let _ = source_stopped.await;
        },
    ));
    let factory = ferry_sdk::client::ClientFactory::new(ferry_testenv::config().await.unwrap(), 50.0, 300);
    let (kustomize_stop, kustomize_stopped) = tokio::sync::oneshot::channel::<()>();
    let kustomize_runtime = Runtime::new(ns.client(), settings(&ns, ferry_kustomize_controller::CONTROLLER_NAME))
        .unwrap()
        .with_events_webhook(webhook());
    let kustomize = tokio::spawn(ferry_kustomize_controller::run(
        kustomize_runtime,
        factory,
        ferry_kustomize_controller::Options::default(),
        async move {
            let _ = kustomize_stopped.await;
        },
    ));

    let git = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = git.create_repo("app").unwrap();
    repo.write("deploy/kustomization.yaml", "resources: [missing.yaml]\n").unwrap();
    repo.commit("broken overlay").unwrap();
    apply::<GitRepository>(
        &ns,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "app"}, "spec": {"url": git.url("app"), "interval": "1h", "ref": {"branch": "main"}}}),
    )
    .await;
    apply::<ferry_api_kustomize::Kustomization>(
        &ns,
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization", "metadata": {"name": "app"}, "spec": {"interval": "1h", "path": "./deploy",
        "prune": true, "sourceRef": {"kind": "GitRepository", "name": "app"}}}),
    )
    .await;

    let deadline = Instant::now() + Duration::from_secs(60);
    let alert = loop {
        if let Some(seen) = sink.seen().into_iter().find(|s| s.json()["involvedObject"]["kind"] == "Kustomization") {
            break seen;
        }
        assert!(Instant::now() < deadline, "no alert for the failing Kustomization");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let event = alert.json();
    assert_eq!(event["severity"], "error");
    assert_eq!(event["involvedObject"]["name"], "app");
    assert_eq!(event["reportingController"], "kustomize-controller");
    assert_eq!(alert.header("gotk-component"), "kustomize-controller");
    // Only the error Alert's kind reached the provider, all signed (the sink refuses bad signatures).
    assert!(sink.seen().iter().all(|s| s.json()["severity"] == "error"));

    let _ = source_stop.send(());
    let _ = kustomize_stop.send(());
    tokio::time::timeout(Duration::from_secs(30), kustomize).await.unwrap().unwrap().unwrap();
    tokio::time::timeout(Duration::from_secs(30), source).await.unwrap().unwrap().unwrap();
    ns.delete(Duration::from_secs(60)).await.unwrap();
}
