//! Differential test against Go: every case of `tests/cases/*.txt` rendered
//! by Ferry must match what Go's text/template with Sprig (as Helm registers
//! it) produced, recorded in `tests/golden/*.jsonl` by
//! `hack/gotemplate-oracle/generate.sh`. With `FERRY_GOTEMPLATE_ORACLE` set to
//! the oracle binary, the cases are checked against Go live instead.

use std::any::Any;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_gotemplate::{FuncError, MissingKey, Object, Signature, Templates, Ty, Value, sprig};

struct Case {
    name: String,
    data: Option<String>,
    files: Option<String>,
    missing_key: Option<String>,
    template: String,
}

/// The oracle's `files` type: a `map[string][]byte` with a `Get` method, as Helm's
/// `engine.files` (Go names it `main.files` there).
#[derive(Debug)]
struct Files(BTreeMap<String, Arc<[u8]>>);

impl Object for Files {
    fn type_name(&self) -> &str {
        "main.files"
    }

    fn kind(&self) -> &str {
        "map"
    }

    fn method(&self, name: &str) -> Option<Signature> {
        (name == "Get").then(|| Signature::fixed(&[Ty::String]))
    }

    fn call(&self, _name: &str, args: &[Value]) -> Result<Value, FuncError> {
        let data = self.0.get(args[0].as_str().unwrap_or_default()).cloned().unwrap_or_else(|| Arc::from(&[][..]));
        Ok(Value::from(String::from_utf8_lossy(&data).into_owned()))
    }

    fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        Some(self.0.iter().map(|(k, v)| (k.clone(), Value::Bytes(v.clone()))).collect())
    }

    fn map_zero(&self) -> Value {
        Value::Bytes(Arc::from(&[][..]))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The corpus format, as the oracle reads it (see its `readCases`).
fn read_cases(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut cur: Option<Case> = None;
    let mut tmpl: Vec<&str> = Vec::new();
    let mut in_template = false;
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    for line in lines {
        if let Some(name) = line.strip_prefix("### ") {
            if let Some(mut c) = cur.take() {
                c.template = tmpl.join("\n");
                cases.push(c);
            }
            cur = Some(Case {
                name: name.trim().to_string(),
                data: None,
                files: None,
                missing_key: None,
                template: String::new(),
            });
            tmpl.clear();
            in_template = false;
            continue;
        }
        let Some(c) = cur.as_mut() else { continue };
        if in_template {
            tmpl.push(line);
        } else if let Some(d) = line.strip_prefix("data: ") {
            c.data = Some(d.to_string());
        } else if let Some(f) = line.strip_prefix("files: ") {
            c.files = Some(f.to_string());
        } else if let Some(m) = line.strip_prefix("missingkey: ") {
            c.missing_key = Some(m.trim().to_string());
        } else if line == "template:" {
            in_template = true;
        }
    }
    if let Some(mut c) = cur.take() {
        c.template = tmpl.join("\n");
        cases.push(c);
    }
    cases
}

/// Renders a case as the oracle does: output so far and the error text.
fn render(case: &Case) -> (String, String) {
    let mut set = Templates::new(&case.name);
    set.add_funcs(sprig::funcs());
    match case.missing_key.as_deref() {
        Some("zero") => {
            set.missing_key(MissingKey::Zero);
        }
        Some("error") => {
            set.missing_key(MissingKey::Error);
        }
        _ => {}
    }
    let mut data = match &case.data {
        Some(d) => Value::from_json(&serde_json::from_str(d).expect("case data is JSON")),
        None => Value::Nil,
    };
    if let Some(f) = &case.files {
        let files: BTreeMap<String, String> = serde_json::from_str(f).expect("case files are a JSON map");
        let files = Files(files.into_iter().map(|(k, v)| (k, Arc::from(v.as_bytes()))).collect());
        let top = match &data {
            Value::Map(m) => m.clone(),
            _ => ferry_gotemplate::Map::new(),
        };
        top.insert("Files", Value::Object(Arc::new(files)));
        data = Value::Map(top);
    }
    if let Err(e) = set.parse(&case.name, &case.template) {
        return (String::new(), e.to_string());
    }
    let mut out = String::new();
    match set.execute_into(&case.name, &data, &mut out) {
        Ok(()) => (out, String::new()),
        Err(e) => (out, e.to_string()),
    }
}

fn corpus() -> Vec<(PathBuf, Vec<Case>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/cases exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable case file");
            (p, read_cases(&text))
        })
        .collect()
}

fn expected_for(path: &Path) -> Vec<serde_json::Value> {
    let out = match std::env::var_os("FERRY_GOTEMPLATE_ORACLE") {
        Some(bin) => {
            let o = std::process::Command::new(bin).arg(path).output().expect("oracle runs");
            assert!(o.status.success(), "oracle failed: {}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8(o.stdout).expect("utf-8 oracle output")
        }
        None => {
            let golden = path
                .parent()
                .and_then(Path::parent)
                .expect("tests dir")
                .join("golden")
                .join(path.file_name().expect("file name").to_string_lossy().replace(".txt", ".jsonl"));
            std::fs::read_to_string(&golden)
                .unwrap_or_else(|e| panic!("{}: {e}; run hack/gotemplate-oracle/generate.sh", golden.display()))
        }
    };
    out.lines().map(|l| serde_json::from_str(l).expect("oracle JSON line")).collect()
}

#[test]
fn matches_go() {
    let mut failures = Vec::new();
    let mut total = 0;
    for (path, cases) in corpus() {
        let expected = expected_for(&path);
        assert_eq!(expected.len(), cases.len(), "{}: golden file out of date", path.display());
        for (case, want) in cases.iter().zip(&expected) {
            total += 1;
            assert_eq!(want["name"].as_str(), Some(case.name.as_str()), "golden out of date");
            let (out, err) = render(case);
            let want_out = want["output"].as_str().unwrap_or_default();
            let want_err = want["error"].as_str().unwrap_or_default();
            if out != want_out || err != want_err {
                failures.push(format!(
                    "{}: {}\n  template: {:?}\n  want out: {want_out:?}\n  got  out: {out:?}\n  want err: {want_err:?}\n  got  err: {err:?}",
                    path.file_name().unwrap_or_default().to_string_lossy(),
                    case.name,
                    case.template
                ));
            }
        }
    }
    assert!(total > 0, "no cases found");
    assert!(failures.is_empty(), "{} of {total} cases differ from Go:\n{}", failures.len(), failures.join("\n"));
}
