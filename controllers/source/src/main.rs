//! `source-controller`: Flux's source-controller flags, Ferry's engine.

use clap::Parser;
use ferry_sdk::flags::RuntimeFlags;
use ferry_sdk::reconcile::Settings;
use ferry_source_controller::{CONTROLLER_NAME, Options, StorageFlags};

#[derive(Parser)]
#[command(name = "source-controller", about = "Reconciles Flux sources into artifacts and serves them")]
struct Cli {
    #[command(flatten)]
    runtime: RuntimeFlags,
    #[command(flatten)]
    storage: StorageFlags,
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
    let client = factory.client()?;
    let leader_election = flags.enable_leader_election.then(|| ferry_sdk::leader::Config {
        lease_duration: flags.leader_election_lease_duration,
        renew_deadline: flags.leader_election_renew_deadline,
        retry_period: flags.leader_election_retry_period,
        ..ferry_sdk::leader::Config::new(&cli.runtime_namespace, &format!("{CONTROLLER_NAME}-leader-election"))
    });
    let options = Options {
        settings: Settings::from_flags(CONTROLLER_NAME, &flags, &cli.runtime_namespace),
        storage: cli.storage.storage()?,
        storage_addr: ferry_sdk::flags::parse_addr(&cli.storage.storage_addr)?,
        events_addr: (!flags.events_addr.is_empty()).then(|| flags.events_addr.clone()),
        metrics_addr: flags.metrics_socket()?,
        health_addr: flags.health_socket()?,
        leader_election,
    };
    ferry_source_controller::run(client, options, ferry_sdk::reconcile::shutdown_signal(), None).await
}
