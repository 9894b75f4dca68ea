//! How the controllers of one identity run: names, scope and timings.

use std::time::Duration;

use super::{FINALIZER, WATCH_LABEL, WATCH_LABEL_ENABLED};
use crate::flags::RuntimeFlags;

/// How a controller runs: names, scope and timings. A [`Runtime`](super::Runtime)
/// holds the process's; each [`Manager`](super::Manager) takes them with its
/// own name.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The controller's name: reporting controller of events, and by default
    /// the field manager.
    pub name: String,
    /// The field manager of status and finalizer patches (Flux: the controller's name, or the
    /// reconciler's [`Reconciler::status_manager`](super::Reconciler::status_manager) while
    /// this is left at the default).
    pub field_manager: String,
    /// The finalizer added to objects.
    pub finalizer: String,
    /// Watch one namespace, or all when `None`.
    pub namespace: Option<String>,
    /// Only objects matching this label selector (sharding).
    pub label_selector: Option<String>,
    /// The label selector of the Secrets and ConfigMaps watched for by
    /// [`Controller::watch_secrets`](super::Controller::watch_secrets) and
    /// [`Controller::watch_config_maps`](super::Controller::watch_config_maps)
    /// (`--watch-configs-label-selector`).
    pub configs_label_selector: String,
    /// Reconciles of one kind at once.
    pub concurrency: u16,
    /// Lower bound of the retry backoff.
    pub min_retry_delay: Duration,
    /// Upper bound of the retry backoff.
    pub max_retry_delay: Duration,
    /// Interval jitter, in percent.
    pub interval_jitter_percentage: u8,
    /// How long reconciles in flight may take after shutdown starts.
    pub shutdown_timeout: Duration,
}

impl Settings {
    /// Flux's defaults for a controller called `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            field_manager: name.to_string(),
            finalizer: FINALIZER.to_string(),
            namespace: None,
            label_selector: None,
            configs_label_selector: format!("{WATCH_LABEL}={WATCH_LABEL_ENABLED}"),
            concurrency: 4,
            min_retry_delay: crate::backoff::DEFAULT_MIN_RETRY_DELAY,
            max_retry_delay: crate::backoff::DEFAULT_MAX_RETRY_DELAY,
            interval_jitter_percentage: crate::backoff::DEFAULT_INTERVAL_JITTER_PERCENTAGE,
            shutdown_timeout: Duration::from_secs(600),
        }
    }

    /// The settings given by the common flags; `runtime_namespace` is the
    /// one watched when `--watch-all-namespaces=false`.
    pub fn from_flags(name: &str, flags: &RuntimeFlags, runtime_namespace: &str) -> Self {
        Self {
            namespace: (!flags.watch_all_namespaces).then(|| runtime_namespace.to_string()),
            label_selector: (!flags.watch_label_selector.is_empty()).then(|| flags.watch_label_selector.clone()),
            configs_label_selector: flags.watch_configs_label_selector.clone(),
            concurrency: flags.concurrent,
            min_retry_delay: flags.min_retry_delay,
            max_retry_delay: flags.max_retry_delay,
            interval_jitter_percentage: flags.interval_jitter_percentage,
            shutdown_timeout: flags.graceful_shutdown_timeout,
            ..Self::new(name)
        }
    }

    /// These settings for the controller identity `name`: its events'
    /// reporting controller and its field manager. Settings already named
    /// `name` are kept as they are (with a field manager of their own).
    pub fn named(&self, name: &str) -> Self {
        if self.name == name {
            self.clone()
        } else {
            Self { name: name.to_string(), field_manager: name.to_string(), ..self.clone() }
        }
    }
}
