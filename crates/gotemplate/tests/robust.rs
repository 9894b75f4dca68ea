//! Random and hostile input never panics: random fragments of template
//! syntax (a deterministic generator, so failures reproduce), deep nesting,
//! and unbounded recursion, which must end in Go's depth error.

use ferry_gotemplate::{MissingKey, Templates, Value, sprig};

const FRAGMENTS: &[&str] = &[
    "{{",
    "}}",
    "{{-",
    "-}}",
    " ",
    "\n",
    ".",
    ".a",
    ".a.b",
    "$",
    "$x",
    ":=",
    "=",
    "|",
    "(",
    ")",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "\"s\"",
    "`r`",
    "'c'",
    "1",
    "-2",
    "3.5",
    "0x1f",
    "1e3",
    "nil",
    "true",
    "printf",
    "\"%d %s %v\"",
    "len",
    "index",
    "slice",
    "eq",
    "lt",
    "and",
    "or",
    "not",
    "print",
    "default",
    "quote",
    "upper",
    "toJson",
    "dict",
    "list",
    "set",
    "get",
    "merge",
    "add",
    "div",
    "trunc",
    "substr",
    "splitList",
    "\",\"",
    "regexFind",
    "\"[\"",
    "b64dec",
    "semver",
    "toDate",
    "/*",
    "*/",
    "x",
    "é",
    ",",
    "\"t\"",
];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn data() -> Value {
    Value::from_json(&serde_json::json!({"a": {"b": [1, "two", null]}, "s": "str", "n": 3, "z": 0}))
}

#[test]
fn random_fragments_never_panic() {
    let mut rng = XorShift(0x9e3779b97f4a7c15);
    let data = data();
    let mut parsed = 0;
    let mut base = Templates::new("r");
    base.add_funcs(sprig::funcs()).missing_key(MissingKey::Zero);
    for _ in 0..5_000 {
        let n = 1 + (rng.next() % 24) as usize;
        let text: String = (0..n).map(|_| FRAGMENTS[(rng.next() % FRAGMENTS.len() as u64) as usize]).collect();
        let mut set = base.clone();
        if set.parse("r", &text).is_ok() {
            parsed += 1;
            let _ = set.execute("r", &data);
        }
    }
    // The generator must reach execution, not only parse errors.
    assert!(parsed > 100, "only {parsed} random templates parsed");
}

#[test]
fn deep_nesting_is_an_error_or_works_never_a_crash() {
    let parens = format!("{{{{{}1{}}}}}", "(".repeat(20_000), ")".repeat(20_000));
    let err = Templates::new("t").parse("t", &parens).unwrap_err().to_string();
    assert_eq!(err, "template: t:1: max expression depth exceeded");
    let ifs = format!("{}x{}", "{{if 1}}".repeat(5_000), "{{end}}".repeat(5_000));
    let mut set = Templates::new("t");
    set.parse("t", &ifs).unwrap();
    assert_eq!(set.execute("t", &Value::Missing).unwrap(), "x");
}
