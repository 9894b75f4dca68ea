//! Rendering a release with ferry-helm, and turning its manifests into the
//! objects the API server takes (namespaced to the release, stamped with
//! Helm's ownership metadata as `helm install` stamps them).

use ferry_helm::chart::Chart;
use ferry_helm::template::{TemplateOptions, template};
use ferry_helm::yaml::decode::{self, Numbers};
use ferry_helm::{Map, Value};
use ferry_ssa::ObjectRef;
use kube::api::DynamicObject;

use super::record::Hook;

/// The annotation naming the release an object belongs to.
pub const RELEASE_NAME_ANNOTATION: &str = "meta.helm.sh/release-name";
/// The annotation naming the release's namespace.
pub const RELEASE_NAMESPACE_ANNOTATION: &str = "meta.helm.sh/release-namespace";
/// The label Helm marks its objects with.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// `helm.sh/resource-policy: keep` objects survive upgrades and uninstalls.
pub const RESOURCE_POLICY_ANNOTATION: &str = "helm.sh/resource-policy";

/// Why a chart could not be rendered or its output read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// ferry-helm refused the chart or values.
    #[error(transparent)]
    Template(Box<ferry_helm::template::Error>),
    /// A rendered document is not YAML.
    #[error("{path}: {source}")]
    Yaml {
        /// The template it came from.
        path: String,
        /// The parser's words.
        #[source]
        source: Box<decode::Error>,
    },
    /// A rendered document is no Kubernetes object.
    #[error("{path}: {message}")]
    NotAnObject {
        /// The template it came from.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A chart rendered for one revision of a release.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The release manifest: every non-hook document with its `# Source:`
    /// line, in install order.
    pub manifest: String,
    /// The hooks, in Helm's order, not run yet.
    pub hooks: Vec<Hook>,
    /// The root chart's NOTES.txt.
    pub notes: String,
    /// The CRDs of the chart's `crds/` directories.
    pub crds: Vec<serde_json::Value>,
}

/// What is rendered for: the release and the cluster.
pub struct RenderOptions<'a> {
    /// The release name.
    pub name: &'a str,
    /// The release namespace.
    pub namespace: &'a str,
    /// The revision being made.
    pub revision: i64,
    /// Whether this is an upgrade (`.Release.IsUpgrade`).
    pub is_upgrade: bool,
    /// The cluster's version (`.Capabilities.KubeVersion`).
    pub kube_version: Option<String>,
    /// Skip values.schema.json.
    pub skip_schema_validation: bool,
}

/// Renders `chart` with `values`, as `helm install` and `helm upgrade` do.
pub fn render(chart: &Chart, values: &Map, opts: &RenderOptions<'_>) -> Result<Rendered, Error> {
    let template_opts = TemplateOptions {
        release_name: opts.name.to_string(),
        namespace: opts.namespace.to_string(),
        is_upgrade: opts.is_upgrade,
        revision: opts.revision,
        kube_version: opts.kube_version.clone(),
        skip_schema_validation: opts.skip_schema_validation,
        ..TemplateOptions::default()
    };
    let rendered = template(chart.clone(), values, &template_opts).map_err(|e| Error::Template(Box::new(e)))?;
    let hooks = rendered
        .hooks
        .iter()
        .map(|h| Hook {
            name: h.name.clone(),
            kind: h.kind.clone(),
            path: h.path.clone(),
            manifest: h.manifest.clone(),
            events: h.events.clone(),
            weight: h.weight,
            delete_policies: h.delete_policies.clone(),
            ..Hook::default()
        })
        .collect();
    let mut crds = Vec::new();
    for (path, file) in chart.crd_objects() {
        let text = String::from_utf8_lossy(&file.data);
        crds.extend(documents(&text, &path)?);
    }
    Ok(Rendered { manifest: rendered.manifest, hooks, notes: rendered.notes, crds })
}

/// The objects of a manifest stream, empty documents left out.
pub fn documents(text: &str, path: &str) -> Result<Vec<serde_json::Value>, Error> {
    let mut out = Vec::new();
    for doc in ferry_helm::release::manifest::split_manifests(text) {
        let value = decode::from_str(&doc, Numbers::Yaml)
            .map_err(|source| Error::Yaml { path: path.into(), source: Box::new(source) })?;
        match value {
            Value::Null => {}
            Value::Map(map) if map.is_empty() => {}
            Value::Map(_) => out.push(value.to_json()),
            other => {
                return Err(Error::NotAnObject {
                    path: path.into(),
                    message: format!("expected an object, found {}", other.go_type()),
                });
            }
        }
    }
    Ok(out)
}

/// The objects of a release manifest, in the release namespace unless they
/// say otherwise (cluster-scoped ones lose it when applied), with Helm's
/// ownership metadata.
pub fn release_objects(manifest: &str, name: &str, namespace: &str) -> Result<Vec<DynamicObject>, Error> {
    documents(manifest, "manifest")?.into_iter().map(|value| to_object(value, name, namespace)).collect()
}

/// One document as an object of the release `name` in `namespace`.
pub fn to_object(mut value: serde_json::Value, name: &str, namespace: &str) -> Result<DynamicObject, Error> {
    let describe = || {
        format!(
            "{}/{}",
            value.get("kind").and_then(|k| k.as_str()).unwrap_or_default(),
            value.pointer("/metadata/name").and_then(|k| k.as_str()).unwrap_or_default()
        )
    };
    let path = describe();
    let Some(root) = value.as_object_mut() else {
        return Err(Error::NotAnObject { path, message: "not an object".into() });
    };
    let metadata = root.entry("metadata").or_insert_with(|| serde_json::json!({}));
    let Some(metadata) = metadata.as_object_mut() else {
        return Err(Error::NotAnObject { path, message: "metadata is not a map".into() });
    };
    if metadata.get("namespace").and_then(|n| n.as_str()).is_none_or(str::is_empty) {
        metadata.insert("namespace".into(), namespace.into());
    }
    let annotations = metadata.entry("annotations").or_insert_with(|| serde_json::json!({}));
    if let Some(annotations) = annotations.as_object_mut() {
        annotations.insert(RELEASE_NAME_ANNOTATION.into(), name.into());
        annotations.insert(RELEASE_NAMESPACE_ANNOTATION.into(), namespace.into());
    }
    let labels = metadata.entry("labels").or_insert_with(|| serde_json::json!({}));
    if let Some(labels) = labels.as_object_mut() {
        labels.insert(MANAGED_BY_LABEL.into(), "Helm".into());
    }
    serde_json::from_value(value).map_err(|e| Error::NotAnObject { path, message: e.to_string() })
}

/// The references of `objects`.
pub fn refs(objects: &[DynamicObject]) -> Vec<ObjectRef> {
    objects.iter().filter_map(|o| ObjectRef::from_object(o).ok()).collect()
}

/// Whether `object` asks to be kept (`helm.sh/resource-policy: keep`).
pub fn is_kept(object: &DynamicObject) -> bool {
    object
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(RESOURCE_POLICY_ANNOTATION))
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("keep"))
}

/// The same object, whatever its version: group, kind, namespace, name.
pub fn same(a: &ObjectRef, b: &ObjectRef) -> bool {
    a.group == b.group && a.kind == b.kind && a.namespace == b.namespace && a.name == b.name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_get_the_release_namespace_and_helms_metadata() {
        let manifest = "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  n: \"1\"\n---\n# Source: c/templates/b.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n  namespace: other\nspec:\n  ports:\n  - port: 80\n";
        let objects = release_objects(manifest, "web", "apps").unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0].metadata.namespace.as_deref(), Some("apps"));
        assert_eq!(objects[1].metadata.namespace.as_deref(), Some("other"));
        let annotations = objects[0].metadata.annotations.clone().unwrap();
        assert_eq!(annotations.get(RELEASE_NAME_ANNOTATION).map(String::as_str), Some("web"));
        assert_eq!(objects[1].data["spec"]["ports"][0]["port"], serde_json::json!(80));
        assert!(documents("a: [", "x").is_err());
    }
}
