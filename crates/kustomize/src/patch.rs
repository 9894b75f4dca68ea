//! `patches`, `patchesStrategicMerge` and `patchesJson6902`, and resource selectors.

use crate::context::Ctx;
use crate::resource::{ResId, Resource};
use crate::types::{Patch, Selector};
use crate::{Error, Result, jsonpatch, smp, yaml};
use regex::Regex;
use serde_json::{Map, Value};

/// A compiled selector: anchored regexes plus label and annotation selectors.
pub(crate) struct Matcher {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Option<LabelSelector>,
    annotations: Option<LabelSelector>,
}

fn anchored(p: &Option<String>) -> Result<Option<Regex>> {
    match p.as_deref() {
        None | Some("") => Ok(None),
        Some(p) => Regex::new(&format!("^(?:{p})$"))
            .map(Some)
            .map_err(|e| Error::msg(format!("invalid selector pattern {p:?}: {e}"))),
    }
}

impl Matcher {
    pub fn new(s: &Selector) -> Result<Self> {
        Ok(Matcher {
            group: anchored(&s.group)?,
            version: anchored(&s.version)?,
            kind: anchored(&s.kind)?,
            name: anchored(&s.name)?,
            namespace: anchored(&s.namespace)?,
            labels: s.label_selector.as_deref().filter(|l| !l.is_empty()).map(LabelSelector::parse).transpose()?,
            annotations: s
                .annotation_selector
                .as_deref()
                .filter(|l| !l.is_empty())
                .map(LabelSelector::parse)
                .transpose()?,
        })
    }

    pub fn matches(&self, r: &Resource) -> bool {
        let cur = r.id();
        let org = &r.orig_id;
        let ns_of = |id: &ResId| -> String {
            if id.gvk.is_cluster_scoped() {
                "_non_namespaceable_".to_string()
            } else if id.namespace.is_empty() {
                "default".to_string()
            } else {
                id.namespace.clone()
            }
        };
        if let Some(re) = &self.namespace
            && !re.is_match(&ns_of(org))
            && !re.is_match(&ns_of(&cur))
        {
            return false;
        }
        if let Some(re) = &self.name
            && !re.is_match(&org.name)
            && !re.is_match(&cur.name)
        {
            return false;
        }
        let gvk = r.gvk();
        for (re, v) in [(&self.group, &gvk.group), (&self.version, &gvk.version), (&self.kind, &gvk.kind)] {
            if let Some(re) = re
                && !re.is_match(v)
            {
                return false;
            }
        }
        if let Some(sel) = &self.labels
            && !sel.matches(&r.labels())
        {
            return false;
        }
        if let Some(sel) = &self.annotations
            && !sel.matches(&r.annotations())
        {
            return false;
        }
        true
    }
}

/// A Kubernetes label selector in its string form (`a=b,c!=d,e in (x,y),!f,g`).
pub(crate) struct LabelSelector {
    reqs: Vec<(String, Op, Vec<String>)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    NotEq,
    In,
    NotIn,
    Exists,
    NotExists,
}

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self> {
        let mut reqs = Vec::new();
        let mut parts = Vec::new();
        let mut depth = 0;
        let mut cur = String::new();
        for c in s.chars() {
            match c {
                '(' => {
                    depth += 1;
                    cur.push(c);
                }
                ')' => {
                    depth -= 1;
                    cur.push(c);
                }
                ',' if depth == 0 => parts.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        parts.push(cur);
        let bad = || Error::msg(format!("invalid label selector {s:?}"));
        for part in parts {
            let p = part.trim();
            if p.is_empty() {
                continue;
            }
            if let Some(k) = p.strip_prefix('!') {
                reqs.push((k.trim().to_string(), Op::NotExists, vec![]));
            } else if let Some((k, v)) = p.split_once("!=") {
                reqs.push((k.trim().to_string(), Op::NotEq, vec![v.trim().to_string()]));
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                reqs.push((k.trim().to_string(), Op::Eq, vec![v.trim().to_string()]));
            } else if let Some(idx) = p.find(" notin ") {
                reqs.push((p[..idx].trim().to_string(), Op::NotIn, set_values(&p[idx + 7..]).ok_or_else(bad)?));
            } else if let Some(idx) = p.find(" in ") {
                reqs.push((p[..idx].trim().to_string(), Op::In, set_values(&p[idx + 4..]).ok_or_else(bad)?));
            } else {
                reqs.push((p.to_string(), Op::Exists, vec![]));
            }
        }
        Ok(LabelSelector { reqs })
    }

    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        self.reqs.iter().all(|(k, op, vals)| {
            let v = labels.get(k).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            match op {
                Op::Eq | Op::In => v.is_some_and(|v| vals.contains(&v)),
                Op::NotEq | Op::NotIn => !v.is_some_and(|v| vals.contains(&v)),
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
            }
        })
    }
}

fn set_values(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect())
}

enum PatchBody {
    Strategic(Vec<Value>),
    Json(Value),
}

fn parse_patch(text: &str, shown: &str) -> Result<PatchBody> {
    let docs = yaml::parse_documents(text).map_err(|e| Error::in_file(shown, format!("invalid patch: {e}")))?;
    if docs.len() == 1 && docs[0].is_array() {
        // kustomize reads JSON patches written in YAML with Go's yaml.v2: YAML 1.1 scalars.
        let mut ops =
            yaml::parse_documents_yaml11(text).map_err(|e| Error::in_file(shown, format!("invalid patch: {e}")))?;
        return Ok(PatchBody::Json(ops.pop().unwrap_or_default()));
    }
    if docs.is_empty() {
        return Err(Error::in_file(shown, "unable to parse SM or JSON patch: the patch is empty"));
    }
    for d in &docs {
        if !d.is_object() {
            return Err(Error::in_file(
                shown,
                "unable to parse SM or JSON patch: expected a map or a list of operations",
            ));
        }
        if d.get("kind").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(Error::in_file(
                shown,
                "unable to parse SM or JSON patch: a strategic merge patch needs a kind",
            ));
        }
    }
    Ok(PatchBody::Strategic(docs))
}

fn patch_id(p: &Value) -> ResId {
    let r = Resource { obj: p.clone(), ..Resource::new(Value::Object(Map::new())).expect("empty map is a resource") };
    r.id()
}

/// Applies one strategic merge patch to one resource, as kustomize's `ApplySmPatch` does.
/// Returns false when the patch deleted the resource.
fn apply_smp(
    r: &mut Resource,
    patch: &Value,
    allow_name: bool,
    allow_kind: bool,
    schemas: &[&smp::Schema],
) -> Result<bool> {
    let (name, ns, kind) = (r.name().to_string(), r.namespace().to_string(), r.kind().to_string());
    if allow_name || allow_kind {
        r.store_previous_id();
    }
    let mut p = patch.clone();
    if let Some(m) = p.as_object_mut() {
        if let Some(av) = r.obj.get("apiVersion") {
            m.insert("apiVersion".into(), av.clone());
        }
        if !m.contains_key("kind") {
            m.insert("kind".into(), Value::String(kind.clone()));
        }
    }
    let merged = smp::merge_object(&r.obj, &p, schemas).map_err(|e| Error::msg(e.to_string()))?;
    let Some(merged) = merged else {
        return Ok(false);
    };
    if merged.as_object().is_none_or(|m| m.is_empty()) {
        return Ok(false);
    }
    r.obj = merged;
    if !allow_kind && let Some(m) = r.obj.as_object_mut() {
        m.insert("kind".into(), Value::String(kind));
    }
    if !allow_name {
        r.set_name(&name);
    }
    if ns.is_empty() {
        r.metadata_mut().remove("namespace");
    } else {
        r.set_namespace(&ns);
    }
    Ok(true)
}

fn find_by_any_id(resources: &[Resource], id: &ResId) -> Result<usize> {
    let hits: Vec<usize> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.all_ids().iter().chain(std::iter::once(&r.orig_id)).any(|o| o.equals(id)))
        .map(|(i, _)| i)
        .collect();
    match hits.len() {
        1 => Ok(hits[0]),
        0 => Err(Error::msg(format!("no resource matches strategic merge patch {id}"))),
        _ => Err(Error::msg(format!("multiple resources match strategic merge patch {id}"))),
    }
}

pub(crate) fn strategic_merge_legacy(list: &[String], resources: &mut Vec<Resource>, ctx: &Ctx<'_>) -> Result<()> {
    for entry in list {
        let inline =
            entry.contains('\n') || (!ctx.loader.fs.is_file(&ctx.loader.resolve(entry)) && entry.contains(':'));
        let (text, shown) = if inline {
            (entry.clone(), format!("{} (inline patch)", ctx.kust_file))
        } else {
            (ctx.loader.read_text(entry)?, entry.clone())
        };
        let PatchBody::Strategic(docs) = parse_patch(&text, &shown)? else {
            return Err(Error::in_file(
                &shown,
                "patchesStrategicMerge entries must be strategic merge patches, not JSON patches",
            ));
        };
        for doc in docs {
            let id = patch_id(&doc);
            let i = find_by_any_id(resources, &id).map_err(|e| e.with_file(&shown))?;
            if !apply_smp(&mut resources[i], &doc, false, false, ctx.schemas).map_err(|e| e.with_file(&shown))? {
                resources.remove(i);
            }
        }
    }
    Ok(())
}

pub(crate) fn patch_entry(p: &Patch, resources: &mut Vec<Resource>, ctx: &Ctx<'_>) -> Result<()> {
    let (text, shown) = match (&p.path, &p.patch) {
        (Some(_), Some(_)) => return Err(Error::msg("patch and path can't be set at the same time")),
        (Some(path), None) => (ctx.loader.read_text(path)?, path.clone()),
        (None, Some(inline)) => (inline.clone(), format!("{} (inline patch)", ctx.kust_file)),
        (None, None) => return Err(Error::msg("must specify one of patch and path in a `patches` entry")),
    };
    if text.trim().is_empty() {
        return Err(Error::in_file(&shown, "must specify one of patch and path: the patch is empty"));
    }
    let opts = p.options.clone().unwrap_or_default();
    let allow_name = opts.get("allowNameChange").copied().unwrap_or(false);
    let allow_kind = opts.get("allowKindChange").copied().unwrap_or(false);
    match parse_patch(&text, &shown)? {
        PatchBody::Json(ops) => {
            let Some(target) = &p.target else {
                return Err(Error::in_file(&shown, "a JSON patch needs a target"));
            };
            let m = Matcher::new(target)?;
            for r in resources.iter_mut().filter(|r| m.matches(r)) {
                r.store_previous_id();
                jsonpatch::apply(&mut r.obj, &ops).map_err(|e| Error::in_file(&shown, e))?;
                if !r.obj.is_object() {
                    return Err(Error::in_file(&shown, "the JSON patch left a resource that is not a map"));
                }
                r.normalize_annotations();
            }
            Ok(())
        }
        PatchBody::Strategic(docs) => {
            if let Some(target) = &p.target {
                if docs.len() > 1 {
                    return Err(Error::in_file(
                        &shown,
                        "Multiple Strategic-Merge Patches in one `patches` entry is not allowed to set `patches.target` field",
                    ));
                }
                let m = Matcher::new(target)?;
                let mut out = Vec::with_capacity(resources.len());
                for mut r in std::mem::take(resources) {
                    if m.matches(&r)
                        && !apply_smp(&mut r, &docs[0], allow_name, allow_kind, ctx.schemas)
                            .map_err(|e| e.with_file(&shown))?
                    {
                        continue;
                    }
                    out.push(r);
                }
                *resources = out;
                return Ok(());
            }
            for doc in docs {
                let id = patch_id(&doc);
                let i = find_by_any_id(resources, &id).map_err(|e| e.with_file(&shown))?;
                if !apply_smp(&mut resources[i], &doc, allow_name, allow_kind, ctx.schemas)
                    .map_err(|e| e.with_file(&shown))?
                {
                    resources.remove(i);
                }
            }
            Ok(())
        }
    }
}

pub(crate) fn json6902_legacy(p: &Patch, resources: &mut [Resource], ctx: &Ctx<'_>) -> Result<()> {
    let (text, shown) = match (&p.path, &p.patch) {
        (Some(path), _) => (ctx.loader.read_text(path)?, path.clone()),
        (None, Some(inline)) => (inline.clone(), format!("{} (inline patch)", ctx.kust_file)),
        (None, None) => return Err(Error::msg("patchesJson6902 entry needs a path or a patch")),
    };
    let Some(target) = &p.target else {
        return Err(Error::in_file(&shown, "must specify a target for patchesJson6902"));
    };
    let ops = yaml::parse_documents_yaml11(&text)
        .map_err(|e| Error::in_file(&shown, format!("invalid JSON patch: {e}")))?
        .pop()
        .unwrap_or_default();
    if !ops.is_array() {
        return Err(Error::in_file(&shown, "a JSON 6902 patch must be a list of operations"));
    }
    // The legacy field matches names and namespaces exactly.
    let exact = Selector {
        group: target.group.as_ref().map(|s| regex::escape(s)),
        version: target.version.as_ref().map(|s| regex::escape(s)),
        kind: target.kind.as_ref().map(|s| regex::escape(s)),
        name: target.name.as_ref().map(|s| regex::escape(s)),
        namespace: target.namespace.as_ref().map(|s| regex::escape(s)),
        label_selector: target.label_selector.clone(),
        annotation_selector: target.annotation_selector.clone(),
    };
    let m = Matcher::new(&exact)?;
    for r in resources.iter_mut().filter(|r| m.matches(r)) {
        r.store_previous_id();
        jsonpatch::apply(&mut r.obj, &ops).map_err(|e| Error::in_file(&shown, e))?;
        if !r.obj.is_object() {
            return Err(Error::in_file(&shown, "the JSON patch left a resource that is not a map"));
        }
        r.normalize_annotations();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let labels = json!({"app": "web", "tier": "front"});
        let m = labels.as_object().unwrap();
        assert!(LabelSelector::parse("app=web").unwrap().matches(m));
        assert!(LabelSelector::parse("app in (web, api),tier").unwrap().matches(m));
        assert!(!LabelSelector::parse("app!=web").unwrap().matches(m));
        assert!(LabelSelector::parse("!missing,tier notin (back)").unwrap().matches(m));
    }
}
