//! `kustomize-controller`: Flux's kustomize-controller flags, Ferry's engine.

use clap::Parser;
use ferry_kustomize_controller::{CONTROLLER_NAME, KustomizeFlags};
use ferry_sdk::flags::RuntimeFlags;
use ferry_sdk::reconcile::Runtime;

#[derive(Parser)]
#[command(name = "kustomize-controller", about = "Builds and applies Flux Kustomizations")]
struct Cli {
    #[command(flatten)]
    runtime: RuntimeFlags,
    #[command(flatten)]
    kustomize: KustomizeFlags,
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
    let options = cli.kustomize.options(&flags, &cli.runtime_namespace)?;
    let factory = ferry_sdk::client::ClientFactory::infer(flags.kube_api_qps, flags.kube_api_burst).await?;
    let runtime = Runtime::from_flags(factory.client()?, CONTROLLER_NAME, &flags, &cli.runtime_namespace)?;
    ferry_kustomize_controller::run(runtime, factory, options, ferry_sdk::reconcile::shutdown_signal()).await
}
