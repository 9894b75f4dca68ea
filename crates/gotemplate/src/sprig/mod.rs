//! The Sprig v3 functions Helm registers (`sprig.TxtFuncMap()` without `env`
//! and `expandenv`), each with the Go signature and behaviour of Masterminds'
//! implementation (v3.3), including its quirks (`default` treating `0` and
//! `false` as empty, `merge` filling "empty" destination values).

use crate::error::FuncError;
use crate::func::FuncMap;
use crate::gofmt;
use crate::value::Value;

mod aes;
mod bcrypt;
mod certs;
mod conv;
mod crypto;
mod date;
mod defaults;
mod dicts;
mod encoding;
mod json;
mod lists;
mod math;
mod password;
mod paths;
mod reflect;
mod regex;
mod semver;
mod strings;
mod url;

pub use date::civil_time;
pub use json::{JsonStyle, to_json};

/// Every Sprig function Helm registers.
pub fn funcs() -> FuncMap {
    let mut m = FuncMap::new();
    strings::register(&mut m);
    conv::register(&mut m);
    math::register(&mut m);
    defaults::register(&mut m);
    dicts::register(&mut m);
    lists::register(&mut m);
    reflect::register(&mut m);
    regex::register(&mut m);
    encoding::register(&mut m);
    crypto::register(&mut m);
    certs::register(&mut m);
    date::register(&mut m);
    paths::register(&mut m);
    semver::register(&mut m);
    url::register(&mut m);
    m
}

/// Sprig's `strval`: strings as is, `[]byte` as text, Stringers through
/// `String()`, anything else through `%v`.
pub fn strval(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => gofmt::to_string(other),
    }
}

/// Sprig's `empty`: Go's zero values, and empty strings, slices and maps.
pub fn empty(v: &Value) -> bool {
    match v {
        Value::Missing | Value::Nil => true,
        Value::Bool(b) => !b,
        Value::Int(i) | Value::Int64(i) => *i == 0,
        Value::Float(f) => *f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::Bytes(b) => b.is_empty(),
        Value::List(l, _) => l.is_empty(),
        Value::Map(m) => m.is_empty(),
        Value::Object(o) => o.map_len() == Some(0),
    }
}

/// Go's `reflect.DeepEqual` over template values.
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Missing | Value::Nil, Value::Missing | Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::List(x, ex), Value::List(y, ey)) => {
            ex == ey && x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| deep_equal(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            if x.ptr_eq(y) {
                return true;
            }
            let (x, y) = (x.entries(), y.entries());
            x.len() == y.len() && x.iter().zip(y.iter()).all(|((ka, va), (kb, vb))| ka == kb && deep_equal(va, vb))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.type_name() == y.type_name()
                && match (x.map_entries(), y.map_entries()) {
                    (Some(a), Some(b)) => {
                        a.len() == b.len()
                            && a.iter().zip(b.iter()).all(|((ka, va), (kb, vb))| ka == kb && deep_equal(va, vb))
                    }
                    _ => x.display() == y.display(),
                }
        }
        _ => false,
    }
}

/// The error Go's runtime gives for `reflect.TypeOf(nil).Kind()`, which many
/// Sprig list functions hit on a nil argument.
pub(crate) fn nil_deref() -> FuncError {
    FuncError::msg("runtime error: invalid memory address or nil pointer dereference")
}

/// Go's `reflect.Kind` name of a value, as Sprig's "Cannot X on type K"
/// messages print it.
pub(crate) fn kind(v: &Value) -> &str {
    v.kind_name()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name of Sprig v3.3's `genericMap` but `env` and `expandenv`,
    /// which Helm removes.
    const SPRIG_NAMES: &[&str] = &[
        "abbrev",
        "abbrevboth",
        "add",
        "add1",
        "add1f",
        "addf",
        "adler32sum",
        "ago",
        "all",
        "any",
        "append",
        "atoi",
        "b32dec",
        "b32enc",
        "b64dec",
        "b64enc",
        "base",
        "bcrypt",
        "biggest",
        "buildCustomCert",
        "camelcase",
        "cat",
        "ceil",
        "chunk",
        "clean",
        "coalesce",
        "compact",
        "concat",
        "contains",
        "date",
        "dateInZone",
        "dateModify",
        "date_in_zone",
        "date_modify",
        "decryptAES",
        "deepCopy",
        "deepEqual",
        "default",
        "derivePassword",
        "dict",
        "dig",
        "dir",
        "div",
        "divf",
        "duration",
        "durationRound",
        "empty",
        "encryptAES",
        "ext",
        "fail",
        "first",
        "float64",
        "floor",
        "fromJson",
        "genCA",
        "genCAWithKey",
        "genPrivateKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
        "get",
        "getHostByName",
        "has",
        "hasKey",
        "hasPrefix",
        "hasSuffix",
        "hello",
        "htmlDate",
        "htmlDateInZone",
        "htpasswd",
        "indent",
        "initial",
        "initials",
        "int",
        "int64",
        "isAbs",
        "join",
        "kebabcase",
        "keys",
        "kindIs",
        "kindOf",
        "last",
        "list",
        "lower",
        "max",
        "maxf",
        "merge",
        "mergeOverwrite",
        "min",
        "minf",
        "mod",
        "mul",
        "mulf",
        "mustAppend",
        "mustChunk",
        "mustCompact",
        "mustDateModify",
        "mustDeepCopy",
        "mustFirst",
        "mustFromJson",
        "mustHas",
        "mustInitial",
        "mustLast",
        "mustMerge",
        "mustMergeOverwrite",
        "mustPrepend",
        "mustPush",
        "mustRegexFind",
        "mustRegexFindAll",
        "mustRegexMatch",
        "mustRegexReplaceAll",
        "mustRegexReplaceAllLiteral",
        "mustRegexSplit",
        "mustRest",
        "mustReverse",
        "mustSlice",
        "mustToDate",
        "mustToJson",
        "mustToPrettyJson",
        "mustToRawJson",
        "mustUniq",
        "mustWithout",
        "must_date_modify",
        "nindent",
        "nospace",
        "now",
        "omit",
        "osBase",
        "osClean",
        "osDir",
        "osExt",
        "osIsAbs",
        "pick",
        "pluck",
        "plural",
        "prepend",
        "push",
        "quote",
        "randAlpha",
        "randAlphaNum",
        "randAscii",
        "randBytes",
        "randInt",
        "randNumeric",
        "regexFind",
        "regexFindAll",
        "regexMatch",
        "regexQuoteMeta",
        "regexReplaceAll",
        "regexReplaceAllLiteral",
        "regexSplit",
        "repeat",
        "replace",
        "rest",
        "reverse",
        "round",
        "semver",
        "semverCompare",
        "seq",
        "set",
        "sha1sum",
        "sha256sum",
        "sha512sum",
        "shuffle",
        "slice",
        "snakecase",
        "sortAlpha",
        "split",
        "splitList",
        "splitn",
        "squote",
        "sub",
        "subf",
        "substr",
        "swapcase",
        "ternary",
        "title",
        "toDate",
        "toDecimal",
        "toJson",
        "toPrettyJson",
        "toRawJson",
        "toString",
        "toStrings",
        "trim",
        "trimAll",
        "trimPrefix",
        "trimSuffix",
        "trimall",
        "trunc",
        "tuple",
        "typeIs",
        "typeIsLike",
        "typeOf",
        "uniq",
        "unixEpoch",
        "unset",
        "until",
        "untilStep",
        "untitle",
        "upper",
        "urlJoin",
        "urlParse",
        "uuidv4",
        "values",
        "without",
        "wrap",
        "wrapWith",
    ];

    #[test]
    fn registers_every_function_helm_keeps() {
        let m = funcs();
        let missing: Vec<&str> = SPRIG_NAMES.iter().copied().filter(|n| !m.contains(n)).collect();
        assert!(missing.is_empty(), "missing Sprig functions: {missing:?}");
        assert!(!m.contains("env") && !m.contains("expandenv"));
    }
}
