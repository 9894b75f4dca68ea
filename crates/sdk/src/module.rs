//! A controller packaged for a binary: its name, its flags and how it adds
//! its kinds to a [`Manager`]. Each controller crate exports one
//! [`Module`]; its own binary runs it alone ([`main`]) and
//! `ferry controllers run` runs several in one process ([`command`] and
//! [`run`]), so adding a controller to the all-in-one binary is adding its
//! module to a list.

use clap::{ArgMatches, Args, Command, FromArgMatches};

use crate::client::ClientFactory;
use crate::flags::RuntimeFlags;
use crate::reconcile::{Manager, Runtime, shutdown_signal};

/// Any error a module's setup or the process can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One controller identity, ready to be run by a binary.
#[derive(Debug, Clone, Copy)]
pub struct Module {
    /// The identity (`source-controller`): the binary's name, the events'
    /// reporting controller, the field manager and the Lease prefix.
    pub name: &'static str,
    /// One line for `--help`: what it reconciles.
    pub about: &'static str,
    /// Adds the module's own flags to a command (its clap `Args`'
    /// `augment_args`); the common ones are added once for all modules.
    pub flags: fn(Command) -> Command,
    /// Reads the module's flags from [`Setup::matches`] and adds its kinds
    /// (and whatever runs beside them, such as an artifact server stopping
    /// with [`Runtime::stopped`]) to the manager of its identity.
    pub add: for<'r, 's> fn(Manager<'r>, &'s Setup<'s>) -> Result<Manager<'r>, BoxError>,
}

/// What a module reads while adding its kinds.
pub struct Setup<'a> {
    /// The parsed command line, with the module's own flags.
    pub matches: &'a ArgMatches,
    /// The common flags.
    pub flags: &'a RuntimeFlags,
    /// The namespace the process runs in (`--runtime-namespace`).
    pub runtime_namespace: &'a str,
    /// Makes clients, for impersonation and remote clusters.
    pub factory: &'a ClientFactory,
}

/// The flags every controller process takes, whatever its modules.
#[derive(Debug, Clone, Args)]
pub struct ProcessFlags {
    /// The common controller flags.
    #[command(flatten)]
    pub runtime: RuntimeFlags,
    /// The namespace the controllers run in (watched alone without
    /// --watch-all-namespaces; holds the leader-election Leases).
    #[arg(long, env = "RUNTIME_NAMESPACE", default_value = "flux-system")]
    pub runtime_namespace: String,
}

/// Adds the common flags and every module's own to `command`; with several
/// modules, each one's flags appear under its name in `--help`.
pub fn command(command: Command, modules: &[&Module]) -> Command {
    let mut command = ProcessFlags::augment_args(command);
    for module in modules {
        if modules.len() > 1 {
            command = command.next_help_heading(module.name);
        }
        command = (module.flags)(command);
    }
    command.next_help_heading(None::<&str>)
}

/// Runs `modules` in one process named `process` (its logs' and traces'
/// service name) until SIGTERM or Ctrl-C, with the flags in `matches`
/// (parsed from a [`command`]).
pub async fn run(process: &str, modules: &[&Module], matches: &ArgMatches) -> Result<(), BoxError> {
    let process_flags = ProcessFlags::from_arg_matches(matches)?;
    let flags = &process_flags.runtime;
    let _telemetry =
        crate::telemetry::init_with_otlp(flags.log_level, flags.log_encoding, &flags.otlp_endpoint, process)?;
    if modules.is_empty() {
        return Err("no controller to run".into());
    }
    let factory = ClientFactory::infer(flags.kube_api_qps, flags.kube_api_burst).await?;
    let namespace = process_flags.runtime_namespace.as_str();
    let mut runtime = Runtime::from_flags(factory.client()?, process, flags, namespace)?;
    let setup = Setup { matches, flags, runtime_namespace: namespace, factory: &factory };
    for module in modules {
        (module.add)(runtime.manager(module.name), &setup)?.start()?;
    }
    let names: Vec<&str> = modules.iter().map(|module| module.name).collect();
    tracing::info!(controllers = ?names, "starting");
    runtime.wait(shutdown_signal()).await?;
    Ok(())
}

/// The `main` of a controller's own binary: its command line (the common
/// flags and its own, named after it), then [`run`].
pub async fn main(module: &Module) -> Result<(), BoxError> {
    let matches = command(Command::new(module.name).about(module.about), &[module]).get_matches();
    run(module.name, &[module], &matches).await
}
