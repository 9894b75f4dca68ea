//! Name references: after renames (prefixes, suffixes, hashes, namespaces), fix the fields that
//! refer to renamed objects by name, using kustomize's reference table.

use crate::config::TransformerConfig;
use crate::resource::{Gvk, Resource, visit_path};
use crate::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;

/// Resources by every name they have had.
struct Index<'a> {
    all: &'a [Resource],
    by_name: HashMap<String, Vec<usize>>,
}

pub(crate) fn fix(resources: &mut [Resource], config: &TransformerConfig) -> Result<()> {
    let snapshot: Vec<Resource> = resources.to_vec();
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in snapshot.iter().enumerate() {
        for id in r.all_ids() {
            let e = by_name.entry(id.name.clone()).or_default();
            if e.last() != Some(&i) {
                e.push(i);
            }
        }
    }
    let index = Index { all: &snapshot, by_name };
    for (ri, referrer) in snapshot.iter().enumerate() {
        let scope = Scope::of(referrer);
        for backref in &config.name_reference {
            for fs in &backref.referrers {
                if !referrer.orig_id.gvk.is_selected_by(&fs.gvk) {
                    continue;
                }
                if scope.blank_subject_namespace {
                    return Err(Error::msg(format!(
                        "Invalid Input: namespace is blank for resource \"{}\"",
                        kyaml_id(referrer)
                    )));
                }
                let segs = fs.segments();
                let mut obj = std::mem::take(&mut resources[ri].obj);
                let ctx = RefCtx { index: &index, referrer, scope: &scope, target: &backref.gvk, path: &fs.path };
                let result = visit_path(&mut obj, &segs, false, &mut |node| ctx.update(node));
                resources[ri].obj = obj;
                result.map_err(|e| {
                    Error::msg(format!("updating name reference in '{}' field of '{}': {e}", fs.path, referrer.id()))
                })?;
            }
        }
    }
    Ok(())
}

/// Which resources a referrer can refer to (kustomize's `SubsetThatCouldBeReferencedByResource`).
struct Scope {
    cluster_scoped: bool,
    namespace: String,
    binding_namespaces: Vec<String>,
    /// A ServiceAccount subject of a RoleBinding has a `namespace` that is not a string (blank
    /// in YAML): kustomize refuses the binding as a referrer rather than guess its namespace.
    blank_subject_namespace: bool,
}

/// A resource's id as kyaml prints it in messages: `Kind.version.group/name.namespace`.
fn kyaml_id(r: &Resource) -> String {
    let id = r.id();
    let or = |s: &str, none: &str| if s.is_empty() { none.to_string() } else { s.to_string() };
    format!(
        "{}.{}.{}/{}.{}",
        or(&id.gvk.kind, "[noKind]"),
        or(&id.gvk.version, "[noVer]"),
        or(&id.gvk.group, "[noGrp]"),
        or(&id.name, "[noName]"),
        or(&id.namespace, "[noNs]")
    )
}

impl Scope {
    fn of(referrer: &Resource) -> Scope {
        let rid = referrer.id();
        let mut binding_namespaces = Vec::new();
        let mut blank_subject_namespace = false;
        if rid.gvk.kind == "RoleBinding"
            && let Some(Value::Array(subjects)) = referrer.obj.get("subjects")
        {
            for s in subjects {
                if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount") {
                    match s.get("namespace") {
                        Some(Value::String(ns)) => binding_namespaces.push(ns.clone()),
                        Some(_) => blank_subject_namespace = true,
                        None => {}
                    }
                }
            }
        }
        Scope {
            cluster_scoped: rid.gvk.is_cluster_scoped(),
            namespace: rid.effective_namespace().to_string(),
            binding_namespaces,
            blank_subject_namespace: blank_subject_namespace && !rid.gvk.is_cluster_scoped(),
        }
    }

    fn contains(&self, t: &Resource) -> bool {
        if self.cluster_scoped {
            return true;
        }
        let id = t.id();
        id.gvk.is_cluster_scoped()
            || id.effective_namespace() == self.namespace
            || self.binding_namespaces.iter().any(|n| n == t.namespace())
    }
}

struct RefCtx<'a> {
    index: &'a Index<'a>,
    referrer: &'a Resource,
    scope: &'a Scope,
    target: &'a Gvk,
    path: &'a str,
}

impl<'a> RefCtx<'a> {
    fn update(&self, node: &mut Value) -> Result<()> {
        match node {
            Value::String(s) => {
                if let Some(r) = self.select(s, None, false)? {
                    *s = r.name().to_string();
                }
                Ok(())
            }
            Value::Array(items) => {
                for item in items.iter_mut() {
                    if item.is_string() || item.is_object() {
                        self.update(item)?;
                    }
                }
                Ok(())
            }
            Value::Object(m) => {
                // As in kustomize, a map's own `kind` (e.g. a subject's) is not consulted.
                let Some(old) = m.get("name").and_then(Value::as_str).map(str::to_string) else {
                    return Ok(());
                };
                let ns = m.get("namespace").and_then(Value::as_str).map(str::to_string);
                if let Some(r) = self.select(&old, ns.as_deref(), true)? {
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

    fn select(&self, old: &str, ns: Option<&str>, with_namespace: bool) -> Result<Option<&'a Resource>> {
        let all = self.index.all;
        let Some(hits) = self.index.by_name.get(old) else {
            return Ok(None);
        };
        let mut pool: Vec<&Resource> = hits.iter().map(|i| &all[*i]).filter(|r| self.scope.contains(r)).collect();
        if let Some(ns) = ns {
            // Namespaces compare as kustomize's ids do: no namespace is `default`.
            let effective = if ns.is_empty() { "default" } else { ns };
            let by_orig: Vec<&Resource> =
                pool.iter().copied().filter(|r| r.orig_id.effective_namespace() == effective).collect();
            pool =
                if by_orig.is_empty() { pool.into_iter().filter(|r| r.namespace() == ns).collect() } else { by_orig };
        }
        let role_ref_gvk = if self.path.ends_with("roleRef/name") {
            self.referrer.obj.get("roleRef").map(|rr| Gvk {
                group: rr.get("apiGroup").and_then(Value::as_str).unwrap_or("").to_string(),
                version: String::new(),
                kind: rr.get("kind").and_then(Value::as_str).unwrap_or("").to_string(),
            })
        } else {
            None
        };
        let rid = self.referrer.id();
        let mut c: Vec<&Resource> = pool
            .into_iter()
            .filter(|r| {
                // As kustomize, only the names a resource had before (not its current one) are
                // matched: a resource never renamed or moved needs no reference fixed, and
                // matching it would compete with the one that was.
                let ids = &r.prev_ids;
                ids.iter().any(|id| id.name == old)
                    && ids.iter().any(|id| id.gvk.is_selected_by(self.target))
                    && role_ref_gvk.as_ref().is_none_or(|g| ids.iter().any(|id| id.gvk.is_selected_by(g)))
            })
            .filter(|r| {
                rid.gvk.is_cluster_scoped()
                    || r.id().gvk.is_cluster_scoped()
                    || r.kind() == "ServiceAccount"
                    || rid.ns_equals(&r.id())
            })
            .collect();
        if c.len() == 1 {
            return Ok(Some(c[0]));
        }
        c.retain(|r| r.prefixes_suffixes_equal(self.referrer, true));
        if c.len() > 1 {
            c.retain(|r| r.prefixes_suffixes_equal(self.referrer, false));
        }
        match c.len() {
            0 => Ok(None),
            1 => Ok(Some(c[0])),
            _ => {
                let first = c[0];
                let same = c
                    .iter()
                    .all(|r| r.name() == first.name() && (!with_namespace || r.namespace() == first.namespace()));
                if same {
                    Ok(Some(first))
                } else {
                    let ids: Vec<String> = c.iter().map(|r| r.id().to_string()).collect();
                    Err(Error::msg(format!("found multiple possible referrals: {}", ids.join(", "))))
                }
            }
        }
    }
}
