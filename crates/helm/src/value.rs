//! The value model of Helm's values: what `sigs.k8s.io/yaml` and Helm's `--set` parsers produce
//! in Go (`map[string]interface{}` trees), with integers and floats kept apart because Go keeps
//! them apart (values files give `float64`, `--set` gives `int64`).

use std::collections::BTreeMap;

/// A map of values; Go's maps have no order and Helm always sorts keys when it prints, so a
/// sorted map loses nothing.
pub type Map = BTreeMap<String, Value>;

/// One value of a values tree.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Go's `nil`.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A Go `int64` (from `--set`).
    Int(i64),
    /// A Go `float64` (every number of a values file or JSON document).
    Float(f64),
    /// A string.
    String(String),
    /// A list (`[]interface{}`).
    List(Vec<Value>),
    /// A map (`map[string]interface{}`).
    Map(Map),
}

impl Value {
    /// The map inside, if this is a map.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The map inside, mutable, if this is a map.
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// True for a map (Helm's `istable`).
    pub fn is_table(&self) -> bool {
        matches!(self, Value::Map(_))
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Go's `%T` name of the value, for error messages worded as Helm's.
    pub fn go_type(&self) -> &'static str {
        match self {
            Value::Null => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int64",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
        }
    }

    /// Converts a JSON document the way Go's `encoding/json` decodes into `interface{}`:
    /// every number becomes a float.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => {
                Value::Map(o.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
            }
        }
    }

    /// Converts to JSON for schema validation; floats that are whole numbers stay numbers
    /// either way, as Go's JSON schema validator sees them.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    serde_json::Value::from(*f as i64)
                } else {
                    serde_json::Number::from_f64(*f).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
                }
            }
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }
}

/// Looks up a dotted path of tables (Helm's `Values.Table`): every part must name a map.
pub fn table<'a>(values: &'a Map, path: &str) -> Option<&'a Map> {
    let mut table = values;
    for part in path.split('.') {
        table = table.get(part)?.as_map()?;
    }
    Some(table)
}

/// Looks up a dotted path whose last part is not a table (Helm's `Values.PathValue`).
pub fn path_value<'a>(values: &'a Map, path: &str) -> Option<&'a Value> {
    let (parent, key) = match path.rsplit_once('.') {
        Some((parent, key)) => (table(values, parent)?, key),
        None => (values, path),
    };
    parent.get(key).filter(|v| !v.is_table())
}
