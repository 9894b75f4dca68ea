//! One controller identity (`source-controller`, `helm-controller`, ...)
//! running any number of kinds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};

use super::controller::{Controller, Wiring};
use super::{Error, Reconciler, Result, Runtime};
use crate::events::Recorder;
use crate::leader::LeaderElector;

/// Runs one kind until the shared stop resolves.
type Kind = Box<dyn FnOnce(Wiring, Shared<BoxFuture<'static, ()>>) -> BoxFuture<'static, Result<()>> + Send>;

/// One controller identity, as its Flux twin is one manager: however many
/// kinds it runs, they share one Lease `<name>-leader-election`, one field
/// manager and one event source (`reportingController`), and the process's
/// one metrics registry and health endpoint, where each kind keeps its own
/// label (`kind="GitRepository"`, `controller="gitrepository"`).
///
/// Made by [`Runtime::manager`]; [`Manager::start`] starts its kinds, and
/// [`Runtime::wait`] runs them until shutdown.
///
/// ```no_run
/// use ferry_sdk::reconcile::{Controller, Reconciler, Runtime, Settings, shutdown_signal};
///
/// async fn run<A: Reconciler, B: Reconciler>(client: kube::Client, a: A, b: B) -> Result<(), ferry_sdk::reconcile::Error> {
///     let mut runtime = Runtime::new(client, Settings::new("example-controller"))?;
///     runtime
///         .manager("example-controller")
///         .add(a)
///         .add_controller(Controller::new(b).watch_secrets(|_| Vec::new()))
///         .start()?;
///     runtime.wait(shutdown_signal()).await
/// }
/// ```
pub struct Manager<'r> {
    runtime: &'r mut Runtime,
    name: String,
    kinds: Vec<(String, Kind)>,
    error: Option<Error>,
}

impl<'r> Manager<'r> {
    pub(super) fn new(runtime: &'r mut Runtime, name: &str) -> Self {
        Self { runtime, name: name.to_string(), kinds: Vec::new(), error: None }
    }

    /// The identity's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The runtime, for what a controller runs beside its kinds (its
    /// client, a server of its own that stops with [`Runtime::stopped`]).
    pub fn runtime(&self) -> &Runtime {
        &*self.runtime
    }

    /// Adds a kind that watches only its own objects.
    // `add` reads as the list of kinds it builds; it is no arithmetic `Add`.
    #[allow(clippy::should_implement_trait)]
    pub fn add<R: Reconciler>(self, reconciler: R) -> Self {
        self.add_controller(Controller::new(reconciler))
    }

    /// Adds a kind, with `configure` adding its watches.
    pub fn add_with<R: Reconciler>(
        self,
        reconciler: R,
        configure: impl FnOnce(Controller<R>) -> Controller<R>,
    ) -> Self {
        self.add_controller(configure(Controller::new(reconciler)))
    }

    /// Adds a kind with its watches. A kind added twice is an error,
    /// returned by [`Manager::start`].
    pub fn add_controller<R: Reconciler>(mut self, controller: Controller<R>) -> Self {
        let kind = Controller::<R>::kind();
        if self.kinds.iter().any(|(added, _)| *added == kind) {
            self.error.get_or_insert(Error::DuplicateKind { controller: self.name.clone(), kind });
            return self;
        }
        let run: Kind = Box::new(move |wiring, stopped| controller.run(wiring, stopped).boxed());
        self.kinds.push((kind, run));
        self
    }

    /// Starts the kinds (call it within a Tokio runtime): they take the
    /// Lease when leader election is on, and run until [`Runtime::wait`]'s
    /// shutdown or until one of them stops; then all of them finish their
    /// reconciles in flight before the Lease is released. `/readyz` waits
    /// for every kind's cache from now on.
    pub fn start(self) -> Result<()> {
        let Self { runtime, name, kinds, error } = self;
        if let Some(error) = error {
            return Err(error);
        }
        if runtime.has_controller(&name) {
            return Err(Error::DuplicateController(name));
        }
        if kinds.is_empty() {
            return Err(Error::NoKinds(name));
        }
        let settings = runtime.settings().named(&name);
        let lease = runtime.lease(&name);
        let recorder = Recorder::new(runtime.client().clone(), &name, runtime.webhook());
        let wirings: Vec<_> = kinds
            .into_iter()
            .map(|(kind, run)| {
                let wiring = Wiring {
                    client: runtime.client().clone(),
                    settings: settings.clone(),
                    recorder: Some(recorder.clone()),
                    metrics: runtime.metrics().clone(),
                    ready: Some(runtime.health().gate()),
                    leadership: None,
                };
                (kind, run, wiring)
            })
            .collect();
        let client = runtime.client().clone();
        let mut shutdown = runtime.stop_signal();
        let task = tokio::spawn(async move {
            let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
            let stopped: Shared<BoxFuture<'static, ()>> = async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            }
            .boxed()
            .shared();
            {
                let stop_tx = stop_tx.clone();
                tokio::spawn(async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                    stop_tx.send_replace(true);
                });
            }
            let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
            let leader_lost = Arc::new(AtomicBool::new(false));
            let mut elector = None;
            let mut leadership = None;
            if let Some(config) = lease {
                let lease = LeaderElector::new(client, config);
                leadership = Some(lease.leadership());
                let mut watched = lease.leadership();
                let (stop_tx, leader_lost) = (stop_tx.clone(), leader_lost.clone());
                tokio::spawn(async move {
                    watched.acquired().await;
                    watched.lost().await;
                    if !*stop_tx.borrow() {
                        leader_lost.store(true, Ordering::SeqCst);
                        tracing::warn!("leadership lost, stopping");
                        stop_tx.send_replace(true);
                    }
                });
                elector = Some(tokio::spawn(lease.run(async move {
                    let _ = done_rx.wait_for(|done| *done).await;
                })));
            }
            let mut running: futures::stream::FuturesUnordered<_> = wirings
                .into_iter()
                .map(|(kind, run, wiring)| {
                    let wiring = Wiring { leadership: leadership.clone(), ..wiring };
                    let run = run(wiring, stopped.clone());
                    async move { (kind, run.await) }
                })
                .collect();
            let mut first_error = None;
            while let Some((kind, result)) = running.next().await {
                if let Err(error) = result {
                    tracing::error!(%kind, %error, "controller stopped");
                    first_error.get_or_insert(error);
                }
                // One kind ending ends its manager, as one controller-runtime manager would.
                stop_tx.send_replace(true);
            }
            // The Lease is released only once the reconciles in flight are done.
            done_tx.send_replace(true);
            if let Some(elector) = elector {
                let _ = elector.await;
            }
            if leader_lost.load(Ordering::SeqCst) {
                return Err(Error::LeadershipLost);
            }
            first_error.map_or(Ok(()), Err)
        });
        runtime.push_controller(name, task);
        Ok(())
    }
}
