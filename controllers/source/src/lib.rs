//! Ferry's source-controller: reconciles GitRepository objects into
//! tarballs in its storage, and serves them to the other controllers, with
//! Flux's flags, conditions, events and artifact format.
// Library users (the all-in-one binary, the twin tests, other controllers'
// tests) read these items' docs: every public item says what it is for.
#![deny(missing_docs)]

pub mod gitrepository;

pub use gitrepository::GitOptions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ferry_sdk::reconcile::{Controller, Runtime};
use ferry_storage::{DigestAlgorithm, Storage};
use gitrepository::GitRepositoryReconciler;

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

/// The other flags of Flux's source-controller.
#[derive(Debug, Clone, clap::Args)]
pub struct SourceFlags {
    /// The key exchange algorithms for SSH connections, most preferred first.
    #[arg(long = "ssh-kex-algos", value_delimiter = ',')]
    pub ssh_kex_algos: Vec<String>,
    /// The host key algorithms for SSH connections, most preferred first.
    #[arg(long = "ssh-hostkey-algos", value_delimiter = ',')]
    pub ssh_hostkey_algos: Vec<String>,
    /// The max allowed size in bytes of a Helm repository index (accepted for Flux's
    /// manifests: Ferry's source-controller serves GitRepositories only so far).
    #[arg(long = "helm-index-max-size", default_value_t = 50 << 20)]
    pub helm_index_max_size: i64,
    /// The max allowed size in bytes of a Helm chart (accepted, see `--helm-index-max-size`).
    #[arg(long = "helm-chart-max-size", default_value_t = 10 << 20)]
    pub helm_chart_max_size: i64,
    /// The max allowed size in bytes of a file in a Helm chart (accepted, see `--helm-index-max-size`).
    #[arg(long = "helm-chart-file-max-size", default_value_t = 5 << 20)]
    pub helm_chart_file_max_size: i64,
    /// The maximum size of the Helm index cache (accepted, see `--helm-index-max-size`).
    #[arg(long = "helm-cache-max-size", default_value_t = 0)]
    pub helm_cache_max_size: i64,
    /// The TTL of a cached Helm index (accepted, see `--helm-index-max-size`).
    #[arg(long = "helm-cache-ttl", default_value = "15m")]
    pub helm_cache_ttl: String,
    /// The interval at which the Helm index cache is purged (accepted, see `--helm-index-max-size`).
    #[arg(long = "helm-cache-purge-interval", default_value = "1m")]
    pub helm_cache_purge_interval: String,
}

impl SourceFlags {
    /// The GitRepository options these flags and the common ones describe.
    pub fn options(&self, runtime: &ferry_sdk::flags::RuntimeFlags) -> GitOptions {
        GitOptions {
            ssh_kex_algorithms: self.ssh_kex_algos.iter().filter(|a| !a.is_empty()).cloned().collect(),
            ssh_host_key_algorithms: self.ssh_hostkey_algos.iter().filter(|a| !a.is_empty()).cloned().collect(),
            requeue_dependency: runtime.requeue_dependency,
        }
    }
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

/// Serves the storage over HTTP on `addr` until `stop` completes; returns
/// the bound address (useful with port 0).
pub async fn serve_storage(
    storage: &Storage,
    addr: SocketAddr,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    let bound = listener.local_addr()?;
    let router = ferry_storage::server::router(storage.base());
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router).with_graceful_shutdown(stop).await {
            tracing::error!(%err, "artifact server failed");
        }
    });
    Ok(bound)
}

/// The watches of the GitRepository controller: its Secrets, and the
/// GitRepositories it includes (a new artifact of an included repository
/// rebuilds its includers at once, except along include cycles).
pub fn watches(controller: Controller<GitRepositoryReconciler>) -> Controller<GitRepositoryReconciler> {
    use ferry_api_source::GitRepository;
    use kube::runtime::reflector::ObjectRef;
    let graph = Arc::new(gitrepository::include::IncludeGraph::default());
    let observed = graph.clone();
    controller
        .watch_secrets(|repo: &GitRepository| {
            let spec = &repo.spec;
            spec.secret_ref
                .iter()
                .chain(spec.proxy_secret_ref.iter())
                .map(|r| r.name.clone())
                .chain(spec.verify.iter().map(|v| v.secret_ref.name.clone()))
                .collect()
        })
        .watch_sources(
            move |includer: &GitRepository| {
                if !graph.wakes(includer) {
                    return Vec::new();
                }
                let namespace = kube::ResourceExt::namespace(includer).unwrap_or_default();
                includer
                    .spec
                    .include
                    .iter()
                    .flatten()
                    .map(|include| ObjectRef::new(&include.repository.name).within(&namespace))
                    .collect()
            },
            move |source: &GitRepository| observed.observe(source),
        )
}

/// Starts the artifact server (when `storage_addr` is set, until `stop`
/// completes) and spawns the GitRepository controller into `runtime`, as
/// `source-controller`, for [`Runtime::wait`] to run: the all-in-one mode
/// runs it next to other controllers this way.
pub async fn spawn(
    runtime: &mut Runtime,
    storage: Storage,
    storage_addr: Option<SocketAddr>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    spawn_with(runtime, storage, storage_addr, GitOptions::default(), stop).await
}

/// [`spawn`] with GitRepository options.
pub async fn spawn_with(
    runtime: &mut Runtime,
    storage: Storage,
    storage_addr: Option<SocketAddr>,
    options: GitOptions,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if let Some(addr) = storage_addr {
        serve_storage(&storage, addr, stop).await?;
    }
    let reconciler = GitRepositoryReconciler::new(Arc::new(storage)).with_options(options);
    runtime.spawn_as(CONTROLLER_NAME, reconciler, watches)?;
    Ok(())
}

/// Runs the artifact server (when `storage_addr` is set) and the
/// GitRepository controller on `runtime` until `shutdown` completes.
pub async fn run(
    runtime: Runtime,
    storage: Storage,
    storage_addr: Option<SocketAddr>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with(runtime, storage, storage_addr, GitOptions::default(), shutdown).await
}

/// [`run`] with GitRepository options.
pub async fn run_with(
    runtime: Runtime,
    storage: Storage,
    storage_addr: Option<SocketAddr>,
    options: GitOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    if let Some(addr) = storage_addr {
        serve_storage(&storage, addr, async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        })
        .await?;
    }
    let reconciler = GitRepositoryReconciler::new(Arc::new(storage)).with_options(options);
    let result = runtime.run(reconciler, watches, shutdown).await;
    stop_tx.send_replace(true);
    Ok(result?)
}
