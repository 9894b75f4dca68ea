//! values.schema.json validation (`chartutil.ValidateAgainstSchema`) with the `jsonschema`
//! crate, its errors worded as Helm's validator (santhosh-tekuri/jsonschema v6) words them:
//! `- at '/path': message`, one line each, per chart.

use jsonschema::error::{TypeKind, ValidationErrorKind};

use crate::chart::Chart;
use crate::value::{Map, Value};

/// Validates `values` against the chart's schema and each enabled subchart's; returns Helm's
/// report (empty when everything is valid).
pub fn validate_chart(chart: &Chart, values: &Map) -> String {
    let mut sb = String::new();
    if let Some(schema) = &chart.schema
        && let Some(err) = validate_single(values, schema)
    {
        sb.push_str(&format!("{}:\n{err}", chart.name()));
    }
    for sub in &chart.dependencies {
        match values.get(sub.name()) {
            None | Some(Value::Null) => {}
            Some(Value::Map(m)) => sb.push_str(&validate_chart(sub, m)),
            Some(other) => sb.push_str(&format!(
                "{}:\ninvalid type for values: expected object (map), got {}\n",
                sub.name(),
                other.go_type()
            )),
        }
    }
    sb
}

fn go_number(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(f) => crate::yaml::format_float(f, 'g', 64),
        None => v.to_string(),
    }
}

fn quote_list(items: impl IntoIterator<Item = String>) -> String {
    items.into_iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
}

fn type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn display(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("'{s}'"),
        serde_json::Value::Number(_) => go_number(v),
        other => other.to_string(),
    }
}

fn message(kind: &ValidationErrorKind, instance: &serde_json::Value) -> String {
    use ValidationErrorKind as K;
    match kind {
        K::Required { property } => {
            format!(
                "missing property '{}'",
                property.as_str().map(str::to_string).unwrap_or_else(|| property.to_string())
            )
        }
        K::Type { kind } => {
            let want: Vec<String> = match kind {
                TypeKind::Single(t) => vec![t.to_string()],
                TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
            };
            format!("got {}, want {}", type_name(instance), want.join(" or "))
        }
        K::Minimum { limit } => format!("minimum: got {}, want {}", go_number(instance), go_number(limit)),
        K::Maximum { limit } => format!("maximum: got {}, want {}", go_number(instance), go_number(limit)),
        K::ExclusiveMinimum { limit } => {
            format!("exclusiveMinimum: got {}, want {}", go_number(instance), go_number(limit))
        }
        K::ExclusiveMaximum { limit } => {
            format!("exclusiveMaximum: got {}, want {}", go_number(instance), go_number(limit))
        }
        K::MinLength { limit } => {
            format!("minLength: got {}, want {limit}", instance.as_str().map(|s| s.chars().count()).unwrap_or(0))
        }
        K::MaxLength { limit } => {
            format!("maxLength: got {}, want {limit}", instance.as_str().map(|s| s.chars().count()).unwrap_or(0))
        }
        K::MinItems { limit } => {
            format!("minItems: got {}, want {limit}", instance.as_array().map(Vec::len).unwrap_or(0))
        }
        K::MaxItems { limit } => {
            format!("maxItems: got {}, want {limit}", instance.as_array().map(Vec::len).unwrap_or(0))
        }
        K::MinProperties { limit } => {
            format!("minProperties: got {}, want {limit}", instance.as_object().map(|o| o.len()).unwrap_or(0))
        }
        K::MaxProperties { limit } => {
            format!("maxProperties: got {}, want {limit}", instance.as_object().map(|o| o.len()).unwrap_or(0))
        }
        K::Pattern { pattern } => {
            format!("{} does not match pattern '{pattern}'", display(instance))
        }
        K::Enum { options } => match options.as_array() {
            Some(items) if items.len() == 1 => format!("value must be {}", display(&items[0])),
            Some(items) => format!("value must be one of {}", items.iter().map(display).collect::<Vec<_>>().join(", ")),
            None => format!("value must be one of {options}"),
        },
        K::Constant { expected_value } => format!("value must be {}", display(expected_value)),
        K::AdditionalProperties { unexpected } => {
            let what = if unexpected.len() == 1 { "property" } else { "properties" };
            format!("additional {what} {} not allowed", quote_list(unexpected.iter().cloned()))
        }
        K::Format { format } => format!("{} is not valid '{format}'", display(instance)),
        K::FalseSchema => "false schema".into(),
        K::AnyOf { .. } => "anyOf failed".into(),
        K::OneOfNotValid { .. } => "oneOf failed, none matched".into(),
        K::OneOfMultipleValid { .. } => "oneOf failed, more than one matched".into(),
        K::Not { .. } => "not failed".into(),
        K::MultipleOf { .. } => format!("{} is not multipleOf", go_number(instance)),
        other => format!("{other:?}"),
    }
}

/// Validates one values map against one schema document; `None` when valid.
pub fn validate_single(values: &Map, schema: &[u8]) -> Option<String> {
    let schema: serde_json::Value = match serde_json::from_slice(schema) {
        Ok(s) => s,
        Err(e) => return Some(format!("{e}\n")),
    };
    let validator = match jsonschema::validator_for(&schema) {
        Ok(v) => v,
        Err(e) => return Some(format!("{e}\n")),
    };
    let instance = Value::Map(values.clone()).to_json();
    let mut lines: Vec<(String, String)> = validator
        .iter_errors(&instance)
        .map(|e| (e.instance_path().as_str().to_string(), message(e.kind(), e.instance())))
        .collect();
    if lines.is_empty() {
        return None;
    }
    // The crate reports in schema order, as Helm's validator does, except that errors about the
    // object itself come first there.
    lines.sort_by_key(|(path, _)| !path.is_empty());
    let mut out = String::new();
    for (path, msg) in lines {
        out.push_str(&format!("- at '{path}': {msg}\n"));
    }
    Some(out)
}
