//! Ferry's developer commands. Run them as `cargo xtask <command>`.

mod cluster;
mod codegen;
mod demo;
mod deps;
mod gobuild;
mod paths;
mod pki;
mod test;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Ferry's developer commands")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Manage the local Kubernetes control plane.
    Cluster {
        #[command(subcommand)]
        action: ClusterCmd,
    },
    /// Lint and run every test against the local control plane.
    Test(test::Options),
    /// Write the CRDs and the API reference from the types in `api/`.
    Codegen {
        /// Write nothing; fail when a committed file differs from what the types generate.
        #[arg(long)]
        check: bool,
    },
    /// Ferry's main job end to end on the local control plane.
    Demo {
        /// Verify and exit instead of staying up until Ctrl-C.
        #[arg(long)]
        once: bool,
    },
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// Start etcd, the API server, controller-manager, scheduler and kwok.
    Up,
    /// Stop every process `up` started and remove the state.
    Down,
    /// Show what runs and where.
    Status,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Cluster { action } => {
            let runtime = tokio::runtime::Runtime::new()?;
            match action {
                ClusterCmd::Up => runtime.block_on(cluster::up()).map(|_| ()),
                ClusterCmd::Down => cluster::down(),
                ClusterCmd::Status => runtime.block_on(cluster::status()),
            }
        }
        Cmd::Test(options) => test::run(options),
        Cmd::Codegen { check } => codegen::run(check),
        Cmd::Demo { once } => demo::run(once),
    }
}
