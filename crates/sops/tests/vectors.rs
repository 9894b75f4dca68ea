//! Decrypts files made by the real sops (hack/sops/generate.sh) and compares
//! with what `sops -d` made of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ferry_sops::{Error, Format, KeyRing, decrypt, is_encrypted};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(data().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn ring(entries: &[&str]) -> KeyRing {
    let data: BTreeMap<String, Vec<u8>> =
        entries.iter().map(|name| (name.to_string(), read(&format!("keys/{name}")))).collect();
    KeyRing::from_secret_data(&data).unwrap()
}

/// YAML documents compared as data (serde_yaml_ng), plus the comment lines in order.
fn same_yaml(ours: &[u8], theirs: &[u8], name: &str) {
    use serde::Deserialize;
    let docs = |b: &[u8]| -> Vec<serde_yaml_ng::Value> {
        serde_yaml_ng::Deserializer::from_slice(b)
            .map(|d| serde_yaml_ng::Value::deserialize(d).unwrap())
            .filter(|v| !v.is_null())
            .collect()
    };
    assert_eq!(docs(ours), docs(theirs), "{name}: documents differ\n--- ours\n{}", String::from_utf8_lossy(ours));
    let comments = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b).lines().map(str::trim).filter(|l| l.starts_with('#')).map(String::from).collect()
    };
    assert_eq!(comments(ours), comments(theirs), "{name}: comments differ");
}

fn same_json(ours: &[u8], theirs: &[u8], name: &str) {
    let a: serde_json::Value = serde_json::from_slice(ours).unwrap();
    let b: serde_json::Value = serde_json::from_slice(theirs).unwrap();
    assert_eq!(a, b, "{name}");
}

fn check(name: &str, keys: &KeyRing) {
    let enc = read(&format!("enc/{name}"));
    let format = Format::from_path(name);
    assert!(is_encrypted(&enc, format), "{name} should be seen as encrypted");
    let ours = decrypt(&enc, format, keys).unwrap_or_else(|e| panic!("{name}: {e}"));
    let theirs = read(&format!("dec/{name}"));
    match format {
        Format::Yaml => same_yaml(&ours, &theirs, name),
        Format::Json => same_json(&ours, &theirs, name),
        // Byte-for-byte: the content itself, and sops's own line format.
        Format::Binary | Format::Dotenv => {
            assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "{name}")
        }
        Format::Ini => {
            let entries = |b: &[u8]| -> Vec<String> {
                String::from_utf8_lossy(b)
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                    .collect()
            };
            assert_eq!(entries(&ours), entries(&theirs), "{name}");
        }
    }
}

const VECTORS: &[&str] = &[
    "secret.yaml",
    "values.yaml",
    "multi.yaml",
    "empty.yaml",
    "config.json",
    "app.env",
    "app.ini",
    "blob.txt",
    "unencrypted-suffix.yaml",
    "encrypted-suffix.yaml",
    "unencrypted-regex.yaml",
    "encrypted-regex.yaml",
    "mac-only-encrypted.yaml",
    "encrypted-comment-regex.yaml",
    "unencrypted-regex.json",
];

#[test]
fn every_vector_with_age() {
    let keys = ring(&["age.agekey"]);
    for name in VECTORS {
        check(name, &keys);
    }
}

#[test]
fn every_vector_with_pgp_rsa() {
    let keys = ring(&["rsa.asc"]);
    for name in VECTORS {
        check(name, &keys);
    }
}

#[test]
fn every_vector_with_pgp_ecc() {
    let keys = ring(&["ecc.asc"]);
    for name in VECTORS {
        check(name, &keys);
    }
}

#[test]
fn shamir_needs_both_groups() {
    check("shamir.yaml", &ring(&["age.agekey", "rsa.asc"]));
    let err = decrypt(&read("enc/shamir.yaml"), Format::Yaml, &ring(&["age.agekey"])).unwrap_err();
    assert!(matches!(err, Error::DataKey(_)), "{err}");
    assert!(err.to_string().contains("1 of the 2 key groups"), "{err}");
}

#[test]
fn wrong_key_is_a_clear_error() {
    let recipient = String::from_utf8(read("keys/age.recipient")).unwrap();
    let err = decrypt(&read("enc/other-key.yaml"), Format::Yaml, &ring(&["age.agekey", "rsa.asc"])).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("failed to get the data key required to decrypt the SOPS file"), "{msg}");
    assert!(msg.contains("age recipient age1"), "{msg}");
    assert!(!msg.contains(recipient.trim()), "the other key's recipient is listed, not ours: {msg}");
    let err = decrypt(&read("enc/secret.yaml"), Format::Yaml, &KeyRing::new()).unwrap_err();
    let fingerprints = String::from_utf8(read("keys/pgp.fingerprints")).unwrap();
    for fp in fingerprints.lines() {
        assert!(err.to_string().contains(fp), "{err}");
    }
}

#[test]
fn tampering_is_detected() {
    let keys = ring(&["age.agekey"]);
    let err = decrypt(&read("enc/tampered-mac.yaml"), Format::Yaml, &keys).unwrap_err();
    assert!(matches!(err, Error::MacMismatch { .. }), "{err}");
    assert!(err.to_string().starts_with("MAC mismatch"));
    let err = decrypt(&read("enc/tampered-value.yaml"), Format::Yaml, &keys).unwrap_err();
    assert!(matches!(err, Error::Value(_)), "{err}");
    assert!(err.to_string().contains("stringData.password"), "{err}");
}

#[test]
fn plain_inputs_are_reported_as_such() {
    let keys = ring(&["age.agekey"]);
    for name in ["secret.yaml", "values.yaml", "config.json", "app.env", "app.ini"] {
        let plain = read(&format!("plain/{name}"));
        let format = Format::from_path(name);
        assert!(!is_encrypted(&plain, format), "{name}");
        assert!(matches!(decrypt(&plain, format, &keys), Err(Error::NotEncrypted)), "{name}");
    }
}

#[test]
fn bad_keys_are_refused() {
    let mut data = BTreeMap::new();
    data.insert("bad.agekey".to_string(), b"# comment\nAGE-SECRET-KEY-1NOTAKEY\n".to_vec());
    let err = KeyRing::from_secret_data(&data).unwrap_err();
    assert!(err.to_string().contains("bad.agekey: line 2"), "{err}");
    assert!(!err.to_string().contains("NOTAKEY"), "key material must not be echoed: {err}");
    let mut data = BTreeMap::new();
    data.insert("bad.asc".to_string(), b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxx\n".to_vec());
    assert!(KeyRing::from_secret_data(&data).is_err());
    let mut data = BTreeMap::new();
    data.insert("sops.vault-token".to_string(), b"ignored".to_vec());
    assert!(KeyRing::from_secret_data(&data).unwrap().is_empty());
}

/// Truncated and mutated inputs give errors, never panics.
#[test]
fn garbage_never_panics() {
    let keys = ring(&["age.agekey"]);
    for name in ["secret.yaml", "config.json", "app.env", "app.ini", "blob.txt", "multi.yaml"] {
        let enc = read(&format!("enc/{name}"));
        let format = Format::from_path(name);
        for format in [format, Format::Yaml, Format::Json, Format::Dotenv, Format::Ini] {
            let step = (enc.len() / 97).max(1);
            for cut in (0..enc.len()).step_by(step) {
                let _ = decrypt(&enc[..cut], format, &keys);
                let _ = is_encrypted(&enc[..cut], format);
            }
            let mut seed = 0x9e37_79b9_u32;
            for _ in 0..200 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let mut mutated = enc.clone();
                let at = seed as usize % mutated.len();
                mutated[at] = (seed >> 8) as u8;
                let _ = decrypt(&mutated, format, &keys);
            }
        }
    }
}
