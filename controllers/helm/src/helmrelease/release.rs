//! The release step: Flux's atomic release. The state of the release in
//! storage decides the next action (install, upgrade, test, unlock,
//! rollback or uninstall remediation); actions run until the release is in
//! sync, or one fails or remediates, which ends the reconcile for a retry.
//!
//! Each action owns its condition: Released (install, upgrade), TestSuccess
//! (test), Remediated (rollback, uninstall remediation); each records its
//! snapshot in `status.history` and its event with Flux's metadata.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferry_api_helm::{HelmRelease, HelmReleaseStatus, ReleaseSnapshot};
use ferry_api_meta::conditions as reasons;
use ferry_helm::Map;
use ferry_helm::chart::Chart;
use ferry_helm::values::options::merge_maps;
use ferry_kstatus::HealthChecker;
use ferry_sdk::conditions::StatusConditions;
use ferry_sdk::events::Severity;
use ferry_sdk::reconcile::{Context, Outcome};
use ferry_ssa::{ApplyOptions, ResourceManager};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};

use super::action::{ReleaseOptions, Target, UninstallOptions};
use super::observation::{self, full_name, versioned_chart};
use super::record::Release;
use super::state::{self, State};
use super::storage::Storage;
use super::{Error, HelmReleaseReconciler, Result, duration_or, go_duration, timeout_of};

/// `lastAttemptedReleaseAction` of an install.
pub const ACTION_INSTALL: &str = "install";
/// `lastAttemptedReleaseAction` of an upgrade.
pub const ACTION_UPGRADE: &str = "upgrade";
/// The `reconcile.fluxcd.io/forceAt` annotation.
pub const FORCE_AT_ANNOTATION: &str = "reconcile.fluxcd.io/forceAt";
/// The `reconcile.fluxcd.io/resetAt` annotation.
pub const RESET_AT_ANNOTATION: &str = "reconcile.fluxcd.io/resetAt";
/// The default retry interval of `RetryOnFailure`.
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(300);
/// The condition reason while tests are pending.
pub const AWAITING_TESTS: &str = "AwaitingTests";

/// How many actions one reconcile runs at most.
const MAX_ACTIONS: usize = 6;

/// The remediation in force for the last release action (Flux's
/// `GetActiveRemediation`).
#[derive(Debug, Clone)]
struct Remediation {
    retries: i64,
    ignore_test_failures: Option<bool>,
    remediate_last_failure: bool,
    uninstall: bool,
    install: bool,
}

impl Remediation {
    fn failures(&self, status: &HelmReleaseStatus) -> i64 {
        if self.install { status.install_failures.unwrap_or(0) } else { status.upgrade_failures.unwrap_or(0) }
    }

    fn increment(&self, status: &mut HelmReleaseStatus) {
        let counter = if self.install { &mut status.install_failures } else { &mut status.upgrade_failures };
        *counter = Some(counter.unwrap_or(0) + 1);
    }

    fn exhausted(&self, status: &HelmReleaseStatus) -> bool {
        self.retries >= 0 && self.failures(status) > self.retries
    }

    fn ignore_tests(&self, object: &HelmRelease) -> bool {
        self.ignore_test_failures.unwrap_or_else(|| test_ignore_failures(object))
    }
}

fn install_remediation(object: &HelmRelease) -> Remediation {
    let r = object.spec.install.as_ref().and_then(|i| i.remediation.clone()).unwrap_or_default();
    Remediation {
        retries: r.retries.unwrap_or(0),
        ignore_test_failures: r.ignore_test_failures,
        remediate_last_failure: r.remediate_last_failure.unwrap_or(false),
        uninstall: true,
        install: true,
    }
}

fn upgrade_remediation(object: &HelmRelease) -> Remediation {
    let r = object.spec.upgrade.as_ref().and_then(|u| u.remediation.clone()).unwrap_or_default();
    let retries = r.retries.unwrap_or(0);
    Remediation {
        retries,
        ignore_test_failures: r.ignore_test_failures,
        remediate_last_failure: r.remediate_last_failure.unwrap_or(retries > 0),
        uninstall: r.strategy.as_deref() == Some("uninstall"),
        install: false,
    }
}

fn active_remediation(object: &HelmRelease, status: &HelmReleaseStatus) -> Option<Remediation> {
    match status.last_attempted_release_action.as_deref() {
        Some(ACTION_INSTALL) => Some(install_remediation(object)),
        Some(ACTION_UPGRADE) => Some(upgrade_remediation(object)),
        _ => None,
    }
}

/// The retry interval of a `RetryOnFailure` strategy for the last action.
fn active_retry(object: &HelmRelease, status: &HelmReleaseStatus) -> Option<Duration> {
    let (name, interval) = match status.last_attempted_release_action.as_deref() {
        Some(ACTION_INSTALL) => {
            let s = object.spec.install.as_ref()?.strategy.as_ref()?;
            (s.name.clone(), s.retry_interval.clone())
        }
        Some(ACTION_UPGRADE) => {
            let s = object.spec.upgrade.as_ref()?.strategy.as_ref()?;
            (s.name.clone(), s.retry_interval.clone())
        }
        _ => return None,
    };
    (name == "RetryOnFailure").then(|| duration_or(interval.as_deref(), DEFAULT_RETRY_INTERVAL))
}

fn test_enabled(object: &HelmRelease) -> bool {
    object.spec.test.as_ref().and_then(|t| t.enable).unwrap_or(false)
}

fn test_ignore_failures(object: &HelmRelease) -> bool {
    object.spec.test.as_ref().and_then(|t| t.ignore_failures).unwrap_or(false)
}

fn bool_of(value: Option<bool>) -> bool {
    value.unwrap_or(false)
}

/// The annotation value `key` when it asks for handling: set, new, and
/// equal to `reconcile.fluxcd.io/requestedAt`, as Flux's
/// `ShouldHandleForceRequest`.
fn requested(object: &HelmRelease, key: &str, handled: Option<&String>) -> Option<String> {
    let annotations = object.annotations();
    let value = annotations.get(key)?;
    let requested_at = annotations.get(ferry_api_meta::annotations::REQUESTED_AT)?;
    (value == requested_at && Some(value) != handled).then(|| value.clone())
}

/// Flux's `Truncate`: the newest snapshot and everything up to the first
/// older deployed or superseded one (skipping those with failed tests unless
/// ignored), at most five.
fn truncate(history: &mut Vec<ReleaseSnapshot>, ignore_tests: bool) {
    history.sort_by_key(|s| std::cmp::Reverse(s.version));
    if history.len() < 2 {
        return;
    }
    let keep = history.iter().enumerate().skip(1).find(|(_, s)| {
        (s.status == "deployed" || s.status == "superseded") && (ignore_tests || !state::has_failed_test(s))
    });
    match keep {
        Some((i, _)) => history.truncate(i + 1),
        None => history.truncate(super::DEFAULT_MAX_HISTORY as usize),
    }
}

/// Flux's `Previous`: the newest older snapshot that is deployed or
/// superseded (and did not fail its tests unless ignored).
fn previous(history: &[ReleaseSnapshot], ignore_tests: bool) -> Option<ReleaseSnapshot> {
    let mut sorted = history.to_vec();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.version));
    sorted
        .into_iter()
        .skip(1)
        .find(|s| (s.status == "deployed" || s.status == "superseded") && (ignore_tests || !state::has_failed_test(s)))
}

/// The event metadata of a release: chart version, config digest, app
/// version and OCI digest, under the API group.
fn event_meta(snapshot: &ReleaseSnapshot) -> BTreeMap<String, String> {
    let mut meta = BTreeMap::from([
        (ferry_sdk::events::META_REVISION_KEY.to_string(), snapshot.chart_version.clone()),
        (ferry_sdk::events::META_TOKEN_KEY.to_string(), snapshot.config_digest.clone()),
    ]);
    if let Some(app) = snapshot.app_version.clone().filter(|a| !a.is_empty()) {
        meta.insert("app-version".into(), app);
    }
    if let Some(digest) = snapshot.oci_digest.clone().filter(|d| !d.is_empty()) {
        meta.insert("oci-digest".into(), digest);
    }
    meta
}

/// What one reconcile of a release works with.
struct Request<'a> {
    ctx: &'a Context,
    object: &'a HelmRelease,
    chart: &'a Chart,
    values: &'a Map,
    oci_digest: Option<&'a str>,
    target: Target,
    generation: Option<i64>,
}

impl Request<'_> {
    async fn event(&self, severity: Severity, reason: &str, message: &str, meta: &BTreeMap<String, String>) {
        self.ctx.event(self.object, severity, reason, message, meta).await;
    }

    fn chart_meta(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (ferry_sdk::events::META_REVISION_KEY.to_string(), self.chart.metadata.version.clone()),
            (ferry_sdk::events::META_TOKEN_KEY.to_string(), super::values::digest(self.values)),
        ])
    }
}

impl HelmReleaseReconciler {
    /// Release: runs the actions the release's state calls for until it is
    /// in sync.
    ///
    /// Conditions: Released, TestSuccess, Remediated (see the module);
    /// failures are `InstallFailed`, `UpgradeFailed`, `TestFailed`,
    /// `RollbackFailed`, `UninstallFailed` (retried), a remediation
    /// (`RollbackSucceeded`, `UninstallSucceeded`; retried), or retries used
    /// up (stalled).
    pub async fn reconcile_release(
        &self,
        ctx: &Context,
        object: &HelmRelease,
        status: &mut HelmReleaseStatus,
        mut chart: Chart,
        values: Map,
        oci_digest: Option<String>,
    ) -> Result<Outcome> {
        let client = self.target_client(ctx, object)?;
        let name = super::release_name(object);
        let namespace = super::release_namespace(object);
        let storage_namespace = super::storage_namespace(object);

        // A new release name, namespace or storage: the old release goes first.
        if let Some(current) = status.history.as_ref().and_then(|h| h.first()).cloned() {
            let old_storage = status.storage_namespace.clone().unwrap_or_else(|| storage_namespace.clone());
            let chart_renamed = !current.chart_name.is_empty() && current.chart_name != chart.metadata.name;
            if current.name != name
                || current.namespace != namespace
                || old_storage != storage_namespace
                || chart_renamed
            {
                let old = self.target(client.clone(), object, &current.name, &current.namespace, &old_storage).await?;
                let _ = old.uninstall(&self.uninstall_options(object)).await;
                status.history = None;
                status.failures = None;
                status.install_failures = None;
                status.upgrade_failures = None;
            }
        }
        status.storage_namespace = Some(storage_namespace.clone());

        let config_digest = super::values::digest(&values);
        let reset = requested(object, RESET_AT_ANNOTATION, status.last_handled_reset_at.as_ref());
        let must_reset = status.last_attempted_generation != object.metadata.generation
            || status.last_attempted_revision.as_deref() != Some(chart.metadata.version.as_str())
            || status.last_attempted_config_digest.as_deref().is_some_and(|d| d != config_digest)
            || reset.is_some();
        if let Some(reset) = reset {
            status.last_handled_reset_at = Some(reset);
        }
        if must_reset {
            status.failures = None;
            status.install_failures = None;
            status.upgrade_failures = None;
        }
        status.last_attempted_generation = object.metadata.generation;
        status.last_attempted_revision = Some(chart.metadata.version.clone());
        status.last_attempted_revision_digest = oci_digest.clone();
        status.last_attempted_config_digest = Some(config_digest);
        status.last_attempted_values_checksum = None;
        status.last_release_revision = None;

        let force = requested(object, FORCE_AT_ANNOTATION, status.last_handled_force_at.as_ref());
        if let Some(force) = &force {
            status.last_handled_force_at = Some(force.clone());
        }
        let target = self.target(client, object, &name, &namespace, &storage_namespace).await?;
        chart.metadata.version = chart.metadata.version.clone();
        let request = Request {
            ctx,
            object,
            chart: &chart,
            values: &values,
            oci_digest: oci_digest.as_deref(),
            target,
            generation: object.metadata.generation,
        };
        let mut forced = force.is_some();
        for _ in 0..MAX_ACTIONS {
            let last = request.target.storage.last(&name).await.map_err(Error::State)?;
            let history = status.history.clone().unwrap_or_default();
            let ignore = active_remediation(object, status)
                .map(|r| r.ignore_tests(object))
                .unwrap_or_else(|| test_ignore_failures(object));
            let state = state::determine(object, &history, last.as_ref(), &chart, &values, ignore);
            tracing::debug!(?state, "release state");
            match state {
                State::InSync => {
                    if forced {
                        forced = false;
                        self.run_upgrade(&request, status).await?;
                        continue;
                    }
                    return Ok(self.in_sync(&request, status));
                }
                State::Locked(_) => {
                    if let Some(last) = last {
                        self.unlock(&request, status, last).await?;
                    }
                }
                State::Absent(_) => {
                    if install_remediation(object).exhausted(status) && !std::mem::take(&mut forced) {
                        let message = status_message(status, reasons::RELEASED).unwrap_or_else(|| {
                            format!("Failed to install after {} attempt(s)", status.install_failures.unwrap_or(0))
                        });
                        return Err(Error::RetriesExceeded { reason: reasons::INSTALL_FAILED, message });
                    }
                    forced = false;
                    self.run_install(&request, status).await?;
                }
                State::Unmanaged(_) => {
                    status.history = None;
                    self.run_upgrade(&request, status).await?;
                }
                State::OutOfSync(_) => {
                    if upgrade_remediation(object).exhausted(status) && !std::mem::take(&mut forced) {
                        let message = status_message(status, reasons::RELEASED).unwrap_or_else(|| {
                            format!("Failed to upgrade after {} attempt(s)", status.upgrade_failures.unwrap_or(0))
                        });
                        return Err(Error::RetriesExceeded { reason: reasons::UPGRADE_FAILED, message });
                    }
                    forced = false;
                    self.run_upgrade(&request, status).await?;
                }
                State::Untested => {
                    if status.is_true(reasons::REMEDIATED) {
                        replace_remediated(&request, status);
                    }
                    self.run_test(&request, status).await?;
                }
                State::Failed(_) => {
                    let force_now = std::mem::take(&mut forced);
                    self.remediate_failed(&request, status, force_now).await?;
                }
            }
        }
        Ok(self.in_sync(&request, status))
    }

    /// The target of the release `name` in `namespace`, stored in `storage`.
    async fn target(
        &self,
        client: Client,
        object: &HelmRelease,
        name: &str,
        namespace: &str,
        storage: &str,
    ) -> Result<Target> {
        let owner = self.owner();
        let mut apply = ApplyOptions {
            force: object.spec.upgrade.as_ref().and_then(|u| u.force).unwrap_or(false),
            labels: BTreeMap::from([
                (format!("{}/name", ferry_api_helm::GROUP), object.name_any()),
                (format!("{}/namespace", ferry_api_helm::GROUP), object.namespace().unwrap_or_default()),
            ]),
            wait_timeout: timeout_of(object),
            ..ApplyOptions::new(&owner)
        };
        for manager in &self.options.override_managers {
            for operation in ["Apply", "Update"] {
                apply.cleanup.field_managers.push(ferry_ssa::FieldManager::new(manager, operation));
            }
        }
        let exprs = object.spec.health_check_exprs.clone().unwrap_or_default();
        let checker =
            HealthChecker::new(&exprs).map_err(|source| Error::InvalidCel { context: String::new(), source })?;
        let max_history = object.spec.max_history.unwrap_or(super::DEFAULT_MAX_HISTORY).max(0) as usize;
        Ok(Target {
            kube_version: self.kube_version(&client).await,
            manager: ResourceManager::new(client.clone(), owner),
            storage: Storage::new(client, storage),
            name: name.to_string(),
            namespace: namespace.to_string(),
            apply,
            checker,
            max_history,
        })
    }

    fn uninstall_options(&self, object: &HelmRelease) -> UninstallOptions {
        let spec = object.spec.uninstall.clone().unwrap_or_default();
        let propagation = match spec.deletion_propagation.as_deref() {
            Some("foreground") => kube::api::PropagationPolicy::Foreground,
            Some("orphan") => kube::api::PropagationPolicy::Orphan,
            _ => kube::api::PropagationPolicy::Background,
        };
        UninstallOptions {
            timeout: duration_or(spec.timeout.as_deref(), timeout_of(object)),
            keep_history: bool_of(spec.keep_history),
            disable_hooks: bool_of(spec.disable_hooks),
            disable_wait: bool_of(spec.disable_wait),
            propagation,
        }
    }

    /// Reconciling and Ready=Unknown while an action runs, written at once.
    async fn report_action(
        &self,
        request: &Request<'_>,
        status: &mut HelmReleaseStatus,
        action: &str,
        timeout: Duration,
    ) {
        let message = format!("Running '{action}' action with timeout of {}", go_duration(timeout));
        status.mark_true(reasons::RECONCILING, reasons::PROGRESSING, &message, request.generation);
        status.mark_unknown(reasons::READY, reasons::PROGRESSING, &message, request.generation);
        request.ctx.report_progress(request.object, status).await;
    }

    /// Records the newest stored revision as the latest snapshot and
    /// refreshes the snapshots of revisions the action changed (superseded).
    async fn record(&self, request: &Request<'_>, status: &mut HelmReleaseStatus, release: &Release, action: &str) {
        let mut history = status.history.take().unwrap_or_default();
        history.retain(|s| s.version != release.version || s.name != release.name);
        let stored = request.target.storage.history(&release.name).await.unwrap_or_default();
        for snapshot in history.iter_mut() {
            if let Some(record) =
                stored.iter().find(|r| r.version == snapshot.version && r.namespace == snapshot.namespace)
            {
                let mut fresh = observation::snapshot(
                    record,
                    snapshot.action.as_deref().unwrap_or_default(),
                    snapshot.oci_digest.as_deref(),
                );
                fresh.test_hooks = snapshot.test_hooks.clone();
                *snapshot = fresh;
            }
        }
        history.insert(0, observation::snapshot(release, action, request.oci_digest));
        status.history = Some(history);
    }

    async fn run_install(&self, request: &Request<'_>, status: &mut HelmReleaseStatus) -> Result<()> {
        let object = request.object;
        let install = object.spec.install.clone().unwrap_or_default();
        let timeout = duration_or(install.timeout.as_deref(), timeout_of(object));
        status.last_attempted_release_action = Some(ACTION_INSTALL.into());
        status.history = None;
        status.remove(&[reasons::TEST_SUCCESS, reasons::REMEDIATED]);
        self.report_action(request, status, ACTION_INSTALL, timeout).await;
        let skip_crds = bool_of(install.skip_crds) || install.crds == Some(ferry_api_helm::CrdsPolicy::Skip);
        let opts = ReleaseOptions {
            timeout,
            disable_wait: bool_of(install.disable_wait),
            disable_hooks: bool_of(install.disable_hooks),
            disable_schema_validation: bool_of(install.disable_schema_validation),
            apply_crds: !skip_crds,
            cleanup_on_fail: false,
        };
        let started = Instant::now();
        let created = if bool_of(install.create_namespace) {
            create_namespace(request.ctx.client(), &request.target.namespace, request.ctx.field_manager()).await
        } else {
            Ok(())
        };
        let (release, result) = match created {
            Ok(()) => request.target.install(request.chart, request.values, &opts).await,
            Err(error) => (None, Err(error)),
        };
        status.last_attempted_release_action_duration = Some(go_duration(started.elapsed()));
        if let Some(release) = &release {
            self.record(request, status, release, ACTION_INSTALL).await;
        }
        match result {
            Err(error) => {
                let message = format!(
                    "Helm install failed for release {}/{} with chart {}@{}: {}",
                    request.target.namespace,
                    request.target.name,
                    request.chart.metadata.name,
                    request.chart.metadata.version,
                    error.to_string().trim()
                );
                self.fail(request, status, reasons::RELEASED, reasons::INSTALL_FAILED, &message).await;
                if release.is_some() {
                    install_remediation(object).increment(status);
                }
                self.after_failure(request, status, reasons::INSTALL_FAILED, message, error).await
            }
            Ok(()) => {
                self.succeed(request, status, reasons::INSTALL_SUCCEEDED, "install").await;
                Ok(())
            }
        }
    }

    async fn run_upgrade(&self, request: &Request<'_>, status: &mut HelmReleaseStatus) -> Result<()> {
        let object = request.object;
        let upgrade = object.spec.upgrade.clone().unwrap_or_default();
        let timeout = duration_or(upgrade.timeout.as_deref(), timeout_of(object));
        status.last_attempted_release_action = Some(ACTION_UPGRADE.into());
        status.remove(&[reasons::TEST_SUCCESS, reasons::REMEDIATED]);
        self.report_action(request, status, ACTION_UPGRADE, timeout).await;
        let apply_crds = matches!(
            upgrade.crds,
            Some(ferry_api_helm::CrdsPolicy::Create) | Some(ferry_api_helm::CrdsPolicy::CreateReplace)
        );
        let opts = ReleaseOptions {
            timeout,
            disable_wait: bool_of(upgrade.disable_wait),
            disable_hooks: bool_of(upgrade.disable_hooks),
            disable_schema_validation: bool_of(upgrade.disable_schema_validation),
            apply_crds,
            cleanup_on_fail: bool_of(upgrade.cleanup_on_fail),
        };
        let mut values = request.values.clone();
        if bool_of(upgrade.preserve_values)
            && let Ok(Some(last)) = request.target.storage.last(&request.target.name).await
            && let ferry_helm::Value::Map(previous) =
                ferry_helm::Value::from_json(&serde_json::Value::Object(last.config))
        {
            values = merge_maps(previous, values);
        }
        let started = Instant::now();
        let (release, result) = request.target.upgrade(request.chart, &values, &opts).await;
        status.last_attempted_release_action_duration = Some(go_duration(started.elapsed()));
        if let Some(release) = &release {
            self.record(request, status, release, ACTION_UPGRADE).await;
        }
        match result {
            Err(error) => {
                let message = format!(
                    "Helm upgrade failed for release {}/{} with chart {}@{}: {}",
                    request.target.namespace,
                    request.target.name,
                    request.chart.metadata.name,
                    request.chart.metadata.version,
                    error.to_string().trim()
                );
                self.fail(request, status, reasons::RELEASED, reasons::UPGRADE_FAILED, &message).await;
                if release.is_some() {
                    upgrade_remediation(object).increment(status);
                }
                self.after_failure(request, status, reasons::UPGRADE_FAILED, message, error).await
            }
            Ok(()) => {
                self.succeed(request, status, reasons::UPGRADE_SUCCEEDED, "upgrade").await;
                Ok(())
            }
        }
    }

    /// Released=True, tests awaited, failures cleared under RetryOnFailure,
    /// the success event.
    async fn succeed(&self, request: &Request<'_>, status: &mut HelmReleaseStatus, reason: &str, verb: &str) {
        let Some(current) = status.history.as_ref().and_then(|h| h.first()).cloned() else { return };
        let message = format!(
            "Helm {verb} succeeded for release {} with chart {}",
            full_name(&current),
            versioned_chart(&current)
        );
        status.mark_true(reasons::RELEASED, reason, &message, request.generation);
        if test_enabled(request.object) && !state::has_been_tested(&current) {
            let pending = format!(
                "Helm release {} with chart {} is awaiting tests",
                full_name(&current),
                versioned_chart(&current)
            );
            status.mark_unknown(reasons::TEST_SUCCESS, AWAITING_TESTS, &pending, request.generation);
        }
        if active_retry(request.object, status).is_some() {
            status.failures = None;
            status.install_failures = None;
            status.upgrade_failures = None;
        }
        request.event(Severity::Info, reason, &message, &event_meta(&current)).await;
    }

    /// The condition False, the failure counted, the warning event.
    async fn fail(
        &self,
        request: &Request<'_>,
        status: &mut HelmReleaseStatus,
        condition: &str,
        reason: &str,
        message: &str,
    ) {
        status.failures = Some(status.failures.unwrap_or(0) + 1);
        status.mark_false(condition, reason, message, request.generation);
        request.event(Severity::Error, reason, message, &request.chart_meta()).await;
    }

    /// After a failed install or upgrade: retry at the strategy's interval,
    /// or, once the retries are used up, remediate the last failure if asked
    /// and stall; otherwise retry (the next reconcile remediates).
    async fn after_failure(
        &self,
        request: &Request<'_>,
        status: &mut HelmReleaseStatus,
        reason: &'static str,
        message: String,
        source: super::action::Error,
    ) -> Result<()> {
        let retry = active_retry(request.object, status);
        if retry.is_none()
            && let Some(remediation) = active_remediation(request.object, status)
            && remediation.exhausted(status)
        {
            if remediation.remediate_last_failure {
                // The remediation's own condition and event tell how it went.
                let _ = self.remediate(request, status, &remediation).await;
            }
            return Err(Error::RetriesExceeded { reason, message });
        }
        Err(Error::ActionFailed { reason, message, source: Box::new(source), retry })
    }

    async fn run_test(&self, request: &Request<'_>, status: &mut HelmReleaseStatus) -> Result<()> {
        let object = request.object;
        let test = object.spec.test.clone().unwrap_or_default();
        let timeout = duration_or(test.timeout.as_deref(), timeout_of(object));
        self.report_action(request, status, "test", timeout).await;
        let filters = test.filters.clone().unwrap_or_default();
        let (release, result) = request.target.test(timeout, |h| observation::test_selected(&h.name, &filters)).await;
        let Some(current) = status.history.as_mut().and_then(|h| h.first_mut()) else { return Ok(()) };
        if let Some(release) = &release {
            current.test_hooks = Some(observation::test_hooks(release, &filters));
        }
        let current = current.clone();
        match result {
            Err(error) => {
                let message = format!(
                    "Helm test failed for release {} with chart {}: {}",
                    full_name(&current),
                    versioned_chart(&current),
                    error.to_string().trim()
                );
                self.fail(request, status, reasons::TEST_SUCCESS, reasons::TEST_FAILED, &message).await;
                let remediation = active_remediation(object, status);
                let ignore = remediation
                    .as_ref()
                    .map(|r| r.ignore_tests(object))
                    .unwrap_or_else(|| test_ignore_failures(object));
                if ignore {
                    return Ok(());
                }
                if let Some(remediation) = &remediation
                    && state::has_been_tested(&current)
                {
                    remediation.increment(status);
                }
                self.after_failure(request, status, reasons::TEST_FAILED, message, error).await
            }
            Ok(()) => {
                let count = current.test_hooks.as_ref().map(|h| h.len()).unwrap_or(0);
                let hooks = match count {
                    0 => "no test hooks".to_string(),
                    1 => "1 test hook completed successfully".to_string(),
                    n => format!("{n} test hooks completed successfully"),
                };
                let message = format!(
                    "Helm test succeeded for release {} with chart {}: {hooks}",
                    full_name(&current),
                    versioned_chart(&current)
                );
                status.mark_true(reasons::TEST_SUCCESS, reasons::TEST_SUCCEEDED, &message, request.generation);
                request.event(Severity::Info, reasons::TEST_SUCCEEDED, &message, &event_meta(&current)).await;
                Ok(())
            }
        }
    }

    /// A release left pending by an interrupted action is marked failed.
    async fn unlock(&self, request: &Request<'_>, status: &mut HelmReleaseStatus, mut last: Release) -> Result<()> {
        let previous = last.status().to_string();
        last.set_status(super::record::status::FAILED, format!("Release unlocked from stale '{previous}' state"));
        request.target.storage.update(&last).await.map_err(Error::State)?;
        if status.history.as_ref().and_then(|h| h.first()).is_some_and(|s| s.version == last.version) {
            self.record(request, status, &last, "").await;
        }
        Ok(())
    }

    /// A failed release: upgraded again (RetryOnFailure, no failures
    /// counted yet, or forced), or remediated as the active remediation
    /// says.
    async fn remediate_failed(
        &self,
        request: &Request<'_>,
        status: &mut HelmReleaseStatus,
        forced: bool,
    ) -> Result<()> {
        if active_retry(request.object, status).is_some() {
            return self.run_upgrade(request, status).await;
        }
        let Some(remediation) = active_remediation(request.object, status) else {
            return self.run_upgrade(request, status).await;
        };
        if remediation.failures(status) <= 0 || forced {
            return self.run_upgrade(request, status).await;
        }
        if remediation.exhausted(status) && !remediation.remediate_last_failure {
            let (reason, verb) = if remediation.install {
                (reasons::INSTALL_FAILED, ACTION_INSTALL)
            } else {
                (reasons::UPGRADE_FAILED, ACTION_UPGRADE)
            };
            let message = status_message(status, reasons::RELEASED)
                .unwrap_or_else(|| format!("Failed to {verb} after {} attempt(s)", remediation.failures(status)));
            return Err(Error::RetriesExceeded { reason, message });
        }
        match self.remediate(request, status, &remediation).await {
            Ok(UpgradeInstead) => self.run_upgrade(request, status).await,
            Err(error) => Err(error),
        }
    }

    /// Rolls back to the previous release or uninstalls, by the strategy;
    /// ends the reconcile (Remediated, or the remediation's failure), unless
    /// the release to roll back to is not the one observed, when an upgrade
    /// is asked for instead, as Flux does.
    async fn remediate(
        &self,
        request: &Request<'_>,
        status: &mut HelmReleaseStatus,
        remediation: &Remediation,
    ) -> Result<UpgradeInstead> {
        let history = status.history.clone().unwrap_or_default();
        let ignore = remediation.ignore_tests(request.object);
        let Some(current) = history.first().cloned() else { return Ok(UpgradeInstead) };
        if !remediation.uninstall {
            let Some(target) = previous(&history, ignore) else {
                return Err(Error::MissingRollbackTarget("no previous release to roll back to".into()));
            };
            let stored = request.target.storage.history(&request.target.name).await.map_err(Error::State)?;
            let Some(record) = stored.iter().find(|r| r.version == target.version) else {
                return Ok(UpgradeInstead);
            };
            if observation::release_digest(record, target.oci_digest.as_deref()) != target.digest {
                return Ok(UpgradeInstead);
            }
            let rollback = request.object.spec.rollback.clone().unwrap_or_default();
            let timeout = duration_or(rollback.timeout.as_deref(), timeout_of(request.object));
            self.report_action(request, status, "rollback", timeout).await;
            let opts = ReleaseOptions {
                timeout,
                disable_wait: bool_of(rollback.disable_wait),
                disable_hooks: bool_of(rollback.disable_hooks),
                cleanup_on_fail: bool_of(rollback.cleanup_on_fail),
                ..ReleaseOptions::default()
            };
            let (release, result) = request.target.rollback(target.version, &opts).await;
            if let Some(release) = &release {
                self.record(request, status, release, "rollback").await;
            }
            let prefix = format!(
                "Helm rollback to previous release {} with chart {}",
                full_name(&target),
                versioned_chart(&target)
            );
            return match result {
                Ok(()) => {
                    let message = format!("{prefix} succeeded");
                    status.mark_true(reasons::REMEDIATED, reasons::ROLLBACK_SUCCEEDED, &message, request.generation);
                    request.event(Severity::Info, reasons::ROLLBACK_SUCCEEDED, &message, &event_meta(&target)).await;
                    Err(Error::Remediated { reason: reasons::ROLLBACK_SUCCEEDED, message })
                }
                Err(error) => {
                    let message = format!("{prefix} failed: {}", error.to_string().trim());
                    status.mark_false(reasons::REMEDIATED, reasons::ROLLBACK_FAILED, &message, request.generation);
                    request.event(Severity::Error, reasons::ROLLBACK_FAILED, &message, &event_meta(&target)).await;
                    Err(Error::ActionFailed {
                        reason: reasons::ROLLBACK_FAILED,
                        message,
                        source: Box::new(error),
                        retry: None,
                    })
                }
            };
        }
        let options = self.uninstall_options(request.object);
        self.report_action(request, status, "uninstall", options.timeout).await;
        let prefix = format!(
            "Helm uninstall remediation for release {} with chart {}",
            full_name(&current),
            versioned_chart(&current)
        );
        match request.target.uninstall(&options).await {
            Ok(release) => {
                if let Some(release) = release.filter(|_| options.keep_history) {
                    self.record(request, status, &release, "uninstall").await;
                }
                let message = format!("{prefix} succeeded");
                status.mark_true(reasons::REMEDIATED, reasons::UNINSTALL_SUCCEEDED, &message, request.generation);
                request.event(Severity::Info, reasons::UNINSTALL_SUCCEEDED, &message, &event_meta(&current)).await;
                Err(Error::Remediated { reason: reasons::UNINSTALL_SUCCEEDED, message })
            }
            Err(error) => {
                let message = format!("{prefix} failed: {}", error.to_string().trim());
                status.mark_false(reasons::REMEDIATED, reasons::UNINSTALL_FAILED, &message, request.generation);
                request.event(Severity::Error, reasons::UNINSTALL_FAILED, &message, &event_meta(&current)).await;
                Err(Error::ActionFailed {
                    reason: reasons::UNINSTALL_FAILED,
                    message,
                    source: Box::new(error),
                    retry: None,
                })
            }
        }
    }

    /// In sync: history truncated, a Released condition left False by a
    /// failure now fixed, Ready from Released (or TestSuccess when tests
    /// count).
    fn in_sync(&self, request: &Request<'_>, status: &mut HelmReleaseStatus) -> Outcome {
        let object = request.object;
        let ignore = active_remediation(object, status)
            .map(|r| r.ignore_tests(object))
            .unwrap_or_else(|| test_ignore_failures(object));
        let retrying = active_retry(object, status).is_some();
        if let Some(history) = status.history.as_mut() {
            truncate(history, ignore || retrying);
        }
        if status.is_true(reasons::REMEDIATED) {
            replace_remediated(request, status);
        }
        let current = status.history.as_ref().and_then(|h| h.first()).cloned();
        if let Some(current) = &current
            && !status.is_true(reasons::RELEASED)
        {
            let reason =
                ferry_api_meta::conditions::get(status.conditions.as_deref().unwrap_or_default(), reasons::RELEASED)
                    .map(|c| c.reason.clone());
            let (reason, verb) = match reason.as_deref() {
                Some(reasons::UPGRADE_FAILED) => (reasons::UPGRADE_SUCCEEDED, "upgrade"),
                _ => (reasons::INSTALL_SUCCEEDED, "install"),
            };
            let message = format!(
                "Helm {verb} succeeded for release {} with chart {}",
                full_name(current),
                versioned_chart(current)
            );
            status.mark_true(reasons::RELEASED, reason, &message, request.generation);
        }
        if !test_enabled(object) {
            status.remove(&[reasons::TEST_SUCCESS]);
        }
        status.remove(&[reasons::RECONCILING]);
        let conditions = status.conditions.clone().unwrap_or_default();
        let tests_count = test_enabled(object) && !test_ignore_failures(object);
        let ready_from = if tests_count && ferry_api_meta::conditions::is_true(&conditions, reasons::TEST_SUCCESS) {
            reasons::TEST_SUCCESS
        } else {
            reasons::RELEASED
        };
        let condition = ferry_api_meta::conditions::get(&conditions, ready_from).cloned();
        let (reason, message) = condition.map(|c| (c.reason, c.message)).unwrap_or_else(|| {
            (reasons::RECONCILIATION_SUCCEEDED.to_string(), "Release reconciliation succeeded".to_string())
        });
        let mut outcome = Outcome::ready(message).with_ready_reason(reason).quiet();
        if let Some(current) = current {
            outcome = outcome.with_revision(current.chart_version);
        }
        outcome
    }

    /// Deletion: the release uninstalled (unless suspended, as Flux leaves
    /// a suspended object's release alone), then the HelmChart it owns.
    pub async fn finalize(&self, ctx: &Context, object: &HelmRelease) -> Result<()> {
        let status = object.status.clone().unwrap_or_default();
        if !object.spec.suspend.unwrap_or(false) {
            let client = self.target_client(ctx, object)?;
            let storage = status.storage_namespace.clone().unwrap_or_else(|| super::storage_namespace(object));
            let (name, namespace) = match status.history.as_ref().and_then(|h| h.first()) {
                Some(current) => (current.name.clone(), current.namespace.clone()),
                None => (super::release_name(object), super::release_namespace(object)),
            };
            let target = self.target(client, object, &name, &namespace, &storage).await?;
            let options = self.uninstall_options(object);
            if let Err(error) = target.uninstall(&options).await {
                let message =
                    format!("Helm uninstall failed for release {namespace}/{name}: {}", error.to_string().trim());
                return Err(Error::ActionFailed {
                    reason: reasons::UNINSTALL_FAILED,
                    message,
                    source: Box::new(error),
                    retry: None,
                });
            }
            if let Some(chart) = status.helm_chart.as_deref() {
                super::chart::delete_helm_chart(ctx.client(), chart).await.map_err(Error::HelmChart)?;
            }
        }
        Ok(())
    }
}

/// A remediation that found nothing it may roll back to: upgrade instead.
struct UpgradeInstead;

/// Flux's `replaceCondition`: after a remediation, a release in sync again
/// is Released (UpgradeSucceeded), no longer Remediated.
fn replace_remediated(request: &Request<'_>, status: &mut HelmReleaseStatus) {
    status.remove(&[reasons::REMEDIATED]);
    if let Some(current) = status.history.as_ref().and_then(|h| h.first()).cloned() {
        let message = format!(
            "Helm upgrade succeeded for release {} with chart {}",
            full_name(&current),
            versioned_chart(&current)
        );
        status.mark_true(reasons::RELEASED, reasons::UPGRADE_SUCCEEDED, &message, request.generation);
    }
}

/// The message of condition `type_`, if it is False.
fn status_message(status: &HelmReleaseStatus, type_: &str) -> Option<String> {
    ferry_api_meta::conditions::get(status.conditions.as_deref().unwrap_or_default(), type_)
        .filter(|c| c.is_false())
        .map(|c| c.message.clone())
}

/// `createNamespace`: the release namespace, applied if missing.
async fn create_namespace(client: &Client, namespace: &str, field_manager: &str) -> Result<(), super::action::Error> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(namespace).await.ok().flatten().is_some() {
        return Ok(());
    }
    let object = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    api.patch(namespace, &PatchParams::apply(field_manager), &Patch::Apply(&object))
        .await
        .map(|_| ())
        .map_err(|source| super::action::Error::Namespace { namespace: namespace.to_string(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(version: i64, status: &str) -> ReleaseSnapshot {
        ReleaseSnapshot {
            api_version: None,
            digest: String::new(),
            name: "a".into(),
            namespace: "n".into(),
            version,
            status: status.into(),
            chart_name: "c".into(),
            chart_version: "1".into(),
            app_version: None,
            config_digest: String::new(),
            first_deployed: ferry_api_meta::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            last_deployed: ferry_api_meta::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            deleted: None,
            test_hooks: None,
            oci_digest: None,
            action: None,
        }
    }

    #[test]
    fn history_is_truncated_and_previous_found_as_flux() {
        let mut history = vec![snap(4, "failed"), snap(3, "failed"), snap(2, "superseded"), snap(1, "superseded")];
        assert_eq!(previous(&history, false).map(|s| s.version), Some(2));
        truncate(&mut history, false);
        assert_eq!(history.iter().map(|s| s.version).collect::<Vec<_>>(), vec![4, 3, 2]);
    }

    #[test]
    fn remediation_defaults_are_fluxs() {
        let object = HelmRelease::new("a", Default::default());
        let mut status = HelmReleaseStatus::default();
        let install = install_remediation(&object);
        assert!(install.uninstall && !install.remediate_last_failure && !install.exhausted(&status));
        install.increment(&mut status);
        assert!(install.exhausted(&status));
        let upgrade = upgrade_remediation(&object);
        assert!(!upgrade.uninstall && !upgrade.remediate_last_failure);
    }
}
