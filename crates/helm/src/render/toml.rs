//! `toToml` as BurntSushi's encoder writes maps: plain keys first, then `[tables]` indented by
//! two spaces per level; `fromToml` is not implemented (it returns Helm's error map).

use ferry_gotemplate::Value as TplValue;

use crate::value::{Map, Value};

/// TOML text of a map; other values give Go's error message, as Helm returns it.
pub fn to_toml(v: &Value) -> String {
    match v {
        Value::Map(m) => {
            let mut out = String::new();
            table(m, &[], &mut out);
            out
        }
        _ => "toml: top-level values must be Go maps or structs".into(),
    }
}

/// Helm's `fromToml` error map: Ferry does not parse TOML.
pub fn from_toml(_text: &str) -> TplValue {
    TplValue::map([("Error".to_string(), TplValue::string("fromToml is not supported by Ferry"))].into_iter().collect())
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(_))
}

fn key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        quote(k)
    }
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            let s = crate::yaml::format_float(*f, 'f', 64);
            if s.contains('.') { s } else { format!("{s}.0") }
        }
        Value::String(s) => quote(s),
        Value::List(items) => format!("[{}]", items.iter().map(scalar).collect::<Vec<_>>().join(", ")),
        Value::Map(_) => String::new(),
    }
}

fn table(m: &Map, path: &[String], out: &mut String) {
    let indent = "  ".repeat(path.len().saturating_sub(1));
    for (k, v) in m {
        if is_table(v) || matches!(v, Value::Null) {
            continue;
        }
        out.push_str(&format!("{indent}{} = {}\n", key(k), scalar(v)));
    }
    for (k, v) in m {
        if let Value::Map(sub) = v {
            let mut p = path.to_vec();
            p.push(key(k));
            let sub_indent = "  ".repeat(p.len() - 1);
            out.push_str(&format!("\n{sub_indent}[{}]\n", p.join(".")));
            table(sub, &p, out);
        }
    }
}
