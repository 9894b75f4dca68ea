//! Support for the chart tests: the peer tools `cargo xtask test` builds from
//! `hack/` (Helm, the flux CLI), the charts rendered by the real Helm, and
//! server-side apply of rendered manifests to the local control plane.
//!
//! The tools come from `$FERRY_HELM` and `$FERRY_FLUX`. `cargo xtask test`
//! always sets them; when one is unset the tests that need it fail and say how
//! to set it (`export FERRY_HELM=$(cargo xtask tools helm)`) rather than skip,
//! so a missing tool never passes for a green run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::Value;

/// The environment variable that names the Helm binary.
pub const HELM_ENV: &str = "FERRY_HELM";
/// The environment variable that names the flux CLI binary.
pub const FLUX_ENV: &str = "FERRY_FLUX";
/// The field manager of everything the tests apply.
pub const FIELD_MANAGER: &str = "ferry-charts-tests";

/// The path of a peer tool from its environment variable, or an error that says how to get it.
pub fn tool(env: &str) -> Result<PathBuf> {
    let tool = match env {
        HELM_ENV => "helm",
        FLUX_ENV => "flux",
        other => other,
    };
    let Some(path) = std::env::var_os(env) else {
        bail!(
            "{env} is not set: run the tests with `cargo xtask test`, which builds {tool} from hack/{tool} \
             and sets it, or `export {env}=$(cargo xtask tools {tool})`"
        );
    };
    let path = PathBuf::from(path);
    if !path.is_file() {
        bail!("{env}={} is no file: `cargo xtask tools {tool}` prints the right path", path.display());
    }
    Ok(path)
}

/// The root of the workspace checkout.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The version of `module` that the go.mod of `hack/<tool>` requires.
pub fn required_go_version(tool: &str, module: &str) -> Result<String> {
    let path = workspace_root().join("hack").join(tool).join("go.mod");
    let go_mod = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    go_mod
        .lines()
        .map(|line| line.trim().trim_start_matches("require ").split_whitespace().collect::<Vec<_>>())
        .find_map(|words| (words.first() == Some(&module)).then(|| words.get(1).map(|v| v.to_string())).flatten())
        .with_context(|| format!("{} does not require {module}", path.display()))
}

/// Runs a command and returns its stdout; a failure carries the command line and its stderr.
pub fn run(command: &mut Command) -> Result<String> {
    let line = format!("{command:?}");
    let output = command.output().with_context(|| format!("running {line}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!("{line} failed ({}):\n{stdout}{}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    Ok(stdout)
}

/// The real Helm, on a private copy of the charts with its own (empty) configuration,
/// cache and data folders, so tests neither touch the checkout nor see each other.
pub struct Helm {
    binary: PathBuf,
    home: tempfile::TempDir,
}

impl Helm {
    /// Copies `charts/` and fetches the umbrella chart's `file://` dependencies.
    pub fn new() -> Result<Self> {
        let binary = tool(HELM_ENV)?;
        let home = tempfile::tempdir()?;
        copy_tree(&workspace_root().join("charts"), &home.path().join("charts"))?;
        let helm = Self { binary, home };
        helm.run(&["dependency", "update", &helm.chart("ferry").to_string_lossy()])?;
        Ok(helm)
    }

    /// The folder of the private copy of chart `name`.
    pub fn chart(&self, name: &str) -> PathBuf {
        self.home.path().join("charts").join(name)
    }

    /// Runs Helm with `args` and returns its stdout.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let home = self.home.path();
        run(Command::new(&self.binary)
            .args(args)
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"))
            .env_remove("KUBECONFIG"))
    }

    /// `helm lint --strict` of chart `name` with `--set` values.
    pub fn lint(&self, name: &str, sets: &[&str]) -> Result<String> {
        let chart = self.chart(name);
        let mut args = vec!["lint".to_string(), "--strict".to_string(), chart.to_string_lossy().into_owned()];
        args.extend(sets.iter().flat_map(|set| ["--set".to_string(), set.to_string()]));
        self.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// `helm template --include-crds` of chart `name` as `release` in `namespace` with `--set`
    /// values, parsed into its objects.
    pub fn template(&self, name: &str, release: &str, namespace: &str, sets: &[&str]) -> Result<Vec<Value>> {
        let chart = self.chart(name);
        let mut args = vec![
            "template".to_string(),
            release.to_string(),
            chart.to_string_lossy().into_owned(),
            "--namespace".to_string(),
            namespace.to_string(),
            "--include-crds".to_string(),
        ];
        args.extend(sets.iter().flat_map(|set| ["--set".to_string(), set.to_string()]));
        let yaml = self.run(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        documents(&yaml)
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).with_context(|| format!("copying to {}", target.display()))?;
        }
    }
    Ok(())
}

/// The objects of a multi-document YAML stream; empty documents (comments only) are left out.
pub fn documents(yaml: &str) -> Result<Vec<Value>> {
    let mut objects = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value: Value = serde::Deserialize::deserialize(document).context("parsing rendered YAML")?;
        if !value.is_null() {
            objects.push(value);
        }
    }
    Ok(objects)
}

/// The `kind` of a rendered object.
pub fn kind(object: &Value) -> &str {
    object.get("kind").and_then(Value::as_str).unwrap_or_default()
}

/// The `metadata.name` of a rendered object.
pub fn name(object: &Value) -> &str {
    object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()
}

/// The names of the rendered objects of `kind`, sorted.
pub fn names_of(objects: &[Value], of_kind: &str) -> Vec<String> {
    let mut names: Vec<String> = objects.iter().filter(|o| kind(o) == of_kind).map(|o| name(o).to_string()).collect();
    names.sort();
    names
}

/// The rendered object of `kind` named `name`.
pub fn find<'a>(objects: &'a [Value], of_kind: &str, of_name: &str) -> Option<&'a Value> {
    objects.iter().find(|o| kind(o) == of_kind && name(o) == of_name)
}

/// An object the tests applied, enough to delete it again.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Its API resource.
    pub resource: ApiResource,
    /// Its namespace, `None` when cluster-scoped.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

impl Applied {
    /// Deletes the object; one already gone is no error.
    pub async fn delete(&self, client: &Client) -> Result<()> {
        let api: Api<DynamicObject> = match &self.namespace {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &self.resource),
            None => Api::all_with(client.clone(), &self.resource),
        };
        match api.delete(&self.name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(err) => Err(err).with_context(|| format!("deleting {} {}", self.resource.kind, self.name)),
        }
    }
}

/// Applies `objects` with server-side apply, the way `kubectl apply --server-side` would:
/// CustomResourceDefinitions first (and waits until they are Established), then the rest in
/// the order given. Namespaced objects without a namespace go to `namespace`.
pub async fn apply(client: &Client, namespace: &str, objects: &[Value]) -> Result<Vec<Applied>> {
    let (crds, rest): (Vec<&Value>, Vec<&Value>) =
        objects.iter().partition(|object| kind(object) == "CustomResourceDefinition");
    let mut resources: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)> = HashMap::new();
    let mut applied = Vec::new();
    for object in &crds {
        applied.push(apply_one(client, namespace, object, &mut resources).await?);
    }
    let crd_api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for object in &crds {
        ferry_testenv::wait_for_condition(&crd_api, name(object), "Established", "True", Duration::from_secs(30))
            .await?;
    }
    for object in &rest {
        applied.push(apply_one(client, namespace, object, &mut resources).await?);
    }
    Ok(applied)
}

async fn apply_one(
    client: &Client,
    namespace: &str,
    object: &Value,
    resources: &mut HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>,
) -> Result<Applied> {
    let api_version = object.get("apiVersion").and_then(Value::as_str).context("an object without apiVersion")?;
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind(object));
    if !resources.contains_key(&gvk) {
        let found = kube::discovery::pinned_kind(client, &gvk)
            .await
            .with_context(|| format!("discovering {api_version} {}", gvk.kind))?;
        resources.insert(gvk.clone(), found);
    }
    let (resource, capabilities) = &resources[&gvk];
    let object_name = name(object).to_string();
    let object_namespace = match capabilities.scope {
        Scope::Namespaced => {
            Some(object.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(namespace).to_string())
        }
        Scope::Cluster => None,
    };
    let applied = Applied { resource: resource.clone(), namespace: object_namespace, name: object_name };
    let api: Api<DynamicObject> = match &applied.namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, resource),
        None => Api::all_with(client.clone(), resource),
    };
    api.patch(&applied.name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object))
        .await
        .with_context(|| format!("applying {} {}", gvk.kind, applied.name))?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_skip_comment_only_documents() {
        let yaml = "# Generated. DO NOT EDIT.\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: a\n---\n# Source: x\n---\nkind: Service\nmetadata:\n  name: b\n";
        let objects = documents(yaml).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!((kind(&objects[0]), name(&objects[0])), ("ServiceAccount", "a"));
        assert_eq!(names_of(&objects, "Service"), vec!["b".to_string()]);
        assert!(documents("kind: [unclosed").is_err());
    }

    #[test]
    fn reads_the_tool_versions_hack_pins() {
        assert!(required_go_version("helm", "helm.sh/helm/v3").unwrap().starts_with("v3."));
        assert!(required_go_version("flux", "github.com/fluxcd/flux2/v2").unwrap().starts_with("v2."));
        assert!(required_go_version("flux", "example.com/none").is_err());
    }
}
