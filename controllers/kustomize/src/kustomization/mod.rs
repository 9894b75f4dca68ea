//! The Kustomization reconciler: source artifact → build → apply → prune →
//! health, in Flux's order, with Flux's conditions, reasons and events.
//!
//! Steps (each owns the failures it reports):
//! 1. `source`: the referenced source and its artifact (ArtifactFailed, AccessDenied);
//! 2. `dependencies`: `dependsOn` (DependencyNotReady);
//! 3. `fetch`: download, verify and extract the artifact (ArtifactFailed);
//! 4. `build`: kustomization file, SOPS, kustomize, postBuild (BuildFailed);
//! 5. `apply`: staged server-side apply (ReconciliationFailed);
//! 6. `prune`: objects that left the inventory (PruneFailed);
//! 7. `health`: `wait` / `healthChecks` (HealthCheckFailed; the Healthy condition).

pub mod build;
pub mod generate;
pub mod health;
pub mod source;
pub mod target;
pub mod tree;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use ferry_api_kustomize::{DeletionPolicy, Kustomization, KustomizationStatus, SubstituteKind, SubstituteStrategy};
use ferry_api_meta::conditions as reasons;
use ferry_api_meta::{ObjectId, ResourceInventory, ResourceRef, Snapshot, Time};
use ferry_sdk::client::ClientFactory;
use ferry_sdk::conditions::{self, Summary};
use ferry_sdk::error::{ErrorClass, ReconcileError};
use ferry_sdk::events::Severity;
use ferry_sdk::reconcile::{Context, Outcome, Reconciler};
use ferry_ssa::{ApplyOptions, ChangeSet, DeleteOptions, ObjectRef, Owner, ResourceManager};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DynamicObject};
use kube::{Client, ResourceExt};

use self::build::Substitution;
use self::generate::Overlay;

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
        }
    }
}

/// Reconciles Kustomizations.
pub struct KustomizationReconciler {
    factory: ClientFactory,
    fetcher: ferry_sdk::artifact::Fetcher,
    cache: tree::Cache,
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
            fetcher,
            cache: tree::Cache::default(),
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

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source reference is not allowed.
    #[error("{0}")]
    AccessDenied(String),
    /// The source does not exist (yet).
    #[error("{0}")]
    SourceNotFound(String),
    /// Reading the source failed.
    #[error("{0}")]
    SourceFailed(String),
    /// The source has no artifact yet, or it is not served.
    #[error("{message}")]
    ArtifactNotReady {
        /// The message.
        message: String,
        /// When to look again.
        retry: Duration,
    },
    /// Downloading or extracting the artifact failed.
    #[error("{0}")]
    ArtifactFailed(String),
    /// A dependency is not ready.
    #[error("{message}")]
    DependencyNotReady {
        /// Which dependency and why.
        message: String,
        /// When to look again.
        retry: Duration,
    },
    /// A CEL expression does not compile.
    #[error("{0}")]
    InvalidCel(String),
    /// The spec asks for what a feature gate keeps off.
    #[error("{0}")]
    FeatureGateDisabled(String),
    /// The build failed.
    #[error("{0}")]
    BuildFailed(String),
    /// A client for the target could not be built.
    #[error("failed to build kube client: {0}")]
    ClientFailed(String),
    /// The cluster or identity to apply with is out of reach.
    #[error("failed to build kube client: {0}")]
    Target(#[source] target::Error),
    /// Applying failed.
    #[error("{0}")]
    ApplyFailed(String),
    /// Pruning failed.
    #[error("{0}")]
    PruneFailed(String),
    /// The health checks failed.
    #[error("{0}")]
    HealthCheckFailed(String),
    /// A temporary directory could not be made.
    #[error("tmp dir error: {0}")]
    TempDir(String),
}

impl ReconcileError for Error {
    fn reason(&self) -> &str {
        match self {
            Self::AccessDenied(_) => ACCESS_DENIED,
            Self::SourceNotFound(_)
            | Self::SourceFailed(_)
            | Self::ArtifactNotReady { .. }
            | Self::ArtifactFailed(_) => reasons::ARTIFACT_FAILED,
            Self::DependencyNotReady { .. } => reasons::DEPENDENCY_NOT_READY,
            Self::InvalidCel(_) => reasons::INVALID_CEL_EXPRESSION,
            Self::FeatureGateDisabled(_) => reasons::FEATURE_GATE_DISABLED,
            Self::BuildFailed(_) => reasons::BUILD_FAILED_REASON,
            Self::ClientFailed(_) | Self::Target(_) | Self::ApplyFailed(_) => reasons::RECONCILIATION_FAILED,
            Self::PruneFailed(_) => reasons::PRUNE_FAILED,
            Self::HealthCheckFailed(_) => reasons::HEALTH_CHECK_FAILED,
            Self::TempDir(_) => reasons::DIRECTORY_CREATION_FAILED,
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            Self::AccessDenied(_) | Self::InvalidCel(_) | Self::FeatureGateDisabled(_) => ErrorClass::Stalled,
            Self::Target(error) if error.is_stalled() => ErrorClass::Stalled,
            Self::SourceNotFound(_) => ErrorClass::Waiting(None),
            Self::ArtifactNotReady { retry, .. } | Self::DependencyNotReady { retry, .. } => {
                ErrorClass::Waiting(Some(*retry))
            }
            Self::SourceFailed(_) | Self::TempDir(_) => ErrorClass::Transient,
            _ => ErrorClass::Retry(None),
        }
    }

    /// As Flux: a missing source or artifact is waited for without an event.
    fn records_event(&self) -> bool {
        !matches!(self, Self::SourceNotFound(_) | Self::ArtifactNotReady { .. })
    }
}

type Result<T, E = Error> = std::result::Result<T, E>;

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
        let started = Instant::now();
        let namespace = object.namespace().unwrap_or_default();
        let timeout = timeout_of(object);
        let checks =
            health::Checks::new(object.spec.health_check_exprs.as_deref().unwrap_or_default()).map_err(|e| {
                Error::InvalidCel(format!("Reconciliation failed terminally due to configuration error: {e}"))
            })?;

        // Cloud KMS identities of objects are behind Flux's gate.
        if object
            .spec
            .decryption
            .as_ref()
            .and_then(|d| d.service_account_name.as_deref())
            .is_some_and(|s| !s.is_empty())
            && !self.options.object_level_workload_identity
        {
            return Err(Error::FeatureGateDisabled(format!(
                "to use spec.decryption.serviceAccountName for decryption authentication please enable the {} feature gate in the controller",
                target::OBJECT_LEVEL_WORKLOAD_IDENTITY
            )));
        }

        // 1. The source and its artifact.
        let source = self.source(ctx.client(), object).await?;
        let Some(artifact) = source.artifact.clone() else {
            let retry = self.options.requeue_dependency;
            return Err(Error::ArtifactNotReady {
                message: format!("Source artifact not found, retrying in {}", go_duration(retry)),
                retry,
            });
        };
        let revision = artifact.revision.clone();
        let origin_revision = source.origin_revision();

        // 2. Dependencies.
        self.check_dependencies(ctx.client(), object, &artifact.revision).await?;

        // Show progress as Flux does while the rest runs.
        let generation = object.metadata.generation;
        let conds = status.conditions.get_or_insert_with(Vec::new);
        conditions::mark_unknown(conds, reasons::READY, reasons::PROGRESSING, "Reconciliation in progress", generation);
        let progressing =
            format!("Fetching manifests for revision {revision} with a timeout of {}", go_duration(timeout));
        conditions::mark_true(conds, reasons::RECONCILING, reasons::PROGRESSING, &progressing, generation);
        ctx.report_progress(object, status).await;

        // 3. Fetch: each revision is downloaded, verified and unpacked once,
        // then shared by every Kustomization that builds from it.
        let tree = self.cache.get_or_load(&artifact.digest, || self.fetch(&artifact.url, &artifact.digest)).await?;
        status.last_attempted_revision = Some(revision.clone());

        // The client acting for this Kustomization.
        let client = self.target_client(object).await?;

        // 4. Build.
        let keys = self.decryption_keys(ctx.client(), object, &namespace).await?;
        let substitution = self.substitution(ctx.client(), object, &namespace).await?;
        let input = build::Input {
            tree,
            path: object.spec.path.clone().unwrap_or_default(),
            overlay: Overlay::from_spec(&object.spec),
            keys,
            substitution,
        };
        let built = tokio::task::spawn_blocking(move || build::run(&input))
            .await
            .map_err(|e| Error::BuildFailed(format!("build task failed: {e}")))?
            .map_err(|e| match e {
                // Flux finds these at apply time.
                build::Error::EncryptedWithoutDecryption(_) => Error::ApplyFailed(e.to_string()),
                other => Error::BuildFailed(other.to_string()),
            });
        let built = built?;
        let mut history_meta = BTreeMap::from([("revision".to_string(), revision.clone())]);
        if let Some(origin) = &origin_revision {
            history_meta.insert("originRevision".to_string(), origin.clone());
        }

        // 5. Apply.
        let manager = ResourceManager::new(client, self.owner());
        let objects = self.desired_objects(object, built.objects)?;
        let mut apply_options = ApplyOptions {
            force: object.spec.force.unwrap_or(false),
            labels: owner_labels(object),
            ignore: object.spec.ignore.clone().unwrap_or_default(),
            wait_timeout: timeout,
            concurrency: self.options.concurrent_ssa,
            custom_stage_kinds: self.options.custom_stage_kinds.clone(),
            ..ApplyOptions::new(&self.owner())
        };
        // Undo what the disallowed managers did, whether they applied or updated.
        for name in &self.options.override_managers {
            for operation in ["Apply", "Update"] {
                apply_options.cleanup.field_managers.push(ferry_ssa::FieldManager::new(name, operation));
            }
        }
        let changes = match manager.apply_all_staged(objects, &apply_options).await {
            Ok(changes) => changes,
            Err(error) => {
                upsert_history(status, &built.digest, started, reasons::RECONCILIATION_FAILED, &history_meta);
                return Err(Error::ApplyFailed(error.to_string()));
            }
        };
        let changed = changed_lines(&changes);
        if !changed.is_empty() {
            self.event(ctx, object, Severity::Info, &changed, &revision).await;
        }

        // The new inventory; what left it is stale.
        let skipped: HashSet<ObjectId> = changes
            .entries
            .iter()
            .filter(|e| e.action == ferry_ssa::Action::Skipped)
            .map(|e| object_id(&e.object))
            .collect();
        let applied: Vec<&ObjectRef> =
            changes.entries.iter().filter(|e| e.action != ferry_ssa::Action::Skipped).map(|e| &e.object).collect();
        let old_inventory = status.inventory.take();
        let new_ids: HashSet<ObjectId> = applied.iter().map(|o| object_id(o)).collect();
        status.inventory = Some(ResourceInventory {
            entries: applied.iter().map(|o| ResourceRef::new(&object_id(o), version_of(o))).collect(),
        });
        let stale: Vec<ObjectRef> = old_inventory
            .as_ref()
            .map(inventory_refs)
            .unwrap_or_default()
            .into_iter()
            .filter(|o| !new_ids.contains(&object_id(o)) && !skipped.contains(&object_id(o)))
            .collect();

        // 6. Prune.
        if object.spec.prune && !stale.is_empty() {
            let mut stale = stale;
            stale.reverse();
            match manager.delete_all(&stale, &self.delete_options(object)).await {
                Ok(deleted) => {
                    let lines = changed_lines(&deleted);
                    if !lines.is_empty() {
                        tracing::info!("garbage collection completed: {}", lines.replace('\n', ", "));
                        self.event(ctx, object, Severity::Info, &lines, &revision).await;
                    }
                }
                Err(error) => {
                    upsert_history(status, &built.digest, started, reasons::PRUNE_FAILED, &history_meta);
                    return Err(Error::PruneFailed(error.to_string()));
                }
            }
        }

        // 7. Health.
        let to_check: Vec<ObjectRef> = if object.spec.wait.unwrap_or(false) {
            applied
                .iter()
                .filter(|o| !(o.kind == "Kustomization" && o.name == object.name_any() && o.namespace == namespace))
                .map(|o| (*o).clone())
                .collect()
        } else {
            health_check_refs(object, &namespace)
        };
        let conds = status.conditions.get_or_insert_with(Vec::new);
        if to_check.is_empty() {
            ferry_api_meta::conditions::remove(conds, reasons::HEALTHY);
        } else {
            let was_healthy = ferry_api_meta::conditions::is_true(conds, reasons::HEALTHY);
            let message =
                format!("Running health checks for revision {revision} with a timeout of {}", go_duration(timeout));
            conditions::mark_true(conds, reasons::RECONCILING, reasons::PROGRESSING, &message, generation);
            conditions::mark_unknown(conds, reasons::HEALTHY, reasons::PROGRESSING, &message, generation);
            ctx.report_progress(object, status).await;
            let check_started = Instant::now();
            if let Err(message) = health::wait(&manager, &to_check, &checks, timeout).await {
                let message = format!("health check failed after {}: {message}", go_duration(check_started.elapsed()));
                let conds = status.conditions.get_or_insert_with(Vec::new);
                conditions::mark_false(conds, reasons::HEALTHY, reasons::HEALTH_CHECK_FAILED, &message, generation);
                upsert_history(status, &built.digest, started, reasons::HEALTH_CHECK_FAILED, &history_meta);
                return Err(Error::HealthCheckFailed(message));
            }
            let message = format!("Health check passed in {}", go_duration(check_started.elapsed()));
            let is_new_revision = status.last_applied_revision.as_deref() != Some(revision.as_str());
            if !was_healthy || (is_new_revision && !changed.is_empty()) {
                self.event(ctx, object, Severity::Info, &message, &revision).await;
            }
            let conds = status.conditions.get_or_insert_with(Vec::new);
            conditions::mark_true(conds, reasons::HEALTHY, reasons::SUCCEEDED, &message, generation);
        }

        status.last_applied_revision = Some(revision.clone());
        status.last_applied_origin_revision = origin_revision;
        upsert_history(status, &built.digest, started, reasons::RECONCILIATION_SUCCEEDED, &history_meta);
        // Flux's closing event, on every successful run; notification
        // providers that set commit statuses act on its `commit_status`.
        let interval = ferry_api_meta::duration::parse(&object.spec.interval).unwrap_or_default();
        let message = format!(
            "Reconciliation finished in {}, next run in {}",
            go_duration(started.elapsed()),
            go_duration(interval)
        );
        tracing::info!(revision = %revision, "{message}");
        let metadata = BTreeMap::from([
            (ferry_sdk::events::META_REVISION_KEY.to_string(), revision.clone()),
            (ferry_sdk::events::META_COMMIT_STATUS_KEY.to_string(), "update".to_string()),
        ]);
        self.record(ctx, object, Severity::Info, reasons::RECONCILIATION_SUCCEEDED, &message, &metadata).await;
        Ok(Outcome::ready(format!("Applied revision: {revision}"))
            .with_revision(revision)
            .with_ready_reason(reasons::RECONCILIATION_SUCCEEDED)
            // The events above are the ones Flux's kustomize-controller sends.
            .quiet())
    }

    async fn cleanup(&self, object: &Kustomization, ctx: &Context) -> Result<()> {
        if !should_delete_on_finalize(object) {
            return Ok(());
        }
        let revision = object.status.as_ref().and_then(|s| s.last_applied_revision.clone()).unwrap_or_default();
        let inventory =
            object.status.as_ref().and_then(|s| s.inventory.as_ref()).map(inventory_refs).unwrap_or_default();
        let client = match self.target_client(object).await {
            Ok(client) => client,
            Err(error) => {
                // The identity to prune with is gone: report and let the object go.
                let message = format!("unable to prune objects: {error}");
                tracing::error!("{message}");
                self.event(ctx, object, Severity::Error, &message, &revision).await;
                return Ok(());
            }
        };
        let manager = ResourceManager::new(client, self.owner());
        let mut objects = inventory;
        objects.reverse();
        let deleted = match manager.delete_all(&objects, &self.delete_options(object)).await {
            Ok(deleted) => deleted,
            Err(error) => {
                self.event(ctx, object, Severity::Error, "pruning for deleted resource failed", &revision).await;
                return Err(Error::PruneFailed(error.to_string()));
            }
        };
        let lines = changed_lines(&deleted);
        if !lines.is_empty() {
            self.event(ctx, object, Severity::Info, &lines, &revision).await;
            if object.spec.deletion_policy == Some(DeletionPolicy::WaitForTermination) {
                let gone: Vec<ObjectRef> = deleted.entries.iter().map(|e| e.object.clone()).collect();
                if let Err(error) = manager.wait_for_termination(&gone, timeout_of(object)).await {
                    tracing::error!(%error, "failed to wait for resources termination");
                    self.event(ctx, object, Severity::Error, "failed to wait for resources termination", &revision)
                        .await;
                }
            }
        }
        Ok(())
    }
}

impl KustomizationReconciler {
    /// Downloads an artifact (checking its digest while streaming) and unpacks it in memory.
    async fn fetch(&self, url: &str, digest: &str) -> Result<tree::Tree> {
        let tmp =
            tempfile::Builder::new().prefix("kustomization-").tempdir().map_err(|e| Error::TempDir(e.to_string()))?;
        let archive = tmp.path().join("artifact.tar.gz");
        match self.fetcher.fetch(url, digest, &archive).await {
            Ok(()) => {}
            Err(ferry_sdk::artifact::Error::NotFound { .. }) => {
                let retry = self.options.requeue_dependency;
                return Err(Error::ArtifactNotReady {
                    message: format!("Source is not ready, artifact not found, retrying in {}", go_duration(retry)),
                    retry,
                });
            }
            Err(error) => return Err(Error::ArtifactFailed(error.to_string())),
        }
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&archive).map_err(|e| Error::ArtifactFailed(e.to_string()))?;
            let tree = tree::Tree::from_tar_gz(std::io::BufReader::new(file));
            drop(tmp);
            tree.map_err(|e| Error::ArtifactFailed(e.to_string()))
        })
        .await
        .map_err(|e| Error::ArtifactFailed(format!("unpacking task failed: {e}")))?
    }

    async fn source(&self, client: &Client, object: &Kustomization) -> Result<source::Source> {
        let kind = &object.spec.source_ref.kind;
        if *kind == ferry_api_kustomize::KustomizationSourceKind::ExternalArtifact
            && !self.options.allow_external_artifact
        {
            return Err(Error::AccessDenied(format!(
                "can't access '{}/{}/{}', ExternalArtifact feature gate is disabled",
                source::kind_name(kind),
                source::source_namespace(object),
                object.spec.source_ref.name
            )));
        }
        source::get(client, object, self.options.no_cross_namespace_refs).await.map_err(|error| match error {
            source::Error::CrossNamespace { .. } => Error::AccessDenied(error.to_string()),
            source::Error::NotFound(_) => Error::SourceNotFound(error.to_string()),
            source::Error::GetFailed { .. } => Error::SourceFailed(error.to_string()),
        })
    }

    /// Flux's dependency rules: each dependency exists, passes its
    /// `readyExpr` if any (which then replaces the built-in check), is
    /// Ready at its current generation and, when it shares our source, has
    /// applied the same revision.
    async fn check_dependencies(&self, client: &Client, object: &Kustomization, revision: &str) -> Result<()> {
        match self.check_dependencies_ready(client, object, revision).await {
            // A dependency that waits, however indirectly, for this one never
            // becomes ready: say so instead of waiting without an end.
            Err(Error::DependencyNotReady { retry, message }) => match find_cycle(client, object).await {
                Some(cycle) => Err(Error::DependencyNotReady {
                    message: format!("circular dependency detected: {}", cycle.join(" -> ")),
                    retry,
                }),
                None => Err(Error::DependencyNotReady { retry, message }),
            },
            other => other,
        }
    }

    async fn check_dependencies_ready(&self, client: &Client, object: &Kustomization, revision: &str) -> Result<()> {
        let Some(dependencies) = object.spec.depends_on.as_ref().filter(|d| !d.is_empty()) else {
            return Ok(());
        };
        let retry = self.options.requeue_dependency;
        let not_ready = |message: String| Error::DependencyNotReady { message, retry };
        let own_namespace = object.namespace().unwrap_or_default();
        let self_value = serde_json::to_value(object).map_err(|e| Error::InvalidCel(e.to_string()))?;
        for dependency in dependencies {
            let namespace =
                dependency.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| own_namespace.clone());
            let key = format!("{namespace}/{}", dependency.name);
            let api: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
            let dep = api
                .get_opt(&dependency.name)
                .await
                .map_err(|e| not_ready(format!("dependency '{key}' not found: {e}")))?;
            let Some(dep) = dep else {
                return Err(not_ready(format!("dependency '{key}' not found")));
            };
            if let Some(expr) = dependency.ready_expr.as_deref().filter(|e| !e.is_empty()) {
                let dep_value = serde_json::to_value(&dep).map_err(|e| Error::InvalidCel(e.to_string()))?;
                let ready = ferry_kstatus::eval_bool(expr, &[("self", &self_value), ("dep", &dep_value)])
                    .map_err(|e| {
                        Error::InvalidCel(format!(
                            "Reconciliation failed terminally due to configuration error: failed to evaluate dependency {}: {e}",
                            dependency.name
                        ))
                    })?;
                if !ready {
                    return Err(not_ready(format!("dependency '{key}' is not ready according to readyExpr eval")));
                }
                continue;
            }
            let dep_status = dep.status.clone().unwrap_or_default();
            let conds = dep_status.conditions.clone().unwrap_or_default();
            if conds.is_empty() || dep.metadata.generation != dep_status.observed_generation {
                return Err(not_ready(format!("dependency '{key}' is not ready")));
            }
            if !ferry_api_meta::conditions::is_true(&conds, reasons::READY) {
                return Err(not_ready(format!("dependency '{key}' is not ready")));
            }
            let same_source = dep.spec.source_ref.name == object.spec.source_ref.name
                && dep.spec.source_ref.kind == object.spec.source_ref.kind
                && source::source_namespace(&dep) == source::source_namespace(object);
            if same_source && dep_status.last_applied_revision.as_deref() != Some(revision) {
                return Err(not_ready(format!("dependency '{key}' revision is not up to date")));
            }
        }
        Ok(())
    }

    /// The client that applies: the controller's own, a remote cluster's
    /// from `spec.kubeConfig`, acting as `spec.serviceAccountName` on it.
    async fn target_client(&self, object: &Kustomization) -> Result<Client> {
        let options = target::TargetOptions {
            default_service_account: self.options.default_service_account.clone(),
            default_kubeconfig_service_account: self.options.default_kubeconfig_service_account.clone(),
            object_level_workload_identity: self.options.object_level_workload_identity,
            allow_kubeconfig_exec: self.options.allow_kubeconfig_exec,
            allow_kubeconfig_insecure_tls: self.options.allow_kubeconfig_insecure_tls,
        };
        target::client(&self.factory, object, &options).await.map_err(Error::Target)
    }

    async fn decryption_keys(
        &self,
        client: &Client,
        object: &Kustomization,
        namespace: &str,
    ) -> Result<Option<ferry_sops::KeyRing>> {
        let Some(decryption) = &object.spec.decryption else { return Ok(None) };
        let mut data = BTreeMap::new();
        if let Some(secret_ref) = &decryption.secret_ref {
            let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
            let secret = api.get(&secret_ref.name).await.map_err(|e| {
                Error::BuildFailed(format!(
                    "cannot get {} decryption Secret '{namespace}/{}': {e}",
                    "SOPS", secret_ref.name
                ))
            })?;
            for (key, value) in secret.data.unwrap_or_default() {
                data.insert(key, value.0);
            }
            for (key, value) in secret.string_data.unwrap_or_default() {
                data.insert(key, value.into_bytes());
            }
        }
        // The controller's fallback age keys, read with its own identity.
        if let Some((runtime_namespace, name)) = &self.options.sops_age_secret {
            let api: Api<Secret> = Api::namespaced(
                self.factory.client().map_err(|e| Error::ClientFailed(e.to_string()))?,
                runtime_namespace,
            );
            match api.get_opt(name).await {
                Ok(Some(secret)) => {
                    for (key, value) in secret.data.unwrap_or_default() {
                        if key.ends_with(".agekey") {
                            data.entry(format!("sops-age-secret.{key}")).or_insert(value.0);
                        }
                    }
                }
                Ok(None) => {
                    tracing::warn!(secret = %format!("{runtime_namespace}/{name}"), "the --sops-age-secret Secret does not exist")
                }
                Err(error) => {
                    return Err(Error::BuildFailed(format!(
                        "cannot get SOPS age Secret '{runtime_namespace}/{name}': {error}"
                    )));
                }
            }
        }
        ferry_sops::KeyRing::from_secret_data(&data)
            .map(Some)
            .map_err(|e| Error::BuildFailed(format!("failed to import decryption keys: {e}")))
    }

    /// The postBuild variables: ConfigMaps and Secrets in order, then the
    /// inline ones; newlines are dropped from values, as Flux does.
    async fn substitution(
        &self,
        client: &Client,
        object: &Kustomization,
        namespace: &str,
    ) -> Result<Option<Substitution>> {
        let Some(post_build) = &object.spec.post_build else { return Ok(None) };
        let mut vars = BTreeMap::new();
        for reference in post_build.substitute_from.as_deref().unwrap_or_default() {
            let optional = reference.optional.unwrap_or(false);
            match reference.kind {
                SubstituteKind::ConfigMap => {
                    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
                    match api.get_opt(&reference.name).await {
                        Ok(Some(map)) => {
                            for (key, value) in map.data.unwrap_or_default() {
                                vars.insert(key, value.replace('\n', ""));
                            }
                        }
                        Ok(None) if optional => {}
                        Ok(None) => {
                            return Err(Error::BuildFailed(format!(
                                "substitute from 'ConfigMap/{}' error: configmaps \"{}\" not found",
                                reference.name, reference.name
                            )));
                        }
                        Err(e) => {
                            return Err(Error::BuildFailed(format!(
                                "substitute from 'ConfigMap/{}' error: {e}",
                                reference.name
                            )));
                        }
                    }
                }
                SubstituteKind::Secret => {
                    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
                    match api.get_opt(&reference.name).await {
                        Ok(Some(secret)) => {
                            for (key, value) in secret.data.unwrap_or_default() {
                                vars.insert(key, String::from_utf8_lossy(&value.0).replace('\n', ""));
                            }
                        }
                        Ok(None) if optional => {}
                        Ok(None) => {
                            return Err(Error::BuildFailed(format!(
                                "substitute from 'Secret/{}' error: secrets \"{}\" not found",
                                reference.name, reference.name
                            )));
                        }
                        Err(e) => {
                            return Err(Error::BuildFailed(format!(
                                "substitute from 'Secret/{}' error: {e}",
                                reference.name
                            )));
                        }
                    }
                }
            }
        }
        for (key, value) in post_build.substitute.clone().unwrap_or_default() {
            vars.insert(key, value.replace('\n', ""));
        }
        // kustomize-controller v1.9: without any variable the manifests are
        // left as written, unless `substituteStrategy: Always`.
        let always = post_build.substitute_strategy == Some(SubstituteStrategy::Always);
        if vars.is_empty() && !always {
            return Ok(None);
        }
        Ok(Some(Substitution { vars, strict: self.options.strict_substitutions }))
    }

    /// The built objects as the API server takes them, with commonMetadata.
    fn desired_objects(&self, object: &Kustomization, built: Vec<serde_json::Value>) -> Result<Vec<DynamicObject>> {
        let common = object.spec.common_metadata.clone().unwrap_or_default();
        built
            .into_iter()
            .map(|mut value| {
                for (field, extra) in [("labels", &common.labels), ("annotations", &common.annotations)] {
                    let Some(extra) = extra else { continue };
                    if let Some(metadata) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                        let map = metadata.entry(field).or_insert_with(|| serde_json::json!({}));
                        if let Some(map) = map.as_object_mut() {
                            for (k, v) in extra {
                                map.insert(k.clone(), serde_json::Value::String(v.clone()));
                            }
                        }
                    }
                }
                let describe = build::describe(&value);
                serde_json::from_value::<DynamicObject>(value)
                    .map_err(|e| Error::BuildFailed(format!("{describe}: not a Kubernetes object: {e}")))
            })
            .collect()
    }

    async fn event(&self, ctx: &Context, object: &Kustomization, severity: Severity, message: &str, revision: &str) {
        let mut metadata = BTreeMap::new();
        if !revision.is_empty() {
            metadata.insert(ferry_sdk::events::META_REVISION_KEY.to_string(), revision.to_string());
        }
        let reason = match severity {
            Severity::Error => "error",
            _ => reasons::PROGRESSING,
        };
        self.record(ctx, object, severity, reason, message, &metadata).await;
    }

    async fn record(
        &self,
        ctx: &Context,
        object: &Kustomization,
        severity: Severity,
        reason: &str,
        message: &str,
        metadata: &BTreeMap<String, String>,
    ) {
        ctx.event(object, severity, reason, message, metadata).await;
    }
}

/// How many Kustomizations the cycle search reads at most.
const CYCLE_SEARCH_LIMIT: usize = 256;

/// `namespace/name` of each dependency of `object`.
fn dependency_keys(object: &Kustomization) -> Vec<(String, String)> {
    let own = object.namespace().unwrap_or_default();
    object
        .spec
        .depends_on
        .iter()
        .flatten()
        .map(|d| (d.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| own.clone()), d.name.clone()))
        .collect()
}

/// A chain of `dependsOn` from `object` back to itself, if there is one, as
/// `namespace/name` keys from `object` to `object`.
async fn find_cycle(client: &Client, object: &Kustomization) -> Option<Vec<String>> {
    let start = format!("{}/{}", object.namespace().unwrap_or_default(), object.name_any());
    // Depth-first, remembering how each key was reached.
    let mut reached_from: BTreeMap<String, String> = BTreeMap::new();
    let mut stack: Vec<(String, String)> = dependency_keys(object);
    for (namespace, name) in &stack {
        reached_from.entry(format!("{namespace}/{name}")).or_insert_with(|| start.clone());
    }
    let mut read = 0;
    while let Some((namespace, name)) = stack.pop() {
        let key = format!("{namespace}/{name}");
        if key == start {
            let mut chain = vec![start.clone()];
            let mut at = reached_from.get(&start).cloned();
            while let Some(previous) = at {
                chain.push(previous.clone());
                if previous == start {
                    break;
                }
                at = reached_from.get(&previous).cloned();
            }
            chain.reverse();
            return Some(chain);
        }
        read += 1;
        if read > CYCLE_SEARCH_LIMIT {
            return None;
        }
        let api: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
        let Ok(Some(dependency)) = api.get_opt(&name).await else { continue };
        for (next_namespace, next_name) in dependency_keys(&dependency) {
            let next = format!("{next_namespace}/{next_name}");
            if next == start {
                reached_from.insert(start.clone(), key.clone());
                stack.push((next_namespace, next_name));
            } else if let std::collections::btree_map::Entry::Vacant(entry) = reached_from.entry(next) {
                entry.insert(key.clone());
                stack.push((next_namespace, next_name));
            }
        }
    }
    None
}

fn owner_labels(object: &Kustomization) -> BTreeMap<String, String> {
    BTreeMap::from([
        (ferry_api_meta::annotations::KUSTOMIZE_NAME_LABEL.to_string(), object.name_any()),
        (ferry_api_meta::annotations::KUSTOMIZE_NAMESPACE_LABEL.to_string(), object.namespace().unwrap_or_default()),
    ])
}

/// Flux's rule: a suspended Kustomization or one without inventory deletes
/// nothing; otherwise the deletion policy decides (MirrorPrune follows prune).
fn should_delete_on_finalize(object: &Kustomization) -> bool {
    if object.spec.suspend.unwrap_or(false) {
        return false;
    }
    let has_inventory = object
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .is_some_and(|inventory| !inventory.entries.is_empty());
    if !has_inventory {
        return false;
    }
    match object.spec.deletion_policy.unwrap_or(DeletionPolicy::MirrorPrune) {
        DeletionPolicy::MirrorPrune => object.spec.prune,
        DeletionPolicy::Delete | DeletionPolicy::WaitForTermination => true,
        DeletionPolicy::Orphan => false,
    }
}

/// The lines of a change set that changed something, Flux's event message.
fn changed_lines(changes: &ChangeSet) -> String {
    changes.entries.iter().filter(|e| e.action.is_change()).map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
}

fn object_id(object: &ObjectRef) -> ObjectId {
    ObjectId {
        namespace: object.namespace.clone(),
        name: object.name.clone(),
        group: object.group.clone(),
        kind: object.kind.clone(),
    }
}

fn version_of(object: &ObjectRef) -> String {
    object.version.clone()
}

fn inventory_refs(inventory: &ResourceInventory) -> Vec<ObjectRef> {
    inventory
        .entries
        .iter()
        .filter_map(|entry| {
            let id = entry.object_id().ok()?;
            Some(ObjectRef {
                group: id.group,
                version: entry.v.clone(),
                kind: id.kind,
                namespace: id.namespace,
                name: id.name,
            })
        })
        .collect()
}

fn health_check_refs(object: &Kustomization, namespace: &str) -> Vec<ObjectRef> {
    object
        .spec
        .health_checks
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|check| {
            let api_version = check.api_version.clone().unwrap_or_default();
            let (group, version) = match api_version.split_once('/') {
                Some((group, version)) => (group.to_string(), version.to_string()),
                None => (String::new(), api_version),
            };
            ObjectRef {
                group,
                version,
                kind: check.kind.clone(),
                namespace: check.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| namespace.to_string()),
                name: check.name.clone(),
            }
        })
        .collect()
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

fn upsert_history(
    status: &mut KustomizationStatus,
    digest: &str,
    started: Instant,
    outcome: &str,
    metadata: &BTreeMap<String, String>,
) {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let duration = go_duration(started.elapsed());
    let history = status.history.get_or_insert_with(Vec::new);
    if let Some(latest) = history.first_mut()
        && latest.digest == digest
    {
        latest.last_reconciled = now;
        latest.last_reconciled_duration = duration;
        latest.last_reconciled_status = outcome.to_string();
        latest.total_reconciliations += 1;
        latest.metadata = Some(metadata.clone());
        return;
    }
    history.insert(
        0,
        Snapshot {
            digest: digest.to_string(),
            first_reconciled: now.clone(),
            last_reconciled: now,
            last_reconciled_duration: duration,
            last_reconciled_status: outcome.to_string(),
            total_reconciliations: 1,
            metadata: Some(metadata.clone()),
        },
    );
    history.truncate(HISTORY_LIMIT);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_counts_repeats_and_keeps_five() {
        let mut status = KustomizationStatus::default();
        let meta = BTreeMap::from([("revision".to_string(), "main@sha1:1".to_string())]);
        upsert_history(&mut status, "sha256:a", Instant::now(), "ReconciliationSucceeded", &meta);
        upsert_history(&mut status, "sha256:a", Instant::now(), "ReconciliationSucceeded", &meta);
        let history = status.history.as_ref().unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].total_reconciliations, 2);
        for digest in ["b", "c", "d", "e", "f", "g"] {
            upsert_history(&mut status, &format!("sha256:{digest}"), Instant::now(), "HealthCheckFailed", &meta);
        }
        let history = status.history.as_ref().unwrap();
        assert_eq!(history.len(), HISTORY_LIMIT);
        assert_eq!(history[0].digest, "sha256:g");
        assert_eq!(history[0].last_reconciled_status, "HealthCheckFailed");
    }
}
