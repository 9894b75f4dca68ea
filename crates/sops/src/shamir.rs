//! Combining the data key from Shamir parts, as sops (after Vault) splits it:
//! each part is the y bytes of one share followed by its x coordinate, over
//! GF(2^8) with the AES polynomial.

/// GF(2^8) multiplication modulo x^8 + x^4 + x^3 + x + 1.
fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut out = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            out ^= a;
        }
        let carry = a & 0x80 != 0;
        a <<= 1;
        if carry {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    out
}

/// The multiplicative inverse (a^254); `inv(0)` is 0.
fn inv(a: u8) -> u8 {
    let mut out = 1u8;
    let mut base = a;
    let mut exp = 254u32;
    while exp > 0 {
        if exp & 1 != 0 {
            out = mul(out, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    out
}

/// Recovers the secret from at least the threshold's number of parts, or
/// `None` when the parts are malformed (different lengths, repeated x).
pub(crate) fn combine(parts: &[Vec<u8>]) -> Option<Vec<u8>> {
    let len = parts.first()?.len();
    if len < 2 || parts.iter().any(|p| p.len() != len) {
        return None;
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return None;
        }
    }
    let mut secret = vec![0u8; len - 1];
    for (byte, out) in secret.iter_mut().enumerate() {
        // Lagrange interpolation at x = 0; addition and subtraction are XOR.
        let mut acc = 0u8;
        for (i, part) in parts.iter().enumerate() {
            let mut basis = 1u8;
            for (j, xj) in xs.iter().enumerate() {
                if i != j {
                    basis = mul(basis, mul(*xj, inv(xs[i] ^ xj)));
                }
            }
            acc ^= mul(part[byte], basis);
        }
        *out = acc;
    }
    Some(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_inverse() {
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "{a}");
        }
    }

    #[test]
    fn combines_a_degree_one_split() {
        // f(x) = s + 7x for every byte s; shares at x = 1 and x = 2.
        let secret = [0x42u8, 0x00, 0xff];
        let share = |x: u8| {
            let mut v: Vec<u8> = secret.iter().map(|s| s ^ mul(7, x)).collect();
            v.push(x);
            v
        };
        assert_eq!(combine(&[share(1), share(2)]).unwrap(), secret);
        assert_eq!(combine(&[share(2), share(9)]).unwrap(), secret);
        assert!(combine(&[share(1), share(1)]).is_none());
        assert!(combine(&[]).is_none());
    }
}
