//! Load measurement for the event server (run against the local control
//! plane, `cargo run -p ferry-notification-controller --example load`):
//! 10,000 distinct events in a burst from 50 senders to one Alert whose
//! generic Provider is a loopback sink. Prints how many arrived (each
//! once), the p50/p99 delivery latency (event posted → provider received)
//! and the process's peak resident memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_api_notification::{Alert, Provider};
use ferry_notification_controller::event::server::{EventServer, Options};
use kube::api::{Patch, PatchParams};
use serde_json::json;

const SENDERS: usize = 50;
const EVENTS: usize = 10_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let ns = ferry_testenv::TestNamespace::new("notif-load").await?;
    ferry_testenv::install_crds(
        ns.client(),
        &[
            include_str!("../../../charts/crds/notification.toolkit.fluxcd.io_alerts.yaml"),
            include_str!("../../../charts/crds/notification.toolkit.fluxcd.io_providers.yaml"),
        ],
    )
    .await?;

    let received: Arc<Mutex<HashMap<String, (Instant, usize)>>> = Arc::default();
    let sink_received = received.clone();
    let sink = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let received = sink_received.clone();
        async move {
            let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let message = event["message"].as_str().unwrap_or_default().to_string();
            let mut map = received.lock().unwrap();
            let entry = map.entry(message).or_insert((Instant::now(), 0));
            entry.1 += 1;
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, sink).await });

    let apply = PatchParams::apply("ferry-load").force();
    ns.api::<Provider>()
        .patch(
            "sink",
            &apply,
            &Patch::Apply(json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
            "kind": "Provider", "metadata": {"name": "sink"},
            "spec": {"type": "generic", "address": format!("http://{sink_addr}/")}})),
        )
        .await?;
    ns.api::<Alert>()
        .patch(
            "all",
            &apply,
            &Patch::Apply(json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
            "kind": "Alert", "metadata": {"name": "all"},
            "spec": {"providerRef": {"name": "sink"}, "eventSources": [{"kind": "GitRepository", "name": "*"}]}})),
        )
        .await?;

    let options = Options { rate_limit_interval: Duration::from_secs(300), no_cross_namespace_refs: false };
    let server = EventServer::new(ns.client(), options)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let router = server.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let (url, sent, namespace) = (url.clone(), sent.clone(), ns.name().to_string());
        senders.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in (sender..EVENTS).step_by(SENDERS) {
                let message = format!("event {i}");
                let body = json!({"involvedObject": {"kind": "GitRepository", "name": format!("repo-{}", i % 100),
                    "namespace": namespace, "apiVersion": "source.toolkit.fluxcd.io/v1"},
                    "severity": "info", "timestamp": "2026-12-02T10:00:00Z", "message": message,
                    "reason": "NewArtifact", "reportingController": "source-controller"});
                sent.lock().unwrap().insert(message, Instant::now());
                let answer = http.post(&url).json(&body).send().await.unwrap();
                assert_eq!(answer.status(), 202);
            }
        }));
    }
    for sender in senders {
        sender.await?;
    }
    let accepted_in = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(300);
    while received.lock().unwrap().len() < EVENTS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    {
        let received = received.lock().unwrap();
        let sent = sent.lock().unwrap();
        let mut latencies: Vec<Duration> =
            received.iter().filter_map(|(m, (at, _))| sent.get(m).map(|s| at.duration_since(*s))).collect();
        latencies.sort();
        let duplicates = received.values().filter(|(_, n)| *n > 1).count();
        let pct = |p: f64| {
            latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied()
        };
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let peak = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: ?").to_string();
        println!(
            "{} of {EVENTS} events delivered ({duplicates} more than once); all accepted in {accepted_in:?}; \
         latency p50 {:?} p99 {:?} max {:?}; {peak}",
            received.len(),
            pct(0.50).unwrap_or_default(),
            pct(0.99).unwrap_or_default(),
            latencies.last().copied().unwrap_or_default()
        );
    }
    ns.delete(Duration::from_secs(60)).await?;
    Ok(())
}
