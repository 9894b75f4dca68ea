//! Go's predefined template functions (`and`, `or`, `not`, `len`, `index`,
//! `slice`, comparisons, `print*`, `html`, `js`, `urlquery`, `call`) with
//! Go's comparison rules and error messages.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::error::FuncError;
use crate::func::{FuncMap, Function, Special};
use crate::gofmt;
use crate::sig::{Signature, Ty};
use crate::value::Value;

/// The builtins as a function map.
pub fn funcs() -> FuncMap {
    let mut m = FuncMap::new();
    let r = Ty::Reflect;
    m.insert("and", Function::variadic(&[r], r, |_| Ok(Value::Missing)).special(Special::And));
    m.insert("or", Function::variadic(&[r], r, |_| Ok(Value::Missing)).special(Special::Or));
    m.insert("not", Function::fixed(&[r], |a| Ok(Value::Bool(!a[0].truthy()))));
    m.insert("len", Function::fixed(&[r], |a| length(&a[0]).map(Value::Int)));
    m.insert("index", Function::variadic(&[r], r, |a| index(&a[0], &a[1..])));
    m.insert("slice", Function::variadic(&[r], r, |a| slice(&a[0], &a[1..])));
    m.insert("eq", Function::variadic(&[r], r, |a| eq(&a[0], &a[1..]).map(Value::Bool)));
    m.insert("ne", Function::fixed(&[r, r], |a| eq(&a[0], &a[1..]).map(|b| Value::Bool(!b))));
    m.insert("lt", Function::fixed(&[r, r], |a| lt(&a[0], &a[1]).map(Value::Bool)));
    m.insert("le", Function::fixed(&[r, r], |a| le(&a[0], &a[1]).map(Value::Bool)));
    m.insert("gt", Function::fixed(&[r, r], |a| le(&a[0], &a[1]).map(|b| Value::Bool(!b))));
    m.insert("ge", Function::fixed(&[r, r], |a| lt(&a[0], &a[1]).map(|b| Value::Bool(!b))));
    m.insert("print", Function::variadic(&[], Ty::Any, |a| Ok(Value::from(gofmt::sprint(&a)))));
    m.insert("println", Function::variadic(&[], Ty::Any, |a| Ok(Value::from(gofmt::sprintln(&a)))));
    m.insert(
        "printf",
        Function::variadic(&[Ty::String], Ty::Any, |a| {
            Ok(Value::from(gofmt::sprintf(a[0].as_str().unwrap_or_default(), &a[1..])))
        }),
    );
    m.insert("html", Function::variadic(&[], Ty::Any, |a| Ok(Value::from(html_escape(&eval_args(&a))))));
    m.insert("js", Function::variadic(&[], Ty::Any, |a| Ok(Value::from(js_escape(&eval_args(&a))))));
    m.insert("urlquery", Function::variadic(&[], Ty::Any, |a| Ok(Value::from(query_escape(&eval_args(&a))))));
    m.insert(
        "call",
        Function::new(Signature::variadic(&[r], r), |_, a| {
            Err(FuncError::msg(format!("non-function {} of type {}", gofmt::to_string(&a[0]), a[0].type_name())))
        }),
    );
    m
}

/// Go's `evalArgs`: a single string argument as is, else `fmt.Sprint`.
fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.to_string();
    }
    gofmt::sprint(args)
}

fn length(v: &Value) -> Result<i64, FuncError> {
    Ok(match v {
        Value::String(s) => s.len() as i64,
        Value::Bytes(b) => b.len() as i64,
        Value::List(l, _) => l.len() as i64,
        Value::Map(m) => m.len() as i64,
        Value::Missing => return Err(FuncError::msg("reflect: call of reflect.Value.Type on zero Value")),
        Value::Nil => return Err(FuncError::msg("len of nil pointer")),
        Value::Object(o) if o.map_len().is_some() => o.map_len().unwrap_or_default() as i64,
        other => return Err(FuncError::msg(format!("len of type {}", other.type_name()))),
    })
}

fn index_arg(index: &Value, cap: usize) -> Result<usize, FuncError> {
    let x = match index {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Missing | Value::Nil => return Err(FuncError::msg("cannot index slice/array with nil")),
        other => return Err(FuncError::msg(format!("cannot index slice/array with type {}", other.type_name()))),
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(FuncError::msg(format!("index out of range: {x}")));
    }
    Ok(x as usize)
}

/// Go's `index`: `x[1][2]` over maps, slices and strings.
pub fn index(item: &Value, indexes: &[Value]) -> Result<Value, FuncError> {
    let mut item = item.clone();
    if item.is_nil() {
        return Err(FuncError::msg("index of untyped nil"));
    }
    for index in indexes {
        item = match &item {
            Value::Nil | Value::Missing => return Err(FuncError::msg("index of nil pointer")),
            Value::List(l, _) => {
                let x = index_arg(index, l.len())?;
                match l.get(x) {
                    Some(v) => v.clone(),
                    None => return Err(FuncError::msg(format!("index out of range: {x}"))),
                }
            }
            Value::String(s) => {
                let x = index_arg(index, s.len())?;
                match s.as_bytes().get(x) {
                    Some(b) => Value::Int(*b as i64),
                    None => return Err(FuncError::msg(format!("index out of range: {x}"))),
                }
            }
            Value::Bytes(b) => {
                let x = index_arg(index, b.len())?;
                match b.get(x) {
                    Some(b) => Value::Int(*b as i64),
                    None => return Err(FuncError::msg(format!("index out of range: {x}"))),
                }
            }
            Value::Map(m) => match index {
                Value::String(k) => m.get(k).unwrap_or(Value::Nil),
                Value::Missing => return Err(FuncError::msg("value is nil; should be of type string")),
                other => {
                    return Err(FuncError::msg(format!("value has type {}; should be string", other.type_name())));
                }
            },
            Value::Object(o) if o.map_len().is_some() => match index {
                Value::String(k) => o.map_get(k).unwrap_or_else(|| o.map_zero()),
                Value::Missing => return Err(FuncError::msg("value is nil; should be of type string")),
                other => {
                    return Err(FuncError::msg(format!("value has type {}; should be string", other.type_name())));
                }
            },
            other => return Err(FuncError::msg(format!("can't index item of type {}", other.type_name()))),
        };
    }
    Ok(item)
}

/// Go's `slice`: `x[1:2]` over slices and strings.
fn slice(item: &Value, indexes: &[Value]) -> Result<Value, FuncError> {
    if item.is_nil() {
        return Err(FuncError::msg("slice of untyped nil"));
    }
    if indexes.len() > 3 {
        return Err(FuncError::msg(format!("too many slice indexes: {}", indexes.len())));
    }
    let cap = match item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err(FuncError::msg("cannot 3-index slice a string"));
            }
            s.len()
        }
        Value::List(l, _) => l.len(),
        Value::Bytes(b) => b.len(),
        other => return Err(FuncError::msg(format!("can't slice item of type {}", other.type_name()))),
    };
    let mut idx = [0usize, cap, cap];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, cap)?;
    }
    if idx[0] > idx[1] {
        return Err(FuncError::msg(format!("invalid slice index: {} > {}", idx[0], idx[1])));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(FuncError::msg(format!("invalid slice index: {} > {}", idx[1], idx[2])));
    }
    Ok(match item {
        Value::String(s) => match s.get(idx[0]..idx[1]) {
            Some(sub) => Value::string(sub),
            None => Value::from(crate::strconv::from_go_bytes(&s.as_bytes()[idx[0]..idx[1]])),
        },
        Value::List(l, e) => Value::List(Arc::new(l[idx[0]..idx[1]].to_vec()), *e),
        Value::Bytes(b) => Value::Bytes(Arc::from(&b[idx[0]..idx[1]])),
        _ => Value::Missing,
    })
}

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Basic {
    Invalid,
    Bool,
    Int,
    Float,
    String,
}

fn basic_kind(v: &Value) -> Basic {
    match v {
        Value::Bool(_) => Basic::Bool,
        Value::Int(_) | Value::Int64(_) => Basic::Int,
        Value::Float(_) => Basic::Float,
        Value::String(_) => Basic::String,
        _ => Basic::Invalid,
    }
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

fn float_of(v: &Value) -> f64 {
    match v {
        Value::Float(f) => *f,
        _ => 0.0,
    }
}

fn is_nil_like(v: &Value) -> bool {
    matches!(v, Value::Missing | Value::Nil)
}

fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Missing | Value::Nil => "invalid",
        Value::List(..) | Value::Bytes(_) => "slice",
        Value::Map(_) => "map",
        Value::Object(o) if o.map_len().is_some() => "map",
        Value::Object(_) => "struct",
        _ => "basic",
    }
}

/// Go's `eq`: true when the first argument equals any of the others.
pub fn eq(a: &Value, others: &[Value]) -> Result<bool, FuncError> {
    if others.is_empty() {
        return Err(FuncError::msg("missing argument for comparison"));
    }
    let a = if matches!(a, Value::Nil) { &Value::Missing } else { a };
    let k1 = basic_kind(a);
    for b in others {
        let b = if matches!(b, Value::Nil) { &Value::Missing } else { b };
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            if !a.is_nil() && !b.is_nil() {
                return Err(FuncError::msg(format!(
                    "incompatible types for comparison: {} and {}",
                    a.type_name(),
                    b.type_name()
                )));
            }
            false
        } else {
            match k1 {
                Basic::Bool => matches!((a, b), (Value::Bool(x), Value::Bool(y)) if x == y),
                Basic::Int => int_of(a) == int_of(b),
                Basic::Float => float_of(a) == float_of(b),
                Basic::String => a.as_str() == b.as_str(),
                Basic::Invalid => {
                    let (ka, kb) = (go_kind(a), go_kind(b));
                    if ka != kb && ka != "invalid" && kb != "invalid" {
                        return Err(FuncError::msg(format!(
                            "non-comparable types {}: {}, {}: {}",
                            gofmt::sprintf("%s", std::slice::from_ref(a)),
                            a.type_name(),
                            b.type_name(),
                            gofmt::to_string(b)
                        )));
                    }
                    if is_nil_like(a) || is_nil_like(b) {
                        is_nil_like(a) == is_nil_like(b)
                    } else {
                        match b {
                            Value::List(..) | Value::Map(_) | Value::Bytes(_) => {
                                return Err(FuncError::msg(format!(
                                    "non-comparable type {}: {}",
                                    gofmt::sprintf("%s", std::slice::from_ref(b)),
                                    b.type_name()
                                )));
                            }
                            Value::Object(o) if o.map_len().is_some() => {
                                return Err(FuncError::msg(format!(
                                    "non-comparable type {}: {}",
                                    gofmt::sprintf("%s", std::slice::from_ref(b)),
                                    b.type_name()
                                )));
                            }
                            Value::Object(o) => match a {
                                Value::Object(p) => {
                                    std::ptr::eq(Arc::as_ptr(o) as *const u8, Arc::as_ptr(p) as *const u8)
                                }
                                _ => false,
                            },
                            _ => false,
                        }
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn compare(a: &Value, b: &Value) -> Result<Ordering, FuncError> {
    let bad = || FuncError::msg("invalid type for comparison");
    let k1 = basic_kind(a);
    if k1 == Basic::Invalid {
        return Err(bad());
    }
    let k2 = basic_kind(b);
    if k2 == Basic::Invalid {
        return Err(bad());
    }
    if k1 != k2 {
        return Err(FuncError::msg(format!(
            "incompatible types for comparison: {} and {}",
            a.type_name(),
            b.type_name()
        )));
    }
    Ok(match k1 {
        Basic::Bool | Basic::Invalid => return Err(bad()),
        Basic::Float => float_of(a).partial_cmp(&float_of(b)).unwrap_or(Ordering::Greater),
        Basic::Int => int_of(a).cmp(&int_of(b)),
        Basic::String => a.as_str().cmp(&b.as_str()),
    })
}

fn lt(a: &Value, b: &Value) -> Result<bool, FuncError> {
    Ok(compare(a, b)? == Ordering::Less)
}

fn le(a: &Value, b: &Value) -> Result<bool, FuncError> {
    let less = lt(a, b)?;
    if less {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

/// Go's `template.HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons() {
        assert!(eq(&Value::Int(1), &[Value::Int64(2), Value::Int(1)]).unwrap());
        assert!(eq(&Value::Int(1), &[Value::Float(1.0)]).is_err());
        assert!(!eq(&Value::Missing, &[Value::string("x")]).unwrap());
        assert!(eq(&Value::Missing, &[Value::Nil]).unwrap());
        assert!(lt(&Value::string("a"), &Value::string("b")).unwrap());
        assert!(lt(&Value::Bool(true), &Value::Bool(false)).is_err());
    }
}
