//! `ferry controllers run`: several controllers in one process, sharing one
//! Kubernetes client, one metrics and one health server. For small clusters
//! and laptops; each controller keeps its own name, field manager, events
//! and leader-election Lease, so it behaves as its standalone twin does.

use clap::{Args, ValueEnum};
use ferry_kustomize_controller::KustomizeFlags;
use ferry_sdk::flags::RuntimeFlags;
use ferry_sdk::reconcile::Runtime;
use ferry_source_controller::{SourceFlags, StorageFlags};

/// The controllers the all-in-one mode can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Name {
    /// GitRepository, and the artifact server.
    #[value(name = "source-controller")]
    Source,
    /// Kustomization.
    #[value(name = "kustomize-controller")]
    Kustomize,
}

/// `ferry controllers run` flags: the union of the controllers' own.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The controllers to run.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "source-controller,kustomize-controller")]
    pub controllers: Vec<Name>,
    #[command(flatten)]
    pub runtime: RuntimeFlags,
    #[command(flatten)]
    pub storage: StorageFlags,
    #[command(flatten)]
    pub source: SourceFlags,
    #[command(flatten)]
    pub kustomize: KustomizeFlags,
    /// The namespace the controllers run in (watched alone without
    /// --watch-all-namespaces; holds the leader-election Leases).
    #[arg(long, env = "RUNTIME_NAMESPACE", default_value = "flux-system")]
    pub runtime_namespace: String,
}

/// The process's name in logs and metrics.
pub const NAME: &str = "ferry";

/// Runs the chosen controllers until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let flags = &args.runtime;
    let _telemetry =
        ferry_sdk::telemetry::init_with_otlp(flags.log_level, flags.log_encoding, &flags.otlp_endpoint, NAME)?;
    if args.controllers.is_empty() {
        anyhow::bail!("no controller chosen: --controllers takes source-controller and/or kustomize-controller");
    }
    let factory = ferry_sdk::client::ClientFactory::infer(flags.kube_api_qps, flags.kube_api_burst).await?;
    let mut runtime = Runtime::from_flags(factory.client()?, NAME, flags, &args.runtime_namespace)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut names = Vec::new();
    for controller in dedup(&args.controllers) {
        match controller {
            Name::Source => {
                let storage = args.storage.storage()?;
                let addr = ferry_sdk::flags::parse_addr(&args.storage.storage_addr)?;
                let mut stop = stop_rx.clone();
                let options = args.source.options(flags);
                ferry_source_controller::spawn_with(&mut runtime, storage, addr, options, async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                })
                .await?;
                names.push(ferry_source_controller::CONTROLLER_NAME);
            }
            Name::Kustomize => {
                let options = args.kustomize.options(flags, &args.runtime_namespace)?;
                ferry_kustomize_controller::spawn(&mut runtime, factory.clone(), options)?;
                names.push(ferry_kustomize_controller::CONTROLLER_NAME);
            }
        }
    }
    tracing::info!(controllers = ?names, "starting");
    let result = runtime.wait(ferry_sdk::reconcile::shutdown_signal()).await;
    stop_tx.send_replace(true);
    Ok(result?)
}

fn dedup(names: &[Name]) -> Vec<Name> {
    let mut out = Vec::new();
    for name in names {
        if !out.contains(name) {
            out.push(*name);
        }
    }
    out
}
