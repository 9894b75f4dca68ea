//! Go's `encoding/json` encoding of template values: sorted map keys, HTML
//! escaping unless raw, Go's float formatting, `MarshalIndent` layout.

use base64::Engine;

use crate::error::FuncError;
use crate::strconv::format_float;
use crate::value::Value;

/// How to lay out and escape JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonStyle {
    /// `json.Marshal`: compact, `<>&` escaped.
    Compact,
    /// `json.MarshalIndent(v, "", "  ")`.
    Pretty,
    /// An encoder with `SetEscapeHTML(false)` (Sprig's `toRawJson`).
    Raw,
}

/// Encodes `v` as Go's `encoding/json` would.
pub fn to_json(v: &Value, style: JsonStyle) -> Result<String, FuncError> {
    let mut out = String::new();
    encode(&mut out, v, style, 0)?;
    Ok(out)
}

fn encode(out: &mut String, v: &Value, style: JsonStyle, depth: usize) -> Result<(), FuncError> {
    match v {
        Value::Missing | Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(FuncError::msg(format!("json: unsupported value: {}", format_float(*f, 'g', -1))));
            }
            out.push_str(&json_float(*f));
        }
        Value::String(s) => push_string(out, s, style != JsonStyle::Raw),
        Value::Bytes(b) => {
            let enc = base64::engine::general_purpose::STANDARD.encode(b);
            push_string(out, &enc, false);
        }
        Value::List(items, _) => {
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, style, depth + 1);
                encode(out, x, style, depth + 1)?;
            }
            newline(out, style, depth);
            out.push(']');
        }
        Value::Map(m) => {
            // No template code runs while encoding, so the lock can be held.
            let entries = m.read();
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (k, x)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, style, depth + 1);
                push_string(out, k, style != JsonStyle::Raw);
                out.push(':');
                if style == JsonStyle::Pretty {
                    out.push(' ');
                }
                encode(out, x, style, depth + 1)?;
            }
            newline(out, style, depth);
            out.push('}');
        }
        Value::Object(o) => match o.map_entries() {
            Some(entries) => {
                let m = crate::value::Map::from(entries.into_iter().collect::<crate::value::MapEntries>());
                encode(out, &Value::Map(m), style, depth)?;
            }
            None => push_string(out, &o.display(), style != JsonStyle::Raw),
        },
    }
    Ok(())
}

fn newline(out: &mut String, style: JsonStyle, depth: usize) {
    if style == JsonStyle::Pretty {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    }
}

/// Go's float encoding in JSON: `'f'` format unless tiny or huge.
fn json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let mut s = format_float(f, 'e', -1);
        let n = s.len();
        let b = s.as_bytes();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            s.remove(n - 2);
        }
        s
    } else {
        format_float(f, 'f', -1)
    }
}

fn push_string(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if escape_html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `json.Unmarshal` into `interface{}`: numbers become float64.
pub fn from_json(s: &str) -> Result<Value, FuncError> {
    let v: serde_json::Value = serde_json::from_str(s).map_err(|e| FuncError::msg(e.to_string()))?;
    Ok(Value::from_json(&v))
}
