//! Logging shaped like Flux's: one JSON object per line with `level`, `ts`,
//! `msg`, then the fields of the enclosing spans and of the event (the harness
//! puts `controller`, `controllerKind`, `name`, `namespace` and
//! `reconcileID` in its span), so existing log queries keep working.

use std::fmt;

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
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Installs the global log subscriber for `--log-level` and
/// `--log-encoding`. `RUST_LOG` overrides the level when set.
pub fn init(level: LogLevel, encoding: LogEncoding) -> Result<()> {
    let default = match level {
        LogLevel::Error => "error",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
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
