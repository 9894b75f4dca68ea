//! Sprig's date functions over a `time.Time` object, with Go's reference
//! layouts (`2006-01-02T15:04:05Z07:00`) and `time.Duration` printing
//! (`1h2m3s`). Zones: UTC and fixed offsets; Ferry has no zone database, so
//! `Local` and named zones are UTC (as Helm in a container without TZ data).

use std::any::Any;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::conv::to_int64;
use crate::error::FuncError;
use crate::func::{FuncMap, Function};
use crate::sig::{Signature, Ty};
use crate::value::{Object, Value};

/// A Go `time.Time`: an instant and the zone it is shown in.
#[derive(Clone, Debug)]
pub struct GoTime {
    secs: i64,
    nanos: u32,
    offset: i32,
    zone: String,
}

const TIME: Ty = Ty::Object("time.Time");

impl GoTime {
    fn now() -> GoTime {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        GoTime { secs: d.as_secs() as i64, nanos: d.subsec_nanos(), offset: 0, zone: "UTC".into() }
    }

    fn unix(secs: i64) -> GoTime {
        GoTime { secs, nanos: 0, offset: 0, zone: "UTC".into() }
    }

    /// Go's zero time, `0001-01-01 00:00:00 +0000 UTC`.
    fn zero() -> GoTime {
        GoTime { secs: -62135596800, nanos: 0, offset: 0, zone: "UTC".into() }
    }

    fn local_secs(&self) -> i64 {
        self.secs + self.offset as i64
    }

    /// (year, month 1-12, day, hour, minute, second, weekday 0=Sunday, yearday 1-based)
    fn civil(&self) -> (i64, u32, u32, u32, u32, u32, u32, u32) {
        let ls = self.local_secs();
        let days = ls.div_euclid(86400);
        let rem = ls.rem_euclid(86400);
        let (y, m, d) = civil_from_days(days);
        let wd = (days + 4).rem_euclid(7) as u32;
        let yd = (days - days_from_civil(y, 1, 1)) as u32 + 1;
        (y, m, d, (rem / 3600) as u32, ((rem % 3600) / 60) as u32, (rem % 60) as u32, wd, yd)
    }

    /// Go's `Time.Format`.
    pub fn format(&self, layout: &str) -> String {
        let (year, month, day, hour, min, sec, wd, yd) = self.civil();
        let mut out = String::new();
        let mut rest = layout;
        while !rest.is_empty() {
            let (prefix, tok, after) = next_chunk(rest);
            out.push_str(prefix);
            let Some(tok) = tok else { break };
            rest = after;
            match tok {
                Tok::LongMonth => out.push_str(MONTHS[month as usize - 1]),
                Tok::Month => out.push_str(&MONTHS[month as usize - 1][..3]),
                Tok::NumMonth => out.push_str(&month.to_string()),
                Tok::ZeroMonth => out.push_str(&format!("{month:02}")),
                Tok::LongWeekDay => out.push_str(DAYS[wd as usize]),
                Tok::WeekDay => out.push_str(&DAYS[wd as usize][..3]),
                Tok::Day => out.push_str(&day.to_string()),
                Tok::UnderDay => out.push_str(&format!("{day:>2}")),
                Tok::ZeroDay => out.push_str(&format!("{day:02}")),
                Tok::UnderYearDay => out.push_str(&format!("{yd:>3}")),
                Tok::ZeroYearDay => out.push_str(&format!("{yd:03}")),
                Tok::Hour => out.push_str(&format!("{hour:02}")),
                Tok::Hour12 | Tok::ZeroHour12 => {
                    let h = if hour % 12 == 0 { 12 } else { hour % 12 };
                    out.push_str(&if tok == Tok::Hour12 { h.to_string() } else { format!("{h:02}") });
                }
                Tok::Minute => out.push_str(&min.to_string()),
                Tok::ZeroMinute => out.push_str(&format!("{min:02}")),
                Tok::Second => out.push_str(&sec.to_string()),
                Tok::ZeroSecond => out.push_str(&format!("{sec:02}")),
                Tok::LongYear => out.push_str(&format!("{year:04}")),
                Tok::Year => out.push_str(&format!("{:02}", year.rem_euclid(100))),
                Tok::PM => out.push_str(if hour >= 12 { "PM" } else { "AM" }),
                Tok::Pm => out.push_str(if hour >= 12 { "pm" } else { "am" }),
                Tok::TZ => {
                    if self.zone.is_empty() {
                        // Go prints an unnamed zone as `-0700`.
                        out.push_str(&offset_text(self.offset, false, false, false));
                    } else {
                        out.push_str(&self.zone);
                    }
                }
                Tok::Offset { z, colon, seconds, hours_only } => {
                    if z && self.offset == 0 {
                        out.push('Z');
                    } else if hours_only {
                        let o = self.offset / 60;
                        out.push(if o < 0 { '-' } else { '+' });
                        out.push_str(&format!("{:02}", o.abs() / 60));
                    } else {
                        out.push_str(&offset_text(self.offset, colon, seconds, false));
                    }
                }
                Tok::Frac { digits, trim, sep } => {
                    let f = format!("{:09}", self.nanos);
                    let mut f = f[..digits.min(9)].to_string();
                    if trim {
                        while f.ends_with('0') {
                            f.pop();
                        }
                        if !f.is_empty() {
                            out.push(sep);
                            out.push_str(&f);
                        }
                    } else {
                        out.push(sep);
                        out.push_str(&f);
                    }
                }
            }
        }
        out
    }
}

fn offset_text(offset: i32, colon: bool, seconds: bool, short: bool) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let o = offset.abs();
    let (h, m, s) = (o / 3600, (o % 3600) / 60, o % 60);
    if short {
        return if m == 0 { format!("{sign}{h:02}") } else { format!("{sign}{h:02}{m:02}") };
    }
    let sep = if colon { ":" } else { "" };
    let mut t = format!("{sign}{h:02}{sep}{m:02}");
    if seconds {
        t.push_str(&format!("{sep}{s:02}"));
    }
    t
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TZ,
    Offset { z: bool, colon: bool, seconds: bool, hours_only: bool },
    Frac { digits: usize, trim: bool, sep: char },
}

/// Go's `nextStdChunk`: the text before the next layout element, the element,
/// and the rest.
fn next_chunk(layout: &str) -> (&str, Option<Tok>, &str) {
    let b = layout.as_bytes();
    let starts = |i: usize, p: &str| layout[i..].starts_with(p);
    let mut i = 0;
    while i < b.len() {
        let found: Option<(Tok, usize)> = match b[i] {
            b'J' if starts(i, "January") => Some((Tok::LongMonth, 7)),
            b'J' if starts(i, "Jan") => Some((Tok::Month, 3)),
            b'M' if starts(i, "Monday") => Some((Tok::LongWeekDay, 6)),
            b'M' if starts(i, "Mon") => Some((Tok::WeekDay, 3)),
            b'M' if starts(i, "MST") => Some((Tok::TZ, 3)),
            b'0' if starts(i, "002") => Some((Tok::ZeroYearDay, 3)),
            b'0' if i + 1 < b.len() && (b'1'..=b'6').contains(&b[i + 1]) => Some((
                match b[i + 1] {
                    b'1' => Tok::ZeroMonth,
                    b'2' => Tok::ZeroDay,
                    b'3' => Tok::ZeroHour12,
                    b'4' => Tok::ZeroMinute,
                    b'5' => Tok::ZeroSecond,
                    _ => Tok::Year,
                },
                2,
            )),
            b'1' if starts(i, "15") => Some((Tok::Hour, 2)),
            b'1' => Some((Tok::NumMonth, 1)),
            b'2' if starts(i, "2006") => Some((Tok::LongYear, 4)),
            b'2' => Some((Tok::Day, 1)),
            b'_' if starts(i, "_2") && !starts(i, "_2006") => Some((Tok::UnderDay, 2)),
            b'_' if starts(i, "__2") => Some((Tok::UnderYearDay, 3)),
            b'3' => Some((Tok::Hour12, 1)),
            b'4' => Some((Tok::Minute, 1)),
            b'5' => Some((Tok::Second, 1)),
            b'P' if starts(i, "PM") => Some((Tok::PM, 2)),
            b'p' if starts(i, "pm") => Some((Tok::Pm, 2)),
            b'-' | b'Z' => {
                let z = b[i] == b'Z';
                let forms: [(&str, bool, bool, bool); 5] = [
                    ("070000", false, true, false),
                    ("07:00:00", true, true, false),
                    ("0700", false, false, false),
                    ("07:00", true, false, false),
                    ("07", false, false, true),
                ];
                forms.iter().find(|(f, ..)| starts(i + 1, f)).map(|(f, colon, seconds, hours_only)| {
                    (Tok::Offset { z, colon: *colon, seconds: *seconds, hours_only: *hours_only }, f.len() + 1)
                })
            }
            b'.' | b',' if i + 1 < b.len() && (b[i + 1] == b'0' || b[i + 1] == b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    None
                } else {
                    Some((Tok::Frac { digits: j - i - 1, trim: ch == b'9', sep: b[i] as char }, j - i))
                }
            }
            _ => None,
        };
        if let Some((tok, len)) = found {
            return (&layout[..i], Some(tok), &layout[i + len..]);
        }
        i += layout[i..].chars().next().map(char::len_utf8).unwrap_or(1);
    }
    (layout, None, "")
}

/// Days since 1970-01-01 of a civil date (Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Go's `time.Parse` for the numeric layout elements charts use.
fn parse_time(layout: &str, value: &str) -> Result<GoTime, String> {
    let err =
        || format!("parsing time {} as {}: cannot parse", crate::strconv::quote(value), crate::strconv::quote(layout));
    let (mut year, mut month, mut day, mut hour, mut min, mut sec, mut nanos, mut offset) =
        (1i64, 1u32, 1u32, 0u32, 0u32, 0u32, 0u32, 0i32);
    let mut pm: Option<bool> = None;
    let mut rest_layout = layout;
    let mut v = value;
    let num = |v: &mut &str, max: usize, fixed: bool| -> Option<u32> {
        let n = v.bytes().take(max).take_while(u8::is_ascii_digit).count();
        if n == 0 || (fixed && n != max) {
            return None;
        }
        let x = v[..n].parse().ok()?;
        *v = &v[n..];
        Some(x)
    };
    while !rest_layout.is_empty() {
        let (prefix, tok, after) = next_chunk(rest_layout);
        v = v.strip_prefix(prefix).ok_or_else(err)?;
        let Some(tok) = tok else { break };
        rest_layout = after;
        match tok {
            Tok::LongYear => year = num(&mut v, 4, true).ok_or_else(err)? as i64,
            Tok::Year => {
                let y = num(&mut v, 2, true).ok_or_else(err)? as i64;
                year = if y >= 69 { 1900 + y } else { 2000 + y };
            }
            Tok::ZeroMonth | Tok::NumMonth => month = num(&mut v, 2, tok == Tok::ZeroMonth).ok_or_else(err)?,
            Tok::Month | Tok::LongMonth => {
                let idx = MONTHS.iter().position(|m| {
                    let m = if tok == Tok::Month { &m[..3] } else { m };
                    v.starts_with(m)
                });
                let i = idx.ok_or_else(err)?;
                v = &v[if tok == Tok::Month { 3 } else { MONTHS[i].len() }..];
                month = i as u32 + 1;
            }
            Tok::WeekDay | Tok::LongWeekDay => {
                let i = DAYS
                    .iter()
                    .position(|d| v.starts_with(if tok == Tok::WeekDay { &d[..3] } else { d }))
                    .ok_or_else(err)?;
                v = &v[if tok == Tok::WeekDay { 3 } else { DAYS[i].len() }..];
            }
            Tok::ZeroDay | Tok::Day => day = num(&mut v, 2, tok == Tok::ZeroDay).ok_or_else(err)?,
            Tok::UnderDay => {
                v = v.strip_prefix(' ').unwrap_or(v);
                day = num(&mut v, 2, false).ok_or_else(err)?;
            }
            Tok::Hour => hour = num(&mut v, 2, true).ok_or_else(err)?,
            Tok::Hour12 | Tok::ZeroHour12 => hour = num(&mut v, 2, tok == Tok::ZeroHour12).ok_or_else(err)?,
            Tok::Minute | Tok::ZeroMinute => min = num(&mut v, 2, tok == Tok::ZeroMinute).ok_or_else(err)?,
            Tok::Second | Tok::ZeroSecond => {
                sec = num(&mut v, 2, tok == Tok::ZeroSecond).ok_or_else(err)?;
                // Go accepts a fraction after seconds even if the layout has none.
                if v.starts_with('.') && !after.starts_with('.') {
                    let n = v[1..].bytes().take_while(u8::is_ascii_digit).count();
                    let digits = &v[1..1 + n];
                    nanos = format!("{digits:0<9}")[..9].parse().unwrap_or(0);
                    v = &v[1 + n..];
                }
            }
            Tok::Frac { .. } => {
                let sep = v.chars().next().ok_or_else(err)?;
                if sep != '.' && sep != ',' {
                    continue;
                }
                let n = v[1..].bytes().take_while(u8::is_ascii_digit).count();
                let digits = &v[1..1 + n];
                nanos = format!("{digits:0<9}")[..9].parse().unwrap_or(0);
                v = &v[1 + n..];
            }
            Tok::PM | Tok::Pm => {
                let t = v.get(..2).ok_or_else(err)?;
                pm = Some(t.eq_ignore_ascii_case("PM"));
                v = &v[2..];
            }
            Tok::UnderYearDay | Tok::ZeroYearDay => {
                v = v.trim_start_matches(' ');
                num(&mut v, 3, false).ok_or_else(err)?;
            }
            Tok::TZ => {
                let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
                v = &v[n..];
            }
            Tok::Offset { z, colon, seconds, hours_only } => {
                if z && v.starts_with('Z') {
                    v = &v[1..];
                    continue;
                }
                let sign = match v.chars().next() {
                    Some('+') => 1,
                    Some('-') => -1,
                    _ => return Err(err()),
                };
                v = &v[1..];
                let h = num(&mut v, 2, true).ok_or_else(err)? as i32;
                let mut m = 0;
                let mut s = 0;
                if !hours_only {
                    if colon {
                        v = v.strip_prefix(':').ok_or_else(err)?;
                    }
                    m = num(&mut v, 2, true).ok_or_else(err)? as i32;
                    if seconds {
                        if colon {
                            v = v.strip_prefix(':').ok_or_else(err)?;
                        }
                        s = num(&mut v, 2, true).ok_or_else(err)? as i32;
                    }
                }
                offset = sign * (h * 3600 + m * 60 + s);
            }
        }
    }
    if !v.is_empty() {
        return Err(format!("parsing time {}: extra text: {}", crate::strconv::quote(value), crate::strconv::quote(v)));
    }
    if let Some(pm) = pm {
        if pm && hour < 12 {
            hour += 12;
        } else if !pm && hour == 12 {
            hour = 0;
        }
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 59 {
        return Err(format!("parsing time {}: day out of range", crate::strconv::quote(value)));
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86400 + hour as i64 * 3600 + min as i64 * 60 + sec as i64 - offset as i64;
    Ok(GoTime { secs, nanos, offset, zone: if offset == 0 { "UTC".into() } else { String::new() } })
}

/// Go's `time.Duration.String`.
pub fn duration_string(d: i128) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out;
    if u < 1_000_000_000 {
        let (unit, div, prec) = if u < 1_000 {
            ("ns", 1u128, 0)
        } else if u < 1_000_000 {
            ("µs", 1_000, 3)
        } else {
            ("ms", 1_000_000, 6)
        };
        out = frac(u, div, prec);
        out.push_str(unit);
    } else {
        let secs = u / 1_000_000_000;
        let mut s = frac(u % 60_000_000_000, 1_000_000_000, 9);
        s.push('s');
        let mins = secs / 60;
        out = s;
        if mins > 0 {
            out = format!("{}m{out}", mins % 60);
            let hours = mins / 60;
            if hours > 0 {
                out = format!("{hours}h{out}");
            }
        }
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

fn frac(v: u128, div: u128, prec: usize) -> String {
    let int = v / div;
    let f = v % div;
    if prec == 0 || f == 0 {
        return int.to_string();
    }
    let mut fs = format!("{f:0prec$}");
    while fs.ends_with('0') {
        fs.pop();
    }
    format!("{int}.{fs}")
}

/// Go's `time.ParseDuration`, in nanoseconds.
fn parse_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest.bytes().take_while(|c| c.is_ascii_digit() || *c == b'.').count();
        if n == 0 {
            return None;
        }
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest.bytes().take_while(|c| !c.is_ascii_digit() && *c != b'.').count();
        let unit = &rest[..u];
        rest = &rest[u..];
        let mult = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * mult;
    }
    let t = total.round() as i128;
    Some(if neg { -t } else { t })
}

impl Object for GoTime {
    fn type_name(&self) -> &str {
        "time.Time"
    }

    fn method(&self, name: &str) -> Option<Signature> {
        match name {
            "Unix" | "Year" | "YearDay" | "Day" | "Hour" | "Minute" | "Second" | "Nanosecond" | "UTC" | "String"
            | "IsZero" => Some(Signature::fixed(&[])),
            "Format" => Some(Signature::fixed(&[Ty::String])),
            _ => None,
        }
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, FuncError> {
        let (y, _, d, h, mi, s, _, yd) = self.civil();
        Ok(match name {
            "Unix" => Value::Int64(self.secs),
            "Year" => Value::Int(y),
            "YearDay" => Value::Int(yd as i64),
            "Day" => Value::Int(d as i64),
            "Hour" => Value::Int(h as i64),
            "Minute" => Value::Int(mi as i64),
            "Second" => Value::Int(s as i64),
            "Nanosecond" => Value::Int(self.nanos as i64),
            "IsZero" => Value::Bool(self.secs == GoTime::zero().secs && self.nanos == 0),
            "UTC" => Value::Object(Arc::new(GoTime { offset: 0, zone: "UTC".into(), ..self.clone() })),
            "String" => Value::from(self.display()),
            "Format" => Value::from(self.format(args.first().and_then(Value::as_str).unwrap_or_default())),
            _ => return Err(FuncError::msg(format!("no method {name}"))),
        })
    }

    fn display(&self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A Go `time.Time` at a civil date and time, shown in a fixed zone `offset`
/// seconds east of UTC named `zone` (Go prints an empty name as the offset):
/// for hosts that decode timestamps, as Helm's `fromToml` does.
#[allow(clippy::too_many_arguments)]
pub fn civil_time(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    nanos: u32,
    offset: i32,
    zone: &str,
) -> Value {
    let days = days_from_civil(year, month, day);
    let secs = days * 86400 + hour as i64 * 3600 + min as i64 * 60 + sec as i64 - offset as i64;
    time_value(GoTime { secs, nanos, offset, zone: zone.to_string() })
}

/// Sprig's conversion of a `date` argument: times, unix seconds as int,
/// int64 or int32; anything else is now.
fn to_time(v: &Value) -> GoTime {
    match v {
        Value::Object(o) => o.as_any().downcast_ref::<GoTime>().cloned().unwrap_or_else(GoTime::now),
        Value::Int(i) | Value::Int64(i) => GoTime::unix(*i),
        _ => GoTime::now(),
    }
}

fn in_zone(t: GoTime, zone: &str) -> GoTime {
    let _ = zone;
    GoTime { offset: 0, zone: "UTC".into(), ..t }
}

fn time_value(t: GoTime) -> Value {
    Value::Object(Arc::new(t))
}

fn since(t: &GoTime) -> i128 {
    let now = GoTime::now();
    (now.secs as i128 - t.secs as i128) * 1_000_000_000 + (now.nanos as i128 - t.nanos as i128)
}

pub(super) fn register(m: &mut FuncMap) {
    use Ty::{Any, String as Str};
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    m.insert("now", Function::fixed(&[], |_| Ok(time_value(GoTime::now()))));
    m.insert(
        "date",
        Function::fixed(&[Str, Any], move |a| Ok(Value::from(in_zone(to_time(&a[1]), "Local").format(&s(&a[0]))))),
    );
    for name in ["dateInZone", "date_in_zone"] {
        m.insert(
            name,
            Function::fixed(&[Str, Any, Str], move |a| {
                Ok(Value::from(in_zone(to_time(&a[1]), &s(&a[2])).format(&s(&a[0]))))
            }),
        );
    }
    m.insert(
        "htmlDate",
        Function::fixed(&[Any], |a| Ok(Value::from(in_zone(to_time(&a[0]), "Local").format("2006-01-02")))),
    );
    m.insert(
        "htmlDateInZone",
        Function::fixed(&[Any, Str], move |a| Ok(Value::from(in_zone(to_time(&a[0]), &s(&a[1])).format("2006-01-02")))),
    );
    m.insert(
        "toDate",
        Function::fixed(&[Str, Str], move |a| {
            Ok(time_value(parse_time(&s(&a[0]), &s(&a[1])).unwrap_or_else(|_| GoTime::zero())))
        }),
    );
    m.insert(
        "mustToDate",
        Function::fixed(&[Str, Str], move |a| parse_time(&s(&a[0]), &s(&a[1])).map(time_value).map_err(FuncError::msg)),
    );
    m.insert("unixEpoch", Function::fixed(&[TIME], |a| Ok(Value::from(to_time(&a[0]).secs.to_string()))));
    for (name, must) in
        [("dateModify", false), ("date_modify", false), ("mustDateModify", true), ("must_date_modify", true)]
    {
        m.insert(
            name,
            Function::fixed(&[Str, TIME], move |a| {
                let t = to_time(&a[1]);
                let fmt = s(&a[0]);
                match parse_duration(&fmt) {
                    Some(d) => {
                        let total = t.secs as i128 * 1_000_000_000 + t.nanos as i128 + d;
                        Ok(time_value(GoTime {
                            secs: total.div_euclid(1_000_000_000) as i64,
                            nanos: total.rem_euclid(1_000_000_000) as u32,
                            ..t
                        }))
                    }
                    None if must => {
                        Err(FuncError::msg(format!("time: invalid duration {}", crate::strconv::quote(&fmt))))
                    }
                    None => Ok(time_value(t)),
                }
            }),
        );
    }
    m.insert(
        "duration",
        Function::fixed(&[Any], |a| {
            let n: i64 = match &a[0] {
                Value::String(x) => x.parse().unwrap_or(0),
                Value::Int64(i) => *i,
                _ => 0,
            };
            Ok(Value::from(duration_string(n as i128 * 1_000_000_000)))
        }),
    );
    m.insert(
        "durationRound",
        Function::fixed(&[Any], |a| {
            let d: i128 = match &a[0] {
                Value::String(x) => parse_duration(x).unwrap_or(0),
                Value::Int64(i) => *i as i128,
                Value::Object(o) => o.as_any().downcast_ref::<GoTime>().map(since).unwrap_or(0),
                _ => 0,
            };
            let u = d.unsigned_abs();
            let hour: u128 = 3_600_000_000_000;
            let units: [(u128, &str); 6] = [
                (hour * 24 * 365, "y"),
                (hour * 24 * 30, "mo"),
                (hour * 24, "d"),
                (hour, "h"),
                (60_000_000_000, "m"),
                (1_000_000_000, "s"),
            ];
            for (unit, suffix) in units {
                if u > unit {
                    return Ok(Value::from(format!("{}{suffix}", u / unit)));
                }
            }
            Ok(Value::string("0s"))
        }),
    );
    m.insert(
        "ago",
        Function::fixed(&[Any], |a| {
            let d = since(&to_time(&a[0]));
            let rounded = (d + if d >= 0 { 500_000_000 } else { -500_000_000 }) / 1_000_000_000 * 1_000_000_000;
            Ok(Value::from(duration_string(rounded)))
        }),
    );
    let _ = to_int64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_go() {
        let t = GoTime::unix(1_700_000_000);
        assert_eq!(t.format("2006-01-02T15:04:05Z07:00"), "2023-11-14T22:13:20Z");
        assert_eq!(t.format("Mon Jan _2 3:04PM 2006"), "Tue Nov 14 10:13PM 2023");
        assert_eq!(t.display(), "2023-11-14 22:13:20 +0000 UTC");
        let p = parse_time("2006-01-02", "2023-11-14").unwrap();
        assert_eq!(p.secs, 1_699_920_000);
        assert_eq!(duration_string(3_661_000_000_000), "1h1m1s");
        assert_eq!(duration_string(1_500_000), "1.5ms");
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
    }
}
