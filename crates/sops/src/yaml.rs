//! YAML files: loaded through yaml-rust2's events into sops's tree (aliases
//! expanded, scalars typed as gopkg.in/yaml.v3 types them), and decrypted in
//! place in the original text, so key order, layout, comments and documents
//! stay as the author wrote them.

use std::collections::HashMap;

use regex::Regex;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::cipher;
use crate::tree::{Decrypted, Item, Node, go_float};
use crate::{Error, Result};

/// How deep collections may nest before the input is refused.
const MAX_DEPTH: usize = 256;
/// How many nodes alias expansion may produce before the input is refused.
const MAX_NODES: usize = 1_000_000;

/// A YAML file: its documents (without the `sops` key) and where the `sops`
/// entries sit in the text.
pub(crate) struct Loaded {
    pub branches: Vec<Node>,
    /// The first document's `sops` value.
    pub metadata: Option<Node>,
    /// 1-based line ranges `[start, end)` of each document's `sops` entry.
    sops_lines: Vec<(usize, usize)>,
}

pub(crate) fn load(text: &str) -> Result<Loaded> {
    let mut parser = Parser::new_from_str(text);
    let mut events = Vec::new();
    loop {
        let (event, mark) = parser.next_token().map_err(|e| Error::Parse(format!("YAML: {e}")))?;
        let end = event == Event::StreamEnd;
        events.push((event, mark));
        if end {
            break;
        }
    }
    let mut builder = Builder { events: &events, pos: 0, anchors: HashMap::new(), nodes: 0 };
    let mut loaded = Loaded { branches: Vec::new(), metadata: None, sops_lines: Vec::new() };
    let mut first = true;
    while builder.pos < events.len() {
        match &events[builder.pos].0 {
            Event::DocumentStart => {
                builder.pos += 1;
                let doc = builder.document()?;
                let mut branch = doc.items;
                if let Some(index) = branch.iter().position(|i| matches!(i, Item::Pair(k, _) if k == "sops")) {
                    if let Item::Pair(_, value) = branch.remove(index)
                        && first
                    {
                        loaded.metadata = Some(value);
                    }
                    if let Some(lines) = doc.sops_lines {
                        loaded.sops_lines.push(lines);
                    }
                }
                first = false;
                loaded.branches.push(Node::Map(branch));
            }
            _ => builder.pos += 1,
        }
    }
    Ok(loaded)
}

struct Document {
    items: Vec<Item>,
    sops_lines: Option<(usize, usize)>,
}

struct Builder<'a> {
    events: &'a [(Event, Marker)],
    pos: usize,
    anchors: HashMap<usize, Node>,
    nodes: usize,
}

impl Builder<'_> {
    fn next(&mut self) -> Result<(&Event, Marker)> {
        let (event, mark) = self.events.get(self.pos).ok_or_else(|| Error::Parse("YAML: unexpected end".into()))?;
        self.pos += 1;
        Ok((event, *mark))
    }

    fn peek_line(&self) -> usize {
        self.events.get(self.pos).map(|(_, m)| m.line()).unwrap_or(usize::MAX)
    }

    /// The content of one document, up to and including its DocumentEnd.
    fn document(&mut self) -> Result<Document> {
        let (event, _) = self.next()?;
        let doc = match event.clone() {
            Event::DocumentEnd => return Ok(Document { items: Vec::new(), sops_lines: None }),
            Event::MappingStart(anchor, _) => {
                let mut items = Vec::new();
                let mut sops_lines = None;
                loop {
                    let (event, mark) = self.next()?;
                    let key = match event.clone() {
                        Event::MappingEnd => break,
                        Event::Scalar(key, ..) => key,
                        _ => return Err(Error::Parse("YAML: only scalar mapping keys are supported".into())),
                    };
                    let value = self.node(1)?;
                    if key == "sops" {
                        sops_lines = Some((mark.line(), self.peek_line()));
                    }
                    items.push(Item::Pair(key, value));
                }
                if anchor > 0 {
                    self.anchors.insert(anchor, Node::Map(items.clone()));
                }
                Document { items, sops_lines }
            }
            Event::Scalar(value, style, _, _)
                if value.is_empty() || (style == TScalarStyle::Plain && is_null(&value)) =>
            {
                Document { items: Vec::new(), sops_lines: None }
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(Node::Map(items)) => Document { items: items.clone(), sops_lines: None },
                _ => return Err(Error::Parse("YAML: documents must be mappings".into())),
            },
            Event::SequenceStart(..) => {
                return Err(Error::Parse("YAML: documents that are sequences are not supported".into()));
            }
            _ => return Err(Error::Parse("YAML: documents that are values are not supported".into())),
        };
        match self.next()?.0 {
            Event::DocumentEnd => Ok(doc),
            _ => Err(Error::Parse("YAML: expected the end of the document".into())),
        }
    }

    fn node(&mut self, depth: usize) -> Result<Node> {
        if depth > MAX_DEPTH {
            return Err(Error::Parse(format!("YAML: nested deeper than {MAX_DEPTH} levels")));
        }
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(Error::Parse("YAML: too many nodes (alias expansion)".into()));
        }
        let (event, _) = self.next()?;
        let (node, anchor) = match event.clone() {
            Event::Scalar(value, style, anchor, tag) => (resolve(value, style, tag.as_ref()), anchor),
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or_else(|| Error::Parse("YAML: unknown alias".into()))?;
                self.nodes = self.nodes.saturating_add(size(&node));
                if self.nodes > MAX_NODES {
                    return Err(Error::Parse("YAML: too many nodes (alias expansion)".into()));
                }
                return Ok(node);
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                while !matches!(self.events.get(self.pos), Some((Event::SequenceEnd, _))) {
                    items.push(self.node(depth + 1)?);
                }
                self.pos += 1;
                (Node::Seq(items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, _) = self.next()?;
                    let key = match event.clone() {
                        Event::MappingEnd => break,
                        Event::Scalar(key, ..) => key,
                        _ => return Err(Error::Parse("YAML: only scalar mapping keys are supported".into())),
                    };
                    items.push(Item::Pair(key, self.node(depth + 1)?));
                }
                (Node::Map(items), anchor)
            }
            other => return Err(Error::Parse(format!("YAML: unexpected {other:?}"))),
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

fn size(node: &Node) -> usize {
    match node {
        Node::Map(items) => 1 + items.iter().map(|i| if let Item::Pair(_, v) = i { size(v) } else { 1 }).sum::<usize>(),
        Node::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        _ => 1,
    }
}

fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

/// Types a scalar as yaml.v3 does when decoding into `interface{}`: quoted
/// scalars are strings; plain ones may be null, bool, int or float; anything
/// that looks like a timestamp stays a string.
fn resolve(value: String, style: TScalarStyle, tag: Option<&Tag>) -> Node {
    if let Some(tag) = tag
        && tag.handle == "!!"
    {
        return match tag.suffix.as_str() {
            "str" | "binary" | "timestamp" => Node::Str(value),
            "null" => Node::Null,
            _ => resolve_plain(value),
        };
    }
    if style != TScalarStyle::Plain {
        return Node::Str(value);
    }
    resolve_plain(value)
}

fn resolve_plain(value: String) -> Node {
    if is_null(&value) {
        return Node::Null;
    }
    match value.as_str() {
        "true" | "True" | "TRUE" => return Node::Bool(true),
        "false" | "False" | "FALSE" => return Node::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Node::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Node::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Node::Float(f64::NAN),
        _ => {}
    }
    let first = value.chars().next().unwrap_or(' ');
    if !(first.is_ascii_digit() || matches!(first, '-' | '+' | '.')) {
        return Node::Str(value);
    }
    let plain = value.replace('_', "");
    if let Some(i) = parse_go_int(&plain) {
        return Node::Int(i);
    }
    if float_re().is_match(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        return Node::Float(f);
    }
    Node::Str(value)
}

/// `strconv.ParseInt(s, 0, 64)`: decimal, 0x hex, 0o/0 octal, 0b binary.
fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(rest) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        (16, rest)
    } else if let Some(rest) = digits.strip_prefix("0b").or_else(|| digits.strip_prefix("0B")) {
        (2, rest)
    } else if let Some(rest) = digits.strip_prefix("0o").or_else(|| digits.strip_prefix("0O")) {
        (8, rest)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

fn float_re() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").unwrap_or_else(|_| unreachable!())
    })
}

fn enc_re() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]*,tag:[A-Za-z0-9+/=]*,type:[a-z]+\]")
            .unwrap_or_else(|_| unreachable!())
    })
}

/// Writes the decrypted file: the original text without the `sops` entries,
/// every encrypted value replaced by its plaintext and encrypted comments by
/// theirs.
pub(crate) fn emit(text: &str, loaded: &Loaded, decrypted: &Decrypted, key: &[u8; 32]) -> Result<Vec<u8>> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut drop = vec![false; lines.len()];
    for &(start, end) in &loaded.sops_lines {
        let start_index = start.saturating_sub(1);
        if !lines.get(start_index).is_some_and(|l| l.starts_with("sops:")) {
            return Err(Error::Parse(
                "YAML: the 'sops' entry must be a block mapping key at the start of a line".into(),
            ));
        }
        let mut end_index = end.saturating_sub(1).min(lines.len());
        // Keep trailing blank and comment lines: they belong to what follows.
        while end_index > start_index + 1 {
            let line = lines[end_index - 1];
            if line.trim().is_empty() || line.starts_with('#') {
                end_index -= 1;
            } else {
                break;
            }
        }
        for flag in &mut drop[start_index..end_index] {
            *flag = true;
        }
    }
    let mut out = String::with_capacity(text.len());
    for (line, dropped) in lines.iter().zip(drop) {
        if dropped {
            continue;
        }
        out.push_str(&decrypt_line(line, decrypted, key));
    }
    Ok(out.into_bytes())
}

fn decrypt_line(line: &str, decrypted: &Decrypted, key: &[u8; 32]) -> String {
    if !line.contains("ENC[AES256_GCM,") {
        return line.to_string();
    }
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let newline = if line.ends_with('\n') { "\n" } else { "" };
    let body = trimmed.trim_end();
    // A whole-line encrypted comment: its path is one of the branches'.
    if let Some(sealed) = body.strip_prefix('#')
        && enc_re().find(sealed).is_some_and(|m| m.start() == 0 && m.end() == sealed.len())
    {
        if let Some(Node::Comment(c)) = decrypted.plaintexts.get(sealed) {
            return format!("{indent}#{c}{newline}");
        }
        for aad in &decrypted.branch_paths {
            if let Ok(Node::Comment(c)) = cipher::decrypt(sealed, key, aad) {
                return format!("{indent}#{c}{newline}");
            }
        }
        return line.to_string();
    }
    // A comment sops stored as a sequence item.
    if let Some(item) = body.strip_prefix("- ")
        && let Some(Node::Comment(c)) = decrypted.plaintexts.get(item.trim())
    {
        return format!("{indent}#{c}{newline}");
    }
    let mut out = String::with_capacity(line.len());
    let mut last = 0;
    for m in enc_re().find_iter(line) {
        let Some(plain) = decrypted.plaintexts.get(m.as_str()) else {
            continue;
        };
        let (mut start, mut end) = (m.start(), m.end());
        let before = line[..start].chars().last();
        let after = line[end..].chars().next();
        if let (Some(q @ ('"' | '\'')), Some(a)) = (before, after)
            && q == a
        {
            start -= 1;
            end += 1;
        }
        out.push_str(&line[last..start]);
        out.push_str(&render(plain));
        last = end;
    }
    out.push_str(&line[last..]);
    out
}

/// A decrypted value as a YAML scalar that reads back with the same type.
fn render(node: &Node) -> String {
    match node {
        Node::Null => "null".into(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::Float(f) if f.is_nan() => ".nan".into(),
        Node::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.into(),
        Node::Float(f) => {
            let s = go_float(*f);
            if s.contains(['.', 'e', 'E']) { s } else { format!("{s}.0") }
        }
        Node::Str(s) if plain_safe(s) => s.clone(),
        Node::Str(s) | Node::Comment(s) => double_quoted(s),
        Node::Map(_) | Node::Seq(_) => "null".into(),
    }
}

/// Whether `s` can be written as a plain scalar and still read back (by
/// YAML 1.1 and 1.2 parsers alike) as that same string.
fn plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let yaml11 = ["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"];
    (first.is_ascii_alphanumeric() || first == '/' || first == '_')
        && !s.ends_with(' ')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || " ._/@%+=,-".contains(c))
        && !s.contains("  ")
        && !yaml11.contains(&s)
        && matches!(resolve_plain(s.to_string()), Node::Str(_))
        && !looks_like_timestamp(s)
}

fn looks_like_timestamp(s: &str) -> bool {
    s.len() >= 8 && s.as_bytes()[..4].iter().all(u8::is_ascii_digit) && s.as_bytes().get(4) == Some(&b'-')
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            '\u{feff}' | '\u{fffe}' | '\u{ffff}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_scalars_like_yaml_v3() {
        let plain = |s: &str| resolve(s.to_string(), TScalarStyle::Plain, None);
        assert_eq!(plain("42"), Node::Int(42));
        assert_eq!(plain("0x1F"), Node::Int(31));
        assert_eq!(plain("1_000"), Node::Int(1000));
        assert_eq!(plain("1e10"), Node::Float(1e10));
        assert_eq!(plain("0.5"), Node::Float(0.5));
        assert_eq!(plain("~"), Node::Null);
        assert_eq!(plain("True"), Node::Bool(true));
        assert_eq!(plain("yes"), Node::Str("yes".into()));
        assert_eq!(plain("2024-01-01"), Node::Str("2024-01-01".into()));
        assert_eq!(plain("1.2.3"), Node::Str("1.2.3".into()));
        assert_eq!(resolve("42".into(), TScalarStyle::DoubleQuoted, None), Node::Str("42".into()));
    }

    #[test]
    fn renders_scalars_that_read_back() {
        assert_eq!(render(&Node::Str("hunter2".into())), "hunter2");
        assert_eq!(render(&Node::Str("42".into())), "\"42\"");
        assert_eq!(render(&Node::Str("yes".into())), "\"yes\"");
        assert_eq!(render(&Node::Str("a: b".into())), "\"a: b\"");
        assert_eq!(render(&Node::Str("x\ny\"".into())), "\"x\\ny\\\"\"");
        assert_eq!(render(&Node::Float(1e10)), "10000000000.0");
        assert_eq!(render(&Node::Float(0.25)), "0.25");
        assert_eq!(render(&Node::Bool(false)), "false");
    }

    #[test]
    fn refuses_sequences_and_deep_nesting() {
        assert!(load("- a\n- b\n").is_err());
        assert!(load("just a string\n").is_err());
        let deep = format!("a: {}{}\n", "[".repeat(400), "]".repeat(400));
        assert!(load(&deep).is_err());
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n\
                    g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
        assert!(load(bomb).is_err());
    }
}
