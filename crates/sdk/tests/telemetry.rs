//! OTLP export and trace-context travel, against an in-process collector.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use ferry_sdk::telemetry;
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::layer::SubscriberExt;

/// A received export: its content type and body.
type Received = (String, Vec<u8>);

#[derive(Clone, Default)]
struct Collector {
    requests: Arc<Mutex<Vec<Received>>>,
}

async fn traces(State(collector): State<Collector>, headers: HeaderMap, body: Bytes) -> &'static str {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    collector.requests.lock().unwrap().push((content_type, body.to_vec()));
    ""
}

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_and_consumers_link_to_their_source() {
    let collector = Collector::default();
    let router = axum::Router::new().route("/v1/traces", post(traces)).with_state(collector.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let provider = telemetry::tracer_provider(&format!("http://{addr}"), "ferry-telemetry-test").unwrap();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));

    let (source_traceparent, consumer_traceparent) = tracing::subscriber::with_default(subscriber, || {
        assert_eq!(telemetry::traceparent(), None, "no span, no context");
        let source = tracing::info_span!("reconcile", controller = "source-controller").entered();
        // What a source stores in its artifact's metadata.
        let traceparent = telemetry::traceparent().expect("a traceparent inside a span");
        drop(source);
        let consumer = tracing::info_span!("reconcile", controller = "kustomize-controller").entered();
        telemetry::link_to(&traceparent);
        telemetry::link_to("not a traceparent");
        let own = telemetry::traceparent().unwrap();
        drop(consumer);
        (traceparent, own)
    });
    provider.force_flush().unwrap();

    let requests = collector.requests.lock().unwrap().clone();
    assert!(!requests.is_empty(), "nothing reached the collector");
    assert!(requests.iter().all(|(content_type, _)| content_type == "application/x-protobuf"));
    let body: Vec<u8> = requests.into_iter().flat_map(|(_, body)| body).collect();
    assert!(count(&body, b"ferry-telemetry-test") >= 1, "service name missing");
    // traceparent = 00-<trace id>-<span id>-<flags>
    let source_trace = hex_to_bytes(source_traceparent.split('-').nth(1).unwrap());
    let consumer_trace = hex_to_bytes(consumer_traceparent.split('-').nth(1).unwrap());
    assert_ne!(source_trace, consumer_trace);
    // The source's trace id appears in its own span and in the consumer's link.
    assert_eq!(count(&body, &source_trace), 2, "the consumer links to the source");
    assert_eq!(count(&body, &consumer_trace), 1);
    provider.shutdown().unwrap();
}
