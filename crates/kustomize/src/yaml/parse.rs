//! Reading YAML: documents into `serde_json::Value` with yaml.v3's scalar resolution, bounded
//! in depth and alias expansion so hostile input cannot exhaust the stack or memory.

use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A YAML syntax error, with the line it was found on.
#[derive(Debug, thiserror::Error)]
#[error("{message} (line {line}, column {column})")]
pub struct Error {
    /// The parser's description of the problem, shown to the user with the position.
    pub message: String,
    /// 1-based line, so the user can find the fault in the file.
    pub line: usize,
    /// 1-based column, for the same reason.
    pub column: usize,
}

impl Error {
    fn at(message: impl Into<String>, mark: &Marker) -> Self {
        Self { message: message.into(), line: mark.line(), column: mark.col() + 1 }
    }
}

/// Parses a stream of YAML documents. Empty documents (only comments, or `null`) are dropped.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, Error> {
    parse_with(text, Mode::default())
}

/// Parses resources as kustomize loads them: like [`parse_documents`], but every value under
/// `metadata.annotations` keeps its text as a string (kustomize rewrites annotations as a string
/// map when it loads resources).
pub fn parse_resources(text: &str) -> Result<Vec<Value>, Error> {
    parse_with(text, Mode { annotations_as_text: true, ..Mode::default() })
}

/// Parses one document with YAML 1.1 booleans (`yes`, `no`, `on`, `off`, `y`, `n`), as Go's
/// yaml.v2 reads kustomization files.
pub fn parse_one_yaml11(text: &str) -> Result<Value, Error> {
    let mut docs = parse_with(text, Mode { yaml11: true, string_keys: true, annotations_as_text: false })?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(Error { message: format!("expected one YAML document, found {n}"), line: 1, column: 1 }),
    }
}

/// Parses documents with YAML 1.1 booleans, as Go's yaml.v2 reads JSON patches written in YAML.
pub fn parse_documents_yaml11(text: &str) -> Result<Vec<Value>, Error> {
    parse_with(text, Mode { yaml11: true, string_keys: false, annotations_as_text: false })
}

#[derive(Clone, Copy, Default)]
struct Mode {
    yaml11: bool,
    /// Map keys that YAML 1.1 reads as something other than a string are refused.
    string_keys: bool,
    annotations_as_text: bool,
}

fn parse_with(text: &str, mode: Mode) -> Result<Vec<Value>, Error> {
    let Mode { yaml11, string_keys, annotations_as_text } = mode;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some((line, col)) = control_character(text) {
        return Err(Error { message: "control characters are not allowed".into(), line, column: col });
    }
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut builder = Builder { yaml11, string_keys, annotations_as_text, ..Builder::default() };
    let mut start: Option<Marker> = None;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| Error::at(e.info().to_string(), e.marker()))?;
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                builder = Builder { yaml11, string_keys, annotations_as_text, ..Builder::default() };
                start = Some(mark);
            }
            Event::DocumentEnd => {
                if builder.result.as_ref().is_none_or(Value::is_null)
                    && start.is_some_and(|m| nothing_between(text, &m, &mark))
                {
                    // Go's yaml.v3 wants a node between an explicit start and an explicit end.
                    return Err(Error::at("did not find expected node content", &mark));
                }
                if let Some(v) = builder.result.take()
                    && !v.is_null()
                {
                    docs.push(v);
                }
            }
            other => builder.event(other, &mark)?,
        }
    }
    Ok(docs)
}

/// Whether Go's YAML reader takes this character.
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        || c >= '\u{10000}'
}

/// Whether a string (key or value) in `v` has a character that Go's YAML writer lets through
/// unescaped and its reader then refuses (DEL, the C1 controls, U+FFFE and U+FFFF; the C0
/// controls are escaped).
pub fn has_control_character(v: &Value) -> bool {
    let bad = |s: &str| s.chars().any(|c| c >= '\u{7f}' && !allowed(c));
    match v {
        Value::String(s) => bad(s),
        Value::Array(items) => items.iter().any(has_control_character),
        Value::Object(m) => m.iter().any(|(k, v)| bad(k) || has_control_character(v)),
        _ => false,
    }
}

/// The line and column of the first character Go's YAML reader refuses, if any.
fn control_character(text: &str) -> Option<(usize, usize)> {
    if text.chars().all(allowed) {
        return None;
    }
    let (mut line, mut col) = (1, 1);
    for c in text.chars() {
        if !allowed(c) {
            return Some((line, col));
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    None
}

/// Whether an explicit `---` at `start` is followed by an explicit `...` at `end` with only
/// blanks and comments between them.
fn nothing_between(text: &str, start: &Marker, end: &Marker) -> bool {
    let byte = |m: &Marker| text.char_indices().nth(m.index()).map(|(at, _)| at);
    let (Some(a), Some(b)) = (byte(start), byte(end)) else { return false };
    if a >= b || !text[a..].starts_with("---") || !text[b..].starts_with("...") {
        return false;
    }
    text[a + 3..b].lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#')
    })
}

/// Parses exactly one YAML document (an empty text gives `Value::Null`).
pub fn parse_one(text: &str) -> Result<Value, Error> {
    let mut docs = parse_documents(text)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(Error { message: format!("expected one YAML document, found {n}"), line: 1, column: 1 }),
    }
}

/// Deeper documents are refused, so that the recursive steps after parsing cannot overflow
/// the stack.
const MAX_DEPTH: usize = 256;

enum Frame {
    Seq(Vec<Value>, usize),
    Map(Map<String, Value>, Option<(String, bool)>, usize, Vec<Value>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Value>,
    result: Option<Value>,
    yaml11: bool,
    string_keys: bool,
    annotations_as_text: bool,
    expanded: usize,
}

/// How many nodes aliases may copy in one document (guards against "billion laughs").
const MAX_ALIAS_NODES: usize = 1_000_000;

/// The booleans YAML 1.1 adds to YAML 1.2's `true` and `false`.
fn yaml11_bool(text: &str) -> Option<bool> {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn node_count(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(node_count).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(node_count).sum::<usize>(),
        _ => 1,
    }
}

impl Builder {
    fn event(&mut self, event: Event, mark: &Marker) -> Result<(), Error> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let strict = self.annotations_as_text;
                if let Some(Frame::Map(_, key @ None, ..)) = self.stack.last_mut() {
                    let merge = style == TScalarStyle::Plain && text == "<<";
                    if strict
                        && !merge
                        && tag.is_none()
                        && style == TScalarStyle::Plain
                        && !resolve_plain(&text).is_string()
                    {
                        // kustomize turns resources into JSON, which has no such keys.
                        return Err(Error::at(
                            format!("json: unsupported type: map key {text:?} is not a string"),
                            mark,
                        ));
                    }
                    if self.string_keys
                        && !merge
                        && tag.is_none()
                        && style == TScalarStyle::Plain
                        && (yaml11_bool(&text).is_some() || !resolve_plain(&text).is_string())
                    {
                        // kustomize reads kustomizations with YAML 1.1 and fails later on such keys.
                        return Err(Error::at(
                            format!("map key {text:?} is not a string in YAML 1.1 (quote it)"),
                            mark,
                        ));
                    }
                    *key = Some((text, merge));
                    return Ok(());
                }
                if strict
                    && style == TScalarStyle::Plain
                    && tag.is_none()
                    && matches!(
                        text.trim_start_matches(['+', '-']),
                        ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN"
                    )
                {
                    return Err(Error::at(format!("json: unsupported value: {text}"), mark));
                }
                let value = if self.in_annotations() {
                    // kustomize rewrites annotations as strings, keeping the text as written.
                    Value::String(if style == TScalarStyle::Plain && text == "~" { "~".into() } else { text })
                } else if self.yaml11 && style == TScalarStyle::Plain && tag.is_none() {
                    match yaml11_bool(&text) {
                        Some(b) => Value::Bool(b),
                        None => resolve_scalar(&text, style, tag.as_ref()),
                    }
                } else {
                    resolve_scalar(&text, style, tag.as_ref())
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.push(value, mark)
            }
            Event::Alias(id) => {
                let value = self.anchors.get(&id).cloned().ok_or_else(|| Error::at("unknown anchor", mark))?;
                self.expanded += node_count(&value);
                if self.expanded > MAX_ALIAS_NODES {
                    return Err(Error::at("aliases expand to too large a document", mark));
                }
                if let Some(Frame::Map(_, key @ None, ..)) = self.stack.last_mut() {
                    *key = Some((value_as_key(&value), false));
                    return Ok(());
                }
                self.push(value, mark)
            }
            Event::SequenceStart(anchor, _) => {
                self.ensure_not_key(mark)?;
                self.stack.push(Frame::Seq(Vec::new(), anchor));
                Ok(())
            }
            Event::SequenceEnd => {
                let Some(Frame::Seq(items, anchor)) = self.stack.pop() else {
                    return Err(Error::at("unbalanced sequence", mark));
                };
                let value = Value::Array(items);
                if anchor > 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.push(value, mark)
            }
            Event::MappingStart(anchor, _) => {
                self.ensure_not_key(mark)?;
                self.stack.push(Frame::Map(Map::new(), None, anchor, Vec::new()));
                Ok(())
            }
            Event::MappingEnd => {
                let Some(Frame::Map(mut map, _, anchor, merges)) = self.stack.pop() else {
                    return Err(Error::at("unbalanced mapping", mark));
                };
                for merge in merges {
                    let sources = match merge {
                        Value::Array(items) => items,
                        other => vec![other],
                    };
                    for source in sources {
                        match source {
                            Value::Object(src) => {
                                for (k, v) in src {
                                    map.entry(k).or_insert(v);
                                }
                            }
                            _ => {
                                return Err(Error::at("map merge requires map or sequence of maps as the value", mark));
                            }
                        }
                    }
                }
                let value = Value::Object(map);
                if anchor > 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.push(value, mark)
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {
                Ok(())
            }
        }
    }

    fn in_annotations(&self) -> bool {
        if !self.annotations_as_text || self.stack.len() != 3 {
            return false;
        }
        let key = |i: usize| match &self.stack[i] {
            Frame::Map(_, Some((k, _)), ..) => Some(k.as_str()),
            _ => None,
        };
        key(0) == Some("metadata") && key(1) == Some("annotations")
    }

    fn ensure_not_key(&mut self, mark: &Marker) -> Result<(), Error> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Error::at(format!("the document nests deeper than {MAX_DEPTH} levels"), mark));
        }
        if let Some(Frame::Map(_, None, ..)) = self.stack.last() {
            return Err(Error::at("complex mapping keys are not supported", mark));
        }
        Ok(())
    }

    fn push(&mut self, value: Value, mark: &Marker) -> Result<(), Error> {
        match self.stack.last_mut() {
            None => {
                self.result = Some(value);
                Ok(())
            }
            Some(Frame::Seq(items, _)) => {
                items.push(value);
                Ok(())
            }
            Some(Frame::Map(map, key, _, merges)) => {
                let Some((k, merge)) = key.take() else {
                    return Err(Error::at("value without a key", mark));
                };
                if merge {
                    merges.push(value);
                    return Ok(());
                }
                if map.contains_key(&k) {
                    return Err(Error::at(format!("mapping key {k:?} already defined"), mark));
                }
                map.insert(k, value);
                Ok(())
            }
        }
    }
}

fn value_as_key(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

fn resolve_scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(tag) = tag {
        let suffix = tag.suffix.as_str();
        let core = tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:";
        if core {
            match suffix {
                "str" | "binary" | "timestamp" => return Value::String(text.to_string()),
                "int" | "float" | "bool" | "null" => return resolve_plain(text),
                _ => {}
            }
        }
    }
    if style != TScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    resolve_plain(text)
}

/// Resolves a plain scalar as yaml.v3 does when decoding into an untyped value.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Value::String(text.to_string());
    }
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    if let Some(n) = parse_go_int(&plain) {
        return Value::Number(n);
    }
    if is_yaml_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
        && let Some(n) = float_number(f)
    {
        return Value::Number(n);
    }
    if let Some(rest) = plain.strip_prefix("0b").or_else(|| plain.strip_prefix("-0b"))
        && let Ok(v) = i64::from_str_radix(rest, 2)
    {
        return Value::Number(Number::from(if plain.starts_with('-') { -v } else { v }));
    }
    if let Some(ts) = parse_timestamp(text) {
        return Value::String(ts);
    }
    if let Some(rest) = plain.strip_prefix("0o").or_else(|| plain.strip_prefix("-0o"))
        && let Ok(v) = i64::from_str_radix(rest, 8)
    {
        return Value::Number(Number::from(if plain.starts_with('-') { -v } else { v }));
    }
    Value::String(text.to_string())
}

/// A YAML timestamp, rendered as Go's RFC 3339 (nanosecond) text, as kustomize's JSON
/// round trip prints it.
fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut num = |min: usize, max: usize| -> Option<u32> {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < max {
            i += 1;
        }
        if i - start < min {
            return None;
        }
        s[start..i].parse().ok()
    };
    let year = num(4, 4)?;
    let expect = |i: &mut usize, c: u8| -> Option<()> {
        if *i < b.len() && b[*i] == c {
            *i += 1;
            Some(())
        } else {
            None
        }
    };
    expect(&mut i, b'-')?;
    let num2 = |i: &mut usize, min: usize, max: usize| -> Option<u32> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        if *i - start < min {
            return None;
        }
        s[start..*i].parse().ok()
    };
    let month = num2(&mut i, 1, 2)?;
    expect(&mut i, b'-')?;
    let day = num2(&mut i, 1, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let date = format!("{year:04}-{month:02}-{day:02}");
    if i == b.len() {
        return Some(format!("{date}T00:00:00Z"));
    }
    let space = b[i] == b' ';
    if !matches!(b[i], b'T' | b' ') {
        return None;
    }
    i += 1;
    let hour = num2(&mut i, 1, 2)?;
    expect(&mut i, b':')?;
    let minute = num2(&mut i, 2, 2)?;
    expect(&mut i, b':')?;
    let second = num2(&mut i, 2, 2)?;
    let mut frac = String::new();
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac = s[start..i].trim_end_matches('0').to_string();
    }
    let zone = if i == b.len() {
        if !space {
            return None;
        }
        "Z".to_string()
    } else if b[i] == b'Z' && i + 1 == b.len() {
        "Z".to_string()
    } else if (b[i] == b'+' || b[i] == b'-') && !space {
        let z = &s[i..];
        let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if digits == "0000" { "Z".to_string() } else { format!("{}{}:{}", &z[..1], &digits[..2], &digits[2..]) }
    } else {
        return None;
    };
    let frac = if frac.is_empty() { String::new() } else { format!(".{frac}") };
    Some(format!("{date}T{hour:02}:{minute:02}:{second:02}{frac}{zone}"))
}

fn float_number(f: f64) -> Option<Number> {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e18 {
        return Some(Number::from(f as i64));
    }
    Number::from_f64(f)
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`.
pub(super) fn parse_go_int(s: &str) -> Option<Number> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, r)
    } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (8, r)
    } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (2, r)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if magnitude <= i64::MAX as u64 + 1 {
            return Some(Number::from((magnitude as i128).wrapping_neg() as i64));
        }
        return None;
    }
    if magnitude <= i64::MAX as u64 { Some(Number::from(magnitude as i64)) } else { Some(Number::from(magnitude)) }
}

pub(super) fn is_yaml_float(s: &str) -> bool {
    // ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let start = i;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let d = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == d {
            return false;
        }
    } else {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let d = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == d {
            return false;
        }
    }
    i == b.len()
}
