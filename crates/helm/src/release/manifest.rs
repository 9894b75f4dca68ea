//! Splitting rendered files into manifests and hooks (`manifest.go`, `manifest_sorter.go`).

use std::sync::OnceLock;

use regex::Regex;

use super::sort::by_kind;
use crate::value::Value;
use crate::yaml::decode::{self, Numbers};

/// One document of a rendered file.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The template it came from (`chart/templates/x.yaml`).
    pub name: String,
    /// The document, trimmed.
    pub content: String,
    /// Its `kind`.
    pub kind: String,
    /// Its `apiVersion`.
    pub api_version: String,
}

/// A document annotated with `helm.sh/hook`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    /// `metadata.name`.
    pub name: String,
    /// `kind`.
    pub kind: String,
    /// The template it came from.
    pub path: String,
    /// The document.
    pub manifest: String,
    /// The events (`pre-install`, `test`, ...).
    pub events: Vec<String>,
    /// `helm.sh/hook-weight` (0 when absent or not a number).
    pub weight: i64,
    /// `helm.sh/hook-delete-policy` entries.
    pub delete_policies: Vec<String>,
}

impl Hook {
    /// Whether this is a test hook (`--skip-tests` leaves these out).
    pub fn is_test(&self) -> bool {
        self.events.iter().any(|e| e == "test")
    }
}

/// A document whose head is not valid YAML.
#[derive(Debug, thiserror::Error)]
#[error("YAML parse error on {path}: {message}")]
pub struct Error {
    /// The template.
    pub path: String,
    /// Why, as Go words it.
    pub message: String,
}

const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
];

/// Helm's `SplitManifests`: documents separated by `---` lines, trimmed, empty ones dropped.
pub fn split_manifests(big: &str) -> Vec<String> {
    static SEP: OnceLock<Regex> = OnceLock::new();
    let sep = SEP.get_or_init(|| Regex::new(r"(?:^|\s*\n)---\s*").expect("a valid pattern"));
    sep.split(big.trim()).filter(|d| !d.is_empty()).map(|d| d.trim().to_string()).collect()
}

struct Head {
    api_version: String,
    kind: String,
    name: String,
    annotations: Option<Vec<(String, String)>>,
}

fn string_of(v: Option<&Value>, field: &str) -> Result<String, String> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(Value::Int(i)) => Ok(i.to_string()),
        Some(Value::Float(f)) => Ok(crate::yaml::format_float(*f, 'g', 32)),
        Some(Value::List(_)) => Err(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go struct field {field} of type string"
        )),
        Some(Value::Map(_)) => Err(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal object into Go struct field {field} of type string"
        )),
    }
}

fn head(doc: &str) -> Result<Head, String> {
    let v = decode::from_str(doc, Numbers::Json).map_err(|e| format!("error converting YAML to JSON: {e}"))?;
    let m = match v {
        Value::Map(m) => m,
        Value::Null => Default::default(),
        other => {
            let kind = match other {
                Value::List(_) => "array",
                Value::String(_) => "string",
                Value::Bool(_) => "bool",
                _ => "number",
            };
            return Err(format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {kind} into Go value of type releaseutil.SimpleHead"
            ));
        }
    };
    let api_version = string_of(m.get("apiVersion"), "SimpleHead.apiVersion")?;
    let kind = string_of(m.get("kind"), "SimpleHead.kind")?;
    let (name, annotations) = match m.get("metadata") {
        None | Some(Value::Null) => (String::new(), None),
        Some(Value::Map(md)) => {
            let name = string_of(md.get("name"), "SimpleHead.metadata.name")?;
            let annotations = match md.get("annotations") {
                None | Some(Value::Null) => None,
                Some(Value::Map(a)) => {
                    let mut out = Vec::new();
                    for (k, v) in a {
                        out.push((k.clone(), string_of(Some(v), "SimpleHead.metadata.annotations")?));
                    }
                    Some(out)
                }
                Some(_) => {
                    return Err("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal non-object into Go struct field .metadata.annotations of type map[string]string".into());
                }
            };
            (name, annotations)
        }
        Some(_) => {
            return Err("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal non-object into Go struct field SimpleHead.metadata".into());
        }
    };
    Ok(Head { api_version, kind, name, annotations })
}

/// Helm's `SortManifests` with the install order: files in name order (partials and blank files
/// skipped), their documents in order, hooks apart; both sorted stably by kind.
pub fn sort_manifests<'a>(
    files: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(Vec<Hook>, Vec<Manifest>), Error> {
    let mut hooks = Vec::new();
    let mut generic = Vec::new();
    let mut files: Vec<(&String, &String)> = files.into_iter().collect();
    files.sort_by(|a, b| a.0.cmp(b.0));
    for (path, content) in files {
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || content.trim().is_empty() {
            continue;
        }
        for m in split_manifests(content) {
            let h = head(&m).map_err(|message| Error { path: path.clone(), message })?;
            let hook_types = h
                .annotations
                .as_ref()
                .and_then(|a| a.iter().find(|(k, _)| k == "helm.sh/hook").map(|(_, v)| v.clone()));
            let Some(hook_types) = hook_types else {
                generic.push(Manifest { name: path.clone(), content: m, kind: h.kind, api_version: h.api_version });
                continue;
            };
            let annotations = h.annotations.unwrap_or_default();
            let get = |k: &str| annotations.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
            let weight = get("helm.sh/hook-weight").and_then(|w| go_atoi(&w)).unwrap_or(0);
            let mut events = Vec::new();
            let mut unknown = false;
            for t in hook_types.split(',') {
                let t = t.trim().to_lowercase();
                let t = if t == "test-success" { "test".to_string() } else { t };
                if !HOOK_EVENTS.contains(&t.as_str()) {
                    unknown = true;
                    break;
                }
                events.push(t);
            }
            if unknown {
                continue;
            }
            let delete_policies = get("helm.sh/hook-delete-policy")
                .map(|d| d.split(',').map(|p| p.trim().to_lowercase()).collect())
                .unwrap_or_default();
            hooks.push(Hook {
                name: h.name,
                kind: h.kind,
                path: path.clone(),
                manifest: m,
                events,
                weight,
                delete_policies,
            });
        }
    }
    hooks.sort_by(|a, b| by_kind(&a.kind, &b.kind));
    generic.sort_by(|a, b| by_kind(&a.kind, &b.kind));
    Ok((hooks, generic))
}

/// Go's `strconv.Atoi`.
fn go_atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_like_helm() {
        assert_eq!(split_manifests("---\na: 1\n---\n\n---   \nb: 2\n"), vec!["a: 1", "---   \nb: 2"]);
        assert_eq!(split_manifests("a: 1\n---\nb: 2"), vec!["a: 1", "b: 2"]);
    }

    #[test]
    fn hooks_and_order() {
        let files = [
            ("c/templates/a.yaml".to_string(), "kind: Deployment\nmetadata: {name: d}\n---\nkind: Service\n".to_string()),
            (
                "c/templates/hook.yaml".to_string(),
                "kind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: pre-install,test-success\n    helm.sh/hook-weight: \"5\"\n"
                    .to_string(),
            ),
            ("c/templates/_p.tpl".to_string(), "kind: X".to_string()),
        ];
        let (hooks, manifests) = sort_manifests(files.iter().map(|(a, b)| (a, b))).unwrap();
        assert_eq!(manifests.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(), vec!["Service", "Deployment"]);
        assert_eq!(hooks[0].events, vec!["pre-install", "test"]);
        assert_eq!(hooks[0].weight, 5);
        let bad = [("c/templates/b.yaml".to_string(), "a: [".to_string())];
        assert!(
            sort_manifests(bad.iter().map(|(a, b)| (a, b)))
                .unwrap_err()
                .to_string()
                .starts_with("YAML parse error on c/templates/b.yaml")
        );
    }
}
