//! Ferry's helm-controller: releases HelmReleases with Ferry's native Helm
//! engine into Helm's own release storage, with Flux's flags, conditions,
//! events, history and remediation.
// Library users (the all-in-one binary, tests) read these items' docs:
// every public item says what it is for.
#![deny(missing_docs)]

pub mod helmrelease;

use clap::{Args as _, Command, FromArgMatches as _};
use ferry_api_helm::HelmRelease;
use ferry_api_source::{ExternalArtifact, HelmChart, OCIRepository};
use ferry_sdk::client::ClientFactory;
use ferry_sdk::module::{BoxError, Module, Setup};
use ferry_sdk::reconcile::{Controller, Manager, Runtime};
use kube::runtime::reflector::ObjectRef;

pub use helmrelease::{HelmReleaseReconciler, Options};

/// The controller's name: event source, field manager of the released
/// objects, leader lease prefix.
pub const CONTROLLER_NAME: &str = "helm-controller";

/// The field manager of the HelmReleases' status and finalizers, as Flux's
/// helm-controller names it, so that either controller takes over the
/// other's status writes.
pub const STATUS_MANAGER: &str = "gotk-helm-controller";

/// The flags of Flux's helm-controller besides the common ones.
#[derive(Debug, Clone, clap::Args)]
pub struct HelmFlags {
    /// The timeout of artifact downloads.
    #[arg(long = "http-timeout", default_value = "30s", value_parser = ferry_sdk::flags::parse_duration)]
    pub http_timeout: std::time::Duration,
    /// Field manager disallowed to perform changes on managed resources (repeatable).
    #[arg(long = "override-manager")]
    pub override_manager: Vec<String>,
    /// The service account whose token the `generic` provider of
    /// `kubeConfig.configMapRef` uses (accepted for Flux's manifests; remote
    /// clusters are refused by this version).
    #[arg(long = "default-kubeconfig-service-account", default_value = "")]
    pub default_kubeconfig_service_account: String,
    /// The digest algorithm of history snapshots (only sha256 is supported).
    #[arg(long = "snapshot-digest-algo", default_value = "sha256")]
    pub snapshot_digest_algo: String,
    /// Accepted for Flux's manifests: Ferry does not watch its own memory.
    #[arg(long = "oom-watch-memory-threshold", default_value_t = 95)]
    pub oom_watch_memory_threshold: u8,
    /// Accepted for Flux's manifests.
    #[arg(long = "oom-watch-interval", default_value = "500ms")]
    pub oom_watch_interval: String,
    /// Accepted for Flux's manifests.
    #[arg(long = "oom-watch-max-memory-path", default_value = "")]
    pub oom_watch_max_memory_path: String,
    /// Accepted for Flux's manifests.
    #[arg(long = "oom-watch-current-memory-path", default_value = "")]
    pub oom_watch_current_memory_path: String,
    /// Allow the user.exec section in kubeconfigs (accepted; remote clusters are refused).
    #[arg(long = "insecure-kubeconfig-exec", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub insecure_kubeconfig_exec: bool,
    /// Allow kubeconfigs to disable TLS verification (accepted; remote clusters are refused).
    #[arg(long = "insecure-kubeconfig-tls", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub insecure_kubeconfig_tls: bool,
}

impl HelmFlags {
    /// The reconciler options these flags and the common ones describe.
    pub fn options(&self, runtime: &ferry_sdk::flags::RuntimeFlags) -> anyhow::Result<Options> {
        if !self.snapshot_digest_algo.eq_ignore_ascii_case("sha256") {
            anyhow::bail!("--snapshot-digest-algo={}: only sha256 is supported", self.snapshot_digest_algo);
        }
        Ok(Options {
            no_cross_namespace_refs: runtime.no_cross_namespace_refs,
            default_service_account: Some(runtime.default_service_account.clone()).filter(|s| !s.is_empty()),
            requeue_dependency: runtime.requeue_dependency,
            http_retry: runtime.http_retry,
            http_timeout: self.http_timeout,
            override_managers: self.override_manager.iter().filter(|m| !m.is_empty()).cloned().collect(),
        })
    }
}

fn chart_source<S: kube::Resource<DynamicType = ()>>(object: &HelmRelease, kind: &str) -> Vec<ObjectRef<S>> {
    let (source_kind, namespace, name) = helmrelease::chart::source_reference(object);
    if source_kind != kind {
        return Vec::new();
    }
    vec![ObjectRef::new(&name).within(&namespace)]
}

/// The watches of the HelmRelease controller: its chart sources (a new
/// artifact revision reconciles the consumers), and the labelled Secrets and
/// ConfigMaps of `valuesFrom`.
pub fn watches(controller: Controller<HelmReleaseReconciler>) -> Controller<HelmReleaseReconciler> {
    let values_from = |kind: &'static str| {
        move |object: &HelmRelease| -> Vec<String> {
            object.spec.values_from.iter().flatten().filter(|r| r.kind == kind).map(|r| r.name.clone()).collect()
        }
    };
    controller
        .watch_sources(
            |o: &HelmRelease| chart_source::<HelmChart>(o, "HelmChart"),
            |s: &HelmChart| s.status.as_ref().and_then(|s| s.artifact.as_ref()).map(|a| a.revision.clone()),
        )
        .watch_sources(
            |o: &HelmRelease| chart_source::<OCIRepository>(o, "OCIRepository"),
            |s: &OCIRepository| s.status.as_ref().and_then(|s| s.artifact.as_ref()).map(|a| a.revision.clone()),
        )
        .watch_sources(
            |o: &HelmRelease| chart_source::<ExternalArtifact>(o, "ExternalArtifact"),
            |s: &ExternalArtifact| s.status.as_ref().and_then(|s| s.artifact.as_ref()).map(|a| a.revision.clone()),
        )
        .watch_secrets(values_from("Secret"))
        .watch_config_maps(values_from("ConfigMap"))
}

/// helm-controller as a module of a binary: its flags and its kinds. Its
/// own binary and `ferry controllers run` both run it.
pub static MODULE: Module = Module {
    name: CONTROLLER_NAME,
    about: "Releases Flux HelmReleases into Helm's storage",
    flags: augment_flags,
    add: module_add,
};

/// Adds [`HelmFlags`] to `command`, except those another module of the
/// process already added under the same name (kustomize-controller shares
/// `--override-manager` and the kubeconfig flags, with the same meaning).
fn augment_flags(command: Command) -> Command {
    let own = HelmFlags::augment_args(Command::new(CONTROLLER_NAME));
    let mut command = command;
    for arg in own.get_arguments() {
        if command.get_arguments().any(|a| a.get_id() == arg.get_id()) {
            continue;
        }
        command = command.arg(arg.clone());
    }
    command
}

fn module_add<'r>(manager: Manager<'r>, setup: &Setup<'_>) -> Result<Manager<'r>, BoxError> {
    let flags = HelmFlags::from_arg_matches(setup.matches)?;
    let options = flags.options(setup.flags)?;
    Ok(add_kinds(manager, setup.factory.clone(), options)?)
}

/// Adds helm-controller's kinds to `manager` (the manager of [`CONTROLLER_NAME`]).
pub fn add_kinds(manager: Manager<'_>, factory: ClientFactory, options: Options) -> anyhow::Result<Manager<'_>> {
    let reconciler = HelmReleaseReconciler::new(factory, options, CONTROLLER_NAME)?;
    Ok(manager.add_with(reconciler, watches))
}

/// Runs helm-controller's kinds on `runtime` until `shutdown` completes.
pub async fn run(
    mut runtime: Runtime,
    factory: ClientFactory,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    add_kinds(runtime.manager(CONTROLLER_NAME), factory, options)?.start()?;
    runtime.wait(shutdown).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        runtime: ferry_sdk::flags::RuntimeFlags,
        #[command(flatten)]
        helm: HelmFlags,
    }

    /// The flags of Flux's helm-controller parse, written as Go's pflag accepts them.
    #[test]
    fn fluxs_flags_parse_as_go_writes_them() {
        let cli = Cli::try_parse_from([
            "helm-controller",
            "--events-addr=http://notification-controller.flux-system.svc.cluster.local./",
            "--watch-all-namespaces=true",
            "--log-level=info",
            "--log-encoding=json",
            "--enable-leader-election",
            "--concurrent=8",
            "--requeue-dependency=5s",
            "--http-retry=3",
            "--http-timeout=1m",
            "--default-service-account=helm",
            "--override-manager=kubectl",
            "--snapshot-digest-algo=sha256",
            "--oom-watch-memory-threshold=90",
            "--oom-watch-interval=1s",
            "--feature-gates=DetectDrift=true",
            "--graceful-shutdown-timeout=10m",
        ])
        .unwrap();
        let options = cli.helm.options(&cli.runtime).unwrap();
        assert_eq!(options.http_retry, 3);
        assert_eq!(options.http_timeout, std::time::Duration::from_secs(60));
        assert_eq!(options.default_service_account.as_deref(), Some("helm"));
        assert_eq!(options.override_managers, ["kubectl"]);
        assert_eq!(options.requeue_dependency, std::time::Duration::from_secs(5));
        let cli = Cli::try_parse_from(["helm-controller", "--snapshot-digest-algo=sha512"]).unwrap();
        assert!(cli.helm.options(&cli.runtime).is_err());
    }
}
