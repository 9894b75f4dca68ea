//! Reading fields of an unstructured object the way kstatus reads them: typed lookups that
//! fail on a wrong shape, and lenient lookups that fall back to a default.

use serde_json::Value;

/// A field had an unexpected shape: a path element that is not an object, or a value of the
/// wrong type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError(pub(crate) String);

/// The JSON type name of a value, for error messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "float",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The value at `path`: `Ok(None)` when a key is missing, an error when a parent is not an object.
pub(crate) fn nested<'a>(obj: &'a Value, path: &[&str]) -> Result<Option<&'a Value>, FieldError> {
    let mut current = obj;
    for (i, key) in path.iter().enumerate() {
        match current {
            Value::Object(map) => match map.get(*key) {
                Some(v) => current = v,
                None => return Ok(None),
            },
            other => {
                return Err(FieldError(format!(
                    ".{} accessor error: {} is of the type {}, expected object",
                    path[..i].join("."),
                    other,
                    type_name(other)
                )));
            }
        }
    }
    Ok(Some(current))
}

/// The integer at `path`; an error when it holds something else.
pub(crate) fn nested_i64(obj: &Value, path: &[&str]) -> Result<Option<i64>, FieldError> {
    match nested(obj, path)? {
        None => Ok(None),
        Some(v) => match v.as_i64() {
            Some(i) => Ok(Some(i)),
            None => Err(FieldError(format!(
                ".{} accessor error: {} is of the type {}, expected integer",
                path.join("."),
                v,
                type_name(v)
            ))),
        },
    }
}

/// The string at `path`; an error when it holds something else.
pub(crate) fn nested_str<'a>(obj: &'a Value, path: &[&str]) -> Result<Option<&'a str>, FieldError> {
    match nested(obj, path)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(FieldError(format!(
            ".{} accessor error: {} is of the type {}, expected string",
            path.join("."),
            v,
            type_name(v)
        ))),
    }
}

/// The integer at `path`, or `default` when it is missing or not an integer.
pub(crate) fn int_or(obj: &Value, path: &[&str], default: i64) -> i64 {
    nested(obj, path).ok().flatten().and_then(Value::as_i64).unwrap_or(default)
}

/// The string at `path`, or `default` when it is missing or not a string.
pub(crate) fn str_or<'a>(obj: &'a Value, path: &[&str], default: &'a str) -> &'a str {
    nested(obj, path).ok().flatten().and_then(Value::as_str).unwrap_or(default)
}

/// The object's kind, empty when unset.
pub(crate) fn kind(obj: &Value) -> &str {
    str_or(obj, &["kind"], "")
}

/// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → the empty core group).
pub(crate) fn group_of(api_version: &str) -> &str {
    match api_version.split_once('/') {
        Some((group, _)) => group,
        None => "",
    }
}

/// One entry of `status.conditions`, with the fields kstatus reads; missing fields are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BasicCondition {
    pub(crate) type_: String,
    pub(crate) status: String,
    pub(crate) reason: String,
    pub(crate) message: String,
}

/// The object's `status.conditions`. Missing or null means none; a wrong shape (a status that
/// is not an object, conditions that are not a list of objects with string fields) is an error.
pub(crate) fn conditions(obj: &Value) -> Result<Vec<BasicCondition>, FieldError> {
    let status = match obj.get("status") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(s)) => s,
        Some(other) => {
            return Err(FieldError(format!("status is of the type {}, expected object", type_name(other))));
        }
    };
    let list = match status.get("conditions") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(FieldError(format!("status.conditions is of the type {}, expected array", type_name(other))));
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let map = match item {
            Value::Null => {
                out.push(BasicCondition::default());
                continue;
            }
            Value::Object(map) => map,
            other => {
                return Err(FieldError(format!(
                    "status.conditions[{i}] is of the type {}, expected object",
                    type_name(other)
                )));
            }
        };
        let field = |name: &str| -> Result<String, FieldError> {
            match map.get(name) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(FieldError(format!(
                    "status.conditions[{i}].{name} is of the type {}, expected string",
                    type_name(other)
                ))),
            }
        };
        out.push(BasicCondition {
            type_: field("type")?,
            status: field("status")?,
            reason: field("reason")?,
            message: field("message")?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_lookups_tell_missing_from_misshapen() {
        let obj = json!({"metadata": {"generation": 2, "name": "x"}, "status": "weird"});
        assert_eq!(nested_i64(&obj, &["metadata", "generation"]), Ok(Some(2)));
        assert_eq!(nested_i64(&obj, &["metadata", "missing"]), Ok(None));
        assert!(nested_i64(&obj, &["metadata", "name"]).is_err());
        assert!(nested_i64(&obj, &["status", "observedGeneration"]).is_err());
        assert_eq!(int_or(&obj, &["status", "replicas"], 7), 7);
        assert_eq!(str_or(&obj, &["metadata", "generation"], "d"), "d");
    }

    #[test]
    fn conditions_reject_wrong_shapes() {
        assert_eq!(conditions(&json!({})), Ok(vec![]));
        assert_eq!(conditions(&json!({"status": {}})), Ok(vec![]));
        assert!(conditions(&json!({"status": "x"})).is_err());
        assert!(conditions(&json!({"status": {"conditions": {}}})).is_err());
        assert!(conditions(&json!({"status": {"conditions": [1]}})).is_err());
        assert!(conditions(&json!({"status": {"conditions": [{"type": 1}]}})).is_err());
        let got = conditions(&json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})).unwrap();
        assert_eq!(got[0].type_, "Ready");
        assert_eq!(got[0].status, "True");
        assert_eq!(got[0].reason, "");
    }

    #[test]
    fn group_of_api_versions() {
        assert_eq!(group_of("v1"), "");
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("cert-manager.io/v1"), "cert-manager.io");
    }
}
