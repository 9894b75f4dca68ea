//! Sprig's list functions. They accept any slice and return new
//! `[]interface{}` lists (never aliasing the input), with Sprig's errors for
//! non-lists ("Cannot push on type string") and Go's for nil.

use std::sync::Arc;

use super::conv::{strslice, to_int64};
use super::{deep_equal, kind, nil_deref, strval};
use crate::error::FuncError;
use crate::func::{FuncMap, Function};
use crate::sig::Ty;
use crate::value::{Elem, Value};

/// The elements of a slice argument, or Sprig's error naming `what`.
fn items(v: &Value, what: &str) -> Result<Vec<Value>, FuncError> {
    match v {
        Value::List(l, _) => Ok(l.to_vec()),
        Value::Bytes(b) => Ok(b.iter().map(|x| Value::Int(*x as i64)).collect()),
        Value::Missing | Value::Nil => Err(nil_deref()),
        other => Err(FuncError::msg(format!("Cannot {what} type {}", kind(other)))),
    }
}

fn list(v: Vec<Value>) -> Value {
    Value::List(Arc::new(v), Elem::Any)
}

pub(super) fn register(m: &mut FuncMap) {
    use Ty::{Any, Int};
    let mk_list = || Function::variadic(&[], Any, |a| Ok(list(a)));
    m.insert("list", mk_list());
    m.insert("tuple", mk_list());
    for name in ["append", "push", "mustAppend", "mustPush"] {
        m.insert(
            name,
            Function::fixed(&[Any, Any], |a| {
                let mut l = items(&a[0], "push on")?;
                l.push(a[1].clone());
                Ok(list(l))
            }),
        );
    }
    for name in ["prepend", "mustPrepend"] {
        m.insert(
            name,
            Function::fixed(&[Any, Any], |a| {
                let mut l = items(&a[0], "prepend on")?;
                l.insert(0, a[1].clone());
                Ok(list(l))
            }),
        );
    }
    for name in ["first", "mustFirst"] {
        m.insert(
            name,
            Function::fixed(&[Any], |a| Ok(items(&a[0], "find first on")?.first().cloned().unwrap_or(Value::Nil))),
        );
    }
    for name in ["last", "mustLast"] {
        m.insert(
            name,
            Function::fixed(&[Any], |a| Ok(items(&a[0], "find last on")?.last().cloned().unwrap_or(Value::Nil))),
        );
    }
    for name in ["rest", "mustRest"] {
        m.insert(
            name,
            Function::fixed(&[Any], |a| {
                let l = items(&a[0], "find rest on")?;
                Ok(list(l.get(1..).map(<[Value]>::to_vec).unwrap_or_default()))
            }),
        );
    }
    for name in ["initial", "mustInitial"] {
        m.insert(
            name,
            Function::fixed(&[Any], |a| {
                let l = items(&a[0], "find initial on")?;
                Ok(list(if l.is_empty() { Vec::new() } else { l[..l.len() - 1].to_vec() }))
            }),
        );
    }
    for name in ["reverse", "mustReverse"] {
        m.insert(
            name,
            Function::fixed(&[Any], |a| {
                let mut l = items(&a[0], "find reverse on")?;
                l.reverse();
                Ok(list(l))
            }),
        );
    }
    for name in ["uniq", "mustUniq"] {
        m.insert(
            name,
            Function::fixed(&[Any], |a| {
                let mut out: Vec<Value> = Vec::new();
                for x in items(&a[0], "find uniq on")? {
                    if !out.iter().any(|y| deep_equal(&x, y)) {
                        out.push(x);
                    }
                }
                Ok(list(out))
            }),
        );
    }
    for name in ["without", "mustWithout"] {
        m.insert(
            name,
            Function::variadic(&[Any], Any, |a| {
                let omit = &a[1..];
                let l = items(&a[0], "find without on")?;
                Ok(list(l.into_iter().filter(|x| !omit.iter().any(|o| deep_equal(x, o))).collect()))
            }),
        );
    }
    for name in ["has", "mustHas"] {
        m.insert(
            name,
            Function::fixed(&[Any, Any], |a| {
                if a[1].is_nil() {
                    return Ok(Value::Bool(false));
                }
                let l = items(&a[1], "find has on")?;
                Ok(Value::Bool(l.iter().any(|x| deep_equal(&a[0], x))))
            }),
        );
    }
    for name in ["slice", "mustSlice"] {
        m.insert(
            name,
            Function::variadic(&[Any], Any, |a| {
                let (l, elem) = match &a[0] {
                    Value::List(l, e) => (l.to_vec(), *e),
                    Value::Missing | Value::Nil => return Err(nil_deref()),
                    other => {
                        return Err(FuncError::msg(format!(
                            "list should be type of slice or array but {}",
                            kind(other)
                        )));
                    }
                };
                if l.is_empty() {
                    return Ok(Value::Nil);
                }
                let start = a.get(1).map(to_int64).unwrap_or(0);
                let end = if a.len() < 3 { l.len() as i64 } else { to_int64(&a[2]) };
                if start < 0 || end < start || end as usize > l.len() {
                    return Err(FuncError::msg("reflect.Value.Slice: slice index out of bounds"));
                }
                Ok(Value::List(Arc::new(l[start as usize..end as usize].to_vec()), elem))
            }),
        );
    }
    m.insert(
        "concat",
        Function::variadic(&[], Any, |a| {
            let mut out = Vec::new();
            for l in &a {
                match l {
                    Value::List(items, _) => out.extend(items.iter().cloned()),
                    Value::Bytes(b) => out.extend(b.iter().map(|x| Value::Int(*x as i64))),
                    Value::Missing | Value::Nil => return Err(nil_deref()),
                    other => return Err(FuncError::msg(format!("Cannot concat type {} as list", kind(other)))),
                }
            }
            Ok(list(out))
        }),
    );
    for name in ["chunk", "mustChunk"] {
        m.insert(
            name,
            Function::fixed(&[Int, Any], |a| {
                let size = to_int64(&a[0]);
                let l = items(&a[1], "chunk")?;
                if size <= 0 {
                    return Err(FuncError::msg("runtime error: makeslice: len out of range"));
                }
                Ok(list(l.chunks(size as usize).map(|c| list(c.to_vec())).collect()))
            }),
        );
    }
    m.insert(
        "sortAlpha",
        Function::fixed(&[Any], |a| {
            let mut v = match &a[0] {
                Value::List(..) | Value::Bytes(_) => strslice(&a[0]),
                other => vec![strval(other)],
            };
            v.sort();
            Ok(Value::List(Arc::new(v.into_iter().map(Value::from).collect()), Elem::String))
        }),
    );
}
