//! Name references: after renames (prefixes, suffixes, hashes, namespaces), fix the fields that
//! refer to renamed objects by name, using kustomize's reference table.

use crate::config::TransformerConfig;
use crate::resource::{Gvk, Resource, visit_path};
use crate::{Error, Result};
use serde_json::Value;

struct Candidate {
    idx: usize,
}

pub(crate) fn fix(resources: &mut [Resource], config: &TransformerConfig) -> Result<()> {
    // Work out all updates against a snapshot, then write them.
    let snapshot: Vec<Resource> = resources.to_vec();
    for (ri, referrer) in snapshot.iter().enumerate() {
        let candidates = could_be_referenced_by(&snapshot, referrer);
        for backref in &config.name_reference {
            for fs in &backref.referrers {
                if !referrer.orig_id.gvk.is_selected_by(&fs.gvk) {
                    continue;
                }
                let segs = fs.segments();
                let mut obj = std::mem::take(&mut resources[ri].obj);
                let result = visit_path(&mut obj, &segs, false, &mut |node| {
                    update_node(node, &snapshot, referrer, &candidates, &backref.gvk, &fs.path)
                });
                resources[ri].obj = obj;
                result.map_err(|e| {
                    Error::msg(format!("updating name reference in '{}' field of '{}': {e}", fs.path, referrer.id()))
                })?;
            }
        }
    }
    Ok(())
}

fn could_be_referenced_by(all: &[Resource], referrer: &Resource) -> Vec<Candidate> {
    let rid = referrer.id();
    if rid.gvk.is_cluster_scoped() {
        return (0..all.len()).map(|idx| Candidate { idx }).collect();
    }
    let mut binding_namespaces: Vec<String> = Vec::new();
    if rid.gvk.kind == "RoleBinding"
        && let Some(Value::Array(subjects)) = referrer.obj.get("subjects")
    {
        for s in subjects {
            if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                && let Some(ns) = s.get("namespace").and_then(Value::as_str)
            {
                binding_namespaces.push(ns.to_string());
            }
        }
    }
    all.iter()
        .enumerate()
        .filter(|(_, t)| {
            let id = t.id();
            id.gvk.is_cluster_scoped() || id.ns_equals(&rid) || binding_namespaces.iter().any(|n| n == t.namespace())
        })
        .map(|(idx, _)| Candidate { idx })
        .collect()
}

fn update_node(
    node: &mut Value,
    all: &[Resource],
    referrer: &Resource,
    candidates: &[Candidate],
    target: &Gvk,
    path: &str,
) -> Result<()> {
    match node {
        Value::Null => Ok(()),
        Value::String(s) => {
            if let Some(r) = select(s, all, referrer, candidates, None, target, path, false)? {
                *s = r.name().to_string();
            }
            Ok(())
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                match item {
                    Value::String(_) | Value::Object(_) => {
                        update_node(item, all, referrer, candidates, target, path)?;
                    }
                    _ => {}
                }
            }
            Ok(())
        }
        Value::Object(m) => {
            // Subjects and the like: only the entries of the referenced kind.
            if let Some(kind) = m.get("kind").and_then(Value::as_str)
                && kind != target.kind
            {
                return Ok(());
            }
            let Some(old) = m.get("name").and_then(Value::as_str).map(str::to_string) else {
                return Ok(());
            };
            let ns = m.get("namespace").and_then(Value::as_str).map(str::to_string);
            let filtered: Vec<Candidate>;
            let pool: &[Candidate] = match &ns {
                None => candidates,
                Some(ns) => {
                    let by_orig: Vec<Candidate> = candidates
                        .iter()
                        .filter(|c| all[c.idx].orig_id.namespace == *ns)
                        .map(|c| Candidate { idx: c.idx })
                        .collect();
                    filtered = if by_orig.is_empty() {
                        candidates
                            .iter()
                            .filter(|c| all[c.idx].namespace() == ns)
                            .map(|c| Candidate { idx: c.idx })
                            .collect()
                    } else {
                        by_orig
                    };
                    &filtered
                }
            };
            if let Some(r) = select(&old, all, referrer, pool, ns.as_deref(), target, path, true)? {
                if r.name() == old && r.namespace().is_empty() {
                    return Ok(());
                }
                m.insert("name".into(), Value::String(r.name().to_string()));
                if !r.namespace().is_empty() {
                    m.insert("namespace".into(), Value::String(r.namespace().to_string()));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[allow(clippy::too_many_arguments)]
fn select<'a>(
    old: &str,
    all: &'a [Resource],
    referrer: &Resource,
    pool: &[Candidate],
    _ns: Option<&str>,
    target: &Gvk,
    path: &str,
    with_namespace: bool,
) -> Result<Option<&'a Resource>> {
    let role_ref_gvk = if path.ends_with("roleRef/name") {
        referrer.obj.get("roleRef").map(|rr| Gvk {
            group: rr.get("apiGroup").and_then(Value::as_str).unwrap_or("").to_string(),
            version: String::new(),
            kind: rr.get("kind").and_then(Value::as_str).unwrap_or("").to_string(),
        })
    } else {
        None
    };
    let rid = referrer.id();
    let mut c: Vec<&Resource> = pool
        .iter()
        .map(|c| &all[c.idx])
        .filter(|r| {
            let ids = r.all_ids();
            ids.iter().any(|id| id.name == old)
                && ids.iter().any(|id| id.gvk.is_selected_by(target))
                && role_ref_gvk.as_ref().is_none_or(|g| ids.iter().any(|id| id.gvk.is_selected_by(g)))
        })
        .filter(|r| {
            rid.gvk.is_cluster_scoped() || r.id().gvk.is_cluster_scoped() || r.kind() == "ServiceAccount" || rid.ns_equals(&r.id())
        })
        .collect();
    if c.len() == 1 {
        return Ok(Some(c[0]));
    }
    c.retain(|r| r.prefixes_suffixes_equal(referrer));
    match c.len() {
        0 => Ok(None),
        1 => Ok(Some(c[0])),
        _ => {
            let first = c[0];
            let same = c.iter().all(|r| r.name() == first.name() && (!with_namespace || r.namespace() == first.namespace()));
            if same {
                Ok(Some(first))
            } else {
                let ids: Vec<String> = c.iter().map(|r| r.id().to_string()).collect();
                Err(Error::msg(format!("found multiple possible referrals: {}", ids.join(", "))))
            }
        }
    }
}
