//! Ferry's kustomize-controller: builds Kustomizations from source
//! artifacts with Ferry's native kustomize engine and applies them with
//! server-side apply, with Flux's flags, conditions, events, inventory and
//! pruning.
// Library users (the all-in-one binary, the twin tests, other controllers'
// tests) read these items' docs: every public item says what it is for.
#![deny(missing_docs)]

pub mod kustomization;

use clap::{Args as _, FromArgMatches as _};
use ferry_api_kustomize::{Kustomization, KustomizationSourceKind, SubstituteKind};
use ferry_api_source::{Bucket, ExternalArtifact, GitRepository, OCIRepository};
use ferry_sdk::client::ClientFactory;
use ferry_sdk::module::{BoxError, Module, Setup};
use ferry_sdk::reconcile::{Controller, Manager, Runtime};
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
/// Feature gate: allow ExternalArtifact sources (off by default, as in Flux).
pub const EXTERNAL_ARTIFACT: &str = "ExternalArtifact";
/// Feature gate: service account tokens for the accounts objects name
/// (`kubeConfig.configMapRef` with `serviceAccountName`; off by default).
pub const OBJECT_LEVEL_WORKLOAD_IDENTITY: &str = kustomization::target::OBJECT_LEVEL_WORKLOAD_IDENTITY;
/// Feature gate: allow exec and auth-provider credentials in kubeconfigs.
pub const INSECURE_KUBECONFIG_EXEC: &str = "InsecureKubeConfigExec";

/// The flags of Flux's kustomize-controller besides the common ones.
#[derive(Debug, Clone, clap::Args)]
pub struct KustomizeFlags {
    /// Disallow remote bases usage in Kustomize overlays (by default they are fetched with git, as Flux does).
    #[arg(long = "no-remote-bases", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub no_remote_bases: bool,
    /// The number of concurrent server-side apply (dry-run) operations.
    #[arg(long = "concurrent-ssa", default_value_t = 4)]
    pub concurrent_ssa: usize,
    /// A comma-separated list of GroupKinds (e.g. 'rbac.authorization.k8s.io/Role') applied in a
    /// stage of their own, after CRDs and before the other namespaced resources.
    #[arg(long = "custom-apply-stage-kinds", default_value = "")]
    pub custom_apply_stage_kinds: String,
    /// Field manager disallowed to perform changes on managed resources (repeatable): its
    /// fields are taken over at the next apply.
    #[arg(long = "override-manager")]
    pub override_manager: Vec<String>,
    /// Allow the user.exec section in kubeconfigs provided for remote apply.
    #[arg(long = "insecure-kubeconfig-exec", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub insecure_kubeconfig_exec: bool,
    /// Allow kubeconfigs provided for remote apply to disable TLS verification.
    #[arg(long = "insecure-kubeconfig-tls", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub insecure_kubeconfig_tls: bool,
    /// The name of a Secret in the runtime namespace holding SOPS age keys (`*.agekey`) used
    /// in addition to a Kustomization's own decryption Secret.
    #[arg(long = "sops-age-secret", default_value = "")]
    pub sops_age_secret: String,
    /// The default service account for cloud KMS decryption (accepted for Flux's manifests;
    /// Ferry decrypts with age and PGP keys only).
    #[arg(long = "default-decryption-service-account", default_value = "")]
    pub default_decryption_service_account: String,
    /// The service account whose token the `generic` provider of `kubeConfig.configMapRef`
    /// uses when the ConfigMap names none (needs the ObjectLevelWorkloadIdentity gate).
    #[arg(long = "default-kubeconfig-service-account", default_value = "")]
    pub default_kubeconfig_service_account: String,
    /// The ConfigMap listing trusted OpenBao/Vault servers for SOPS (accepted for Flux's
    /// manifests; Ferry has no Vault decryption, so none is trusted).
    #[arg(long = "sops-vault-configmap", default_value = "")]
    pub sops_vault_configmap: String,
}

impl KustomizeFlags {
    /// The reconciler options these flags and the common ones describe;
    /// `runtime_namespace` holds the `--sops-age-secret`.
    pub fn options(
        &self,
        runtime: &ferry_sdk::flags::RuntimeFlags,
        runtime_namespace: &str,
    ) -> anyhow::Result<Options> {
        let gates = runtime.feature_gates()?;
        Ok(Options {
            no_cross_namespace_refs: runtime.no_cross_namespace_refs,
            default_service_account: Some(runtime.default_service_account.clone()).filter(|s| !s.is_empty()),
            requeue_dependency: runtime.requeue_dependency,
            strict_substitutions: gates.get(STRICT_POST_BUILD_SUBSTITUTIONS).copied().unwrap_or(false),
            allow_external_artifact: gates.get(EXTERNAL_ARTIFACT).copied().unwrap_or(false),
            object_level_workload_identity: gates.get(OBJECT_LEVEL_WORKLOAD_IDENTITY).copied().unwrap_or(false),
            default_kubeconfig_service_account: Some(self.default_kubeconfig_service_account.clone())
                .filter(|s| !s.is_empty()),
            allow_kubeconfig_exec: self.insecure_kubeconfig_exec
                || gates.get(INSECURE_KUBECONFIG_EXEC).copied().unwrap_or(false),
            allow_kubeconfig_insecure_tls: self.insecure_kubeconfig_tls,
            http_retry: runtime.http_retry,
            concurrent_ssa: self.concurrent_ssa.max(1),
            custom_stage_kinds: parse_group_kinds(&self.custom_apply_stage_kinds)?,
            override_managers: self.override_manager.iter().filter(|m| !m.is_empty()).cloned().collect(),
            sops_age_secret: Some(&self.sops_age_secret)
                .filter(|s| !s.is_empty())
                .map(|name| (runtime_namespace.to_string(), name.clone())),
            no_remote_bases: self.no_remote_bases,
        })
    }
}

/// `--custom-apply-stage-kinds`: comma-separated `group/Kind` (or `Kind` for
/// the core group), kept as `group/Kind` or `Kind`.
pub fn parse_group_kinds(text: &str) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let mut kinds = std::collections::BTreeSet::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (group, kind) = item.rsplit_once('/').unwrap_or(("", item));
        let valid = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if kind.is_empty() || !valid(group) || !valid(kind) {
            anyhow::bail!("invalid --custom-apply-stage-kinds entry {item:?}: expected group/Kind");
        }
        kinds.insert(if group.is_empty() { kind.to_string() } else { format!("{group}/{kind}") });
    }
    Ok(kinds)
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

/// kustomize-controller as a module of a binary: its flags and its kinds.
/// Its own binary and `ferry controllers run` both run it.
pub static MODULE: Module = Module {
    name: CONTROLLER_NAME,
    about: "Builds and applies Flux Kustomizations",
    flags: KustomizeFlags::augment_args,
    add: module_add,
};

fn module_add<'r>(manager: Manager<'r>, setup: &Setup<'_>) -> Result<Manager<'r>, BoxError> {
    let flags = KustomizeFlags::from_arg_matches(setup.matches)?;
    let options = flags.options(setup.flags, setup.runtime_namespace)?;
    Ok(add_kinds(manager, setup.factory.clone(), options)?)
}

/// Adds kustomize-controller's kinds to `manager` (the manager of
/// [`CONTROLLER_NAME`]).
pub fn add_kinds(manager: Manager<'_>, factory: ClientFactory, options: Options) -> anyhow::Result<Manager<'_>> {
    let reconciler = KustomizationReconciler::new(factory, options, CONTROLLER_NAME)?;
    Ok(manager.add_with(reconciler, watches))
}

/// Runs kustomize-controller's kinds on `runtime` until `shutdown` completes.
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
        kustomize: KustomizeFlags,
    }

    /// Every flag of Flux's kustomize-controller v1.9 parses, written as Go's
    /// pflag accepts them (bare booleans, `=true`/`=false`, repeated arrays).
    #[test]
    fn fluxs_flags_parse_as_go_writes_them() {
        let cli = Cli::try_parse_from([
            "kustomize-controller",
            "--events-addr=http://notification-controller.flux-system.svc.cluster.local./",
            "--watch-all-namespaces=true",
            "--log-level=debug",
            "--log-encoding=json",
            "--enable-leader-election",
            "--leader-election-release-on-cancel=false",
            "--no-cross-namespace-refs=true",
            "--no-remote-bases",
            "--concurrent=10",
            "--concurrent-ssa=8",
            "--custom-apply-stage-kinds=rbac.authorization.k8s.io/Role,ConfigMap",
            "--default-service-account=default",
            "--default-decryption-service-account=kms",
            "--default-kubeconfig-service-account=kube",
            "--feature-gates=StrictPostBuildSubstitutions=true",
            "--http-retry=3",
            "--insecure-kubeconfig-exec=true",
            "--insecure-kubeconfig-tls",
            "--interval-jitter-percentage=10",
            "--kube-api-burst=100",
            "--kube-api-qps=20",
            "--leader-election-lease-duration=40s",
            "--leader-election-renew-deadline=35s",
            "--leader-election-retry-period=6s",
            "--max-retry-delay=5m",
            "--min-retry-delay=1s",
            "--override-manager=kubectl-edit",
            "--override-manager=k9s",
            "--requeue-dependency=10s",
            "--sops-age-secret=sops-age",
            "--sops-vault-configmap=vault",
            "--token-cache-max-duration=30m",
            "--token-cache-max-size=50",
            "--watch-configs-label-selector=team=a",
            "--watch-label-selector=sharding.fluxcd.io/shard=shard1",
            "--metrics-addr=:8080",
            "--health-addr=:9440",
        ])
        .unwrap();
        assert!(cli.runtime.enable_leader_election && !cli.runtime.leader_election_release_on_cancel);
        assert!(cli.runtime.watch_all_namespaces && cli.runtime.no_cross_namespace_refs);
        assert_eq!(cli.runtime.watch_configs_label_selector, "team=a");
        let options = cli.kustomize.options(&cli.runtime, "flux-system").unwrap();
        assert!(options.allow_kubeconfig_exec && options.allow_kubeconfig_insecure_tls && options.strict_substitutions);
        assert_eq!(options.http_retry, 3);
        assert_eq!(options.concurrent_ssa, 8);
        assert_eq!(options.requeue_dependency, std::time::Duration::from_secs(10));
        assert_eq!(
            options.custom_stage_kinds,
            ["ConfigMap".to_string(), "rbac.authorization.k8s.io/Role".into()].into()
        );
        assert_eq!(options.override_managers, ["kubectl-edit", "k9s"]);
        assert_eq!(options.sops_age_secret, Some(("flux-system".into(), "sops-age".into())));

        // The defaults are Flux's.
        let cli = Cli::try_parse_from(["kustomize-controller"]).unwrap();
        assert!(!cli.runtime.enable_leader_election && cli.runtime.leader_election_release_on_cancel);
        assert_eq!(cli.runtime.watch_configs_label_selector, "reconcile.fluxcd.io/watch=Enabled");
        let options = cli.kustomize.options(&cli.runtime, "flux-system").unwrap();
        assert_eq!((options.http_retry, options.concurrent_ssa), (9, 4));
        assert!(options.sops_age_secret.is_none() && options.custom_stage_kinds.is_empty());
        assert!(!options.allow_kubeconfig_exec && !options.allow_kubeconfig_insecure_tls);

        // `--flag false` is a bare flag and a stray argument, as in Go.
        assert!(Cli::try_parse_from(["kustomize-controller", "--enable-leader-election", "false"]).is_err());
        assert!(parse_group_kinds("rbac.authorization.k8s.io/Role,/bad/").is_err());
    }
}
