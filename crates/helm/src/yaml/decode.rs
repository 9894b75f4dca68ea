//! Reads YAML the way Helm does through `sigs.k8s.io/yaml`: YAML 1.1 scalars as `yaml.v2`
//! resolves them (`yes`/`on` are booleans, `0777` is octal, timestamps stay strings), then the
//! JSON round trip that turns every number into a float and every map key into a string.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::value::{Map, Value};

/// A YAML document that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("yaml: {}{message}", if *line == 0 { String::new() } else { format!("line {line}: ") })]
pub struct Error {
    /// The 1-based line of the problem; 0 when Go names none (an invalid map key).
    pub line: usize,
    /// What is wrong, in `yaml.v2`'s words where they are known.
    pub message: String,
}

/// How numbers come out: values files go through JSON (floats), Go templates' `fromYaml` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbers {
    /// Every number becomes a float, as after `sigs.k8s.io/yaml`'s JSON round trip.
    Json,
    /// Integers stay integers, as `yaml.v2` decodes them into `interface{}`.
    Yaml,
}

/// Parses the first document of `text` into a value (`Value::Null` for an empty document).
pub fn from_str(text: &str, numbers: Numbers) -> Result<Value, Error> {
    Ok(documents(text, numbers, true)?.into_iter().next().unwrap_or(Value::Null))
}

/// Parses every document of `text`.
pub fn all_documents(text: &str, numbers: Numbers) -> Result<Vec<Value>, Error> {
    documents(text, numbers, false)
}

fn documents(text: &str, numbers: Numbers, first_only: bool) -> Result<Vec<Value>, Error> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.load(&mut builder, false) {
            Ok(()) => {}
            Err(e) => {
                let (message, parser_error) = go_message(e.info());
                // yaml.v2 reports parser errors with the 0-based line of the problem and scanner
                // errors with the 1-based one.
                let line = if parser_error { e.marker().line().saturating_sub(1) } else { e.marker().line() };
                return Err(Error { line, message });
            }
        }
        if builder.error.is_some() || builder.ended || (first_only && !builder.docs.is_empty()) {
            break;
        }
    }
    if let Some(error) = builder.error {
        return Err(error);
    }
    let mut out = Vec::new();
    for doc in &builder.docs {
        out.push(convert(doc, numbers, 0)?);
    }
    Ok(out)
}

/// libyaml's wording for yaml-rust2's messages, and whether libyaml raises it in its parser
/// (rather than its scanner).
fn go_message(info: &str) -> (String, bool) {
    if info.contains("mapping values are not allowed") {
        ("mapping values are not allowed in this context".into(), false)
    } else if info.contains("simple key expected") || info.contains("could not find expected ':'") {
        ("could not find expected ':'".into(), false)
    } else if info.contains("found character that cannot start any token") {
        ("found character that cannot start any token".into(), false)
    } else if let Some(i) = info.find("did not find expected") {
        (info[i..].to_string(), true)
    } else {
        (info.to_string(), false)
    }
}

#[derive(Debug, Clone)]
enum Node {
    Scalar { text: String, style: TScalarStyle, tag: Option<Tag>, line: usize },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<(Node, usize)>,
    keys: Vec<Option<Node>>,
    anchors: HashMap<usize, Node>,
    ended: bool,
    error: Option<Error>,
}

impl Builder {
    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some((Node::Seq(items), _)) => items.push(node),
            Some((Node::Map(entries), _)) => {
                let slot = self.keys.last_mut().expect("a key slot per open map");
                match slot.take() {
                    None => *slot = Some(node),
                    Some(key) => entries.push((key, node)),
                }
            }
            Some((Node::Scalar { .. }, _)) => {}
        }
    }

    fn finish(&mut self) {
        if let Some((node, anchor)) = self.stack.pop() {
            if matches!(node, Node::Map(..)) {
                self.keys.pop();
            }
            if anchor > 0 {
                self.anchors.insert(anchor, node.clone());
            }
            self.push(node);
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match event {
            Event::StreamEnd => self.ended = true,
            Event::Scalar(text, style, anchor, tag) => {
                let node = Node::Scalar { text, style, tag, line: mark.line() };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.push(node);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let node = node.clone();
                    self.push(node)
                }
                None => self.error = Some(Error { line: mark.line(), message: "unknown anchor referenced".into() }),
            },
            Event::SequenceStart(anchor, _) => self.stack.push((Node::Seq(Vec::new()), anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push((Node::Map(Vec::new()), anchor));
                self.keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => self.finish(),
            _ => {}
        }
    }
}

const MAX_DEPTH: usize = 10_000;

fn convert(node: &Node, numbers: Numbers, depth: usize) -> Result<Value, Error> {
    if depth > MAX_DEPTH {
        return Err(Error { line: 0, message: "document nested too deeply".into() });
    }
    match node {
        Node::Scalar { text, style, tag, line } => resolve(text, *style, tag.as_ref(), numbers, *line),
        Node::Seq(items) => {
            Ok(Value::List(items.iter().map(|n| convert(n, numbers, depth + 1)).collect::<Result<_, _>>()?))
        }
        Node::Map(entries) => {
            let mut map = Map::new();
            let mut merged = Map::new();
            for (key, value) in entries {
                if is_merge_key(key) {
                    merge_into(&mut merged, convert(value, numbers, depth + 1)?);
                    continue;
                }
                let key = convert(key, numbers, depth + 1)?;
                if matches!(key, Value::Map(_) | Value::List(_)) {
                    // yaml.v2 refuses maps and sequences as keys (`failf("invalid map key: %#v")`);
                    // printing them as keys would also grow exponentially with nesting.
                    return Err(Error { line: 0, message: format!("invalid map key: {}", go_syntax(&key)) });
                }
                let key = key_string(&key);
                map.insert(key, convert(value, numbers, depth + 1)?);
            }
            for (k, v) in merged {
                map.entry(k).or_insert(v);
            }
            Ok(Value::Map(map))
        }
    }
}

fn is_merge_key(node: &Node) -> bool {
    matches!(node, Node::Scalar { text, style: TScalarStyle::Plain, tag: None, .. } if text == "<<")
}

/// `<<: *a` or `<<: [*a, *b]`: earlier sources win over later ones, the map's own keys over all.
fn merge_into(merged: &mut Map, source: Value) {
    match source {
        Value::Map(m) => {
            for (k, v) in m {
                merged.entry(k).or_insert(v);
            }
        }
        Value::List(items) => {
            for item in items {
                if let Value::Map(m) = item {
                    for (k, v) in m {
                        merged.entry(k).or_insert(v);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Map keys become strings as `sigs.k8s.io/yaml` writes them into JSON.
/// Roughly Go's `%#v` of a decoded key, for the "invalid map key" message.
fn go_syntax(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::String(s) => format!("{s:?}"),
        Value::List(items) => {
            format!("[]interface {{}}{{{}}}", items.iter().map(go_syntax).collect::<Vec<_>>().join(", "))
        }
        Value::Map(m) => format!(
            "map[interface {{}}]interface {{}}{{{}}}",
            m.iter().map(|(k, v)| format!("{k:?}:{}", go_syntax(v))).collect::<Vec<_>>().join(", ")
        ),
        other => key_string(other),
    }
}

fn key_string(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => crate::yaml::format_float(*f, 'g', 32),
        other => format!("{other:?}"),
    }
}

fn tag_name(tag: &Tag) -> String {
    if tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

fn resolve(text: &str, style: TScalarStyle, tag: Option<&Tag>, numbers: Numbers, line: usize) -> Result<Value, Error> {
    let tag = tag.map(tag_name);
    match tag.as_deref() {
        Some("!!str") | Some("!") => return Ok(Value::String(text.to_string())),
        Some("!!binary") => return Ok(Value::String(text.to_string())),
        Some("!!null") => return Ok(Value::Null),
        _ => {}
    }
    if style != TScalarStyle::Plain && tag.is_none() {
        return Ok(Value::String(text.to_string()));
    }
    let resolved = resolve_plain(text);
    let value = match (tag.as_deref(), resolved) {
        (None, v) => v,
        (Some("!!int"), v @ Scalar::Int(_)) | (Some("!!float"), v @ Scalar::Float(_)) => v,
        (Some("!!float"), Scalar::Int(i)) => Scalar::Float(i as f64),
        (Some("!!bool"), v @ Scalar::Bool(_)) => v,
        (Some(t), _) if t.starts_with("!!") && t != "!!timestamp" => {
            return Err(Error { line: line + 1, message: format!("cannot decode !!str `{text}` as a {}", &t[2..]) });
        }
        (Some(_), v) => v,
    };
    Ok(match value {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => match numbers {
            Numbers::Json => Value::Float(i as f64),
            Numbers::Yaml => i64::try_from(i).map(Value::Int).unwrap_or(Value::Float(i as f64)),
        },
        Scalar::Float(f) => Value::Float(f),
        Scalar::Str | Scalar::Timestamp => Value::String(text.to_string()),
    })
}

/// What a plain scalar resolves to under `yaml.v2`'s rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    /// A timestamp: kept as a string when decoded into `interface{}`, quoted when written.
    Timestamp,
    Str,
}

/// `yaml.v2`'s `resolve` for an untagged plain scalar.
pub(crate) fn resolve_plain(text: &str) -> Scalar {
    let hint = match text.as_bytes().first() {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => return Scalar::Str,
    };
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Scalar::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Scalar::Bool(false);
        }
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Scalar::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match hint {
        b'.' => {
            if is_go_float(text)
                && let Ok(f) = text.parse::<f64>()
            {
                return Scalar::Float(f);
            }
            Scalar::Str
        }
        b'D' | b'S' => {
            if is_timestamp(text) {
                return Scalar::Timestamp;
            }
            let plain: String = text.chars().filter(|&c| c != '_').collect();
            if let Some(i) = go_parse_int(&plain) {
                return Scalar::Int(i);
            }
            if is_yaml_float(&plain)
                && let Ok(f) = plain.parse::<f64>()
            {
                return Scalar::Float(f);
            }
            for (prefix, negative) in [("0b", false), ("-0b", true)] {
                if let Some(digits) = plain.strip_prefix(prefix)
                    && !digits.is_empty()
                    && digits.bytes().all(|c| c == b'0' || c == b'1')
                    && let Ok(i) = i128::from_str_radix(digits, 2)
                {
                    return Scalar::Int(if negative { -i } else { i });
                }
            }
            Scalar::Str
        }
        _ => Scalar::Str,
    }
}

/// The subset of Go's `strconv.ParseFloat` syntax a scalar starting with `.` can have.
fn is_go_float(s: &str) -> bool {
    is_yaml_float(s)
}

/// Go's `strconv.ParseInt(s, 0, 64)` then `ParseUint(s, 0, 64)`: base prefixes `0x`, `0o`, `0b`
/// and a leading `0` for octal.
fn go_parse_int(s: &str) -> Option<i128> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()? as i128;
    let value = if negative { -magnitude } else { magnitude };
    if value < i64::MIN as i128 {
        return None;
    }
    if negative && value > 0 {
        return None;
    }
    Some(value)
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// The formats `yaml.v2` tries for timestamps (`2006-1-2`, with `T`/`t` and a zone, or with a
/// space and no zone).
fn is_timestamp(s: &str) -> bool {
    fn num(b: &[u8], i: &mut usize, max_digits: usize) -> Option<u32> {
        let start = *i;
        while *i < b.len() && *i - start < max_digits && b[*i].is_ascii_digit() {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        std::str::from_utf8(&b[start..*i]).ok()?.parse().ok()
    }
    let b = s.as_bytes();
    let mut i = 0;
    let Some(_) = num(b, &mut i, 4) else { return false };
    if i != 4 || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let Some(month) = num(b, &mut i, 2) else { return false };
    if b.get(i) != Some(&b'-') || !(1..=12).contains(&month) {
        return false;
    }
    i += 1;
    let Some(day) = num(b, &mut i, 2) else { return false };
    if !(1..=31).contains(&day) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let zoned = match b[i] {
        b'T' | b't' => true,
        b' ' => false,
        _ => return false,
    };
    i += 1;
    let Some(h) = num(b, &mut i, 2) else { return false };
    if b.get(i) != Some(&b':') || h > 23 {
        return false;
    }
    i += 1;
    let Some(m) = num(b, &mut i, 2) else { return false };
    if b.get(i) != Some(&b':') || m > 59 {
        return false;
    }
    i += 1;
    let Some(sec) = num(b, &mut i, 2) else { return false };
    if sec > 59 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if num(b, &mut i, 9).is_none() {
            return false;
        }
    }
    if !zoned {
        return i == b.len();
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            let rest = &s[i + 1..];
            rest.len() == 5
                && rest.as_bytes()[2] == b':'
                && rest.bytes().enumerate().all(|(j, c)| j == 2 || c.is_ascii_digit())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Value {
        from_str(text, Numbers::Json).unwrap()
    }

    #[test]
    fn maps_and_sequences_are_not_keys() {
        // As Helm: `yaml: invalid map key: map[interface {}]interface {}{"a":1}`.
        let e = from_str("? {a: 1}\n: x\n", Numbers::Json).unwrap_err();
        assert_eq!(e.to_string(), r#"yaml: invalid map key: map[interface {}]interface {}{"a":1}"#);
        // Found by the `yaml` fuzz target: nested complex keys, whose printed form grew
        // exponentially with the nesting when they were turned into strings.
        let nested = format!("{}x\n", "?  ".repeat(40));
        let e = from_str(&nested, Numbers::Json).unwrap_err();
        assert!(e.to_string().starts_with("yaml: invalid map key: map[interface {}]interface {}{"), "{e}");
    }

    #[test]
    fn yaml11_scalars() {
        let v =
            one("a: yes\nb: off\nc: 0777\nd: 1_000\ne: 1.5e3\nf: ~\ng: 2001-12-14\nh: '1'\ni: 0x1F\nj: .5\nk: 1.\n");
        let m = v.as_map().unwrap();
        assert_eq!(m["a"], Value::Bool(true));
        assert_eq!(m["b"], Value::Bool(false));
        assert_eq!(m["c"], Value::Float(511.0));
        assert_eq!(m["d"], Value::Float(1000.0));
        assert_eq!(m["e"], Value::Float(1500.0));
        assert_eq!(m["f"], Value::Null);
        assert_eq!(m["g"], Value::String("2001-12-14".into()));
        assert_eq!(m["h"], Value::String("1".into()));
        assert_eq!(m["i"], Value::Float(31.0));
        assert_eq!(m["j"], Value::Float(0.5));
        assert_eq!(m["k"], Value::Float(1.0));
    }

    #[test]
    fn anchors_merge_and_keys() {
        let v = one("base: &b {x: 1, w: 2}\nother:\n  <<: *b\n  w: 3\n1: one\ntrue: t\n");
        let m = v.as_map().unwrap();
        let other = m["other"].as_map().unwrap();
        assert_eq!(other["x"], Value::Float(1.0));
        assert_eq!(other["w"], Value::Float(3.0));
        assert_eq!(m["1"], Value::String("one".into()));
        assert_eq!(m["true"], Value::String("t".into()));
    }

    #[test]
    fn errors_name_the_line() {
        let e = from_str("a: b\nc: d: e\n", Numbers::Json).unwrap_err();
        assert!(e.to_string().starts_with("yaml: line 2"), "{e}");
    }
}
