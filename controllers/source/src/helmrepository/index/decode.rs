//! Reading an index as Helm does through `sigs.k8s.io/yaml`: JSON when the
//! bytes are valid JSON (lenient: unknown fields are ignored), else YAML
//! converted to JSON with the target types in mind (a YAML number or bool
//! where a string is expected becomes a string) and decoded strictly
//! (unknown fields refused). Go's decoder matches keys case-insensitively,
//! leaves a field alone on `null`, and refuses a value of the wrong type.

use std::collections::BTreeMap;

use super::golang::{format_float32_g, normalize_time};
use super::{Any, ChartVersion, Dependency, IndexFile, Maintainer, Metadata};

/// Why the bytes are no index Helm can read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The YAML does not parse.
    #[error("error converting YAML to JSON: {0}")]
    Yaml(#[source] serde_yaml_ng::Error),
    /// A mapping key is itself a mapping or a sequence, which JSON cannot
    /// hold (Go's `sigs.k8s.io/yaml` refuses it in the same step).
    #[error("error converting YAML to JSON: unsupported map key: {0}")]
    UnsupportedKey(String),
    /// A value has the wrong type, or a field is unknown.
    #[error("{prefix}{message}")]
    Json {
        /// `error unmarshaling JSON: while decoding JSON: ` for YAML input, as
        /// `sigs.k8s.io/yaml` says it.
        prefix: &'static str,
        /// Go's wording.
        message: String,
    },
}

/// A document as `sigs.k8s.io/yaml` hands it to Go's JSON decoder.
#[derive(Debug, Clone)]
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "bool",
            Node::Int(_) | Node::UInt(_) | Node::Float(_) => "number",
            Node::Str(_) => "string",
            Node::Seq(_) => "array",
            Node::Map(_) => "object",
        }
    }
}

/// The Go type a YAML value is converted for (`convertToJSONableObject`'s
/// `jsonTarget`): only strings convert, structs and maps pass their field
/// and element types down.
#[derive(Clone, Copy)]
enum Target {
    Str,
    Opaque,
    Struct(&'static [(&'static str, Target)]),
    Map(&'static Target),
    Slice(&'static Target),
}

const STR_SLICE: Target = Target::Slice(&Target::Str);
const MAINTAINER: &[(&str, Target)] = &[("name", Target::Str), ("email", Target::Str), ("url", Target::Str)];
const DEPENDENCY: &[(&str, Target)] = &[
    ("name", Target::Str),
    ("version", Target::Str),
    ("repository", Target::Str),
    ("condition", Target::Str),
    ("tags", STR_SLICE),
    ("enabled", Target::Opaque),
    ("import-values", Target::Slice(&Target::Opaque)),
    ("alias", Target::Str),
];
const METADATA: &[(&str, Target)] = &[
    ("name", Target::Str),
    ("home", Target::Str),
    ("sources", STR_SLICE),
    ("version", Target::Str),
    ("description", Target::Str),
    ("keywords", STR_SLICE),
    ("maintainers", Target::Slice(&Target::Struct(MAINTAINER))),
    ("icon", Target::Str),
    ("apiVersion", Target::Str),
    ("condition", Target::Str),
    ("tags", Target::Str),
    ("appVersion", Target::Str),
    ("deprecated", Target::Opaque),
    ("annotations", Target::Map(&Target::Str)),
    ("kubeVersion", Target::Str),
    ("dependencies", Target::Slice(&Target::Struct(DEPENDENCY))),
    ("type", Target::Str),
];
/// The fields promoted from the embedded `*chart.Metadata` convert against
/// the Metadata struct itself (`t.Field(f.index[0])`), not their own type:
/// so a numeric `version` of a chart version stays a number, and fails.
const PROMOTED: Target = Target::Struct(METADATA);
const CHART_VERSION: &[(&str, Target)] = &[
    ("name", PROMOTED),
    ("home", PROMOTED),
    ("sources", PROMOTED),
    ("version", PROMOTED),
    ("description", PROMOTED),
    ("keywords", PROMOTED),
    ("maintainers", PROMOTED),
    ("icon", PROMOTED),
    ("apiVersion", PROMOTED),
    ("condition", PROMOTED),
    ("tags", PROMOTED),
    ("appVersion", PROMOTED),
    ("deprecated", PROMOTED),
    ("annotations", PROMOTED),
    ("kubeVersion", PROMOTED),
    ("dependencies", PROMOTED),
    ("type", PROMOTED),
    ("urls", STR_SLICE),
    ("created", Target::Opaque),
    ("removed", Target::Opaque),
    ("digest", Target::Str),
    ("checksum", Target::Str),
    ("engine", Target::Str),
    ("tillerVersion", Target::Str),
    ("url", Target::Str),
];
const INDEX: Target = Target::Struct(&[
    ("serverInfo", Target::Map(&Target::Opaque)),
    ("apiVersion", Target::Str),
    ("generated", Target::Opaque),
    ("entries", Target::Map(&Target::Slice(&Target::Struct(CHART_VERSION)))),
    ("publicKeys", STR_SLICE),
    ("annotations", Target::Map(&Target::Str)),
]);

/// The index in `data`, read as Helm reads it (no validation yet).
pub fn read(data: &[u8]) -> Result<IndexFile, Error> {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        let mut d = Decoder { strict: false, prefix: "" };
        return d.index(&from_json(json));
    }
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_slice(data).map_err(Error::Yaml)?;
    let node = from_yaml(yaml, Some(INDEX))?;
    let mut d = Decoder { strict: true, prefix: "error unmarshaling JSON: while decoding JSON: " };
    d.index(&node)
}

fn from_json(value: serde_json::Value) -> Node {
    use serde_json::Value as V;
    match value {
        V::Null => Node::Null,
        V::Bool(b) => Node::Bool(b),
        V::Number(n) => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
        V::String(s) => Node::Str(s),
        V::Array(items) => Node::Seq(items.into_iter().map(from_json).collect()),
        V::Object(map) => Node::Map(map.into_iter().map(|(k, v)| (k, from_json(v))).collect()),
    }
}

/// The field of `fields` a key names: the exact name, else the first that
/// matches ignoring ASCII case, as Go's decoder does.
fn find_field(fields: &[(&'static str, Target)], key: &str) -> Option<usize> {
    fields.iter().position(|(n, _)| *n == key).or_else(|| fields.iter().position(|(n, _)| n.eq_ignore_ascii_case(key)))
}

fn from_yaml(value: serde_yaml_ng::Value, target: Option<Target>) -> Result<Node, Error> {
    use serde_yaml_ng::Value as V;
    let to_string = matches!(target, Some(Target::Str));
    Ok(match value {
        V::Null => Node::Null,
        V::Bool(b) if to_string => Node::Str(b.to_string()),
        V::Bool(b) => Node::Bool(b),
        V::Number(n) => {
            let node = if let Some(i) = n.as_i64() {
                Node::Int(i)
            } else if let Some(u) = n.as_u64() {
                Node::UInt(u)
            } else {
                Node::Float(n.as_f64().unwrap_or(f64::NAN))
            };
            match node {
                Node::Int(i) if to_string => Node::Str(i.to_string()),
                Node::UInt(u) if to_string => Node::Str(u.to_string()),
                Node::Float(f) if to_string => Node::Str(format_float32_g(f)),
                other => other,
            }
        }
        V::String(s) => Node::Str(s),
        V::Sequence(items) => {
            let element = match target {
                Some(Target::Slice(t)) => Some(*t),
                _ => None,
            };
            Node::Seq(items.into_iter().map(|v| from_yaml(v, element)).collect::<Result<_, _>>()?)
        }
        V::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = match k {
                    V::String(s) => s,
                    V::Bool(b) => b.to_string(),
                    V::Number(n) => match (n.as_i64(), n.as_u64()) {
                        (Some(i), _) => i.to_string(),
                        (_, Some(u)) => u.to_string(),
                        _ => match format_float32_g(n.as_f64().unwrap_or(f64::NAN)).as_str() {
                            "+Inf" => ".inf".to_string(),
                            "-Inf" => "-.inf".to_string(),
                            "NaN" => ".nan".to_string(),
                            s => s.to_string(),
                        },
                    },
                    other => return Err(Error::UnsupportedKey(format!("{other:?}"))),
                };
                let child = match target {
                    Some(Target::Struct(fields)) => find_field(fields, &key).map(|i| fields[i].1),
                    Some(Target::Map(t)) => Some(*t),
                    _ => None,
                };
                entries.push((key, from_yaml(v, child)?));
            }
            // The YAML map goes through a Go map and `json.Marshal`, which
            // writes its keys sorted: that is the order Go's decoder sees
            // them in (it matters when two keys fold to one field).
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Node::Map(entries)
        }
        V::Tagged(tagged) => from_yaml(tagged.value, target)?,
    })
}

/// Go's JSON decoding into Helm's types.
struct Decoder {
    strict: bool,
    prefix: &'static str,
}

type R<T> = Result<T, Error>;

impl Decoder {
    fn fail(&self, message: String) -> Error {
        Error::Json { prefix: self.prefix, message }
    }

    fn mismatch(&self, node: &Node, field: &str, go_type: &str) -> Error {
        self.fail(format!("json: cannot unmarshal {} into Go struct field {field} of type {go_type}", node.kind()))
    }

    /// The pairs of an object, or `None` for `null`.
    fn object<'n>(&self, node: &'n Node, field: &str, go_type: &str) -> R<Option<&'n [(String, Node)]>> {
        match node {
            Node::Null => Ok(None),
            Node::Map(pairs) => Ok(Some(pairs)),
            other => Err(self.mismatch(other, field, go_type)),
        }
    }

    /// Each key of an object matched to one of `fields`; unknown keys are
    /// errors when strict.
    fn fields<'n>(&self, pairs: &'n [(String, Node)], fields: &[&'static str]) -> R<Vec<(&'static str, &'n Node)>> {
        let mut out = Vec::new();
        for (key, value) in pairs {
            let found =
                fields.iter().find(|n| **n == key).or_else(|| fields.iter().find(|n| n.eq_ignore_ascii_case(key)));
            match found {
                Some(name) => out.push((*name, value)),
                None if self.strict => return Err(self.fail(format!("json: unknown field \"{key}\""))),
                None => {}
            }
        }
        Ok(out)
    }

    fn string(&self, node: &Node, into: &mut String, field: &str) -> R<()> {
        match node {
            Node::Null => Ok(()),
            Node::Str(s) => {
                *into = s.clone();
                Ok(())
            }
            other => Err(self.mismatch(other, field, "string")),
        }
    }

    fn boolean(&self, node: &Node, into: &mut bool, field: &str) -> R<()> {
        match node {
            Node::Null => Ok(()),
            Node::Bool(b) => {
                *into = *b;
                Ok(())
            }
            other => Err(self.mismatch(other, field, "bool")),
        }
    }

    fn time(&self, node: &Node, into: &mut Option<String>, field: &str) -> R<()> {
        match node {
            Node::Null => Ok(()),
            Node::Str(s) => {
                *into = Some(normalize_time(s).map_err(|e| self.fail(e.to_string()))?);
                Ok(())
            }
            _ => Err(self.fail(format!("Time.UnmarshalJSON: input is not a JSON string (field {field})"))),
        }
    }

    fn strings(&self, node: &Node, field: &str) -> R<Option<Vec<String>>> {
        match node {
            Node::Null => Ok(None),
            Node::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let mut s = String::new();
                    self.string(item, &mut s, field)?;
                    out.push(s);
                }
                Ok(Some(out))
            }
            other => Err(self.mismatch(other, field, "[]string")),
        }
    }

    fn string_map(&self, node: &Node, field: &str) -> R<Option<BTreeMap<String, String>>> {
        let Some(pairs) = self.object(node, field, "map[string]string")? else { return Ok(None) };
        let mut out = BTreeMap::new();
        for (k, v) in pairs {
            let mut s = String::new();
            self.string(v, &mut s, field)?;
            out.insert(k.clone(), s);
        }
        Ok(Some(out))
    }

    fn any(node: &Node) -> Any {
        match node {
            Node::Null => Any::Null,
            Node::Bool(b) => Any::Bool(*b),
            Node::Int(i) => Any::Number(*i as f64),
            Node::UInt(u) => Any::Number(*u as f64),
            Node::Float(f) => Any::Number(*f),
            Node::Str(s) => Any::String(s.clone()),
            Node::Seq(items) => Any::Array(items.iter().map(Self::any).collect()),
            Node::Map(pairs) => Any::Object(pairs.iter().map(|(k, v)| (k.clone(), Self::any(v))).collect()),
        }
    }

    fn index(&mut self, node: &Node) -> R<IndexFile> {
        let mut index = IndexFile::default();
        let Some(pairs) = self.object(node, "", "repo.IndexFile")? else { return Ok(index) };
        let names = ["serverInfo", "apiVersion", "generated", "entries", "publicKeys", "annotations"];
        for (name, value) in self.fields(pairs, &names)? {
            match name {
                "serverInfo" => {
                    index.server_info = self
                        .object(value, "IndexFile.serverInfo", "map[string]interface {}")?
                        .map(|pairs| pairs.iter().map(|(k, v)| (k.clone(), Self::any(v))).collect())
                }
                "apiVersion" => self.string(value, &mut index.api_version, "IndexFile.apiVersion")?,
                "generated" => self.time(value, &mut index.generated, "IndexFile.generated")?,
                "entries" => {
                    index.entries = match self.object(value, "IndexFile.entries", "map[string]repo.ChartVersions")? {
                        None => None,
                        Some(pairs) => {
                            let mut entries = BTreeMap::new();
                            for (chart, versions) in pairs {
                                entries.insert(chart.clone(), self.chart_versions(versions)?);
                            }
                            Some(entries)
                        }
                    }
                }
                "publicKeys" => index.public_keys = self.strings(value, "IndexFile.publicKeys")?,
                _ => index.annotations = self.string_map(value, "IndexFile.annotations")?,
            }
        }
        Ok(index)
    }

    fn chart_versions(&self, node: &Node) -> R<Option<Vec<Option<ChartVersion>>>> {
        match node {
            Node::Null => Ok(None),
            Node::Seq(items) => items
                .iter()
                .map(|item| match item {
                    Node::Null => Ok(None),
                    other => self.chart_version(other).map(Some),
                })
                .collect::<R<Vec<_>>>()
                .map(Some),
            other => Err(self.mismatch(other, "IndexFile.entries", "repo.ChartVersions")),
        }
    }

    fn chart_version(&self, node: &Node) -> R<ChartVersion> {
        let mut cv = ChartVersion::default();
        let pairs = self.object(node, "IndexFile.entries", "repo.ChartVersion")?.unwrap_or_default();
        let names: Vec<&'static str> = CHART_VERSION.iter().map(|(n, _)| *n).collect();
        let mut metadata_pairs = Vec::new();
        for (name, value) in self.fields(pairs, &names)? {
            let field = format!("ChartVersion.entries.{name}");
            match name {
                "urls" => cv.urls = self.strings(value, &field)?,
                "created" => self.time(value, &mut cv.created, &field)?,
                "removed" => self.boolean(value, &mut cv.removed, &field)?,
                "digest" => self.string(value, &mut cv.digest, &field)?,
                "checksum" => self.string(value, &mut cv.checksum, &field)?,
                "engine" => self.string(value, &mut cv.engine, &field)?,
                "tillerVersion" => self.string(value, &mut cv.tiller_version, &field)?,
                "url" => self.string(value, &mut cv.url, &field)?,
                promoted => metadata_pairs.push((promoted, value)),
            }
        }
        if !metadata_pairs.is_empty() {
            let mut md = Metadata::default();
            for (name, value) in metadata_pairs {
                self.metadata_field(&mut md, name, value, &format!("ChartVersion.entries.{name}"))?;
            }
            cv.metadata = Some(md);
        }
        Ok(cv)
    }

    fn metadata_field(&self, md: &mut Metadata, name: &str, value: &Node, field: &str) -> R<()> {
        match name {
            "name" => self.string(value, &mut md.name, field),
            "home" => self.string(value, &mut md.home, field),
            "sources" => self.strings(value, field).map(|v| md.sources = v.unwrap_or_default()),
            "version" => self.string(value, &mut md.version, field),
            "description" => self.string(value, &mut md.description, field),
            "keywords" => self.strings(value, field).map(|v| md.keywords = v.unwrap_or_default()),
            "maintainers" => {
                md.maintainers = match value {
                    Node::Null => Vec::new(),
                    Node::Seq(items) => items.iter().map(|item| self.maintainer(item, field)).collect::<R<Vec<_>>>()?,
                    other => return Err(self.mismatch(other, field, "[]*chart.Maintainer")),
                };
                Ok(())
            }
            "icon" => self.string(value, &mut md.icon, field),
            "apiVersion" => self.string(value, &mut md.api_version, field),
            "condition" => self.string(value, &mut md.condition, field),
            "tags" => self.string(value, &mut md.tags, field),
            "appVersion" => self.string(value, &mut md.app_version, field),
            "deprecated" => self.boolean(value, &mut md.deprecated, field),
            "annotations" => self.string_map(value, field).map(|v| md.annotations = v.unwrap_or_default()),
            "kubeVersion" => self.string(value, &mut md.kube_version, field),
            "dependencies" => {
                md.dependencies = match value {
                    Node::Null => Vec::new(),
                    Node::Seq(items) => items.iter().map(|item| self.dependency(item, field)).collect::<R<Vec<_>>>()?,
                    other => return Err(self.mismatch(other, field, "[]*chart.Dependency")),
                };
                Ok(())
            }
            _ => self.string(value, &mut md.type_, field),
        }
    }

    fn maintainer(&self, node: &Node, field: &str) -> R<Option<Maintainer>> {
        let Some(pairs) = self.object(node, field, "chart.Maintainer")? else { return Ok(None) };
        let mut m = Maintainer::default();
        for (name, value) in self.fields(pairs, &["name", "email", "url"])? {
            let into = match name {
                "name" => &mut m.name,
                "email" => &mut m.email,
                _ => &mut m.url,
            };
            self.string(value, into, field)?;
        }
        Ok(Some(m))
    }

    fn dependency(&self, node: &Node, field: &str) -> R<Option<Dependency>> {
        let Some(pairs) = self.object(node, field, "chart.Dependency")? else { return Ok(None) };
        let mut d = Dependency::default();
        let names: Vec<&'static str> = DEPENDENCY.iter().map(|(n, _)| *n).collect();
        for (name, value) in self.fields(pairs, &names)? {
            match name {
                "name" => self.string(value, &mut d.name, field)?,
                "version" => self.string(value, &mut d.version, field)?,
                "repository" => self.string(value, &mut d.repository, field)?,
                "condition" => self.string(value, &mut d.condition, field)?,
                "tags" => d.tags = self.strings(value, field)?.unwrap_or_default(),
                "enabled" => self.boolean(value, &mut d.enabled, field)?,
                "import-values" => {
                    d.import_values = match value {
                        Node::Null => Vec::new(),
                        Node::Seq(items) => items.iter().map(Self::any).collect(),
                        other => return Err(self.mismatch(other, field, "[]interface {}")),
                    }
                }
                _ => self.string(value, &mut d.alias, field)?,
            }
        }
        Ok(Some(d))
    }
}
