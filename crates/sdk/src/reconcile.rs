//! The reconcile harness, on kube-runtime's `Controller`.
//!
//! A [`Reconciler`] writes only the steps of its kind; the harness does the
//! rest the way Flux's controllers do:
//!
//! - deletion runs [`Reconciler::cleanup`], then removes the finalizer;
//!   otherwise the finalizer is added first;
//! - `spec.suspend` skips the object;
//! - `reconcile.fluxcd.io/requestedAt` is echoed into
//!   `status.lastHandledReconcileAt`;
//! - the status is written once per reconcile, whatever happened: Ready
//!   summarised from the owned conditions, `Reconciling`/`Stalled` from the
//!   error class, observedGeneration, all in one server-side apply;
//! - errors retry with per-object backoff, stalled errors wait for a spec
//!   change, waiting errors requeue after a fixed delay; success requeues at
//!   `spec.interval` with jitter;
//! - events, metrics and logs are emitted with the error's reason and class;
//! - only the leader reconciles; shutdown stops taking work and waits a
//!   bounded time for reconciles in flight.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller as KubeController};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::backoff::{Backoff, IntervalJitter};
use crate::conditions::{self, Summary};
use crate::error::{ErrorClass, ReconcileError};
use crate::events::{self, Recorder, Severity};
use crate::flags::RuntimeFlags;
use crate::health::{Health, ReadyGate};
use crate::leader::Leadership;
use crate::metrics::{Metrics, QueueSource};
use crate::status::{self, FluxObject, ReconcileStatus};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings are invalid.
    #[error(transparent)]
    InvalidSettings(#[from] crate::backoff::Error),
    /// `--watch-label-selector` could not be parsed.
    #[error("invalid label selector {0:?}")]
    InvalidSelector(String),
    /// Writing the status failed.
    #[error(transparent)]
    StatusFailed(#[from] status::Error),
    /// Adding or removing the finalizer failed.
    #[error("updating finalizers of {name}: {source}")]
    FinalizerFailed {
        /// The object's name.
        name: String,
        /// The cause.
        source: kube::Error,
    },
    /// The object has no namespace.
    #[error("object {0} has no namespace")]
    NoNamespace(String),
    /// The metrics could not be set up.
    #[error(transparent)]
    MetricsFailed(#[from] crate::metrics::Error),
    /// A flag's value is invalid.
    #[error("invalid flags: {0}")]
    InvalidFlags(String),
    /// This instance lost its leader lease and stopped.
    #[error("leader election lost")]
    LeadershipLost,
    /// Two controllers of one runtime were given the same name.
    #[error("a controller named {0} is already running in this process")]
    DuplicateController(String),
    /// A controller's task panicked or was cancelled.
    #[error("controller {0} stopped abnormally (panicked or cancelled)")]
    ControllerAborted(String),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Flux's finalizer.
pub use ferry_api_meta::FINALIZER;
/// The annotation that asks for a reconcile now; its value is echoed into
/// `status.lastHandledReconcileAt`.
pub use ferry_api_meta::annotations::REQUESTED_AT as REQUESTED_AT_ANNOTATION;
/// The value of [`WATCH_LABEL`] that turns watching on.
pub use ferry_api_meta::annotations::WATCH_ENABLED as WATCH_LABEL_ENABLED;
/// The label that opts a Secret or ConfigMap into watches.
pub use ferry_api_meta::annotations::WATCH_LABEL;

/// How often a standby looks again at an object it skipped.
pub const STANDBY_RECHECK: Duration = Duration::from_secs(5);

/// How long a waiting error requeues when neither it nor the object says.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// What a successful reconcile reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The Ready message (e.g. `stored artifact for revision 'main@sha1:…'`).
    pub message: String,
    /// The revision reconciled, added to event metadata as `<group>/revision`.
    pub revision: Option<String>,
    /// Requeue after this instead of the interval.
    pub requeue_after: Option<Duration>,
    /// The reason of the success event (default `Succeeded`), e.g. Flux's
    /// `NewArtifact` or `ReconciliationSucceeded`.
    pub event_reason: Option<String>,
    /// The reason of the Ready=True condition (default `Succeeded`), e.g.
    /// Flux's `ReconciliationSucceeded` for Kustomizations.
    pub ready_reason: Option<String>,
    /// No success event from the harness: the reconciler announces its
    /// progress itself (NewArtifact, a change set), as Flux's controllers do.
    pub quiet: bool,
}

impl Outcome {
    /// Success with a Ready message.
    pub fn ready(message: impl Into<String>) -> Self {
        Self { message: message.into(), ..Self::default() }
    }

    /// Adds the revision reconciled.
    pub fn with_revision(mut self, revision: impl Into<String>) -> Self {
        self.revision = Some(revision.into());
        self
    }

    /// Requeues after `delay` instead of the interval.
    pub fn requeue_after(mut self, delay: Duration) -> Self {
        self.requeue_after = Some(delay);
        self
    }

    /// Sets the reason of the success event.
    pub fn with_event_reason(mut self, reason: impl Into<String>) -> Self {
        self.event_reason = Some(reason.into());
        self
    }

    /// Leaves announcing success to the reconciler (see [`Outcome::quiet`]).
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Sets the reason of the Ready=True condition.
    pub fn with_ready_reason(mut self, reason: impl Into<String>) -> Self {
        self.ready_reason = Some(reason.into());
        self
    }
}

/// What a reconciler can use besides its object.
#[derive(Clone)]
pub struct Context {
    client: Client,
    recorder: Option<Recorder>,
    metrics: Metrics,
    controller_name: String,
    field_manager: String,
}

impl Context {
    /// Writes `status` now, before the reconcile ends, so that users see
    /// progress during long steps (Flux's `Reconciling` messages, such as
    /// "Running health checks for revision ..."). The harness still writes
    /// the final status; a failure here is logged, not returned.
    pub async fn report_progress<K>(&self, object: &K, status: &K::Status)
    where
        K: FluxObject + Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned,
        K::Status: Serialize,
    {
        let Some(namespace) = object.namespace() else { return };
        let api: Api<K> = Api::namespaced(self.client.clone(), &namespace);
        if let Err(error) = status::patch(&api, object, status, &self.field_manager).await {
            tracing::warn!(%error, "writing progress to status");
        }
    }

    /// The controller's client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The event recorder, when events are on.
    pub fn recorder(&self) -> Option<&Recorder> {
        self.recorder.as_ref()
    }

    /// The process's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The controller's name.
    pub fn controller_name(&self) -> &str {
        &self.controller_name
    }

    /// Records a trace or info event (failures are recorded by the harness).
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        severity: Severity,
        reason: &str,
        message: &str,
    ) {
        if let Some(recorder) = &self.recorder
            && let Err(error) = recorder.record(object, severity, reason, message, &BTreeMap::new()).await
        {
            tracing::warn!(%error, "recording event");
        }
    }
}

/// The steps of one kind. The harness calls it; see the module docs.
pub trait Reconciler: Send + Sync + 'static {
    /// The kind reconciled.
    type Object: FluxObject<Status: Clone + Debug + Serialize + Send + Sync>
        + Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static;
    /// Its errors.
    type Error: ReconcileError;

    /// The owned conditions that make up Ready, in priority order.
    fn summary(&self) -> Summary {
        Summary::default()
    }

    /// The field manager of the status and finalizer writes, when the kind's
    /// Flux twin uses another one than its controller name (Flux's
    /// kustomize-controller writes them as `gotk-kustomize-controller`,
    /// keeping `kustomize-controller` for the objects it applies). It replaces
    /// [`Settings::field_manager`] only where that is still the default.
    fn status_manager(&self) -> Option<&str> {
        None
    }

    /// Brings the world in line with `object`, recording progress in
    /// `status` (which starts as the object's current status). Set the
    /// kind's own conditions here; Ready, Reconciling, Stalled,
    /// observedGeneration and lastHandledReconcileAt are the harness's.
    fn reconcile(
        &self,
        object: &Self::Object,
        status: &mut <Self::Object as FluxObject>::Status,
        ctx: &Context,
    ) -> impl Future<Output = Result<Outcome, Self::Error>> + Send;

    /// Cleans up after a deleted object, before its finalizer is removed.
    fn cleanup(&self, object: &Self::Object, ctx: &Context) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// How a controller runs: names, scope and timings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The controller's name: reporting controller of events, and by default
    /// the field manager.
    pub name: String,
    /// The field manager of status and finalizer patches (Flux: the controller's name, or the
    /// reconciler's [`Reconciler::status_manager`] while this is left at the default).
    pub field_manager: String,
    /// The finalizer added to objects.
    pub finalizer: String,
    /// Watch one namespace, or all when `None`.
    pub namespace: Option<String>,
    /// Only objects matching this label selector (sharding).
    pub label_selector: Option<String>,
    /// The label selector of the Secrets and ConfigMaps watched for
    /// by [`Controller::watch_secrets`] and [`Controller::watch_config_maps`] (`--watch-configs-label-selector`).
    pub configs_label_selector: String,
    /// Reconciles at once.
    pub concurrency: u16,
    /// Lower bound of the retry backoff.
    pub min_retry_delay: Duration,
    /// Upper bound of the retry backoff.
    pub max_retry_delay: Duration,
    /// Interval jitter, in percent.
    pub interval_jitter_percentage: u8,
    /// How long reconciles in flight may take after shutdown starts.
    pub shutdown_timeout: Duration,
}

impl Settings {
    /// Flux's defaults for a controller called `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            field_manager: name.to_string(),
            finalizer: FINALIZER.to_string(),
            namespace: None,
            label_selector: None,
            configs_label_selector: format!("{WATCH_LABEL}={WATCH_LABEL_ENABLED}"),
            concurrency: 4,
            min_retry_delay: crate::backoff::DEFAULT_MIN_RETRY_DELAY,
            max_retry_delay: crate::backoff::DEFAULT_MAX_RETRY_DELAY,
            interval_jitter_percentage: crate::backoff::DEFAULT_INTERVAL_JITTER_PERCENTAGE,
            shutdown_timeout: Duration::from_secs(600),
        }
    }

    /// The settings given by the common flags; `runtime_namespace` is the
    /// one watched when `--watch-all-namespaces=false`.
    pub fn from_flags(name: &str, flags: &RuntimeFlags, runtime_namespace: &str) -> Self {
        Self {
            namespace: (!flags.watch_all_namespaces).then(|| runtime_namespace.to_string()),
            label_selector: (!flags.watch_label_selector.is_empty()).then(|| flags.watch_label_selector.clone()),
            configs_label_selector: flags.watch_configs_label_selector.clone(),
            concurrency: flags.concurrent,
            min_retry_delay: flags.min_retry_delay,
            max_retry_delay: flags.max_retry_delay,
            interval_jitter_percentage: flags.interval_jitter_percentage,
            shutdown_timeout: flags.graceful_shutdown_timeout,
            ..Self::new(name)
        }
    }
}

type Watch<K> = Box<dyn FnOnce(KubeController<K>, &Client, &Arc<Queue<K>>) -> KubeController<K> + Send>;

/// A controller for one kind, ready to run.
pub struct Controller<R: Reconciler> {
    reconciler: R,
    client: Client,
    settings: Settings,
    recorder: Option<Recorder>,
    metrics: Option<Metrics>,
    ready: Option<ReadyGate>,
    leadership: Option<Leadership>,
    watches: Vec<Watch<R::Object>>,
}

impl<R: Reconciler> Controller<R>
where
    R::Object: Resource<Scope = NamespaceResourceScope>,
{
    /// A controller running `reconciler` with `client`.
    pub fn new(reconciler: R, client: Client, mut settings: Settings) -> Self {
        if let Some(manager) = reconciler.status_manager()
            && settings.field_manager == settings.name
        {
            settings.field_manager = manager.to_string();
        }
        Self {
            reconciler,
            client,
            settings,
            recorder: None,
            metrics: None,
            ready: None,
            leadership: None,
            watches: Vec::new(),
        }
    }

    /// Records events with `recorder`.
    pub fn with_recorder(mut self, recorder: Recorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// Records metrics into `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Holds `health` not ready until this controller's caches are synced
    /// (other controllers sharing `health` hold their own part).
    pub fn with_health(mut self, health: Health) -> Self {
        self.ready = Some(health.gate());
        self
    }

    /// Reconciles only while `leadership` is held; stops when it is lost.
    pub fn with_leadership(mut self, leadership: Leadership) -> Self {
        self.leadership = Some(leadership);
        self
    }

    /// Re-reconciles objects when a Secret they reference changes. Only
    /// Secrets labelled `reconcile.fluxcd.io/watch: Enabled` are watched;
    /// `references` names the Secrets (in the object's namespace) an object uses.
    pub fn watch_secrets(self, references: impl Fn(&R::Object) -> Vec<String> + Send + Sync + 'static) -> Self {
        self.watch_labelled::<Secret>(references)
    }

    /// Like [`Controller::watch_secrets`], for ConfigMaps.
    pub fn watch_config_maps(self, references: impl Fn(&R::Object) -> Vec<String> + Send + Sync + 'static) -> Self {
        self.watch_labelled::<ConfigMap>(references)
    }

    fn watch_labelled<O>(mut self, references: impl Fn(&R::Object) -> Vec<String> + Send + Sync + 'static) -> Self
    where
        O: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + Debug
            + DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        let namespace = self.settings.namespace.clone();
        let selector = self.settings.configs_label_selector.clone();
        self.watches.push(Box::new(move |controller: KubeController<R::Object>, client: &Client, queue| {
            let store = controller.store();
            let queue = queue.clone();
            let api: Api<O> = match &namespace {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            let config = watcher::Config::default().labels(&selector);
            controller.watches(api, config, move |object: O| {
                let name = object.name_any();
                let namespace = object.namespace();
                store
                    .state()
                    .into_iter()
                    .filter(|candidate| candidate.namespace() == namespace && references(candidate).contains(&name))
                    .map(|candidate| queue.triggered(ObjectRef::from_obj(&*candidate)))
                    .collect::<Vec<_>>()
            })
        }));
        self
    }

    /// Re-reconciles consumers when the artifact revision of a source they
    /// reference changes. `references` gives the sources an object consumes,
    /// `revision` a source's current artifact revision.
    pub fn watch_sources<S>(
        mut self,
        references: impl Fn(&R::Object) -> Vec<ObjectRef<S>> + Send + Sync + 'static,
        revision: impl Fn(&S) -> Option<String> + Send + Sync + 'static,
    ) -> Self
    where
        S: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Clone
            + Debug
            + DeserializeOwned
            + Send
            + Sync
            + 'static,
    {
        let namespace = self.settings.namespace.clone();
        self.watches.push(Box::new(move |controller: KubeController<R::Object>, client: &Client, queue| {
            let store = controller.store();
            let queue = queue.clone();
            let api: Api<S> = match &namespace {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            };
            let seen: Mutex<HashMap<ObjectRef<S>, Option<String>>> = Mutex::default();
            controller.watches(api, watcher::Config::default(), move |source: S| {
                let key = ObjectRef::from_obj(&source);
                let current = revision(&source);
                let previous =
                    seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(key.clone(), current.clone());
                // Consumers are reconciled at start anyway: trigger only on a change seen here.
                let changed = matches!(previous, Some(previous) if previous != current);
                if !changed {
                    return Vec::new();
                }
                store
                    .state()
                    .into_iter()
                    .filter(|candidate| references(candidate).contains(&key))
                    .map(|candidate| queue.triggered(ObjectRef::from_obj(&*candidate)))
                    .collect::<Vec<_>>()
            })
        }));
        self
    }

    /// Runs until `shutdown` resolves (then in-flight reconciles get
    /// `settings.shutdown_timeout` to finish) or leadership is lost (an
    /// error: the process should exit, as Flux's do).
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let Self { reconciler, client, settings, recorder, metrics, ready, leadership, watches } = self;
        let backoff = Backoff::new(settings.min_retry_delay, settings.max_retry_delay)?;
        let jitter = IntervalJitter::new(settings.interval_jitter_percentage)?;
        let metrics = match metrics {
            Some(metrics) => metrics,
            None => Metrics::new()?,
        };
        let api: Api<R::Object> = match &settings.namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let mut watch_config = watcher::Config::default();
        if let Some(selector) = &settings.label_selector {
            if selector.contains(['(', ')']) || selector.trim().is_empty() {
                return Err(Error::InvalidSelector(selector.clone()));
            }
            watch_config = watch_config.labels(selector);
        }

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped: Shared<BoxFuture<'static, ()>> = {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
            .boxed()
            .shared()
        };
        let leader_lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let stop_tx = stop_tx.clone();
            tokio::spawn(async move {
                shutdown.await;
                tracing::debug!("shutdown requested");
                stop_tx.send_replace(true);
            });
        }
        if let Some(mut leadership) = leadership.clone() {
            let stop_tx = stop_tx.clone();
            let leader_lost = leader_lost.clone();
            tokio::spawn(async move {
                leadership.acquired().await;
                leadership.lost().await;
                if !*stop_tx.borrow() {
                    leader_lost.store(true, std::sync::atomic::Ordering::SeqCst);
                    tracing::warn!("leadership lost, stopping");
                    stop_tx.send_replace(true);
                }
            });
        }

        tracing::debug!(namespace = ?settings.namespace, "starting controller");
        let (reader, writer) = reflector::store();
        let kind = <R::Object as Resource>::kind(&()).into_owned();
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState { due: HashMap::new(), running: HashSet::new() }),
            store: reader.clone(),
        });
        let queue_source: Arc<dyn QueueSource> = queue.clone();
        metrics.track_queue(&kind, settings.concurrency, Arc::downgrade(&queue_source));
        let trigger = {
            let queue = queue.clone();
            watcher(api, watch_config.clone())
                .default_backoff()
                .reflect(writer)
                .applied_objects()
                .predicate_filter(change_predicate::<R::Object>, Default::default())
                .inspect(move |object| {
                    if let Ok(object) = object {
                        queue.triggered(ObjectRef::from_obj(object));
                    }
                })
        };
        let mut controller = KubeController::for_stream(trigger, reader.clone())
            .with_config(ControllerConfig::default().concurrency(settings.concurrency))
            .graceful_shutdown_on(stopped.clone());
        for watch in watches {
            controller = watch(controller, &client, &queue);
        }
        if let Some(leadership) = leadership.clone() {
            let gained = futures::stream::unfold(leadership, |mut leadership| async move {
                leadership.acquired().await;
                tracing::debug!("leading: reconciling every object");
                let out = Some(((), leadership.clone()));
                leadership.lost().await;
                out
            });
            let (queue, reader) = (queue.clone(), reader.clone());
            controller = controller.reconcile_all_on(gained.inspect(move |()| {
                for object in reader.state() {
                    queue.triggered(ObjectRef::from_obj(&*object));
                }
            }));
        }
        if let Some(ready) = ready {
            let reader = reader.clone();
            tokio::spawn(async move {
                // kube's readiness signal wakes only its last waiter (the
                // controller itself), so poll it again now and then.
                loop {
                    match tokio::time::timeout(Duration::from_millis(250), reader.wait_until_ready()).await {
                        Ok(Ok(())) => {
                            tracing::debug!("caches synced, ready");
                            ready.set_ready(true);
                            break;
                        }
                        Ok(Err(error)) => {
                            tracing::warn!(%error, "cache never synced");
                            break;
                        }
                        Err(_) => {}
                    }
                }
            });
        }

        let shared = Arc::new(Inner {
            reconciler,
            ctx: Context {
                client,
                recorder,
                metrics,
                controller_name: settings.name.clone(),
                field_manager: settings.field_manager.clone(),
            },
            settings: settings.clone(),
            backoff,
            jitter,
            leadership,
        });
        let error_shared = shared.clone();
        let error_queue = queue.clone();
        let run = controller
            .run(
                move |object, shared: Arc<Inner<R>>| {
                    let queue = queue.clone();
                    async move {
                        let key = ObjectRef::from_obj(&*object);
                        let running = queue.started(key.clone());
                        let next = shared.reconcile(object).await;
                        drop(running);
                        Ok(match next? {
                            Some(delay) => {
                                queue.schedule(key, delay);
                                Action::requeue(delay)
                            }
                            None => Action::await_change(),
                        })
                    }
                },
                move |object, error: &Error, _| {
                    let key = object_key(&*object);
                    tracing::warn!(%error, name = %key, "reconcile failed");
                    let delay = error_shared.backoff.next_delay(&key);
                    error_queue.schedule(ObjectRef::from_obj(&*object), delay);
                    Action::requeue(delay)
                },
                shared,
            )
            .for_each(|_| std::future::ready(()));
        let mut run = std::pin::pin!(run);
        tokio::select! {
            _ = &mut run => {}
            _ = stopped.clone() => {
                tracing::info!(timeout = ?settings.shutdown_timeout, "shutting down, waiting for reconciles in flight");
                if tokio::time::timeout(settings.shutdown_timeout, &mut run).await.is_err() {
                    tracing::warn!("reconciles still running at the shutdown deadline, cancelling them");
                }
            }
        }
        if leader_lost.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::LeadershipLost);
        }
        Ok(())
    }
}

/// The addresses the runtime's servers listen on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bound {
    /// `/metrics`.
    pub metrics: Option<std::net::SocketAddr>,
    /// `/healthz` and `/readyz`.
    pub health: Option<std::net::SocketAddr>,
}

/// The process around its controllers: the metrics and probe servers,
/// events, leader election, and the order of shutdown (stop taking work,
/// finish the reconciles in flight, then release the Leases and stop the
/// servers).
///
/// One runtime can run several controllers ("all-in-one" mode, e.g. the
/// source and kustomize controllers in one process): they share the client,
/// one `/metrics` (every series is labelled by kind), one `/readyz` (ready
/// once every controller's caches are synced) and the event webhook. With
/// leader election each controller holds its own Lease,
/// `<name>-leader-election`, exactly as its Flux twin would, so a Ferry
/// all-in-one process and separate Flux or Ferry controllers never lead the
/// same kind at once.
pub struct Runtime {
    client: Client,
    settings: Settings,
    metrics: Metrics,
    health: Health,
    webhook: Option<crate::events::Webhook>,
    metrics_addr: Option<std::net::SocketAddr>,
    health_addr: Option<std::net::SocketAddr>,
    leader_election: Option<crate::leader::Config>,
    servers_stop: tokio::sync::watch::Sender<bool>,
    bound: Option<Bound>,
    controllers: Vec<(String, tokio::task::JoinHandle<Result<()>>)>,
    controllers_stop: tokio::sync::watch::Sender<bool>,
}

impl Runtime {
    /// A runtime with no servers, events to Kubernetes only and no leader election.
    pub fn new(client: Client, settings: Settings) -> Result<Self> {
        Ok(Self {
            client,
            settings,
            metrics: Metrics::new()?,
            health: Health::new(),
            webhook: None,
            metrics_addr: None,
            health_addr: None,
            leader_election: None,
            servers_stop: tokio::sync::watch::channel(false).0,
            bound: None,
            controllers: Vec::new(),
            controllers_stop: tokio::sync::watch::channel(false).0,
        })
    }

    /// A runtime configured by the common flags: `--metrics-addr`,
    /// `--health-addr`, `--events-addr` and `--enable-leader-election` (the
    /// Lease `<name>-leader-election` in `runtime_namespace`), besides the
    /// [`Settings::from_flags`].
    pub fn from_flags(client: Client, name: &str, flags: &RuntimeFlags, runtime_namespace: &str) -> Result<Self> {
        let invalid = |e: crate::flags::Error| Error::InvalidFlags(e.to_string());
        let mut runtime = Self::new(client, Settings::from_flags(name, flags, runtime_namespace))?;
        runtime.metrics_addr = flags.metrics_socket().map_err(invalid)?;
        runtime.health_addr = flags.health_socket().map_err(invalid)?;
        if !flags.events_addr.is_empty() {
            runtime.webhook =
                Some(crate::events::Webhook::new(&flags.events_addr).map_err(|e| Error::InvalidFlags(e.to_string()))?);
        }
        if flags.enable_leader_election {
            runtime.leader_election = Some(crate::leader::Config {
                lease_duration: flags.leader_election_lease_duration,
                renew_deadline: flags.leader_election_renew_deadline,
                retry_period: flags.leader_election_retry_period,
                release_on_cancel: flags.leader_election_release_on_cancel,
                ..crate::leader::Config::new(runtime_namespace, &format!("{name}-leader-election"))
            });
        }
        Ok(runtime)
    }

    /// Serves `/metrics` on `addr`.
    pub fn with_metrics_addr(mut self, addr: Option<std::net::SocketAddr>) -> Self {
        self.metrics_addr = addr;
        self
    }

    /// Serves `/healthz` and `/readyz` on `addr`.
    pub fn with_health_addr(mut self, addr: Option<std::net::SocketAddr>) -> Self {
        self.health_addr = addr;
        self
    }

    /// Also posts events to Flux's event webhook.
    pub fn with_events_webhook(mut self, webhook: Option<crate::events::Webhook>) -> Self {
        self.webhook = webhook;
        self
    }

    /// Reconciles only while holding the Lease `config` describes.
    pub fn with_leader_election(mut self, config: Option<crate::leader::Config>) -> Self {
        self.leader_election = config;
        self
    }

    /// The controller's client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The metrics, to register a controller's own.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Starts the servers now (rather than in [`Runtime::run`]) and returns
    /// where they listen; useful with port 0.
    pub async fn bind(&mut self) -> Result<Bound> {
        if let Some(bound) = self.bound {
            return Ok(bound);
        }
        let stopped = |rx: tokio::sync::watch::Receiver<bool>| async move {
            let mut rx = rx;
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let mut bound = Bound::default();
        if let Some(addr) = self.metrics_addr {
            bound.metrics = Some(self.metrics.serve(addr, stopped(self.servers_stop.subscribe())).await?.0);
        }
        if let Some(addr) = self.health_addr {
            bound.health = Some(self.health.serve(addr, stopped(self.servers_stop.subscribe())).await?.0);
        }
        self.bound = Some(bound);
        Ok(bound)
    }

    /// Runs `reconciler` until `shutdown` resolves or leadership is lost.
    /// `configure` adds watches to the controller before it starts.
    pub async fn run<R: Reconciler>(
        mut self,
        reconciler: R,
        configure: impl FnOnce(Controller<R>) -> Controller<R>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        self.spawn(reconciler, configure)?;
        self.wait(shutdown).await
    }

    /// Starts `reconciler` under the runtime's own controller name; see
    /// [`Runtime::spawn_as`].
    pub fn spawn<R: Reconciler>(
        &mut self,
        reconciler: R,
        configure: impl FnOnce(Controller<R>) -> Controller<R>,
    ) -> Result<()> {
        let name = self.settings.name.clone();
        self.spawn_as(&name, reconciler, configure)
    }

    /// Starts `reconciler` as the controller `name` (its events' reporting
    /// controller, its status field manager and its Lease
    /// `<name>-leader-election`), with the runtime's other settings.
    /// `configure` adds watches before it starts. It runs until
    /// [`Runtime::wait`]'s shutdown; `/readyz` waits for its caches from now
    /// on. Call it within a Tokio runtime.
    pub fn spawn_as<R: Reconciler>(
        &mut self,
        name: &str,
        reconciler: R,
        configure: impl FnOnce(Controller<R>) -> Controller<R>,
    ) -> Result<()> {
        if self.controllers.iter().any(|(running, _)| running == name) {
            return Err(Error::DuplicateController(name.to_string()));
        }
        let own = name == self.settings.name;
        let settings = if own {
            self.settings.clone()
        } else {
            Settings { name: name.to_string(), field_manager: name.to_string(), ..self.settings.clone() }
        };
        let lease = self.leader_election.clone().map(|config| {
            if own { config } else { crate::leader::Config { name: format!("{name}-leader-election"), ..config } }
        });
        let recorder = Recorder::new(self.client.clone(), name, self.webhook.clone());
        let controller = Controller::new(reconciler, self.client.clone(), settings)
            .with_recorder(recorder)
            .with_metrics(self.metrics.clone())
            .with_health(self.health.clone());
        let mut controller = configure(controller);
        let client = self.client.clone();
        let mut stop = self.controllers_stop.subscribe();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|stop| *stop).await;
            };
            let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
            let mut elector = None;
            if let Some(config) = lease {
                let lease = crate::leader::LeaderElector::new(client, config);
                controller = controller.with_leadership(lease.leadership());
                elector = Some(tokio::spawn(lease.run(async move {
                    let _ = done_rx.wait_for(|done| *done).await;
                })));
            }
            let result = controller.run(shutdown).await;
            // The Lease is released only once the reconciles in flight are done.
            done_tx.send_replace(true);
            if let Some(elector) = elector {
                let _ = elector.await;
            }
            result
        });
        self.controllers.push((name.to_string(), task));
        Ok(())
    }

    /// Serves `/metrics` and the probes, and runs the spawned controllers
    /// until `shutdown` resolves or one of them stops (leadership lost, a
    /// bad setting): then all of them stop taking work, finish what is in
    /// flight within the shutdown timeout and release their Leases, and the
    /// servers stop. Returns the first controller's error, if any.
    pub async fn wait(mut self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        self.bind().await?;
        let mut tasks: futures::stream::FuturesUnordered<_> = std::mem::take(&mut self.controllers)
            .into_iter()
            .map(|(name, task)| async move { (name, task.await) })
            .collect();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut stopping = false;
        let mut first_error = None;
        loop {
            tokio::select! {
                () = &mut shutdown, if !stopping => {
                    tracing::debug!("shutdown requested");
                    stopping = true;
                    self.controllers_stop.send_replace(true);
                }
                next = tasks.next() => {
                    let Some((name, joined)) = next else { break };
                    let result = joined.unwrap_or_else(|_| Err(Error::ControllerAborted(name.clone())));
                    if let Err(error) = result {
                        tracing::error!(controller = %name, %error, "controller stopped");
                        first_error.get_or_insert(error);
                    }
                    if !stopping {
                        // One controller ending ends the process, as with Flux.
                        stopping = true;
                        self.controllers_stop.send_replace(true);
                    }
                }
            }
        }
        self.servers_stop.send_replace(true);
        first_error.map_or(Ok(()), Err)
    }
}

/// Resolves on SIGTERM or Ctrl-C: pass it to [`Controller::run`].
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM, only Ctrl-C stops the controller");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown signal received");
}

/// What must change on an object for a watch event to trigger a reconcile:
/// generation (spec), annotations (requestedAt), labels, finalizers and
/// deletion. Status-only updates, including the harness's own, do not.
fn change_predicate<K: Resource>(object: &K) -> Option<u64> {
    let meta = object.meta();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    meta.annotations.hash(&mut hasher);
    meta.labels.hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    meta.deletion_timestamp.as_ref().map(|t| t.0.as_second()).hash(&mut hasher);
    meta.uid.hash(&mut hasher);
    Some(hasher.finish())
}

fn object_key<K: Resource>(object: &K) -> String {
    format!("{}/{}", object.meta().namespace.as_deref().unwrap_or(""), object.meta().name.as_deref().unwrap_or(""))
}

fn reconcile_id() -> String {
    let bits: u128 = rand::random();
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// When to reconcile an object again without a watch event: after the
/// delay, or (`None`) only on a change.
type Next = Option<Duration>;

/// The objects of one controller that are due for a reconcile but not yet
/// running: kube-runtime's scheduler is private, so the harness mirrors it.
/// Like the scheduler, it keeps one entry per object at the earliest time
/// asked for; an entry is due once its time has come, and is dropped when
/// the reconcile starts or the object leaves the cache.
struct Queue<K: Resource<DynamicType = ()> + Clone + 'static> {
    state: Mutex<QueueState<K>>,
    store: reflector::Store<K>,
}

struct QueueState<K: Resource<DynamicType = ()> + Clone + 'static> {
    /// When each object is next due.
    due: HashMap<ObjectRef<K>, Instant>,
    /// The objects being reconciled: a trigger meanwhile waits for the end
    /// of the reconcile, and counts only from then on (as in client-go's
    /// work queue).
    running: HashSet<ObjectRef<K>>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Queue<K> {
    /// A watch event (or a watched Secret, ConfigMap or source) asked for a
    /// reconcile now; returns `key` for the trigger stream.
    fn triggered(&self, key: ObjectRef<K>) -> ObjectRef<K> {
        self.insert(key.clone(), Instant::now());
        key
    }

    /// A reconcile asked to run again after `delay` (one too far away to
    /// represent is never due).
    fn schedule(&self, key: ObjectRef<K>, delay: Duration) {
        if let Some(at) = Instant::now().checked_add(delay) {
            self.insert(key, at);
        }
    }

    fn insert(&self, key: ObjectRef<K>, at: Instant) {
        self.lock().due.entry(key).and_modify(|due| *due = (*due).min(at)).or_insert(at);
    }

    /// The reconcile of `key` starts: it leaves the queue until the
    /// returned guard drops.
    fn started(self: &Arc<Self>, key: ObjectRef<K>) -> Running<K> {
        let mut state = self.lock();
        state.due.remove(&key);
        state.running.insert(key.clone());
        Running { queue: self.clone(), key }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState<K>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A reconcile in progress, as the queue sees it; dropping it (whether
/// the reconcile ended or was cancelled) ends it.
struct Running<K: Resource<DynamicType = ()> + Clone + 'static> {
    queue: Arc<Queue<K>>,
    key: ObjectRef<K>,
}

impl<K: Resource<DynamicType = ()> + Clone + 'static> Drop for Running<K> {
    fn drop(&mut self) {
        self.queue.lock().running.remove(&self.key);
    }
}

impl<K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static> QueueSource for Queue<K> {
    fn depth(&self) -> i64 {
        let now = Instant::now();
        let mut state = self.lock();
        // kube-runtime drops requests for objects no longer cached.
        state.due.retain(|key, _| self.store.get(key).is_some());
        let waiting = state.due.iter().filter(|(key, at)| **at <= now && !state.running.contains(*key)).count();
        waiting.try_into().unwrap_or(i64::MAX)
    }
}

/// What every reconcile of one controller shares.
struct Inner<R: Reconciler> {
    reconciler: R,
    ctx: Context,
    settings: Settings,
    backoff: Backoff,
    jitter: IntervalJitter,
    leadership: Option<Leadership>,
}

/// Decrements the in-flight gauge when a reconcile ends, however it ends.
struct InFlight<'a> {
    metrics: &'a Metrics,
    kind: &'a str,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.metrics.add_in_flight(self.kind, -1);
    }
}

impl<R: Reconciler> Inner<R>
where
    R::Object: Resource<Scope = NamespaceResourceScope>,
{
    async fn reconcile(&self, object: Arc<R::Object>) -> Result<Next> {
        if self.leadership.as_ref().is_some_and(|l| !l.is_leader()) {
            // Taking the lease also triggers a reconcile of everything; the
            // requeue is the safety net should that race with this check.
            tracing::debug!(name = %object.name_any(), "not the leader, skipping");
            return Ok(Some(STANDBY_RECHECK));
        }
        let kind = <R::Object as Resource>::kind(&()).into_owned();
        let name = object.name_any();
        let namespace = object.namespace().ok_or_else(|| Error::NoNamespace(name.clone()))?;
        let span = tracing::info_span!(
            "reconcile",
            controller = %self.settings.name,
            controllerKind = %kind,
            name = %name,
            namespace = %namespace,
            reconcileID = %reconcile_id(),
        );
        self.ctx.metrics.add_in_flight(&kind, 1);
        let _in_flight = InFlight { metrics: &self.ctx.metrics, kind: &kind };
        let started = Instant::now();
        let result = self.reconcile_inner(object, &kind, &namespace, &name).instrument(span).await;
        self.ctx.metrics.record_duration(&kind, &namespace, &name, started.elapsed());
        result
    }

    async fn reconcile_inner(&self, object: Arc<R::Object>, kind: &str, namespace: &str, name: &str) -> Result<Next> {
        let api: Api<R::Object> = Api::namespaced(self.ctx.client.clone(), namespace);
        let key = format!("{namespace}/{name}");
        let finalizer = self.settings.finalizer.as_str();
        let has_finalizer = object.finalizers().iter().any(|f| f == finalizer);

        if object.meta().deletion_timestamp.is_some() {
            if !has_finalizer {
                return Ok(None);
            }
            return match self.reconciler.cleanup(&object, &self.ctx).await {
                Ok(()) => {
                    let remaining: Vec<String> =
                        object.finalizers().iter().filter(|f| *f != finalizer).cloned().collect();
                    set_finalizers(&api, &object, remaining, &self.settings.field_manager).await?;
                    self.backoff.reset(&key);
                    self.ctx.metrics.record_condition(kind, namespace, name, conditions::READY, None);
                    self.ctx.metrics.record_result(kind, "deleted");
                    tracing::info!("cleaned up, finalizer removed");
                    Ok(None)
                }
                Err(error) => {
                    self.emit(&object, Severity::Error, error.reason(), &error.to_string(), None).await;
                    self.ctx.metrics.record_result(kind, error.class().as_str());
                    tracing::error!(error = %error, reason = error.reason(), "cleanup failed");
                    Ok(Some(self.backoff.next_delay(&key)))
                }
            };
        }

        let object = if has_finalizer {
            object
        } else {
            let mut finalizers = object.finalizers().to_vec();
            finalizers.push(finalizer.to_string());
            Arc::new(set_finalizers(&api, &object, finalizers, &self.settings.field_manager).await?)
        };

        let suspended = object.suspended();
        self.ctx.metrics.record_suspend(kind, namespace, name, suspended);
        if suspended {
            tracing::info!("reconciliation is suspended for this object");
            self.ctx.metrics.record_result(kind, "suspended");
            return Ok(None);
        }

        let before = object.status().cloned().unwrap_or_default();
        let mut status = before.clone();
        let result = self.reconciler.reconcile(&object, &mut status, &self.ctx).await;

        let generation = object.meta().generation;
        if let Some(requested) = object.annotations().get(REQUESTED_AT_ANNOTATION) {
            status.set_last_handled_reconcile_at(Some(requested.clone()));
        }
        let summary = self.reconciler.summary();
        let was_ready = conditions::get(before.conditions(), conditions::READY).cloned();
        let (action, label, event) = match result {
            Ok(outcome) => {
                let conds = status.conditions_mut();
                conditions::remove(conds, conditions::RECONCILING);
                conditions::remove(conds, conditions::STALLED);
                let ready_reason = outcome.ready_reason.as_deref().unwrap_or(conditions::SUCCEEDED);
                summary.set_ready(conds, ready_reason, &outcome.message, generation);
                status.set_observed_generation(generation);
                self.backoff.reset(&key);
                let ready = conditions::get(status.conditions(), conditions::READY).cloned();
                let changed = match (&was_ready, &ready) {
                    (Some(old), Some(new)) => old.status != new.status || old.message != new.message,
                    _ => true,
                };
                let event = (!outcome.quiet && changed && ready.as_ref().is_some_and(|r| r.is_true())).then(|| {
                    let reason = outcome.event_reason.clone().unwrap_or_else(|| conditions::SUCCEEDED.to_string());
                    (Severity::Info, reason, outcome.message.clone())
                });
                tracing::info!(revision = outcome.revision.as_deref().unwrap_or(""), "{}", outcome.message);
                let after = outcome.requeue_after.or_else(|| object.interval().map(|i| self.jitter.apply(i)));
                (after, "success", event.map(|e| (e, outcome.revision)))
            }
            Err(error) => {
                let reason = error.reason().to_string();
                let message = error.to_string();
                let class = error.class();
                let conds = status.conditions_mut();
                let fixed_delay = |delay: Option<Duration>| {
                    delay.or_else(|| object.retry_interval()).or_else(|| object.interval()).unwrap_or(DEFAULT_WAIT)
                };
                // Every class but Stalled keeps Reconciling=True: with retry
                // for failures, plain progress while waiting.
                let (action, severity, progress) = match class {
                    ErrorClass::Transient => {
                        (Some(self.backoff.next_delay(&key)), Severity::Error, conditions::PROGRESSING_WITH_RETRY)
                    }
                    ErrorClass::Retry(delay) => {
                        self.backoff.reset(&key);
                        (Some(fixed_delay(delay)), Severity::Error, conditions::PROGRESSING_WITH_RETRY)
                    }
                    ErrorClass::Waiting(delay) => {
                        self.backoff.reset(&key);
                        (Some(fixed_delay(delay)), Severity::Info, conditions::PROGRESSING)
                    }
                    ErrorClass::Stalled => {
                        self.backoff.reset(&key);
                        (None, Severity::Error, "")
                    }
                };
                if matches!(class, ErrorClass::Stalled) {
                    conditions::remove(conds, conditions::RECONCILING);
                    conditions::mark_true(conds, conditions::STALLED, &reason, &message, generation);
                    status.set_observed_generation(generation);
                } else {
                    conditions::remove(conds, conditions::STALLED);
                    conditions::mark_true(conds, conditions::RECONCILING, progress, &message, generation);
                }
                conditions::mark_false(status.conditions_mut(), conditions::READY, &reason, &message, generation);
                if matches!(class, ErrorClass::Waiting(_)) {
                    tracing::info!(reason = %reason, class = class.as_str(), message = %message, "waiting");
                } else {
                    tracing::error!(reason = %reason, class = class.as_str(), error = %message, "reconciliation failed");
                }
                let event = error.records_event().then_some(((severity, reason, message), None));
                (action, class.as_str(), event)
            }
        };

        status::patch(&api, &object, &status, &self.settings.field_manager).await?;

        self.ctx.metrics.record_result(kind, label);
        if let Some(ready) = conditions::get(status.conditions(), conditions::READY) {
            self.ctx.metrics.record_condition(kind, namespace, name, conditions::READY, Some(ready.status.as_str()));
        }
        if let Some(((severity, reason, message), revision)) = event {
            self.emit(&object, severity, &reason, &message, revision).await;
        }
        Ok(action)
    }

    async fn emit(
        &self,
        object: &R::Object,
        severity: Severity,
        reason: &str,
        message: &str,
        revision: Option<String>,
    ) {
        let Some(recorder) = &self.ctx.recorder else { return };
        let metadata: BTreeMap<String, String> =
            revision.into_iter().map(|r| (events::META_REVISION_KEY.to_string(), r)).collect();
        if let Err(error) = recorder.record(object, severity, reason, message, &metadata).await {
            tracing::warn!(%error, "recording event");
        }
    }
}

/// Sets the finalizers with a merge patch conditional on the resourceVersion read.
async fn set_finalizers<K>(api: &Api<K>, object: &K, finalizers: Vec<String>, field_manager: &str) -> Result<K>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    let name = object.name_any();
    let patch = serde_json::json!({
        "metadata": {
            "finalizers": finalizers,
            "resourceVersion": object.resource_version(),
        }
    });
    let params = PatchParams { field_manager: Some(field_manager.to_string()), ..PatchParams::default() };
    api.patch(&name, &params, &Patch::Merge(&patch)).await.map_err(|source| Error::FinalizerFailed { name, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    #[test]
    fn predicate_ignores_status_only_changes() {
        let mut object = ConfigMap {
            metadata: ObjectMeta { name: Some("a".into()), generation: Some(1), ..ObjectMeta::default() },
            ..ConfigMap::default()
        };
        let first = change_predicate(&object);
        object.metadata.resource_version = Some("42".into());
        object.data = Some([("k".to_string(), "v".to_string())].into());
        assert_eq!(change_predicate(&object), first);
        object.metadata.annotations = Some([(REQUESTED_AT_ANNOTATION.to_string(), "now".to_string())].into());
        assert_ne!(change_predicate(&object), first);
    }

    #[test]
    fn reconcile_ids_look_like_uuids() {
        let id = reconcile_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
    }
}
