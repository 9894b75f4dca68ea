//! `toToml` as BurntSushi's encoder writes maps: plain keys first, then `[tables]`, indented by
//! two spaces per level; `fromToml` as BurntSushi's decoder reads TOML into
//! `map[string]interface{}`.

use ferry_gotemplate::{self as gt, Value as TplValue};

use crate::value::{Map, Value};

/// TOML text of a map; other values give Go's error message, as Helm returns it.
pub fn to_toml(v: &Value) -> String {
    match v {
        Value::Map(m) => {
            let mut out = String::new();
            table(m, &[], &mut out);
            out
        }
        _ => "toml: top-level values must be Go maps or structs".into(),
    }
}

/// Helm's `fromToml`: the document as a map (integers `int64`, floats `float64`, date-times
/// `time.Time`, arrays `[]interface{}`), or a map holding only `Error` when it does not parse
/// (the message is `toml_edit`'s, not BurntSushi's).
pub fn from_toml(text: &str) -> TplValue {
    match toml_edit::Document::parse(text) {
        Ok(doc) => from_table(doc.as_table()),
        Err(e) => TplValue::map(
            [("Error".to_string(), TplValue::string(format!("toml: {}", e.message())))].into_iter().collect(),
        ),
    }
}

fn from_table<'a>(entries: impl IntoIterator<Item = (&'a str, &'a toml_edit::Item)>) -> TplValue {
    TplValue::map(entries.into_iter().filter_map(|(k, v)| Some((k.to_string(), from_item(v)?))).collect())
}

fn from_item(item: &toml_edit::Item) -> Option<TplValue> {
    Some(match item {
        toml_edit::Item::None => return None,
        toml_edit::Item::Value(v) => from_value(v),
        toml_edit::Item::Table(t) => from_table(t.iter()),
        toml_edit::Item::ArrayOfTables(a) => TplValue::list(a.iter().map(|t| from_table(t.iter())).collect()),
    })
}

fn from_value(v: &toml_edit::Value) -> TplValue {
    use toml_edit::Value as T;
    match v {
        T::String(s) => TplValue::string(s.value()),
        T::Integer(i) => TplValue::Int64(*i.value()),
        T::Float(f) => TplValue::Float(*f.value()),
        T::Boolean(b) => TplValue::Bool(*b.value()),
        T::Datetime(d) => from_datetime(d.value()),
        T::Array(a) => TplValue::list(a.iter().map(from_value).collect()),
        T::InlineTable(t) => TplValue::map(t.iter().map(|(k, v)| (k.to_string(), from_value(v))).collect()),
    }
}

/// BurntSushi's zones: an offset date-time in UTC when it says `Z` or in an unnamed fixed zone
/// (the machine's local zone is taken to be UTC, as in a container); local date-times, dates and
/// times in the zero-offset zones it names `datetime-local`, `date-local` and `time-local`.
fn from_datetime(d: &toml_edit::Datetime) -> TplValue {
    let (year, month, day) = d.date.map_or((0, 1, 1), |d| (d.year as i64, d.month as u32, d.day as u32));
    let (hour, min, sec, nanos) = d.time.map_or((0, 0, 0, 0), |t| {
        (t.hour as u32, t.minute as u32, t.second.unwrap_or(0) as u32, t.nanosecond.unwrap_or(0))
    });
    let (offset, zone) = match (d.offset, d.date, d.time) {
        (Some(toml_edit::Offset::Z), ..) => (0, "UTC"),
        (Some(toml_edit::Offset::Custom { minutes }), ..) => {
            let secs = minutes as i32 * 60;
            (secs, if secs == 0 { "UTC" } else { "" })
        }
        (None, Some(_), Some(_)) => (0, "datetime-local"),
        (None, Some(_), None) => (0, "date-local"),
        (None, None, _) => (0, "time-local"),
    };
    gt::sprig::civil_time(year, month, day, hour, min, sec, nanos, offset, zone)
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(_))
}

fn key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        quote(k)
    }
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            let s = crate::yaml::format_float(*f, 'f', 64);
            if s.contains('.') { s } else { format!("{s}.0") }
        }
        Value::String(s) => quote(s),
        Value::List(items) => format!("[{}]", items.iter().map(scalar).collect::<Vec<_>>().join(", ")),
        Value::Map(_) => String::new(),
    }
}

/// BurntSushi's `eMap`: the plain keys of a table, then its subtables. Keys are indented one
/// level per table they are in; a `[header]` one level less; a top-level header follows a blank
/// line unless it is the first thing written.
fn table(m: &Map, path: &[String], out: &mut String) {
    let indent = "  ".repeat(path.len());
    for (k, v) in m {
        if is_table(v) || matches!(v, Value::Null) {
            continue;
        }
        out.push_str(&format!("{indent}{} = {}\n", key(k), scalar(v)));
    }
    for (k, v) in m {
        if let Value::Map(sub) = v {
            let mut p = path.to_vec();
            p.push(key(k));
            if p.len() == 1 && !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("{}[{}]\n", "  ".repeat(p.len() - 1), p.join(".")));
            table(sub, &p, out);
        }
    }
}
