//! Sprig's dict functions. Dicts are Go maps: `set`, `unset` and `merge`
//! change the map in place and every holder sees it, which charts rely on
//! (`$_ := set $ctx "k" v`).

use std::sync::Arc;

use super::{empty, strval};
use crate::error::FuncError;
use crate::func::{FuncMap, Function};
use crate::sig::Ty;
use crate::value::{Elem, Map, MapEntries, Value};

const MAP: Ty = Ty::Map("map[string]interface {}");

fn map_of(v: &Value) -> Map {
    match v {
        Value::Map(m) => m.clone(),
        _ => Map::new(),
    }
}

fn key(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// mergo's `isEmptyValue` on a map element (interfaces dereferenced): a
/// struct is never empty, a map-kind object when it has no entries.
fn mergo_empty(v: &Value) -> bool {
    empty(v)
}

/// mergo's `Merge`/`MergeWithOverwrite` of `src` into `dst`, in place.
pub fn merge_into(dst: &Map, src: &Map, overwrite: bool) {
    if dst.ptr_eq(src) {
        return;
    }
    for (k, sv) in src.entries() {
        let dv = dst.get(&k);
        if let (Value::Map(sm), Some(Value::Map(dm))) = (&sv, &dv) {
            merge_into(dm, sm, overwrite);
            if !dm.is_empty() {
                continue;
            }
        }
        if sv.is_nil() {
            if overwrite {
                dst.insert(k, Value::Nil);
            }
            continue;
        }
        let set = match &dv {
            None => true,
            Some(d) => overwrite || mergo_empty(d),
        };
        if set {
            dst.insert(k, sv);
        }
    }
}

fn dig(args: &[Value]) -> Result<Value, FuncError> {
    let n = args.len();
    let conv = |v: &Value, want: &str| {
        let got = if v.is_nil() { "nil".to_string() } else { v.type_name().to_string() };
        FuncError::msg(format!("interface conversion: interface {{}} is {got}, not {want}"))
    };
    let Value::Map(mut dict) = args[n - 1].clone() else {
        return Err(conv(&args[n - 1], "map[string]interface {}"));
    };
    let default = &args[n - 2];
    let mut keys = Vec::new();
    for k in &args[..n - 2] {
        match k {
            Value::String(s) => keys.push(s.clone()),
            other => return Err(conv(other, "string")),
        }
    }
    for (i, k) in keys.iter().enumerate() {
        let Some(step) = dict.get(k) else {
            return Ok(default.clone());
        };
        if i == keys.len() - 1 {
            return Ok(step);
        }
        match step {
            Value::Map(m) => dict = m,
            other => return Err(conv(&other, "map[string]interface {}")),
        }
    }
    Ok(default.clone())
}

pub(super) fn register(m: &mut FuncMap) {
    use Ty::{Any, String as Str};
    m.insert(
        "get",
        Function::fixed(&[MAP, Str], |a| Ok(map_of(&a[0]).get(key(&a[1])).unwrap_or_else(|| Value::string("")))),
    );
    m.insert(
        "set",
        Function::fixed(&[MAP, Str, Any], |a| {
            let d = map_of(&a[0]);
            d.insert(key(&a[1]), a[2].clone());
            Ok(Value::Map(d))
        }),
    );
    m.insert(
        "unset",
        Function::fixed(&[MAP, Str], |a| {
            let d = map_of(&a[0]);
            d.write().remove(key(&a[1]));
            Ok(Value::Map(d))
        }),
    );
    m.insert(
        "hasKey",
        Function::fixed(&[MAP, Str], |a| Ok(Value::Bool(map_of(&a[0]).read().contains_key(key(&a[1]))))),
    );
    m.insert(
        "pluck",
        Function::variadic(&[Str], MAP, |a| {
            let k = key(&a[0]);
            Ok(Value::list(a[1..].iter().filter_map(|d| map_of(d).get(k)).collect()))
        }),
    );
    m.insert(
        "keys",
        Function::variadic(&[], MAP, |a| {
            let mut ks = Vec::new();
            for d in &a {
                ks.extend(map_of(d).read().keys().map(Value::string));
            }
            Ok(Value::List(Arc::new(ks), Elem::String))
        }),
    );
    m.insert(
        "pick",
        Function::variadic(&[MAP], Str, |a| {
            let d = map_of(&a[0]);
            let mut res = MapEntries::new();
            for k in &a[1..] {
                if let Some(v) = d.get(key(k)) {
                    res.insert(key(k).to_string(), v);
                }
            }
            Ok(Value::map(res))
        }),
    );
    m.insert(
        "omit",
        Function::variadic(&[MAP], Str, |a| {
            let d = map_of(&a[0]);
            let omit: Vec<&str> = a[1..].iter().map(key).collect();
            let res: MapEntries = d
                .read()
                .iter()
                .filter(|(k, _)| !omit.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok(Value::map(res))
        }),
    );
    m.insert(
        "dict",
        Function::variadic(&[], Any, |a| {
            let mut d = MapEntries::new();
            for pair in a.chunks(2) {
                let k = strval(&pair[0]);
                d.insert(k, pair.get(1).cloned().unwrap_or_else(|| Value::string("")));
            }
            Ok(Value::map(d))
        }),
    );
    for (name, overwrite) in
        [("merge", false), ("mustMerge", false), ("mergeOverwrite", true), ("mustMergeOverwrite", true)]
    {
        m.insert(
            name,
            Function::variadic(&[MAP], MAP, move |a| {
                let dst = map_of(&a[0]);
                for src in &a[1..] {
                    merge_into(&dst, &map_of(src), overwrite);
                }
                Ok(Value::Map(dst))
            }),
        );
    }
    m.insert("values", Function::fixed(&[MAP], |a| Ok(Value::list(map_of(&a[0]).read().values().cloned().collect()))));
    m.insert(
        "dig",
        Function::variadic(&[], Any, |a| {
            if a.len() < 3 {
                return Err(FuncError::msg("dig needs at least three arguments"));
            }
            dig(&a)
        }),
    );
}
