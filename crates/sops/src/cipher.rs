//! The values' cipher: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` strings,
//! AES-256-GCM with 32-byte nonces and the value's path as additional data.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::tree::Node;

/// AES-256-GCM as sops uses it: a 256-bit nonce (GHASH-derived counter block).
type Aes256Gcm32 = AesGcm<Aes256, U32>;

/// One parsed `ENC[…]` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    kind: String,
}

/// Whether `value` has the shape of a sops-encrypted value.
pub(crate) fn looks_encrypted(value: &str) -> bool {
    value.starts_with("ENC[AES256_GCM,data:")
}

/// Parses `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]`.
pub(crate) fn parse(value: &str) -> Option<Sealed> {
    let inner = value.strip_prefix("ENC[AES256_GCM,")?.strip_suffix(']')?;
    let mut data = None;
    let mut iv = None;
    let mut tag = None;
    let mut kind = None;
    for part in inner.split(',') {
        let (name, content) = part.split_once(':')?;
        match name {
            "data" => data = Some(STANDARD.decode(content).ok()?),
            "iv" => iv = Some(STANDARD.decode(content).ok()?),
            "tag" => tag = Some(STANDARD.decode(content).ok()?),
            "type" => kind = Some(content.to_string()),
            _ => return None,
        }
    }
    Some(Sealed { data: data?, iv: iv?, tag: tag?, kind: kind? })
}

/// Why a value could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Not an `ENC[…]` value at all.
    Malformed,
    /// The wrong key, the wrong path, or a changed ciphertext.
    Authentication,
    /// The plaintext does not parse as its declared type.
    BadType(String),
}

/// Decrypts an `ENC[…]` value with `key`, `path_aad` being sops's
/// additional data (the keys joined by ':' plus a trailing ':'), and restores
/// its type. An empty string is an empty string, as sops never encrypts those.
pub(crate) fn decrypt(value: &str, key: &[u8; 32], aad: &str) -> Result<Node, Failure> {
    if value.is_empty() {
        return Ok(Node::Str(String::new()));
    }
    let sealed = parse(value).ok_or(Failure::Malformed)?;
    let plain = open(&sealed, key, aad.as_bytes())?;
    typed(plain, &sealed.kind)
}

/// Decrypts the MAC value (its additional data is the `lastmodified` stamp).
pub(crate) fn decrypt_str(value: &str, key: &[u8; 32], aad: &str) -> Result<String, Failure> {
    let sealed = parse(value).ok_or(Failure::Malformed)?;
    let plain = open(&sealed, key, aad.as_bytes())?;
    String::from_utf8(plain).map_err(|_| Failure::BadType("str".into()))
}

fn open(sealed: &Sealed, key: &[u8; 32], aad: &[u8]) -> Result<Vec<u8>, Failure> {
    if sealed.iv.len() != 32 || sealed.tag.len() != 16 {
        return Err(Failure::Malformed);
    }
    let cipher = Aes256Gcm32::new(key.into());
    let mut msg = Vec::with_capacity(sealed.data.len() + sealed.tag.len());
    msg.extend_from_slice(&sealed.data);
    msg.extend_from_slice(&sealed.tag);
    cipher
        .decrypt(Nonce::<U32>::from_slice(&sealed.iv), Payload { msg: &msg, aad })
        .map_err(|_| Failure::Authentication)
}

fn typed(plain: Vec<u8>, kind: &str) -> Result<Node, Failure> {
    let bad = || Failure::BadType(kind.to_string());
    let text = || String::from_utf8(plain.clone()).map_err(|_| bad());
    Ok(match kind {
        "str" => Node::Str(text()?),
        "bytes" => Node::Str(text()?),
        "int" => Node::Int(text()?.parse().map_err(|_| bad())?),
        "float" => Node::Float(text()?.parse().map_err(|_| bad())?),
        "bool" => Node::Bool(parse_go_bool(&text()?).ok_or_else(bad)?),
        "comment" => Node::Comment(text()?),
        _ => return Err(bad()),
    })
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_shapes() {
        let v = "ENC[AES256_GCM,data:KA==,iv:AAAA,tag:AAAA,type:int]";
        let sealed = parse(v).unwrap();
        assert_eq!(sealed.kind, "int");
        assert_eq!(sealed.data, vec![0x28]);
        for bad in ["ENC[AES256_GCM,data:KA==]", "ENC[AES256_GCM,data:!,iv:,tag:,type:str]", "plain", "ENC["] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert_eq!(decrypt(v, &[0; 32], ":"), Err(Failure::Malformed));
        assert_eq!(decrypt("", &[0; 32], ":"), Ok(Node::Str(String::new())));
    }

    #[test]
    fn go_bools() {
        assert_eq!(parse_go_bool("True"), Some(true));
        assert_eq!(parse_go_bool("F"), Some(false));
        assert_eq!(parse_go_bool("yes"), None);
    }
}
