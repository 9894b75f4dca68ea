//! Go's `fmt` for template values: `%v` printing of maps (`map[a:1]`), slices
//! (`[a b]`) and floats (`1e+06`), and `Sprintf` with Go's verbs, flags and
//! `%!verb(type=value)` complaints, since charts print through these.

use std::fmt::Write;

use crate::strconv::{format_float, format_float_v, quote, quote_rune};
use crate::value::Value;

/// Appends Go's `%v` of `v` (nil is `<nil>`).
pub fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Missing | Value::Nil => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&format_float_v(*f)),
        Value::String(s) => out.push_str(s),
        Value::Bytes(b) => write_bytes(out, b),
        Value::List(items, _) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, x);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, x)) in m.read().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_value(out, x);
            }
            out.push(']');
        }
        Value::Object(o) => match o.map_entries() {
            Some(entries) => {
                out.push_str("map[");
                for (i, (k, x)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    write_value(out, x);
                }
                out.push(']');
            }
            None => out.push_str(&o.display()),
        },
    }
}

/// `" 0"` to `" 255"`: a space and the decimal digits of each byte, padded to
/// four bytes, with the used length.
const BYTE_DIGITS: [([u8; 4], u8); 256] = {
    let mut t = [([0u8; 4], 0u8); 256];
    let mut x = 0;
    while x < 256 {
        let v = x as u8;
        t[x] = if v >= 100 {
            ([b' ', b'0' + v / 100, b'0' + v / 10 % 10, b'0' + v % 10], 4)
        } else if v >= 10 {
            ([b' ', b'0' + v / 10, b'0' + v % 10, 0], 3)
        } else {
            ([b' ', b'0' + v, 0, 0], 2)
        };
        x += 1;
    }
    t
};

/// Go's `%v` of a `[]byte`: `[104 105]`. Charts print whole file maps this
/// way (a `dict` keyed by `$` formats every file of `.Files`), so the digits
/// come from a table through a small ASCII buffer.
fn write_bytes(out: &mut String, b: &[u8]) {
    out.reserve(b.len() * 4 + 2);
    out.push('[');
    let mut buf = [0u8; 4 * 1024 + 4];
    for (n, chunk) in b.chunks(1024).enumerate() {
        let mut len = 0;
        for &x in chunk {
            let (digits, used) = BYTE_DIGITS[x as usize];
            buf[len..len + 4].copy_from_slice(&digits);
            len += used as usize;
        }
        // The first byte goes without its separating space.
        let from = usize::from(n == 0);
        // Only ASCII digits and spaces were written.
        out.push_str(std::str::from_utf8(&buf[from.min(len)..len]).unwrap_or_default());
    }
    out.push(']');
}

/// Go's `%v` of `v` as a new string.
pub fn to_string(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        write_value(&mut out, a);
        prev_string = is_string;
    }
    out
}

/// Go's `fmt.Sprintln`: spaces between all operands, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_value(&mut out, a);
    }
    out.push('\n');
    out
}

#[derive(Default, Clone, Copy)]
struct Flags {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go's `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut arg_num = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut f = Flags::default();
        // Flags.
        while let Some(&(_, c)) = chars.peek() {
            match c {
                '-' => {
                    f.minus = true;
                    f.zero = false;
                }
                '+' => f.plus = true,
                '#' => f.sharp = true,
                ' ' => f.space = true,
                '0' => f.zero = !f.minus,
                _ => break,
            }
            chars.next();
        }
        // Width.
        if let Some(&(_, '*')) = chars.peek() {
            chars.next();
            match args.get(arg_num) {
                Some(Value::Int(w) | Value::Int64(w)) => {
                    arg_num += 1;
                    if *w < 0 {
                        f.minus = true;
                        f.zero = false;
                    }
                    f.width = Some(w.unsigned_abs() as usize);
                }
                _ => {
                    arg_num += 1;
                    out.push_str("%!(BADWIDTH)");
                }
            }
        } else {
            let mut w = String::new();
            while let Some(&(_, c)) = chars.peek() {
                if !c.is_ascii_digit() {
                    break;
                }
                w.push(c);
                chars.next();
            }
            if !w.is_empty() {
                f.width = w.parse().ok();
            }
        }
        // Precision.
        if let Some(&(_, '.')) = chars.peek() {
            chars.next();
            if let Some(&(_, '*')) = chars.peek() {
                chars.next();
                match args.get(arg_num) {
                    Some(Value::Int(p) | Value::Int64(p)) if *p >= 0 => {
                        f.prec = Some(*p as usize);
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                arg_num += 1;
            } else {
                let mut p = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if !c.is_ascii_digit() {
                        break;
                    }
                    p.push(c);
                    chars.next();
                }
                f.prec = Some(p.parse().unwrap_or(0));
            }
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(arg_num) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        arg_num += 1;
        format_arg(&mut out, arg, verb, &f);
    }
    if arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[arg_num..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if a.is_nil() {
                out.push_str("<nil>");
            } else {
                let _ = write!(out, "{}=", a.type_name());
                write_value(&mut out, a);
            }
        }
        out.push(')');
    }
    out
}

fn pad(out: &mut String, s: &str, f: &Flags) {
    let n = s.chars().count();
    let width = f.width.unwrap_or(0);
    if n >= width {
        out.push_str(s);
        return;
    }
    let fill = width - n;
    if f.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if f.zero {
        // Zero padding goes after the sign.
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'-' | b'+' | b' ') => s.split_at(1),
            _ => ("", s),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, arg: &Value, verb: char) {
    if arg.is_nil() {
        let _ = write!(out, "%!{verb}(<nil>)");
        return;
    }
    let _ = write!(out, "%!{verb}({}=", arg.type_name());
    write_value(out, arg);
    out.push(')');
}

fn fmt_int(out: &mut String, i: i64, verb: char, f: &Flags, arg: &Value) {
    let neg = i < 0;
    let u = i.unsigned_abs();
    let mut digits = match verb {
        'd' | 'v' => u.to_string(),
        'b' => format!("{u:b}"),
        'o' | 'O' => format!("{u:o}"),
        'x' => format!("{u:x}"),
        'X' => format!("{u:X}"),
        'c' => {
            let s = char::from_u32(i as u32).unwrap_or('\u{fffd}').to_string();
            pad(out, &s, f);
            return;
        }
        'q' => {
            let s = quote_rune(char::from_u32(i as u32).unwrap_or('\u{fffd}'));
            pad(out, &s, f);
            return;
        }
        'U' => {
            let s = format!("U+{:04X}", u);
            pad(out, &s, f);
            return;
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 's' | 't' => {
            bad_verb(out, arg, verb);
            return;
        }
        _ => {
            bad_verb(out, arg, verb);
            return;
        }
    };
    if let Some(p) = f.prec {
        if p == 0 && u == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let prefix = match verb {
        'x' if f.sharp => "0x",
        'X' if f.sharp => "0X",
        'o' if f.sharp => "0",
        'O' => "0o",
        'b' if f.sharp => "0b",
        _ => "",
    };
    let sign = if neg {
        "-"
    } else if f.plus {
        "+"
    } else if f.space {
        " "
    } else {
        ""
    };
    let s = format!("{sign}{prefix}{digits}");
    let mut f2 = *f;
    if f.prec.is_some() {
        f2.zero = false;
    }
    pad(out, &s, &f2);
}

fn fmt_float(out: &mut String, x: f64, verb: char, f: &Flags) {
    let (v, prec) = match verb {
        'v' => ('g', -1),
        'g' | 'G' => (verb, -1),
        'e' | 'E' | 'f' => (verb, 6),
        'F' => ('f', 6),
        _ => (verb, -1),
    };
    let prec = f.prec.map(|p| p as i32).unwrap_or(prec);
    let mut s = format_float(x, v, prec);
    if f.sharp && !s.contains('.') && !s.contains("Inf") && !s.contains("NaN") {
        match s.find(['e', 'E']) {
            Some(i) => s.insert(i, '.'),
            None => s.push('.'),
        }
    }
    if !s.starts_with('-') && !s.starts_with('+') {
        if f.plus {
            s.insert(0, '+');
        } else if f.space {
            s.insert(0, ' ');
        }
    } else if s.starts_with('+') && !f.plus {
        // +Inf keeps its sign only when asked.
        if s == "+Inf" {
            s.remove(0);
        }
    }
    let mut f2 = *f;
    if x.is_infinite() || x.is_nan() {
        f2.zero = false;
    }
    pad(out, &s, &f2);
}

fn fmt_string(out: &mut String, s: &str, verb: char, f: &Flags, arg: &Value) {
    match verb {
        'v' | 's' => {
            let s: String = match f.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            pad(out, &s, f);
        }
        'q' => {
            let s = if f.sharp && !s.contains('`') { format!("`{s}`") } else { quote(s) };
            pad(out, &s, f);
        }
        'x' | 'X' => {
            let mut h = String::new();
            for (i, b) in s.bytes().enumerate() {
                if f.space && i > 0 {
                    h.push(' ');
                }
                if f.sharp && (f.space || i == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                let _ = if verb == 'x' { write!(h, "{b:02x}") } else { write!(h, "{b:02X}") };
            }
            pad(out, &h, f);
        }
        _ => bad_verb(out, arg, verb),
    }
}

/// Formats an element of a slice or map: a nil element is `<nil>` whatever
/// the verb, as Go's `printValue` does.
fn format_elem(out: &mut String, x: &Value, verb: char, f: &Flags) {
    if x.is_nil() {
        pad(out, "<nil>", f);
    } else {
        format_arg(out, x, verb, f);
    }
}

/// Go's `%x` of a float64: hexadecimal mantissa, binary exponent.
fn hex_float(x: f64, upper: bool, f: &Flags) -> String {
    let mut s = String::new();
    if x.is_sign_negative() {
        s.push('-');
    } else if f.plus {
        s.push('+');
    }
    if x.is_nan() || x.is_infinite() {
        return format_float(x, 'g', -1);
    }
    let bits = x.abs().to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 && mant == 0 {
        s.push_str("0x0p+00");
    } else {
        if exp == 0 {
            // Subnormal: normalise.
            while mant & (1u64 << 52) == 0 {
                mant <<= 1;
                exp -= 1;
            }
            mant &= (1u64 << 52) - 1;
            exp += 1;
        }
        let e = exp - 1023;
        let mut digits = format!("{mant:013x}");
        while digits.ends_with('0') {
            digits.pop();
        }
        s.push_str("0x1");
        if let Some(p) = f.prec {
            let mut d: Vec<char> = digits.chars().collect();
            d.resize(p, '0');
            digits = d.into_iter().collect();
        }
        if !digits.is_empty() {
            s.push('.');
            s.push_str(&digits);
        }
        s.push_str(&format!("p{}{:02}", if e < 0 { '-' } else { '+' }, e.abs()));
    }
    if upper { s.to_uppercase() } else { s }
}

/// Formats one argument with a verb, as Go's `printArg`.
fn format_arg(out: &mut String, arg: &Value, verb: char, f: &Flags) {
    if verb == 'T' {
        pad(out, arg.type_name(), f);
        return;
    }
    match arg {
        Value::Missing | Value::Nil => match verb {
            'v' => pad(out, "<nil>", f),
            _ => bad_verb(out, arg, verb),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, f),
            _ => bad_verb(out, arg, verb),
        },
        Value::Int(i) | Value::Int64(i) => fmt_int(out, *i, verb, f, arg),
        Value::Float(x) => match verb {
            'v' | 'g' | 'G' | 'e' | 'E' | 'f' | 'F' => fmt_float(out, *x, verb, f),
            'x' | 'X' => {
                let s = hex_float(*x, verb == 'X', f);
                pad(out, &s, f);
            }
            _ => bad_verb(out, arg, verb),
        },
        Value::String(s) => fmt_string(out, s, verb, f, arg),
        Value::Bytes(b) => match verb {
            's' | 'q' | 'x' | 'X' => fmt_string(out, &String::from_utf8_lossy(b), verb, f, arg),
            _ => {
                out.push('[');
                for (i, x) in b.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    fmt_int(out, *x as i64, if verb == 'v' { 'd' } else { verb }, f, &Value::Int(*x as i64));
                }
                out.push(']');
            }
        },
        Value::List(items, _) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                format_elem(out, x, verb, f);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, x)) in m.read().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_string(out, k, verb, f, &Value::string(k));
                out.push(':');
                format_elem(out, x, verb, f);
            }
            out.push(']');
        }
        Value::Object(o) => match o.map_entries() {
            Some(entries) => {
                out.push_str("map[");
                for (i, (k, x)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    fmt_string(out, k, verb, f, &Value::string(k));
                    out.push(':');
                    format_elem(out, x, verb, f);
                }
                out.push(']');
            }
            None => match verb {
                'v' | 's' | 'q' | 'x' | 'X' => fmt_string(out, &o.display(), verb, f, arg),
                _ => bad_verb(out, arg, verb),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_as_go() {
        let s = |x: &str| Value::string(x);
        assert_eq!(
            sprintf("%s-%d-%5.2f|%-4s|%04d", &[s("a"), Value::Int(3), Value::Float(1.23456), s("b"), Value::Int(-7)]),
            "a-3- 1.23|b   |-007"
        );
        assert_eq!(sprintf("%d", &[s("x")]), "%!d(string=x)");
        assert_eq!(sprintf("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(sprintf("%d", &[Value::Int(1), s("x")]), "1%!(EXTRA string=x)");
        assert_eq!(
            sprintf("%q %v %x %t", &[s("a\"b"), Value::Nil, Value::Int(255), Value::Bool(true)]),
            "\"a\\\"b\" <nil> ff true"
        );
        assert_eq!(sprintf("%v", &[Value::Float(1e6)]), "1e+06");
        assert_eq!(sprint(&[Value::Int(1), Value::Int(2), s("a"), Value::Int(3)]), "1 2a3");
    }
}
