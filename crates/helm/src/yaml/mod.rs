//! YAML as Go's Helm reads and writes it: `sigs.k8s.io/yaml` over `yaml.v2`.

pub mod decode;
pub mod encode;

/// Go's `strconv.FormatFloat(f, fmt, -1, bits)` (shortest representation) for the formats Helm's
/// output goes through: `'g'` (`%v`), `'e'` and `'f'`.
pub fn format_float(f: f64, fmt: char, bits: u32) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    // Shortest round-trip digits and decimal exponent, from Rust's own shortest formatting.
    let sci = if bits == 32 { format!("{:e}", f as f32) } else { format!("{f:e}") };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = if digits.chars().all(|c| c == '0') { "0".to_string() } else { digits };
    // `dp`: position of the decimal point relative to the digits (Go's `digs.dp`).
    let dp = if digits == "0" { 0 } else { exp + 1 };
    let nd = digits.len() as i32;
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    let use_e = match fmt {
        'e' => true,
        'f' => false,
        _ => {
            let eprec = 6;
            let x = dp - 1;
            (x < -4 || x >= eprec) && digits != "0"
        }
    };
    if use_e {
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = if digits == "0" { 0 } else { dp - 1 };
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        let a = e.abs();
        if a < 10 {
            out.push('0');
        }
        out.push_str(&a.to_string());
    } else {
        if dp <= 0 {
            out.push('0');
            if nd > 0 && digits != "0" {
                out.push('.');
                for _ in 0..(-dp) {
                    out.push('0');
                }
                out.push_str(&digits);
            }
        } else if dp >= nd {
            out.push_str(&digits);
            for _ in 0..(dp - nd) {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..dp as usize]);
            out.push('.');
            out.push_str(&digits[dp as usize..]);
        }
    }
    out
}

/// A float as Go's `encoding/json` writes it.
pub fn json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format_float(f, 'e', 64);
        // Go cleans up `e-09` to `e-9`.
        if let Some(pos) = s.find("e-0") {
            let mut t = s.clone();
            t.remove(pos + 2);
            return t;
        }
        s
    } else {
        format_float(f, 'f', 64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formats() {
        assert_eq!(format_float(1.0, 'g', 64), "1");
        assert_eq!(format_float(1e6, 'g', 64), "1e+06");
        assert_eq!(format_float(123456.0, 'g', 64), "123456");
        assert_eq!(format_float(0.0001, 'g', 64), "0.0001");
        assert_eq!(format_float(0.00001, 'g', 64), "1e-05");
        assert_eq!(format_float(1.5, 'g', 64), "1.5");
        assert_eq!(format_float(-2.25e10, 'g', 64), "-2.25e+10");
        assert_eq!(format_float(0.0, 'g', 64), "0");
        assert_eq!(json_float(1e6), "1000000");
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(1e-7), "1e-7");
        assert_eq!(json_float(0.5), "0.5");
    }
}
