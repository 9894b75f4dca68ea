//! Support for Ferry's integration tests against the local control plane.
//!
//! `cargo xtask test` starts the control plane and points tests at it through
//! the `FERRY_KUBECONFIG` environment variable. Each test takes a
//! [`TestNamespace`], which is created fresh and deleted when dropped, so tests
//! in one binary and in several binaries run at the same time without seeing
//! each other's objects.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use k8s_openapi::api::apps::v1::Deployment;
//! let ns = ferry_testenv::TestNamespace::new("demo").await?;
//! let deployments = ns.api::<Deployment>();
//! ferry_testenv::wait_for_deployment_available(&deployments, "web", std::time::Duration::from_secs(60)).await?;
//! # Ok(()) }
//! ```

pub mod git;
pub mod helmrepo;
pub mod keys;
pub mod minio;
pub mod process;
pub mod proxy;
pub mod registry;
pub mod sshd;
pub mod stall;
pub mod tls;
pub mod token;

use std::fmt::Debug;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{Condition, await_condition};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The environment variable that names the control plane's kubeconfig.
pub const KUBECONFIG_ENV: &str = "FERRY_KUBECONFIG";

/// The label that marks namespaces created by tests.
pub const TEST_LABEL: &str = "testenv.ferry.dev/test";

/// The kubeconfig of the local control plane: `$FERRY_KUBECONFIG`, else the
/// one `cargo xtask cluster up` wrote into this checkout.
pub fn kubeconfig_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(KUBECONFIG_ENV) {
        return Ok(PathBuf::from(path));
    }
    let checkout = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ferry/cluster/kubeconfig");
    if checkout.is_file() {
        return Ok(checkout);
    }
    bail!(
        "no control plane for integration tests: run them with `cargo xtask test`, \
         or start one with `cargo xtask cluster up` ({KUBECONFIG_ENV} is not set)"
    )
}

/// A client for the local control plane, as its admin.
pub async fn client() -> Result<Client> {
    Ok(Client::try_from(config().await?)?)
}

/// The admin configuration of the local control plane, for controllers that
/// build their own clients (impersonation, rate limits).
pub async fn config() -> Result<kube::Config> {
    let path = kubeconfig_path()?;
    let kubeconfig = Kubeconfig::read_from(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?)
}

/// The CRDs source- and kustomize-controller need (all source kinds and
/// Kustomization), as `cargo xtask codegen` generates them. Every kind the
/// controllers watch must be here: a kind without its CRD never syncs its
/// cache, and the process never reports ready.
pub const SOURCE_AND_KUSTOMIZE_CRDS: [&str; 7] = [
    include_str!("../../../charts/crds/source.toolkit.fluxcd.io_gitrepositories.yaml"),
    include_str!("../../../charts/crds/source.toolkit.fluxcd.io_ocirepositories.yaml"),
    include_str!("../../../charts/crds/source.toolkit.fluxcd.io_buckets.yaml"),
    include_str!("../../../charts/crds/source.toolkit.fluxcd.io_externalartifacts.yaml"),
    include_str!("../../../charts/crds/source.toolkit.fluxcd.io_helmrepositories.yaml"),
    include_str!("../../../charts/crds/source.toolkit.fluxcd.io_helmcharts.yaml"),
    include_str!("../../../charts/crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml"),
];

/// The CRDs of the Helm kinds: HelmRepository and HelmChart (served by
/// source-controller) and HelmRelease (helm-controller).
pub const HELM_CRDS: [&str; 3] = [
    include_str!("../../../charts/crds/source.toolkit.fluxcd.io_helmrepositories.yaml"),
    include_str!("../../../charts/crds/source.toolkit.fluxcd.io_helmcharts.yaml"),
    include_str!("../../../charts/crds/helm.toolkit.fluxcd.io_helmreleases.yaml"),
];

/// Installs CRDs (YAML documents) with server-side apply and waits until
/// each is Established.
pub async fn install_crds(client: Client, documents: &[&str]) -> Result<()> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for document in documents {
        let crd: CustomResourceDefinition = serde_yaml_ng::from_str(document).context("parsing a CRD")?;
        let name = crd.metadata.name.clone().context("a CRD without name")?;
        crds.patch(&name, &kube::api::PatchParams::apply("ferry-tests").force(), &kube::api::Patch::Apply(&crd))
            .await
            .with_context(|| format!("applying CRD {name}"))?;
        wait_for_condition(&crds, &name, "Established", "True", Duration::from_secs(30)).await?;
    }
    Ok(())
}

/// A namespace of one's own for one test, deleted when dropped.
pub struct TestNamespace {
    client: Client,
    name: String,
}

impl TestNamespace {
    /// Creates `<prefix>-<random>` (the prefix is cut to fit a DNS label).
    pub async fn new(prefix: &str) -> Result<Self> {
        let client = client().await?;
        let prefix: String = prefix
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .take(50)
            .collect();
        let name = format!("{}-{:08x}", prefix.trim_matches('-'), rand::random::<u32>());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(TEST_LABEL.to_string(), "true".to_string())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        Ok(Self { client, name })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The admin client.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// An API for namespaced objects of kind `K` in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Deletes the namespace and waits until it is gone.
    pub async fn delete(self, timeout: Duration) -> Result<()> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        namespaces.delete(&self.name, &DeleteParams::foreground()).await?;
        let name = self.name.clone();
        std::mem::forget(self);
        let gone = await_condition(namespaces, &name, kube::runtime::conditions::is_deleted(""));
        match tokio::time::timeout(timeout, gone).await {
            Ok(result) => result.map(|_| ()).map_err(|e| anyhow!("waiting for {name} to go: {e}")),
            Err(_) => bail!("namespace {name} was not deleted within {timeout:?}"),
        }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop cannot await: delete from a thread of its own, and wait for the
        // request (not the namespace's termination) to finish. The thread
        // builds its own client: this one's connection tasks live on the
        // test's runtime, which is blocked right here (a current-thread
        // runtime would never drive them).
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let client = client().await.ok()?;
                Api::<Namespace>::all(client).delete(&name, &DeleteParams::background()).await.ok()
            })
        });
        let _ = deleted.join();
    }
}

/// Waits until `predicate` holds for the object `name`, and returns it.
pub async fn wait_for<K, F>(api: &Api<K>, name: &str, timeout: Duration, predicate: F) -> Result<K>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    F: Fn(&K) -> bool,
{
    let matches = |object: Option<&K>| object.is_some_and(&predicate);
    let wait = await_condition(api.clone(), name, matches);
    match tokio::time::timeout(timeout, wait).await {
        Ok(Ok(Some(object))) => Ok(object),
        Ok(Ok(None)) => bail!("{name} disappeared while waiting"),
        Ok(Err(err)) => Err(anyhow!("watching {name}: {err}")),
        Err(_) => {
            let last = api.get_opt(name).await.ok().flatten();
            bail!("timed out after {timeout:?} waiting for {name}; last seen: {last:#?}")
        }
    }
}

/// The status of condition `type_` in `.status.conditions` of any object.
pub fn condition_status<K: Serialize>(object: &K, type_: &str) -> Option<String> {
    let value = serde_json::to_value(object).ok()?;
    value.pointer("/status/conditions")?.as_array()?.iter().find_map(|condition| {
        (condition.get("type")?.as_str()? == type_).then(|| condition.get("status")?.as_str().map(str::to_string))?
    })
}

/// Waits until the object has condition `type_` with `status` ("True",
/// "False" or "Unknown").
pub async fn wait_for_condition<K>(api: &Api<K>, name: &str, type_: &str, status: &str, timeout: Duration) -> Result<K>
where
    K: Resource + Clone + Debug + DeserializeOwned + Serialize + Send + Sync + 'static,
{
    wait_for(api, name, timeout, |object| condition_status(object, type_).as_deref() == Some(status)).await
}

/// Waits until a Deployment is Available with all its replicas up to date.
pub async fn wait_for_deployment_available(api: &Api<Deployment>, name: &str, timeout: Duration) -> Result<Deployment> {
    wait_for(api, name, timeout, |deployment| {
        let desired = deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let generation = deployment.metadata.generation;
        deployment.status.as_ref().is_some_and(|status| {
            status.observed_generation >= generation
                && status.available_replicas.unwrap_or(0) >= desired
                && status.updated_replicas.unwrap_or(0) >= desired
                && kube::runtime::conditions::is_deployment_completed().matches_object(Some(deployment))
                && condition_status(deployment, "Available").as_deref() == Some("True")
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_condition_status_from_any_object() {
        let object = serde_json::json!({
            "status": {"conditions": [
                {"type": "Reconciling", "status": "False"},
                {"type": "Ready", "status": "True"},
            ]}
        });
        assert_eq!(condition_status(&object, "Ready").as_deref(), Some("True"));
        assert_eq!(condition_status(&object, "Reconciling").as_deref(), Some("False"));
        assert_eq!(condition_status(&object, "Stalled"), None);
        assert_eq!(condition_status(&serde_json::json!({"spec": {}}), "Ready"), None);
    }
}
