//! Support for the twin tests: each Ferry controller must replace its Flux
//! twin alone, on the objects users already have.
//!
//! A [`Twins`] environment is one test namespace on the local control plane,
//! a real git server, and Ferry's source-controller in-process serving a
//! GitRepository from it. On top of it a test runs Flux's real
//! kustomize-controller as a child process ([`FluxKustomizeController`],
//! scoped to the namespace, killed when dropped) and/or Ferry's
//! kustomize-controller in-process ([`FerryKustomizeController`]), one at a
//! time, and checks what a user would see.
//!
//! Flux's binary comes from `$FERRY_FLUX_KUSTOMIZE_CONTROLLER`, which
//! `cargo xtask test` sets after building `hack/flux-kustomize-controller`;
//! without it the tests fail and say how to set it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ferry_api_kustomize::Kustomization;
use ferry_api_source::GitRepository;
use ferry_sdk::reconcile::{Runtime, Settings};
use ferry_storage::{DigestAlgorithm, Storage};
use ferry_testenv::TestNamespace;
use ferry_testenv::git::{GitRepo, GitServer, GitServerOptions};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The environment variable that names Flux's kustomize-controller binary.
pub const FLUX_KUSTOMIZE_CONTROLLER_ENV: &str = "FERRY_FLUX_KUSTOMIZE_CONTROLLER";
/// The field manager of the tests' own writes.
pub const FIELD_MANAGER: &str = "ferry-twins-tests";
/// How long one wait may take.
pub const WAIT: Duration = Duration::from_secs(90);
/// The field manager both kustomize-controllers apply objects with.
pub const APPLY_MANAGER: &str = "kustomize-controller";
/// The field manager Flux's kustomize-controller writes Kustomization status and finalizers with.
pub const STATUS_MANAGER: &str = "gotk-kustomize-controller";

/// The path of Flux's kustomize-controller from `$FERRY_FLUX_KUSTOMIZE_CONTROLLER`.
///
/// # Panics
/// When the variable is unset or names no file: the twin tests must never pass without Flux.
pub fn flux_kustomize_controller_binary() -> PathBuf {
    let path = std::env::var_os(FLUX_KUSTOMIZE_CONTROLLER_ENV).unwrap_or_else(|| {
        panic!(
            "{FLUX_KUSTOMIZE_CONTROLLER_ENV} is not set: run `cargo xtask test`, which builds Flux's \
             kustomize-controller from hack/flux-kustomize-controller, or \
             `export {FLUX_KUSTOMIZE_CONTROLLER_ENV}=$(cargo xtask tools flux-kustomize-controller)`"
        )
    });
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "{FLUX_KUSTOMIZE_CONTROLLER_ENV}={} is no file: `cargo xtask tools flux-kustomize-controller` prints the \
         right path",
        path.display()
    );
    path
}

/// One namespace, a git server with one repository `app`, and Ferry's
/// source-controller in-process serving the GitRepository `app` from it.
pub struct Twins {
    // Declared before `ns`: it is dropped first.
    finalizers: FinalizerGuard,
    ns: TestNamespace,
    repo: GitRepo,
    url: String,
    source: Option<InProcess>,
    _server: GitServer,
    _storage: tempfile::TempDir,
}

impl Twins {
    /// Creates the namespace, installs the CRDs and starts the git server and
    /// Ferry's source-controller (watching this namespace only).
    pub async fn start(prefix: &str) -> Result<Self> {
        let ns = TestNamespace::new(prefix).await?;
        ferry_testenv::install_crds(ns.client(), &ferry_testenv::SOURCE_AND_KUSTOMIZE_CRDS).await?;
        let server = GitServer::start(GitServerOptions::default()).await?;
        let repo = server.create_repo("app")?;
        let url = server.url("app");

        let storage_dir = tempfile::tempdir()?;
        let port = ferry_testenv::process::free_port()?;
        let storage = Storage::new(
            storage_dir.path(),
            format!("127.0.0.1:{port}"),
            Duration::from_secs(60),
            2,
            DigestAlgorithm::Sha256,
        )?;
        let runtime = Runtime::new(ns.client(), settings(ns.name(), ferry_source_controller::CONTROLLER_NAME))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ferry_source_controller::run(
            runtime,
            storage,
            Some(([127, 0, 0, 1], port).into()),
            async move {
                let _ = stopped.await;
            },
        ));
        let source = InProcess { stop: Some(stop), task: Some(task) };
        let finalizers = FinalizerGuard { namespace: Some(ns.name().to_string()) };
        Ok(Self { finalizers, ns, repo, url, source: Some(source), _server: server, _storage: storage_dir })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        self.ns.name()
    }

    /// The admin client.
    pub fn client(&self) -> kube::Client {
        self.ns.client()
    }

    /// An API for namespaced objects of kind `K` in the namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        self.ns.api()
    }

    /// Writes `files` (with `NAMESPACE` replaced by the namespace's name),
    /// removes `removed` and commits; returns the commit's hash.
    pub fn commit(&self, files: &[(&str, &str)], removed: &[&str], message: &str) -> Result<String> {
        for (path, text) in files {
            self.repo.write(path, text.replace("NAMESPACE", self.name()))?;
        }
        for path in removed {
            self.repo.remove(path)?;
        }
        self.repo.commit(message)
    }

    /// Applies the GitRepository `app` (branch main, polled every 2 s) and
    /// waits until Ferry's source-controller has an artifact of `commit`.
    pub async fn git_repository(&self, commit: &str) -> Result<GitRepository> {
        let object = serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": { "name": "app" },
            "spec": { "url": self.url, "interval": "2s", "ref": { "branch": "main" } },
        });
        let api = self.api::<GitRepository>();
        api.patch("app", &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&object)).await?;
        let suffix = format!("@sha1:{commit}");
        ferry_testenv::wait_for(&api, "app", WAIT, |repo: &GitRepository| {
            ferry_testenv::condition_status(repo, "Ready").as_deref() == Some("True")
                && repo
                    .status
                    .as_ref()
                    .and_then(|s| s.artifact.as_ref())
                    .is_some_and(|artifact| artifact.revision.ends_with(&suffix))
        })
        .await
    }

    /// Applies the Kustomization `name` from the GitRepository `app`: path
    /// `path`, pruning, into this namespace.
    pub async fn kustomization(&self, name: &str, path: &str) -> Result<()> {
        let object = serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": { "name": name },
            "spec": {
                "interval": "10m",
                "retryInterval": "2s",
                "path": path,
                "prune": true,
                "targetNamespace": self.name(),
                "sourceRef": { "kind": "GitRepository", "name": "app" },
            },
        });
        self.api::<Kustomization>()
            .patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&object))
            .await?;
        Ok(())
    }

    /// Asks for a reconcile now (`reconcile.fluxcd.io/requestedAt`); returns the token.
    pub async fn request_reconcile(&self, name: &str) -> Result<String> {
        let token = format!("twin-{:08x}", rand_token());
        let patch = serde_json::json!({ "metadata": { "annotations": { "reconcile.fluxcd.io/requestedAt": token } } });
        self.api::<Kustomization>()
            .patch(
                name,
                &PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..PatchParams::default() },
                &Patch::Merge(&patch),
            )
            .await?;
        Ok(token)
    }

    /// Waits until the Kustomization `name` is Ready=True having applied
    /// `commit`, and, with `token`, has handled that reconcile request.
    /// `alive` runs between polls (it fails when a controller died).
    pub async fn wait_applied(
        &self,
        name: &str,
        commit: &str,
        token: Option<&str>,
        alive: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Kustomization> {
        let suffix = format!("@sha1:{commit}");
        let api = self.api::<Kustomization>();
        let deadline = Instant::now() + WAIT;
        loop {
            alive()?;
            let last = api.get_opt(name).await?;
            if let Some(kustomization) = &last {
                let status = kustomization.status.as_ref();
                let applied = status
                    .and_then(|s| s.last_applied_revision.as_deref())
                    .is_some_and(|revision| revision.ends_with(&suffix));
                let handled = token
                    .is_none_or(|token| status.and_then(|s| s.last_handled_reconcile_at.as_deref()) == Some(token));
                let ready = ready(kustomization).is_some_and(|c| c.status == ferry_api_meta::ConditionStatus::True);
                let current = status.and_then(|s| s.observed_generation) == kustomization.metadata.generation;
                if applied && handled && ready && current {
                    return Ok(kustomization.clone());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "Kustomization {}/{name} did not apply {commit} within {WAIT:?}{}; last seen: {:#?}",
                    self.name(),
                    token.map(|t| format!(" (reconcile request {t})")).unwrap_or_default(),
                    last.and_then(|k| k.status)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Starts Ferry's kustomize-controller in-process, watching this namespace only.
    pub async fn start_ferry_kustomize(&self) -> Result<FerryKustomizeController> {
        let runtime = Runtime::new(self.client(), settings(self.name(), ferry_kustomize_controller::CONTROLLER_NAME))?;
        let factory = ferry_sdk::client::ClientFactory::new(ferry_testenv::config().await?, 50.0, 300);
        let options = ferry_kustomize_controller::Options {
            requeue_dependency: Duration::from_secs(2),
            ..ferry_kustomize_controller::Options::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ferry_kustomize_controller::run(runtime, factory, options, async move {
            let _ = stopped.await;
        }));
        Ok(FerryKustomizeController(InProcess { stop: Some(stop), task: Some(task) }))
    }

    /// Starts Flux's kustomize-controller as a child process, watching this namespace only.
    pub async fn start_flux_kustomize(&self) -> Result<FluxKustomizeController> {
        FluxKustomizeController::start(&flux_kustomize_controller_binary(), self.name()).await
    }

    /// Stops the source-controller and deletes the namespace (the
    /// Kustomizations' finalizers must be gone: delete them first while a
    /// kustomize-controller runs).
    pub async fn stop(mut self) -> Result<()> {
        if let Some(source) = self.source.take() {
            // The GitRepository's finalizer needs source-controller.
            let api = self.api::<GitRepository>();
            if api.get_opt("app").await?.is_some() {
                api.delete("app", &Default::default()).await?;
                let deadline = Instant::now() + WAIT;
                while api.get_opt("app").await?.is_some() {
                    if Instant::now() > deadline {
                        bail!("GitRepository app was not deleted within {WAIT:?}");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            source.stop().await?;
        }
        self.finalizers.namespace = None;
        let Twins { ns, .. } = self;
        ns.delete(WAIT).await
    }
}

/// When a test fails half-way, no controller may be left to remove the
/// finalizers of its Kustomizations and GitRepository, and the namespace
/// would hang in Terminating: this removes them when dropped, unless disarmed.
struct FinalizerGuard {
    namespace: Option<String>,
}

impl Drop for FinalizerGuard {
    fn drop(&mut self) {
        let Some(namespace) = self.namespace.take() else { return };
        // Drop cannot await, and the test's runtime may be the one unwinding:
        // a thread of its own with its own client and runtime.
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let client = ferry_testenv::client().await.ok()?;
                let patch = Patch::Merge(serde_json::json!({ "metadata": { "finalizers": null } }));
                // Deleted first: a controller still running re-adds the finalizer of a live object.
                let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
                let _ = kustomizations.delete_collection(&Default::default(), &Default::default()).await;
                for object in kustomizations.list(&Default::default()).await.ok()? {
                    let _ = kustomizations.patch(&object.name_any(), &PatchParams::default(), &patch).await;
                }
                let repositories: Api<GitRepository> = Api::namespaced(client, &namespace);
                let _ = repositories.delete_collection(&Default::default(), &Default::default()).await;
                for object in repositories.list(&Default::default()).await.ok()? {
                    let _ = repositories.patch(&object.name_any(), &PatchParams::default(), &patch).await;
                }
                Some(())
            })
        });
        let _ = cleaned.join();
    }
}

/// The Settings of an in-process controller in a test: one namespace, quick retries.
fn settings(namespace: &str, name: &str) -> Settings {
    Settings {
        namespace: Some(namespace.to_string()),
        min_retry_delay: Duration::from_millis(200),
        max_retry_delay: Duration::from_secs(2),
        ..Settings::new(name)
    }
}

/// A controller running as a task of the test's runtime.
struct InProcess {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<()>>>,
}

impl InProcess {
    async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .context("the controller did not stop within 30s")?
                .context("the controller's task panicked")??;
        }
        Ok(())
    }

    fn check_alive(&mut self) -> Result<()> {
        if self.task.as_ref().is_some_and(JoinHandle::is_finished) {
            bail!("the in-process controller stopped on its own");
        }
        Ok(())
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Ferry's kustomize-controller, in-process.
pub struct FerryKustomizeController(InProcess);

impl FerryKustomizeController {
    /// Fails when the controller stopped on its own.
    pub fn check_alive(&mut self) -> Result<()> {
        self.0.check_alive()
    }

    /// Stops it and waits until its reconciles finished.
    pub async fn stop(self) -> Result<()> {
        self.0.stop().await
    }
}

/// Flux's kustomize-controller as a child process, stopped (SIGTERM, then
/// SIGKILL) when dropped, so that a failing test leaves no process behind.
pub struct FluxKustomizeController {
    child: Child,
    log: PathBuf,
    health: SocketAddr,
    _dir: tempfile::TempDir,
}

impl FluxKustomizeController {
    /// Starts `binary` for `namespace` only (`--watch-all-namespaces=false`
    /// with `RUNTIME_NAMESPACE`), on free loopback ports, leader election
    /// off, and waits until it is ready.
    pub async fn start(binary: &Path, namespace: &str) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("ferry-twins-flux-").tempdir()?;
        let log = dir.path().join("kustomize-controller.log");
        let file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let [metrics, health] = [ferry_testenv::process::free_port()?, ferry_testenv::process::free_port()?];
        let health = SocketAddr::from(([127, 0, 0, 1], health));
        let child = Command::new(binary)
            .args([
                "--watch-all-namespaces=false".to_string(),
                format!("--metrics-addr=127.0.0.1:{metrics}"),
                format!("--health-addr={health}"),
                "--enable-leader-election=false".to_string(),
                "--min-retry-delay=200ms".to_string(),
                "--max-retry-delay=2s".to_string(),
                "--requeue-dependency=2s".to_string(),
                "--log-level=info".to_string(),
                "--log-encoding=console".to_string(),
            ])
            .env("KUBECONFIG", ferry_testenv::kubeconfig_path()?)
            .env("RUNTIME_NAMESPACE", namespace)
            .env("TMPDIR", dir.path())
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut controller = Self { child, log, health, _dir: dir };
        let deadline = Instant::now() + WAIT;
        loop {
            controller.check_alive()?;
            if ferry_testenv::process::http_ok(controller.health, "/readyz") {
                return Ok(controller);
            }
            if Instant::now() > deadline {
                bail!("Flux's kustomize-controller was not ready within {WAIT:?}:\n{}", controller.log_tail(30));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Fails when the process has exited, with the tail of its log.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("Flux's kustomize-controller exited ({status}):\n{}", self.log_tail(30));
        }
        Ok(())
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Its whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it the way Kubernetes stops a pod: SIGTERM, then SIGKILL after 15 s.
    pub fn stop(&mut self) {
        ferry_testenv::process::terminate(&mut self.child, Duration::from_secs(15));
    }
}

impl Drop for FluxKustomizeController {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Ready condition of a Kustomization.
pub fn ready(kustomization: &Kustomization) -> Option<ferry_api_meta::Condition> {
    kustomization.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready").cloned()
}

/// The inventory entries (`id/v`), sorted.
pub fn inventory(kustomization: &Kustomization) -> Vec<String> {
    let mut ids: Vec<String> = kustomization
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .map(|i| i.entries.iter().map(|e| format!("{}/{}", e.id, e.v)).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The managedFields entries of an object as `(manager, operation, subresource)`, sorted.
pub fn managers(meta: &kube::api::ObjectMeta) -> Vec<(String, String, String)> {
    let mut entries: Vec<(String, String, String)> = meta
        .managed_fields
        .iter()
        .flatten()
        .map(|entry| {
            (
                entry.manager.clone().unwrap_or_default(),
                entry.operation.clone().unwrap_or_default(),
                entry.subresource.clone().unwrap_or_default(),
            )
        })
        .collect();
    entries.sort();
    entries
}

fn rand_token() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    nanos ^ std::process::id().rotate_left(16)
}
