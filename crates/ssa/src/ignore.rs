//! `spec.ignore`: JSON pointers to fields of selected objects that the manager leaves as they
//! are in the cluster. As in Flux, ignored fields do not count as drift, and when an object is
//! applied anyway the drifted ignored fields are taken out of the payload (another applier
//! owns them) or set to their live value (nobody else owns them), so the live value stays.

use std::collections::BTreeMap;

use ferry_api_meta::{IgnoreRule, Selector};
use regex::Regex;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::object::split_api_version;

/// Ignore rules with their selectors compiled.
#[derive(Debug, Default)]
pub(crate) struct CompiledRules {
    rules: Vec<(Option<CompiledSelector>, Vec<Vec<String>>)>,
}

#[derive(Debug)]
struct CompiledSelector {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Option<Vec<Requirement>>,
    annotations: Option<Vec<Requirement>>,
}

impl CompiledRules {
    /// Compiles the rules; a bad regular expression, selector or pointer is an error.
    pub(crate) fn compile(rules: &[IgnoreRule]) -> Result<Self> {
        let mut compiled = Vec::with_capacity(rules.len());
        for rule in rules {
            let selector = rule.target.as_ref().map(CompiledSelector::compile).transpose()?;
            let paths = rule.paths.iter().map(|p| parse_pointer(p)).collect::<Result<Vec<_>>>()?;
            compiled.push((selector, paths));
        }
        Ok(Self { rules: compiled })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The pointers (as segments) that apply to `object`.
    pub(crate) fn paths_for(&self, object: &Value) -> Vec<Vec<String>> {
        let mut paths = Vec::new();
        for (selector, rule_paths) in &self.rules {
            if selector.as_ref().is_none_or(|s| s.matches(object)) {
                for path in rule_paths {
                    if !paths.contains(path) {
                        paths.push(path.clone());
                    }
                }
            }
        }
        paths
    }
}

fn anchored(field: &str, pattern: &Option<String>) -> Result<Option<Regex>> {
    match pattern.as_deref() {
        None | Some("") => Ok(None),
        Some(pattern) => Regex::new(&format!("^(?:{pattern})$"))
            .map(Some)
            .map_err(|e| Error::InvalidIgnoreRule(format!("target {field} {pattern:?}: {e}"))),
    }
}

impl CompiledSelector {
    fn compile(selector: &Selector) -> Result<Self> {
        let parse = |field: &str, text: &Option<String>| -> Result<Option<Vec<Requirement>>> {
            match text.as_deref() {
                None | Some("") => Ok(None),
                Some(text) => parse_selector(text)
                    .map(Some)
                    .map_err(|e| Error::InvalidIgnoreRule(format!("target {field} {text:?}: {e}"))),
            }
        };
        Ok(Self {
            group: anchored("group", &selector.group)?,
            version: anchored("version", &selector.version)?,
            kind: anchored("kind", &selector.kind)?,
            name: anchored("name", &selector.name)?,
            namespace: anchored("namespace", &selector.namespace)?,
            labels: parse("labelSelector", &selector.label_selector)?,
            annotations: parse("annotationSelector", &selector.annotation_selector)?,
        })
    }

    fn matches(&self, object: &Value) -> bool {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        let api_version = text(object.get("apiVersion"));
        let (group, version) = split_api_version(&api_version);
        let metadata = object.get("metadata");
        let fields = [
            (&self.group, group.to_string()),
            (&self.version, version.to_string()),
            (&self.kind, text(object.get("kind"))),
            (&self.name, text(metadata.and_then(|m| m.get("name")))),
            (&self.namespace, text(metadata.and_then(|m| m.get("namespace")))),
        ];
        if fields.iter().any(|(regex, value)| regex.as_ref().is_some_and(|r| !r.is_match(value))) {
            return false;
        }
        let map = |key: &str| -> BTreeMap<String, String> {
            metadata
                .and_then(|m| m.get(key))
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                .unwrap_or_default()
        };
        let ok = |requirements: &Option<Vec<Requirement>>, set: BTreeMap<String, String>| {
            requirements.as_ref().is_none_or(|reqs| reqs.iter().all(|r| r.matches(&set)))
        };
        ok(&self.labels, map("labels")) && ok(&self.annotations, map("annotations"))
    }
}

/// One requirement of a label selector (`key=value`, `key in (a,b)`, `!key`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, set: &BTreeMap<String, String>) -> bool {
        match self {
            Self::In(key, values) => set.get(key).is_some_and(|v| values.contains(v)),
            Self::NotIn(key, values) => set.get(key).is_none_or(|v| !values.contains(v)),
            Self::Exists(key) => set.contains_key(key),
            Self::DoesNotExist(key) => !set.contains_key(key),
        }
    }
}

/// Parses Kubernetes label selector syntax: requirements separated by commas, each
/// `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (v1,v2)` or `k notin (v1,v2)`.
pub(crate) fn parse_selector(text: &str) -> Result<Vec<Requirement>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or("unbalanced parentheses")?,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    parts.push(current);
    let mut requirements = Vec::new();
    for part in parts.iter().map(|p| p.trim()) {
        if part.is_empty() {
            return Err("empty requirement".into());
        }
        requirements.push(parse_requirement(part)?);
    }
    Ok(requirements)
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let key_ok = |k: &str| !k.is_empty() && !k.contains(char::is_whitespace);
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        return if key_ok(key) {
            Ok(Requirement::DoesNotExist(key.into()))
        } else {
            Err(format!("bad key in {part:?}"))
        };
    }
    if let Some((key, value)) = part.split_once("!=") {
        let key = key.trim();
        return if key_ok(key) {
            Ok(Requirement::NotIn(key.into(), vec![value.trim().into()]))
        } else {
            Err(format!("bad key in {part:?}"))
        };
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        let key = key.trim();
        return if key_ok(key) {
            Ok(Requirement::In(key.into(), vec![value.trim().into()]))
        } else {
            Err(format!("bad key in {part:?}"))
        };
    }
    let set_op = |part: &str, op: &str| -> Option<(String, Vec<String>)> {
        let (key, rest) = part.split_once(op)?;
        let rest = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
        Some((key.trim().to_string(), rest.split(',').map(|v| v.trim().to_string()).collect()))
    };
    if let Some((key, values)) = set_op(part, " notin ") {
        return if key_ok(&key) { Ok(Requirement::NotIn(key, values)) } else { Err(format!("bad key in {part:?}")) };
    }
    if let Some((key, values)) = set_op(part, " in ") {
        return if key_ok(&key) { Ok(Requirement::In(key, values)) } else { Err(format!("bad key in {part:?}")) };
    }
    if key_ok(part) { Ok(Requirement::Exists(part.into())) } else { Err(format!("cannot parse {part:?}")) }
}

/// Splits an RFC 6901 JSON pointer into unescaped segments.
pub(crate) fn parse_pointer(pointer: &str) -> Result<Vec<String>> {
    if pointer.is_empty() {
        return Err(Error::InvalidIgnoreRule("the empty path would ignore the whole object".into()));
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(Error::InvalidIgnoreRule(format!("path {pointer:?} is not a JSON pointer (must start with /)")));
    };
    Ok(rest.split('/').map(|s| s.replace("~1", "/").replace("~0", "~")).collect())
}

/// The value at `path`, if present.
pub(crate) fn get<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = object;
    for segment in path {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Removes the value at `path`; absent paths are left alone.
pub(crate) fn remove(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut current = object;
    for segment in parents {
        current = match current {
            Value::Object(map) => match map.get_mut(segment) {
                Some(next) => next,
                None => return,
            },
            Value::Array(items) => match segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
    match current {
        Value::Object(map) => {
            map.remove(last);
        }
        Value::Array(items) => {
            if let Some(i) = last.parse::<usize>().ok().filter(|i| *i < items.len()) {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// Sets the value at `path`, creating missing objects on the way; returns whether it could.
pub(crate) fn set(object: &mut Value, path: &[String], value: Value) -> bool {
    let Some((last, parents)) = path.split_last() else { return false };
    let mut current = object;
    for segment in parents {
        current = match current {
            Value::Object(map) => map.entry(segment.clone()).or_insert_with(|| Value::Object(Default::default())),
            Value::Array(items) => match segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(next) => next,
                None => return false,
            },
            _ => return false,
        };
    }
    match current {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            true
        }
        Value::Array(items) => match last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// Whether a server-side apply manager other than `manager` owns the field at `path` of the
/// live object, according to its `metadata.managedFields`. Map keys are looked up as `f:`
/// entries; a list index cannot be mapped to the server's keys (`k:`/`v:`/`i:`), so a path
/// through a list counts as owned by whoever owns the list.
pub(crate) fn owned_by_other_applier(live: &Value, path: &[String], manager: &str) -> bool {
    let Some(Value::Array(entries)) = live.get("metadata").and_then(|m| m.get("managedFields")) else {
        return false;
    };
    entries.iter().any(|entry| {
        let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or_default();
        if text("operation") != "Apply" || text("manager") == manager || !text("subresource").is_empty() {
            return false;
        }
        let Some(mut node) = entry.get("fieldsV1") else { return false };
        for segment in path {
            match node.get(format!("f:{segment}")) {
                Some(next) => node = next,
                None => {
                    let in_list = segment.parse::<usize>().is_ok()
                        && node.as_object().is_some_and(|m| {
                            m.keys().any(|k| k.starts_with("k:") || k.starts_with("v:") || k.starts_with("i:"))
                        });
                    return in_list;
                }
            }
        }
        true
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(paths: &[&str], target: Option<Selector>) -> IgnoreRule {
        IgnoreRule { paths: paths.iter().map(|p| p.to_string()).collect(), target }
    }

    #[test]
    fn selects_objects_like_flux() {
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web-1", "namespace": "apps", "labels": {"tier": "front"}, "annotations": {"a": "b"}}
        });
        let target = |s: Selector| CompiledRules::compile(&[rule(&["/spec/replicas"], Some(s))]).unwrap();
        let hit = |rules: CompiledRules| !rules.paths_for(&deployment).is_empty();
        assert!(hit(target(Selector { kind: Some("Deployment".into()), ..Default::default() })));
        assert!(hit(target(Selector {
            name: Some("web-.*".into()),
            group: Some("apps".into()),
            ..Default::default()
        })));
        assert!(!hit(target(Selector { name: Some("web".into()), ..Default::default() })), "regexes are anchored");
        assert!(!hit(target(Selector { kind: Some("Service".into()), ..Default::default() })));
        assert!(hit(target(Selector { label_selector: Some("tier in (front, back)".into()), ..Default::default() })));
        assert!(!hit(target(Selector { label_selector: Some("tier!=front".into()), ..Default::default() })));
        assert!(hit(target(Selector { annotation_selector: Some("a=b,!c".into()), ..Default::default() })));
        let all = CompiledRules::compile(&[rule(&["/spec/replicas", "/data/a~1b"], None)]).unwrap();
        assert_eq!(all.paths_for(&deployment), vec![vec!["spec", "replicas"], vec!["data", "a/b"]]);
    }

    #[test]
    fn bad_rules_are_errors() {
        assert!(CompiledRules::compile(&[rule(&["spec"], None)]).is_err());
        assert!(CompiledRules::compile(&[rule(&[""], None)]).is_err());
        let bad_regex = Selector { name: Some("(".into()), ..Default::default() };
        assert!(CompiledRules::compile(&[rule(&["/spec"], Some(bad_regex))]).is_err());
        let bad_labels = Selector { label_selector: Some("a in (b".into()), ..Default::default() };
        assert!(CompiledRules::compile(&[rule(&["/spec"], Some(bad_labels))]).is_err());
    }

    #[test]
    fn pointer_operations() {
        let mut object = json!({"spec": {"replicas": 2, "list": [1, 2, 3]}});
        let path = |p: &str| parse_pointer(p).unwrap();
        assert_eq!(get(&object, &path("/spec/replicas")), Some(&json!(2)));
        assert_eq!(get(&object, &path("/spec/list/1")), Some(&json!(2)));
        assert_eq!(get(&object, &path("/spec/missing/x")), None);
        remove(&mut object, &path("/spec/list/0"));
        remove(&mut object, &path("/spec/missing/x"));
        assert!(set(&mut object, &path("/spec/template/replicas"), json!(5)));
        remove(&mut object, &path("/spec/replicas"));
        assert_eq!(object, json!({"spec": {"list": [2, 3], "template": {"replicas": 5}}}));
        assert!(!set(&mut object, &path("/spec/list/9"), json!(1)));
    }

    #[test]
    fn finds_other_appliers_of_a_field() {
        let live = json!({"metadata": {"managedFields": [
            {"manager": "ferry", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "hpa", "operation": "Apply", "fieldsV1": {"f:spec": {"f:minReadySeconds": {}}}},
            {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:paused": {}}}}
        ]}});
        let path = |p: &str| parse_pointer(p).unwrap();
        assert!(owned_by_other_applier(&live, &path("/spec/minReadySeconds"), "ferry"));
        assert!(!owned_by_other_applier(&live, &path("/spec/replicas"), "ferry"));
        assert!(!owned_by_other_applier(&live, &path("/spec/paused"), "ferry"), "updates are no appliers");
    }
}
