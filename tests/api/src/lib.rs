//! Helpers for the API integration tests: install the generated CRDs on the local control
//! plane, load the example objects, and check that an object survives the trip through the
//! API server and the Rust types.

use std::fmt::Debug;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, ValidationDirective};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The field manager of these tests.
pub const MANAGER: &str = "ferry-api-tests";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The CRDs as committed in `charts/crds`, the files the charts install.
pub fn generated_crds() -> Result<Vec<CustomResourceDefinition>> {
    let dir = workspace().join("charts/crds");
    let mut crds = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_none_or(|ext| ext != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let crd: CustomResourceDefinition =
            serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        crds.push(crd);
    }
    ensure!(!crds.is_empty(), "no CRDs in {}", dir.display());
    Ok(crds)
}

/// Installs (or updates) every generated CRD with server-side apply and waits until each is
/// established. CRDs are cluster-wide and shared by concurrent tests: applying the same
/// content again changes nothing, and they are never deleted.
pub async fn install_crds(client: &Client) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(MANAGER).force();
    let mut names = Vec::new();
    for crd in generated_crds()? {
        let name = crd.metadata.name.clone().context("a CRD without a name")?;
        api.patch(&name, &params, &Patch::Apply(&crd)).await.with_context(|| format!("applying CRD {name}"))?;
        names.push(name);
    }
    for name in names {
        ferry_testenv::wait_for_condition(&api, &name, "Established", "True", Duration::from_secs(60)).await?;
    }
    Ok(())
}

/// An example object from `tests/api/examples/<file>.yaml`.
pub fn example(file: &str) -> Result<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(file);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_yaml_ng::from_str(&text)?)
}

/// Apply parameters that reject unknown fields instead of dropping them.
pub fn strict_apply(dry_run: bool) -> PatchParams {
    let mut params = PatchParams::apply(MANAGER).force();
    params.field_validation = Some(ValidationDirective::Strict);
    params.dry_run = dry_run;
    params
}

fn name_of(object: &Value) -> Result<String> {
    object.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string).context("example without a name")
}

/// Every leaf of `subset` is in `superset` with the same value; lists compare item by item.
pub fn assert_contained(subset: &Value, superset: &Value, path: &str) -> Result<()> {
    match (subset, superset) {
        (Value::Object(small), Value::Object(big)) => {
            for (key, value) in small {
                let Some(other) = big.get(key) else { bail!("{path}.{key} was lost") };
                assert_contained(value, other, &format!("{path}.{key}"))?;
            }
            Ok(())
        }
        (Value::Array(small), Value::Array(big)) => {
            ensure!(small.len() == big.len(), "{path} has {} items, expected {}", big.len(), small.len());
            for (index, (a, b)) in small.iter().zip(big).enumerate() {
                assert_contained(a, b, &format!("{path}[{index}]"))?;
            }
            Ok(())
        }
        (a, b) => {
            ensure!(a == b, "{path} is {b}, expected {a}");
            Ok(())
        }
    }
}

/// Creates the example in the namespace (its `status`, if any, through the status
/// subresource), then checks that:
/// - the server accepted it with strict field validation and kept every field;
/// - it reads back into `K`, and `K` serializes to exactly what the server holds;
/// - applying the typed object again loses no field and changes nothing.
///
/// Returns the typed object as read back.
pub async fn round_trip<K>(ns: &ferry_testenv::TestNamespace, file: &str) -> Result<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let client = ns.client();
    install_crds(&client).await?;
    let mut object = example(file)?;
    let name = name_of(&object)?;
    let status = object.as_object_mut().and_then(|o| o.remove("status"));

    let typed: Api<K> = ns.api();
    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns.name(), &ApiResource::erase::<K>(&()));

    raw.patch(&name, &strict_apply(false), &Patch::Apply(&object))
        .await
        .map_err(|e| anyhow!("the server refused {file}: {e}"))?;
    if let Some(status) = &status {
        let body = serde_json::json!({ "status": status });
        raw.patch_status(&name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .map_err(|e| anyhow!("the server refused the status of {file}: {e}"))?;
    }

    let stored = serde_json::to_value(raw.get(&name).await?)?;
    assert_contained(&object["spec"], &stored["spec"], "spec")?;
    if let Some(status) = &status {
        assert_contained(status, &stored["status"], "status")?;
    }

    let read = typed.get(&name).await.map_err(|e| anyhow!("{file} does not read back into the Rust type: {e}"))?;
    let reserialized = serde_json::to_value(&read)?;
    for part in ["spec", "status"] {
        let theirs = stored.get(part).cloned().unwrap_or(Value::Null);
        let ours = reserialized.get(part).cloned().unwrap_or(Value::Null);
        ensure!(
            theirs == ours,
            "{part} differs after reading into the Rust type:\nserver: {theirs:#}\nrust:   {ours:#}"
        );
    }

    // Apply what the Rust type holds, as a controller or a user's tool would.
    let generation = stored.pointer("/metadata/generation").cloned();
    let mut again = serde_json::json!({
        "apiVersion": reserialized["apiVersion"],
        "kind": reserialized["kind"],
        "metadata": {"name": name},
    });
    if let Some(spec) = reserialized.get("spec") {
        again["spec"] = spec.clone();
    }
    raw.patch(&name, &strict_apply(false), &Patch::Apply(&again))
        .await
        .map_err(|e| anyhow!("the server refused {file} as the Rust type wrote it: {e}"))?;
    let after = serde_json::to_value(raw.get(&name).await?)?;
    ensure!(
        after["spec"] == stored["spec"],
        "spec changed on re-apply:\nbefore: {:#}\nafter:  {:#}",
        stored["spec"],
        after["spec"]
    );
    ensure!(after.pointer("/metadata/generation").cloned() == generation, "re-applying bumped the generation");
    Ok(read)
}

/// Applies (as a dry run) the example changed by `change`, and checks that the server rejects
/// it as invalid with `message`.
pub async fn assert_rejected<K>(
    ns: &ferry_testenv::TestNamespace,
    file: &str,
    change: impl FnOnce(&mut Value),
    message: &str,
) -> Result<()>
where
    K: Resource<DynamicType = ()>,
{
    let client = ns.client();
    install_crds(&client).await?;
    let mut object = example(file)?;
    object.as_object_mut().map(|o| o.remove("status"));
    let name = name_of(&object)?;
    let raw: Api<DynamicObject> = Api::namespaced_with(client, ns.name(), &ApiResource::erase::<K>(&()));

    // The unchanged example is valid, so the change alone causes the rejection.
    raw.patch(&name, &strict_apply(true), &Patch::Apply(&object))
        .await
        .map_err(|e| anyhow!("the unchanged {file} was refused: {e}"))?;
    change(&mut object);
    match raw.patch(&name, &strict_apply(true), &Patch::Apply(&object)).await {
        Ok(_) => bail!("the server accepted an invalid {file}; expected {message:?}"),
        Err(kube::Error::Api(status)) => {
            ensure!(status.code == 422, "expected 422 Invalid, got {}: {}", status.code, status.message);
            ensure!(status.message.contains(message), "expected {message:?} in {:?}", status.message);
            Ok(())
        }
        Err(other) => bail!("unexpected error: {other}"),
    }
}
