//! The environment both test binaries of kustomize-controller share:
//! source-controller and kustomize-controller in-process for one namespace,
//! a git server with a repository `app`, and a GitRepository `app` on it.

use std::time::Duration;

use ferry_api_kustomize::Kustomization;
use ferry_api_source::GitRepository;
use ferry_kustomize_controller::{CONTROLLER_NAME, Options};
use ferry_sdk::reconcile::{Runtime, Settings};
use ferry_storage::{DigestAlgorithm, Storage};
use ferry_testenv::TestNamespace;
use ferry_testenv::git::{GitRepo, GitServer, GitServerOptions};
use kube::api::{Api, Patch, PatchParams};

/// source-controller and kustomize-controller for one namespace, a git
/// server and a repository.
pub struct Env {
    /// The test's namespace, deleted by [`Env::stop`].
    pub ns: TestNamespace,
    /// The git server; tests may create more repositories on it.
    #[allow(dead_code)]
    pub server: GitServer,
    /// The URL of the repository `app`.
    pub url: String,
    /// The repository `app`.
    pub repo: GitRepo,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _storage: tempfile::TempDir,
}

impl Env {
    /// Starts both controllers with default options.
    #[allow(dead_code)]
    pub async fn start(prefix: &str) -> Self {
        Self::start_with(prefix, Options::default()).await
    }

    /// Starts both controllers; kustomize-controller with `options`
    /// (dependencies looked at again every 2 s).
    pub async fn start_with(prefix: &str, options: Options) -> Self {
        let ns = TestNamespace::new(prefix).await.unwrap();
        ferry_testenv::install_crds(ns.client(), &ferry_testenv::SOURCE_AND_KUSTOMIZE_CRDS).await.unwrap();
        let server = GitServer::start(GitServerOptions::default()).await.unwrap();
        let repo = server.create_repo("app").unwrap();
        let url = server.url("app");
        let settings = |name: &str| Settings {
            namespace: Some(ns.name().to_string()),
            min_retry_delay: Duration::from_millis(200),
            max_retry_delay: Duration::from_secs(2),
            ..Settings::new(name)
        };

        let storage_dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let storage = Storage::new(
            storage_dir.path(),
            format!("127.0.0.1:{port}"),
            Duration::from_secs(60),
            2,
            DigestAlgorithm::Sha256,
        )
        .unwrap();
        let (source_stop, source_stopped) = tokio::sync::oneshot::channel::<()>();
        let source_runtime = Runtime::new(ns.client(), settings(ferry_source_controller::CONTROLLER_NAME)).unwrap();
        let source = tokio::spawn(ferry_source_controller::run(
            source_runtime,
            storage,
            Some(([127, 0, 0, 1], port).into()),
            async move {
                let _ = source_stopped.await;
            },
        ));

        let config = ferry_testenv::config().await.unwrap();
        let factory = ferry_sdk::client::ClientFactory::new(config, 50.0, 300);
        let (kustomize_stop, kustomize_stopped) = tokio::sync::oneshot::channel::<()>();
        let kustomize_runtime = Runtime::new(ns.client(), settings(CONTROLLER_NAME)).unwrap();
        let options = Options { requeue_dependency: Duration::from_secs(2), ..options };
        let kustomize =
            tokio::spawn(ferry_kustomize_controller::run(kustomize_runtime, factory, options, async move {
                let _ = kustomize_stopped.await;
            }));
        Self {
            ns,
            server,
            url,
            repo,
            stops: vec![source_stop, kustomize_stop],
            tasks: vec![source, kustomize],
            _storage: storage_dir,
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        self.ns.name()
    }

    /// Writes `files` (with `NAMESPACE` replaced by the namespace), removes
    /// `removed`, and commits; returns the commit.
    pub fn commit(&self, files: &[(&str, &str)], removed: &[&str], message: &str) -> String {
        for (path, text) in files {
            self.repo.write(path, text.replace("NAMESPACE", self.name())).unwrap();
        }
        for path in removed {
            self.repo.remove(path).unwrap();
        }
        self.repo.commit(message).unwrap()
    }

    /// Server-side applies `object` into the namespace.
    pub async fn apply<K>(&self, object: serde_json::Value)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + std::fmt::Debug
            + serde::de::DeserializeOwned
            + serde::Serialize,
    {
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        let apply = PatchParams::apply("ferry-tests").force();
        self.ns.api::<K>().patch(&name, &apply, &Patch::Apply(&object)).await.unwrap();
    }

    /// The GitRepository `app`, on branch `main`, every 2 s.
    pub async fn git_repository(&self) {
        self.apply::<GitRepository>(serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "app"},
            "spec": {"url": self.url, "interval": "2s", "ref": {"branch": "main"}},
        }))
        .await;
    }

    /// A Kustomization of `app` with `prune: true`, `spec` merged over it.
    pub async fn kustomization(&self, name: &str, spec: serde_json::Value) {
        let mut full = serde_json::json!({
            "interval": "1m",
            "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "app"},
        });
        for (key, value) in spec.as_object().unwrap() {
            full[key] = value.clone();
        }
        self.apply::<Kustomization>(serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name},
            "spec": full,
        }))
        .await;
    }

    /// The Kustomizations of the namespace.
    pub fn kustomizations(&self) -> Api<Kustomization> {
        self.ns.api()
    }

    /// Stops both controllers (each must stop cleanly) and deletes the namespace.
    pub async fn stop(mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for task in self.tasks.drain(..) {
            tokio::time::timeout(Duration::from_secs(30), task).await.unwrap().unwrap().unwrap();
        }
        let Env { ns, .. } = self;
        ns.delete(Duration::from_secs(60)).await.unwrap();
    }
}
