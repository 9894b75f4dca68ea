//! Sprig's `encryptAES`/`decryptAES`: AES-256-CBC with the password as the
//! key (zero-padded to 32 bytes), PKCS#7 padding, a random IV in front, all
//! base64 — compatible both ways with Helm's.

use aes::Aes256;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use base64::Engine;
use rand::RngCore;

use crate::error::FuncError;

fn cipher(password: &str) -> Aes256 {
    let mut key = [0u8; 32];
    let p = password.as_bytes();
    let n = p.len().min(32);
    key[..n].copy_from_slice(&p[..n]);
    Aes256::new(GenericArray::from_slice(&key))
}

/// Encrypts with a random IV.
pub fn encrypt(password: &str, plaintext: &str) -> String {
    let mut iv = [0u8; 16];
    rand::rng().fill_bytes(&mut iv);
    encrypt_with_iv(password, plaintext, iv)
}

fn encrypt_with_iv(password: &str, plaintext: &str, iv: [u8; 16]) -> String {
    let c = cipher(password);
    let mut content = plaintext.as_bytes().to_vec();
    let pad = 16 - content.len() % 16;
    content.extend(std::iter::repeat_n(pad as u8, pad));
    let mut out = iv.to_vec();
    let mut prev = iv;
    for chunk in content.chunks(16) {
        let mut block = [0u8; 16];
        for i in 0..16 {
            block[i] = chunk[i] ^ prev[i];
        }
        let mut b = GenericArray::clone_from_slice(&block);
        c.encrypt_block(&mut b);
        prev.copy_from_slice(&b);
        out.extend_from_slice(&b);
    }
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// Decrypts what `encrypt` (or Sprig) produced.
pub fn decrypt(password: &str, crypt64: &str) -> Result<String, FuncError> {
    let crypt =
        base64::engine::general_purpose::STANDARD.decode(crypt64).map_err(|_| FuncError::msg("illegal base64 data"))?;
    if crypt.len() < 16 {
        return Err(FuncError::msg("runtime error: slice bounds out of range [:16]"));
    }
    let (iv, body) = crypt.split_at(16);
    if !body.len().is_multiple_of(16) {
        return Err(FuncError::msg("crypto/cipher: input not full blocks"));
    }
    let c = cipher(password);
    let mut out = Vec::with_capacity(body.len());
    let mut prev: [u8; 16] = iv.try_into().unwrap_or([0; 16]);
    for chunk in body.chunks(16) {
        let mut b = GenericArray::clone_from_slice(chunk);
        c.decrypt_block(&mut b);
        for i in 0..16 {
            out.push(b[i] ^ prev[i]);
        }
        prev.copy_from_slice(chunk);
    }
    let Some(&pad) = out.last() else {
        return Err(FuncError::msg("runtime error: index out of range [-1]"));
    };
    let keep = out.len().checked_sub(pad as usize).ok_or_else(|| {
        FuncError::msg(format!("runtime error: slice bounds out of range [:{}]", out.len() as i64 - pad as i64))
    })?;
    Ok(crate::strconv::from_go_bytes(&out[..keep]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrypts_helms_ciphertext_and_round_trips() {
        // Produced by Sprig's encryptAES "secretkey" (hack/gotemplate-oracle).
        let go = "4MW5pmmJrglDS4DX6f/4CKqJyh0ELzgEIswNKq35bwjjv6h/jew/hnr399ZuMW1EAkzDLxwQMVv/+DQ5Nu2RBA==";
        assert_eq!(decrypt("secretkey", go).unwrap(), "hello world, this is longer than a block");
        let ours = encrypt_with_iv("k", "text", [7; 16]);
        assert_eq!(decrypt("k", &ours).unwrap(), "text");
    }
}
