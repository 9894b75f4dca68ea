//! Prometheus metrics: Flux's `gotk_*` series, the controller-runtime series
//! Flux's dashboards chart (`controller_runtime_reconcile_total`,
//! `controller_runtime_reconcile_errors_total`,
//! `controller_runtime_reconcile_time_seconds`,
//! `controller_runtime_active_workers`,
//! `controller_runtime_max_concurrent_reconciles`, `workqueue_depth`, each
//! labelled `controller` with the lowercased kind, as controller-runtime
//! names controllers), Ferry's counters and process metrics, served as
//! Prometheus text on `--metrics-addr`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A metric could not be created or registered.
    #[error("registering metric: {0}")]
    RegisterFailed(#[from] prometheus::Error),
    /// The listen address could not be bound.
    #[error("binding {addr}: {source}")]
    BindFailed {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("serving metrics: {0}")]
    ServeFailed(#[source] std::io::Error),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Flux's histogram buckets for `gotk_reconcile_duration_seconds`:
/// ten exponential buckets from 10ns by factors of 10.
pub fn flux_duration_buckets() -> Vec<f64> {
    (0..10).map(|i| 10e-9 * 10f64.powi(i)).collect()
}

/// The metrics of one controller process.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    duration: HistogramVec,
    condition: GaugeVec,
    suspend: GaugeVec,
    reconciles: IntCounterVec,
    in_flight: IntGaugeVec,
    queue: QueueDepth,
    runtime: RuntimeSeries,
}

/// controller-runtime's series, by `controller` (the lowercased kind).
#[derive(Clone)]
struct RuntimeSeries {
    total: IntCounterVec,
    errors: IntCounterVec,
    time: HistogramVec,
    active: IntGaugeVec,
    max_concurrent: IntGaugeVec,
}

/// controller-runtime's buckets for `controller_runtime_reconcile_time_seconds`.
const RUNTIME_BUCKETS: [f64; 40] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5,
    1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0,
];

/// The `controller` label controller-runtime gives a kind's controller.
fn controller_label(kind: &str) -> String {
    kind.to_lowercase()
}

/// controller-runtime's result for one of Ferry's: Flux's reconcilers
/// requeue after the interval on success and after the retry interval on
/// waits and apply failures (`requeue_after`), return errors for transient
/// failures (`error`) and nothing for stalled, suspended or deleted objects.
fn runtime_result(result: &str) -> &'static str {
    match result {
        "success" | "waiting" | "retry" => "requeue_after",
        "transient" => "error",
        _ => "success",
    }
}

/// client-go's `rest_client_requests_total{code,host,method}`, counted for
/// every Kubernetes client the process builds (each [`Metrics`]
/// registry serves it).
pub(crate) static REST_CLIENT_REQUESTS: LazyLock<prometheus::IntCounterVec> = LazyLock::new(|| {
    let opts = prometheus::Opts::new(
        "rest_client_requests_total",
        "Number of HTTP requests, partitioned by status code, method, and host.",
    );
    prometheus::IntCounterVec::new(opts, &["code", "host", "method"]).unwrap_or_else(|error| {
        // The options above are constant and valid; this cannot happen.
        unreachable!("rest_client_requests_total: {error}")
    })
});

/// Something that knows how many objects of one kind are due for a
/// reconcile and not yet running: a kind's work queue.
pub(crate) trait QueueSource: Send + Sync {
    /// The objects waiting now.
    fn depth(&self) -> i64;
}

/// `ferry_reconcile_queue_depth{kind}`, computed when scraped from the
/// queues of the controllers running in the process.
#[derive(Clone)]
struct QueueDepth {
    gauge: IntGaugeVec,
    workqueue: IntGaugeVec,
    sources: Arc<Mutex<Vec<TrackedQueue>>>,
}

/// A controller's kind and its queue, while the controller runs.
type TrackedQueue = (String, Weak<dyn QueueSource>);

impl Collector for QueueDepth {
    fn desc(&self) -> Vec<&Desc> {
        let mut descs = self.gauge.desc();
        descs.extend(self.workqueue.desc());
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut totals: BTreeMap<String, i64> = BTreeMap::new();
        {
            let mut sources = self.sources.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            for (kind, source) in sources.iter() {
                let depth = source.upgrade().map_or(0, |source| source.depth());
                *totals.entry(kind.clone()).or_default() += depth;
            }
            // A stopped controller's kind keeps its series, at 0.
            sources.retain(|(_, source)| source.strong_count() > 0);
        }
        for (kind, total) in totals {
            self.gauge.with_label_values(&[kind.as_str()]).set(total);
            let controller = controller_label(&kind);
            self.workqueue.with_label_values(&[controller.as_str(), controller.as_str()]).set(total);
        }
        let mut families = self.gauge.collect();
        families.extend(self.workqueue.collect());
        families
    }
}

impl Metrics {
    /// A fresh registry with all of the SDK's metrics, process metrics included.
    pub fn new() -> Result<Self> {
        let registry = Registry::new();
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "gotk_reconcile_duration_seconds",
                "The duration in seconds of a GitOps Toolkit resource reconciliation.",
            )
            .buckets(flux_duration_buckets()),
            &["kind", "name", "namespace"],
        )?;
        let condition = GaugeVec::new(
            Opts::new(
                "gotk_reconcile_condition",
                "The current condition status of a GitOps Toolkit resource reconciliation.",
            ),
            &["kind", "name", "namespace", "type", "status"],
        )?;
        let suspend = GaugeVec::new(
            Opts::new("gotk_suspend_status", "The current suspend status of a GitOps Toolkit resource."),
            &["kind", "name", "namespace"],
        )?;
        let reconciles = IntCounterVec::new(
            Opts::new(
                "ferry_reconcile_total",
                "Reconciles by kind and result (success, transient, stalled, waiting, suspended, deleted).",
            ),
            &["kind", "result"],
        )?;
        let in_flight = IntGaugeVec::new(
            Opts::new("ferry_reconcile_in_flight", "Reconciles running right now, by kind."),
            &["kind"],
        )?;
        let queue = QueueDepth {
            gauge: IntGaugeVec::new(
                Opts::new(
                    "ferry_reconcile_queue_depth",
                    "Objects due for a reconcile (watch events, requeues, watched Secrets, ConfigMaps and \
                     sources) but not yet running, by kind.",
                ),
                &["kind"],
            )?,
            workqueue: IntGaugeVec::new(
                Opts::new("workqueue_depth", "Current depth of workqueue"),
                &["controller", "name"],
            )?,
            sources: Arc::default(),
        };
        let runtime = RuntimeSeries {
            total: IntCounterVec::new(
                Opts::new("controller_runtime_reconcile_total", "Total number of reconciliations per controller"),
                &["controller", "result"],
            )?,
            errors: IntCounterVec::new(
                Opts::new(
                    "controller_runtime_reconcile_errors_total",
                    "Total number of reconciliation errors per controller",
                ),
                &["controller"],
            )?,
            time: HistogramVec::new(
                HistogramOpts::new(
                    "controller_runtime_reconcile_time_seconds",
                    "Length of time per reconciliation per controller",
                )
                .buckets(RUNTIME_BUCKETS.to_vec()),
                &["controller"],
            )?,
            active: IntGaugeVec::new(
                Opts::new("controller_runtime_active_workers", "Number of currently used workers per controller"),
                &["controller"],
            )?,
            max_concurrent: IntGaugeVec::new(
                Opts::new(
                    "controller_runtime_max_concurrent_reconciles",
                    "Maximum number of concurrent reconciles per controller",
                ),
                &["controller"],
            )?,
        };
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(condition.clone()))?;
        registry.register(Box::new(suspend.clone()))?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(queue.clone()))?;
        registry.register(Box::new(runtime.total.clone()))?;
        registry.register(Box::new(runtime.errors.clone()))?;
        registry.register(Box::new(runtime.time.clone()))?;
        registry.register(Box::new(runtime.active.clone()))?;
        registry.register(Box::new(runtime.max_concurrent.clone()))?;
        registry.register(Box::new(REST_CLIENT_REQUESTS.clone()))?;
        registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(Self { registry, duration, condition, suspend, reconciles, in_flight, queue, runtime })
    }

    /// The registry, to add a controller's own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Observes how long a reconcile of `kind` `namespace/name` took.
    pub fn record_duration(&self, kind: &str, namespace: &str, name: &str, took: Duration) {
        self.duration.with_label_values(&[kind, name, namespace]).observe(took.as_secs_f64());
        self.runtime.time.with_label_values(&[controller_label(kind).as_str()]).observe(took.as_secs_f64());
    }

    /// Records a condition's status (`True`, `False`, `Unknown`), or that
    /// the object was deleted.
    pub fn record_condition(&self, kind: &str, namespace: &str, name: &str, type_: &str, status: Option<&str>) {
        for candidate in ["True", "False", "Unknown", "Deleted"] {
            let value = match status {
                Some(status) if status == candidate => 1.0,
                None if candidate == "Deleted" => 1.0,
                _ => 0.0,
            };
            self.condition.with_label_values(&[kind, name, namespace, type_, candidate]).set(value);
        }
    }

    /// Records whether the object is suspended.
    pub fn record_suspend(&self, kind: &str, namespace: &str, name: &str, suspended: bool) {
        self.suspend.with_label_values(&[kind, name, namespace]).set(if suspended { 1.0 } else { 0.0 });
    }

    /// Counts one reconcile of `kind` ending in `result`.
    pub fn record_result(&self, kind: &str, result: &str) {
        self.reconciles.with_label_values(&[kind, result]).inc();
        let controller = controller_label(kind);
        let outcome = runtime_result(result);
        self.runtime.total.with_label_values(&[controller.as_str(), outcome]).inc();
        if outcome == "error" {
            self.runtime.errors.with_label_values(&[controller.as_str()]).inc();
        }
    }

    /// Adds `delta` to the reconciles in flight.
    pub fn add_in_flight(&self, kind: &str, delta: i64) {
        self.in_flight.with_label_values(&[kind]).add(delta);
        self.runtime.active.with_label_values(&[controller_label(kind).as_str()]).add(delta);
    }

    /// Reports the queue of a controller of `kind` in
    /// `ferry_reconcile_queue_depth` for as long as `source` lives.
    pub(crate) fn track_queue(&self, kind: &str, concurrency: u16, source: Weak<dyn QueueSource>) {
        self.queue.gauge.with_label_values(&[kind]).set(0);
        let controller = controller_label(kind);
        self.runtime.max_concurrent.with_label_values(&[controller.as_str()]).set(i64::from(concurrency));
        self.queue.sources.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((kind.to_string(), source));
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(error) = encoder.encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(%error, "encoding metrics");
        }
        String::from_utf8_lossy(&buffer).into_owned()
    }

    /// An axum router serving `/metrics`.
    pub fn router(&self) -> Router {
        Router::new().route("/metrics", get(serve_metrics)).with_state(self.clone())
    }

    /// Serves `/metrics` on `addr` until `shutdown` resolves; returns the
    /// bound address (useful with port 0) and the server's task.
    pub async fn serve(
        &self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(SocketAddr, tokio::task::JoinHandle<Result<()>>)> {
        serve_router(self.router(), addr, shutdown).await
    }
}

async fn serve_metrics(State(metrics): State<Metrics>) -> impl IntoResponse {
    (StatusCode::OK, [(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], metrics.render())
}

/// Binds `addr` and serves `router` until `shutdown` resolves.
pub(crate) async fn serve_router(
    router: Router,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(SocketAddr, tokio::task::JoinHandle<Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| Error::BindFailed { addr, source })?;
    let bound = listener.local_addr().map_err(|source| Error::BindFailed { addr, source })?;
    let task = tokio::spawn(async move {
        axum::serve(listener, router).with_graceful_shutdown(shutdown).await.map_err(Error::ServeFailed)
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_flux() {
        let buckets = flux_duration_buckets();
        assert_eq!(buckets.len(), 10);
        assert!((buckets[0] - 1e-8).abs() < 1e-20);
        assert!((buckets[9] - 10.0).abs() < 1e-9);
    }

    #[test]
    fn renders_histogram_and_conditions() {
        let metrics = Metrics::new().unwrap();
        metrics.record_duration("GitRepository", "flux-system", "podinfo", Duration::from_millis(20));
        metrics.record_condition("GitRepository", "flux-system", "podinfo", "Ready", Some("True"));
        metrics.record_result("GitRepository", "success");
        let text = metrics.render();
        assert!(text.contains(
            "gotk_reconcile_duration_seconds_count{kind=\"GitRepository\",name=\"podinfo\",namespace=\"flux-system\"} 1"
        ), "{text}");
        assert!(text.contains("gotk_reconcile_condition{kind=\"GitRepository\",name=\"podinfo\",namespace=\"flux-system\",status=\"True\",type=\"Ready\"} 1"), "{text}");
        assert!(text.contains("ferry_reconcile_total{kind=\"GitRepository\",result=\"success\"} 1"), "{text}");
        assert!(text.contains("process_cpu_seconds_total"), "{text}");
        // The controller-runtime series Flux's dashboards chart.
        assert!(
            text.contains(
                "controller_runtime_reconcile_total{controller=\"gitrepository\",result=\"requeue_after\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("controller_runtime_reconcile_time_seconds_count{controller=\"gitrepository\"} 1"));
        metrics.record_result("GitRepository", "transient");
        metrics.add_in_flight("GitRepository", 1);
        let text = metrics.render();
        assert!(text.contains("controller_runtime_reconcile_total{controller=\"gitrepository\",result=\"error\"} 1"));
        assert!(text.contains("controller_runtime_reconcile_errors_total{controller=\"gitrepository\"} 1"), "{text}");
        assert!(text.contains("controller_runtime_active_workers{controller=\"gitrepository\"} 1"), "{text}");
    }

    struct Fixed(i64);

    impl QueueSource for Fixed {
        fn depth(&self) -> i64 {
            self.0
        }
    }

    #[test]
    fn queue_depth_sums_live_queues_per_kind_and_drops_to_zero_when_they_stop() {
        let metrics = Metrics::new().unwrap();
        let a: Arc<dyn QueueSource> = Arc::new(Fixed(2));
        let b: Arc<dyn QueueSource> = Arc::new(Fixed(3));
        let c: Arc<dyn QueueSource> = Arc::new(Fixed(1));
        metrics.track_queue("Mirror", 4, Arc::downgrade(&a));
        metrics.track_queue("Mirror", 4, Arc::downgrade(&b));
        metrics.track_queue("Gate", 2, Arc::downgrade(&c));
        let text = metrics.render();
        assert!(text.contains("ferry_reconcile_queue_depth{kind=\"Mirror\"} 5"), "{text}");
        assert!(text.contains("workqueue_depth{controller=\"mirror\",name=\"mirror\"} 5"), "{text}");
        assert!(text.contains("controller_runtime_max_concurrent_reconciles{controller=\"gate\"} 2"), "{text}");
        assert!(text.contains("ferry_reconcile_queue_depth{kind=\"Gate\"} 1"), "{text}");
        drop((a, b));
        let text = metrics.render();
        assert!(text.contains("ferry_reconcile_queue_depth{kind=\"Mirror\"} 0"), "{text}");
        assert!(text.contains("ferry_reconcile_queue_depth{kind=\"Gate\"} 1"), "{text}");
    }
}
