//! Helm's template functions (`pkg/engine/funcs.go`, `engine.go`) on top of Sprig: `include`,
//! `tpl`, `required`, `fail`, `lookup`, YAML/JSON/TOML conversions, and `getHostByName` without DNS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferry_gotemplate::{Error as TplError, Exec, FuncError, FuncMap, Function, Signature, Ty, Value};

use super::convert::{from_template, to_template};
use crate::value::{Map, Value as HelmValue};
use crate::yaml::decode::{self, Numbers};

/// Reads live objects for `lookup`; `helm template` has none and returns empty maps.
pub trait Lookup: Send + Sync {
    /// The object (or a `List` for an empty name) as a map; an empty map when absent.
    fn lookup(&self, api_version: &str, kind: &str, namespace: &str, name: &str) -> Result<HelmValue, String>;
}

/// `lookup` in template mode: always an empty map.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLookup;

impl Lookup for NoLookup {
    fn lookup(&self, _: &str, _: &str, _: &str, _: &str) -> Result<HelmValue, String> {
        Ok(HelmValue::Map(Map::new()))
    }
}

/// Helm's markers around `required`/`fail` messages, which its error cleanup extracts.
pub const WARN_START: &str = "HELM_ERR_START";
/// End marker, see [`WARN_START`].
pub const WARN_END: &str = "HELM_ERR_END";
const RECURSION_MAX: usize = 1000;

fn str_arg(args: &[Value], i: usize) -> String {
    args.get(i).and_then(Value::as_str).unwrap_or("").to_string()
}

/// `toYaml`: `sigs.k8s.io/yaml.Marshal` without the final newline; errors give "".
pub fn to_yaml(v: &Value) -> String {
    match crate::yaml::encode::to_string(&from_template(v)) {
        Ok(s) => s.strip_suffix('\n').unwrap_or(&s).to_string(),
        Err(_) => String::new(),
    }
}

fn json_kind(v: &HelmValue) -> &'static str {
    match v {
        HelmValue::Null => "null",
        HelmValue::Bool(_) => "bool",
        HelmValue::Int(_) | HelmValue::Float(_) => "number",
        HelmValue::String(_) => "string",
        HelmValue::List(_) => "array",
        HelmValue::Map(_) => "object",
    }
}

fn from_yaml(text: &str) -> Value {
    match decode::from_str(text, Numbers::Json) {
        Ok(HelmValue::Map(m)) => to_template(&HelmValue::Map(m)),
        Ok(HelmValue::Null) => Value::map(Default::default()),
        Ok(other) => error_map(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_kind(&other)
        )),
        Err(e) => error_map(format!("error converting YAML to JSON: {e}")),
    }
}

fn error_map(message: String) -> Value {
    Value::map([("Error".to_string(), Value::string(message))].into_iter().collect())
}

fn from_yaml_array(text: &str) -> Value {
    match decode::from_str(text, Numbers::Json) {
        Ok(HelmValue::List(items)) => to_template(&HelmValue::List(items)),
        Ok(HelmValue::Null) => Value::list(Vec::new()),
        Ok(other) => Value::list(vec![Value::string(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
            json_kind(&other)
        ))]),
        Err(e) => Value::list(vec![Value::string(format!("error converting YAML to JSON: {e}"))]),
    }
}

fn from_json(text: &str, want_list: bool) -> Value {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(j) => {
            let v = HelmValue::from_json(&j);
            match (&v, want_list) {
                (HelmValue::Map(_), false) | (HelmValue::List(_), true) => to_template(&v),
                (HelmValue::Null, false) => Value::map(Default::default()),
                (HelmValue::Null, true) => Value::list(Vec::new()),
                _ => {
                    let go = if want_list { "[]interface {}" } else { "map[string]interface {}" };
                    let msg = format!("json: cannot unmarshal {} into Go value of type {go}", json_kind(&v));
                    if want_list { Value::list(vec![Value::string(msg)]) } else { error_map(msg) }
                }
            }
        }
        Err(e) => {
            let msg = e.to_string();
            if want_list { Value::list(vec![Value::string(msg)]) } else { error_map(msg) }
        }
    }
}

/// Helm's functions; `strict` is `--strict` (missing keys are errors in `tpl`).
pub fn helm_funcs(lookup: Arc<dyn Lookup>) -> FuncMap {
    let mut f = FuncMap::new();
    f.insert("toYaml", Function::fixed(&[Ty::Any], |a| Ok(Value::string(to_yaml(&a[0])))));
    f.insert(
        "toYamlPretty",
        Function::fixed(&[Ty::Any], |a| Ok(Value::string(super::pretty::to_yaml_pretty(&from_template(&a[0]))))),
    );
    f.insert("fromYaml", Function::fixed(&[Ty::String], |a| Ok(from_yaml(&str_arg(&a, 0)))));
    f.insert("fromYamlArray", Function::fixed(&[Ty::String], |a| Ok(from_yaml_array(&str_arg(&a, 0)))));
    f.insert(
        "toJson",
        Function::fixed(&[Ty::Any], |a| {
            Ok(Value::string(super::json::marshal(&from_template(&a[0])).unwrap_or_default()))
        }),
    );
    f.insert("fromJson", Function::fixed(&[Ty::String], |a| Ok(from_json(&str_arg(&a, 0), false))));
    f.insert("fromJsonArray", Function::fixed(&[Ty::String], |a| Ok(from_json(&str_arg(&a, 0), true))));
    f.insert("toToml", Function::fixed(&[Ty::Any], |a| Ok(Value::string(super::toml::to_toml(&from_template(&a[0]))))));
    f.insert("fromToml", Function::fixed(&[Ty::String], |a| Ok(super::toml::from_toml(&str_arg(&a, 0)))));
    let included: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let counts = included.clone();
    f.insert(
        "include",
        Function::new(Signature::fixed(&[Ty::String, Ty::Any]), move |exec, args| {
            let name = str_arg(&args, 0);
            let data = args.get(1).cloned().unwrap_or(Value::Nil);
            include(exec, &counts, &name, data)
        }),
    );
    f.insert(
        "tpl",
        Function::new(Signature::fixed(&[Ty::String, Ty::Any]), move |exec, args| {
            let text = str_arg(&args, 0);
            let data = args.get(1).cloned().unwrap_or(Value::Nil);
            let quoted = ferry_gotemplate::fmt::quote(&text);
            match exec.execute_text("gotpl", &text, data) {
                Ok(out) => Ok(Value::string(out.replace("<no value>", ""))),
                Err(e @ TplError::Parse { .. }) => Err(FuncError::Template {
                    prefix: format!("cannot parse template {quoted}: "),
                    source: Box::new(e),
                }),
                Err(e) => Err(FuncError::Template {
                    prefix: format!("error during tpl function execution for {quoted}: "),
                    source: Box::new(e),
                }),
            }
        }),
    );
    f.insert(
        "required",
        Function::fixed(&[Ty::String, Ty::Any], |a| {
            let warn = str_arg(&a, 0);
            let val = a.get(1).cloned().unwrap_or(Value::Nil);
            let missing = match &val {
                Value::Missing | Value::Nil => true,
                Value::String(s) => s.is_empty(),
                _ => false,
            };
            if missing { Err(FuncError::msg(format!("{WARN_START}{warn}{WARN_END}"))) } else { Ok(val) }
        }),
    );
    f.insert(
        "fail",
        Function::fixed(&[Ty::String], |a| Err(FuncError::msg(format!("{WARN_START}{}{WARN_END}", str_arg(&a, 0))))),
    );
    f.insert(
        "lookup",
        Function::fixed(&[Ty::String, Ty::String, Ty::String, Ty::String], move |a| {
            match lookup.lookup(&str_arg(&a, 0), &str_arg(&a, 1), &str_arg(&a, 2), &str_arg(&a, 3)) {
                Ok(v) => Ok(to_template(&v)),
                Err(e) => Err(FuncError::msg(e)),
            }
        }),
    );
    f.insert("getHostByName", Function::fixed(&[Ty::String], |_| Ok(Value::string(""))));
    f
}

fn include(
    exec: &mut dyn Exec,
    counts: &Mutex<HashMap<String, usize>>,
    name: &str,
    data: Value,
) -> Result<Value, FuncError> {
    {
        let mut c = counts.lock().map_err(|_| FuncError::msg("include: lock poisoned"))?;
        let n = c.entry(name.to_string()).or_insert(0);
        if *n > RECURSION_MAX {
            return Err(FuncError::msg(format!(
                "rendering template has a nested reference name: {name}: unable to execute template"
            )));
        }
        *n += 1;
    }
    let result = exec.execute_template(name, data);
    if let Ok(mut c) = counts.lock()
        && let Some(n) = c.get_mut(name)
    {
        *n -= 1;
    }
    match result {
        Ok(s) => Ok(Value::string(s)),
        Err(e) => Err(FuncError::Template { prefix: String::new(), source: Box::new(e) }),
    }
}
