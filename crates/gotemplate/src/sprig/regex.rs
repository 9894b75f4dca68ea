//! Sprig's regular expressions (Go's RE2 syntax, which Rust's `regex` crate
//! shares for what charts use).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;

use crate::error::FuncError;
use crate::func::{FuncMap, Function};
use crate::sig::Ty;
use crate::value::{Elem, Value};

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

/// The most patterns [`cached`] keeps before it starts over.
const CACHE_LIMIT: usize = 256;

/// Compiles `re`, reusing an earlier compilation of the same pattern: charts
/// match every image tag and label against the same few patterns, and
/// building the automaton costs far more than running it on a short string.
fn cached(re: &str) -> Result<Regex, regex::Error> {
    static CACHE: LazyLock<Mutex<HashMap<String, Regex>>> = LazyLock::new(Mutex::default);
    if let Some(r) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(re) {
        return Ok(r.clone());
    }
    let compiled = Regex::new(re)?;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(re.to_string(), compiled.clone());
    Ok(compiled)
}

fn compile(re: &str) -> Result<Regex, FuncError> {
    cached(re).map_err(|e| FuncError::msg(format!("error parsing regexp: {e}")))
}

/// `regexp.MustCompile`'s panic text, which the non-`must` variants surface.
fn must_compile(re: &str) -> Result<Regex, FuncError> {
    cached(re).map_err(|e| FuncError::msg(format!("regexp: Compile({}): error parsing regexp: {e}", go_backquote(re))))
}

fn go_backquote(s: &str) -> String {
    if s.contains('`') { crate::strconv::quote(s) } else { format!("`{s}`") }
}

fn strings(v: Vec<String>) -> Value {
    Value::List(Arc::new(v.into_iter().map(Value::from).collect()), Elem::String)
}

fn find_all(re: &Regex, text: &str, n: i64) -> Value {
    if n == 0 {
        return Value::List(Arc::new(Vec::new()), Elem::String);
    }
    let it = re.find_iter(text).map(|m| m.as_str().to_string());
    strings(if n < 0 { it.collect() } else { it.take(n as usize).collect() })
}

/// Go's `Regexp.Split`.
fn split(re: &Regex, text: &str, n: i64) -> Value {
    if n == 0 {
        return Value::List(Arc::new(Vec::new()), Elem::String);
    }
    if !re.as_str().is_empty() && text.is_empty() {
        return strings(vec![String::new()]);
    }
    let matches: Vec<(usize, usize)> = re.find_iter(text).map(|m| (m.start(), m.end())).collect();
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for (ms, me) in matches {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = ms;
        if me != 0 {
            out.push(text[beg..end].to_string());
        }
        beg = me;
    }
    if end != text.len() {
        out.push(text[beg..].to_string());
    }
    strings(out)
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) fn register(m: &mut FuncMap) {
    use Ty::{Int, String as Str};
    m.insert(
        "regexMatch",
        Function::fixed(&[Str, Str], |a| {
            Ok(Value::Bool(compile(s(&a[0])).map(|r| r.is_match(s(&a[1]))).unwrap_or(false)))
        }),
    );
    m.insert(
        "mustRegexMatch",
        Function::fixed(&[Str, Str], |a| Ok(Value::Bool(compile(s(&a[0]))?.is_match(s(&a[1]))))),
    );
    m.insert(
        "regexFindAll",
        Function::fixed(&[Str, Str, Int], |a| Ok(find_all(&must_compile(s(&a[0]))?, s(&a[1]), int(&a[2])))),
    );
    m.insert(
        "mustRegexFindAll",
        Function::fixed(&[Str, Str, Int], |a| Ok(find_all(&compile(s(&a[0]))?, s(&a[1]), int(&a[2])))),
    );
    m.insert(
        "regexFind",
        Function::fixed(&[Str, Str], |a| {
            Ok(Value::string(must_compile(s(&a[0]))?.find(s(&a[1])).map(|m| m.as_str()).unwrap_or_default()))
        }),
    );
    m.insert(
        "mustRegexFind",
        Function::fixed(&[Str, Str], |a| {
            Ok(Value::string(compile(s(&a[0]))?.find(s(&a[1])).map(|m| m.as_str()).unwrap_or_default()))
        }),
    );
    m.insert(
        "regexReplaceAll",
        Function::fixed(&[Str, Str, Str], |a| {
            Ok(Value::from(must_compile(s(&a[0]))?.replace_all(s(&a[1]), s(&a[2])).into_owned()))
        }),
    );
    m.insert(
        "mustRegexReplaceAll",
        Function::fixed(&[Str, Str, Str], |a| {
            Ok(Value::from(compile(s(&a[0]))?.replace_all(s(&a[1]), s(&a[2])).into_owned()))
        }),
    );
    m.insert(
        "regexReplaceAllLiteral",
        Function::fixed(&[Str, Str, Str], |a| {
            Ok(Value::from(must_compile(s(&a[0]))?.replace_all(s(&a[1]), regex::NoExpand(s(&a[2]))).into_owned()))
        }),
    );
    m.insert(
        "mustRegexReplaceAllLiteral",
        Function::fixed(&[Str, Str, Str], |a| {
            Ok(Value::from(compile(s(&a[0]))?.replace_all(s(&a[1]), regex::NoExpand(s(&a[2]))).into_owned()))
        }),
    );
    m.insert(
        "regexSplit",
        Function::fixed(&[Str, Str, Int], |a| Ok(split(&must_compile(s(&a[0]))?, s(&a[1]), int(&a[2])))),
    );
    m.insert(
        "mustRegexSplit",
        Function::fixed(&[Str, Str, Int], |a| Ok(split(&compile(s(&a[0]))?, s(&a[1]), int(&a[2])))),
    );
    m.insert("regexQuoteMeta", Function::fixed(&[Str], |a| Ok(Value::from(quote_meta(s(&a[0]))))));
}
