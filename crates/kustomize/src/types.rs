//! The `Kustomization` file format (kustomize.config.k8s.io/v1beta1 and v1alpha1 Component).

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A parsed kustomization file. Unknown fields are rejected, as kustomize does.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kustomization {
    /// `kustomize.config.k8s.io/v1beta1`, or `v1alpha1` for a Component; kept to tell the two apart.
    pub api_version: Option<String>,
    /// `Kustomization` or `Component`: a Component's transformers apply to its parent's resources.
    pub kind: Option<String>,
    /// Ignored by the build, but accepted because kustomize accepts it.
    pub metadata: Option<Value>,
    /// A custom OpenAPI schema (`path:`) or a built-in version, consulted by strategic merge patches for merge keys.
    #[serde(rename = "openapi")]
    pub openapi: Option<BTreeMap<String, String>>,
    /// Prepended to every resource name (and to the references to it).
    pub name_prefix: Option<String>,
    /// Appended to every resource name (and to the references to it).
    pub name_suffix: Option<String>,
    /// Set on every namespaced resource, and on references such as RoleBinding subjects.
    pub namespace: Option<String>,
    /// Labels set on every resource and, unlike `labels`, on selectors and templates too.
    pub common_labels: Option<BTreeMap<String, String>>,
    /// Labels with a choice of whether selectors and templates get them as well.
    pub labels: Option<Vec<Label>>,
    /// Annotations set on every resource and its pod templates.
    pub common_annotations: Option<BTreeMap<String, String>>,
    /// Deprecated strategic merge patches (files or inline), still applied in kustomize's order.
    pub patches_strategic_merge: Option<Vec<String>>,
    /// Deprecated JSON 6902 patches with a target, still applied in kustomize's order.
    #[serde(rename = "patchesJson6902")]
    pub patches_json6902: Option<Vec<Patch>>,
    /// Strategic merge or JSON 6902 patches, each with an optional target selector.
    pub patches: Option<Vec<Patch>>,
    /// Image name, tag and digest overrides for containers.
    pub images: Option<Vec<Image>>,
    /// The old name of `images`, still read by kustomize.
    pub image_tags: Option<Vec<Image>>,
    /// Copies of a field of one resource into fields of others (the successor of `vars`).
    pub replacements: Option<Vec<ReplacementField>>,
    /// Replica count overrides by resource name.
    pub replicas: Option<Vec<Replica>>,
    /// Deprecated `$(VAR)` substitution from fields of other resources.
    pub vars: Option<Vec<Var>>,
    /// The output order (`legacyOrder` or `fifo`); unset means the build option decides.
    pub sort_options: Option<SortOptions>,
    /// Files, directories and kustomizations whose resources this level starts from.
    pub resources: Option<Vec<String>>,
    /// CRD files whose schemas tell the name-reference and strategic-merge steps about custom kinds.
    pub crds: Option<Vec<String>>,
    /// Components whose transformers run on this level's resources.
    pub components: Option<Vec<String>>,
    /// The old name of `resources` for kustomization directories.
    pub bases: Option<Vec<String>>,
    /// ConfigMaps to generate from literals, files and env files.
    pub config_map_generator: Option<Vec<GeneratorArgs>>,
    /// Secrets to generate from literals, files and env files.
    pub secret_generator: Option<Vec<GeneratorArgs>>,
    /// Read so the build can refuse it clearly: kustomize needs `--enable-helm`, and the engine runs no Helm.
    pub helm_globals: Option<Value>,
    /// Read so the build can refuse it clearly: kustomize needs `--enable-helm`, and the engine runs no Helm.
    pub helm_charts: Option<Value>,
    /// Read so the build can refuse it clearly: kustomize needs `--enable-helm`, and the engine runs no Helm.
    pub helm_chart_inflation_generator: Option<Value>,
    /// Labels, annotations and hash options applied to every generated ConfigMap and Secret.
    pub generator_options: Option<GeneratorOptions>,
    /// Files that extend the built-in field specs (name references, labels, prefixes...).
    pub configurations: Option<Vec<String>>,
    /// Generator plugin configurations (built-in kinds only), or kustomizations whose output is generated.
    pub generators: Option<Vec<String>>,
    /// Transformer plugin configurations (built-in kinds only), or kustomizations whose output transforms.
    pub transformers: Option<Vec<String>>,
    /// Read so the build can refuse them clearly: kustomize needs `--enable-alpha-plugins` for them.
    pub validators: Option<Vec<String>>,
    /// `originAnnotations`, `transformerAnnotations`, `managedByLabel`: what the build records on resources.
    pub build_metadata: Option<Vec<String>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Label {
    #[serde(default)]
    pub pairs: BTreeMap<String, String>,
    #[serde(default)]
    pub include_selectors: bool,
    #[serde(default)]
    pub include_templates: bool,
    #[serde(default)]
    pub fields: Vec<FieldSpecDef>,
}

/// A field spec as written in configurations and `labels[].fields`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpecDef {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub create: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    pub path: Option<String>,
    pub patch: Option<String>,
    pub target: Option<Selector>,
    pub options: Option<BTreeMap<String, bool>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Selector {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub annotation_selector: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    pub name: Option<String>,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
    pub tag_suffix: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SortOptions {
    pub order: Option<String>,
    pub legacy_sort_options: Option<LegacySortOptions>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LegacySortOptions {
    #[serde(default)]
    pub order_first: Vec<String>,
    #[serde(default)]
    pub order_last: Vec<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GeneratorArgs {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub behavior: Option<String>,
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub envs: Vec<String>,
    pub env: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub options: Option<GeneratorOptions>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GeneratorOptions {
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub disable_name_suffix_hash: Option<bool>,
    pub immutable: Option<bool>,
}

/// A `replacements` entry: a path to a file, or an inline replacement.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplacementField {
    pub path: Option<String>,
    pub source: Option<SourceSelector>,
    #[serde(default)]
    pub targets: Vec<TargetSelector>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replacement {
    pub source: Option<SourceSelector>,
    #[serde(default)]
    pub targets: Vec<TargetSelector>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SourceSelector {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub field_path: Option<String>,
    pub options: Option<FieldOptions>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetSelector {
    pub select: Option<Selector>,
    #[serde(default)]
    pub reject: Vec<Selector>,
    #[serde(default)]
    pub field_paths: Vec<String>,
    pub options: Option<FieldOptions>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FieldOptions {
    pub delimiter: Option<String>,
    #[serde(default)]
    pub index: i64,
    pub encoding: Option<String>,
    #[serde(default)]
    pub create: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Var {
    pub name: String,
    #[serde(alias = "objref")]
    pub obj_ref: VarTarget,
    #[serde(alias = "fieldref")]
    pub field_ref: Option<FieldRef>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VarTarget {
    #[serde(alias = "apiversion")]
    pub api_version: Option<String>,
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FieldRef {
    #[serde(alias = "fieldpath")]
    pub field_path: Option<String>,
}

/// The shape of a kustomization field, for matching field names the way Go's JSON decoding
/// does (kustomize's): without regard to case, at every level of the file, but never inside
/// free-form maps (labels, annotations, `openapi`, patch options).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    /// A scalar, a list of scalars or a map whose keys are the user's.
    Leaf,
    /// An object with these fields.
    Object(&'static [(&'static str, Shape)]),
    /// A list of objects with these fields.
    List(&'static [(&'static str, Shape)]),
}

use Shape::{Leaf, List, Object};

const FIELD_SPEC: &[(&str, Shape)] =
    &[("group", Leaf), ("version", Leaf), ("kind", Leaf), ("path", Leaf), ("create", Leaf)];
const SELECTOR: &[(&str, Shape)] = &[
    ("group", Leaf),
    ("version", Leaf),
    ("kind", Leaf),
    ("name", Leaf),
    ("namespace", Leaf),
    ("labelSelector", Leaf),
    ("annotationSelector", Leaf),
];
const PATCH: &[(&str, Shape)] = &[("path", Leaf), ("patch", Leaf), ("target", Object(SELECTOR)), ("options", Leaf)];
const IMAGE: &[(&str, Shape)] =
    &[("name", Leaf), ("newName", Leaf), ("newTag", Leaf), ("digest", Leaf), ("tagSuffix", Leaf)];
const REPLICA: &[(&str, Shape)] = &[("name", Leaf), ("count", Leaf)];
const LABEL: &[(&str, Shape)] =
    &[("pairs", Leaf), ("includeSelectors", Leaf), ("includeTemplates", Leaf), ("fields", List(FIELD_SPEC))];
const LEGACY_SORT: &[(&str, Shape)] = &[("orderFirst", Leaf), ("orderLast", Leaf)];
const SORT_OPTIONS: &[(&str, Shape)] = &[("order", Leaf), ("legacySortOptions", Object(LEGACY_SORT))];
const GENERATOR_OPTIONS: &[(&str, Shape)] =
    &[("labels", Leaf), ("annotations", Leaf), ("disableNameSuffixHash", Leaf), ("immutable", Leaf)];
const GENERATOR: &[(&str, Shape)] = &[
    ("name", Leaf),
    ("namespace", Leaf),
    ("behavior", Leaf),
    ("literals", Leaf),
    ("files", Leaf),
    ("envs", Leaf),
    ("env", Leaf),
    ("type", Leaf),
    ("options", Object(GENERATOR_OPTIONS)),
];
const FIELD_OPTIONS: &[(&str, Shape)] = &[("delimiter", Leaf), ("index", Leaf), ("encoding", Leaf), ("create", Leaf)];
const SOURCE: &[(&str, Shape)] = &[
    ("group", Leaf),
    ("version", Leaf),
    ("kind", Leaf),
    ("name", Leaf),
    ("namespace", Leaf),
    ("fieldPath", Leaf),
    ("options", Object(FIELD_OPTIONS)),
];
const TARGET: &[(&str, Shape)] = &[
    ("select", Object(SELECTOR)),
    ("reject", List(SELECTOR)),
    ("fieldPaths", Leaf),
    ("options", Object(FIELD_OPTIONS)),
];
/// A `replacements` entry, or a replacement in its own file.
pub(crate) const REPLACEMENT: &[(&str, Shape)] =
    &[("path", Leaf), ("source", Object(SOURCE)), ("targets", List(TARGET))];
const VAR_TARGET: &[(&str, Shape)] =
    &[("apiVersion", Leaf), ("group", Leaf), ("version", Leaf), ("kind", Leaf), ("name", Leaf), ("namespace", Leaf)];
const VAR: &[(&str, Shape)] = &[
    ("name", Leaf),
    ("objRef", Object(VAR_TARGET)),
    ("objref", Object(VAR_TARGET)),
    ("fieldRef", Object(&[("fieldPath", Leaf)])),
    ("fieldref", Object(&[("fieldPath", Leaf), ("fieldpath", Leaf)])),
];

/// Every field of a kustomization.
pub(crate) const KUSTOMIZATION: &[(&str, Shape)] = &[
    ("apiVersion", Leaf),
    ("kind", Leaf),
    ("metadata", Leaf),
    ("openapi", Leaf),
    ("namePrefix", Leaf),
    ("nameSuffix", Leaf),
    ("namespace", Leaf),
    ("commonLabels", Leaf),
    ("labels", List(LABEL)),
    ("commonAnnotations", Leaf),
    ("patchesStrategicMerge", Leaf),
    ("patchesJson6902", List(PATCH)),
    ("patches", List(PATCH)),
    ("images", List(IMAGE)),
    ("imageTags", List(IMAGE)),
    ("replacements", List(REPLACEMENT)),
    ("replicas", List(REPLICA)),
    ("vars", List(VAR)),
    ("sortOptions", Object(SORT_OPTIONS)),
    ("resources", Leaf),
    ("crds", Leaf),
    ("components", Leaf),
    ("bases", Leaf),
    ("configMapGenerator", List(GENERATOR)),
    ("secretGenerator", List(GENERATOR)),
    ("helmGlobals", Leaf),
    ("helmCharts", Leaf),
    ("helmChartInflationGenerator", Leaf),
    ("generatorOptions", Object(GENERATOR_OPTIONS)),
    ("configurations", Leaf),
    ("generators", Leaf),
    ("transformers", Leaf),
    ("validators", Leaf),
    ("buildMetadata", Leaf),
];

/// Go's case folding of field names: ASCII and Unicode letters compare without case
/// (`ſ` and `K`, the Kelvin sign, fold to `s` and `k`).
fn fold(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ſ' => 's',
            other => other,
        })
        .collect()
}

/// Renames the fields of `value` to their canonical spelling where they match one without
/// regard to case (an exact match first), recursively along `fields`; unknown fields are
/// left for the strict parse to reject. Two spellings of one field behave as in Go: a later
/// map merges into an earlier one, anything else replaces it.
pub(crate) fn canonical_fields(value: Value, fields: &'static [(&'static str, Shape)]) -> Value {
    let Value::Object(map) = value else { return value };
    let mut out = serde_json::Map::new();
    for (key, v) in map {
        let found = fields.iter().find(|(f, _)| *f == key).or_else(|| {
            let folded = fold(&key);
            fields.iter().find(|(f, _)| fold(f) == folded)
        });
        let Some((name, shape)) = found else {
            out.insert(key, v);
            continue;
        };
        let v = match (shape, v) {
            (Object(inner), v) => canonical_fields(v, inner),
            (List(inner), Value::Array(items)) => {
                Value::Array(items.into_iter().map(|item| canonical_fields(item, inner)).collect())
            }
            (_, v) => v,
        };
        match (out.get_mut(*name), v) {
            (Some(Value::Object(existing)), Value::Object(more)) => existing.extend(more),
            (_, v) => {
                out.insert((*name).to_string(), v);
            }
        }
    }
    Value::Object(out)
}
