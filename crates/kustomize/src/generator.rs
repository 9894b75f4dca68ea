//! configMapGenerator and secretGenerator, and the content hash kustomize appends to their names.

use crate::loader::Loader;
use crate::resource::{Behavior, Resource};
use crate::types::{GeneratorArgs, GeneratorOptions};
use crate::{Error, Result};
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub fn merge_options(local: Option<&GeneratorOptions>, global: Option<&GeneratorOptions>) -> GeneratorOptions {
    let mut out = local.cloned().unwrap_or_default();
    if let Some(g) = global {
        for (dst, src) in [(&mut out.labels, &g.labels), (&mut out.annotations, &g.annotations)] {
            if let Some(src) = src {
                let d = dst.get_or_insert_with(BTreeMap::new);
                for (k, v) in src {
                    d.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        if g.disable_name_suffix_hash == Some(true) {
            out.disable_name_suffix_hash = Some(true);
        }
        if g.immutable == Some(true) {
            out.immutable = Some(true);
        }
    }
    out
}

/// Makes a ConfigMap (`secret == false`) or a Secret from generator arguments.
pub fn generate(
    args: &GeneratorArgs,
    secret: bool,
    global: Option<&GeneratorOptions>,
    loader: &dyn Loader,
) -> Result<Resource> {
    let kind = if secret { "Secret" } else { "ConfigMap" };
    let name = args.name.clone().unwrap_or_default();
    if name.is_empty() {
        return Err(Error::msg(format!("a {kind} generator entry has no name")));
    }
    let pairs = load_pairs(args, loader).map_err(|e| match e {
        Error::Build(m) => Error::msg(format!("{kind} {name}: {m}")),
        other => other,
    })?;
    let options = merge_options(args.options.as_ref(), global);

    let mut md = Map::new();
    md.insert("name".into(), Value::String(name.clone()));
    if let Some(ns) = &args.namespace
        && !ns.is_empty()
    {
        md.insert("namespace".into(), Value::String(ns.clone()));
    }
    if let Some(labels) = &options.labels
        && !labels.is_empty()
    {
        md.insert("labels".into(), string_map(labels));
    }
    if let Some(ann) = &options.annotations
        && !ann.is_empty()
    {
        md.insert("annotations".into(), string_map(ann));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert("kind".into(), Value::String(kind.into()));
    obj.insert("metadata".into(), Value::Object(md));
    if secret {
        let data: Map<String, Value> =
            pairs.iter().map(|(k, v)| (k.clone(), Value::String(encode_base64(v)))).collect();
        if !data.is_empty() {
            obj.insert("data".into(), Value::Object(data));
        }
        let ty = args.kind.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| "Opaque".to_string());
        obj.insert("type".into(), Value::String(ty));
    } else {
        let mut data = Map::new();
        let mut binary = Map::new();
        for (k, v) in &pairs {
            match std::str::from_utf8(v) {
                Ok(s) => data.insert(k.clone(), Value::String(s.to_string())),
                Err(_) => binary.insert(k.clone(), Value::String(encode_base64(v))),
            };
        }
        if !data.is_empty() {
            obj.insert("data".into(), Value::Object(data));
        }
        if !binary.is_empty() {
            obj.insert("binaryData".into(), Value::Object(binary));
        }
    }
    if options.immutable == Some(true) {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Resource::new(Value::Object(obj))?;
    r.needs_hash = options.disable_name_suffix_hash != Some(true);
    r.generated = true;
    r.behavior = match args.behavior.as_deref().unwrap_or("") {
        "" | "create" => Behavior::Create,
        "merge" => Behavior::Merge,
        "replace" => Behavior::Replace,
        other => return Err(Error::msg(format!("{kind} {name}: unknown generator behavior {other:?}"))),
    };
    Ok(r)
}

/// Base64 broken into lines of 70 characters (each ending in a newline) when longer, as kustomize writes it.
fn encode_base64(v: &[u8]) -> String {
    const LINE: usize = 70;
    let enc = base64::engine::general_purpose::STANDARD.encode(v);
    let lines = enc.len() / LINE + 1;
    if lines == 1 {
        return enc;
    }
    let mut out = String::with_capacity(enc.len() + lines);
    for chunk in enc.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

fn load_pairs(args: &GeneratorArgs, loader: &dyn Loader) -> Result<Vec<(String, Vec<u8>)>> {
    let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut envs: Vec<&String> = args.envs.iter().collect();
    if let Some(env) = &args.env {
        envs.push(env);
    }
    for env in envs {
        let bytes = loader.load(env)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::in_file(env, "env file is not UTF-8"))?;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim_start_matches('\u{feff}');
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (key, value) = match trimmed.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (trimmed.to_string(), std::env::var(trimmed).unwrap_or_default()),
            };
            if key.is_empty() {
                return Err(Error::in_file(env, format!("line {}: invalid key {key:?}", n + 1)));
            }
            add_pair(&mut pairs, key, value.into_bytes())?;
        }
    }
    for lit in &args.literals {
        let Some((k, v)) = lit.split_once('=') else {
            return Err(Error::msg(format!("invalid literal source {lit}, expected key=value")));
        };
        if k.is_empty() {
            return Err(Error::msg(format!("invalid literal source {lit}, expected key=value")));
        }
        add_pair(&mut pairs, k.to_string(), unquote(v).as_bytes().to_vec())?;
    }
    for file in &args.files {
        let (key, path) = match file.split_once('=') {
            Some((k, p)) => {
                if k.is_empty() || p.is_empty() {
                    return Err(Error::msg(format!("key or file path is missing in file source {file:?}")));
                }
                (k.to_string(), p.to_string())
            }
            None => {
                let base = file.rsplit('/').next().unwrap_or(file).to_string();
                (base, file.clone())
            }
        };
        let bytes = loader.load(&path)?;
        add_pair(&mut pairs, key, bytes)?;
    }
    Ok(pairs)
}

fn add_pair(pairs: &mut Vec<(String, Vec<u8>)>, key: String, value: Vec<u8>) -> Result<()> {
    if pairs.iter().any(|(k, _)| *k == key) {
        return Err(Error::msg(format!("cannot add key {key}, another key by that name already exists")));
    }
    pairs.push((key, value));
    Ok(())
}

fn unquote(v: &str) -> &str {
    let b = v.as_bytes();
    if b.len() >= 2 && b[0] == b[b.len() - 1] && (b[0] == b'"' || b[0] == b'\'') { &v[1..v.len() - 1] } else { v }
}

/// The 10-character content hash kustomize appends to generated names.
pub fn content_hash(obj: &Value) -> Result<String> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    // kustomize looks the name up with a path its lookup does not split, so it always hashes "".
    let name = "";
    let field = |k: &str| -> Value {
        match obj.get(k) {
            None | Some(Value::Null) => Value::String(String::new()),
            Some(v) => v.clone(),
        }
    };
    let mut m = Map::new();
    let encoded = match kind {
        "ConfigMap" => {
            m.insert("kind".into(), Value::String("ConfigMap".into()));
            m.insert("name".into(), Value::String(name.into()));
            m.insert("data".into(), field("data"));
            if let Some(b @ Value::Object(_)) = obj.get("binaryData") {
                m.insert("binaryData".into(), b.clone());
            }
            go_json(&Value::Object(m))
        }
        "Secret" => {
            m.insert("kind".into(), Value::String("Secret".into()));
            m.insert("type".into(), field("type"));
            m.insert("name".into(), Value::String(name.into()));
            m.insert("data".into(), field("data"));
            if let Some(b @ Value::Object(_)) = obj.get("stringData") {
                m.insert("stringData".into(), b.clone());
            }
            go_json(&Value::Object(m))
        }
        _ => go_json(obj),
    };
    let digest = hex::encode(Sha256::digest(encoded.as_bytes()));
    let enc: String = digest[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            other => other,
        })
        .collect();
    Ok(enc)
}

/// JSON as Go's `encoding/json` writes it: sorted keys, HTML-safe escaping.
pub fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_go_json(v, &mut out);
    out
}

fn write_go_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_go_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_string(k, out);
                out.push(':');
                write_go_json(&m[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

fn write_go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_matches_kustomize() {
        // kubectl kustomize gives cfg-hc24hghkfb... for this ConfigMap after namePrefix "p-".
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p-cfg", "namespace": "ns1", "labels": {"app": "x"}},
            "data": {"zeta": "1", "alpha": "\"yes\"", "b": "on", "c": "multi"}});
        // alpha's quotes are removed by the literal parser; recompute with the unquoted value.
        let mut cm2 = cm.clone();
        cm2["data"]["alpha"] = json!("yes");
        assert_eq!(content_hash(&cm2).unwrap(), "hc24hghkfb");
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "p-sec"}, "data": {"k": "dg=="}, "type": "Opaque"});
        assert_eq!(content_hash(&secret).unwrap(), "ftgtgc4t9f");
    }
}
