//! Ferry's source-controller: reconciles GitRepository objects into
//! tarballs in its storage, and serves them to the other controllers, with
//! Flux's flags, conditions, events and artifact format.

pub mod gitrepository;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ferry_sdk::events::{Recorder, Webhook};
use ferry_sdk::health::Health;
use ferry_sdk::leader::{self, LeaderElector};
use ferry_sdk::metrics::Metrics;
use ferry_sdk::reconcile::{Controller, Settings};
use ferry_storage::{DigestAlgorithm, Storage};
use kube::Client;

/// The controller's name: event source, field manager, leader lease prefix.
pub const CONTROLLER_NAME: &str = "source-controller";

/// The storage flags of Flux's source-controller.
#[derive(Debug, Clone, clap::Args)]
pub struct StorageFlags {
    /// The local storage path.
    #[arg(long = "storage-path", default_value = "/data")]
    pub storage_path: std::path::PathBuf,
    /// The address the static file server binds to.
    #[arg(long = "storage-addr", default_value = ":9090")]
    pub storage_addr: String,
    /// The advertised address of the static file server.
    #[arg(long = "storage-adv-addr", default_value = "")]
    pub storage_adv_addr: String,
    /// The duration of time that artifacts from previous reconciliations will be kept in storage before
    /// being garbage collected.
    #[arg(long = "artifact-retention-ttl", default_value = "60s", value_parser = ferry_sdk::flags::parse_duration)]
    pub artifact_retention_ttl: Duration,
    /// The maximum number of artifacts to be kept in storage after a garbage collection.
    #[arg(long = "artifact-retention-records", default_value_t = 2)]
    pub artifact_retention_records: usize,
    /// The algorithm to use to calculate the digest of artifacts.
    #[arg(long = "artifact-digest-algo", default_value = "sha256")]
    pub artifact_digest_algo: String,
}

impl StorageFlags {
    /// The storage these flags describe, creating its directory. The
    /// advertised address defaults to this host's name and the storage port.
    pub fn storage(&self) -> anyhow::Result<Storage> {
        std::fs::create_dir_all(&self.storage_path)
            .with_context(|| format!("creating storage path {}", self.storage_path.display()))?;
        let algorithm: DigestAlgorithm = self.artifact_digest_algo.parse()?;
        let advertised = if self.storage_adv_addr.is_empty() {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
            let port = self.storage_addr.rsplit_once(':').map_or("9090", |(_, p)| p);
            format!("{host}:{port}")
        } else {
            self.storage_adv_addr.clone()
        };
        Ok(Storage::new(
            &self.storage_path,
            advertised,
            self.artifact_retention_ttl,
            self.artifact_retention_records,
            algorithm,
        )?)
    }
}

/// How to run the controller.
pub struct Options {
    /// Names, scope and timings.
    pub settings: Settings,
    /// The artifact storage.
    pub storage: Storage,
    /// Where the artifact server listens (`None`: not served).
    pub storage_addr: Option<SocketAddr>,
    /// Where events are posted, besides Kubernetes Events.
    pub events_addr: Option<String>,
    /// Where `/metrics` is served.
    pub metrics_addr: Option<SocketAddr>,
    /// Where `/healthz` and `/readyz` are served.
    pub health_addr: Option<SocketAddr>,
    /// Leader election, when enabled.
    pub leader_election: Option<leader::Config>,
}

/// Addresses actually bound (useful with port 0).
#[derive(Debug, Clone, Copy, Default)]
pub struct Bound {
    /// The artifact server.
    pub storage: Option<SocketAddr>,
    /// The metrics endpoint.
    pub metrics: Option<SocketAddr>,
    /// The health endpoints.
    pub health: Option<SocketAddr>,
}

/// Runs the artifact server and the GitRepository controller until
/// `shutdown` completes.
pub async fn run(
    client: Client,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
    bound: Option<tokio::sync::oneshot::Sender<Bound>>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let mut addresses = Bound::default();
    let storage = Arc::new(options.storage);
    if let Some(addr) = options.storage_addr {
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        addresses.storage = Some(listener.local_addr()?);
        let router = ferry_storage::server::router(storage.base());
        let stop = stopped();
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).with_graceful_shutdown(stop).await {
                tracing::error!(%err, "artifact server failed");
            }
        });
    }
    let metrics = Metrics::new()?;
    let health = Health::new();
    if let Some(addr) = options.metrics_addr {
        addresses.metrics = Some(metrics.serve(addr, stopped()).await?.0);
    }
    if let Some(addr) = options.health_addr {
        addresses.health = Some(health.serve(addr, stopped()).await?.0);
    }
    if let Some(bound) = bound {
        let _ = bound.send(addresses);
    }
    let webhook = options.events_addr.as_deref().map(Webhook::new).transpose()?;
    let recorder = Recorder::new(client.clone(), &options.settings.name, webhook);
    let reconciler = gitrepository::GitRepositoryReconciler::new(storage);
    let mut controller = Controller::new(reconciler, client.clone(), options.settings)
        .with_recorder(recorder)
        .with_metrics(metrics)
        .with_health(health)
        .watch_secrets(|repo: &ferry_api_source::GitRepository| {
            let spec = &repo.spec;
            spec.secret_ref
                .iter()
                .chain(spec.proxy_secret_ref.iter())
                .map(|r| r.name.clone())
                .chain(spec.verify.iter().map(|v| v.secret_ref.name.clone()))
                .collect()
        });
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
    let mut elector_task = None;
    if let Some(config) = options.leader_election {
        let elector = LeaderElector::new(client.clone(), config);
        controller = controller.with_leadership(elector.leadership());
        let mut done = done_rx.clone();
        elector_task = Some(tokio::spawn(elector.run(async move {
            let _ = done.wait_for(|done| *done).await;
        })));
    }
    let result = controller.run(shutdown).await;
    done_tx.send_replace(true);
    stop_tx.send_replace(true);
    if let Some(task) = elector_task {
        let _ = task.await;
    }
    Ok(result?)
}
