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
    /// Whether the value is one node, a list or a map, which decides how a patch merges into it.
    pub shape: Shape,
    /// The definition of the field's value (or of its items / map values).
    pub reference: Option<String>,
    /// Merge keys for lists (`x-kubernetes-list-map-keys`, else `x-kubernetes-patch-merge-key`).
    pub merge_keys: Vec<String>,
    /// `x-kubernetes-patch-strategy`, comma separated.
    pub strategy: String,
}

/// Writes one definition of a Swagger document as table lines; inline object schemas (a
/// property with its own `properties`) become definitions of their own, named after the path.
fn emit_definition<'a>(name: &str, def: &'a Value, body: &mut String) {
    body.push_str(&format!("D {name}\n"));
    let Some(props) = def.get("properties").and_then(Value::as_object) else { return };
    let mut fields: Vec<&String> = props.keys().collect();
    fields.sort();
    let mut inline: Vec<(String, &'a Value)> = Vec::new();
    for field in fields {
        let p = &props[field.as_str()];
        let mut reference = |v: &'a Value, suffix: &str| {
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
                .or_else(|| {
                    v.get("properties").filter(|p| p.is_object()).map(|_| {
                        let synthetic = format!("{name}/{field}{suffix}");
                        inline.push((synthetic.clone(), v));
                        synthetic
                    })
                })
        };
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
        let (shape, r) = if ty == "array" {
            ("l", p.get("items").and_then(|i| reference(i, "[]")))
        } else if ty == "object" && p.get("additionalProperties").is_some() {
            ("m", p.get("additionalProperties").and_then(|a| reference(a, "{}")))
        } else {
            ("o", reference(p, ""))
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
    for (synthetic, v) in inline {
        emit_definition(&synthetic, v, body);
    }
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
            emit_definition(name, def, &mut body);
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
        scalar => Ok(Some(keep_quoted(dest, scalar, ctx.mode))),
    }
}

/// kustomize sets a scalar over a scalar keeping the old one's YAML style: over a quoted
/// string, a number or boolean becomes a string. Only strings that must have been quoted
/// (they would read as something else plain, like `"1"` or `"true"`) are known to be here.
fn keep_quoted(dest: Option<&Value>, patch: &Value, mode: Mode) -> Value {
    let quoted = matches!(dest, Some(Value::String(s)) if !crate::yaml::plain_resolves_to_string(s));
    match patch {
        Value::Number(n) if quoted && mode == Mode::Kustomize => Value::String(crate::yaml::format_number(n)),
        Value::Bool(b) if quoted && mode == Mode::Kustomize => Value::String(b.to_string()),
        other => other.clone(),
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
    let (associative, keys) = match &list {
        Some(l) if l.field.is_some() => {
            let f = l.field.expect("checked");
            let merge = f.strategy.split(',').any(|s| s == "merge");
            (merge, f.merge_keys.clone())
        }
        _ => infer_keys(dest, patch),
    };
    if !associative && dest.is_some() && item_ctx.mode == Mode::Kustomize {
        // kyaml takes a non-associative list from the patch as it is, directives and all.
        return Ok(Some(patch.to_vec()));
    }
    let elided: Vec<Value>;
    let patch = if item_ctx.mode == Mode::Kubernetes {
        // A `$patch: replace` element replaces the whole list with the other elements.
        if patch.iter().any(|p| directive(p) == Some("replace")) {
            let rest: Vec<Value> = patch.iter().filter(|p| directive(p) != Some("replace")).cloned().collect();
            return Ok(Some(rest));
        }
        patch
    } else {
        // kyaml: the first element with a `$patch` key speaks for the whole list only when it
        // has nothing else; otherwise the directive is that element's own.
        match list_directive(patch) {
            Some((d, at)) => {
                elided = patch.iter().enumerate().filter(|(i, _)| *i != at).map(|(_, p)| p.clone()).collect();
                match d {
                    "delete" => return Ok(None),
                    "replace" => {
                        let mut out = Vec::new();
                        for p in &elided {
                            if let Some(v) = merge_value(None, p, item_ctx)? {
                                out.push(v);
                            }
                        }
                        return Ok(Some(out));
                    }
                    "merge" => elided.as_slice(),
                    other => return Err(Error::Invalid(format!("unknown $patch directive {other:?}"))),
                }
            }
            None => patch,
        }
    };
    if dest.is_none()
        && associative
        && keys.len() > 1
        && item_ctx.mode == Mode::Kustomize
        && patch.iter().any(Value::is_object)
    {
        // kyaml starts from the patch's own list and merges the patch into it.
        let start: Vec<Value> = patch.iter().filter(|p| directive(p) != Some("delete")).cloned().collect();
        return merge_multi_key(&start, patch, &keys, item_ctx).map(Some);
    }
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
    if keys.len() > 1 && item_ctx.mode == Mode::Kustomize {
        return merge_multi_key(dest, patch, &keys, item_ctx).map(Some);
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
                if let Some(m) = merge_element(&dest[i], p, item_ctx)?
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

/// Merges a patch element into the list element it matches. kyaml leaves the target's element
/// as it is when the patch's says `$patch: replace` (it only adds such elements when new).
fn merge_element(dest: &Value, patch: &Value, ctx: Ctx<'_>) -> Result<Option<Value>, Error> {
    if ctx.mode == Mode::Kustomize && directive(patch) == Some("replace") {
        return Ok(Some(dest.clone()));
    }
    merge_value(Some(dest), patch, ctx)
}

/// A list-wide directive: the first element with a `$patch` key, when that is its only key.
fn list_directive(patch: &[Value]) -> Option<(&str, usize)> {
    let (at, m) = patch
        .iter()
        .enumerate()
        .find_map(|(i, p)| p.as_object().filter(|m| m.contains_key("$patch")).map(|m| (i, m)))?;
    if m.len() != 1 {
        return None;
    }
    Some((m.get("$patch")?.as_str()?, at))
}

/// The text kustomize compares a merge key by: a scalar's text, `""` for anything else.
fn key_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// Whether `elem` has every `keys[i]` with the text `values[i]` (kustomize's
/// `ElementList`): the fields must be there, empty values included.
fn has_all(elem: &Value, keys: &[String], values: &[String]) -> bool {
    let Some(m) = elem.as_object() else { return false };
    keys.iter().zip(values).all(|(k, v)| m.get(k).is_some_and(|f| key_text(Some(f)) == *v))
}

/// Drops keys whose value is empty in every tuple, unless all are empty (kustomize's
/// `validateKeys`: secondary keys nobody sets do not take part).
fn valid_keys(tuples: &[Vec<String>], values: &[String], keys: &[String]) -> (Vec<String>, Vec<String>) {
    let used: Vec<bool> =
        (0..keys.len()).map(|i| tuples.iter().any(|t| t.get(i).is_some_and(|v| !v.is_empty()))).collect();
    if !used.contains(&true) {
        return (keys.to_vec(), values.to_vec());
    }
    let keep = |i: usize| used[i];
    let ks = keys.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, k)| k.clone()).collect();
    let vs = values.iter().enumerate().filter(|(i, _)| keep(*i)).map(|(_, v)| v.clone()).collect();
    (ks, vs)
}

/// Two key tuples name one element when they share a value and differ only where one of
/// them is empty (a port without `protocol` and the same port with one); the merged tuple.
fn tuples_match(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut out = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            out.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else {
            out.push(if x.is_empty() { y.clone() } else { x.clone() });
        }
    }
    common.then_some(out)
}

/// Sets, replaces or (with `element` `None`) removes the elements of `list` that match
/// `keys`/`values` the way kustomize's `ElementSetter` does: a non-empty value must be equal,
/// an empty one only asks for the field; keys past the values reuse the last check, and no
/// values at all match nothing, which clears the list. An unmatched `element` is appended.
fn element_set(list: &mut Vec<Value>, element: Option<Value>, keys: &[String], values: &[String]) {
    let mapping_setter = keys.first().is_some_and(|k| !k.is_empty()) && values.first().is_some_and(|v| !v.is_empty());
    let mut out = Vec::with_capacity(list.len() + 1);
    let mut found_any = false;
    for elem in std::mem::take(list) {
        if elem.is_null() || elem.as_object().is_some_and(Map::is_empty) {
            continue;
        }
        let Some(m) = elem.as_object() else {
            if mapping_setter || !values.is_empty() {
                out.push(elem);
            }
            continue;
        };
        let mut hit = false;
        let mut found = true;
        for (j, key) in keys.iter().enumerate() {
            if let Some(value) = values.get(j) {
                hit = match m.get(key) {
                    Some(field) => value.is_empty() || key_text(Some(field)) == *value,
                    None => false,
                };
            }
            if !hit {
                found = false;
                break;
            }
        }
        if !found {
            if !values.is_empty() {
                out.push(elem);
            }
            continue;
        }
        found_any = true;
        if let Some(e) = &element {
            out.push(e.clone());
        }
    }
    if let Some(e) = element
        && !found_any
    {
        out.push(e);
    }
    *list = out;
}

/// Merges a list whose elements are identified by several keys (container `ports` by
/// `containerPort` and `protocol`, Service `ports` by `port` and `protocol`,
/// `topologySpreadConstraints`) the way kustomize's kyaml does, quirks included: elements
/// that only the patch has come first, then the target's elements in their order, merged
/// with the patch's; a key missing on one side matches any value on the other, and a patch
/// element that matches a target element only that way is dropped in favour of the target's.
fn merge_multi_key(dest: &[Value], patch: &[Value], keys: &[String], item_ctx: Ctx<'_>) -> Result<Vec<Value>, Error> {
    let tuple =
        |e: &Value| -> Vec<String> { keys.iter().map(|k| key_text(e.as_object().and_then(|m| m.get(k)))).collect() };
    // Every distinct key tuple, the patch's first.
    let mut tuples: Vec<Vec<String>> = Vec::new();
    for e in patch.iter().chain(dest) {
        let t = tuple(e);
        if !tuples.contains(&t) {
            tuples.push(t);
        }
    }
    // Tuples that differ only by empty values name the same element.
    for i in 0..tuples.len() {
        let first = tuples[i].clone();
        for j in 0..tuples.len() {
            if let Some(merged) = tuples_match(&first, &tuples[j]) {
                tuples[i] = merged.clone();
                tuples[j] = merged;
            }
        }
    }
    let mut dest: Vec<Value> = dest.to_vec();
    let mut items: Vec<Value> = Vec::new();
    let mut keys_used = keys.to_vec();
    for values in &tuples {
        let (vk, vv) = valid_keys(&tuples, values, keys);
        // Each side's first element with these values (empty ones left out).
        let (lk, lv) = valid_keys(std::slice::from_ref(&vv), &vv, &vk);
        let in_dest = dest.iter().position(|d| has_all(d, &lk, &lv));
        let in_patch = patch.iter().find(|p| has_all(p, &lk, &lv));
        let merged = match (in_dest, in_patch) {
            (None, None) => None,
            (Some(i), None) => Some(dest[i].clone()),
            (Some(i), Some(p)) => merge_element(&dest[i], p, item_ctx)?,
            (None, Some(p)) => merge_value(None, p, item_ctx)?,
        };
        keys_used.clone_from(&vk);
        let Some(mut val) = merged.filter(|v| !v.as_object().is_some_and(Map::is_empty)) else {
            element_set(&mut dest, None, &vk, &vv);
            continue;
        };
        if let Some(m) = val.as_object_mut() {
            for (k, v) in vk.iter().zip(&vv) {
                if !m.contains_key(k) && !v.is_empty() {
                    let scalar = v.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(v.clone()));
                    m.insert(k.clone(), scalar);
                }
            }
        }
        // The target's element is merged in place.
        if let Some(i) = in_dest {
            dest[i] = val.clone();
        }
        element_set(&mut items, Some(val), &vk, &vv);
    }
    if tuples.is_empty() {
        return Ok(dest);
    }
    // The target's elements go after the patch's, each replacing its own.
    for elem in dest {
        let mut values = Vec::new();
        for key in &keys_used {
            match elem.as_object().and_then(|m| m.get(key)) {
                Some(v) => values.push(key_text(Some(v))),
                None => items.push(elem.clone()),
            }
        }
        if keys_used.len() > 1 {
            element_set(&mut items, None, &keys_used, &values);
        }
        element_set(&mut items, Some(elem), &keys_used, &values);
    }
    Ok(items)
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

    fn service(ports: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": ports}})
    }

    #[test]
    fn service_ports_merge_by_port_and_protocol_as_kustomize_does() {
        let target = service(json!([{"port": 80, "name": "http"}, {"port": 53, "protocol": "UDP", "name": "dns"}]));
        let patch =
            service(json!([{"port": 53, "protocol": "TCP", "name": "dnstcp"}, {"port": 80, "targetPort": 8080}]));
        let out = merge_object(&target, &patch, &[Schema::builtin()]).unwrap().unwrap();
        // New elements first, then the target's in their order, merged.
        assert_eq!(
            out["spec"]["ports"],
            json!([
                {"port": 53, "protocol": "TCP", "name": "dnstcp"},
                {"port": 80, "name": "http", "targetPort": 8080},
                {"port": 53, "protocol": "UDP", "name": "dns"},
            ])
        );
    }

    #[test]
    fn a_port_without_protocol_absorbs_the_same_port_with_one() {
        // kustomize drops the patch's UDP port: its tuple merges with the target's (80, "").
        let target = service(json!([{"port": 80, "name": "http"}]));
        let patch = service(json!([{"port": 80, "protocol": "UDP", "name": "quic"}]));
        let out = merge_object(&target, &patch, &[Schema::builtin()]).unwrap().unwrap();
        assert_eq!(out["spec"]["ports"], json!([{"port": 80, "name": "http"}]));
    }

    #[test]
    fn numbers_over_quoted_strings_stay_strings() {
        let target = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1", "b": "x", "c": "true"}});
        let patch = json!({"data": {"a": 2, "b": 3, "c": false}});
        let out = merge_object(&target, &patch, &[Schema::builtin()]).unwrap().unwrap();
        assert_eq!(out["data"], json!({"a": "2", "b": 3, "c": "false"}));
    }
}
