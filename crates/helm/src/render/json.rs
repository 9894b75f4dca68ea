//! JSON as Go's `encoding/json.Marshal` writes it: sorted keys, no spaces, `<`, `>` and `&`
//! escaped, floats in Go's shortest form.

use crate::value::Value;

/// A value JSON cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("json: unsupported value: {0}")]
pub struct Error(String);

/// Marshals `v` as Go does.
pub fn marshal(v: &Value) -> Result<String, Error> {
    let mut out = String::new();
    write(v, &mut out)?;
    Ok(out)
}

fn write(v: &Value, out: &mut String) -> Result<(), Error> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(Error(crate::yaml::format_float(*f, 'g', 64)));
            }
            out.push_str(&crate::yaml::json_float(*f));
        }
        Value::String(s) => write_string(s, out),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out)?;
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write(item, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// A JSON string with Go's escapes.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Map;

    #[test]
    fn go_json() {
        let v = Value::Map(Map::from([
            ("b".to_string(), Value::Float(1e6)),
            ("a".to_string(), Value::String("<x&\"y\">\n".into())),
            ("c".to_string(), Value::List(vec![Value::Null, Value::Bool(true), Value::Float(0.5)])),
        ]));
        assert_eq!(marshal(&v).unwrap(), r#"{"a":"\u003cx\u0026\"y\"\u003e\n","b":1000000,"c":[null,true,0.5]}"#);
    }
}
