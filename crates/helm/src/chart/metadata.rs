//! Chart.yaml (`pkg/chart/metadata.go`, `dependency.go`): fields, the string coercion
//! `sigs.k8s.io/yaml` applies to string fields, and Helm's validation with its messages.

use std::collections::BTreeMap;

use crate::value::{Map, Value};

/// A chart's maintainer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Maintainer {
    /// Name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// URL.
    pub url: String,
}

/// One entry of `dependencies` (Chart.yaml v2, requirements.yaml v1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dependency {
    /// The subchart's name.
    pub name: String,
    /// A semver range the vendored subchart's version must satisfy.
    pub version: String,
    /// Where it came from (unused for rendering).
    pub repository: String,
    /// Comma-separated values paths whose first boolean enables the subchart.
    pub condition: String,
    /// Tags under `tags:` in values that enable or disable it.
    pub tags: Vec<String>,
    /// Whether it is enabled, as computed by condition and tags.
    pub enabled: bool,
    /// `import-values`: strings (`exports.x`) or `{child, parent}` maps.
    pub import_values: Vec<Value>,
    /// The name it is used under instead of its own.
    pub alias: String,
}

/// Chart.yaml.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    /// name.
    pub name: String,
    /// home.
    pub home: String,
    /// sources.
    pub sources: Vec<String>,
    /// version (SemVer 2).
    pub version: String,
    /// description.
    pub description: String,
    /// keywords.
    pub keywords: Vec<String>,
    /// maintainers.
    pub maintainers: Vec<Maintainer>,
    /// icon.
    pub icon: String,
    /// apiVersion (`v1` or `v2`).
    pub api_version: String,
    /// condition (unused by Helm 3 itself).
    pub condition: String,
    /// tags (unused by Helm 3 itself).
    pub tags: String,
    /// appVersion.
    pub app_version: String,
    /// deprecated.
    pub deprecated: bool,
    /// annotations.
    pub annotations: BTreeMap<String, String>,
    /// kubeVersion: a semver range of Kubernetes versions.
    pub kube_version: String,
    /// dependencies.
    pub dependencies: Vec<Dependency>,
    /// type: `application` (or empty) or `library`.
    pub chart_type: String,
}

/// Chart.yaml that cannot be read into the fields, or fails Helm's validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A field has a type Go's JSON decoder would refuse.
    #[error("json: cannot unmarshal {found} into Go struct field {field} of type {want}")]
    FieldType {
        /// `Metadata.name`, ….
        field: String,
        /// The JSON type found.
        found: &'static str,
        /// The Go type wanted.
        want: &'static str,
    },
    /// The whole document is not a map.
    #[error("json: cannot unmarshal {0} into Go value of type chart.Metadata")]
    NotAMap(&'static str),
    /// Helm's `ValidationError`.
    #[error("validation: {0}")]
    Validation(String),
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::Float(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "array",
        Value::Map(_) => "object",
    }
}

/// A string field: numbers and booleans are written as strings first, as `sigs.k8s.io/yaml`
/// does when the target field is a string.
fn string_field(m: &Map, key: &str, field: &str) -> Result<String, Error> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(Value::Int(i)) => Ok(i.to_string()),
        Some(Value::Float(f)) => Ok(crate::yaml::format_float(*f, 'g', 32)),
        Some(other) => Err(Error::FieldType { field: field.into(), found: json_kind(other), want: "string" }),
    }
}

fn string_list(m: &Map, key: &str, field: &str) -> Result<Vec<String>, Error> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::List(items)) => items
            .iter()
            .map(|v| {
                let mut one = Map::new();
                one.insert(key.to_string(), v.clone());
                string_field(&one, key, field)
            })
            .collect(),
        Some(other) => Err(Error::FieldType { field: field.into(), found: json_kind(other), want: "[]string" }),
    }
}

impl Metadata {
    /// Reads the fields of a parsed Chart.yaml.
    pub fn from_value(doc: &Value) -> Result<Metadata, Error> {
        let mut md = Metadata::default();
        md.merge_from(doc)?;
        Ok(md)
    }

    /// Decodes `doc` over `self`, as `yaml.Unmarshal` into an existing struct does (how Helm adds
    /// requirements.yaml to a v1 chart's metadata).
    pub fn merge_from(&mut self, doc: &Value) -> Result<(), Error> {
        let m = match doc {
            Value::Map(m) => m,
            Value::Null => return Ok(()),
            other => return Err(Error::NotAMap(json_kind(other))),
        };
        let f = |k: &str, go: &str| string_field(m, k, &format!("Metadata.{go}"));
        macro_rules! set_str {
            ($field:ident, $key:literal, $go:literal) => {
                if m.contains_key($key) {
                    self.$field = f($key, $go)?;
                }
            };
        }
        set_str!(name, "name", "name");
        set_str!(home, "home", "home");
        set_str!(version, "version", "version");
        set_str!(description, "description", "description");
        set_str!(icon, "icon", "icon");
        set_str!(api_version, "apiVersion", "apiVersion");
        set_str!(condition, "condition", "condition");
        set_str!(tags, "tags", "tags");
        set_str!(app_version, "appVersion", "appVersion");
        set_str!(kube_version, "kubeVersion", "kubeVersion");
        set_str!(chart_type, "type", "type");
        if m.contains_key("sources") {
            self.sources = string_list(m, "sources", "Metadata.sources")?;
        }
        if m.contains_key("keywords") {
            self.keywords = string_list(m, "keywords", "Metadata.keywords")?;
        }
        match m.get("deprecated") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => self.deprecated = *b,
            Some(other) => {
                return Err(Error::FieldType {
                    field: "Metadata.deprecated".into(),
                    found: json_kind(other),
                    want: "bool",
                });
            }
        }
        match m.get("annotations") {
            None | Some(Value::Null) => {}
            Some(Value::Map(a)) => {
                let mut out = BTreeMap::new();
                for k in a.keys() {
                    out.insert(k.clone(), string_field(a, k, "Metadata.annotations")?);
                }
                self.annotations = out;
            }
            Some(other) => {
                return Err(Error::FieldType {
                    field: "Metadata.annotations".into(),
                    found: json_kind(other),
                    want: "map[string]string",
                });
            }
        }
        match m.get("maintainers") {
            None | Some(Value::Null) => {}
            Some(Value::List(items)) => {
                self.maintainers = Vec::new();
                for item in items {
                    match item {
                        Value::Map(mm) => self.maintainers.push(Maintainer {
                            name: string_field(mm, "name", "Maintainer.name")?,
                            email: string_field(mm, "email", "Maintainer.email")?,
                            url: string_field(mm, "url", "Maintainer.url")?,
                        }),
                        Value::Null => {
                            return Err(Error::Validation("maintainers must not contain empty or null nodes".into()));
                        }
                        other => {
                            return Err(Error::FieldType {
                                field: "Metadata.maintainers".into(),
                                found: json_kind(other),
                                want: "chart.Maintainer",
                            });
                        }
                    }
                }
            }
            Some(other) => {
                return Err(Error::FieldType {
                    field: "Metadata.maintainers".into(),
                    found: json_kind(other),
                    want: "[]*chart.Maintainer",
                });
            }
        }
        match m.get("dependencies") {
            None | Some(Value::Null) => {}
            Some(Value::List(items)) => {
                self.dependencies = Vec::new();
                for item in items {
                    match item {
                        Value::Map(d) => self.dependencies.push(Dependency::from_map(d)?),
                        Value::Null => {
                            return Err(Error::Validation("dependencies must not contain empty or null nodes".into()));
                        }
                        other => {
                            return Err(Error::FieldType {
                                field: "Metadata.dependencies".into(),
                                found: json_kind(other),
                                want: "chart.Dependency",
                            });
                        }
                    }
                }
            }
            Some(other) => {
                return Err(Error::FieldType {
                    field: "Metadata.dependencies".into(),
                    found: json_kind(other),
                    want: "[]*chart.Dependency",
                });
            }
        }
        Ok(())
    }

    /// Helm's `Metadata.Validate`: sanitizes strings and checks the required fields.
    pub fn validate(&mut self) -> Result<(), Error> {
        for s in [
            &mut self.name,
            &mut self.description,
            &mut self.home,
            &mut self.icon,
            &mut self.condition,
            &mut self.tags,
            &mut self.app_version,
            &mut self.kube_version,
        ] {
            *s = sanitize(s);
        }
        for s in self.sources.iter_mut().chain(self.keywords.iter_mut()) {
            *s = sanitize(s);
        }
        let v = |m: &str| Err(Error::Validation(m.to_string()));
        if self.api_version.is_empty() {
            return v("chart.metadata.apiVersion is required");
        }
        if self.name.is_empty() {
            return v("chart.metadata.name is required");
        }
        if self.name == "." || self.name == ".." {
            return v(&format!("chart.metadata.name {} is not allowed", go_quote(&self.name)));
        }
        if self.name.contains('/') || self.name.contains(std::path::MAIN_SEPARATOR) {
            return v(&format!("chart.metadata.name {} is invalid", go_quote(&self.name)));
        }
        if self.version.is_empty() {
            return v("chart.metadata.version is required");
        }
        if self.version.parse::<ferry_semver::Version>().is_err() {
            return v(&format!("chart.metadata.version {} is invalid", go_quote(&self.version)));
        }
        if !matches!(self.chart_type.as_str(), "" | "application" | "library") {
            return v("chart.metadata.type must be application or library");
        }
        for m in &mut self.maintainers {
            m.name = sanitize(&m.name);
            m.email = sanitize(&m.email);
            m.url = sanitize(&m.url);
        }
        let mut seen = std::collections::HashSet::new();
        for d in &mut self.dependencies {
            d.name = sanitize(&d.name);
            d.version = sanitize(&d.version);
            d.repository = sanitize(&d.repository);
            d.condition = sanitize(&d.condition);
            for t in &mut d.tags {
                *t = sanitize(t);
            }
            if !d.alias.is_empty() && !d.alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return v(&format!("dependency {} has disallowed characters in the alias", go_quote(&d.name)));
            }
            let key = if d.alias.is_empty() { d.name.clone() } else { d.alias.clone() };
            if !seen.insert(key.clone()) {
                return v(&format!("more than one dependency with name or alias {}", go_quote(&key)));
            }
        }
        Ok(())
    }

    /// The metadata as templates see `.Chart`: Go's field names.
    pub fn to_template_value(&self) -> Value {
        let s = |x: &str| Value::String(x.to_string());
        let list = |x: &[String]| {
            if x.is_empty() { Value::Null } else { Value::List(x.iter().map(|i| s(i)).collect()) }
        };
        let mut m = Map::new();
        m.insert("Name".into(), s(&self.name));
        m.insert("Home".into(), s(&self.home));
        m.insert("Sources".into(), list(&self.sources));
        m.insert("Version".into(), s(&self.version));
        m.insert("Description".into(), s(&self.description));
        m.insert("Keywords".into(), list(&self.keywords));
        m.insert(
            "Maintainers".into(),
            if self.maintainers.is_empty() {
                Value::Null
            } else {
                Value::List(
                    self.maintainers
                        .iter()
                        .map(|mt| {
                            Value::Map(Map::from([
                                ("Name".to_string(), s(&mt.name)),
                                ("Email".to_string(), s(&mt.email)),
                                ("URL".to_string(), s(&mt.url)),
                            ]))
                        })
                        .collect(),
                )
            },
        );
        m.insert("Icon".into(), s(&self.icon));
        m.insert("APIVersion".into(), s(&self.api_version));
        m.insert("Condition".into(), s(&self.condition));
        m.insert("Tags".into(), s(&self.tags));
        m.insert("AppVersion".into(), s(&self.app_version));
        m.insert("Deprecated".into(), Value::Bool(self.deprecated));
        m.insert(
            "Annotations".into(),
            if self.annotations.is_empty() {
                Value::Null
            } else {
                Value::Map(self.annotations.iter().map(|(k, v)| (k.clone(), s(v))).collect())
            },
        );
        m.insert("KubeVersion".into(), s(&self.kube_version));
        m.insert(
            "Dependencies".into(),
            if self.dependencies.is_empty() {
                Value::Null
            } else {
                Value::List(self.dependencies.iter().map(Dependency::to_template_value).collect())
            },
        );
        m.insert("Type".into(), s(&self.chart_type));
        Value::Map(m)
    }
}

impl Dependency {
    fn from_map(d: &Map) -> Result<Dependency, Error> {
        let f = |k: &str| string_field(d, k, &format!("Dependency.{k}"));
        let import_values = match d.get("import-values") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::List(items)) => items.clone(),
            Some(other) => {
                return Err(Error::FieldType {
                    field: "Dependency.import-values".into(),
                    found: json_kind(other),
                    want: "[]interface {}",
                });
            }
        };
        let enabled = match d.get("enabled") {
            Some(Value::Bool(b)) => *b,
            None | Some(Value::Null) => false,
            Some(other) => {
                return Err(Error::FieldType {
                    field: "Dependency.enabled".into(),
                    found: json_kind(other),
                    want: "bool",
                });
            }
        };
        Ok(Dependency {
            name: f("name")?,
            version: f("version")?,
            repository: f("repository")?,
            condition: f("condition")?,
            tags: string_list(d, "tags", "Dependency.tags")?,
            enabled,
            import_values,
            alias: f("alias")?,
        })
    }

    fn to_template_value(&self) -> Value {
        let s = |x: &str| Value::String(x.to_string());
        Value::Map(Map::from([
            ("Name".to_string(), s(&self.name)),
            ("Version".to_string(), s(&self.version)),
            ("Repository".to_string(), s(&self.repository)),
            ("Condition".to_string(), s(&self.condition)),
            (
                "Tags".to_string(),
                if self.tags.is_empty() { Value::Null } else { Value::List(self.tags.iter().map(|t| s(t)).collect()) },
            ),
            ("Enabled".to_string(), Value::Bool(self.enabled)),
            (
                "ImportValues".to_string(),
                if self.import_values.is_empty() { Value::Null } else { Value::List(self.import_values.clone()) },
            ),
            ("Alias".to_string(), s(&self.alias)),
        ]))
    }
}

/// Go's `%q` for simple strings.
pub(crate) fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Helm's `sanitizeString`: whitespace becomes a space, unprintable characters are dropped.
fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_whitespace() {
                Some(' ')
            } else if c.is_control() {
                None
            } else {
                Some(c)
            }
        })
        .collect()
}
