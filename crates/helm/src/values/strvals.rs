//! Helm's `--set` parsers (`pkg/strvals`): `a.b=c,d[0].e=f` with backslash escapes, `{x,y}` lists,
//! Helm's type inference for `--set`, strings only for `--set-string`, file contents for
//! `--set-file`, JSON for `--set-json`, and `--set-literal` that takes the rest verbatim.

use crate::value::{Map, Value};

/// The largest list index `a[i]` may name, as Helm's `MaxIndex`.
pub const MAX_INDEX: usize = 65536;
/// The deepest `a.b.c…` nesting, as Helm's `MaxNestedNameLevel`.
pub const MAX_NESTED_NAME_LEVEL: usize = 30;

/// A `--set` expression Helm would refuse, with Helm's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

type Result<T> = std::result::Result<T, Error>;

/// Reads the file a `--set-file` value names.
pub type FileReader<'r> = &'r mut dyn FnMut(&str) -> Result<Value>;

/// How values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `--set`: `true`, `false`, `null` and integers are typed.
    Typed,
    /// `--set-string`: everything is a string.
    Strings,
    /// `--set-json`: each value is a JSON document.
    Json,
    /// `--set-file`: each value is a path handed to the reader.
    File,
}

/// Parses `--set` into `dest`.
pub fn parse_into(s: &str, dest: &mut Map) -> Result<()> {
    Parser::new(s, Mode::Typed, None).parse(dest)
}

/// Parses `--set-string` into `dest`.
pub fn parse_into_string(s: &str, dest: &mut Map) -> Result<()> {
    Parser::new(s, Mode::Strings, None).parse(dest)
}

/// Parses `--set-json` into `dest`.
pub fn parse_json(s: &str, dest: &mut Map) -> Result<()> {
    Parser::new(s, Mode::Json, None).parse(dest)
}

/// Parses `--set-file` into `dest`; `read` turns a path into the file's contents.
pub fn parse_into_file(s: &str, dest: &mut Map, read: &mut dyn FnMut(&str) -> Result<Value>) -> Result<()> {
    Parser::new(s, Mode::File, Some(read)).parse(dest)
}

/// Parses `--set-literal` into `dest`: the value is everything after the first `=`.
pub fn parse_literal_into(s: &str, dest: &mut Map) -> Result<()> {
    let mut p = Parser::new(s, Mode::Strings, None);
    p.literal = true;
    p.parse(dest)
}

/// Parses a `--set` string on its own.
pub fn parse(s: &str) -> Result<Map> {
    let mut m = Map::new();
    parse_into(s, &mut m)?;
    Ok(m)
}

/// End of input, as Go's `io.EOF`.
enum Step {
    Eof,
    Err(Error),
}

impl From<Error> for Step {
    fn from(e: Error) -> Self {
        Step::Err(e)
    }
}

struct Parser<'r> {
    chars: Vec<char>,
    pos: usize,
    mode: Mode,
    literal: bool,
    reader: Option<FileReader<'r>>,
}

fn err(msg: impl Into<String>) -> Step {
    Step::Err(Error(msg.into()))
}

fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

impl<'r> Parser<'r> {
    fn new(s: &str, mode: Mode, reader: Option<FileReader<'r>>) -> Self {
        Parser { chars: s.chars().collect(), pos: 0, mode, literal: false, reader }
    }

    fn parse(&mut self, data: &mut Map) -> Result<()> {
        loop {
            match self.key(data, 0) {
                Ok(()) => continue,
                Err(Step::Eof) => return Ok(()),
                Err(Step::Err(e)) => return Err(e),
            }
        }
    }

    fn read(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Reads until one of `stop`, returning the text, the stop rune (or None at the end).
    fn until(&mut self, stop: &[char]) -> (String, Option<char>) {
        let mut v = String::new();
        loop {
            match self.read() {
                None => return (v, None),
                Some(c) if stop.contains(&c) => return (v, Some(c)),
                Some('\\') if !self.literal => match self.read() {
                    None => return (v, None),
                    Some(next) => v.push(next),
                },
                Some(c) => v.push(c),
            }
        }
    }

    fn typed(&mut self, rs: &str) -> std::result::Result<Value, Step> {
        match self.mode {
            Mode::Strings => Ok(Value::String(rs.to_string())),
            Mode::Typed => Ok(typed_val(rs)),
            Mode::File => match self.reader.as_mut() {
                Some(read) => Ok(read(rs)?),
                None => Ok(Value::String(rs.to_string())),
            },
            Mode::Json => Ok(Value::String(rs.to_string())),
        }
    }

    fn key(&mut self, data: &mut Map, mut level: usize) -> std::result::Result<(), Step> {
        let stop: &[char] = if self.literal { &['=', '[', '.'] } else { &['=', '[', ',', '.'] };
        let (k, last) = self.until(stop);
        match last {
            None => {
                if k.is_empty() {
                    return Err(Step::Eof);
                }
                Err(err(format!("key {} has no value", go_quote(&k))))
            }
            Some('[') => {
                let i = self.key_index().map_err(|e| wrap(e, "error parsing index"))?;
                let mut list = match data.remove(&k) {
                    None => Vec::new(),
                    Some(Value::List(l)) => l,
                    Some(other) => {
                        let msg = format!(
                            "unable to parse key: interface conversion: interface {{}} is {}, not []interface {{}}",
                            other.go_type()
                        );
                        data.insert(k, other);
                        return Err(err(msg));
                    }
                };
                let result = self.list_item(&mut list, i, level);
                set(data, &k, Value::List(list));
                result
            }
            Some('=') => {
                if self.literal {
                    let rest: String = self.chars[self.pos..].iter().collect();
                    self.pos = self.chars.len();
                    set(data, &k, Value::String(rest));
                    return Ok(());
                }
                if self.mode == Mode::Json {
                    let v = self.json_value()?;
                    set(data, &k, v);
                    return Ok(());
                }
                match self.val_list() {
                    Ok(list) => {
                        set(data, &k, Value::List(list));
                        Ok(())
                    }
                    Err(ListStep::Eof) => {
                        set(data, &k, Value::String(String::new()));
                        Err(Step::Eof)
                    }
                    Err(ListStep::NotList) => {
                        let (rs, _) = self.until(&[',']);
                        let v = self.typed(&rs)?;
                        set(data, &k, v);
                        Ok(())
                    }
                    Err(ListStep::Err(e)) => Err(Step::Err(e)),
                }
            }
            Some(',') => {
                set(data, &k, Value::String(String::new()));
                Err(err(format!("key {} has no value (cannot end with ,)", go_quote(&k))))
            }
            Some(_) => {
                level += 1;
                if level > MAX_NESTED_NAME_LEVEL {
                    return Err(err(format!(
                        "value name nested level is greater than maximum supported nested level of {MAX_NESTED_NAME_LEVEL}"
                    )));
                }
                let mut inner = match data.get(&k) {
                    None => Map::new(),
                    Some(Value::Map(m)) => m.clone(),
                    Some(other) => {
                        return Err(err(format!(
                            "unable to parse key: interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                            other.go_type()
                        )));
                    }
                };
                let e = self.key(&mut inner, level);
                if e.is_ok() && inner.is_empty() {
                    return Err(err(format!("key map {} has no value", go_quote(&k))));
                }
                if !inner.is_empty() {
                    set(data, &k, Value::Map(inner));
                }
                e
            }
        }
    }

    fn json_value(&mut self) -> std::result::Result<Value, Step> {
        if self.empty_val() {
            return Ok(Value::Null);
        }
        let rest: String = self.chars[self.pos..].iter().collect();
        let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<serde_json::Value>();
        let v = match stream.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(err(e.to_string())),
            None => return Err(err("unexpected EOF")),
        };
        let consumed = rest[..stream.byte_offset()].chars().count();
        self.pos += consumed;
        self.empty_val();
        Ok(Value::from_json(&v))
    }

    /// Skips spaces; true at the end or after a comma (Go's `emptyVal`).
    fn empty_val(&mut self) -> bool {
        loop {
            match self.read() {
                None | Some(',') => return true,
                Some(c) if c.is_whitespace() => continue,
                Some(_) => {
                    self.pos -= 1;
                    return false;
                }
            }
        }
    }

    fn key_index(&mut self) -> std::result::Result<i64, Step> {
        let (v, last) = self.until(&[']']);
        if last.is_none() {
            return Err(Step::Eof);
        }
        v.parse::<i64>().map_err(|_| err(format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(&v))))
    }

    fn list_item(&mut self, list: &mut Vec<Value>, i: i64, level: usize) -> std::result::Result<(), Step> {
        if i < 0 {
            return Err(err(format!("negative {i} index not allowed")));
        }
        let i = i as usize;
        let (k, last) = self.until(&['[', '.', '=']);
        if !k.is_empty() {
            return Err(err(format!("unexpected data at end of array index: {}", go_quote(&k))));
        }
        match last {
            None => Err(Step::Eof),
            Some('=') => {
                if self.literal {
                    let rest: String = self.chars[self.pos..].iter().collect();
                    self.pos = self.chars.len();
                    return set_index(list, i, Value::String(rest));
                }
                if self.mode == Mode::Json {
                    let v = self.json_value()?;
                    return set_index(list, i, v);
                }
                match self.val_list() {
                    Ok(vl) => set_index(list, i, Value::List(vl)),
                    Err(ListStep::Eof) => set_index(list, i, Value::String(String::new())),
                    Err(ListStep::NotList) => {
                        let (rs, _) = self.until(&[',']);
                        let v = self.typed(&rs)?;
                        set_index(list, i, v)
                    }
                    Err(ListStep::Err(e)) => Err(Step::Err(e)),
                }
            }
            Some('[') => {
                let next = self.key_index().map_err(|e| wrap(e, "error parsing index"))?;
                let mut inner = match list.get(i) {
                    Some(Value::List(l)) => l.clone(),
                    None | Some(Value::Null) => Vec::new(),
                    Some(other) => {
                        return Err(err(format!(
                            "unable to parse key: interface conversion: interface {{}} is {}, not []interface {{}}",
                            other.go_type()
                        )));
                    }
                };
                self.list_item(&mut inner, next, level)?;
                set_index(list, i, Value::List(inner))
            }
            Some(_) => {
                let mut inner = match list.get(i) {
                    Some(Value::Map(m)) => m.clone(),
                    _ => Map::new(),
                };
                self.key(&mut inner, level)?;
                set_index(list, i, Value::Map(inner))
            }
        }
    }

    fn val_list(&mut self) -> std::result::Result<Vec<Value>, ListStep> {
        match self.read() {
            None => return Err(ListStep::Eof),
            Some('{') => {}
            Some(_) => {
                self.pos -= 1;
                return Err(ListStep::NotList);
            }
        }
        let mut list = Vec::new();
        loop {
            let (rs, last) = self.until(&[',', '}']);
            match last {
                None => return Err(ListStep::Err(Error("list must terminate with '}'".into()))),
                Some('}') => {
                    if let Some(c) = self.read()
                        && c != ','
                    {
                        self.pos -= 1;
                    }
                    let v = self.typed(&rs).map_err(ListStep::from)?;
                    list.push(v);
                    return Ok(list);
                }
                Some(_) => {
                    let v = self.typed(&rs).map_err(ListStep::from)?;
                    list.push(v);
                }
            }
        }
    }
}

enum ListStep {
    Eof,
    NotList,
    Err(Error),
}

impl From<Step> for ListStep {
    fn from(s: Step) -> Self {
        match s {
            Step::Eof => ListStep::Eof,
            Step::Err(e) => ListStep::Err(e),
        }
    }
}

fn wrap(step: Step, context: &str) -> Step {
    match step {
        Step::Eof => err(format!("{context}: EOF")),
        Step::Err(e) => err(format!("{context}: {}", e.0)),
    }
}

fn set(data: &mut Map, key: &str, value: Value) {
    if !key.is_empty() {
        data.insert(key.to_string(), value);
    }
}

fn set_index(list: &mut Vec<Value>, index: usize, value: Value) -> std::result::Result<(), Step> {
    if index > MAX_INDEX {
        return Err(err(format!("index of {index} is greater than maximum supported index of {MAX_INDEX}")));
    }
    if list.len() <= index {
        list.resize(index + 1, Value::Null);
    }
    list[index] = value;
    Ok(())
}

/// Helm's `typedVal`: `true`/`false`/`null` in any case, `0`, and integers without a leading zero.
fn typed_val(val: &str) -> Value {
    if val.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if val.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if val.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    if val == "0" {
        return Value::Int(0);
    }
    if !val.is_empty()
        && !val.starts_with('0')
        && let Some(i) = go_parse_int64(val)
    {
        return Value::Int(i);
    }
    Value::String(val.to_string())
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign and decimal digits.
fn go_parse_int64(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::encode::to_string;

    fn y(s: &str) -> String {
        to_string(&Value::Map(parse(s).unwrap())).unwrap()
    }

    #[test]
    fn helm_examples() {
        assert_eq!(y("name=value"), "name: value\n");
        assert_eq!(y("long_int_string=1234567890"), "long_int_string: 1234567890\n");
        assert_eq!(y("boolean=true"), "boolean: true\n");
        assert_eq!(y("name1=value1,name2=value2"), "name1: value1\nname2: value2\n");
        assert_eq!(y("list={a,b,c}"), "list:\n- a\n- b\n- c\n");
        assert_eq!(y("outer.inner=value"), "outer:\n  inner: value\n");
        assert_eq!(y("name1.name2=value1,name1.name3=value2"), "name1:\n  name2: value1\n  name3: value2\n");
        assert_eq!(y("a[0].b=1,a[1]=x"), "a:\n- b: 1\n- x\n");
        assert_eq!(y("a\\.b=c\\,d"), "a.b: c,d\n");
        assert_eq!(y("leading_zeros=00009"), "leading_zeros: \"00009\"\n");
        assert_eq!(y("nested[1][1]=1"), "nested:\n- null\n- - null\n  - 1\n");
        assert_eq!(y("name="), "name: \"\"\n");
    }

    #[test]
    fn errors_as_helm() {
        assert_eq!(parse("name").unwrap_err().0, "key \"name\" has no value");
        assert_eq!(parse("name,").unwrap_err().0, "key \"name\" has no value (cannot end with ,)");
        assert_eq!(parse("a.=x").unwrap_err().0, "key map \"a\" has no value");
        assert!(parse("list={a,b").unwrap_err().0.contains("list must terminate"));
        assert_eq!(parse("a[-1]=x").unwrap_err().0, "negative -1 index not allowed");
        assert!(parse("a[65537]=x").unwrap_err().0.contains("greater than maximum"));
        assert!(parse("a=1,a[0]=2").unwrap_err().0.contains("interface conversion"));
    }

    #[test]
    fn string_json_literal() {
        let mut m = Map::new();
        parse_into_string("a=true,b=1", &mut m).unwrap();
        assert_eq!(m["a"], Value::String("true".into()));
        let mut m = Map::new();
        parse_json("a={\"b\": [1, null]},c=\"x\"", &mut m).unwrap();
        assert_eq!(to_string(&Value::Map(m)).unwrap(), "a:\n  b:\n  - 1\n  - null\nc: x\n");
        let mut m = Map::new();
        parse_literal_into("a.b=x,y=z\\n", &mut m).unwrap();
        assert_eq!(m["a"].as_map().unwrap()["b"], Value::String("x,y=z\\n".into()));
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // A fixed pseudo-random walk over the characters the parsers treat specially.
        let alphabet: Vec<char> = "ab0129.,=[]{}\\\"-: null".chars().collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let mut s = String::new();
            let len = (state % 24) as usize;
            for _ in 0..len {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                s.push(alphabet[(state >> 33) as usize % alphabet.len()]);
            }
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut m = Map::new();
            let _ = parse_into(&s, &mut m);
            let _ = parse_into_string(&s, &mut Map::new());
            let _ = parse_json(&s, &mut Map::new());
            let _ = parse_literal_into(&s, &mut Map::new());
            let _ = to_string(&Value::Map(m));
        }
    }
}
