//! Ferry's kustomize-controller: builds Kustomizations from source
//! artifacts with Ferry's native kustomize engine and applies them with
//! server-side apply, with Flux's flags, conditions, events, inventory and
//! pruning.

pub mod kustomization;

use std::time::Duration;

use ferry_api_kustomize::{Kustomization, KustomizationSourceKind, SubstituteKind};
use ferry_api_source::{Bucket, ExternalArtifact, GitRepository, OCIRepository};
use ferry_sdk::client::ClientFactory;
use ferry_sdk::reconcile::{Controller, Runtime};
use kube::runtime::reflector::ObjectRef;

pub use kustomization::{KustomizationReconciler, Options};

/// The controller's name: event source, field manager of the applied objects, leader lease prefix.
pub const CONTROLLER_NAME: &str = "kustomize-controller";

/// The field manager of the Kustomizations' status and finalizers, as Flux's
/// kustomize-controller names it (`gotk-` and the controller's name), so
/// that either controller takes over the other's status writes.
pub const STATUS_MANAGER: &str = "gotk-kustomize-controller";

/// Feature gate: fail on unset postBuild variables without a default.
pub const STRICT_POST_BUILD_SUBSTITUTIONS: &str = "StrictPostBuildSubstitutions";
/// Feature gate: allow ExternalArtifact sources.
pub const EXTERNAL_ARTIFACT: &str = "ExternalArtifact";
/// Feature gate: allow exec and auth-provider credentials in kubeconfigs.
pub const INSECURE_KUBECONFIG_EXEC: &str = "InsecureKubeConfigExec";

/// The flags of Flux's kustomize-controller besides the common ones.
#[derive(Debug, Clone, clap::Args)]
pub struct KustomizeFlags {
    /// The interval at which failing dependencies are reevaluated.
    #[arg(long = "requeue-dependency", default_value = "30s", value_parser = ferry_sdk::flags::parse_duration)]
    pub requeue_dependency: Duration,
    /// Disallow remote bases usage in Kustomize overlays (remote bases are never fetched by Ferry).
    #[arg(long = "no-remote-bases", default_value_t = false)]
    pub no_remote_bases: bool,
}

impl KustomizeFlags {
    /// The reconciler options these flags and the common ones describe.
    pub fn options(&self, runtime: &ferry_sdk::flags::RuntimeFlags) -> anyhow::Result<Options> {
        let gates = runtime.feature_gates()?;
        Ok(Options {
            no_cross_namespace_refs: runtime.no_cross_namespace_refs,
            default_service_account: Some(runtime.default_service_account.clone()).filter(|s| !s.is_empty()),
            requeue_dependency: self.requeue_dependency,
            strict_substitutions: gates.get(STRICT_POST_BUILD_SUBSTITUTIONS).copied().unwrap_or(false),
            allow_external_artifact: gates.get(EXTERNAL_ARTIFACT).copied().unwrap_or(true),
            allow_kubeconfig_exec: gates.get(INSECURE_KUBECONFIG_EXEC).copied().unwrap_or(false),
        })
    }
}

fn source_ref<S: kube::Resource<DynamicType = ()>>(
    kustomization: &Kustomization,
    kind: KustomizationSourceKind,
) -> Vec<ObjectRef<S>> {
    if kustomization.spec.source_ref.kind != kind {
        return Vec::new();
    }
    let namespace = kustomization::source::source_namespace(kustomization);
    vec![ObjectRef::new(&kustomization.spec.source_ref.name).within(&namespace)]
}

/// The watches of the Kustomization controller: its sources (a new
/// artifact revision reconciles the consumers), and the labelled Secrets and
/// ConfigMaps it reads.
pub fn watches(controller: Controller<KustomizationReconciler>) -> Controller<KustomizationReconciler> {
    controller
        .watch_sources(
            |k: &Kustomization| source_ref::<GitRepository>(k, KustomizationSourceKind::GitRepository),
            |s: &GitRepository| s.status.as_ref().and_then(|s| s.artifact.as_ref()).map(|a| a.revision.clone()),
        )
        .watch_sources(
            |k: &Kustomization| source_ref::<OCIRepository>(k, KustomizationSourceKind::OCIRepository),
            |s: &OCIRepository| s.status.as_ref().and_then(|s| s.artifact.as_ref()).map(|a| a.revision.clone()),
        )
        .watch_sources(
            |k: &Kustomization| source_ref::<Bucket>(k, KustomizationSourceKind::Bucket),
            |s: &Bucket| s.status.as_ref().and_then(|s| s.artifact.as_ref()).map(|a| a.revision.clone()),
        )
        .watch_sources(
            |k: &Kustomization| source_ref::<ExternalArtifact>(k, KustomizationSourceKind::ExternalArtifact),
            |s: &ExternalArtifact| s.status.as_ref().and_then(|s| s.artifact.as_ref()).map(|a| a.revision.clone()),
        )
        .watch_secrets(|k: &Kustomization| {
            let spec = &k.spec;
            let mut names: Vec<String> = Vec::new();
            names.extend(spec.decryption.iter().filter_map(|d| d.secret_ref.as_ref()).map(|r| r.name.clone()));
            names.extend(spec.kube_config.iter().filter_map(|c| c.secret_ref.as_ref()).map(|r| r.name.clone()));
            names.extend(substitute_from(k, SubstituteKind::Secret));
            names
        })
        .watch_config_maps(|k: &Kustomization| substitute_from(k, SubstituteKind::ConfigMap))
}

fn substitute_from(kustomization: &Kustomization, kind: SubstituteKind) -> Vec<String> {
    kustomization
        .spec
        .post_build
        .iter()
        .flat_map(|p| p.substitute_from.iter().flatten())
        .filter(|r| r.kind == kind)
        .map(|r| r.name.clone())
        .collect()
}

/// Spawns the Kustomization controller into `runtime`, as
/// `kustomize-controller`, for [`Runtime::wait`] to run (the all-in-one mode).
pub fn spawn(runtime: &mut Runtime, factory: ClientFactory, options: Options) -> anyhow::Result<()> {
    let reconciler = KustomizationReconciler::new(factory, options, CONTROLLER_NAME)?;
    runtime.spawn_as(CONTROLLER_NAME, reconciler, watches)?;
    Ok(())
}

/// Runs the Kustomization controller on `runtime` until `shutdown` completes.
pub async fn run(
    runtime: Runtime,
    factory: ClientFactory,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let reconciler = KustomizationReconciler::new(factory, options, CONTROLLER_NAME)?;
    runtime.run(reconciler, watches, shutdown).await?;
    Ok(())
}
