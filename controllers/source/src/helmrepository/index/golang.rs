//! The few Go library behaviours the stored index depends on, so that the
//! bytes Ferry stores are the bytes Flux stores: `encoding/json`'s string
//! escaping and float64 formatting, `strconv.FormatFloat(f, 'g', -1, 32)`
//! (what `sigs.k8s.io/yaml` turns a YAML float into when a string is
//! expected), `time.Time`'s strict RFC 3339 parsing and RFC3339Nano
//! formatting, and Helm's `sanitizeString`.

use std::fmt::Write as _;

use unicode_general_category::{GeneralCategory, get_general_category};

/// Appends `s` as a JSON string, escaped as Go's `encoding/json` does with
/// HTML escaping on (`<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes).
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The shortest decimal digits of a float and its decimal exponent, as
/// `d.ddd × 10^exp`, from Rust's shortest round-trip formatting (the same
/// digits Go's shortest formatting picks).
fn shortest_digits(exp_form: &str) -> (bool, String, i32) {
    let (mantissa, exp) = exp_form.split_once('e').unwrap_or((exp_form, "0"));
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (negative, digits, exp.parse().unwrap_or(0))
}

/// Go's `%e` rendering of shortest digits: `d.ddde+XX`.
fn format_e(negative: bool, digits: &str, exp: i32) -> String {
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.unsigned_abs());
    out
}

/// Go's `%f` rendering of shortest digits with no more fraction than they need.
fn format_f(negative: bool, digits: &str, exp: i32) -> String {
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(digits);
    } else if point as usize >= digits.len() {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
    out
}

/// `strconv.FormatFloat(f, 'g', -1, 32)`.
pub fn format_float32_g(f: f64) -> String {
    let f = f as f32;
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let (negative, digits, exp) = shortest_digits(&format!("{f:e}"));
    // strconv: "if precision was the shortest possible, use precision 6 for
    // this decision".
    if !(-4..6).contains(&exp) { format_e(negative, &digits, exp) } else { format_f(negative, &digits, exp) }
}

/// A float64 as Go's `encoding/json` writes it (`'f'` between 1e-6 and
/// 1e21, else `'e'` with a two-digit exponent at least), or `None` for the
/// values JSON cannot hold (NaN, infinities), which Go refuses to encode.
pub fn format_float64_json(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    if f == 0.0 {
        return Some(if f.is_sign_negative() { "-0".into() } else { "0".into() });
    }
    let (negative, digits, exp) = shortest_digits(&format!("{f:e}"));
    let abs = f.abs();
    Some(if !(1e-6..1e21).contains(&abs) { format_e(negative, &digits, exp) } else { format_f(negative, &digits, exp) })
}

/// Why a time is not what Go's `time.Time` reads from JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parsing time {0:?} as RFC 3339: not a valid timestamp")]
pub struct TimeError(pub String);

/// A time as Go's `time.Time` JSON decoder (strict RFC 3339) reads it,
/// re-rendered as its encoder writes it (RFC3339Nano: fraction without
/// trailing zeros, `Z` for a zero offset).
pub fn normalize_time(text: &str) -> Result<String, TimeError> {
    let fail = || TimeError(text.to_string());
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Result<u32, TimeError> {
        let part = b.get(range).ok_or_else(fail)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(fail());
        }
        std::str::from_utf8(part).map_err(|_| fail())?.parse().map_err(|_| fail())
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return Err(fail());
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month)
        || day < 1
        || day > days[month as usize - 1]
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(fail());
    }
    let mut rest = &text[19..];
    let mut fraction = String::new();
    if let Some(after) = rest.strip_prefix('.') {
        let n = after.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(fail());
        }
        fraction = after[..n.min(9)].trim_end_matches('0').to_string();
        rest = &after[n..];
    }
    let zone = match rest {
        "Z" => "Z".to_string(),
        _ => {
            let z = rest.as_bytes();
            if z.len() != 6 || !(z[0] == b'+' || z[0] == b'-') || z[3] != b':' {
                return Err(fail());
            }
            let zh: u32 = rest[1..3].parse().map_err(|_| fail())?;
            let zm: u32 = rest[4..6].parse().map_err(|_| fail())?;
            if !rest[1..3].bytes().chain(rest[4..6].bytes()).all(|c| c.is_ascii_digit()) || zh > 23 || zm > 59 {
                return Err(fail());
            }
            if zh == 0 && zm == 0 { "Z".to_string() } else { rest.to_string() }
        }
    };
    let mut out = text[..19].to_string();
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(&fraction);
    }
    out.push_str(&zone);
    Ok(out)
}

/// The zero `time.Time`, as Go encodes it.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Helm's `sanitizeString`: white space becomes a plain space, characters
/// Go's `unicode.IsPrint` rejects (controls, format characters, private
/// use, unassigned) are dropped.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if is_space(c) {
                return Some(' ');
            }
            use GeneralCategory as G;
            match get_general_category(c) {
                G::Control
                | G::Format
                | G::Surrogate
                | G::PrivateUse
                | G::Unassigned
                | G::SpaceSeparator
                | G::LineSeparator
                | G::ParagraphSeparator => None,
                _ => Some(c),
            }
        })
        .collect()
}

/// Go's `unicode.IsSpace`.
fn is_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}')
        || (c as u32 > 0xff && c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_go_does() {
        let mut out = String::new();
        write_string(&mut out, "a<b>&\"\\\n\u{1}\u{2028}é");
        assert_eq!(out, r#""a\u003cb\u003e\u0026\"\\\n\u0001\u2028é""#);
    }

    #[test]
    fn yaml_floats_become_strings_as_sigs_yaml_makes_them() {
        assert_eq!(format_float32_g(1.10), "1.1");
        assert_eq!(format_float32_g(1.0), "1");
        assert_eq!(format_float32_g(0.1), "0.1");
        assert_eq!(format_float32_g(1234567.0), "1.234567e+06");
        assert_eq!(format_float32_g(123456.0), "123456");
        assert_eq!(format_float32_g(0.0001), "0.0001");
        assert_eq!(format_float32_g(0.00001), "1e-05");
    }

    #[test]
    fn json_floats_are_written_as_go_does() {
        assert_eq!(format_float64_json(5.0).as_deref(), Some("5"));
        assert_eq!(format_float64_json(0.5).as_deref(), Some("0.5"));
        assert_eq!(format_float64_json(1e21).as_deref(), Some("1e+21"));
        assert_eq!(format_float64_json(1e20).as_deref(), Some("100000000000000000000"));
        assert_eq!(format_float64_json(0.000001).as_deref(), Some("0.000001"));
        assert_eq!(format_float64_json(0.0000001).as_deref(), Some("1e-07"));
        assert_eq!(format_float64_json(f64::NAN), None);
    }

    #[test]
    fn times_are_read_strictly_and_written_as_rfc3339nano() {
        assert_eq!(
            normalize_time("2016-10-06T16:23:20.499814565-06:00").unwrap(),
            "2016-10-06T16:23:20.499814565-06:00"
        );
        assert_eq!(normalize_time("2016-10-06T16:23:20.500000000+00:00").unwrap(), "2016-10-06T16:23:20.5Z");
        assert_eq!(normalize_time("2016-10-06T16:23:20Z").unwrap(), "2016-10-06T16:23:20Z");
        assert!(normalize_time("2016-10-06 16:23:20Z").is_err());
        assert!(normalize_time("2016-02-30T16:23:20Z").is_err());
        assert!(normalize_time("2016-10-06T16:23:20").is_err());
    }

    #[test]
    fn sanitize_keeps_printable_text() {
        assert_eq!(sanitize("a\tb\nc\u{200b}d\u{1}é"), "a b cdé");
    }
}
