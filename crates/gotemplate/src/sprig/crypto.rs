//! Sprig's hashes and random values. Random and key-generating functions are
//! nondeterministic in Helm too.

use base64::Engine;
use rand::RngCore;
use sha1::Digest as _;

use crate::func::{FuncMap, Function};
use crate::sig::Ty;
use crate::value::Value;

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// Adler-32 as Go's `hash/adler32`.
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// A random (version 4) UUID in Go's `uuid.New().String()` form.
fn uuidv4() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

pub(super) fn register(m: &mut FuncMap) {
    use Ty::{Int, String as Str};
    m.insert(
        "sha1sum",
        Function::fixed(&[Str], |a| Ok(Value::from(hex::encode(sha1::Sha1::digest(s(&a[0]).as_bytes()))))),
    );
    m.insert(
        "sha256sum",
        Function::fixed(&[Str], |a| Ok(Value::from(hex::encode(sha2::Sha256::digest(s(&a[0]).as_bytes()))))),
    );
    m.insert(
        "sha512sum",
        Function::fixed(&[Str], |a| Ok(Value::from(hex::encode(sha2::Sha512::digest(s(&a[0]).as_bytes()))))),
    );
    m.insert("adler32sum", Function::fixed(&[Str], |a| Ok(Value::from(adler32(s(&a[0]).as_bytes()).to_string()))));
    m.insert("uuidv4", Function::fixed(&[], |_| Ok(Value::from(uuidv4()))));
    m.insert(
        "randBytes",
        Function::fixed(&[Int], |a| {
            let n = match &a[0] {
                Value::Int(i) => (*i).max(0) as usize,
                _ => 0,
            };
            let mut b = vec![0u8; n];
            rand::rng().fill_bytes(&mut b);
            Ok(Value::from(base64::engine::general_purpose::STANDARD.encode(b)))
        }),
    );
    m.insert("bcrypt", Function::fixed(&[Str], |a| Ok(Value::from(super::bcrypt::hash(s(&a[0]).as_bytes())))));
    m.insert(
        "htpasswd",
        Function::fixed(&[Str, Str], |a| {
            let user = s(&a[0]);
            if user.contains(':') {
                return Ok(Value::from(format!("invalid username: {user}")));
            }
            Ok(Value::from(format!("{user}:{}", super::bcrypt::hash(s(&a[1]).as_bytes()))))
        }),
    );
    m.insert(
        "derivePassword",
        Function::fixed(&[Ty::Uint32, Str, Str, Str, Str], |a| {
            let counter = match &a[0] {
                Value::Int64(i) | Value::Int(i) => *i as u32,
                _ => 0,
            };
            Ok(Value::from(super::password::derive(counter, s(&a[1]), s(&a[2]), s(&a[3]), s(&a[4]))))
        }),
    );
    m.insert("encryptAES", Function::fixed(&[Str, Str], |a| Ok(Value::from(super::aes::encrypt(s(&a[0]), s(&a[1]))))));
    m.insert("decryptAES", Function::fixed(&[Str, Str], |a| super::aes::decrypt(s(&a[0]), s(&a[1])).map(Value::from)));
    m.insert(
        "getHostByName",
        Function::fixed(&[Str], |a| {
            use std::net::ToSocketAddrs;
            let ip = (s(&a[0]), 0).to_socket_addrs().ok().and_then(|mut it| it.next()).map(|sa| sa.ip().to_string());
            Ok(Value::from(ip.unwrap_or_default()))
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        assert_eq!(adler32(b"Wikipedia"), 0x11E60398);
        let u = uuidv4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
