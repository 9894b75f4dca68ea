//! Conversions (`toString`, `int`, `int64`, `float64`, `atoi`, `toStrings`,
//! `toDecimal`) with spf13/cast's rules: strings parse with Go's base
//! prefixes ("0x1f", "010" is octal), floats truncate, failures give 0.

use std::sync::Arc;

use super::strval;
use crate::func::{FuncMap, Function};
use crate::sig::Ty;
use crate::strconv::{parse_go_float, parse_go_int};
use crate::value::{Elem, Value};

/// cast's `trimZeroDecimal`: "1.00" → "1", "1.50" unchanged.
fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    for i in (1..=b.len()).rev() {
        match b[i - 1] {
            b'.' => {
                if found_zero {
                    return &s[..i - 1];
                }
            }
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// cast's `ToInt64`.
pub fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Float(f) => float_to_int(*f),
        Value::String(s) => parse_go_int(trim_zero_decimal(s)).unwrap_or(0),
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// Go's float64 → int64 conversion (amd64 gives the minimum on overflow).
pub fn float_to_int(f: f64) -> i64 {
    if f.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) { i64::MIN } else { f as i64 }
}

/// cast's `ToFloat64`.
pub fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::String(s) => parse_go_float(s).unwrap_or(0.0),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}

/// Sprig's `strslice`: a list as strings, nil elements dropped.
pub fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(items, _) => items.iter().filter(|x| !x.is_nil()).map(strval).collect(),
        Value::Bytes(b) => b.iter().map(|x| x.to_string()).collect(),
        Value::Missing | Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

pub(super) fn register(m: &mut FuncMap) {
    m.insert("toString", Function::fixed(&[Ty::Any], |a| Ok(Value::from(strval(&a[0])))));
    m.insert("int64", Function::fixed(&[Ty::Any], |a| Ok(Value::Int64(to_int64(&a[0])))));
    m.insert("int", Function::fixed(&[Ty::Any], |a| Ok(Value::Int(to_int64(&a[0])))));
    m.insert("float64", Function::fixed(&[Ty::Any], |a| Ok(Value::Float(to_float64(&a[0])))));
    m.insert(
        "atoi",
        Function::fixed(&[Ty::String], |a| {
            // strconv.Atoi: decimal only, optional sign.
            let s = a[0].as_str().unwrap_or_default();
            let ok = !s.is_empty()
                && s.trim_start_matches(['+', '-']).chars().all(|c| c.is_ascii_digit())
                && s.len() - s.trim_start_matches(['+', '-']).len() <= 1;
            Ok(Value::Int(if ok { s.parse::<i64>().unwrap_or(0) } else { 0 }))
        }),
    );
    m.insert(
        "toStrings",
        Function::fixed(&[Ty::Any], |a| {
            Ok(Value::List(Arc::new(strslice(&a[0]).into_iter().map(Value::from).collect()), Elem::String))
        }),
    );
    m.insert(
        "toDecimal",
        Function::fixed(&[Ty::Any], |a| {
            let s = crate::gofmt::to_string(&a[0]);
            let (neg, body) = match s.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, s.strip_prefix('+').unwrap_or(&s)),
            };
            let v = i64::from_str_radix(body, 8).ok().filter(|_| !body.is_empty() && !body.starts_with(['+', '-']));
            Ok(Value::Int64(v.map(|v| if neg { -v } else { v }).unwrap_or(0)))
        }),
    );
}
