//! `toYamlPretty`: Helm encodes with `yaml.v3` and an indent of two.

use crate::value::Value;

/// The YAML text without its final newline; "" when the value cannot be encoded.
pub fn to_yaml_pretty(v: &Value) -> String {
    match crate::yaml::encode::to_string_pretty(v) {
        Ok(s) => s.strip_suffix('\n').unwrap_or(&s).to_string(),
        Err(_) => String::new(),
    }
}
