//! Sprig's defaults and JSON functions: `default`, `empty`, `coalesce`,
//! `ternary`, `toJson`..., `deepCopy`, with Sprig's emptiness (0, false, ""
//! and empty collections are empty).

use std::sync::Arc;

use super::json::{JsonStyle, from_json, to_json};
use super::{empty, kind, nil_deref};
use crate::error::FuncError;
use crate::func::{FuncMap, Function};
use crate::sig::Ty;
use crate::value::{Elem, Value};

fn compact(list: &Value, name: &str) -> Result<Value, FuncError> {
    match list {
        Value::List(items, _) => {
            Ok(Value::List(Arc::new(items.iter().filter(|x| !empty(x)).cloned().collect()), Elem::Any))
        }
        Value::Bytes(b) => Ok(Value::list(b.iter().filter(|x| **x != 0).map(|x| Value::Int(*x as i64)).collect())),
        Value::Nil | Value::Missing => Err(nil_deref()),
        other => Err(FuncError::msg(format!("Cannot {name} on type {}", kind(other)))),
    }
}

pub(super) fn register(m: &mut FuncMap) {
    use Ty::{Any, Bool, String as Str};
    m.insert(
        "default",
        Function::variadic(
            &[Any],
            Any,
            |a| {
                if a.len() < 2 || empty(&a[1]) { Ok(a[0].clone()) } else { Ok(a[1].clone()) }
            },
        ),
    );
    m.insert("empty", Function::fixed(&[Any], |a| Ok(Value::Bool(empty(&a[0])))));
    m.insert(
        "coalesce",
        Function::variadic(&[], Any, |a| Ok(a.iter().find(|v| !empty(v)).cloned().unwrap_or(Value::Nil))),
    );
    m.insert("all", Function::variadic(&[], Any, |a| Ok(Value::Bool(a.iter().all(|v| !empty(v))))));
    m.insert("any", Function::variadic(&[], Any, |a| Ok(Value::Bool(a.iter().any(|v| !empty(v))))));
    m.insert("compact", Function::fixed(&[Any], |a| compact(&a[0], "compact")));
    m.insert("mustCompact", Function::fixed(&[Any], |a| compact(&a[0], "compact")));
    m.insert(
        "fromJson",
        Function::fixed(&[Str], |a| Ok(from_json(a[0].as_str().unwrap_or_default()).unwrap_or(Value::Nil))),
    );
    m.insert("mustFromJson", Function::fixed(&[Str], |a| from_json(a[0].as_str().unwrap_or_default())));
    m.insert(
        "toJson",
        Function::fixed(&[Any], |a| Ok(Value::from(to_json(&a[0], JsonStyle::Compact).unwrap_or_default()))),
    );
    m.insert("mustToJson", Function::fixed(&[Any], |a| to_json(&a[0], JsonStyle::Compact).map(Value::from)));
    m.insert(
        "toPrettyJson",
        Function::fixed(&[Any], |a| Ok(Value::from(to_json(&a[0], JsonStyle::Pretty).unwrap_or_default()))),
    );
    m.insert("mustToPrettyJson", Function::fixed(&[Any], |a| to_json(&a[0], JsonStyle::Pretty).map(Value::from)));
    m.insert("toRawJson", Function::fixed(&[Any], |a| to_json(&a[0], JsonStyle::Raw).map(Value::from)));
    m.insert("mustToRawJson", Function::fixed(&[Any], |a| to_json(&a[0], JsonStyle::Raw).map(Value::from)));
    m.insert(
        "ternary",
        Function::fixed(&[Any, Any, Bool], |a| {
            Ok(if matches!(a[2], Value::Bool(true)) { a[0].clone() } else { a[1].clone() })
        }),
    );
    m.insert("deepCopy", Function::fixed(&[Any], |a| Ok(a[0].deep_copy())));
    m.insert("mustDeepCopy", Function::fixed(&[Any], |a| Ok(a[0].deep_copy())));
    m.insert("fail", Function::fixed(&[Str], |a| Err(FuncError::msg(a[0].as_str().unwrap_or_default()))));
}
