//! The values templates see: a model of the Go values Helm feeds text/template
//! (`map[string]interface{}` decoded from YAML/JSON) and the ones Sprig returns.
//!
//! Go distinguishes a missing value (an invalid `reflect.Value`, printed
//! `<no value>`) from a nil interface held in a map or list (printed `<nil>`
//! inside containers, and an error when a field is taken from it under
//! `missingkey=zero`); both exist here because Helm's error messages depend on
//! the difference. Maps are shared and mutable, as Go maps are: Sprig's `set`,
//! `unset` and `merge` change a dict every holder sees.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::FuncError;
use crate::sig::Signature;

/// The entries of a map, in Go's sorted key order (byte order of the keys).
pub type MapEntries = BTreeMap<String, Value>;

/// A template value.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// Go's invalid `reflect.Value`: a map key that is absent (default
    /// `missingkey`), a pipeline's nil result. Printed `<no value>`.
    #[default]
    Missing,
    /// A nil `interface{}`: YAML/JSON `null`, Sprig functions returning nil.
    Nil,
    /// A Go `bool`.
    Bool(bool),
    /// A Go `int` (template integer constants, `len`, Sprig's `int`, `atoi`).
    Int(i64),
    /// A Go `int64` (Sprig's arithmetic, `int64`, Helm's `--set` integers).
    Int64(i64),
    /// A Go `float64`: every number of a YAML or JSON values file.
    Float(f64),
    /// A Go `string`.
    String(Arc<str>),
    /// A Go `[]byte` (Helm's `.Files.GetBytes`).
    Bytes(Arc<[u8]>),
    /// A Go slice; [`Elem`] says which element type Go would give it.
    List(Arc<Vec<Value>>, Elem),
    /// A Go `map[string]interface{}`: shared and mutable like Go's maps.
    Map(Map),
    /// A host object with fields and methods (Helm's `.Files`, `.Capabilities`,
    /// a `time.Time` from Sprig's `now`).
    Object(Arc<dyn Object>),
}

/// The Go element type of a slice, for `typeOf`, `%T` and argument checks of
/// functions that take `[]string`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// `[]interface {}`
    Any,
    /// `[]string`
    String,
    /// `[]int`
    Int,
}

/// A shared, mutable `map[string]interface{}`.
#[derive(Clone, Default)]
pub struct Map(Arc<RwLock<MapEntries>>);

impl Map {
    /// A new, empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the entries; the lock is held until the guard is dropped, so do not
    /// execute template code while holding it.
    pub fn read(&self) -> RwLockReadGuard<'_, MapEntries> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the entries in place; every holder of this map sees the change.
    pub fn write(&self) -> RwLockWriteGuard<'_, MapEntries> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.read().get(key).cloned()
    }

    /// Sets `key` to `value`.
    pub fn insert(&self, key: impl Into<String>, value: Value) {
        self.write().insert(key.into(), value);
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// A snapshot of the entries in key order: what `range` walks, so the body
    /// may change the map without holding its lock.
    pub fn entries(&self) -> Vec<(String, Value)> {
        self.read().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Whether both handles share one map (Go's map identity).
    pub fn ptr_eq(&self, other: &Map) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl From<MapEntries> for Map {
    fn from(entries: MapEntries) -> Self {
        Map(Arc::new(RwLock::new(entries)))
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.read().iter()).finish()
    }
}

/// A host object: a Go struct or named type with fields and methods that
/// templates reach through `.Field` and `.Method arg...`.
pub trait Object: fmt::Debug + Send + Sync {
    /// Go's type name, as `%T` and error messages print it (`*engine.files`).
    fn type_name(&self) -> &str;

    /// Go's kind (`struct`, `ptr`, `map`...), for Sprig's `kindOf`.
    fn kind(&self) -> &str {
        "struct"
    }

    /// The field `name`, or `None` when the type has no such field (then
    /// [`Object::method`] is asked).
    fn field(&self, name: &str) -> Option<Value> {
        let _ = name;
        None
    }

    /// The signature of method `name`, or `None` when there is no such method.
    fn method(&self, name: &str) -> Option<Signature> {
        let _ = name;
        None
    }

    /// Calls method `name` (whose signature [`Object::method`] gave and the
    /// executor has checked the arguments against).
    fn call(&self, name: &str, args: &[Value]) -> Result<Value, FuncError> {
        let _ = args;
        Err(FuncError::msg(format!("can't call method {name}")))
    }

    /// What `fmt` prints for it: the `String()` method when Go's type has one.
    /// Objects of map kind print as their entries instead (Go's `map[k:v]`).
    fn display(&self) -> String {
        format!("{{{}}}", self.type_name())
    }

    /// For an object whose Go kind is a map (Helm's `engine.files` is a
    /// `map[string][]byte`): its entries in key order, so that `range`, `len`,
    /// `index`, field lookups, truth and `fmt` treat it as Go treats that map.
    /// `None` (the default) for struct-like objects.
    fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }

    /// For a map-kind object: its number of entries, without listing them.
    fn map_len(&self) -> Option<usize> {
        self.map_entries().map(|e| e.len())
    }

    /// For a map-kind object: the entry under `key`, if present.
    fn map_get(&self, key: &str) -> Option<Value> {
        self.map_entries()?.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// For a map-kind object: the zero value of its element type, which Go
    /// gives for an absent key (`index`, `missingkey=zero`).
    fn map_zero(&self) -> Value {
        Value::Nil
    }

    /// Access to the concrete type, for host functions that take their own objects.
    fn as_any(&self) -> &dyn Any;
}

impl Value {
    /// A string value.
    pub fn string(s: impl AsRef<str>) -> Value {
        Value::String(Arc::from(s.as_ref()))
    }

    /// A `[]interface{}` value.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items), Elem::Any)
    }

    /// A `[]string` value.
    pub fn strings<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Value {
        Value::List(Arc::new(items.into_iter().map(Value::string).collect()), Elem::String)
    }

    /// A new map holding `entries`.
    pub fn map(entries: MapEntries) -> Value {
        Value::Map(Map::from(entries))
    }

    /// Whether this is Go's invalid value or a nil interface.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Missing | Value::Nil)
    }

    /// The string, when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Go's `reflect.Kind` name, as Sprig's `kindOf` prints it.
    pub fn kind_name(&self) -> &str {
        match self {
            Value::Missing | Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::Bytes(_) | Value::List(..) => "slice",
            Value::Map(_) => "map",
            Value::Object(o) => o.kind(),
        }
    }

    /// Go's type name as `%T` and `reflect.Type.String()` print it.
    pub fn type_name(&self) -> &str {
        match self {
            Value::Missing | Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::Bytes(_) => "[]uint8",
            Value::List(_, Elem::Any) => "[]interface {}",
            Value::List(_, Elem::String) => "[]string",
            Value::List(_, Elem::Int) => "[]int",
            Value::Map(_) => "map[string]interface {}",
            Value::Object(o) => o.type_name(),
        }
    }

    /// Go's truth (`if`, `with`, `and`, `or`, `not`): false, 0, nil, and empty
    /// strings, slices and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Missing | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::List(l, _) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Object(o) => o.map_len().is_none_or(|n| n > 0),
        }
    }

    /// Converts a JSON document as Go's `encoding/json` decodes it into
    /// `interface{}`: every number becomes a `float64`, as Helm's values do.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            serde_json::Value::String(s) => Value::string(s),
            serde_json::Value::Array(items) => Value::list(items.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(entries) => {
                Value::map(entries.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
            }
        }
    }

    /// A copy sharing nothing mutable with the original (Sprig's `deepCopy`).
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::List(items, elem) => Value::List(Arc::new(items.iter().map(Value::deep_copy).collect()), *elem),
            Value::Map(m) => {
                let entries: MapEntries = m.read().iter().map(|(k, v)| (k.clone(), v.deep_copy())).collect();
                Value::map(entries)
            }
            other => other.clone(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::string(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(Arc::from(s))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::list(items)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Map(m)
    }
}
