//! Writes values as `sigs.k8s.io/yaml.Marshal` does: through JSON (so whole floats become
//! integers), then `yaml.v2`'s emitter with its key order, quoting rules, block scalars, two-space
//! indentation, sequences flush with their parent key, and plain scalars folded past column 80.

use std::cmp::Ordering;

use super::decode::{Scalar, resolve_plain};
use crate::value::Value;

/// A value JSON cannot hold (`NaN`, infinities), as `encoding/json` refuses it.
#[derive(Debug, thiserror::Error)]
#[error("json: unsupported value: {0}")]
pub struct Error(String);

/// Marshals `value` to YAML text, ending with a newline, exactly as Go's Helm does for `toYaml`
/// (before Helm trims the final newline).
pub fn to_string(value: &Value) -> Result<String, Error> {
    check_json(value)?;
    let mut e = Emitter::new();
    e.node(value, true, false, false, false);
    // Document end: an implicit end writes only the pending line break.
    e.write_indent();
    Ok(e.out)
}

/// Writes `value` in the layout of `yaml.v3` with two-space indentation (Helm's `toYamlPretty`):
/// sequences indented under their key and no folding of long lines.
pub fn to_string_pretty(value: &Value) -> Result<String, Error> {
    check_json(value)?;
    let mut e = Emitter::new();
    e.indent_sequences = true;
    e.best_width = usize::MAX;
    e.node(value, true, false, false, false);
    // Document end: an implicit end writes only the pending line break.
    e.write_indent();
    Ok(e.out)
}

fn check_json(value: &Value) -> Result<(), Error> {
    match value {
        Value::Float(f) if !f.is_finite() => Err(Error(super::format_float(*f, 'g', 64))),
        Value::List(items) => items.iter().try_for_each(check_json),
        Value::Map(m) => m.values().try_for_each(check_json),
        _ => Ok(()),
    }
}

/// A scalar after the JSON round trip, in the form `yaml.v2` decoded it.
enum Plain<'a> {
    Null,
    Bool(bool),
    Int(String),
    Float(f64),
    Str(&'a str),
}

fn scalar_of(value: &Value) -> Plain<'_> {
    match value {
        Value::Null => Plain::Null,
        Value::Bool(b) => Plain::Bool(*b),
        Value::Int(i) => Plain::Int(i.to_string()),
        Value::Float(f) => {
            // JSON writes the float; yaml.v2 reads it back as an int when it can.
            let json = super::json_float(*f);
            match resolve_plain(&json) {
                Scalar::Int(i) if i64::try_from(i).is_ok() || u64::try_from(i).is_ok() => Plain::Int(i.to_string()),
                _ => Plain::Float(*f),
            }
        }
        Value::String(s) => Plain::Str(s),
        Value::List(_) | Value::Map(_) => Plain::Null,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Emitter {
    out: String,
    column: usize,
    indent: i64,
    indents: Vec<i64>,
    whitespace: bool,
    indention: bool,
    flow_level: usize,
    best_width: usize,
    mapping_context: bool,
    simple_key_context: bool,
    indent_sequences: bool,
}

const BEST_INDENT: i64 = 2;

impl Emitter {
    fn new() -> Self {
        Emitter {
            out: String::new(),
            column: 0,
            indent: -1,
            indents: Vec::new(),
            whitespace: true,
            indention: true,
            flow_level: 0,
            best_width: 80,
            mapping_context: false,
            simple_key_context: false,
            indent_sequences: false,
        }
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_str(&mut self, s: &str) {
        for c in s.chars() {
            self.put(c);
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(&mut self, indicator: &str, need_whitespace: bool, is_whitespace: bool, is_indention: bool) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        self.write_str(indicator);
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn node(&mut self, value: &Value, _root: bool, _sequence: bool, mapping: bool, simple_key: bool) {
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match value {
            Value::Map(m) if m.is_empty() => self.empty_flow("{", "}"),
            Value::List(l) if l.is_empty() => self.empty_flow("[", "]"),
            Value::Map(m) => {
                self.increase_indent(false, false);
                let mut keys: Vec<&String> = m.keys().collect();
                sort_keys(&mut keys);
                for key in keys {
                    self.write_indent();
                    self.node(&Value::String(key.clone()), false, false, true, true);
                    self.write_indicator(":", false, false, false);
                    self.node(&m[key], false, false, true, false);
                }
                self.pop_indent();
            }
            Value::List(items) => {
                let indentless = self.mapping_context && !self.indention && !self.indent_sequences;
                self.increase_indent(false, indentless);
                for item in items {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.node(item, false, true, false, false);
                }
                self.pop_indent();
            }
            scalar => self.scalar(scalar),
        }
    }

    fn empty_flow(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.increase_indent(true, false);
        self.flow_level += 1;
        self.flow_level -= 1;
        self.pop_indent();
        self.write_indicator(close, false, false, false);
    }

    fn scalar(&mut self, value: &Value) {
        let (text, requested) = match scalar_of(value) {
            Plain::Null => ("null".to_string(), Style::Plain),
            Plain::Bool(b) => (b.to_string(), Style::Plain),
            Plain::Int(i) => (i, Style::Plain),
            Plain::Float(f) => {
                let s = super::format_float(f, 'g', 64);
                let s = match s.as_str() {
                    "+Inf" => ".inf".to_string(),
                    "-Inf" => "-.inf".to_string(),
                    "NaN" => ".nan".to_string(),
                    _ => s,
                };
                (s, Style::Plain)
            }
            Plain::Str(s) => {
                let can_plain = matches!(resolve_plain(s), Scalar::Str) && !is_base60_float(s);
                let style = if s.contains('\n') {
                    Style::Literal
                } else if can_plain {
                    Style::Plain
                } else {
                    Style::Double
                };
                (s.to_string(), style)
            }
        };
        let analysis = analyze(&text);
        let style = self.select_style(requested, &analysis, text.is_empty());
        self.increase_indent(true, false);
        let allow_breaks = !self.simple_key_context;
        match style {
            Style::Plain => self.write_plain(&text, allow_breaks),
            Style::Single => self.write_single(&text, allow_breaks),
            Style::Double => self.write_double(&text, allow_breaks),
            Style::Literal => self.write_literal(&text),
        }
        self.pop_indent();
    }

    fn select_style(&self, requested: Style, a: &Analysis, empty: bool) -> Style {
        let mut style = requested;
        if self.simple_key_context && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain {
            if (self.flow_level > 0 && !a.flow_plain_allowed) || (self.flow_level == 0 && !a.block_plain_allowed) {
                style = Style::Single;
            }
            if empty && (self.flow_level > 0 || self.simple_key_context) {
                style = Style::Single;
            }
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || self.flow_level > 0 || self.simple_key_context) {
            style = Style::Double;
        }
        style
    }

    fn write_plain(&mut self, value: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == ' ' {
                if allow_breaks && !spaces && self.column > self.best_width && chars.get(i + 1) != Some(&' ') {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
            i += 1;
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_single(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && i > 0
                    && i < chars.len() - 1
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, value: &str, allow_breaks: bool) {
        let mut spaces = false;
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{07}' => self.put('a'),
                    '\u{08}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{0B}' => self.put('v'),
                    '\u{0C}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1B}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{A0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    other => {
                        let v = other as u32;
                        let (prefix, width) = if v <= 0xFF {
                            ('x', 2)
                        } else if v <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(prefix);
                        self.write_str(&format!("{v:0width$X}"));
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > self.best_width && i > 0 && i < chars.len() - 1 {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &str) {
        self.write_indicator("|", true, false, false);
        // Block scalar hints: an indentation indicator for a leading space or break, and the
        // chomping indicator from the trailing breaks.
        let first = value.chars().next();
        if first.is_some_and(|c| c == ' ' || is_break(c)) {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        let mut rev = value.chars().rev();
        let chomp = match rev.next() {
            None => Some("-"),
            Some(last) if !is_break(last) => Some("-"),
            Some(_) => match rev.next() {
                None => Some("+"),
                Some(prev) if is_break(prev) => Some("+"),
                Some(_) => None,
            },
        };
        if let Some(chomp) = chomp {
            self.write_indicator(chomp, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in value.chars() {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0A
        || (0x20..=0x7E).contains(&v)
        || (0xA0..=0xD7FF).contains(&v)
        || ((0xE000..=0xFFFD).contains(&v) && v != 0xFEFF)
}

#[derive(Debug, Default)]
struct Analysis {
    multiline: bool,
    flow_plain_allowed: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// `yaml_emitter_analyze_scalar`: which styles can carry this text.
fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain_allowed: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let (mut block_indicators, mut flow_indicators) = (false, false);
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    if value.starts_with("---") || value.starts_with("...") {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_by_whitespace = i + 1 >= n || chars[i + 1] == ' ' || chars[i + 1] == '\t';
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                '?' | ':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                '-' if followed_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow_indicators = true,
                ':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                '#' if preceded_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c) || c == '\0';
    }
    let mut a = Analysis {
        multiline: line_breaks,
        flow_plain_allowed: true,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if flow_indicators {
        a.flow_plain_allowed = false;
    }
    if block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`: quoted on output for old parsers.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.is_empty() || !(b[0] == b'+' || b[0] == b'-' || b[0].is_ascii_digit()) || !s.contains(':') {
        return false;
    }
    if b[i] == b'+' || b[i] == b'-' {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let group = &b[start..i];
        let ok = match group.len() {
            1 => true,
            2 => group[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// Sorts map keys as `yaml.v2` does (`sort.Sort` over its `keyList`). That order is not a total
/// order for every set of keys (mixes of digits, zeros and other characters), on which Rust's
/// sort may panic: short lists are sorted by Go's insertion sort (what `sort.Sort` does up to 12
/// elements, so the result is Go's even then), longer ones by a merge sort, which cannot panic.
pub fn sort_keys(keys: &mut [&String]) {
    if keys.len() <= 12 {
        for i in 1..keys.len() {
            let mut j = i;
            while j > 0 && key_less(keys[j], keys[j - 1]) {
                keys.swap(j, j - 1);
                j -= 1;
            }
        }
        return;
    }
    let mid = keys.len() / 2;
    sort_keys(&mut keys[..mid]);
    sort_keys(&mut keys[mid..]);
    let mut merged = Vec::with_capacity(keys.len());
    let (mut i, mut j) = (0, mid);
    while i < mid && j < keys.len() {
        if key_order(keys[j], keys[i]) == Ordering::Less {
            merged.push(keys[j]);
            j += 1;
        } else {
            merged.push(keys[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&keys[i..mid]);
    merged.extend_from_slice(&keys[j..]);
    keys.copy_from_slice(&merged);
}

/// `yaml.v2`'s key order: other characters before letters, runs of digits compared as numbers.
pub fn key_order(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    if key_less(a, b) {
        Ordering::Less
    } else if key_less(b, a) {
        Ordering::Greater
    } else {
        a.cmp(b)
    }
}

fn key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i as isize - 1;
            while j >= 0 && ar[j as usize].is_ascii_digit() {
                if ar[j as usize] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
                j -= 1;
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::decode::{Numbers, from_str};

    fn round(text: &str) -> String {
        to_string(&from_str(text, Numbers::Json).unwrap()).unwrap()
    }

    #[test]
    fn go_layout() {
        assert_eq!(round("b: 1\na: [x, z]\nc: {d: {}}\ne: []\n"), "a:\n- x\n- z\nb: 1\nc:\n  d: {}\ne: []\n");
        assert_eq!(round("- a: 1\n  b: [1, 2]\n- - x\n"), "- a: 1\n  b:\n  - 1\n  - 2\n- - x\n");
    }

    #[test]
    fn quoting() {
        let v = Value::Map(
            [
                ("a", "true"),
                ("b", ""),
                ("c", "1.0"),
                ("d", "hello: world"),
                ("e", "line1\nline2\n"),
                ("f", "- x"),
                ("g", "tab\there"),
                ("h", " lead"),
                ("i", "2001-12-14"),
                ("j", "it's"),
                ("k", "12:30"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
        );
        assert_eq!(
            to_string(&v).unwrap(),
            "a: \"true\"\nb: \"\"\nc: \"1.0\"\nd: 'hello: world'\ne: |\n  line1\n  line2\nf: '- x'\ng: \"tab\\there\"\nh: ' lead'\ni: \"2001-12-14\"\nj: it's\nk: \"12:30\"\n"
        );
    }

    #[test]
    fn numbers_through_json() {
        let v = Value::Map(
            [("a", Value::Float(3.0)), ("b", Value::Float(1.5)), ("c", Value::Float(1234567.5)), ("d", Value::Int(7))]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        );
        assert_eq!(to_string(&v).unwrap(), "a: 3\nb: 1.5\nc: 1.2345675e+06\nd: 7\n");
    }

    #[test]
    fn keys_sort_like_yaml_v2() {
        let mut keys = vec!["b", "a10", "a2", "A", "_x", "a"];
        keys.sort_by(|a, b| key_order(a, b));
        assert_eq!(keys, vec!["_x", "A", "a", "a2", "a10", "b"]);
    }

    #[test]
    fn keys_that_yaml_v2_orders_inconsistently_do_not_panic() {
        // Found by the `yaml` fuzz target: keys such as `0`, `00`, `0i`, `01` and `:0` have no
        // total order under yaml.v2's rule, and Rust's sort panicked on them.
        let text = "0on:\n:\n::00:\n:0::::00:\n:0:::0:\n0i:\n:\n:0:i:\n.[![:\n8:\x07:\n:0::0:\n0:0:\n01::00:::0:\n0i:\n:\n:0:\n01::\n0i:\n:#:\n.[![:\n8:\x07:\n:0::0:\n0:0:\n:0:i:\n.[![:\n8:\x07:\n:0::0::\n0i:\n:i:\n.[![:\n8:\x07:\n:0::0:\n0:0:\n:0:i:\n.[![:\n8:\x07:\n:0::0:\n0:0:\n01::00:\n:00:\n01::\n0:0:\n01::00:\n:00:\n01:\n::0:\n01:\n:";
        let doc = from_str(text, Numbers::Json).unwrap();
        to_string(&doc).unwrap();
        let owned: Vec<String> =
            ["0", "00", "0i", "01", ":0", "0:0", "00:", "01:", "i", ":", "8", "0:", "x0", "0x", "a", "10"]
                .iter()
                .map(|k| k.to_string())
                .collect();
        let mut keys: Vec<&String> = owned.iter().collect();
        sort_keys(&mut keys);
        assert_eq!(keys.len(), owned.len());
        let mut few: Vec<&String> = owned[..5].iter().collect();
        sort_keys(&mut few);
        assert_eq!(few.len(), 5);
    }

    #[test]
    fn long_plain_strings_fold() {
        let words = vec!["word"; 30].join(" ");
        let out = to_string(&Value::Map([("k".to_string(), Value::String(words))].into())).unwrap();
        assert!(out.contains("\n  word"), "{out}");
    }
}
