//! Logs and traces.
//!
//! Logs are shaped like Flux's: one JSON object per line with `level`, `ts`,
//! `msg`, then the fields of the enclosing spans and of the event (the harness
//! puts `controller`, `controllerKind`, `name`, `namespace` and
//! `reconcileID` in its span), so existing log queries keep working.
//!
//! Traces are off by default. With an OTLP endpoint (`--otlp-endpoint` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT`), spans are exported over OTLP/HTTP. A
//! source controller stores [`traceparent`] in its artifact's metadata under
//! [`TRACEPARENT_METADATA_KEY`]; a consumer calls [`link_to`] with it in its
//! reconcile, so one commit can be followed through source, build and apply.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use serde_json::{Map, Value};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::flags::{LogEncoding, LogLevel};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A global subscriber is already installed.
    #[error("installing the log subscriber: {0}")]
    InitFailed(String),
    /// The OTLP exporter could not be built.
    #[error("setting up OTLP export to {endpoint}: {message}")]
    ExporterFailed {
        /// The endpoint.
        endpoint: String,
        /// What went wrong.
        message: String,
    },
}

/// The artifact metadata key under which a source records the W3C trace
/// context of the reconcile that produced the artifact.
pub const TRACEPARENT_METADATA_KEY: &str = "traceparent";

/// Keeps the trace exporter alive; flushes and stops it when shut down or dropped.
#[derive(Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes the spans still buffered and stops the exporter.
    pub fn shutdown(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "stopping the trace exporter");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Installs logging as [`init`] does and, when `otlp_endpoint` is not empty,
/// exports spans over OTLP/HTTP to it (`<endpoint>/v1/traces`) as
/// `service_name`. Call from within a Tokio runtime.
pub fn init_with_otlp(
    level: LogLevel,
    encoding: LogEncoding,
    otlp_endpoint: &str,
    service_name: &str,
) -> Result<Telemetry> {
    let provider = if otlp_endpoint.is_empty() { None } else { Some(tracer_provider(otlp_endpoint, service_name)?) };
    let otel = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("ferry-sdk")));
    let json = (encoding == LogEncoding::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(FluxJson)
            .with_writer(std::io::stderr)
    });
    let console =
        (encoding == LogEncoding::Console).then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    tracing_subscriber::registry()
        .with(json.with_filter(filter(level)))
        .with(console.with_filter(filter(level)))
        .with(otel)
        .try_init()
        .map_err(|e| Error::InitFailed(e.to_string()))?;
    Ok(Telemetry { provider })
}

fn filter(level: LogLevel) -> EnvFilter {
    let default = match level {
        LogLevel::Error => "error",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    };
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// A tracer provider exporting in batches over OTLP/HTTP (protobuf) to
/// `endpoint`. Call from within a Tokio runtime.
pub fn tracer_provider(endpoint: &str, service_name: &str) -> Result<SdkTracerProvider> {
    let url = if endpoint.ends_with("/v1/traces") {
        endpoint.to_string()
    } else {
        format!("{}/v1/traces", endpoint.trim_end_matches('/'))
    };
    let failed = |message: String| Error::ExporterFailed { endpoint: endpoint.to_string(), message };
    let client = crate::http::client(Duration::from_secs(10)).map_err(|e| failed(e.to_string()))?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|e| failed(e.to_string()))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(OtlpHttpClient { client, runtime })
        .with_endpoint(url)
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service_name.to_string()).build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// The W3C `traceparent` of the current span, when traces are on.
pub fn traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Links the current span to the span that `traceparent` names (e.g. the
/// source reconcile that produced an artifact). Ignored when malformed.
pub fn link_to(traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_string(), traceparent.to_string())]);
    // From an empty context: a malformed value must not fall back to the current span.
    let upstream = TraceContextPropagator::new().extract_with_context(&opentelemetry::Context::new(), &carrier);
    let span_context = upstream.span().span_context().clone();
    if span_context.is_valid() {
        tracing::Span::current().add_link(span_context);
    }
}

/// OTLP's HTTP transport on the SDK's reqwest client (rustls with ring).
/// The batch exporter runs on a thread of its own, outside Tokio, so requests
/// are spawned onto the runtime the provider was built in.
#[derive(Debug, Clone)]
struct OtlpHttpClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl opentelemetry_http::HttpClient for OtlpHttpClient {
    fn send_bytes<'a, 'b>(
        &'a self,
        request: http::Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, opentelemetry_http::HttpError>> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        let client = self.client.clone();
        let task = self.runtime.spawn(async move {
            let (parts, body) = request.into_parts();
            let url = parts.uri.to_string();
            let response = client.request(parts.method, url).headers(parts.headers).body(body).send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            let mut out = http::Response::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok::<_, reqwest::Error>(out)
        });
        Box::pin(async move {
            match task.await {
                Ok(result) => result.map_err(|e| Box::new(e) as opentelemetry_http::HttpError),
                Err(join) => Err(Box::new(join) as opentelemetry_http::HttpError),
            }
        })
    }
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Installs the global log subscriber for `--log-level` and
/// `--log-encoding`. `RUST_LOG` overrides the level when set.
pub fn init(level: LogLevel, encoding: LogEncoding) -> Result<()> {
    let builder = tracing_subscriber::fmt().with_env_filter(filter(level)).with_writer(std::io::stderr);
    let result = match encoding {
        LogEncoding::Json => builder.fmt_fields(JsonFields::new()).event_format(FluxJson).try_init(),
        LogEncoding::Console => builder.try_init(),
    };
    result.map_err(|e| Error::InitFailed(e.to_string()))
}

/// An event formatter writing Flux's JSON log lines. Use it with
/// `fmt_fields(JsonFields::new())` so span fields are stored as JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct FluxJson;

impl<S, N> FormatEvent<S, N> for FluxJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let mut line = Map::new();
        line.insert("level".into(), Value::String(event.metadata().level().as_str().to_ascii_lowercase()));
        let ts = k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        line.insert("ts".into(), Value::String(ts));
        line.insert("msg".into(), Value::String(String::new()));
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields)
                {
                    line.extend(map);
                }
            }
        }
        let mut visitor = Visitor(&mut line);
        event.record(&mut visitor);
        if event.metadata().level() <= &tracing::Level::WARN {
            line.entry("logger").or_insert_with(|| Value::String(event.metadata().target().to_string()));
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

struct Visitor<'a>(&'a mut Map<String, Value>);

impl tracing::field::Visit for Visitor<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.insert(field.name(), Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.insert(field.name(), Value::from(value));
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.insert(field.name(), Value::from(value));
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.insert(field.name(), Value::from(value));
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.insert(field.name(), Value::from(value));
    }
    fn record_error(&mut self, field: &tracing::field::Field, value: &(dyn std::error::Error + 'static)) {
        self.insert(field.name(), Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.insert(field.name(), Value::String(format!("{value:?}")));
    }
}

impl Visitor<'_> {
    fn insert(&mut self, name: &str, value: Value) {
        let key = if name == "message" { "msg" } else { name };
        self.0.insert(key.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_look_like_fluxs() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(JsonFields::new())
            .event_format(FluxJson)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("reconcile", controller = "gitrepository", name = "podinfo");
            let _entered = span.enter();
            tracing::info!(revision = "main@sha1:abc", "stored artifact");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "info");
        assert_eq!(line["msg"], "stored artifact");
        assert_eq!(line["controller"], "gitrepository");
        assert_eq!(line["name"], "podinfo");
        assert_eq!(line["revision"], "main@sha1:abc");
        assert!(line["ts"].as_str().unwrap().ends_with('Z'));
    }
}
