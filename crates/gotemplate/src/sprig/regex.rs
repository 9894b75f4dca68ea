//! Sprig's regular expressions: Go's RE2 syntax, translated where Rust's
//! `regex` crate reads the same text differently ([`from_go`]).

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
    let compiled = Regex::new(&from_go(re))?;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(re.to_string(), compiled.clone());
    Ok(compiled)
}

/// A Go (RE2) pattern in the syntax of Rust's `regex` crate, which agrees on
/// almost everything but two things charts use: Go's Perl classes and word
/// boundaries are ASCII (`\d` is `[0-9]`, `\w` is `[0-9A-Za-z_]`, `\s` is
/// `[\t\n\f\r ]`) where Rust's are Unicode, and Go reads a `{` that starts no
/// valid repetition (`{(v[0-9])*[^}]*}}$` in Bitnami's common chart) as a
/// literal where Rust refuses the pattern.
pub(crate) fn from_go(re: &str) -> String {
    let chars: Vec<char> = re.chars().collect();
    let mut out = String::with_capacity(re.len() + 8);
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let escaped = chars[i + 1];
            let (inside, outside) = match escaped {
                'd' => ("[:digit:]", "[[:digit:]]"),
                'D' => ("[:^digit:]", "[[:^digit:]]"),
                'w' => ("[:word:]", "[[:word:]]"),
                'W' => ("[:^word:]", "[[:^word:]]"),
                's' => ("\\t\\n\\x0C\\r ", "[\\t\\n\\x0C\\r ]"),
                'S' if !in_class => ("", "[^\\t\\n\\x0C\\r ]"),
                'b' if !in_class => ("", "(?-u:\\b)"),
                'B' if !in_class => ("", "(?-u:\\B)"),
                _ => ("", ""),
            };
            match (in_class, inside, outside) {
                (true, inside, _) if !inside.is_empty() => out.push_str(inside),
                (false, _, outside) if !outside.is_empty() => out.push_str(outside),
                _ => {
                    out.push(c);
                    out.push(escaped);
                }
            }
            i += 2;
            continue;
        }
        if in_class {
            if c == '[' && chars.get(i + 1) == Some(&':') {
                // A POSIX class, `[:alpha:]`: copied up to its closing `:]`.
                let end = (i + 2..chars.len().saturating_sub(1)).find(|&j| chars[j] == ':' && chars[j + 1] == ']');
                if let Some(end) = end {
                    out.extend(&chars[i..end + 2]);
                    i = end + 2;
                    continue;
                }
            }
            if c == ']' {
                in_class = false;
            }
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push(c);
                i += 1;
                // `^` and a leading `]` belong to the class's start.
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
                continue;
            }
            '{' if !starts_repetition(&chars[i..]) => out.push_str("\\{"),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Whether `rest` starts with `{n}`, `{n,}` or `{n,m}`.
fn starts_repetition(rest: &[char]) -> bool {
    let mut i = 1;
    let digits = |i: &mut usize| {
        let start = *i;
        while rest.get(*i).is_some_and(char::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return false;
    }
    if rest.get(i) == Some(&',') {
        i += 1;
        digits(&mut i);
    }
    rest.get(i) == Some(&'}')
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
