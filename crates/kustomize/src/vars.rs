//! Legacy `vars`: `$(NAME)` in selected fields is replaced by a field of another resource.

use crate::config::TransformerConfig;
use crate::resource::{Gvk, ResId, Resource, visit_path};
use crate::types::Var;
use crate::{Error, Result, replacement};
use serde_json::Value;
use std::collections::HashMap;

/// Marks the resource a var reads from (matched on any name it has had).
pub(crate) fn bind(v: &Var, resources: &mut [Resource]) -> Result<()> {
    let o = &v.obj_ref;
    let (group, version) = match o.api_version.as_deref() {
        Some(av) => {
            let g = Gvk::from_api_version(av, "");
            (g.group, g.version)
        }
        None => (o.group.clone().unwrap_or_default(), o.version.clone().unwrap_or_default()),
    };
    let target = ResId {
        gvk: Gvk { group, version, kind: o.kind.clone().unwrap_or_default() },
        name: o.name.clone().unwrap_or_default(),
        namespace: o.namespace.clone().unwrap_or_default(),
    };
    let strict_ns = !target.namespace.is_empty() || target.gvk.is_cluster_scoped();
    let matches: Vec<usize> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.all_ids()
                .iter()
                .chain(std::iter::once(&r.orig_id))
                .any(|id| id.gvk == target.gvk && id.name == target.name && (!strict_ns || id.ns_equals(&target)))
        })
        .map(|(i, _)| i)
        .collect();
    if matches.len() > 1 {
        return Err(Error::msg(format!(
            "found {} resId matches for var {} (unable to disambiguate)",
            matches.len(),
            v.name
        )));
    }
    if let Some(&i) = matches.first() {
        resources[i].ref_var_names.push(v.name.clone());
    }
    Ok(())
}

pub(crate) fn resolve(resources: &mut [Resource], vars: &[Var], config: &TransformerConfig) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values: HashMap<String, Value> = HashMap::new();
    for v in vars {
        let r = resources.iter().find(|r| r.ref_var_names.contains(&v.name)).ok_or_else(|| {
            Error::msg(format!("var '{}' cannot be mapped to a field in the set of known resources", v.name))
        })?;
        let fp = v.field_ref.as_ref().and_then(|f| f.field_path.clone()).filter(|s| !s.is_empty());
        let fp = fp.unwrap_or_else(|| "metadata.name".to_string());
        let segs = split_var_path(&fp);
        let value = replacement::get_path(&r.obj, &segs)
            .ok_or_else(|| Error::msg(format!("var '{}': field '{fp}' not found in {}", v.name, r.id())))?;
        if !matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
            return Err(Error::msg(format!("var '{}': field '{fp}' is not a scalar", v.name)));
        }
        values.insert(v.name.clone(), value);
    }
    for r in resources.iter_mut() {
        for fs in &config.var_reference {
            if !r.gvk().is_selected_by(&fs.gvk) {
                continue;
            }
            visit_path(&mut r.obj, &fs.segments(), false, &mut |node| {
                substitute(node, &values);
                Ok(())
            })?;
        }
    }
    Ok(())
}

fn split_var_path(p: &str) -> Vec<String> {
    // `spec.ports[0].port` is `spec.ports.0.port`.
    let mut out = Vec::new();
    for seg in replacement::split_field_path(p) {
        if let Some(open) = seg.find('[')
            && open > 0
            && seg.ends_with(']')
        {
            out.push(seg[..open].to_string());
            let inner = &seg[open + 1..seg.len() - 1];
            if inner.contains('=') { out.push(format!("[{inner}]")) } else { out.push(inner.to_string()) }
        } else {
            out.push(seg);
        }
    }
    out
}

fn substitute(node: &mut Value, values: &HashMap<String, Value>) {
    match node {
        Value::String(s) => {
            if let Some(v) = expand(s, values) {
                *node = v;
            }
        }
        Value::Array(items) => {
            for i in items {
                if i.is_string() {
                    substitute(i, values);
                }
            }
        }
        Value::Object(m) => {
            for (_, v) in m.iter_mut() {
                if v.is_string() {
                    substitute(v, values);
                }
            }
        }
        _ => {}
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => crate::yaml::format_number(n),
        other => other.to_string(),
    }
}

/// Expands `$(VAR)` references; `$$` escapes a dollar. A string that is exactly one reference
/// takes the var's value with its type.
fn expand(s: &str, values: &HashMap<String, Value>) -> Option<Value> {
    if !s.contains('$') {
        return None;
    }
    if let Some(name) = s.strip_prefix("$(").and_then(|r| r.strip_suffix(')'))
        && let Some(v) = values.get(name)
        && !name.contains(['$', '(', ')'])
    {
        return Some(v.clone());
    }
    let b: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == '$' && i + 1 < b.len() {
            if b[i + 1] == '$' {
                out.push('$');
                i += 2;
                continue;
            }
            if b[i + 1] == '('
                && let Some(close) = b[i + 2..].iter().position(|c| *c == ')')
            {
                let name: String = b[i + 2..i + 2 + close].iter().collect();
                match values.get(&name) {
                    Some(v) => out.push_str(&as_text(v)),
                    None => {
                        out.push_str("$(");
                        out.push_str(&name);
                        out.push(')');
                    }
                }
                i += close + 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    if out == s { None } else { Some(Value::String(out)) }
}
