//! bcrypt as Go's `golang.org/x/crypto/bcrypt` makes it (`$2a$`, cost 10),
//! for Sprig's `bcrypt` and `htpasswd`. Salts are random, as in Helm.

use blowfish::Blowfish;
use rand::RngCore;

/// bcrypt's base64 alphabet.
const ALPHABET: &[u8; 64] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// bcrypt's base64 without padding.
fn encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The bcrypt hash of `password` with `salt` (16 bytes) at `cost`.
pub fn hash_with_salt(password: &[u8], salt: &[u8; 16], cost: u32) -> String {
    let mut key: Vec<u8> = password.to_vec();
    key.push(0);
    key.truncate(72);
    let mut state = Blowfish::bc_init_state();
    state.salted_expand_key(salt, &key);
    for _ in 0..(1u64 << cost) {
        state.bc_expand_key(&key);
        state.bc_expand_key(salt);
    }
    let magic = b"OrpheanBeholderScryDoubt";
    let mut words = [0u32; 6];
    for (i, w) in words.iter_mut().enumerate() {
        *w = u32::from_be_bytes([magic[i * 4], magic[i * 4 + 1], magic[i * 4 + 2], magic[i * 4 + 3]]);
    }
    for _ in 0..64 {
        for pair in words.chunks_mut(2) {
            let out = state.bc_encrypt([pair[0], pair[1]]);
            pair[0] = out[0];
            pair[1] = out[1];
        }
    }
    let mut ctext = Vec::with_capacity(24);
    for w in words {
        ctext.extend_from_slice(&w.to_be_bytes());
    }
    format!("$2a${cost:02}${}{}", encode(salt), encode(&ctext[..23]))
}

/// A bcrypt hash with a random salt at Go's default cost (10).
pub fn hash(password: &[u8]) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    hash_with_salt(password, &salt, 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // OpenBSD's test vector: "U*U" with salt "CCCCCCCCCCCCCCCCCCCCC." at cost 5.
        let salt_b64 = "CCCCCCCCCCCCCCCCCCCCC.";
        let mut salt = [0u8; 16];
        // Decode bcrypt base64.
        let vals: Vec<u32> = salt_b64.bytes().map(|c| ALPHABET.iter().position(|&a| a == c).unwrap() as u32).collect();
        let mut bytes = Vec::new();
        for chunk in vals.chunks(4) {
            let mut n = 0u32;
            for (i, v) in chunk.iter().enumerate() {
                n |= v << (18 - 6 * i);
            }
            let take = chunk.len() - 1;
            for i in 0..take {
                bytes.push((n >> (16 - 8 * i)) as u8);
            }
        }
        salt.copy_from_slice(&bytes[..16]);
        assert_eq!(hash_with_salt(b"U*U", &salt, 5), "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW");
    }
}
