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

/// A host object of Go kind map, as Helm's `engine.files` (`map[string][]byte`).
#[derive(Debug)]
struct FileMap(Vec<(&'static str, &'static [u8])>);

impl Object for FileMap {
    fn type_name(&self) -> &str {
        "engine.files"
    }

    fn kind(&self) -> &str {
        "map"
    }

    fn method(&self, name: &str) -> Option<Signature> {
        (name == "Get").then(|| Signature::fixed(&[Ty::String]))
    }

    fn call(&self, _name: &str, args: &[Value]) -> Result<Value, FuncError> {
        let want = args[0].as_str().unwrap_or_default();
        Ok(self
            .0
            .iter()
            .find(|(k, _)| *k == want)
            .map(|(_, v)| Value::from(String::from_utf8_lossy(v).into_owned()))
            .unwrap_or_default())
    }

    fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        Some(self.0.iter().map(|(k, v)| (k.to_string(), Value::Bytes(Arc::from(*v)))).collect())
    }

    fn map_zero(&self) -> Value {
        Value::Bytes(Arc::from(&[][..]))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn files(entries: Vec<(&'static str, &'static [u8])>, key: MissingKey) -> (Templates, Value) {
    let mut s = set();
    s.missing_key(key);
    let data = Value::map([("Files".to_string(), Value::Object(Arc::new(FileMap(entries))))].into_iter().collect());
    (s, data)
}

fn run(s: &mut Templates, data: &Value, text: &str) -> Result<String, String> {
    s.parse("t", text).map_err(|e| e.to_string())?;
    s.execute("t", data).map_err(|e| e.to_string())
}

#[test]
fn map_kind_objects_range_len_index_and_truth_as_go_maps() {
    // Expected texts as Go prints them for a `map[string][]byte` (and as Helm renders them for
    // `.Files`; tests/charts/hostobjects of ferry-helm checks the same against `helm template`).
    let (mut s, data) = files(vec![("a.txt", b"hi"), ("b/c.txt", b"x")], MissingKey::Zero);
    let cases = [
        ("{{ range $k, $v := .Files }}{{ $k }}={{ $v | toString }};{{ end }}", "a.txt=hi;b/c.txt=x;"),
        ("{{ range .Files }}{{ typeOf . }} {{ end }}", "[]uint8 []uint8 "),
        ("{{ range $i, $v := .Files }}{{ break }}{{ end }}done", "done"),
        ("{{ len .Files }} {{ if .Files }}yes{{ end }} {{ not .Files }} {{ empty .Files }}", "2 yes false false"),
        ("{{ with .Files }}{{ len . }}{{ end }}", "2"),
        (r#"{{ index .Files "b/c.txt" }} {{ index .Files "nope" }}"#, "[120] []"),
        ("{{ .Files.Get \"a.txt\" }} {{ .Files.nope }}", "hi []"),
        (
            "{{ .Files }} {{ printf \"%s|%v\" .Files .Files }}",
            "map[a.txt:[104 105] b/c.txt:[120]] map[a.txt:hi b/c.txt:x]|map[a.txt:[104 105] b/c.txt:[120]]",
        ),
        ("{{ .Files | toJson }}", r#"{"a.txt":"aGk=","b/c.txt":"eA=="}"#),
        ("{{ kindOf .Files }} {{ typeOf .Files }}", "map engine.files"),
    ];
    for (text, want) in cases {
        assert_eq!(run(&mut s, &data, text).as_deref(), Ok(want), "{text}");
    }
    let err = run(&mut s, &data, "{{ eq .Files .Files }}").unwrap_err();
    assert!(err.contains("non-comparable type map[a.txt:hi b/c.txt:x]: engine.files"), "{err}");
    let err = run(&mut s, &data, "{{ .Files.x 1 }}").unwrap_err();
    assert!(err.contains("x is not a method but has arguments"), "{err}");

    let (mut s, data) = files(vec![], MissingKey::Zero);
    let empty = [
        ("{{ range .Files }}x{{ else }}none{{ end }}", "none"),
        (
            "{{ len .Files }} {{ if .Files }}yes{{ else }}no{{ end }} {{ not .Files }} {{ empty .Files }}",
            "0 no true true",
        ),
        ("{{ with .Files }}x{{ else }}none{{ end }}", "none"),
        ("{{ .Files }} {{ .Files | toJson }}", "map[] {}"),
    ];
    for (text, want) in empty {
        assert_eq!(run(&mut s, &data, text).as_deref(), Ok(want), "{text}");
    }

    let (mut s, data) = files(vec![("a", b"1")], MissingKey::Error);
    let err = run(&mut s, &data, "{{ .Files.b }}").unwrap_err();
    assert!(err.contains(r#"map has no entry for key "b""#), "{err}");
    let (mut s, data) = files(vec![("a", b"1")], MissingKey::Invalid);
    assert_eq!(run(&mut s, &data, "{{ .Files.b }}").as_deref(), Ok("<no value>"));
}
