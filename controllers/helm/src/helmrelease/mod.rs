//! The HelmRelease reconciler: chart source → values → chart → the release
//! actions Flux's atomic release would run, with Flux's conditions,
//! reasons, events and status.
//!
//! [`Reconciler::reconcile`] is the list of steps; each is a method in the
//! file of its concern and owns the failures it reports:
//! 1. [`refuse`]: spec fields not implemented yet stall the object
//!    (`UnsupportedSpec`), never ignored;
//! 2. [`dependencies`]: `dependsOn` (DependencyNotReady);
//! 3. [`chart`]: the HelmChart of `spec.chart`, the source of `chartRef`,
//!    the chart downloaded and loaded (AccessDenied, ArtifactFailed,
//!    SourceNotReady);
//! 4. [`values`]: `valuesFrom` and `values` (ValuesError);
//! 5. [`release`]: the release state in Helm's [`storage`] and the
//!    [`action`]s it calls for, until the release is in sync (Released,
//!    TestSuccess, Remediated; InstallFailed, UpgradeFailed, ...).
//!
//! Deletion uninstalls the release ([`Reconciler::cleanup`]).

pub mod action;
pub mod chart;
pub mod dependencies;
mod error;
pub mod hooks;
pub mod observation;
pub mod record;
pub mod refuse;
pub mod release;
pub mod render;
pub mod state;
pub mod storage;
pub mod values;

use std::time::Duration;

use ferry_api_helm::{HelmRelease, HelmReleaseStatus};
use ferry_api_meta::conditions as reasons;
use ferry_sdk::client::ClientFactory;
use ferry_sdk::conditions::{StatusConditions, Summary};
use ferry_sdk::reconcile::{Context, Outcome, Reconciler};
use ferry_ssa::Owner;
use kube::{Client, ResourceExt};
use tokio::sync::OnceCell;

pub use error::{Error, Result};

/// The default of `spec.timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// The default of `spec.maxHistory`.
pub const DEFAULT_MAX_HISTORY: i64 = 5;
/// Flux's longest release name; longer ones are shortened with a hash.
pub const MAX_RELEASE_NAME: usize = 53;

/// How the reconciler is configured by the controller's flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--no-cross-namespace-refs`.
    pub no_cross_namespace_refs: bool,
    /// `--default-service-account`.
    pub default_service_account: Option<String>,
    /// `--requeue-dependency`.
    pub requeue_dependency: Duration,
    /// `--http-retry`.
    pub http_retry: u32,
    /// `--http-timeout`.
    pub http_timeout: Duration,
    /// `--override-manager`: field managers whose changes are taken over.
    pub override_managers: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            no_cross_namespace_refs: false,
            default_service_account: None,
            requeue_dependency: Duration::from_secs(30),
            http_retry: 9,
            http_timeout: Duration::from_secs(30),
            override_managers: Vec::new(),
        }
    }
}

/// Reconciles HelmReleases.
pub struct HelmReleaseReconciler {
    factory: ClientFactory,
    loader: chart::Loader,
    options: Options,
    controller_name: String,
    kube_version: OnceCell<Option<String>>,
}

impl HelmReleaseReconciler {
    /// A reconciler building clients from `factory`.
    pub fn new(factory: ClientFactory, options: Options, controller_name: &str) -> anyhow::Result<Self> {
        let fetcher = ferry_sdk::artifact::Fetcher::new(options.http_timeout)?
            .with_retries(options.http_retry, Duration::from_millis(500))
            .with_max_size(u64::MAX);
        Ok(Self {
            factory,
            loader: chart::Loader::new(fetcher),
            options,
            controller_name: controller_name.to_string(),
            kube_version: OnceCell::new(),
        })
    }

    /// The identity the release's objects are applied as.
    pub fn owner(&self) -> Owner {
        Owner { field_manager: self.controller_name.clone(), group: ferry_api_helm::GROUP.to_string() }
    }

    /// The client the release is made with: the controller's, or the
    /// service account's (`spec.serviceAccountName`, else
    /// `--default-service-account`) impersonated.
    fn target_client(&self, ctx: &Context, object: &HelmRelease) -> Result<Client> {
        let account = object
            .spec
            .service_account_name
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| self.options.default_service_account.clone());
        match account {
            Some(account) => {
                self.factory.impersonating(&object.namespace().unwrap_or_default(), &account).map_err(Error::Client)
            }
            None => Ok(ctx.client().clone()),
        }
    }

    /// The cluster's version (`.Capabilities.KubeVersion`), asked once.
    async fn kube_version(&self, client: &Client) -> Option<String> {
        self.kube_version
            .get_or_init(|| async { client.apiserver_version().await.ok().map(|v| v.git_version) })
            .await
            .clone()
    }
}

/// Flux's `GetReleaseName`, shortened as Flux's `ShortenName`: longer than
/// 53 characters, the name keeps its first 40 and gets `-` and the first 12
/// hex digits of its sha256.
pub fn release_name(object: &HelmRelease) -> String {
    let name = match (&object.spec.release_name, &object.spec.target_namespace) {
        (Some(name), _) if !name.is_empty() => name.clone(),
        (_, Some(ns)) if !ns.is_empty() => format!("{ns}-{}", object.name_any()),
        _ => object.name_any(),
    };
    shorten_name(&name)
}

/// Flux's `ShortenName`.
pub fn shorten_name(name: &str) -> String {
    if name.len() <= MAX_RELEASE_NAME {
        return name.to_string();
    }
    use sha2::Digest as _;
    let sum = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    format!("{}-{}", &name[..MAX_RELEASE_NAME - 13], &sum[..12])
}

/// `spec.targetNamespace`, else the object's namespace.
pub fn release_namespace(object: &HelmRelease) -> String {
    object
        .spec
        .target_namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| object.namespace().unwrap_or_default())
}

/// `spec.storageNamespace`, else the object's namespace.
pub fn storage_namespace(object: &HelmRelease) -> String {
    object
        .spec
        .storage_namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| object.namespace().unwrap_or_default())
}

/// A duration field, or `default`.
pub fn duration_or(value: Option<&str>, default: Duration) -> Duration {
    value.and_then(|v| ferry_api_meta::duration::parse(v).ok()).unwrap_or(default)
}

/// `spec.timeout`, five minutes when unset.
pub fn timeout_of(object: &HelmRelease) -> Duration {
    duration_or(object.spec.timeout.as_deref(), DEFAULT_TIMEOUT)
}

/// A duration as Go prints it.
pub fn go_duration(duration: Duration) -> String {
    ferry_api_meta::duration::format(duration)
}

impl Reconciler for HelmReleaseReconciler {
    type Object = HelmRelease;
    type Error = Error;

    /// Remediated wins (a remediated release is not ready), then Released.
    fn summary(&self) -> Summary {
        Summary::new(&[reasons::REMEDIATED, reasons::RELEASED], &[reasons::REMEDIATED])
    }

    fn status_manager(&self) -> Option<&str> {
        Some(crate::STATUS_MANAGER)
    }

    async fn reconcile(&self, object: &HelmRelease, status: &mut HelmReleaseStatus, ctx: &Context) -> Result<Outcome> {
        refuse::check(object)?;
        let generation = object.metadata.generation;
        status.mark_true(reasons::RECONCILING, reasons::PROGRESSING, "Fulfilling prerequisites", generation);
        self.reconcile_dependencies(ctx, object).await?;
        self.reconcile_helm_chart(ctx, object, status).await?;
        let source = self.reconcile_source(ctx, object).await?;
        let values = values::compose(ctx.client(), object).await.map_err(|e| Error::Values(Box::new(e)))?;
        let (chart, oci_digest) = self.reconcile_chart(&source).await?;
        self.reconcile_release(ctx, object, status, chart, values, oci_digest).await
    }

    async fn cleanup(&self, object: &HelmRelease, ctx: &Context) -> Result<()> {
        self.finalize(ctx, object).await
    }
}
