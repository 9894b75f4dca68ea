//! Helm's actions on Ferry's pieces: install, upgrade, rollback, uninstall
//! and test, each writing the release records Helm writes (pending, then
//! deployed or failed, the previous one superseded) so that the `helm` CLI
//! sees the same history it would have made.
//!
//! Objects are applied with server-side apply in Helm's install order
//! (ferry-ssa's stages: CRDs and Namespaces first), waited for by kstatus
//! (as Flux waits, not Helm's legacy wait), and objects that left the
//! manifest are deleted.

use std::time::{Duration, Instant};

use ferry_helm::Map;
use ferry_helm::chart::Chart;
use ferry_kstatus::{HealthChecker, Status};
use ferry_ssa::{ApplyOptions, DeleteOptions, ObjectRef, ResourceManager};
use kube::api::DynamicObject;

use super::hooks::{self, Runner};
use super::record::{self, Release, now, status};
use super::render::{self, RenderOptions, Rendered};
use super::storage::{self, Storage};

/// How often objects are polled while waiting.
const POLL: Duration = Duration::from_secs(1);

/// Why an action failed, in words close to Helm's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The chart could not be rendered.
    #[error(transparent)]
    Render(#[from] render::Error),
    /// Release storage failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
    /// Applying the objects failed.
    #[error(transparent)]
    Apply(ferry_ssa::Error),
    /// Deleting objects failed.
    #[error(transparent)]
    Delete(ferry_ssa::Error),
    /// A hook failed.
    #[error(transparent)]
    Hook(Box<hooks::Error>),
    /// The objects did not become ready in time.
    #[error("{0}")]
    Wait(String),
    /// The target namespace could not be created.
    #[error("failed to create namespace {namespace}: {source}")]
    Namespace {
        /// The namespace.
        namespace: String,
        /// The refusal.
        #[source]
        source: kube::Error,
    },
    /// The release name is taken by a live release.
    #[error("cannot re-use a name that is still in use")]
    NameInUse,
    /// There is no release to act on.
    #[error("no release '{0}' in storage")]
    NoRelease(String),
}

/// What the actions work with: the manager applying as the controller (or
/// the impersonated account), the release storage, the release's identity.
pub struct Target {
    /// Applies, deletes, reads objects.
    pub manager: ResourceManager,
    /// Helm's storage in the storage namespace.
    pub storage: Storage,
    /// The release name.
    pub name: String,
    /// The release namespace.
    pub namespace: String,
    /// The apply options (owner labels, force, timeout).
    pub apply: ApplyOptions,
    /// Checks readiness (kstatus with the object's `healthCheckExprs`).
    pub checker: HealthChecker,
    /// The cluster version, for `.Capabilities.KubeVersion`.
    pub kube_version: Option<String>,
    /// At most this many revisions are kept (0: all).
    pub max_history: usize,
}

/// How an install or upgrade runs.
#[derive(Debug, Clone, Default)]
pub struct ReleaseOptions {
    /// The action's timeout.
    pub timeout: Duration,
    /// Do not wait for readiness.
    pub disable_wait: bool,
    /// Do not run hooks.
    pub disable_hooks: bool,
    /// Skip values.schema.json.
    pub disable_schema_validation: bool,
    /// Apply the chart's CRDs (`crds` policy Create or CreateReplace).
    pub apply_crds: bool,
    /// Delete objects the failed upgrade created (`cleanupOnFail`).
    pub cleanup_on_fail: bool,
}

impl Target {
    fn runner(&self) -> Runner<'_> {
        Runner { manager: &self.manager, apply: &self.apply, name: &self.name, namespace: &self.namespace }
    }

    fn render(
        &self,
        chart: &Chart,
        values: &Map,
        revision: i64,
        is_upgrade: bool,
        opts: &ReleaseOptions,
    ) -> Result<Rendered, Error> {
        Ok(render::render(
            chart,
            values,
            &RenderOptions {
                name: &self.name,
                namespace: &self.namespace,
                revision,
                is_upgrade,
                kube_version: self.kube_version.clone(),
                skip_schema_validation: opts.disable_schema_validation,
            },
        )?)
    }

    fn new_release(&self, chart: &Chart, values: &Map, rendered: &Rendered, version: i64) -> Release {
        let config = match ferry_helm::Value::Map(values.clone()).to_json() {
            serde_json::Value::Object(map) => map,
            _ => Default::default(),
        };
        let time = now();
        Release {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            version,
            chart: Some(record::chart_json(chart)),
            config,
            manifest: rendered.manifest.clone(),
            hooks: rendered.hooks.clone(),
            info: Some(record::Info {
                first_deployed: Some(time.clone()),
                last_deployed: Some(time),
                notes: rendered.notes.clone(),
                ..Default::default()
            }),
            ..Release::default()
        }
    }

    /// `helm install`: a new release at revision 1 (or after an uninstalled
    /// one with history kept). Returns the release as stored last, and the
    /// failure if any.
    pub async fn install(
        &self,
        chart: &Chart,
        values: &Map,
        opts: &ReleaseOptions,
    ) -> (Option<Release>, Result<(), Error>) {
        let history = match self.storage.history(&self.name).await {
            Ok(history) => history,
            Err(error) => return (None, Err(error.into())),
        };
        if history.iter().any(|r| r.status() != status::UNINSTALLED && r.status() != status::FAILED) {
            return (None, Err(Error::NameInUse));
        }
        let version = history.last().map(|r| r.version + 1).unwrap_or(1);
        let rendered = match self.render(chart, values, version, false, opts) {
            Ok(rendered) => rendered,
            Err(error) => return (None, Err(error)),
        };
        let mut release = self.new_release(chart, values, &rendered, version);
        release.set_status(status::PENDING_INSTALL, "Initial install underway");
        if let Err(error) = self.storage.create(&release).await {
            return (None, Err(error.into()));
        }
        let result = self.deploy(&mut release, &rendered, "install", opts, None).await;
        match &result {
            Ok(()) => release.set_status(status::DEPLOYED, "Install complete"),
            Err(error) => release.set_status(status::FAILED, format!("Release {:?} failed: {error}", self.name)),
        }
        if let Err(error) = self.storage.update(&release).await {
            return (Some(release), Err(error.into()));
        }
        let _ = self.storage.prune_history(&self.name, self.max_history).await;
        (Some(release), result)
    }

    /// `helm upgrade`: a new revision from the last one; the last deployed
    /// one is superseded when the upgrade succeeds. Returns the new release
    /// and the failure if any.
    pub async fn upgrade(
        &self,
        chart: &Chart,
        values: &Map,
        opts: &ReleaseOptions,
    ) -> (Option<Release>, Result<(), Error>) {
        let history = match self.storage.history(&self.name).await {
            Ok(history) => history,
            Err(error) => return (None, Err(error.into())),
        };
        let Some(last) = history.last() else { return (None, Err(Error::NoRelease(self.name.clone()))) };
        let current = history.iter().rev().find(|r| r.status() == status::DEPLOYED).cloned();
        let version = last.version + 1;
        let rendered = match self.render(chart, values, version, true, opts) {
            Ok(rendered) => rendered,
            Err(error) => return (None, Err(error)),
        };
        let mut release = self.new_release(chart, values, &rendered, version);
        if let Some(first) = history.first().and_then(|r| r.info.as_ref()).and_then(|i| i.first_deployed.clone())
            && let Some(info) = release.info.as_mut()
        {
            info.first_deployed = Some(first);
        }
        release.set_status(status::PENDING_UPGRADE, "Preparing upgrade");
        if let Err(error) = self.storage.create(&release).await {
            return (None, Err(error.into()));
        }
        let previous = current.as_ref().or(Some(last)).map(|r| r.manifest.clone());
        let result = self.deploy(&mut release, &rendered, "upgrade", opts, previous.as_deref()).await;
        match &result {
            Ok(()) => {
                for mut old in history.into_iter().filter(|r| r.status() == status::DEPLOYED) {
                    // As Helm: the status changes, the description stays.
                    old.info.get_or_insert_with(Default::default).status = status::SUPERSEDED.to_string();
                    if let Err(error) = self.storage.update(&old).await {
                        return (Some(release), Err(error.into()));
                    }
                }
                release.set_status(status::DEPLOYED, "Upgrade complete");
            }
            Err(error) => release.set_status(status::FAILED, format!("Upgrade {:?} failed: {error}", self.name)),
        }
        if let Err(error) = self.storage.update(&release).await {
            return (Some(release), Err(error.into()));
        }
        let _ = self.storage.prune_history(&self.name, self.max_history).await;
        (Some(release), result)
    }

    /// `helm rollback` to revision `to`: a new revision with its chart,
    /// values and manifest, the current one superseded.
    pub async fn rollback(&self, to: i64, opts: &ReleaseOptions) -> (Option<Release>, Result<(), Error>) {
        let history = match self.storage.history(&self.name).await {
            Ok(history) => history,
            Err(error) => return (None, Err(error.into())),
        };
        let (Some(target), Some(last)) = (history.iter().find(|r| r.version == to), history.last()) else {
            return (None, Err(Error::NoRelease(format!("{}.v{to}", self.name))));
        };
        let mut release = target.clone();
        release.version = last.version + 1;
        release.other.clear();
        for hook in &mut release.hooks {
            hook.last_run = Default::default();
        }
        let time = now();
        if let Some(info) = release.info.as_mut() {
            info.last_deployed = Some(time);
            info.deleted = None;
            info.other.clear();
        }
        let description = format!("Rollback to {to}");
        release.set_status(status::PENDING_ROLLBACK, description.clone());
        if let Err(error) = self.storage.create(&release).await {
            return (None, Err(error.into()));
        }
        let rendered =
            Rendered { manifest: release.manifest.clone(), hooks: Vec::new(), notes: String::new(), crds: Vec::new() };
        let opts = ReleaseOptions { apply_crds: false, ..opts.clone() };
        let current = history.iter().rev().find(|r| r.status() == status::DEPLOYED).unwrap_or(last).manifest.clone();
        let result = self.deploy(&mut release, &rendered, "rollback", &opts, Some(&current)).await;
        match &result {
            Ok(()) => {
                for mut old in history.into_iter().filter(|r| r.status() == status::DEPLOYED) {
                    // As Helm: the status changes, the description stays.
                    old.info.get_or_insert_with(Default::default).status = status::SUPERSEDED.to_string();
                    if let Err(error) = self.storage.update(&old).await {
                        return (Some(release), Err(error.into()));
                    }
                }
                release.set_status(status::DEPLOYED, description);
            }
            Err(error) => release.set_status(status::FAILED, format!("Rollback {:?} failed: {error}", self.name)),
        }
        if let Err(error) = self.storage.update(&release).await {
            return (Some(release), Err(error.into()));
        }
        let _ = self.storage.prune_history(&self.name, self.max_history).await;
        (Some(release), result)
    }

    /// Hooks before, CRDs, objects, deletion of what left the manifest,
    /// waiting, hooks after: the body of install, upgrade and rollback.
    async fn deploy(
        &self,
        release: &mut Release,
        rendered: &Rendered,
        action: &str,
        opts: &ReleaseOptions,
        previous_manifest: Option<&str>,
    ) -> Result<(), Error> {
        let started = Instant::now();
        let objects = render::release_objects(&rendered.manifest, &self.name, &self.namespace)?;
        if !opts.disable_hooks {
            self.runner().run(release, &format!("pre-{action}"), opts.timeout, |_| true).await.map_err(hook_error)?;
        }
        if opts.apply_crds && !rendered.crds.is_empty() {
            let crds = rendered
                .crds
                .iter()
                .map(|crd| serde_json::from_value::<DynamicObject>(crd.clone()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| render::Error::NotAnObject { path: "crds".into(), message: e.to_string() })?;
            self.manager.apply_all_staged(crds, &self.apply).await.map_err(Error::Apply)?;
        }
        let new_refs = render::refs(&objects);
        let apply = ApplyOptions { wait_timeout: opts.timeout, ..self.apply.clone() };
        let changes = self.manager.apply_all_staged(objects, &apply).await;
        if let Err(error) = changes {
            if opts.cleanup_on_fail {
                let old =
                    previous_manifest.map(|m| render::release_objects(m, &self.name, &self.namespace)).transpose()?;
                let old_refs = old.as_deref().map(render::refs).unwrap_or_default();
                let created: Vec<ObjectRef> =
                    new_refs.iter().filter(|n| !old_refs.iter().any(|o| render::same(n, o))).cloned().collect();
                let _ =
                    self.manager.delete_all(&created, &delete_options(kube::api::PropagationPolicy::Background)).await;
            }
            return Err(Error::Apply(error));
        }
        if let Some(previous) = previous_manifest {
            let old = render::release_objects(previous, &self.name, &self.namespace)?;
            let stale: Vec<ObjectRef> = old
                .iter()
                .filter(|o| !render::is_kept(o))
                .filter_map(|o| ObjectRef::from_object(o).ok())
                .filter(|o| !new_refs.iter().any(|n| render::same(n, o)))
                .collect();
            if !stale.is_empty() {
                self.manager
                    .delete_all(&stale, &delete_options(kube::api::PropagationPolicy::Background))
                    .await
                    .map_err(Error::Delete)?;
            }
        }
        if !opts.disable_wait {
            let remaining = opts.timeout.saturating_sub(started.elapsed());
            self.wait(&new_refs, remaining).await?;
        }
        if !opts.disable_hooks {
            let remaining = opts.timeout.saturating_sub(started.elapsed());
            self.runner().run(release, &format!("post-{action}"), remaining, |_| true).await.map_err(hook_error)?;
        }
        Ok(())
    }

    /// Waits until every object is Current by kstatus, as Flux's poller
    /// waits; after `timeout` fails naming the objects still not ready.
    pub async fn wait(&self, objects: &[ObjectRef], timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut pending = Vec::new();
            for object in objects {
                let (status, message) = match self.manager.get(object).await {
                    Ok(Some(live)) => match serde_json::to_value(&live) {
                        Ok(value) => {
                            let health = self.checker.compute(&value);
                            (health.status, health.message)
                        }
                        Err(e) => (Status::Unknown, e.to_string()),
                    },
                    Ok(None) => (Status::NotFound, "not found".to_string()),
                    Err(e) => (Status::Unknown, e.to_string()),
                };
                if status != Status::Current {
                    pending.push(format!("{} status: '{status}': {message}", object.subject()));
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Wait(format!("timeout waiting for: [{}]", pending.join(", "))));
            }
            tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// `helm uninstall`: pre-delete hooks, the objects deleted (those marked
    /// `helm.sh/resource-policy: keep` kept), post-delete hooks, then the
    /// history removed, or kept with the last revision `uninstalled`.
    pub async fn uninstall(&self, opts: &UninstallOptions) -> Result<Option<Release>, Error> {
        let history = self.storage.history(&self.name).await?;
        let Some(mut release) = history.last().cloned() else { return Ok(None) };
        if release.status() == status::UNINSTALLED {
            if !opts.keep_history {
                for old in &history {
                    self.storage.delete(&self.name, old.version).await?;
                }
            }
            return Ok(Some(release));
        }
        release.set_status(status::UNINSTALLING, "Deletion in progress (or silently failed)");
        self.storage.update(&release).await?;
        if !opts.disable_hooks {
            self.runner().run(&mut release, "pre-delete", opts.timeout, |_| true).await.map_err(hook_error)?;
        }
        let objects = render::release_objects(&release.manifest, &self.name, &self.namespace)?;
        let refs: Vec<ObjectRef> =
            objects.iter().filter(|o| !render::is_kept(o)).filter_map(|o| ObjectRef::from_object(o).ok()).collect();
        self.manager.delete_all(&refs, &delete_options(opts.propagation.clone())).await.map_err(Error::Delete)?;
        if !opts.disable_wait {
            self.manager.wait_for_termination(&refs, opts.timeout).await.map_err(Error::Delete)?;
        }
        if !opts.disable_hooks {
            self.runner().run(&mut release, "post-delete", opts.timeout, |_| true).await.map_err(hook_error)?;
        }
        release.set_status(status::UNINSTALLED, "Uninstallation complete");
        if let Some(info) = release.info.as_mut() {
            info.deleted = Some(now());
        }
        if opts.keep_history {
            self.storage.update(&release).await?;
        } else {
            for old in &history {
                self.storage.delete(&self.name, old.version).await?;
            }
        }
        Ok(Some(release))
    }

    /// `helm test`: the selected test hooks of the last release run, their
    /// runs recorded in it.
    pub async fn test(
        &self,
        timeout: Duration,
        select: impl Fn(&record::Hook) -> bool,
    ) -> (Option<Release>, Result<(), Error>) {
        let mut release = match self.storage.last(&self.name).await {
            Ok(Some(release)) => release,
            Ok(None) => return (None, Err(Error::NoRelease(self.name.clone()))),
            Err(error) => return (None, Err(error.into())),
        };
        let result = self.runner().run(&mut release, "test", timeout, select).await.map_err(hook_error);
        if let Err(error) = self.storage.update(&release).await {
            return (Some(release), Err(error.into()));
        }
        (Some(release), result)
    }
}

/// How an uninstall runs.
#[derive(Debug, Clone)]
pub struct UninstallOptions {
    /// The timeout.
    pub timeout: Duration,
    /// Keep the history with the release marked uninstalled.
    pub keep_history: bool,
    /// Do not run hooks.
    pub disable_hooks: bool,
    /// Do not wait for the objects to be gone.
    pub disable_wait: bool,
    /// How dependents are deleted.
    pub propagation: kube::api::PropagationPolicy,
}

fn hook_error(error: hooks::Error) -> Error {
    Error::Hook(Box::new(error))
}

/// Deletes without owner checks: the release manifest says what is ours.
fn delete_options(propagation: kube::api::PropagationPolicy) -> DeleteOptions {
    DeleteOptions { owner_labels: Default::default(), exclusions: Default::default(), propagation }
}
