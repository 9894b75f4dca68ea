//! The process around its controller identities: the client, the metrics
//! and probe servers, the event webhook, leader-election settings, and the
//! order of shutdown.

use futures::StreamExt;
use kube::Client;

use super::{Error, Manager, Reconciler, Result, Settings};
use crate::events::Webhook;
use crate::flags::RuntimeFlags;
use crate::health::Health;
use crate::leader;
use crate::metrics::Metrics;

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
/// Each controller identity is a [`Manager`] ([`Runtime::manager`]); one
/// runtime can run several ("all-in-one" mode, e.g. source-controller and
/// kustomize-controller in one process): they share the client, one
/// `/metrics` (every series is labelled by kind), one `/readyz` (ready once
/// every kind's cache is synced) and the event webhook. With leader election
/// each identity holds its own Lease, `<name>-leader-election`, exactly as
/// its Flux twin would, so a Ferry all-in-one process and separate Flux or
/// Ferry controllers never lead the same kind at once.
pub struct Runtime {
    client: Client,
    settings: Settings,
    metrics: Metrics,
    health: Health,
    webhook: Option<Webhook>,
    metrics_addr: Option<std::net::SocketAddr>,
    health_addr: Option<std::net::SocketAddr>,
    leader_election: Option<leader::Config>,
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
        let mut runtime = Self::new(client, Settings::from_flags(name, flags, runtime_namespace))?;
        runtime.metrics_addr = flags.metrics_socket().map_err(Error::InvalidAddress)?;
        runtime.health_addr = flags.health_socket().map_err(Error::InvalidAddress)?;
        // A Go `host:port` is notification-controller's own bind address, not a URL to post to.
        let bind_address = crate::flags::parse_addr(&flags.events_addr).is_ok();
        if !flags.events_addr.is_empty() && !bind_address {
            runtime.webhook = Some(Webhook::new(&flags.events_addr).map_err(Error::InvalidEventsAddress)?);
        }
        if flags.enable_leader_election {
            runtime.leader_election = Some(leader::Config {
                lease_duration: flags.leader_election_lease_duration,
                renew_deadline: flags.leader_election_renew_deadline,
                retry_period: flags.leader_election_retry_period,
                release_on_cancel: flags.leader_election_release_on_cancel,
                ..leader::Config::new(runtime_namespace, &format!("{name}-leader-election"))
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
    pub fn with_events_webhook(mut self, webhook: Option<Webhook>) -> Self {
        self.webhook = webhook;
        self
    }

    /// Reconciles only while holding a Lease timed as `config` says: each
    /// identity holds `<name>-leader-election` in its namespace (an identity
    /// named as the runtime's settings takes `config`'s own name).
    pub fn with_leader_election(mut self, config: Option<leader::Config>) -> Self {
        self.leader_election = config;
        self
    }

    /// The controllers' client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The metrics, to register a controller's own.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The process's settings; each identity takes them with its own name.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(super) fn health(&self) -> &Health {
        &self.health
    }

    pub(super) fn webhook(&self) -> Option<Webhook> {
        self.webhook.clone()
    }

    /// The Lease of the identity `name`, when leader election is on.
    pub(super) fn lease(&self, name: &str) -> Option<leader::Config> {
        let own = name == self.settings.name;
        self.leader_election.clone().map(|config| {
            if own { config } else { leader::Config { name: format!("{name}-leader-election"), ..config } }
        })
    }

    pub(super) fn has_controller(&self, name: &str) -> bool {
        self.controllers.iter().any(|(running, _)| running == name)
    }

    pub(super) fn push_controller(&mut self, name: String, task: tokio::task::JoinHandle<Result<()>>) {
        self.controllers.push((name, task));
    }

    /// Turns true when the controllers are to stop.
    pub(super) fn stop_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.controllers_stop.subscribe()
    }

    /// The controller identity `name`: add its kinds, then
    /// [`start`](Manager::start) it. One identity per name and process.
    pub fn manager(&mut self, name: &str) -> Manager<'_> {
        Manager::new(self, name)
    }

    /// Resolves once [`Runtime::wait`] has stopped the controllers and the
    /// servers: for a server a controller runs beside its kinds (such as
    /// source-controller's artifact server).
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.servers_stop.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    /// Starts the servers now (rather than in [`Runtime::wait`]) and returns
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

    /// Runs `reconciler` as the runtime's own identity until `shutdown`
    /// resolves or leadership is lost; `configure` adds its watches. The
    /// short form of a [`Manager`] with one kind.
    pub async fn run<R: Reconciler>(
        mut self,
        reconciler: R,
        configure: impl FnOnce(super::Controller<R>) -> super::Controller<R>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let name = self.settings.name.clone();
        self.manager(&name).add_with(reconciler, configure).start()?;
        self.wait(shutdown).await
    }

    /// Serves `/metrics` and the probes, and runs the started managers
    /// until `shutdown` resolves or one of them stops (leadership lost, a
    /// bad setting): then all of them stop taking work, finish what is in
    /// flight within the shutdown timeout and release their Leases, and the
    /// servers stop. Returns the first manager's error, if any.
    pub async fn wait(mut self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let bound = self.bind().await;
        let mut tasks: futures::stream::FuturesUnordered<_> = std::mem::take(&mut self.controllers)
            .into_iter()
            .map(|(name, task)| async move { (name, task.await) })
            .collect();
        let mut first_error = bound.err();
        let mut stopping = first_error.is_some();
        if stopping {
            self.controllers_stop.send_replace(true);
        }
        let mut shutdown = std::pin::pin!(shutdown);
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

/// Resolves on SIGTERM or Ctrl-C: pass it to [`Runtime::wait`].
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
