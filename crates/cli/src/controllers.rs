//! `ferry controllers run`: several controllers in one process, sharing one
//! Kubernetes client, one metrics and one health server. For small clusters
//! and laptops; each controller keeps its own name, field manager, events
//! and leader-election Lease, so it behaves as its standalone twin does.
//!
//! The controllers are the [`MODULES`] their crates export: adding one here
//! adds its name to `--controllers` and its flags to `--help`.

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Arg, ArgMatches, Args, Command, FromArgMatches};
use ferry_sdk::module::Module;

/// The controllers the all-in-one mode can run, in the order they start.
pub static MODULES: [&Module; 4] = [
    &ferry_source_controller::MODULE,
    &ferry_kustomize_controller::MODULE,
    &ferry_helm_controller::MODULE,
    &ferry_notification_controller::MODULE,
];

/// The process's name in logs and metrics.
pub const NAME: &str = "ferry";

/// `ferry controllers run` flags: `--controllers`, the common ones and
/// every module's own (parsed by the modules themselves).
#[derive(Debug, Clone)]
pub struct RunArgs {
    /// The controllers chosen.
    pub controllers: Vec<String>,
    matches: ArgMatches,
}

impl FromArgMatches for RunArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let controllers = matches.get_many::<String>("controllers").into_iter().flatten().cloned().collect();
        Ok(Self { controllers, matches: matches.clone() })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for RunArgs {
    fn augment_args(command: Command) -> Command {
        let names: Vec<&'static str> = MODULES.iter().map(|module| module.name).collect();
        let choices = MODULES.iter().map(|module| PossibleValue::new(module.name).help(module.about));
        let command = command.arg(
            Arg::new("controllers")
                .long("controllers")
                .help("The controllers to run")
                .value_delimiter(',')
                .value_parser(PossibleValuesParser::new(choices))
                .default_values(names),
        );
        ferry_sdk::module::command(command, &MODULES)
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

/// Runs the chosen controllers until SIGTERM or Ctrl-C.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.controllers.is_empty() {
        anyhow::bail!("no controller chosen: --controllers takes {}", MODULES.map(|m| m.name).join(", "));
    }
    // In the order of MODULES, each once.
    let chosen: Vec<&Module> =
        MODULES.iter().copied().filter(|module| args.controllers.iter().any(|name| name == module.name)).collect();
    ferry_sdk::module::run(NAME, &chosen, &args.matches).await.map_err(|error| anyhow::anyhow!(error))
}
