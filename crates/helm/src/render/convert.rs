//! Between Helm's values ([`crate::Value`]) and the template engine's values.

use std::sync::Arc;

use ferry_gotemplate as gt;

use crate::value::{Map, Value};

/// A values tree as templates see it: maps shared and mutable, `--set` integers as `int64`.
pub fn to_template(v: &Value) -> gt::Value {
    match v {
        Value::Null => gt::Value::Nil,
        Value::Bool(b) => gt::Value::Bool(*b),
        Value::Int(i) => gt::Value::Int64(*i),
        Value::Float(f) => gt::Value::Float(*f),
        Value::String(s) => gt::Value::string(s),
        Value::List(items) => gt::Value::list(items.iter().map(to_template).collect()),
        Value::Map(m) => map_to_template(m),
    }
}

/// A map of values as templates see it (without copying the map first).
pub fn map_to_template(m: &Map) -> gt::Value {
    gt::Value::map(m.iter().map(|(k, v)| (k.clone(), to_template(v))).collect())
}

/// A template value as Go's `encoding/json` would see it: bytes become base64 strings, host
/// objects their printed form.
pub fn from_template(v: &gt::Value) -> Value {
    match v {
        gt::Value::Missing | gt::Value::Nil => Value::Null,
        gt::Value::Bool(b) => Value::Bool(*b),
        gt::Value::Int(i) | gt::Value::Int64(i) => Value::Int(*i),
        gt::Value::Float(f) => Value::Float(*f),
        gt::Value::String(s) => Value::String(s.to_string()),
        gt::Value::Bytes(b) => Value::String(base64(b)),
        gt::Value::List(items, _) => Value::List(items.iter().map(from_template).collect()),
        gt::Value::Map(m) => Value::Map(m.read().iter().map(|(k, v)| (k.clone(), from_template(v))).collect::<Map>()),
        gt::Value::Object(o) => match o.as_any().downcast_ref::<super::objects::Files>() {
            Some(files) => Value::Map(files.entries().map(|(k, v)| (k.clone(), Value::String(base64(v)))).collect()),
            None => Value::String(o.display()),
        },
    }
}

/// Standard base64 with padding, as Go's `base64.StdEncoding`.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { T[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { T[n as usize & 63] as char } else { '=' });
    }
    out
}

/// A string list value (`[]string`).
pub fn strings(items: &[String]) -> gt::Value {
    gt::Value::List(Arc::new(items.iter().map(gt::Value::string).collect()), gt::Elem::String)
}
