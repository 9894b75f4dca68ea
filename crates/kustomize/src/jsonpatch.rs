//! RFC 6902 JSON patches.

use serde_json::Value;

/// Applies the operations in `ops` (a JSON array) to `doc`.
pub fn apply(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let list = ops.as_array().ok_or("a JSON patch must be a list of operations")?;
    for op in list {
        let name = op.get("op").and_then(Value::as_str).ok_or("a JSON patch operation has no \"op\"")?;
        let path = op.get("path").and_then(Value::as_str).ok_or_else(|| format!("{name} operation has no path"))?;
        match name {
            "add" => add(doc, path, value(op)?)?,
            "remove" => {
                remove(doc, path)?;
            }
            "replace" => replace(doc, path, value(op)?)?,
            "move" => {
                let from = op.get("from").and_then(Value::as_str).ok_or("move operation has no from")?;
                let v = remove(doc, from)?;
                add(doc, path, v)?;
            }
            "copy" => {
                let from = op.get("from").and_then(Value::as_str).ok_or("copy operation has no from")?;
                let v = get_mut(doc, from)?
                    .ok_or_else(|| format!("copy operation does not apply: doc is missing from path: {from}"))?
                    .clone();
                add(doc, path, v)?;
            }
            "test" => {
                let want = value(op)?;
                let got = get_mut(doc, path)?.cloned();
                if got.as_ref() != Some(&want) {
                    return Err(format!("testing value {path} failed"));
                }
            }
            other => return Err(format!("unexpected JSON patch operation {other:?}")),
        }
    }
    Ok(())
}

fn value(op: &Value) -> Result<Value, String> {
    op.get("value").cloned().ok_or_else(|| "operation has no value".to_string())
}

fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path.strip_prefix('/').ok_or_else(|| format!("JSON pointer {path:?} must start with '/'"))?;
    Ok(rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect())
}

fn get_mut<'a>(doc: &'a mut Value, path: &str) -> Result<Option<&'a mut Value>, String> {
    let mut cur = doc;
    for t in tokens(path)? {
        cur = match cur {
            Value::Object(m) => match m.get_mut(&t) {
                Some(v) => v,
                None => return Ok(None),
            },
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                Some(v) => v,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
    }
    Ok(Some(cur))
}

fn parent<'a>(doc: &'a mut Value, path: &str, op: &str) -> Result<(&'a mut Value, String), String> {
    let mut toks = tokens(path)?;
    let last = toks.pop().ok_or_else(|| format!("{op} operation does not apply to the document root"))?;
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m.get_mut(&t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("{op} operation does not apply: doc is missing path: {path}"))?;
    }
    Ok((cur, last))
}

/// Replaces the value at `path`. As in the JSON patch library kustomize uses, a missing key
/// of an object that exists is simply set; a missing parent or list index is an error.
fn replace(doc: &mut Value, path: &str, v: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = v;
        return Ok(());
    }
    let (p, last) = parent(doc, path, "replace")?;
    match p {
        Value::Object(m) => {
            m.insert(last, v);
            Ok(())
        }
        Value::Array(a) => match last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
            Some(slot) => {
                *slot = v;
                Ok(())
            }
            None => Err(format!("replace operation does not apply: doc is missing key: {path}")),
        },
        _ => Err(format!("replace operation does not apply: doc is missing path: {path}")),
    }
}

fn add(doc: &mut Value, path: &str, v: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = v;
        return Ok(());
    }
    let (p, last) = parent(doc, path, "add")?;
    match p {
        Value::Object(m) => {
            m.insert(last, v);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(v);
                return Ok(());
            }
            let i: usize = last.parse().map_err(|_| format!("add operation: invalid index {last:?} in {path}"))?;
            if i > a.len() {
                return Err(format!("add operation does not apply: index {i} out of range in {path}"));
            }
            a.insert(i, v);
            Ok(())
        }
        _ => Err(format!("add operation does not apply: doc is missing path: {path}")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (p, last) = parent(doc, path, "remove")?;
    let missing = || format!("remove operation does not apply: doc is missing path: {path}");
    match p {
        Value::Object(m) => m.remove(&last).ok_or_else(missing),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing())?;
            if i < a.len() { Ok(a.remove(i)) } else { Err(missing()) }
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn applies_operations() {
        let mut doc = json!({"a": {"b": [1, 2]}, "c": 1});
        apply(
            &mut doc,
            &json!([{"op": "add", "path": "/a/b/-", "value": 3}, {"op": "replace", "path": "/c", "value": 2},
                {"op": "remove", "path": "/a/b/0"}, {"op": "copy", "from": "/c", "path": "/d"},
                {"op": "move", "from": "/d", "path": "/e~1f"}]),
        )
        .unwrap();
        assert_eq!(doc, json!({"a": {"b": [2, 3]}, "c": 2, "e/f": 2}));
        // A missing key of an existing object is set, as kustomize's JSON patch library does.
        apply(&mut doc, &json!([{"op": "replace", "path": "/zz", "value": 1}])).unwrap();
        assert_eq!(doc["zz"], json!(1));
        assert!(apply(&mut doc, &json!([{"op": "replace", "path": "/zz/y/x", "value": 1}])).is_err());
        assert!(apply(&mut doc, &json!([{"op": "replace", "path": "/a/b/5", "value": 1}])).is_err());
    }
}
