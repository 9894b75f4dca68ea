//! Ferry's source-controller: reconciles GitRepository objects into
//! tarballs, HelmRepository indexes into stored indexes, HelmCharts into
//! packaged charts, OCIRepositories into tarballs of their layer and
//! Buckets into tarballs of their objects, serves them to the other
//! controllers, with Flux's flags, conditions, events and artifact format.
// Library users (the all-in-one binary, the twin tests, other controllers'
// tests) read these items' docs: every public item says what it is for.
#![deny(missing_docs)]

pub mod bucket;
pub mod gitrepository;
pub mod helmchart;
pub mod helmrepository;
pub mod ocirepository;
pub mod verify;

pub use gitrepository::GitOptions;
pub use helmchart::HelmChartOptions;
pub use helmrepository::HelmOptions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bucket::BucketReconciler;
use clap::{Args as _, FromArgMatches as _};
use ferry_sdk::module::{BoxError, Module, Setup};
use ferry_sdk::reconcile::{Controller, Manager, Runtime};
use ferry_storage::{DigestAlgorithm, Storage};
use gitrepository::GitRepositoryReconciler;
use helmchart::HelmChartReconciler;
use helmrepository::HelmRepositoryReconciler;
use ocirepository::OCIRepositoryReconciler;

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
    /// The max allowed size in bytes of a Helm repository index.
    #[arg(long = "helm-index-max-size", default_value_t = 50 << 20)]
    pub helm_index_max_size: i64,
    /// The max allowed size in bytes of a Helm chart.
    #[arg(long = "helm-chart-max-size", default_value_t = 10 << 20)]
    pub helm_chart_max_size: i64,
    /// The max allowed size in bytes of a file in a Helm chart.
    #[arg(long = "helm-chart-file-max-size", default_value_t = 5 << 20)]
    pub helm_chart_file_max_size: i64,
    /// The maximum size of the Helm index cache (accepted; Ferry keeps no index cache).
    #[arg(long = "helm-cache-max-size", default_value_t = 0)]
    pub helm_cache_max_size: i64,
    /// The TTL of a cached Helm index (accepted, see `--helm-cache-max-size`).
    #[arg(long = "helm-cache-ttl", default_value = "15m")]
    pub helm_cache_ttl: String,
    /// The interval at which the Helm index cache is purged (accepted, see `--helm-cache-max-size`).
    #[arg(long = "helm-cache-purge-interval", default_value = "1m")]
    pub helm_cache_purge_interval: String,
}

/// The options of source-controller's kinds.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// GitRepository's.
    pub git: GitOptions,
    /// HelmRepository's.
    pub helm: HelmOptions,
    /// HelmChart's.
    pub chart: HelmChartOptions,
}

impl SourceFlags {
    /// The options these flags and the common ones describe.
    pub fn options(&self, runtime: &ferry_sdk::flags::RuntimeFlags) -> Options {
        Options {
            git: GitOptions {
                ssh_kex_algorithms: self.ssh_kex_algos.iter().filter(|a| !a.is_empty()).cloned().collect(),
                ssh_host_key_algorithms: self.ssh_hostkey_algos.iter().filter(|a| !a.is_empty()).cloned().collect(),
                requeue_dependency: runtime.requeue_dependency,
            },
            helm: HelmOptions {
                // A negative size admits nothing, as Go's comparison with it does.
                index_max_size: u64::try_from(self.helm_index_max_size).unwrap_or(0),
            },
            chart: HelmChartOptions {
                chart_max_size: u64::try_from(self.helm_chart_max_size).unwrap_or(0),
                chart_file_max_size: u64::try_from(self.helm_chart_file_max_size).unwrap_or(0),
                requeue_dependency: runtime.requeue_dependency,
            },
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
/// the bound address (useful with port 0). Call it within a Tokio runtime.
pub fn serve_storage(
    storage: &Storage,
    addr: SocketAddr,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    listener.set_nonblocking(true).with_context(|| format!("binding {addr}"))?;
    let listener = tokio::net::TcpListener::from_std(listener).with_context(|| format!("binding {addr}"))?;
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

/// The watches of the HelmRepository controller: its Secrets.
pub fn helm_repository_watches(
    controller: Controller<HelmRepositoryReconciler>,
) -> Controller<HelmRepositoryReconciler> {
    use ferry_api_source::HelmRepository;
    controller.watch_secrets(|repo: &HelmRepository| {
        let spec = &repo.spec;
        spec.secret_ref.iter().chain(spec.cert_secret_ref.iter()).map(|r| r.name.clone()).collect()
    })
}

/// The watches of the OCIRepository controller: its Secrets.
pub fn oci_repository_watches(controller: Controller<OCIRepositoryReconciler>) -> Controller<OCIRepositoryReconciler> {
    use ferry_api_source::OCIRepository;
    controller.watch_secrets(|repo: &OCIRepository| {
        let spec = &repo.spec;
        spec.secret_ref.iter().chain(spec.cert_secret_ref.iter()).map(|r| r.name.clone()).collect()
    })
}

/// The watches of the Bucket controller: its Secrets.
pub fn bucket_watches(controller: Controller<BucketReconciler>) -> Controller<BucketReconciler> {
    use ferry_api_source::Bucket;
    controller.watch_secrets(|bucket: &Bucket| {
        let spec = &bucket.spec;
        spec.secret_ref
            .iter()
            .chain(spec.cert_secret_ref.iter())
            .chain(spec.proxy_secret_ref.iter())
            .map(|r| r.name.clone())
            .collect()
    })
}

/// The watches of the HelmChart controller: the HelmRepositories,
/// GitRepositories and Buckets its charts come from (a new index or revision rebuilds
/// the charts that use it at once).
pub fn helm_chart_watches(controller: Controller<HelmChartReconciler>) -> Controller<HelmChartReconciler> {
    use ferry_api_source::{Bucket, GitRepository, HelmChart, HelmChartSourceKind, HelmRepository};
    use kube::runtime::reflector::ObjectRef;
    fn source_of<S>(chart: &HelmChart, kind: HelmChartSourceKind) -> Vec<ObjectRef<S>>
    where
        S: kube::Resource<DynamicType = ()>,
    {
        let source = &chart.spec.source_ref;
        if source.kind != kind {
            return Vec::new();
        }
        let namespace = kube::ResourceExt::namespace(chart).unwrap_or_default();
        vec![ObjectRef::new(&source.name).within(&namespace)]
    }
    controller
        .watch_sources(
            |chart: &HelmChart| source_of::<HelmRepository>(chart, HelmChartSourceKind::HelmRepository),
            |repo: &HelmRepository| repo.status.as_ref()?.artifact.as_ref().map(|a| a.revision.clone()),
        )
        .watch_sources(
            |chart: &HelmChart| source_of::<GitRepository>(chart, HelmChartSourceKind::GitRepository),
            |repo: &GitRepository| repo.status.as_ref()?.artifact.as_ref().map(|a| a.revision.clone()),
        )
        .watch_sources(
            |chart: &HelmChart| source_of::<Bucket>(chart, HelmChartSourceKind::Bucket),
            |bucket: &Bucket| bucket.status.as_ref()?.artifact.as_ref().map(|a| a.revision.clone()),
        )
}

/// source-controller as a module of a binary: its flags (the storage and
/// source ones) and its kinds. Its own binary and `ferry controllers run`
/// both run it.
pub static MODULE: Module = Module {
    name: CONTROLLER_NAME,
    about: "Reconciles Flux sources (GitRepository, HelmRepository, HelmChart, OCIRepository, Bucket) into artifacts and serves them",
    flags: module_flags,
    add: module_add,
};

fn module_flags(command: clap::Command) -> clap::Command {
    SourceFlags::augment_args(StorageFlags::augment_args(command))
}

fn module_add<'r>(manager: Manager<'r>, setup: &Setup<'_>) -> Result<Manager<'r>, BoxError> {
    let storage_flags = StorageFlags::from_arg_matches(setup.matches)?;
    let source_flags = SourceFlags::from_arg_matches(setup.matches)?;
    let storage = storage_flags.storage()?;
    let storage_addr = ferry_sdk::flags::parse_addr(&storage_flags.storage_addr)?;
    Ok(add_kinds(manager, storage, storage_addr, source_flags.options(setup.flags))?)
}

/// Adds source-controller's kinds to `manager` (the manager of
/// [`CONTROLLER_NAME`]), and serves the artifacts on `storage_addr`, when
/// set, until the runtime stops. Call it within a Tokio runtime.
pub fn add_kinds<'r>(
    manager: Manager<'r>,
    storage: Storage,
    storage_addr: Option<SocketAddr>,
    options: Options,
) -> anyhow::Result<Manager<'r>> {
    let helm = HelmRepositoryReconciler::new(Arc::new(storage.clone())).with_options(options.helm);
    let chart = HelmChartReconciler::new(Arc::new(storage.clone())).with_options(options.chart);
    let oci = OCIRepositoryReconciler::new(Arc::new(storage.clone()));
    let bucket = BucketReconciler::new(Arc::new(storage.clone()));
    Ok(add_git_repository(manager, storage, storage_addr, options.git)?
        .add_with(helm, helm_repository_watches)
        .add_with(chart, helm_chart_watches)
        .add_with(oci, oci_repository_watches)
        .add_with(bucket, bucket_watches))
}

/// Adds the artifact server (when `storage_addr` is set) and GitRepository
/// alone to `manager`: for a manager that brings its own reconcilers of the
/// other source kinds, as the manager's own test does.
pub fn add_git_repository<'r>(
    manager: Manager<'r>,
    storage: Storage,
    storage_addr: Option<SocketAddr>,
    options: GitOptions,
) -> anyhow::Result<Manager<'r>> {
    if let Some(addr) = storage_addr {
        serve_storage(&storage, addr, manager.runtime().stopped())?;
    }
    let reconciler = GitRepositoryReconciler::new(Arc::new(storage)).with_options(options);
    Ok(manager.add_with(reconciler, watches))
}

/// Runs the artifact server (when `storage_addr` is set) and
/// source-controller's kinds on `runtime` until `shutdown` completes.
pub async fn run(
    runtime: Runtime,
    storage: Storage,
    storage_addr: Option<SocketAddr>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with(runtime, storage, storage_addr, Options::default(), shutdown).await
}

/// [`run`] with the kinds' options.
pub async fn run_with(
    mut runtime: Runtime,
    storage: Storage,
    storage_addr: Option<SocketAddr>,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    add_kinds(runtime.manager(CONTROLLER_NAME), storage, storage_addr, options)?.start()?;
    Ok(runtime.wait(shutdown).await?)
}
