//! Evaluating parsed templates: the operators of Flux's envsubst.
//!
//! Lengths, offsets and `${#var}` count bytes, as upstream does (they agree with characters for
//! ASCII values); case changes map one character to one character.

use crate::Error;
use crate::parse::{Func, Node};

/// Evaluates `nodes`. `lookup` gives a variable's value, or `None` when it is not set; in
/// strict mode, reading an unset variable is an error unless the operator supplies a default.
pub(crate) fn eval(nodes: &[Node], lookup: &dyn Fn(&str) -> Option<String>, strict: bool) -> Result<String, Error> {
    let mut out = String::new();
    for node in nodes {
        eval_node(node, lookup, strict, &mut out)?;
    }
    Ok(out)
}

fn eval_node(
    node: &Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    strict: bool,
    out: &mut String,
) -> Result<(), Error> {
    match node {
        Node::Text(text) => out.push_str(text),
        Node::Func(func) => out.push_str(&eval_func(func, lookup, strict)?),
    }
    Ok(())
}

fn eval_func(func: &Func, lookup: &dyn Fn(&str) -> Option<String>, strict: bool) -> Result<String, Error> {
    // The arguments are evaluated first, whether or not they end up used.
    let mut args = Vec::with_capacity(func.args.len());
    for arg in &func.args {
        let mut buf = String::new();
        eval_node(arg, lookup, strict, &mut buf)?;
        args.push(buf);
    }
    let value = match lookup(&func.param) {
        Some(v) => v,
        None if strict && !is_default_op(&func.name) => return Err(Error::VariableNotSet(func.param.clone())),
        None => String::new(),
    };
    Ok(apply(&func.name, &value, &args))
}

/// The operators that supply a value for an unset variable, and so are no error in strict mode.
fn is_default_op(name: &str) -> bool {
    matches!(name, "-" | "+" | "=" | "?" | ":-" | ":+" | ":=" | ":?")
}

/// Applies the operator `name` to the value `s`.
fn apply(name: &str, s: &str, args: &[String]) -> String {
    match name {
        "," => map_first(s, Case::Lower),
        ",," => map_all(s, Case::Lower),
        "^" => map_first(s, Case::Upper),
        "^^" => map_all(s, Case::Upper),
        "#" if args.is_empty() => s.len().to_string(),
        "#" => trim_shortest_prefix(s, args),
        "##" => trim_longest_prefix(s, args),
        "%" => trim_shortest_suffix(s, args),
        "%%" => trim_longest_suffix(s, args),
        ":" => substring(s, args),
        "/#" => replace_prefix(s, args),
        "/%" => replace_suffix(s, args),
        "/" => replace(s, args, Some(1)),
        "//" => replace(s, args, None),
        // `${var}`, the default operators and any other operator: the value, or the
        // arguments when it is empty.
        _ => default(s, args),
    }
}

fn default(s: &str, args: &[String]) -> String {
    if s.is_empty() && !args.is_empty() { args.concat() } else { s.to_owned() }
}

#[derive(Clone, Copy)]
enum Case {
    Lower,
    Upper,
}

/// `c` in the case, when the case maps it to exactly one character.
fn map_char(c: char, case: Case) -> char {
    let mut mapped: Box<dyn Iterator<Item = char>> = match case {
        Case::Lower => Box::new(c.to_lowercase()),
        Case::Upper => Box::new(c.to_uppercase()),
    };
    match (mapped.next(), mapped.next()) {
        (Some(m), None) => m,
        _ => c,
    }
}

fn map_all(s: &str, case: Case) -> String {
    s.chars().map(|c| map_char(c, case)).collect()
}

fn map_first(s: &str, case: Case) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => std::iter::once(map_char(first, case)).chain(chars).collect(),
        None => String::new(),
    }
}

/// A byte range of `s` as a string; a cut through a character leaves a replacement character.
fn bytes(s: &str, from: usize, to: usize) -> String {
    String::from_utf8_lossy(&s.as_bytes()[from..to]).into_owned()
}

/// `${var:position}` and `${var:position:length}`, as bash: a negative position counts from the
/// end, a negative length stops that many bytes before the end; unparsable numbers leave the
/// value whole.
fn substring(s: &str, args: &[String]) -> String {
    let Some(first) = args.first() else {
        return s.to_owned();
    };
    let Ok(pos) = first.parse::<i64>() else {
        return s.to_owned();
    };
    let len = i64::try_from(s.len()).unwrap_or(i64::MAX);
    let pos = if pos < 0 { len.saturating_add(pos).max(0) } else { pos };
    let Some(second) = args.get(1) else {
        return if pos < len { bytes(s, pos as usize, s.len()) } else { String::new() };
    };
    let Ok(length) = second.parse::<i64>() else {
        return s.to_owned();
    };
    if length < 0 {
        let end = len.saturating_add(length);
        if end < pos {
            return String::new();
        }
        return bytes(s, pos as usize, end as usize);
    }
    if pos.saturating_add(length) >= len {
        return if pos < len { bytes(s, pos as usize, s.len()) } else { String::new() };
    }
    bytes(s, pos as usize, (pos + length) as usize)
}

/// `${var/pattern/replacement}` (`limit` 1) and `${var//pattern/replacement}`: plain text, not a
/// glob; a missing replacement deletes.
fn replace(s: &str, args: &[String], limit: Option<usize>) -> String {
    let Some(pattern) = args.first() else {
        return s.to_owned();
    };
    let with = args.get(1).map(String::as_str).unwrap_or("");
    match limit {
        Some(n) => s.replacen(pattern.as_str(), with, n),
        None => s.replace(pattern.as_str(), with),
    }
}

fn replace_prefix(s: &str, args: &[String]) -> String {
    match args {
        [pattern, with] if s.starts_with(pattern.as_str()) => format!("{with}{}", &s[pattern.len()..]),
        _ => s.to_owned(),
    }
}

fn replace_suffix(s: &str, args: &[String]) -> String {
    match args {
        [pattern, with] if s.ends_with(pattern.as_str()) => format!("{}{with}", &s[..s.len() - pattern.len()]),
        _ => s.to_owned(),
    }
}

/// The char-boundary prefixes of `s`, longest first, without the empty one.
fn prefixes(s: &str) -> impl Iterator<Item = &str> {
    s.char_indices().rev().map(|(i, c)| &s[..i + c.len_utf8()])
}

fn trim_shortest(s: &str, pattern: &str) -> String {
    let Ok(glob) = Glob::new(pattern) else {
        return s.to_owned();
    };
    match prefixes(s).filter(|p| glob.matches(p)).last() {
        Some(p) => s[p.len()..].to_owned(),
        None => s.to_owned(),
    }
}

fn trim_longest(s: &str, pattern: &str) -> String {
    let Ok(glob) = Glob::new(pattern) else {
        return s.to_owned();
    };
    match prefixes(s).find(|p| glob.matches(p)) {
        Some(p) => s[p.len()..].to_owned(),
        None => s.to_owned(),
    }
}

fn reverse(s: &str) -> String {
    s.chars().rev().collect()
}

fn trim_shortest_prefix(s: &str, args: &[String]) -> String {
    match args.first() {
        Some(pattern) => trim_shortest(s, pattern),
        None => s.to_owned(),
    }
}

fn trim_longest_prefix(s: &str, args: &[String]) -> String {
    match args.first() {
        Some(pattern) => trim_longest(s, pattern),
        None => s.to_owned(),
    }
}

/// Suffixes are trimmed as upstream does: as prefixes of the reversed value, with the reversed
/// pattern.
fn trim_shortest_suffix(s: &str, args: &[String]) -> String {
    match args.first() {
        Some(pattern) => reverse(&trim_shortest(&reverse(s), &reverse(pattern))),
        None => s.to_owned(),
    }
}

fn trim_longest_suffix(s: &str, args: &[String]) -> String {
    match args.first() {
        Some(pattern) => reverse(&trim_longest(&reverse(s), &reverse(pattern))),
        None => s.to_owned(),
    }
}

/// A shell pattern: `*` (any text, `/` included), `?` (any character), `[...]` classes with
/// ranges and `^` negation, `\` escapes.
#[derive(Debug)]
struct Glob {
    items: Vec<Item>,
}

#[derive(Debug)]
enum Item {
    Star,
    Any,
    Char(char),
    Class { negated: bool, ranges: Vec<(char, char)> },
}

/// The pattern is malformed (an unclosed class, a trailing `\`, an empty range).
#[derive(Debug)]
struct BadPattern;

impl Glob {
    fn new(pattern: &str) -> Result<Self, BadPattern> {
        let mut items = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            items.push(match c {
                '*' => Item::Star,
                '?' => Item::Any,
                '\\' => Item::Char(chars.next().ok_or(BadPattern)?),
                '[' => {
                    let negated = chars.next_if_eq(&'^').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        match chars.peek() {
                            Some(']') if !ranges.is_empty() => {
                                chars.next();
                                break;
                            }
                            None => return Err(BadPattern),
                            _ => {}
                        }
                        let lo = class_char(&mut chars)?;
                        let hi = if chars.next_if_eq(&'-').is_some() { class_char(&mut chars)? } else { lo };
                        if lo > hi {
                            return Err(BadPattern);
                        }
                        ranges.push((lo, hi));
                    }
                    Item::Class { negated, ranges }
                }
                c => Item::Char(c),
            });
        }
        Ok(Glob { items })
    }

    /// Whether the whole of `name` matches.
    fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let (mut p, mut n) = (0, 0);
        // Where to resume after the last star: the item after it and the name position it
        // currently stands for.
        let mut backtrack: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.items.get(p) {
                Some(Item::Star) => {
                    backtrack = Some((p + 1, n));
                    p += 1;
                    continue;
                }
                Some(item) if item.matches_char(name[n]) => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
            match backtrack {
                Some((bp, bn)) => {
                    backtrack = Some((bp, bn + 1));
                    p = bp;
                    n = bn + 1;
                }
                None => return false,
            }
        }
        self.items[p..].iter().all(|i| matches!(i, Item::Star))
    }
}

/// One character of a class: `]` and `-` must be escaped.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, BadPattern> {
    match chars.next() {
        Some('\\') => chars.next().ok_or(BadPattern),
        Some('-' | ']') | None => Err(BadPattern),
        Some(c) => Ok(c),
    }
}

impl Item {
    fn matches_char(&self, c: char) -> bool {
        match self {
            Item::Star => true,
            Item::Any => true,
            Item::Char(x) => *x == c,
            Item::Class { negated, ranges } => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn glob_matching() {
        for (pattern, name, want) in [
            ("*", "", true),
            ("*", "a/b", true),
            ("*.", "bash.", true),
            ("*/", "/path/to/", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            (r"\*", "*", true),
            (r"\*", "a", false),
            ("*a*b", "xxaxxbxb", true),
            ("*a*b", "xxaxxbxc", false),
            ("ü*", "über", true),
        ] {
            assert_eq!(Glob::new(pattern).unwrap().matches(name), want, "{pattern} ~ {name}");
        }
        for bad in ["[", "[]", "[a-", "\\", "[z-a]", "[-a]"] {
            assert!(Glob::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn substrings_follow_bash() {
        let s = "/home/bozo/ideas/thoughts.for.today";
        assert_eq!(substring(s, &args(&["11"])), "ideas/thoughts.for.today");
        assert_eq!(substring(s, &args(&["11", "5"])), "ideas");
        assert_eq!(substring("abcdef", &args(&["-2"])), "ef");
        assert_eq!(substring("abcdef", &args(&["-10"])), "abcdef");
        assert_eq!(substring("abcdef", &args(&["1", "-1"])), "bcde");
        assert_eq!(substring("abcdef", &args(&["4", "-3"])), "");
        assert_eq!(substring("abcdef", &args(&["10"])), "");
        assert_eq!(substring("abcdef", &args(&["4", "10"])), "ef");
        assert_eq!(substring("abcdef", &args(&["x"])), "abcdef");
        assert_eq!(substring("abcdef", &args(&["1", "y"])), "abcdef");
        assert_eq!(substring("abcdef", &args(&["9223372036854775807", "9223372036854775807"])), "");
        assert_eq!(substring("abcdef", &args(&["-9223372036854775808"])), "abcdef");
        // Byte offsets: cutting through a character leaves a replacement character.
        assert_eq!(substring("héllo", &args(&["2"])), "\u{fffd}llo");
    }

    #[test]
    fn trims_and_replacements() {
        assert_eq!(trim_shortest_prefix("bash.string.txt", &args(&["*."])), "string.txt");
        assert_eq!(trim_longest_prefix("bash.string.txt", &args(&["*."])), "txt");
        assert_eq!(trim_shortest_suffix("bash.string.txt", &args(&[".*"])), "bash.string");
        assert_eq!(trim_longest_suffix("bash.string.txt", &args(&[".*"])), "bash");
        assert_eq!(trim_longest_prefix("/path/to/file", &args(&["*/"])), "file");
        assert_eq!(trim_shortest_prefix("/path/to/file", &args(&["*/"])), "path/to/file");
        assert_eq!(trim_shortest_prefix("abc", &args(&["["])), "abc");
        assert_eq!(trim_shortest_prefix("abc", &args(&["x"])), "abc");
        assert_eq!(replace("aXbXc", &args(&["X", "-"]), Some(1)), "a-bXc");
        assert_eq!(replace("aXbXc", &args(&["X", "-"]), None), "a-b-c");
        assert_eq!(replace("aXbXc", &args(&["X"]), None), "abc");
        assert_eq!(replace("ab", &args(&["", "-"]), None), "-a-b-");
        assert_eq!(replace_prefix("abcabc", &args(&["abc", "X"])), "Xabc");
        assert_eq!(replace_prefix("abcabc", &args(&["abc"])), "abcabc");
        assert_eq!(replace_suffix("abcabc", &args(&["abc", "X"])), "abcX");
        assert_eq!(replace_suffix("abcabc", &args(&["zz", "X"])), "abcabc");
    }

    #[test]
    fn case_changes_map_one_character_to_one() {
        assert_eq!(map_all("straße", Case::Upper), "STRAßE");
        assert_eq!(map_first("élan", Case::Upper), "Élan");
        assert_eq!(map_first("", Case::Upper), "");
        assert_eq!(map_all("ÀB", Case::Lower), "àb");
    }
}
