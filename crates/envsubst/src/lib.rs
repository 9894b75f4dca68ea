//! Flux's post-build variable substitution (`spec.postBuild` of a Kustomization), with the
//! semantics of `fluxcd/pkg/envsubst` (a fork of drone/envsubst).
//!
//! Flux substitutes on the YAML text of each built object, then parses the text again. So a
//! substituted value is a string only where the YAML quotes it: `replicas: ${n}` with `n=3`
//! becomes the integer 3, `value: "${n}"` stays the string `"3"`. The caller substitutes one
//! object's YAML at a time ([`substitute_yaml`]), after checking that the object does not opt
//! out with the `kustomize.toolkit.fluxcd.io/substitute: disabled` label or annotation (the
//! constant is `ferry_api_meta::annotations::SUBSTITUTE`).
//!
//! The expressions:
//!
//! | expression | value |
//! |---|---|
//! | `${var}` | the value |
//! | `${var:-default}`, `${var:=default}`, `${var=default}` | the value, or the default when it is empty or unset; the default may hold expressions |
//! | `${#var}` | the length in bytes |
//! | `${var^}`, `${var^^}`, `${var,}`, `${var,,}` | upper/lower case of the first or every character |
//! | `${var:position}`, `${var:position:length}` | a substring (negative numbers count from the end) |
//! | `${var#glob}`, `${var##glob}` | without the shortest/longest prefix matching the glob |
//! | `${var%glob}`, `${var%%glob}` | without the shortest/longest suffix matching the glob |
//! | `${var/text/with}`, `${var//text/with}` | the first/every occurrence of the text replaced |
//! | `${var/#text/with}`, `${var/%text/with}` | a prefix/suffix replaced |
//!
//! `$var` without braces is left as it is, and `$$` is an escaped `$`: `$${var}` gives the text
//! `${var}`. Like upstream, `${var-default}` is not an expression Flux accepts (use `:-` or `=`).
//!
//! Unset variables become empty text; in strict mode (Flux's `StrictPostBuildSubstitutions`
//! feature gate) reading an unset variable is an error, except through an operator that
//! supplies a default.

#![deny(missing_docs)]

mod eval;
mod parse;

use std::collections::BTreeMap;

use serde_json::Value;

/// Why a substitution failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A `${...}` expression is malformed.
    #[error("{kind} at line {line}, column {column}: {excerpt}")]
    Parse {
        /// Which rule the expression breaks, so callers can tell a typo from an unsupported form.
        kind: ParseErrorKind,
        /// 1-based line of the `${` of the malformed expression.
        line: usize,
        /// 1-based column (in characters) of that `${`.
        column: usize,
        /// The text from that `${`, cut short.
        excerpt: String,
    },

    /// Strict mode: the expression reads a variable that is not set and has no default.
    #[error("variable not set (strict mode): {0:?}")]
    VariableNotSet(String),

    /// A variable name that Flux refuses.
    #[error("'{0}' var name is invalid, must match '{VARIABLE_NAME_PATTERN}'")]
    InvalidName(String),

    /// The substituted text is not a YAML document.
    #[error("YAML after substitution: {0}")]
    Yaml(String),
}

/// The kinds of malformed expressions, with upstream's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// An expression that does not follow any form.
    #[error("bad substitution")]
    BadSubstitution,
    /// `${var` without `}`.
    #[error("missing closing brace")]
    MissingClosingBrace,
    /// `${` not followed by a variable name.
    #[error("unable to parse variable name")]
    VariableName,
    /// An operator without its argument, as in `${var:}` or `${var#}`.
    #[error("unable to parse substitution within function")]
    FuncSubstitution,
    /// A malformed default operator.
    #[error("unable to parse default function")]
    DefaultFunction,
    /// Expressions nested too deeply.
    #[error("expressions nested deeper than {} levels", parse::MAX_DEPTH)]
    TooDeep,
}

impl Error {
    fn parse(kind: ParseErrorKind, input: &str, offset: usize) -> Self {
        let offset = offset.min(input.len());
        let before = input.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        let rest = input.get(offset..).unwrap_or("");
        let rest = rest.split('\n').next().unwrap_or("");
        let mut excerpt: String = rest.chars().take(40).collect();
        if rest.chars().count() > 40 {
            excerpt.push('…');
        }
        Error::Parse { kind, line, column, excerpt }
    }
}

/// The pattern Flux requires of variable names (POSIX classes, ASCII only).
pub const VARIABLE_NAME_PATTERN: &str = "^[_[:alpha:]][_[:alpha:][:digit:]]*$";

/// Checks a variable name (a key of `substitute` or of a `substituteFrom` ConfigMap or Secret)
/// against [`VARIABLE_NAME_PATTERN`].
pub fn validate_name(name: &str) -> Result<(), Error> {
    let mut bytes = name.bytes();
    let valid = match bytes.next() {
        Some(first) => {
            (first == b'_' || first.is_ascii_alphabetic()) && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
        }
        None => false,
    };
    if valid { Ok(()) } else { Err(Error::InvalidName(name.to_owned())) }
}

/// A variable's value as Flux loads it from `substitute` or `substituteFrom`: without newlines.
pub fn clean_value(value: &str) -> String {
    value.replace('\n', "")
}

/// Substitutes the `${...}` expressions of `input`. `lookup` gives a variable's value, `None`
/// when it is not set; an unset variable is empty text, or an error in `strict` mode unless a
/// default operator covers it. Names are not validated here (see [`substitute_vars`]).
pub fn substitute(input: &str, lookup: &impl Fn(&str) -> Option<String>, strict: bool) -> Result<String, Error> {
    let nodes = parse::parse(input)?;
    eval::eval(&nodes, lookup, strict)
}

/// Substitutes with the variables of a map, after checking every name as Flux does.
pub fn substitute_vars(input: &str, vars: &BTreeMap<String, String>, strict: bool) -> Result<String, Error> {
    for name in vars.keys() {
        validate_name(name)?;
    }
    substitute(input, &|name: &str| vars.get(name).cloned(), strict)
}

/// Substitutes in the YAML text of one object and parses the result, as Flux does: scalars
/// resolve as in YAML 1.1 (`${n}` with `3` gives an integer, with `on` a boolean) unless quoted.
pub fn substitute_yaml(yaml: &str, vars: &BTreeMap<String, String>, strict: bool) -> Result<Value, Error> {
    let text = substitute_vars(yaml, vars, strict)?;
    ferry_kustomize::yaml::parse_one_yaml11(&text).map_err(|e| Error::Yaml(e.to_string()))
}

/// Substitutes in an object that is already parsed: prints it as `kustomize build` does, then
/// [`substitute_yaml`]. Quoting is decided by the printer, which writes `${...}` strings
/// unquoted: a value that was quoted in the original file (`"${port}"`) is no longer known to be,
/// so prefer [`substitute_yaml`] on text that keeps the original quoting when there is such text.
pub fn substitute_object(obj: &Value, vars: &BTreeMap<String, String>, strict: bool) -> Result<Value, Error> {
    substitute_yaml(&ferry_kustomize::yaml::to_yaml(obj), vars, strict)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Variables as name and value pairs.
    type Vars<'a> = &'a [(&'a str, &'a str)];

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn subst(input: &str, pairs: &[(&str, &str)]) -> String {
        substitute_vars(input, &vars(pairs), false).unwrap_or_else(|e| panic!("{input}: {e}"))
    }

    #[test]
    fn every_form() {
        let v = "abcdEFGH28ij";
        let path = "/home/bozo/ideas/thoughts.for.today";
        let z = "abcABC123ABCabc";
        let cases: &[(&str, Vars<'_>, &str)] = &[
            ("abcdEFGH28ij", &[], "abcdEFGH28ij"),
            ("${var01}", &[("var01", v)], v),
            ("${#var01}", &[("var01", v)], "12"),
            ("${var01^}", &[("var01", v)], "AbcdEFGH28ij"),
            ("${var01^^}", &[("var01", v)], "ABCDEFGH28IJ"),
            ("${var01,}", &[("var01", "ABCDEFGH28IJ")], "aBCDEFGH28IJ"),
            ("${var01,,}", &[("var01", "ABCDEFGH28IJ")], "abcdefgh28ij"),
            ("${path_name:11}", &[("path_name", path)], "ideas/thoughts.for.today"),
            ("${path_name:11:5}", &[("path_name", path)], "ideas"),
            ("${var=xyz}", &[("var", "abc")], "abc"),
            ("${var=xyz}", &[], "xyz"),
            ("${var:=xyz}", &[], "xyz"),
            ("${var:-xyz}", &[], "xyz"),
            ("${var:-xyz}", &[("var", "")], "xyz"),
            ("${var:-}", &[], ""),
            ("something ${var=${default_var}}", &[("default_var", "foo")], "something foo"),
            ("foo: ${var=${default_var}-suffix}", &[("default_var", "foo1")], "foo: foo1-suffix"),
            ("foo: ${var=prefix${default_var}-suffix}", &[("default_var", "foo1")], "foo: prefixfoo1-suffix"),
            ("${var=${var01^^}}", &[("var01", v)], "ABCDEFGH28IJ"),
            ("${stringZ/%abc/XYZ}", &[("stringZ", z)], "abcABC123ABCXYZ"),
            ("${stringZ/#abc/XYZ}", &[("stringZ", z)], "XYZABC123ABCabc"),
            ("${stringZ/#/prefix-}", &[("stringZ", "somevalue")], "prefix-somevalue"),
            ("${stringZ/%/-suffix}", &[("stringZ", "somevalue")], "somevalue-suffix"),
            ("${stringZ//abc/xyz}", &[("stringZ", z)], "xyzABC123ABCxyz"),
            ("${stringZ/abc/xyz}", &[("stringZ", z)], "xyzABC123ABCabc"),
            ("${stringZ/./}", &[("stringZ", "foo.bar")], "foobar"),
            (r"${stringZ/\//-}", &[("stringZ", "foo/bar")], "foo-bar"),
            (r"${stringZ//\//-}", &[("stringZ", "foo/bar/baz")], "foo-bar-baz"),
            (r"${stringZ//\\/-}", &[("stringZ", r"a\b")], "a-b"),
            ("${filename#*.}", &[("filename", "bash.string.txt")], "string.txt"),
            ("${filename#*/}", &[("filename", "path/to/file")], "to/file"),
            ("${filename#*/}", &[("filename", "/path/to/file")], "path/to/file"),
            ("${filename##*.}", &[("filename", "bash.string.txt")], "txt"),
            ("${filename##*/}", &[("filename", "/path/to/file")], "file"),
            ("${filename%.*}", &[("filename", "bash.string.txt")], "bash.string"),
            ("${filename%%.*}", &[("filename", "bash.string.txt")], "bash"),
            // Escapes.
            ("$${var01}", &[("var01", v)], "${var01}"),
            (
                "some text ${var01}$${var$${var01}$var01${var01}",
                &[("var01", v)],
                "some text abcdEFGH28ij${var${var01}$var01abcdEFGH28ij",
            ),
            ("something $${var=${default_var}}", &[("default_var", "foo")], "something ${var=foo}"),
            ("\\\\something ${var=${default_var}}", &[("default_var", "foo")], "\\\\something foo"),
            ("$$ and $$$$", &[], "$ and $$"),
            // `$var` is text, and so is a lone `$` or `}`.
            ("echo $HOME $ } {", &[("HOME", "/root")], "echo $HOME $ } {"),
            // Unset variables are empty outside strict mode.
            ("[${missing}]", &[], "[]"),
            ("${missing^^}${#missing}", &[], "0"),
        ];
        for (input, pairs, want) in cases {
            assert_eq!(subst(input, pairs), *want, "{input}");
        }
    }

    #[test]
    fn unicode_values_and_names() {
        assert_eq!(subst("名前: ${name}", &[("name", "フラックス")]), "名前: フラックス");
        assert_eq!(subst("${name^}", &[("name", "élan")]), "Élan");
        assert_eq!(subst("${name,,}", &[("name", "ÉCOLE")]), "école");
        // Lengths count bytes, as upstream.
        assert_eq!(subst("${#name}", &[("name", "é")]), "2");
        assert_eq!(subst("${name//ü/ue}", &[("name", "über über")]), "ueber ueber");
        assert_eq!(subst("${name%.*}", &[("name", "日本.語")]), "日本");
        // A letter that is not ASCII parses as a name, which no valid variable can have.
        assert_eq!(substitute("${ñ}", &|_: &str| None, false).unwrap(), "");
        assert_eq!(
            substitute("${ñ}", &|_: &str| None, true).unwrap_err().to_string(),
            "variable not set (strict mode): \"ñ\""
        );
    }

    #[test]
    fn strict_mode() {
        let strict = |input: &str, pairs: &[(&str, &str)]| substitute_vars(input, &vars(pairs), true);
        assert_eq!(strict("abc", &[]).unwrap(), "abc");
        assert_eq!(strict("${foo}", &[("foo", "bar")]).unwrap(), "bar");
        assert_eq!(strict("${foo}", &[("foo", "")]).unwrap(), "");
        assert_eq!(strict("${missing:=default}", &[]).unwrap(), "default");
        assert_eq!(strict("${missing:-fallback}", &[]).unwrap(), "fallback");
        assert_eq!(strict("${missing=assigned}", &[]).unwrap(), "assigned");
        let err = strict("a: ${missing}", &[]).unwrap_err();
        assert_eq!(err, Error::VariableNotSet("missing".into()));
        assert_eq!(err.to_string(), "variable not set (strict mode): \"missing\"");
        for input in [
            "${#missing}",
            "${missing^}",
            "${missing^^}",
            "${missing,}",
            "${missing,,}",
            "${missing:0}",
            "${missing:0:10}",
            "${missing/pattern/replacement}",
            "${missing//pattern/replacement}",
            "${missing/#pattern/replacement}",
            "${missing/%pattern/replacement}",
            "${missing#pattern}",
            "${missing##pattern}",
            "${missing%pattern}",
            "${missing%%pattern}",
        ] {
            assert_eq!(strict(input, &[]), Err(Error::VariableNotSet("missing".into())), "{input}");
        }
        // Defaults are evaluated even when the variable is set.
        assert_eq!(strict("${set:-${missing}}", &[("set", "x")]), Err(Error::VariableNotSet("missing".into())));
    }

    #[test]
    fn malformed_expressions_say_where() {
        let err = subst_err("kind: ConfigMap\ndata:\n  a: ${var\n");
        assert_eq!(
            err,
            Error::Parse { kind: ParseErrorKind::MissingClosingBrace, line: 3, column: 6, excerpt: "${var".into() }
        );
        assert_eq!(err.to_string(), "missing closing brace at line 3, column 6: ${var");
        assert_eq!(subst_err("${").to_string(), "unable to parse variable name at line 1, column 1: ${");
        assert_eq!(subst_err("x ${:-x}").to_string(), "unable to parse variable name at line 1, column 3: ${:-x}");
        assert_eq!(
            subst_err("${a:-${b:}}").to_string(),
            "unable to parse substitution within function at line 1, column 6: ${b:}}"
        );
        let long = format!("${{v{}", "x".repeat(100));
        match subst_err(&long) {
            Error::Parse { excerpt, .. } => assert_eq!(excerpt.chars().count(), 41),
            other => panic!("{other:?}"),
        }
    }

    fn subst_err(input: &str) -> Error {
        substitute(input, &|_: &str| Some("v".into()), false).unwrap_err()
    }

    #[test]
    fn variable_names() {
        for good in ["a", "_", "A_1", "cluster_env", "_private9"] {
            assert_eq!(validate_name(good), Ok(()), "{good}");
        }
        for bad in ["", "1a", "my-var", "a.b", "ä", "a b"] {
            assert_eq!(validate_name(bad), Err(Error::InvalidName(bad.into())), "{bad}");
        }
        let err = substitute_vars("x", &vars(&[("ok", "1"), ("my-var", "2")]), false).unwrap_err();
        assert_eq!(err.to_string(), "'my-var' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'");
        assert_eq!(clean_value("a\nb\n"), "ab");
    }

    #[test]
    fn yaml_types_follow_quoting() {
        let yaml = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels:
    env: ${env:=dev}
spec:
  replicas: ${replicas}
  paused: ${paused}
  template:
    spec:
      containers:
      - image: ghcr.io/stefanprodan/podinfo:${tag}
        env:
        - name: PORT
          value: \"${port}\"
        - name: SCRIPT
          value: echo $HOME $${literal}
";
        let got = substitute_yaml(
            yaml,
            &vars(&[("name", "podinfo"), ("replicas", "3"), ("paused", "on"), ("tag", "6.5.0"), ("port", "9898")]),
            false,
        )
        .unwrap();
        assert_eq!(got["metadata"]["name"], "podinfo");
        assert_eq!(got["metadata"]["labels"]["env"], "dev");
        assert_eq!(got["spec"]["replicas"], json!(3));
        assert_eq!(got["spec"]["paused"], json!(true));
        let container = &got["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "ghcr.io/stefanprodan/podinfo:6.5.0");
        assert_eq!(container["env"][0]["value"], json!("9898"));
        assert_eq!(container["env"][1]["value"], "echo $HOME ${literal}");
    }

    #[test]
    fn yaml_errors_are_reported() {
        let err = substitute_yaml("a: ${v}\n", &vars(&[("v", "[unclosed")]), false).unwrap_err();
        assert!(matches!(err, Error::Yaml(_)), "{err:?}");
        let err = substitute_yaml("a: ${v\n", &vars(&[]), true).unwrap_err();
        assert!(matches!(err, Error::Parse { kind: ParseErrorKind::MissingClosingBrace, .. }));
    }

    #[test]
    fn objects_are_printed_then_substituted() {
        let obj = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "app-${env}", "annotations": {"note": "$${kept}"}},
            "data": {"replicas": "${n}", "greeting": "hello ${who}"}
        });
        let got = substitute_object(&obj, &vars(&[("env", "prod"), ("n", "3"), ("who", "world")]), false).unwrap();
        assert_eq!(got["metadata"]["name"], "app-prod");
        assert_eq!(got["metadata"]["annotations"]["note"], "${kept}");
        // The printer writes `${n}` unquoted, so the number is a number.
        assert_eq!(got["data"]["replicas"], json!(3));
        assert_eq!(got["data"]["greeting"], "hello world");
    }

    #[test]
    fn arbitrary_characters_never_panic() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};

        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..5_000 {
            let len = rng.random_range(0..32);
            let input: String = (0..len)
                .map(|_| if rng.random_bool(0.5) { rng.random_range('!'..='~') } else { rng.random::<char>() })
                .collect();
            let out = substitute(&input, &|_: &str| Some("x".into()), false);
            if let Err(e) = out {
                assert!(matches!(e, Error::Parse { .. }), "{input:?}: {e:?}");
                assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn random_input_never_panics() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};

        const ALPHABET: &[&str] = &[
            "$", "{", "}", "$$", "${", "a", "b_1", ":", "-", "=", "#", "%", "/", "\\", "^", ",", "?", "+", "*", "[",
            "]", "é", "\n", " ", "0", "-3", "日",
        ];
        let lookup = |name: &str| if name.starts_with('a') { Some("abcé/ÄB".to_owned()) } else { None };
        let mut rng = StdRng::seed_from_u64(0x5eed);
        for _ in 0..20_000 {
            let len = rng.random_range(0..24);
            let input: String = (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())]).collect();
            let lenient = substitute(&input, &lookup, false);
            let strict = substitute(&input, &lookup, true);
            match (&lenient, &strict) {
                // What strict mode accepts, lenient mode substitutes the same way.
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{input:?}"),
                // Strict mode only adds unset-variable errors.
                (Ok(_), Err(e)) => assert!(matches!(e, Error::VariableNotSet(_)), "{input:?}: {e:?}"),
                (Err(a), Err(b)) => {
                    assert!(matches!(a, Error::Parse { line: 1.., column: 1.., .. }), "{input:?}: {a:?}");
                    assert_eq!(a, b, "{input:?}");
                }
                (Err(e), Ok(_)) => panic!("{input:?}: only lenient mode failed: {e:?}"),
            }
            if !input.contains("${") && !input.contains("$$") {
                assert_eq!(substitute(&input, &lookup, true).as_deref(), Ok(input.as_str()));
            }
        }
    }
}
