//! `replacements`: copy a field from a source resource into fields of target resources.

use crate::loader::DirLoader;
use crate::patch::LabelSelector;
use crate::resource::{Gvk, ResId, Resource};
use crate::types::{FieldOptions, Replacement, ReplacementField, Selector, SourceSelector};
use crate::{Error, Result, yaml};
use serde_json::{Map, Value};

pub(crate) fn run(entries: &[ReplacementField], resources: &mut [Resource], loader: &DirLoader<'_>) -> Result<()> {
    for entry in entries {
        let reps: Vec<Replacement> = match &entry.path {
            Some(path) => {
                let text = loader.read_text(path)?;
                let mut out = Vec::new();
                for doc in yaml::parse_documents(&text).map_err(|e| Error::in_file(path, e.to_string()))? {
                    let items = match doc {
                        Value::Array(items) => items,
                        other => vec![other],
                    };
                    for item in items {
                        out.push(
                            serde_json::from_value(crate::types::canonical_fields(item, crate::types::REPLACEMENT))
                                .map_err(|e| Error::in_file(path, format!("invalid replacement: {e}")))?,
                        );
                    }
                }
                out
            }
            None => vec![Replacement { source: entry.source.clone(), targets: entry.targets.clone() }],
        };
        for rep in reps {
            apply(&rep, resources)?;
        }
    }
    Ok(())
}

fn selector_id(
    group: &Option<String>,
    version: &Option<String>,
    kind: &Option<String>,
    name: &Option<String>,
    namespace: &Option<String>,
) -> ResId {
    ResId {
        gvk: Gvk {
            group: group.clone().unwrap_or_default(),
            version: version.clone().unwrap_or_default(),
            kind: kind.clone().unwrap_or_default(),
        },
        name: name.clone().unwrap_or_default(),
        namespace: namespace.clone().unwrap_or_default(),
    }
}

fn selected_by(id: &ResId, sel: &ResId) -> bool {
    (sel.name.is_empty() || sel.name == id.name)
        && (sel.namespace.is_empty() || sel.effective_namespace() == id.effective_namespace())
        && id.gvk.is_selected_by(&sel.gvk)
}

fn ids(r: &Resource) -> Vec<ResId> {
    r.all_ids()
}

fn apply(rep: &Replacement, resources: &mut [Resource]) -> Result<()> {
    let source = rep.source.clone().unwrap_or_default();
    let value = source_value(&source, resources)?;
    for target in &rep.targets {
        let Some(select) = &target.select else {
            return Err(Error::msg("target must specify resources to select"));
        };
        let sel_id = selector_id(&select.group, &select.version, &select.kind, &select.name, &select.namespace);
        let label_sel =
            select.label_selector.as_deref().filter(|s| !s.is_empty()).map(LabelSelector::parse).transpose()?;
        let ann_sel =
            select.annotation_selector.as_deref().filter(|s| !s.is_empty()).map(LabelSelector::parse).transpose()?;
        for r in resources.iter_mut() {
            let rids = ids(r);
            if !rids.iter().any(|id| selected_by(id, &sel_id)) {
                continue;
            }
            if label_sel.as_ref().is_some_and(|s| !s.matches(&r.labels()))
                || ann_sel.as_ref().is_some_and(|s| !s.matches(&r.annotations()))
            {
                continue;
            }
            if rejected(&target.reject, r, &rids)? {
                continue;
            }
            let opts = target.options.clone().unwrap_or_default();
            let paths = if target.field_paths.is_empty() {
                vec!["metadata.name".to_string()]
            } else {
                target.field_paths.clone()
            };
            for fp in &paths {
                let segs = split_field_path(fp);
                let mut hits = 0;
                let annotation = segs.len() == 3 && segs[0] == "metadata" && segs[1] == "annotations";
                let absent = annotation && get_path(&r.obj, &segs).is_none();
                set_path(&mut r.obj, &segs, &value, &opts, &mut hits)?;
                if absent
                    && let Some(text) = scalar_string(&value)
                    && let Seg::Field(key) = parse_seg(&segs[2])
                {
                    // kustomize reads a resource's annotations back as strings: a created one
                    // keeps the source's text.
                    if let Some(Value::Object(m)) = r.obj.get_mut("metadata").and_then(|m| m.get_mut("annotations")) {
                        m.insert(key, Value::String(text));
                    }
                }
                if hits == 0 {
                    return Err(Error::msg(format!("unable to find field \"{fp}\" in replacement target {}", r.id())));
                }
            }
        }
    }
    Ok(())
}

fn rejected(rejects: &[Selector], r: &Resource, rids: &[ResId]) -> Result<bool> {
    for rej in rejects {
        let id = selector_id(&rej.group, &rej.version, &rej.kind, &rej.name, &rej.namespace);
        let id_empty = id == ResId::default();
        let mut all = true;
        let mut any_criteria = false;
        if !id_empty {
            any_criteria = true;
            all &= rids.iter().any(|i| selected_by(i, &id));
        }
        if let Some(ls) = rej.label_selector.as_deref().filter(|s| !s.is_empty()) {
            any_criteria = true;
            all &= LabelSelector::parse(ls)?.matches(&r.labels());
        }
        if let Some(as_) = rej.annotation_selector.as_deref().filter(|s| !s.is_empty()) {
            any_criteria = true;
            all &= LabelSelector::parse(as_)?.matches(&r.annotations());
        }
        if any_criteria && all {
            return Ok(true);
        }
    }
    Ok(false)
}

fn source_value(source: &SourceSelector, resources: &[Resource]) -> Result<Value> {
    let sel = selector_id(&source.group, &source.version, &source.kind, &source.name, &source.namespace);
    let matches: Vec<&Resource> = resources.iter().filter(|r| ids(r).iter().any(|id| selected_by(id, &sel))).collect();
    let r = match matches.len() {
        0 => return Err(Error::msg(format!("nothing selected by replacement source {}", describe(&sel)))),
        1 => matches[0],
        _ => return Err(Error::msg(format!("more than one match for replacement source {}", describe(&sel)))),
    };
    let fp = source.field_path.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "metadata.name".to_string());
    let segs = split_field_path(&fp);
    let value = get_path(&r.obj, &segs)
        .ok_or_else(|| Error::msg(format!("fieldPath `{fp}` is missing for replacement source {}", r.id())))?;
    if let Some(opts) = &source.options
        && let Some(delim) = opts.delimiter.as_deref().filter(|d| !d.is_empty())
    {
        let s =
            scalar_string(&value).ok_or_else(|| Error::msg("delimiter option can only be used with scalar nodes"))?;
        let parts: Vec<&str> = s.split(delim).collect();
        let idx = opts.index;
        if idx < 0 || idx as usize >= parts.len() {
            return Err(Error::msg(format!("options.index {idx} is out of bounds for value {s}")));
        }
        return Ok(Value::String(parts[idx as usize].to_string()));
    }
    Ok(value)
}

fn describe(id: &ResId) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("group", &id.gvk.group),
        ("version", &id.gvk.version),
        ("kind", &id.gvk.kind),
        ("name", &id.name),
        ("namespace", &id.namespace),
    ] {
        if !v.is_empty() {
            parts.push(format!("{k}: {v}"));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(yaml::format_number(n)),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Splits `a.b.[name=x].c` on dots outside brackets.
pub(crate) fn split_field_path(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in p.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

enum Seg<'a> {
    Field(String),
    Match(&'a str, &'a str),
    Index(usize),
    All,
}

fn parse_seg(s: &str) -> Seg<'_> {
    if s == "*" || s == "[*]" {
        return Seg::All;
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        if let Some((k, v)) = inner.split_once('=') {
            return Seg::Match(k, v);
        }
        return Seg::Field(inner.to_string());
    }
    if let Ok(i) = s.parse::<usize>() {
        return Seg::Index(i);
    }
    Seg::Field(s.to_string())
}

fn elem_matches(item: &Value, k: &str, v: &str) -> bool {
    if k.is_empty() {
        return scalar_string(item).as_deref() == Some(v);
    }
    item.get(k).and_then(scalar_string).as_deref() == Some(v)
}

pub(crate) fn get_path(v: &Value, segs: &[String]) -> Option<Value> {
    let Some((first, rest)) = segs.split_first() else {
        return Some(v.clone());
    };
    match (parse_seg(first), v) {
        (Seg::Field(f), Value::Object(m)) => get_path(m.get(&f)?, rest),
        (Seg::Match(k, val), Value::Array(items)) => get_path(items.iter().find(|i| elem_matches(i, k, val))?, rest),
        (Seg::Index(i), Value::Array(items)) => get_path(items.get(i)?, rest),
        (Seg::All, Value::Array(items)) => get_path(items.first()?, rest),
        _ => None,
    }
}

fn set_path(v: &mut Value, segs: &[String], value: &Value, opts: &FieldOptions, hits: &mut usize) -> Result<()> {
    let Some((first, rest)) = segs.split_first() else {
        *hits += 1;
        return set_leaf(v, value, opts);
    };
    match parse_seg(first) {
        Seg::Field(f) => {
            if v.is_null() && opts.create {
                *v = Value::Object(Map::new());
            }
            let Value::Object(m) = v else { return Ok(()) };
            if !m.contains_key(&f) {
                if !opts.create {
                    return Ok(());
                }
                let fresh = match rest.first().map(|s| parse_seg(s)) {
                    Some(Seg::Match(..)) | Some(Seg::Index(_)) | Some(Seg::All) => Value::Array(Vec::new()),
                    Some(Seg::Field(_)) => Value::Object(Map::new()),
                    None => Value::Null,
                };
                m.insert(f.clone(), fresh);
            }
            match m.get_mut(&f) {
                Some(child) => set_path(child, rest, value, opts, hits),
                None => Ok(()),
            }
        }
        Seg::Match(k, val) => {
            let Value::Array(items) = v else { return Ok(()) };
            let mut found = false;
            for item in items.iter_mut() {
                if elem_matches(item, k, val) {
                    found = true;
                    set_path(item, rest, value, opts, hits)?;
                }
            }
            if !found && opts.create && !k.is_empty() {
                let mut m = Map::new();
                m.insert(k.to_string(), Value::String(val.to_string()));
                items.push(Value::Object(m));
                if let Some(last) = items.last_mut() {
                    set_path(last, rest, value, opts, hits)?;
                }
            }
            Ok(())
        }
        Seg::Index(i) => {
            if v.is_null() && opts.create {
                *v = Value::Array(Vec::new());
            }
            let Value::Array(items) = v else { return Ok(()) };
            if opts.create && i == items.len() {
                items.push(if rest.is_empty() { Value::Null } else { Value::Object(Map::new()) });
            }
            match items.get_mut(i) {
                Some(item) => set_path(item, rest, value, opts, hits),
                None => Ok(()),
            }
        }
        Seg::All => {
            let Value::Array(items) = v else { return Ok(()) };
            for item in items.iter_mut() {
                set_path(item, rest, value, opts, hits)?;
            }
            Ok(())
        }
    }
}

fn set_leaf(target: &mut Value, value: &Value, opts: &FieldOptions) -> Result<()> {
    if let Some(delim) = opts.delimiter.as_deref().filter(|d| !d.is_empty()) {
        let new =
            scalar_string(value).ok_or_else(|| Error::msg("delimiter option can only be used with scalar nodes"))?;
        let cur = scalar_string(target).unwrap_or_default();
        let mut parts: Vec<String> = cur.split(delim).map(str::to_string).collect();
        let idx = opts.index;
        if idx < 0 {
            parts.insert(0, new);
        } else if idx as usize >= parts.len() {
            parts.push(new);
        } else {
            parts[idx as usize] = new;
        }
        *target = Value::String(parts.join(delim));
        return Ok(());
    }
    // A scalar target keeps its type and takes the source's text.
    match (&*target, scalar_string(value)) {
        (Value::String(_), Some(text)) => *target = Value::String(text),
        (Value::Null, Some(text)) => *target = yaml::resolve_plain(&text),
        (Value::Number(_), Some(text)) | (Value::Bool(_), Some(text)) => {
            *target = match yaml::resolve_plain(&text) {
                v @ (Value::Number(_) | Value::Bool(_)) => v,
                _ => Value::String(text),
            };
        }
        _ => *target = value.clone(),
    }
    Ok(())
}
