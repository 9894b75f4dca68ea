//! Ferry's developer commands. Run them as `cargo xtask <command>`.

mod bench;
mod bench_fleet;
mod bench_git;
mod bench_helm;
mod cluster;
mod cluster_stress;
mod codegen;
mod demo;
mod deps;
mod gobuild;
mod paths;
mod pki;
mod smp_table;
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
    /// Benchmarks against the peer tools, in the same run.
    Bench {
        #[command(subcommand)]
        target: BenchCmd,
    },
    /// Build the peer tools (Helm, the flux CLI, Flux's kustomize-controller) from `hack/` when missing and print their paths.
    Tools {
        /// Only this tool; prints its path alone.
        tool: Option<Tool>,
    },
    /// Ferry's main job end to end on the local control plane.
    Demo {
        /// Verify and exit instead of staying up until Ctrl-C.
        #[arg(long)]
        once: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Tool {
    Helm,
    Flux,
    FluxKustomizeController,
    Kustomize,
    Minio,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// `ferry kustomize build` against `kubectl kustomize` on a large overlay.
    Kustomize(bench::Options),
    /// Clone and package a large repository, against git clone + tar.
    Git(bench_git::Options),
    /// Ferry's kustomize-controller against Flux's: N Kustomizations from scratch.
    Fleet(bench_fleet::Options),
    /// Ferry's Helm engine against `helm template` over the public chart corpus.
    Helm(bench_helm::Options),
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// Start etcd, the API server, controller-manager, scheduler and kwok.
    Up,
    /// Stop every process `up` started and remove the state.
    Down,
    /// Show what runs and where.
    Status,
    /// Consecutive up/down cycles while a build loads the machine; fails on any failed cycle.
    Stress(cluster_stress::Options),
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
                ClusterCmd::Stress(options) => cluster_stress::run(&options),
            }
        }
        Cmd::Test(options) => test::run(options),
        Cmd::Codegen { check } => codegen::run_all(check),
        Cmd::Bench { target: BenchCmd::Git(options) } => bench_git::run(&options),
        Cmd::Bench { target: BenchCmd::Fleet(options) } => bench_fleet::run(&options),
        Cmd::Bench { target: BenchCmd::Kustomize(options) } => bench::run(&options),
        Cmd::Bench { target: BenchCmd::Helm(options) } => bench_helm::run(&options),
        Cmd::Demo { once } => demo::run(once),
        Cmd::Tools { tool: Some(Tool::Helm) } => gobuild::helm().map(|path| println!("{}", path.display())),
        Cmd::Tools { tool: Some(Tool::Flux) } => gobuild::flux().map(|path| println!("{}", path.display())),
        Cmd::Tools { tool: Some(Tool::FluxKustomizeController) } => {
            gobuild::flux_kustomize_controller().map(|path| println!("{}", path.display()))
        }
        Cmd::Tools { tool: Some(Tool::Kustomize) } => gobuild::kustomize().map(|path| println!("{}", path.display())),
        Cmd::Tools { tool: Some(Tool::Minio) } => gobuild::minio().map(|path| println!("{}", path.display())),
        Cmd::Tools { tool: None } => gobuild::tools().map(|tools| {
            println!("{}={}", gobuild::HELM_ENV, tools.helm.display());
            println!("{}={}", gobuild::FLUX_ENV, tools.flux.display());
            println!("{}={}", gobuild::FLUX_KUSTOMIZE_CONTROLLER_ENV, tools.flux_kustomize_controller.display());
            println!("{}={}", gobuild::KUSTOMIZE_ENV, tools.kustomize.display());
            println!("{}={}", gobuild::MINIO_ENV, tools.minio.display());
        }),
    }
}
