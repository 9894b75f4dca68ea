//! Sprig's string functions, with Go's byte-based slicing (`trunc`,
//! `substr`) and goutils/xstrings word rules (`abbrev`, `wrap`, `camelcase`,
//! `snakecase`).

use std::sync::Arc;

use rand::Rng;

use super::conv::strslice;
use super::strval;
use crate::error::FuncError;
use crate::func::{FuncMap, Function};
use crate::gofmt;
use crate::sig::Ty;
use crate::strconv::quote;
use crate::value::{Elem, MapEntries, Value};

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

/// A Go string slice `s[a:b]` by bytes, tolerating a cut inside a character
/// (Go keeps the raw bytes; Rust strings cannot, so they become U+FFFD).
fn byte_slice(s: &str, a: usize, b: usize) -> String {
    match s.get(a..b) {
        Some(x) => x.to_string(),
        None => crate::strconv::from_go_bytes(&s.as_bytes()[a..b]),
    }
}

fn upper_char(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

fn lower_char(c: char) -> char {
    let mut u = c.to_lowercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// Go's `strings.Title`.
fn title(s: &str) -> String {
    fn is_separator(r: char) -> bool {
        if (r as u32) <= 0x7f {
            return !(r.is_ascii_alphanumeric() || r == '_');
        }
        if r.is_alphabetic() || r.is_numeric() {
            return false;
        }
        r.is_whitespace()
    }
    let mut prev = ' ';
    s.chars()
        .map(|r| {
            let out = if is_separator(prev) { upper_char(r) } else { r };
            prev = r;
            out
        })
        .collect()
}

/// goutils' `Uncapitalize` with whitespace delimiters.
fn untitle(s: &str) -> String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if c.is_whitespace() {
                next = true;
                c
            } else if next {
                next = false;
                lower_char(c)
            } else {
                c
            }
        })
        .collect()
}

/// goutils' `Initials`.
fn initials(s: &str) -> String {
    let mut out = String::new();
    let mut last_delim = true;
    for c in s.chars() {
        if c.is_whitespace() {
            last_delim = true;
        } else if last_delim {
            out.push(c);
            last_delim = false;
        }
    }
    out
}

/// goutils' `SwapCase`.
fn swapcase(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_uppercase() {
                lower_char(c)
            } else if c.is_lowercase() {
                upper_char(c)
            } else {
                c
            }
        })
        .collect()
}

/// goutils' `AbbreviateFull`.
fn abbreviate_full(s: &str, mut offset: i64, max_width: i64) -> String {
    let len = s.len() as i64;
    if s.is_empty() || max_width < 4 {
        return if max_width < 4 { String::new() } else { s.to_string() };
    }
    if len <= max_width {
        return s.to_string();
    }
    if offset > len {
        offset = len;
    }
    if len - offset < max_width - 3 {
        offset = len - (max_width - 3);
    }
    if offset <= 4 {
        return format!("{}...", byte_slice(s, 0, (max_width - 3) as usize));
    }
    if max_width < 7 {
        return String::new();
    }
    if offset + max_width - 3 < len {
        let rest = byte_slice(s, offset as usize, s.len());
        return format!("...{}", abbreviate_full(&rest, 0, max_width - 3));
    }
    format!("...{}", byte_slice(s, (len - (max_width - 3)) as usize, s.len()))
}

/// goutils' `WrapCustom`.
fn wrap_custom(s: &str, wrap_length: i64, newline: &str, wrap_long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let wrap = wrap_length.max(1) as usize;
    let b = s.as_bytes();
    let len = b.len();
    let mut offset = 0;
    let mut out = String::new();
    while len - offset > wrap {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (wrap + offset + 1).min(len);
        let space = b[offset..end].iter().rposition(|&c| c == b' ');
        if let Some(sp) = space {
            let at = sp + offset;
            out.push_str(&byte_slice(s, offset, at));
            out.push_str(newline);
            offset = at + 1;
        } else if wrap_long_words {
            let end = wrap + offset;
            out.push_str(&byte_slice(s, offset, end));
            out.push_str(newline);
            offset += wrap;
        } else {
            let end = wrap + offset;
            match b[end..].iter().position(|&c| c == b' ') {
                None => {
                    out.push_str(&byte_slice(s, offset, len));
                    offset = len;
                }
                Some(i) => {
                    let at = i + end;
                    out.push_str(&byte_slice(s, offset, at));
                    out.push_str(newline);
                    offset = at + 1;
                }
            }
        }
    }
    out.push_str(&byte_slice(s, offset, len));
    out
}

fn is_connector(r: char) -> bool {
    r == '-' || r == '_' || r.is_whitespace()
}

/// xstrings' `ToPascalCase` (Sprig's `camelcase`).
fn pascal_case(s: &str) -> String {
    let mut chars = s.chars();
    let mut out = String::new();
    let mut first_upper = false;
    let mut r0 = '\0';
    let mut found = false;
    for c in chars.by_ref() {
        if !is_connector(c) {
            first_upper = c.is_uppercase();
            r0 = upper_char(c);
            found = true;
            break;
        }
        out.push(c);
    }
    let rest: Vec<char> = chars.collect();
    if rest.is_empty() {
        if found {
            out.push(r0);
        }
        return out;
    }
    for c in rest {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = r0.is_uppercase();
            r0 = upper_char(r0);
        } else {
            if first_upper {
                if r0.is_uppercase() {
                    r0 = lower_char(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

fn is_alpha(r: char) -> bool {
    r.is_ascii_alphabetic()
}

fn is_punct(r: char) -> bool {
    r.is_ascii_punctuation() && !matches!(r, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~')
        || (!r.is_ascii() && !r.is_alphanumeric() && !r.is_whitespace() && !r.is_control())
}

/// xstrings' `nextWord`.
fn next_word(s: &str) -> (Word, &str, &str) {
    let mut it = s.char_indices();
    let Some((_, r)) = it.next() else {
        return (Word::Invalid, "", "");
    };
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let end_of = |i: usize| if i < chars.len() { chars[i].0 } else { s.len() };
    let mut i = 1;
    let wt;
    if is_connector(r) {
        wt = Word::Connector;
        while i < chars.len() && is_connector(chars[i].1) {
            i += 1;
        }
    } else if is_punct(r) {
        wt = Word::Punct;
        while i < chars.len() && is_punct(chars[i].1) {
            i += 1;
        }
    } else if r.is_uppercase() {
        wt = Word::Upper;
        if i < chars.len() {
            let r2 = chars[i].1;
            if r2.is_uppercase() {
                i += 1;
                while i < chars.len() && chars[i].1.is_uppercase() {
                    i += 1;
                }
                if i < chars.len() && is_alpha(chars[i].1) {
                    i -= 1;
                }
            } else if is_alpha(r2) {
                i += 1;
                while i < chars.len() && is_alpha(chars[i].1) && !chars[i].1.is_uppercase() {
                    i += 1;
                }
            }
        }
    } else if is_alpha(r) {
        wt = Word::Alphabet;
        while i < chars.len() && is_alpha(chars[i].1) && !chars[i].1.is_uppercase() {
            i += 1;
        }
    } else if r.is_numeric() {
        wt = Word::Number;
        while i < chars.len() && chars[i].1.is_numeric() {
            i += 1;
        }
    } else {
        wt = Word::Other;
        while i < chars.len() {
            let c = chars[i].1;
            if is_connector(c) || is_alpha(c) || c.is_numeric() || is_punct(c) {
                break;
            }
            i += 1;
        }
    }
    let end = end_of(i);
    (wt, &s[..end], &s[end..])
}

fn to_lower_word(out: &mut String, wt: Word, word: &str, connector: char) {
    if wt != Word::Upper && wt != Word::Connector {
        out.push_str(word);
        return;
    }
    for c in word.chars() {
        if is_connector(c) {
            out.push(connector);
        } else if c.is_uppercase() {
            out.push(lower_char(c));
        } else {
            out.push(c);
        }
    }
}

/// xstrings' `camelCaseToLowerCase` (Sprig's `snakecase`, `kebabcase`).
fn camel_to_lower(s: &str, connector: char) -> String {
    if s.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let (mut wt, mut word, mut remaining) = next_word(s);
    while !remaining.is_empty() {
        if wt != Word::Connector {
            to_lower_word(&mut out, wt, word, connector);
        }
        let prev = wt;
        let last = word;
        (wt, word, remaining) = next_word(remaining);
        match prev {
            Word::Number => {
                while wt == Word::Alphabet || wt == Word::Number {
                    to_lower_word(&mut out, wt, word, connector);
                    (wt, word, remaining) = next_word(remaining);
                }
                if wt != Word::Invalid && wt != Word::Punct && wt != Word::Connector {
                    out.push(connector);
                }
            }
            Word::Connector => to_lower_word(&mut out, prev, last, connector),
            Word::Punct => {}
            _ => {
                if wt != Word::Number {
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                if remaining.is_empty() {
                    continue;
                }
                let last = word;
                (wt, word, remaining) = next_word(remaining);
                if wt != Word::Alphabet {
                    to_lower_word(&mut out, Word::Number, last, connector);
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                out.push(connector);
                to_lower_word(&mut out, Word::Number, last, connector);
                while wt == Word::Alphabet || wt == Word::Number {
                    to_lower_word(&mut out, wt, word, connector);
                    (wt, word, remaining) = next_word(remaining);
                }
                if wt != Word::Invalid && wt != Word::Connector && wt != Word::Punct {
                    out.push(connector);
                }
            }
        }
    }
    to_lower_word(&mut out, wt, word, connector);
    out
}

fn random_from(count: i64, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..count.max(0)).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

fn split_map(parts: Vec<&str>) -> Value {
    let entries: MapEntries = parts.into_iter().enumerate().map(|(i, p)| (format!("_{i}"), Value::string(p))).collect();
    Value::map(entries)
}

/// Go's `strings.SplitN` (n < 0: all; n == 0: none).
fn go_splitn<'a>(s: &'a str, sep: &str, n: i64) -> Vec<&'a str> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let mut parts: Vec<&str> = Vec::new();
        let mut idx: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
        idx.push(s.len());
        for w in idx.windows(2) {
            if n > 0 && parts.len() as i64 == n - 1 {
                parts.push(&s[w[0]..]);
                return parts;
            }
            parts.push(&s[w[0]..w[1]]);
        }
        return parts;
    }
    if n < 0 { s.split(sep).collect() } else { s.splitn(n as usize, sep).collect() }
}

const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const DIGITS: &[u8] = b"0123456789";

pub(super) fn register(m: &mut FuncMap) {
    use Ty::{Any, Int, String as Str};
    let st = |f: fn(&str) -> String| Function::fixed(&[Str], move |a| Ok(Value::from(f(s(&a[0])))));
    m.insert("hello", Function::fixed(&[], |_| Ok(Value::string("Hello!"))));
    m.insert(
        "abbrev",
        Function::fixed(&[Int, Str], |a| {
            let w = int(&a[0]);
            Ok(Value::from(if w < 4 { s(&a[1]).to_string() } else { abbreviate_full(s(&a[1]), 0, w) }))
        }),
    );
    m.insert(
        "abbrevboth",
        Function::fixed(&[Int, Int, Str], |a| {
            let (l, r) = (int(&a[0]), int(&a[1]));
            let v = s(&a[2]);
            Ok(Value::from(if r < 4 || (l > 0 && r < 7) { v.to_string() } else { abbreviate_full(v, l, r) }))
        }),
    );
    m.insert(
        "trunc",
        Function::fixed(&[Int, Str], |a| {
            let c = int(&a[0]);
            let v = s(&a[1]);
            let len = v.len() as i64;
            Ok(Value::from(if c < 0 && len + c > 0 {
                byte_slice(v, (len + c) as usize, v.len())
            } else if c >= 0 && len > c {
                byte_slice(v, 0, c as usize)
            } else {
                v.to_string()
            }))
        }),
    );
    m.insert("trim", st(|v| v.trim().to_string()));
    m.insert("upper", st(|v| v.chars().map(upper_char).collect()));
    m.insert("lower", st(|v| v.chars().map(lower_char).collect()));
    m.insert("title", st(title));
    m.insert("untitle", st(untitle));
    m.insert(
        "substr",
        Function::fixed(&[Int, Int, Str], |a| {
            let (start, end) = (int(&a[0]), int(&a[1]));
            let v = s(&a[2]);
            let len = v.len() as i64;
            let oob = |x: String| Err(FuncError::msg(format!("runtime error: slice bounds out of range {x}")));
            if start < 0 {
                if end < 0 || end > len {
                    return oob(format!("[:{end}] with length {len}"));
                }
                return Ok(Value::from(byte_slice(v, 0, end as usize)));
            }
            if end < 0 || end > len {
                if start > len {
                    return oob(format!("[{start}:{len}]"));
                }
                return Ok(Value::from(byte_slice(v, start as usize, v.len())));
            }
            if start > end {
                return oob(format!("[{start}:{end}]"));
            }
            Ok(Value::from(byte_slice(v, start as usize, end as usize)))
        }),
    );
    m.insert(
        "repeat",
        Function::fixed(&[Int, Str], |a| {
            let c = int(&a[0]);
            if c < 0 {
                return Err(FuncError::msg("strings: negative Repeat count"));
            }
            Ok(Value::from(s(&a[1]).repeat(c as usize)))
        }),
    );
    let trim_all = || {
        Function::fixed(&[Str, Str], |a| {
            let cut: Vec<char> = s(&a[0]).chars().collect();
            Ok(Value::string(s(&a[1]).trim_matches(|c| cut.contains(&c))))
        })
    };
    m.insert("trimall", trim_all());
    m.insert("trimAll", trim_all());
    m.insert(
        "trimSuffix",
        Function::fixed(&[Str, Str], |a| Ok(Value::string(s(&a[1]).strip_suffix(s(&a[0])).unwrap_or(s(&a[1]))))),
    );
    m.insert(
        "trimPrefix",
        Function::fixed(&[Str, Str], |a| Ok(Value::string(s(&a[1]).strip_prefix(s(&a[0])).unwrap_or(s(&a[1]))))),
    );
    m.insert("nospace", st(|v| v.chars().filter(|c| !c.is_whitespace()).collect()));
    m.insert("initials", st(initials));
    m.insert("randAlphaNum", Function::fixed(&[Int], |a| Ok(Value::from(random_from(int(&a[0]), ALNUM)))));
    m.insert("randAlpha", Function::fixed(&[Int], |a| Ok(Value::from(random_from(int(&a[0]), ALPHA)))));
    m.insert("randNumeric", Function::fixed(&[Int], |a| Ok(Value::from(random_from(int(&a[0]), DIGITS)))));
    m.insert(
        "randAscii",
        Function::fixed(&[Int], |a| {
            let printable: Vec<u8> = (32u8..=126).collect();
            Ok(Value::from(random_from(int(&a[0]), &printable)))
        }),
    );
    m.insert("swapcase", st(swapcase));
    m.insert(
        "shuffle",
        st(|v| {
            let mut chars: Vec<char> = v.chars().collect();
            let mut rng = rand::rng();
            for i in (1..chars.len()).rev() {
                chars.swap(i, rng.random_range(0..=i));
            }
            chars.into_iter().collect()
        }),
    );
    m.insert("snakecase", st(|v| camel_to_lower(v, '_')));
    m.insert("kebabcase", st(|v| camel_to_lower(v, '-')));
    m.insert("camelcase", st(pascal_case));
    m.insert("wrap", Function::fixed(&[Int, Str], |a| Ok(Value::from(wrap_custom(s(&a[1]), int(&a[0]), "", false)))));
    m.insert(
        "wrapWith",
        Function::fixed(&[Int, Str, Str], |a| Ok(Value::from(wrap_custom(s(&a[2]), int(&a[0]), s(&a[1]), true)))),
    );
    m.insert("contains", Function::fixed(&[Str, Str], |a| Ok(Value::Bool(s(&a[1]).contains(s(&a[0]))))));
    m.insert("hasPrefix", Function::fixed(&[Str, Str], |a| Ok(Value::Bool(s(&a[1]).starts_with(s(&a[0]))))));
    m.insert("hasSuffix", Function::fixed(&[Str, Str], |a| Ok(Value::Bool(s(&a[1]).ends_with(s(&a[0]))))));
    m.insert(
        "quote",
        Function::variadic(&[], Any, |a| {
            let parts: Vec<String> = a.iter().filter(|v| !v.is_nil()).map(|v| quote(&strval(v))).collect();
            Ok(Value::from(parts.join(" ")))
        }),
    );
    m.insert(
        "squote",
        Function::variadic(&[], Any, |a| {
            let parts: Vec<String> =
                a.iter().filter(|v| !v.is_nil()).map(|v| format!("'{}'", gofmt::to_string(v))).collect();
            Ok(Value::from(parts.join(" ")))
        }),
    );
    m.insert(
        "cat",
        Function::variadic(&[], Any, |a| {
            let parts: Vec<String> = a.iter().filter(|v| !v.is_nil()).map(gofmt::to_string).collect();
            Ok(Value::from(parts.join(" ")))
        }),
    );
    m.insert(
        "indent",
        Function::fixed(&[Int, Str], |a| {
            let pad = " ".repeat(int(&a[0]).max(0) as usize);
            Ok(Value::from(format!("{pad}{}", s(&a[1]).replace('\n', &format!("\n{pad}")))))
        }),
    );
    m.insert(
        "nindent",
        Function::fixed(&[Int, Str], |a| {
            let pad = " ".repeat(int(&a[0]).max(0) as usize);
            Ok(Value::from(format!("\n{pad}{}", s(&a[1]).replace('\n', &format!("\n{pad}")))))
        }),
    );
    m.insert(
        "replace",
        Function::fixed(&[Str, Str, Str], |a| {
            let (old, new, src) = (s(&a[0]), s(&a[1]), s(&a[2]));
            Ok(Value::from(go_replace(src, old, new)))
        }),
    );
    m.insert(
        "plural",
        Function::fixed(&[Str, Str, Int], |a| Ok(if int(&a[2]) == 1 { a[0].clone() } else { a[1].clone() })),
    );
    m.insert("split", Function::fixed(&[Str, Str], |a| Ok(split_map(go_splitn(s(&a[1]), s(&a[0]), -1)))));
    m.insert("splitn", Function::fixed(&[Str, Int, Str], |a| Ok(split_map(go_splitn(s(&a[2]), s(&a[0]), int(&a[1]))))));
    m.insert(
        "splitList",
        Function::fixed(&[Str, Str], |a| {
            let parts = go_splitn(s(&a[1]), s(&a[0]), -1);
            Ok(Value::List(Arc::new(parts.into_iter().map(Value::string).collect()), Elem::String))
        }),
    );
    m.insert("join", Function::fixed(&[Str, Any], |a| Ok(Value::from(strslice(&a[1]).join(s(&a[0]))))));
}

/// Go's `strings.Replace(src, old, new, -1)`: an empty `old` inserts `new`
/// around every character.
fn go_replace(src: &str, old: &str, new: &str) -> String {
    if !old.is_empty() {
        return src.replace(old, new);
    }
    let mut out = String::from(new);
    for c in src.chars() {
        out.push(c);
        out.push_str(new);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_as_xstrings() {
        assert_eq!(camel_to_lower("FirstName", '_'), "first_name");
        assert_eq!(camel_to_lower("HTTPServer", '_'), "http_server");
        assert_eq!(camel_to_lower("foo bar-baz", '-'), "foo-bar-baz");
        assert_eq!(pascal_case("http_server"), "HttpServer");
        assert_eq!(pascal_case("foo bar"), "FooBar");
        assert_eq!(title("hello world-x"), "Hello World-X");
        assert_eq!(wrap_custom("the quick brown fox", 10, "", false), "the quick\nbrown fox");
        assert_eq!(abbreviate_full("hello world", 0, 5), "he...");
    }
}
