//! Resources, their ids, and field specs (paths into resources selected by kind).

use crate::{Error, Result};
use serde_json::{Map, Value};
use std::fmt;

/// Group, version and kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        Gvk { group, version, kind: kind.to_string() }
    }

    /// Whether `self` is selected by `selector`, where empty selector fields match anything.
    pub fn is_selected_by(&self, selector: &Gvk) -> bool {
        (selector.group.is_empty() || selector.group == self.group)
            && (selector.version.is_empty() || selector.version == self.version)
            && (selector.kind.is_empty() || selector.kind == self.kind)
    }

    pub fn is_cluster_scoped(&self) -> bool {
        // kustomize asks its built-in schema by group and kind: a custom resource's kind named
        // Namespace (Azure's servicebus.azure.com, say) is namespaced like any unknown kind.
        if self.kind == "Namespace" && !self.group.is_empty() {
            return false;
        }
        CLUSTER_SCOPED_KINDS.contains(&self.kind.as_str())
    }

    /// The form kustomize uses in ids and for sorting: `group_version_kind` with `~G`/`~V`/`~K`.
    pub fn key(&self) -> String {
        let g = if self.group.is_empty() { "~G" } else { &self.group };
        let v = if self.version.is_empty() { "~V" } else { &self.version };
        let k = if self.kind.is_empty() { "~K" } else { &self.kind };
        format!("{g}_{v}_{k}")
    }
}

/// Kinds the Kubernetes API serves without a namespace (as in kustomize's built-in schema).
const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "StorageClass",
    "SubjectAccessReview",
    "TokenReview",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// A resource's identity: its kind, name and namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ResId {
    pub gvk: Gvk,
    pub name: String,
    pub namespace: String,
}

impl ResId {
    /// The namespace with "" meaning "default" for namespaced kinds, and "" for cluster-scoped ones.
    pub fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            ""
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    pub fn ns_equals(&self, other: &ResId) -> bool {
        self.effective_namespace() == other.effective_namespace()
    }

    /// Same kind, name and namespace (treating "" and "default" alike).
    pub fn equals(&self, other: &ResId) -> bool {
        self.gvk == other.gvk && self.name == other.name && self.ns_equals(other)
    }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = if self.namespace.is_empty() { "~X" } else { &self.namespace };
        let name = if self.name.is_empty() { "~N" } else { &self.name };
        write!(f, "{}|{}|{}", self.gvk.key(), ns, name)
    }
}

/// How a generated resource combines with one of the same id from a base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    #[default]
    Create,
    Merge,
    Replace,
}

/// One resource being built, with the bookkeeping kustomize keeps beside it.
#[derive(Debug, Clone)]
pub struct Resource {
    pub obj: Value,
    /// Ids this resource had before renames (oldest first), without the current one.
    pub prev_ids: Vec<ResId>,
    pub orig_id: ResId,
    pub needs_hash: bool,
    pub behavior: Behavior,
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// Where it came from (a file path relative to the build root), for buildMetadata.
    pub origin: Option<Origin>,
    /// Whether it came from a generator.
    pub generated: bool,
    /// Names of the `vars` that read their value from this resource.
    pub ref_var_names: Vec<String>,
    /// Built-in transformers that ran over it (kustomization file, transformer kind).
    pub transformations: Vec<Transformation>,
}

/// One transformer that ran on a resource, for buildMetadata's transformer annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transformation {
    /// The file that configured the transformer (a kustomization, or a plugin configuration).
    pub configured_in: String,
    /// The transformer's kind, `NamespaceTransformer` say.
    pub kind: String,
    /// The plugin configuration's `metadata.name` and `metadata.namespace`, when it has them.
    pub name: Option<String>,
    pub namespace: Option<String>,
}

/// Where a resource came from, for buildMetadata's origin annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub path: String,
    pub config_kind: Option<String>,
    pub config_name: Option<String>,
}

impl Resource {
    pub fn new(obj: Value) -> Result<Self> {
        if !obj.is_object() {
            return Err(Error::msg(format!("resource is not a map: {}", short(&obj))));
        }
        let r = Resource {
            orig_id: ResId::default(),
            obj,
            prev_ids: Vec::new(),
            needs_hash: false,
            behavior: Behavior::Create,
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            origin: None,
            generated: false,
            ref_var_names: Vec::new(),
            transformations: Vec::new(),
        };
        let id = r.id();
        Ok(Resource { orig_id: id, ..r })
    }

    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.str_at(&["apiVersion"]).unwrap_or(""), self.str_at(&["kind"]).unwrap_or(""))
    }

    pub fn kind(&self) -> &str {
        self.str_at(&["kind"]).unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.str_at(&["metadata", "name"]).unwrap_or("")
    }

    pub fn namespace(&self) -> &str {
        self.str_at(&["metadata", "namespace"]).unwrap_or("")
    }

    pub fn id(&self) -> ResId {
        ResId { gvk: self.gvk(), name: self.name().to_string(), namespace: self.namespace().to_string() }
    }

    /// All ids this resource has had, the current one last.
    pub fn all_ids(&self) -> Vec<ResId> {
        let mut ids = self.prev_ids.clone();
        ids.push(self.id());
        ids
    }

    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        let mut cur = &self.obj;
        for p in path {
            cur = cur.as_object()?.get(*p)?;
        }
        cur.as_str()
    }

    /// Remembers the current id before it changes.
    pub fn store_previous_id(&mut self) {
        let id = self.id();
        if self.prev_ids.last() != Some(&id) {
            self.prev_ids.push(id);
        }
    }

    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        if !self.obj.is_object() {
            self.obj = Value::Object(Map::new());
        }
        let Value::Object(obj) = &mut self.obj else { unreachable!("made a map above") };
        let md = obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if !md.is_object() {
            *md = Value::Object(Map::new());
        }
        let Value::Object(md) = md else { unreachable!("made a map above") };
        md
    }

    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut().insert("name".into(), Value::String(name.to_string()));
    }

    pub fn set_namespace(&mut self, ns: &str) {
        self.metadata_mut().insert("namespace".into(), Value::String(ns.to_string()));
    }

    pub fn labels(&self) -> Map<String, Value> {
        self.obj.pointer("/metadata/labels").and_then(|v| v.as_object()).cloned().unwrap_or_default()
    }

    pub fn annotations(&self) -> Map<String, Value> {
        self.obj.pointer("/metadata/annotations").and_then(|v| v.as_object()).cloned().unwrap_or_default()
    }

    pub fn set_annotation(&mut self, key: &str, value: &str) {
        let md = self.metadata_mut();
        let ann = md.entry("annotations").or_insert_with(|| Value::Object(Map::new()));
        if !ann.is_object() {
            *ann = Value::Object(Map::new());
        }
        if let Some(m) = ann.as_object_mut() {
            m.insert(key.to_string(), Value::String(value.to_string()));
        }
    }

    /// kustomize rewrites annotations through a string map: an empty, null or non-map
    /// `annotations` disappears, and values become strings.
    pub fn normalize_annotations(&mut self) {
        let Some(md) = self.obj.get_mut("metadata").and_then(Value::as_object_mut) else {
            return;
        };
        match md.get_mut("annotations") {
            Some(Value::Object(m)) if !m.is_empty() => {
                for v in m.values_mut() {
                    let text = match &*v {
                        Value::String(_) => continue,
                        Value::Null => String::new(),
                        Value::Number(n) => crate::yaml::format_number(n),
                        other => other.to_string(),
                    };
                    *v = Value::String(text);
                }
            }
            Some(_) => {
                md.remove("annotations");
            }
            None => {}
        }
    }

    /// Whether two resources went through the same name prefixes and suffixes, the innermost
    /// last, as kustomize tells apart name-reference candidates that share a name. With
    /// `allow_empty`, a side that has no prefixes (or no suffixes) matches any.
    pub fn prefixes_suffixes_equal(&self, other: &Resource, allow_empty: bool) -> bool {
        let matches = |a: &[String], b: &[String]| (allow_empty && (a.is_empty() || b.is_empty())) || same_ending(a, b);
        matches(&self.prefixes, &other.prefixes) && matches(&self.suffixes, &other.suffixes)
    }
}

/// Whether the shorter list is the end of the longer one (two empty lists match, an empty
/// and a non-empty one do not).
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long.ends_with(short)
}

pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 { format!("{}...", &s[..s.char_indices().nth(77).map(|(i, _)| i).unwrap_or(s.len())]) } else { s }
}

/// A path into resources of some kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSpec {
    pub gvk: Gvk,
    pub path: String,
    pub create: bool,
}

impl FieldSpec {
    pub fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> Self {
        FieldSpec {
            gvk: Gvk { group: group.into(), version: version.into(), kind: kind.into() },
            path: path.into(),
            create,
        }
    }

    pub fn from_def(d: &crate::types::FieldSpecDef) -> Self {
        FieldSpec::new(&d.group, &d.version, &d.kind, &d.path, d.create)
    }

    pub fn segments(&self) -> Vec<String> {
        split_path(&self.path)
    }
}

/// Splits a field-spec path on `/`, honouring `\/` as a literal slash.
pub fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'/') {
            cur.push('/');
            chars.next();
        } else if c == '/' {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Calls `f` on every value at `segments` in `v`. Sequences met along the way are walked
/// element by element. With `create`, missing maps on the way and the final field are made;
/// a created final field starts as `Value::Null`.
pub fn visit_path(
    v: &mut Value,
    segments: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    if let Value::Array(items) = v {
        for item in items {
            visit_path(item, segments, create, f)?;
        }
        return Ok(());
    }
    let Some((first, rest)) = segments.split_first() else {
        return f(v);
    };
    let (field, is_list) = match first.strip_suffix("[]") {
        Some(stripped) => (stripped, true),
        None => (first.as_str(), false),
    };
    let Value::Object(map) = v else {
        if v.is_null() && create {
            *v = Value::Object(Map::new());
            return visit_path(v, segments, create, f);
        }
        return Ok(());
    };
    if !map.contains_key(field) {
        // kustomize never makes a missing list (`field[]`), even when asked to create.
        if !create || is_list {
            return Ok(());
        }
        let fresh = if rest.is_empty() {
            Value::Null
        } else if is_list {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        };
        map.insert(field.to_string(), fresh);
    }
    let child = map.get_mut(field).ok_or_else(|| Error::msg("field vanished"))?;
    if rest.is_empty() {
        return f(child);
    }
    if child.is_null() {
        if !create {
            return Ok(());
        }
        *child = Value::Object(Map::new());
    }
    visit_path(child, rest, create, f)
}
