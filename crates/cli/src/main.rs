//! `ferry`: Ferry's command line.

mod artifact;
mod controllers;
mod helm;

use clap::{Parser, Subcommand, ValueEnum};
use ferry_kustomize::{BuildOptions, LoadRestrictions, RealFs};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Ferry's command line: native GitOps tools, and the controllers in one process"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Kustomize, natively.
    Kustomize {
        #[command(subcommand)]
        command: KustomizeCmd,
    },
    /// Helm charts, natively.
    Helm {
        #[command(subcommand)]
        command: helm::HelmCmd,
    },
    /// Push Flux artifacts to an OCI registry.
    Push {
        #[command(subcommand)]
        command: PushCmd,
    },
    /// Pull Flux artifacts from an OCI registry.
    Pull {
        #[command(subcommand)]
        command: PullCmd,
    },
    /// Ferry's controllers.
    Controllers {
        #[command(subcommand)]
        command: ControllersCmd,
    },
}

#[derive(Subcommand)]
enum PushCmd {
    /// Package a directory as a Flux OCI artifact and push it (as `flux push artifact`).
    Artifact(Box<artifact::PushArgs>),
}

#[derive(Subcommand)]
enum PullCmd {
    /// Pull a Flux OCI artifact and extract its content (as `flux pull artifact`).
    Artifact(Box<artifact::PullArgs>),
}

#[derive(Subcommand)]
enum ControllersCmd {
    /// Run several controllers in one process (all-in-one mode for small clusters).
    Run(Box<controllers::RunArgs>),
}

#[derive(Subcommand)]
enum KustomizeCmd {
    /// Build a kustomization directory and print the resulting YAML stream.
    Build {
        /// The directory holding kustomization.yaml (default: the current directory).
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Which files a kustomization may read.
        #[arg(long, value_enum, default_value_t = Restrictor::LoadRestrictionsRootOnly)]
        load_restrictor: Restrictor,
    },
}

#[derive(Clone, Copy, ValueEnum)]
#[allow(clippy::enum_variant_names)]
enum Restrictor {
    #[value(name = "LoadRestrictionsRootOnly")]
    LoadRestrictionsRootOnly,
    #[value(name = "LoadRestrictionsNone")]
    LoadRestrictionsNone,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Controllers { command: ControllersCmd::Run(args) } => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("Error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(controllers::run(*args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("Error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Push { command: PushCmd::Artifact(args) } => block_on(artifact::push(*args)),
        Cmd::Pull { command: PullCmd::Artifact(args) } => block_on(artifact::pull(*args)),
        Cmd::Helm { command } => helm::main(command),
        Cmd::Kustomize { command: KustomizeCmd::Build { dir, load_restrictor } } => {
            let options = BuildOptions {
                load_restrictions: match load_restrictor {
                    Restrictor::LoadRestrictionsRootOnly => LoadRestrictions::RootOnly,
                    Restrictor::LoadRestrictionsNone => LoadRestrictions::None,
                },
                ..BuildOptions::default()
            };
            match ferry_kustomize::build(&RealFs, &dir, &options) {
                Ok(yaml) => {
                    let mut out = std::io::stdout().lock();
                    if out.write_all(yaml.as_bytes()).and_then(|_| out.flush()).is_err() {
                        return ExitCode::FAILURE;
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("Error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Runs `future` on a fresh Tokio runtime, printing its error.
fn block_on(future: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let result = tokio::runtime::Runtime::new().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(future));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("✗ {e:#}");
            ExitCode::FAILURE
        }
    }
}
