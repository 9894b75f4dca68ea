//! Strategic merge patch, as kustomize applies it.
//!
//! Merge keys and patch strategies come from Kubernetes' OpenAPI data, compacted into
//! `smp_table.txt` (written by `cargo xtask codegen` from a live control plane's `/openapi/v2`).
//! Where no schema is known (custom resources), lists whose elements all carry a `name` are
//! merged by `name`, and other lists are replaced, as kustomize does.
//!
//! Directives: `$patch: delete|replace|merge`, `$retainKeys`, `$setElementOrder/<list>` and
//! `$deleteFromPrimitiveList/<list>`.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The committed table generated from the control plane's OpenAPI document.
const BUILTIN_TABLE: &str = include_str!("smp_table.txt");

/// The shape of a field in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A scalar or an object.
    Single,
    /// A list.
    List,
    /// A map whose values share one type.
    Map,
}

/// What the schema says about one field.
#[derive(Debug, Clone)]
pub struct Field {
    pub shape: Shape,
    /// The definition of the field's value (or of its items / map values).
    pub reference: Option<String>,
    /// Merge keys for lists (`x-kubernetes-list-map-keys`, else `x-kubernetes-patch-merge-key`).
    pub merge_keys: Vec<String>,
    /// `x-kubernetes-patch-strategy`, comma separated.
    pub strategy: String,
}

/// Definitions and the kinds they describe.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    defs: HashMap<String, HashMap<String, Field>>,
    kinds: HashMap<(String, String), String>,
}

impl Schema {
    /// The built-in schema (parsed once, then shared read-only).
    pub fn builtin() -> &'static Schema {
        static BUILTIN: OnceLock<Schema> = OnceLock::new();
        BUILTIN.get_or_init(|| Schema::parse_table(BUILTIN_TABLE))
    }

    /// Parses the compact table format.
    pub fn parse_table(text: &str) -> Schema {
        let mut schema = Schema::default();
        let mut current: Option<String> = None;
        for line in text.lines() {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.first().copied() {
                Some("K") if parts.len() == 4 => {
                    schema.kinds.insert((parts[1].to_string(), parts[2].to_string()), parts[3].to_string());
                }
                Some("D") if parts.len() == 2 => {
                    schema.defs.entry(parts[1].to_string()).or_default();
                    current = Some(parts[1].to_string());
                }
                Some("F") if parts.len() == 6 => {
                    let Some(def) = current.as_ref().and_then(|c| schema.defs.get_mut(c)) else { continue };
                    let shape = match parts[2] {
                        "l" => Shape::List,
                        "m" => Shape::Map,
                        _ => Shape::Single,
                    };
                    let opt = |s: &str| if s == "-" { None } else { Some(s.to_string()) };
                    def.insert(
                        parts[1].to_string(),
                        Field {
                            shape,
                            reference: opt(parts[3]),
                            merge_keys: opt(parts[4])
                                .map(|k| k.split(',').map(str::to_string).collect())
                                .unwrap_or_default(),
                            strategy: opt(parts[5]).unwrap_or_default(),
                        },
                    );
                }
                _ => {}
            }
        }
        schema
    }

    /// Builds the compact table from a Swagger 2.0 / OpenAPI v2 document.
    pub fn table_from_swagger(doc: &Value) -> String {
        let mut out = String::new();
        let Some(defs) = doc.get("definitions").and_then(Value::as_object) else {
            return out;
        };
        let mut names: Vec<&String> = defs.keys().collect();
        names.sort();
        let mut kinds = Vec::new();
        let mut body = String::new();
        for name in names {
            let def = &defs[name.as_str()];
            if let Some(gvks) = def.get("x-kubernetes-group-version-kind").and_then(Value::as_array) {
                for gvk in gvks {
                    let g = gvk.get("group").and_then(Value::as_str).unwrap_or("");
                    let v = gvk.get("version").and_then(Value::as_str).unwrap_or("");
                    let k = gvk.get("kind").and_then(Value::as_str).unwrap_or("");
                    let api_version = if g.is_empty() { v.to_string() } else { format!("{g}/{v}") };
                    kinds.push(format!("K {api_version} {k} {name}\n"));
                }
            }
            body.push_str(&format!("D {name}\n"));
            let Some(props) = def.get("properties").and_then(Value::as_object) else { continue };
            let mut fields: Vec<&String> = props.keys().collect();
            fields.sort();
            for field in fields {
                let p = &props[field.as_str()];
                let reference = |v: &Value| {
                    v.get("$ref")
                        .and_then(Value::as_str)
                        .or_else(|| {
                            v.get("allOf")
                                .and_then(Value::as_array)
                                .and_then(|a| a.first())
                                .and_then(|f| f.get("$ref"))
                                .and_then(Value::as_str)
                        })
                        .map(|r| r.trim_start_matches("#/definitions/").to_string())
                };
                let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
                let (shape, r) = if ty == "array" {
                    ("l", p.get("items").and_then(reference))
                } else if ty == "object" && p.get("additionalProperties").is_some() {
                    ("m", p.get("additionalProperties").and_then(reference))
                } else {
                    ("o", reference(p))
                };
                let keys = p
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
                    .filter(|s| !s.is_empty())
                    .or_else(|| p.get("x-kubernetes-patch-merge-key").and_then(Value::as_str).map(str::to_string));
                let strategy = p.get("x-kubernetes-patch-strategy").and_then(Value::as_str).map(str::to_string);
                if shape == "o" && r.is_none() && strategy.is_none() {
                    continue;
                }
                if shape == "l" && r.is_none() && strategy.is_none() && keys.is_none() {
                    body.push_str(&format!("F {field} l - - -\n"));
                    continue;
                }
                body.push_str(&format!(
                    "F {field} {shape} {} {} {}\n",
                    r.as_deref().unwrap_or("-"),
                    keys.as_deref().unwrap_or("-"),
                    strategy.as_deref().unwrap_or("-")
                ));
            }
        }
        kinds.sort();
        let mut table = String::new();
        table.push_str("# Generated by `cargo xtask codegen` from the control plane's /openapi/v2. Do not edit.\n");
        for k in kinds {
            table.push_str(&k);
        }
        table.push_str(&body);
        out.push_str(&table);
        out
    }

    /// Adds the definitions of another schema (a kustomization's `openapi` file).
    pub fn extend(&mut self, other: Schema) {
        self.defs.extend(other.defs);
        self.kinds.extend(other.kinds);
    }

    /// The definition describing objects of this apiVersion and kind.
    pub fn def_for(&self, api_version: &str, kind: &str) -> Option<&str> {
        self.kinds.get(&(api_version.to_string(), kind.to_string())).map(String::as_str)
    }

    fn field(&self, def: &str, name: &str) -> Option<&Field> {
        self.defs.get(def)?.get(name)
    }
}

/// Which directives a patch may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// As `kustomize build` applies patches: only `$patch` is a directive; other `$` keys
    /// (`$retainKeys`, `$setElementOrder/...`, `$deleteFromPrimitiveList/...`) are kept as fields.
    #[default]
    Kustomize,
    /// As the Kubernetes API server applies patches: every directive is honoured.
    Kubernetes,
}

/// A schema and a definition in it, or nothing known.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    schemas: &'a [&'a Schema],
    def: Option<&'a str>,
    mode: Mode,
}

impl<'a> Ctx<'a> {
    fn field(&self, name: &str) -> Option<&'a Field> {
        let def = self.def?;
        self.schemas.iter().find_map(|s| s.field(def, name))
    }

    fn with(&self, def: Option<&'a str>) -> Ctx<'a> {
        Ctx { schemas: self.schemas, def, mode: self.mode }
    }
}

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The patch asks for something the document's shape does not allow.
    #[error("strategic merge patch: {0}")]
    Invalid(String),
}

/// Applies `patch` to `target`. Returns `None` when the patch deletes the whole object.
/// `schemas` are searched in order for the object's kind.
pub fn merge_object(target: &Value, patch: &Value, schemas: &[&Schema]) -> Result<Option<Value>, Error> {
    merge_object_with(target, patch, schemas, Mode::Kustomize)
}

/// [`merge_object`] with a choice of directive handling.
pub fn merge_object_with(
    target: &Value,
    patch: &Value,
    schemas: &[&Schema],
    mode: Mode,
) -> Result<Option<Value>, Error> {
    let api_version = target.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = target.get("kind").and_then(Value::as_str).unwrap_or("");
    let def = schemas.iter().find_map(|s| s.def_for(api_version, kind));
    let ctx = Ctx { schemas, def, mode };
    merge_value(Some(target), patch, ctx)
}

/// Applies a patch with no schema information (the way unknown kinds are patched).
pub fn merge_untyped(target: &Value, patch: &Value) -> Result<Option<Value>, Error> {
    merge_value(Some(target), patch, Ctx { schemas: &[], def: None, mode: Mode::Kustomize })
}

fn directive(v: &Value) -> Option<&str> {
    v.as_object()?.get("$patch")?.as_str()
}

fn merge_value(dest: Option<&Value>, patch: &Value, ctx: Ctx<'_>) -> Result<Option<Value>, Error> {
    match patch {
        Value::Null => Ok(None),
        Value::Object(pm) => {
            match directive(patch) {
                Some("delete") => return Ok(None),
                Some("replace") => return Ok(Some(Value::Object(strip_directives(pm, ctx)?))),
                Some("merge") | None => {}
                Some(other) => return Err(Error::Invalid(format!("unknown $patch directive {other:?}"))),
            }
            let base = match dest {
                Some(Value::Object(dm)) => dm.clone(),
                _ => Map::new(),
            };
            merge_map(base, pm, ctx).map(|m| Some(Value::Object(m)))
        }
        Value::Array(pitems) => {
            let base = match dest {
                Some(Value::Array(d)) => Some(d.as_slice()),
                _ => None,
            };
            merge_list(base, pitems, None, ctx).map(|l| l.map(Value::Array))
        }
        scalar => Ok(Some(scalar.clone())),
    }
}

fn strip_directives(m: &Map<String, Value>, ctx: Ctx<'_>) -> Result<Map<String, Value>, Error> {
    merge_map(Map::new(), m, ctx)
}

fn merge_map(
    mut base: Map<String, Value>,
    patch: &Map<String, Value>,
    ctx: Ctx<'_>,
) -> Result<Map<String, Value>, Error> {
    let mut retain: Option<Vec<String>> = None;
    let mut orders: HashMap<String, &Vec<Value>> = HashMap::new();
    let mut deletes: HashMap<String, &Vec<Value>> = HashMap::new();
    for (key, pv) in patch {
        if key == "$patch" {
            continue;
        }
        let directives = ctx.mode == Mode::Kubernetes;
        if directives && key == "$retainKeys" {
            retain = pv.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
            continue;
        }
        if let Some(list) = key.strip_prefix("$setElementOrder/").filter(|_| directives) {
            if let Some(a) = pv.as_array() {
                orders.insert(list.to_string(), a);
            }
            continue;
        }
        if let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/").filter(|_| directives) {
            if let Some(a) = pv.as_array() {
                deletes.insert(list.to_string(), a);
            }
            continue;
        }
        let field = ctx.field(key);
        let child_ctx = ctx.with(field.and_then(|f| f.reference.as_deref()));
        let merged = match (pv, field) {
            (Value::Array(pitems), _) => {
                let dest = base.get(key).and_then(Value::as_array).map(Vec::as_slice);
                let list_ctx = ListCtx { field };
                merge_list(dest, pitems, Some(list_ctx), child_ctx)?.map(Value::Array)
            }
            (Value::Object(_), Some(f)) if f.shape == Shape::Map => {
                // A map of typed values: merge each value with its definition.
                let dest = base.get(key);
                let mut out = match dest {
                    Some(Value::Object(d)) => d.clone(),
                    _ => Map::new(),
                };
                if directive(pv) == Some("replace") {
                    out = Map::new();
                }
                if directive(pv) == Some("delete") {
                    base.remove(key);
                    continue;
                }
                if let Some(pm) = pv.as_object() {
                    for (k, v) in pm {
                        if k == "$patch" {
                            continue;
                        }
                        match merge_value(out.get(k), v, child_ctx)? {
                            Some(m) => {
                                out.insert(k.clone(), m);
                            }
                            None => {
                                out.remove(k);
                            }
                        }
                    }
                }
                Some(Value::Object(out))
            }
            _ => merge_value(base.get(key), pv, child_ctx)?,
        };
        match merged {
            Some(v) => {
                base.insert(key.clone(), v);
            }
            None => {
                base.remove(key);
            }
        }
    }
    for (list, values) in deletes {
        if let Some(Value::Array(items)) = base.get_mut(&list) {
            items.retain(|i| !values.contains(i));
        }
    }
    for (list, order) in orders {
        if let Some(Value::Array(items)) = base.get_mut(&list) {
            let keys = ctx.field(&list).map(|f| f.merge_keys.clone()).unwrap_or_default();
            reorder(items, order, &keys);
        }
    }
    if let Some(keep) = retain {
        base.retain(|k, _| keep.iter().any(|r| r == k));
    }
    Ok(base)
}

fn reorder(items: &mut Vec<Value>, order: &[Value], keys: &[String]) {
    let key_of = |v: &Value| -> Value {
        match (v, keys.first()) {
            (Value::Object(m), Some(k)) => m.get(k).cloned().unwrap_or(Value::Null),
            (other, _) => other.clone(),
        }
    };
    let mut ordered = Vec::with_capacity(items.len());
    let mut rest: Vec<Value> = std::mem::take(items);
    for o in order {
        let want = key_of(o);
        if let Some(pos) = rest.iter().position(|i| key_of(i) == want) {
            ordered.push(rest.remove(pos));
        }
    }
    ordered.extend(rest);
    *items = ordered;
}

struct ListCtx<'a> {
    field: Option<&'a Field>,
}

fn merge_list(
    dest: Option<&[Value]>,
    patch: &[Value],
    list: Option<ListCtx<'_>>,
    item_ctx: Ctx<'_>,
) -> Result<Option<Vec<Value>>, Error> {
    // A `$patch: replace` element replaces the whole list with the other elements.
    if patch.iter().any(|p| directive(p) == Some("replace")) {
        let rest: Vec<Value> = patch.iter().filter(|p| directive(p) != Some("replace")).cloned().collect();
        return Ok(Some(rest));
    }
    let (associative, keys) = match &list {
        Some(l) if l.field.is_some() => {
            let f = l.field.expect("checked");
            let merge = f.strategy.split(',').any(|s| s == "merge");
            (merge, f.merge_keys.clone())
        }
        _ => infer_keys(dest, patch),
    };
    let Some(dest) = dest else {
        // Nothing to merge into: the patch's list, without directives.
        let mut out = Vec::new();
        for p in patch {
            if directive(p) == Some("delete") {
                continue;
            }
            if let Some(v) = merge_value(None, p, item_ctx)? {
                out.push(v);
            }
        }
        return Ok(Some(out));
    };
    if !associative {
        let mut out = Vec::new();
        for p in patch {
            if let Some(v) = merge_value(None, p, item_ctx)? {
                out.push(v);
            }
        }
        return Ok(Some(out));
    }
    let scalars = patch.iter().all(|p| !p.is_object()) && dest.iter().all(|d| !d.is_object());
    if scalars || keys.is_empty() {
        // A set of primitives: the patch's values first, then the others.
        let mut out: Vec<Value> = Vec::new();
        for v in patch.iter().chain(dest.iter()) {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
        return Ok(Some(out));
    }
    let key_values = |v: &Value| -> Vec<Option<Value>> {
        keys.iter().map(|k| v.as_object().and_then(|m| m.get(k)).cloned()).collect()
    };
    let matches = |a: &[Option<Value>], b: &[Option<Value>]| -> bool {
        // Compare on the keys the patch element has (secondary keys may be missing).
        let present: Vec<usize> = (0..b.len()).filter(|i| b[*i].is_some()).collect();
        let idx: Vec<usize> = if present.is_empty() { (0..b.len()).collect() } else { present };
        idx.iter().all(|i| a[*i] == b[*i])
    };
    // kustomize prepends: the patch's elements come first (merged with their match in the
    // target), then the target's elements the patch does not mention, in their order.
    let mut used = vec![false; dest.len()];
    let mut front: Vec<Value> = Vec::new();
    for p in patch {
        let pk = key_values(p);
        let pos = dest.iter().enumerate().position(|(i, d)| !used[i] && matches(&key_values(d), &pk));
        if directive(p) == Some("delete") {
            if let Some(i) = pos {
                used[i] = true;
            }
            continue;
        }
        match pos {
            Some(i) => {
                used[i] = true;
                if let Some(m) = merge_value(Some(&dest[i]), p, item_ctx)?
                    && !m.as_object().is_some_and(Map::is_empty)
                {
                    front.push(m);
                }
            }
            None => {
                if let Some(v) = merge_value(None, p, item_ctx)?
                    && !v.as_object().is_some_and(Map::is_empty)
                {
                    front.push(v);
                }
            }
        }
    }
    for (i, d) in dest.iter().enumerate() {
        if !used[i] {
            front.push(d.clone());
        }
    }
    Ok(Some(front))
}

/// Lists without schema are replaced by the patch's list, as kustomize does.
fn infer_keys(_dest: Option<&[Value]>, _patch: &[Value]) -> (bool, Vec<String>) {
    (false, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "a", "image": "a:1", "args": ["x"], "ports": [{"containerPort": 80}]},
                {"name": "b", "image": "b:1"}]}}}})
    }

    #[test]
    fn merges_containers_by_name() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]}}}});
        let out = merge_object(&deployment(), &patch, &[Schema::builtin()]).unwrap().unwrap();
        let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["b", "c", "a"]);
        assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["image"], "b:2");
    }

    #[test]
    fn deletes_with_directive_and_null() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "$patch": "delete"}, {"name": "b", "image": null}]}}}});
        let out = merge_object(&deployment(), &patch, &[Schema::builtin()]).unwrap().unwrap();
        assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "b"}]));
    }

    #[test]
    fn replaces_primitive_lists() {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "args": ["y"]}]}}}});
        let out = merge_object(&deployment(), &patch, &[Schema::builtin()]).unwrap().unwrap();
        assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["args"], json!(["y"]));
    }

    #[test]
    fn kubernetes_directives() {
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "a", "$deleteFromPrimitiveList/args": ["x"]}]}}}});
        let out = merge_object_with(&deployment(), &patch, &[Schema::builtin()], Mode::Kubernetes).unwrap().unwrap();
        let containers = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["name"], "b");
        assert_eq!(containers[1]["args"], json!([]));
        let kept = merge_object(&deployment(), &patch, &[Schema::builtin()]).unwrap().unwrap();
        assert!(kept["spec"]["template"]["spec"].get("$setElementOrder/containers").is_some());
        let retain = json!({"metadata": {"$retainKeys": ["name"], "name": "d"}});
        let out = merge_object_with(&deployment(), &retain, &[Schema::builtin()], Mode::Kubernetes).unwrap().unwrap();
        assert_eq!(out["metadata"], json!({"name": "d"}));
    }

    #[test]
    fn whole_object_delete() {
        let out = merge_object(&deployment(), &json!({"$patch": "delete"}), &[Schema::builtin()]).unwrap();
        assert!(out.is_none());
    }

    #[test]
    fn untyped_lists_are_replaced() {
        let target = json!({"apiVersion": "x/v1", "kind": "Foo", "spec": {"items": [{"name": "a", "v": 1}]}});
        let patch = json!({"spec": {"items": [{"name": "b"}]}});
        let out = merge_object(&target, &patch, &[Schema::builtin()]).unwrap().unwrap();
        assert_eq!(out["spec"]["items"], json!([{"name": "b"}]));
    }
}
