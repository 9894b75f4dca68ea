//! An example controller built on ferry-sdk: `Mirror` keeps a copy of a
//! ConfigMap. See `docs/sdk.md` for the walk-through.
//!
//! ```text
//! kubectl apply --server-side -f <(cargo run -p ferry-sdk --example configmap_mirror -- --print-crd)
//! cargo run -p ferry-sdk --example configmap_mirror -- --log-encoding=console
//! ```

mod mirror;

use clap::Parser;
use ferry_sdk::deps::kube::CustomResourceExt;
use ferry_sdk::flags::RuntimeFlags;
use ferry_sdk::reconcile::{Runtime, shutdown_signal};

#[derive(Parser)]
#[command(about = "Mirror controller: keeps copies of ConfigMaps (a ferry-sdk example)")]
struct Cli {
    #[command(flatten)]
    runtime: RuntimeFlags,
    /// The controller's own namespace (the Lease lives here).
    #[arg(long, env = "RUNTIME_NAMESPACE", default_value = "default")]
    runtime_namespace: String,
    /// Print the Mirror CRD as YAML and exit.
    #[arg(long)]
    print_crd: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.print_crd {
        print!("{}", serde_yaml_ng::to_string(&mirror::Mirror::crd())?);
        return Ok(());
    }
    let flags = cli.runtime;
    // Logs like Flux's; spans over OTLP when --otlp-endpoint is set (flushed when `_telemetry` drops).
    let _telemetry = ferry_sdk::telemetry::init_with_otlp(
        flags.log_level,
        flags.log_encoding,
        &flags.otlp_endpoint,
        mirror::CONTROLLER_NAME,
    )?;
    let factory = ferry_sdk::client::ClientFactory::infer(flags.kube_api_qps, flags.kube_api_burst).await?;
    let runtime = Runtime::from_flags(factory.client()?, mirror::CONTROLLER_NAME, &flags, &cli.runtime_namespace)?;
    runtime.run(mirror::MirrorReconciler, mirror::watches, shutdown_signal()).await?;
    Ok(())
}
