//! Go's `strconv` as templates need it: quoting (`%q`, error messages), string
//! and character literals, and float formatting, where Go's shortest `%v`
//! (`1e+06`) is what Helm users see for big numbers in values.

/// Go's `strconv.Quote`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune`.
pub fn quote_rune(c: char) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'');
    out.push('\'');
    out
}

/// Go's `strconv.QuoteToASCII`-free escaping of one rune inside quotes.
fn push_escaped(out: &mut String, c: char, q: char) {
    match c {
        _ if c == q => {
            out.push('\\');
            out.push(c);
        }
        '\\' => out.push_str("\\\\"),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        _ if is_print(c) => out.push(c),
        _ if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
        _ if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        _ => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// An approximation of Go's `unicode.IsPrint`: letters, marks, numbers,
/// punctuation, symbols and the ASCII space.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    // Format characters and private use, surrogates, non-characters.
    !matches!(u, 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff | 0xfffe | 0xffff)
}

/// Go's `strconv.Unquote` for `"..."`, `` `...` `` and `'...'` literals.
pub fn unquote(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    if bytes.len() < 2 {
        return Err("invalid syntax".into());
    }
    let q = bytes[0];
    if q != bytes[bytes.len() - 1] {
        return Err("invalid syntax".into());
    }
    let body = &s[1..s.len() - 1];
    match q {
        b'`' => {
            if body.contains('`') {
                return Err("invalid syntax".into());
            }
            Ok(body.replace('\r', ""))
        }
        b'"' | b'\'' => {
            let mut out = String::new();
            let mut rest = body;
            while !rest.is_empty() {
                let (c, tail) = unquote_char(rest, q as char)?;
                match c {
                    Unquoted::Char(c) => {
                        if q == b'"' && c == '"' && !rest.starts_with('\\') {
                            return Err("invalid syntax".into());
                        }
                        out.push(c)
                    }
                    Unquoted::Byte(b) => out.push(b as char),
                }
                rest = tail;
                if q == b'\'' && !rest.is_empty() {
                    return Err("invalid syntax".into());
                }
            }
            if q == b'\'' && out.is_empty() {
                return Err("invalid syntax".into());
            }
            Ok(out)
        }
        _ => Err("invalid syntax".into()),
    }
}

/// One decoded unit of a quoted literal.
pub enum Unquoted {
    /// A rune.
    Char(char),
    /// A `\x` or octal escape: a raw byte in Go; Latin-1 here.
    Byte(u8),
}

/// Go's `strconv.UnquoteChar`: decodes the first character or escape of `s`.
pub fn unquote_char(s: &str, quote: char) -> Result<(Unquoted, &str), String> {
    let mut chars = s.chars();
    let c = chars.next().ok_or("invalid syntax")?;
    if c == quote && (quote == '\'' || quote == '"') {
        return Err("invalid syntax".into());
    }
    if c != '\\' {
        return Ok((Unquoted::Char(c), chars.as_str()));
    }
    let e = chars.next().ok_or("invalid syntax")?;
    let rest = chars.as_str();
    let simple = match e {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        '\\' => Some('\\'),
        '\'' | '"' => {
            if e != quote {
                return Err("invalid syntax".into());
            }
            Some(e)
        }
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((Unquoted::Char(c), rest));
    }
    let hex = |n: usize| -> Result<(u32, &str), String> {
        if rest.len() < n || !rest.is_char_boundary(n) {
            return Err("invalid syntax".into());
        }
        let v = u32::from_str_radix(&rest[..n], 16).map_err(|_| "invalid syntax".to_string())?;
        if !rest[..n].chars().all(|c| c.is_ascii_hexdigit()) {
            return Err("invalid syntax".into());
        }
        Ok((v, &rest[n..]))
    };
    match e {
        'x' => {
            let (v, tail) = hex(2)?;
            Ok((Unquoted::Byte(v as u8), tail))
        }
        'u' | 'U' => {
            let (v, tail) = hex(if e == 'u' { 4 } else { 8 })?;
            let c = char::from_u32(v).ok_or("invalid syntax")?;
            Ok((Unquoted::Char(c), tail))
        }
        '0'..='7' => {
            let digits = format!("{e}{}", rest.get(..2).ok_or("invalid syntax")?);
            if !digits.chars().all(|c| ('0'..='7').contains(&c)) {
                return Err("invalid syntax".into());
            }
            let v = u32::from_str_radix(&digits, 8).map_err(|_| "invalid syntax".to_string())?;
            if v > 255 {
                return Err("invalid syntax".into());
            }
            Ok((Unquoted::Byte(v as u8), &rest[2..]))
        }
        _ => Err("invalid syntax".into()),
    }
}

/// Decimal digits of a float and the position of the decimal point (Go's
/// `decimalSlice`: value = 0.d1d2... × 10^dp).
struct Digits {
    neg: bool,
    digits: Vec<u8>,
    dp: i32,
}

fn parse_sci(s: &str) -> Digits {
    // Rust's `{:e}` form: -d.ddde-N
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits == [b'0'] {
        return Digits { neg, digits: Vec::new(), dp: 0 };
    }
    Digits { neg, digits, dp: exp + 1 }
}

fn shortest(f: f64) -> Digits {
    parse_sci(&format!("{f:e}"))
}

fn rounded(f: f64, sig: usize) -> Digits {
    parse_sci(&format!("{:.*e}", sig.saturating_sub(1), f))
}

fn fmt_e(d: &Digits, prec: usize, e: char) -> String {
    let mut out = String::new();
    if d.neg {
        out.push('-');
    }
    let first = d.digits.first().copied().unwrap_or(b'0');
    out.push(first as char);
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(d.digits.get(i).copied().unwrap_or(b'0') as char);
        }
    }
    out.push(e);
    let exp = if d.digits.is_empty() { 0 } else { d.dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.unsigned_abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
    out
}

fn fmt_f(d: &Digits, prec: usize) -> String {
    let mut out = String::new();
    if d.neg {
        out.push('-');
    }
    if d.dp > 0 {
        for i in 0..d.dp as usize {
            out.push(d.digits.get(i).copied().unwrap_or(b'0') as char);
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i32 {
            let j = d.dp + i;
            let c = if j < 0 { b'0' } else { d.digits.get(j as usize).copied().unwrap_or(b'0') };
            out.push(c as char);
        }
    }
    out
}

/// Go's `strconv.FormatFloat(f, verb, prec, 64)` for verbs `e E f g G`
/// (`prec` -1 means the shortest representation that reads back exactly).
pub fn format_float(f: f64, verb: char, prec: i32) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let neg = f.is_sign_negative();
    match verb {
        'e' | 'E' => {
            if prec < 0 {
                let mut d = shortest(f);
                d.neg = neg;
                let p = d.digits.len().saturating_sub(1);
                fmt_e(&d, p, verb)
            } else {
                let mut d = rounded(f, prec as usize + 1);
                d.neg = neg;
                fmt_e(&d, prec as usize, verb)
            }
        }
        'f' | 'F' => {
            if prec < 0 {
                let mut d = shortest(f);
                d.neg = neg;
                let p = (d.digits.len() as i32 - d.dp).max(0) as usize;
                fmt_f(&d, p)
            } else {
                let s = format!("{:.*}", prec as usize, f.abs());
                if neg { format!("-{s}") } else { s }
            }
        }
        'g' | 'G' => {
            let e = if verb == 'g' { 'e' } else { 'E' };
            let (mut d, shortest_mode, mut prec) = if prec < 0 {
                let d = shortest(f);
                let n = d.digits.len() as i32;
                (d, true, n)
            } else {
                let p = if prec == 0 { 1 } else { prec };
                (rounded(f, p as usize), false, p)
            };
            d.neg = neg;
            let nd = d.digits.len() as i32;
            let mut eprec = prec;
            if eprec > nd && nd >= d.dp {
                eprec = nd;
            }
            if shortest_mode {
                eprec = 6;
            }
            let exp = if nd == 0 { 0 } else { d.dp - 1 };
            if exp < -4 || exp >= eprec {
                if prec > nd {
                    prec = nd;
                }
                return fmt_e(&d, (prec - 1).max(0) as usize, e);
            }
            if prec > d.dp {
                prec = nd;
            }
            fmt_f(&d, (prec - d.dp).max(0) as usize)
        }
        _ => format!("%{verb}"),
    }
}

/// Go's `%v` of a float64: shortest digits, exponent form from 1e+21 and
/// below 1e-4 (and from 1e+06 for 'g' shortest, as Go does).
pub fn format_float_v(f: f64) -> String {
    format_float(f, 'g', -1)
}

/// Go's `strconv.ParseUint`/`ParseInt` with base 0 (prefixes and underscores).
pub fn parse_go_uint(text: &str) -> Option<u64> {
    let (base, digits, prefixed) = if let Some(r) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        (16, r, true)
    } else if let Some(r) = text.strip_prefix("0o").or_else(|| text.strip_prefix("0O")) {
        (8, r, true)
    } else if let Some(r) = text.strip_prefix("0b").or_else(|| text.strip_prefix("0B")) {
        (2, r, true)
    } else if text.len() > 1 && text.starts_with('0') {
        (8, &text[1..], true)
    } else {
        (10, text, false)
    };
    if digits.is_empty() {
        return None;
    }
    if digits.contains('_') && !underscore_ok(text) {
        return None;
    }
    let _ = prefixed;
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() {
        return None;
    }
    u64::from_str_radix(&clean, base).ok()
}

/// Go's `underscoreOK`: underscores only between digits or after a base prefix.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = '^';
    let mut i = 0;
    if !b.is_empty() && (b[0] == b'-' || b[0] == b'+') {
        i = 1;
    }
    let mut hex = false;
    if b.len() - i >= 2 && b[i] == b'0' {
        let c = b[i + 1] | 0x20;
        if c == b'x' || c == b'o' || c == b'b' {
            hex = c == b'x';
            i += 2;
            saw = '0';
        }
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = '0';
        } else if c == b'_' {
            if saw != '0' {
                return false;
            }
            saw = '_';
        } else {
            if saw == '_' {
                return false;
            }
            saw = '!';
        }
        i += 1;
    }
    saw != '_'
}

/// Go's `strconv.ParseInt(text, 0, 64)`.
pub fn parse_go_int(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let u = parse_go_uint(body)?;
    if neg {
        if u <= i64::MAX as u64 + 1 { Some((u as i128).wrapping_neg() as i64) } else { None }
    } else if u <= i64::MAX as u64 {
        Some(u as i64)
    } else {
        None
    }
}

/// Go's `strconv.ParseFloat(text, 64)` (decimal and hex forms, underscores).
pub fn parse_go_float(text: &str) -> Option<f64> {
    if text.contains('_') && !underscore_ok(text) {
        return None;
    }
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, &clean[..]),
    };
    let v = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let (mant, exp) = hex.split_once(['p', 'P'])?;
        let exp: i32 = exp.parse().ok()?;
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        let mut v = 0f64;
        for c in int.chars() {
            v = v * 16.0 + c.to_digit(16)? as f64;
        }
        let mut scale = 1.0 / 16.0;
        for c in frac.chars() {
            v += c.to_digit(16)? as f64 * scale;
            scale /= 16.0;
        }
        v * 2f64.powi(exp)
    } else {
        if body.is_empty() || !body.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')) {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// Go's view of bytes as text: valid UTF-8 kept, each invalid byte one
/// U+FFFD (as Go's `range` over a string and its JSON encoder see them).
pub fn from_go_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    let mut rest = b;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(after.len());
                for _ in 0..bad {
                    out.push('\u{FFFD}');
                }
                rest = &after[bad..];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go() {
        assert_eq!(format_float_v(1_000_000.0), "1e+06");
        assert_eq!(format_float_v(100_000.0), "100000");
        assert_eq!(format_float_v(1_234_567.0), "1.234567e+06");
        assert_eq!(format_float_v(3.5), "3.5");
        assert_eq!(format_float_v(0.0001), "0.0001");
        assert_eq!(format_float_v(0.00001), "1e-05");
        assert_eq!(format_float_v(0.0), "0");
        assert_eq!(format_float_v(-2.0), "-2");
        assert_eq!(format_float(1.23456, 'f', 2), "1.23");
        assert_eq!(format_float(1.0, 'f', -1), "1");
        assert_eq!(format_float(1234.5678, 'e', 3), "1.235e+03");
        assert_eq!(format_float(1234.5678, 'g', 3), "1.23e+03");
        assert_eq!(format_float(0.5, 'g', 3), "0.5");
        assert_eq!(format_float(100.0, 'g', -1), "100");
        assert_eq!(format_float(1e21, 'g', -1), "1e+21");
        assert_eq!(format_float(1.0, 'e', -1), "1e+00");
    }

    #[test]
    fn quoting_as_go() {
        assert_eq!(quote("a\"b\n\x01é"), "\"a\\\"b\\n\\x01é\"");
        assert_eq!(unquote("\"a\\tb\\u00e9\"").unwrap(), "a\tbé");
        assert_eq!(unquote("`a\\n`").unwrap(), "a\\n");
        assert!(unquote("\"a").is_err());
    }
}
