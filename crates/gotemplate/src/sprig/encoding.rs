//! Sprig's base64 and base32 functions; decoding failures return Go's error
//! text as the result, as Sprig does.

use base64::Engine;

use crate::func::{FuncMap, Function};
use crate::sig::Ty;
use crate::value::Value;

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Go's `base32.StdEncoding.EncodeToString`.
fn b32enc(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(B32[((bits >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Go's `base32.StdEncoding.DecodeString`, with Go's error text.
fn b32dec(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(8) {
        return Err(format!("illegal base32 data at input byte {}", b.len() / 8 * 8));
    }
    let mut out = Vec::new();
    for (ci, chunk) in b.chunks(8).enumerate() {
        let mut bits: u64 = 0;
        let mut n = 0;
        for (i, &c) in chunk.iter().enumerate() {
            if c == b'=' {
                if ci != b.len() / 8 - 1 || !chunk[i..].iter().all(|&x| x == b'=') || !matches!(i, 2 | 4 | 5 | 7) {
                    return Err(format!("illegal base32 data at input byte {}", ci * 8 + i));
                }
                break;
            }
            let Some(v) = B32.iter().position(|&x| x == c) else {
                return Err(format!("illegal base32 data at input byte {}", ci * 8 + i));
            };
            bits |= (v as u64) << (35 - i * 5);
            n = i + 1;
        }
        let bytes = bits.to_be_bytes();
        let count = match n {
            2 => 1,
            4 => 2,
            5 => 3,
            7 => 4,
            _ => 5,
        };
        out.extend_from_slice(&bytes[3..3 + count]);
    }
    Ok(out)
}

/// Go's `base64.StdEncoding.DecodeString` error text.
fn b64dec(s: &str) -> Result<Vec<u8>, String> {
    use base64::DecodeError;
    base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| match e {
        DecodeError::InvalidByte(i, _) => format!("illegal base64 data at input byte {i}"),
        DecodeError::InvalidLength(n) => format!("illegal base64 data at input byte {}", n / 4 * 4),
        DecodeError::InvalidLastSymbol(i, _) => format!("illegal base64 data at input byte {i}"),
        DecodeError::InvalidPadding => format!("illegal base64 data at input byte {}", s.len().saturating_sub(1)),
    })
}

fn text(b: Vec<u8>) -> Value {
    Value::from(crate::strconv::from_go_bytes(&b))
}

pub(super) fn register(m: &mut FuncMap) {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    m.insert(
        "b64enc",
        Function::fixed(&[Ty::String], move |a| {
            Ok(Value::from(base64::engine::general_purpose::STANDARD.encode(s(&a[0]))))
        }),
    );
    m.insert(
        "b64dec",
        Function::fixed(&[Ty::String], move |a| Ok(b64dec(&s(&a[0])).map(text).unwrap_or_else(Value::from))),
    );
    m.insert("b32enc", Function::fixed(&[Ty::String], move |a| Ok(Value::from(b32enc(s(&a[0]).as_bytes())))));
    m.insert(
        "b32dec",
        Function::fixed(&[Ty::String], move |a| Ok(b32dec(&s(&a[0])).map(text).unwrap_or_else(Value::from))),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trip() {
        assert_eq!(b32enc(b"hello"), "NBSWY3DP");
        assert_eq!(b32enc(b"hi"), "NBUQ====");
        assert_eq!(b32dec("NBUQ====").unwrap(), b"hi");
    }
}
