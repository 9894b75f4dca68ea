//! The Kustomization reconciler: source artifact → build → apply → prune →
//! health, in Flux's order, with Flux's conditions, reasons and events.
//!
//! [`Reconciler::reconcile`] is the list of steps; each is a method in the
//! file of its concern and owns the failures it reports:
//! 1. [`source`]: the referenced source and its artifact, fetched and
//!    unpacked once per revision (ArtifactFailed, AccessDenied);
//! 2. [`dependencies`]: `dependsOn` (DependencyNotReady);
//! 3. [`inputs`] and [`build`]: kustomization file, SOPS, kustomize,
//!    postBuild (BuildFailed);
//! 4. [`apply`]: staged server-side apply and the new inventory
//!    (ReconciliationFailed);
//! 5. [`prune`]: objects that left the inventory (PruneFailed);
//! 6. [`health`]: `wait` / `healthChecks` (HealthCheckFailed; the Healthy
//!    condition);
//!
//! then [`history`] and the closing event ([`events`]).

pub mod apply;
pub mod build;
pub mod dependencies;
mod error;
pub mod events;
pub mod generate;
pub mod health;
pub mod history;
pub mod inputs;
pub mod prune;
pub mod remote;
pub mod source;
pub mod target;
pub mod tree;

use std::time::{Duration, Instant};

use ferry_api_kustomize::{Kustomization, KustomizationStatus};
use ferry_api_meta::conditions as reasons;
use ferry_sdk::client::ClientFactory;
use ferry_sdk::conditions::{StatusConditions, Summary};
use ferry_sdk::reconcile::{Context, Outcome, Reconciler};
use ferry_ssa::{DeleteOptions, Owner};
use kube::ResourceExt;

pub use error::{Error, Result};

/// The AccessDenied reason of Flux's ACL errors.
pub const ACCESS_DENIED: &str = "AccessDenied";

/// The number of history snapshots kept, as Flux.
pub const HISTORY_LIMIT: usize = 5;

/// How the reconciler is configured by the controller's flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--no-cross-namespace-refs`.
    pub no_cross_namespace_refs: bool,
    /// `--default-service-account`.
    pub default_service_account: Option<String>,
    /// `--requeue-dependency`.
    pub requeue_dependency: Duration,
    /// The StrictPostBuildSubstitutions feature gate.
    pub strict_substitutions: bool,
    /// The ExternalArtifact feature gate (off by default, as in Flux).
    pub allow_external_artifact: bool,
    /// The ObjectLevelWorkloadIdentity feature gate: service account tokens
    /// for `kubeConfig.configMapRef` (off by default, as in Flux).
    pub object_level_workload_identity: bool,
    /// `--default-kubeconfig-service-account`.
    pub default_kubeconfig_service_account: Option<String>,
    /// Let kubeconfigs use exec/auth-provider credentials (`--insecure-kubeconfig-exec`,
    /// or the InsecureKubeConfigExec gate).
    pub allow_kubeconfig_exec: bool,
    /// Let kubeconfigs skip TLS verification (`--insecure-kubeconfig-tls`).
    pub allow_kubeconfig_insecure_tls: bool,
    /// Retries of an artifact download (`--http-retry`).
    pub http_retry: u32,
    /// Concurrent dry-runs while applying (`--concurrent-ssa`).
    pub concurrent_ssa: usize,
    /// Kinds applied in their own stage (`--custom-apply-stage-kinds`), as `group/Kind`.
    pub custom_stage_kinds: std::collections::BTreeSet<String>,
    /// Field managers whose changes are undone (`--override-manager`).
    pub override_managers: Vec<String>,
    /// `(namespace, name)` of a Secret with fallback SOPS age keys (`--sops-age-secret`).
    pub sops_age_secret: Option<(String, String)>,
    /// Refuse remote bases instead of fetching them (`--no-remote-bases`).
    pub no_remote_bases: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            no_cross_namespace_refs: false,
            default_service_account: None,
            requeue_dependency: Duration::from_secs(30),
            strict_substitutions: false,
            allow_external_artifact: false,
            object_level_workload_identity: false,
            default_kubeconfig_service_account: None,
            allow_kubeconfig_exec: false,
            allow_kubeconfig_insecure_tls: false,
            http_retry: 9,
            concurrent_ssa: 4,
            custom_stage_kinds: Default::default(),
            override_managers: Vec::new(),
            sops_age_secret: None,
            no_remote_bases: false,
        }
    }
}

/// Reconciles Kustomizations.
pub struct KustomizationReconciler {
    factory: ClientFactory,
    artifacts: ferry_sdk::artifact::Cache,
    options: Options,
    controller_name: String,
}

impl KustomizationReconciler {
    /// A reconciler building clients from `factory`.
    pub fn new(factory: ClientFactory, options: Options, controller_name: &str) -> anyhow::Result<Self> {
        let fetcher = ferry_sdk::artifact::Fetcher::new(Duration::from_secs(60))?
            .with_retries(options.http_retry, Duration::from_millis(500))
            .with_max_size(u64::MAX);
        Ok(Self {
            factory,
            artifacts: ferry_sdk::artifact::Cache::new(fetcher),
            options,
            controller_name: controller_name.to_string(),
        })
    }

    fn delete_options(&self, object: &Kustomization) -> DeleteOptions {
        DeleteOptions::new(&self.owner(), &object.name_any(), &object.namespace().unwrap_or_default())
    }

    fn owner(&self) -> Owner {
        Owner { field_manager: self.controller_name.clone(), group: ferry_api_kustomize::GROUP.to_string() }
    }
}

/// What every step of one reconcile shares: when it started, its timeout
/// and the compiled health expressions.
pub struct Run {
    started: Instant,
    timeout: Duration,
    checks: health::Checks,
}

impl Run {
    /// Starts a reconcile of `object`: its timeout, and its
    /// `healthCheckExprs` compiled (an invalid one stalls).
    fn start(object: &Kustomization) -> Result<Self> {
        let exprs = object.spec.health_check_exprs.as_deref().unwrap_or_default();
        let checks =
            health::Checks::new(exprs).map_err(|source| Error::InvalidCel { context: String::new(), source })?;
        Ok(Self { started: Instant::now(), timeout: timeout_of(object), checks })
    }
}

impl KustomizationReconciler {
    /// Refuses what the spec asks for behind a feature gate that is off:
    /// cloud KMS identities of objects need ObjectLevelWorkloadIdentity, as
    /// in Flux.
    ///
    /// Conditions: none; the FeatureGateDisabled error stalls the object.
    fn reconcile_gates(&self, object: &Kustomization) -> Result<()> {
        let decryption_identity = object
            .spec
            .decryption
            .as_ref()
            .and_then(|d| d.service_account_name.as_deref())
            .is_some_and(|s| !s.is_empty());
        if decryption_identity && !self.options.object_level_workload_identity {
            return Err(Error::FeatureGateDisabled(format!(
                "to use spec.decryption.serviceAccountName for decryption authentication please enable the {} feature gate in the controller",
                target::OBJECT_LEVEL_WORKLOAD_IDENTITY
            )));
        }
        Ok(())
    }
}

impl Reconciler for KustomizationReconciler {
    type Object = Kustomization;
    type Error = Error;

    fn summary(&self) -> Summary {
        Summary::new(&[reasons::HEALTHY], &[])
    }

    fn status_manager(&self) -> Option<&str> {
        Some(crate::STATUS_MANAGER)
    }

    async fn reconcile(
        &self,
        object: &Kustomization,
        status: &mut KustomizationStatus,
        ctx: &Context,
    ) -> Result<Outcome> {
        let run = Run::start(object)?;
        self.reconcile_gates(object)?;
        let source = self.reconcile_source(ctx, object).await?;
        self.reconcile_dependencies(ctx, object, &source).await?;
        self.report_fetching(ctx, object, status, &run, &source).await;
        let tree = self.reconcile_fetch(&source).await?;
        status.last_attempted_revision = Some(source.revision.clone());
        let built = self.reconcile_build(ctx, object, &source, tree).await?;
        let applied = self.reconcile_apply(ctx, object, status, &run, &source, built).await?;
        self.reconcile_prune(ctx, object, status, &run, &source, &applied).await?;
        self.reconcile_health(ctx, object, status, &run, &source, &applied).await?;
        Ok(self.finish(ctx, object, status, &run, source, &applied).await)
    }

    async fn cleanup(&self, object: &Kustomization, ctx: &Context) -> Result<()> {
        self.finalize(object, ctx).await
    }
}

impl KustomizationReconciler {
    /// Shows progress as Flux does while the rest runs.
    async fn report_fetching(
        &self,
        ctx: &Context,
        object: &Kustomization,
        status: &mut KustomizationStatus,
        run: &Run,
        source: &source::Fetched,
    ) {
        let generation = object.metadata.generation;
        status.mark_unknown(reasons::READY, reasons::PROGRESSING, "Reconciliation in progress", generation);
        let progressing = format!(
            "Fetching manifests for revision {} with a timeout of {}",
            source.revision,
            go_duration(run.timeout)
        );
        status.mark_true(reasons::RECONCILING, reasons::PROGRESSING, &progressing, generation);
        ctx.report_progress(object, status).await;
    }
}

/// `spec.timeout`, defaulting to `spec.interval` as Flux does.
fn timeout_of(object: &Kustomization) -> Duration {
    let parse = |s: &Option<String>| s.as_deref().and_then(|s| ferry_api_meta::duration::parse(s).ok());
    parse(&object.spec.timeout)
        .or_else(|| ferry_api_meta::duration::parse(&object.spec.interval).ok())
        .unwrap_or(Duration::from_secs(300))
}

/// A duration as Go prints it (`30s`, `1m30s`, `1.5s`).
pub fn go_duration(duration: Duration) -> String {
    ferry_api_meta::duration::format(duration)
}
