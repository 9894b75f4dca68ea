//! The host API as ferry-helm uses it: functions with the execution handle
//! (`include`, `tpl`), host objects, redefinition rules, and nested errors
//! worded as Go wraps them.

use std::any::Any;
use std::sync::Arc;

use ferry_gotemplate::{
    Error, Exec, FuncError, FuncMap, Function, MissingKey, Object, Signature, Templates, Ty, Value, sprig,
};

/// Helm's `include` and `tpl`, reduced to what the engine provides.
fn host_funcs() -> FuncMap {
    let mut m = sprig::funcs();
    m.insert(
        "include",
        Function::new(Signature::fixed(&[Ty::String, Ty::Any]), |exec: &mut dyn Exec, args| {
            let name = args[0].as_str().unwrap_or_default().to_string();
            exec.execute_template(&name, args[1].clone())
                .map(Value::from)
                .map_err(|e| FuncError::Template { prefix: String::new(), source: Box::new(e) })
        }),
    );
    m.insert(
        "tpl",
        Function::new(Signature::fixed(&[Ty::String, Ty::Any]), |exec: &mut dyn Exec, args| {
            let name = exec.template_name().to_string();
            exec.execute_text(&name, args[0].as_str().unwrap_or_default(), args[1].clone())
                .map(Value::from)
                .map_err(|e| FuncError::Template { prefix: String::new(), source: Box::new(e) })
        }),
    );
    m
}

fn set() -> Templates {
    let mut set = Templates::new("gotpl");
    set.add_funcs(host_funcs()).missing_key(MissingKey::Zero);
    set
}

#[test]
fn include_and_tpl_run_in_the_same_set() {
    let mut s = set();
    s.parse("_helpers.tpl", r#"{{ define "name" }}{{ .Values.name | upper }}{{ end }}"#).unwrap();
    s.parse(
        "cm.yaml",
        r#"a: {{ include "name" . | quote }} b: {{ tpl "{{ include \"name\" . }}-{{ .Values.n }}" . }}"#,
    )
    .unwrap();
    let data = Value::from_json(&serde_json::json!({"Values": {"name": "x", "n": 2}}));
    assert_eq!(s.execute("cm.yaml", &data).unwrap(), r#"a: "X" b: X-2"#);
}

#[test]
fn nested_errors_are_wrapped_as_go_wraps_them() {
    let mut s = set();
    s.parse("_helpers.tpl", "{{ define \"bad\" }}\n  {{ .x.y }}{{ end }}").unwrap();
    s.parse("t.yaml", r#"{{ include "bad" . }}"#).unwrap();
    let err = s.execute("t.yaml", &Value::from_json(&serde_json::json!({}))).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"template: t.yaml:1:3: executing "t.yaml" at <include "bad" .>: error calling include: template: _helpers.tpl:2:7: executing "bad" at <.x.y>: nil pointer evaluating interface {}.y"#
    );
    let exec = err.exec().expect("an execution error");
    assert_eq!(exec.location.as_ref().map(|l| (l.line, l.col)), Some((1, 3)));
    assert!(matches!(exec.cause, Some(FuncError::Template { .. })));
    let missing = set().execute("nope", &Value::Nil).unwrap_err();
    assert!(matches!(missing, Error::NoTemplate { .. }));
    assert_eq!(missing.to_string(), r#"template: no template "nope" associated with template "gotpl""#);
}

#[test]
fn later_definitions_replace_earlier_ones_unless_empty() {
    let mut s = set();
    s.parse("a", r#"{{ define "x" }}one{{ end }}"#).unwrap();
    s.parse("b", r#"{{ define "x" }}two{{ end }}"#).unwrap();
    s.parse("c", r#"{{ define "x" }}  {{ end }}{{ template "x" }}"#).unwrap();
    assert_eq!(s.execute("c", &Value::Nil).unwrap(), "two");
    let clone = s.clone();
    s.parse("d", r#"{{ define "x" }}three{{ end }}"#).unwrap();
    assert_eq!(clone.execute("c", &Value::Nil).unwrap(), "two", "clones do not see later parses");
    assert_eq!(s.execute("c", &Value::Nil).unwrap(), "three");
}

#[derive(Debug)]
struct Files;

impl Object for Files {
    fn type_name(&self) -> &str {
        "engine.files"
    }

    fn kind(&self) -> &str {
        "map"
    }

    fn field(&self, name: &str) -> Option<Value> {
        (name == "Count").then_some(Value::Int(2))
    }

    fn method(&self, name: &str) -> Option<Signature> {
        (name == "Get").then(|| Signature::fixed(&[Ty::String]))
    }

    fn call(&self, _name: &str, args: &[Value]) -> Result<Value, FuncError> {
        Ok(Value::from(format!("content of {}", args[0].as_str().unwrap_or_default())))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[test]
fn host_objects_have_fields_and_methods() {
    let mut s = set();
    s.parse("t", r#"{{ .Files.Get "a.txt" }} {{ .Files.Count }} {{ .Files.Get 1 }}"#).unwrap();
    let data = Value::map([("Files".to_string(), Value::Object(Arc::new(Files)))].into_iter().collect());
    let err = s.execute("t", &data).unwrap_err().to_string();
    assert_eq!(err, r#"template: t:1:58: executing "t" at <1>: expected string; found 1"#);
    s.parse("u", r#"{{ .Files.Get "a.txt" }} {{ .Files.Count }} {{ typeOf .Files }}"#).unwrap();
    assert_eq!(s.execute("u", &data).unwrap(), "content of a.txt 2 engine.files");
}

#[test]
fn maps_are_shared_like_go_maps() {
    let mut s = set();
    s.parse("t", r#"{{ $_ := set .Values "added" "yes" }}{{ define "show" }}{{ .Values.added }}{{ end }}{{ template "show" . }}"#)
        .unwrap();
    let data = Value::from_json(&serde_json::json!({"Values": {}}));
    assert_eq!(s.execute("t", &data).unwrap(), "yes");
    let Value::Map(top) = &data else { panic!("a map") };
    let Some(Value::Map(values)) = top.get("Values") else { panic!("Values is a map") };
    assert_eq!(values.get("added").and_then(|v| v.as_str().map(str::to_string)), Some("yes".to_string()));
}

#[test]
fn parsed_sets_and_values_cross_threads() {
    // Controllers cache parsed charts and render on worker threads.
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Templates>();
    send_sync::<Value>();
    send_sync::<Error>();
    let mut s = set();
    s.parse("t", "{{ .n }}").unwrap();
    let data = Value::from_json(&serde_json::json!({"n": 1}));
    let out = std::thread::scope(|scope| scope.spawn(|| s.execute("t", &data)).join().unwrap()).unwrap();
    assert_eq!(out, "1");
}
