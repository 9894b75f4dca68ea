//! `source-controller`: Flux's source-controller flags, Ferry's engine.

use clap::Parser;
use ferry_sdk::flags::RuntimeFlags;
use ferry_sdk::reconcile::Runtime;
use ferry_source_controller::{CONTROLLER_NAME, SourceFlags, StorageFlags};

#[derive(Parser)]
#[command(name = "source-controller", about = "Reconciles Flux sources into artifacts and serves them")]
struct Cli {
    #[command(flatten)]
    runtime: RuntimeFlags,
    #[command(flatten)]
    storage: StorageFlags,
    #[command(flatten)]
    source: SourceFlags,
    /// The namespace the controller runs in (watched alone without
    /// --watch-all-namespaces).
    #[arg(long, env = "RUNTIME_NAMESPACE", default_value = "flux-system")]
    runtime_namespace: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let flags = cli.runtime;
    let _telemetry = ferry_sdk::telemetry::init_with_otlp(
        flags.log_level,
        flags.log_encoding,
        &flags.otlp_endpoint,
        CONTROLLER_NAME,
    )?;
    let factory = ferry_sdk::client::ClientFactory::infer(flags.kube_api_qps, flags.kube_api_burst).await?;
    let runtime = Runtime::from_flags(factory.client()?, CONTROLLER_NAME, &flags, &cli.runtime_namespace)?;
    let storage = cli.storage.storage()?;
    let storage_addr = ferry_sdk::flags::parse_addr(&cli.storage.storage_addr)?;
    let options = cli.source.options(&flags);
    ferry_source_controller::run_with(runtime, storage, storage_addr, options, ferry_sdk::reconcile::shutdown_signal())
        .await
}
