//! The keys a decryption Secret holds, and recovering a file's data key
//! with them (one key per group; Shamir's secret sharing across groups).

use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::str::FromStr;

use pgp::composed::{Message, PublicOrSecret, SignedSecretKey};
use pgp::types::{KeyDetails, Password};

use crate::metadata::{MasterKey, Metadata};
use crate::{Error, Result};

/// The private keys decryption may use: age X25519 identities and PGP secret keys.
pub struct KeyRing {
    age: Vec<age::x25519::Identity>,
    pgp: Vec<SignedSecretKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("age_identities", &self.age.len())
            .field("pgp_fingerprints", &self.pgp.iter().map(fingerprint).collect::<Vec<_>>())
            .finish()
    }
}

fn fingerprint(key: &SignedSecretKey) -> String {
    hex_upper(key.fingerprint().as_bytes())
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

impl KeyRing {
    /// An empty key ring (no file can be decrypted with it).
    pub fn new() -> Self {
        KeyRing { age: Vec::new(), pgp: Vec::new() }
    }

    /// Reads the keys of a decryption Secret's data as Flux does: entries
    /// named `*.agekey` hold age identities (`AGE-SECRET-KEY-1…` lines,
    /// `#` comments and blank lines allowed), entries named `*.asc` hold
    /// armored PGP secret keys (one or more each). Other entries are ignored.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self> {
        let mut ring = KeyRing::new();
        for (name, value) in data {
            if name.ends_with(".agekey") {
                ring.add_age_identities(name, value)?;
            } else if name.ends_with(".asc") {
                ring.add_pgp_keys(name, value)?;
            }
        }
        Ok(ring)
    }

    /// Adds the age identities of one `*.agekey` entry; `name` only labels errors.
    pub fn add_age_identities(&mut self, name: &str, value: &[u8]) -> Result<()> {
        let text = std::str::from_utf8(value).map_err(|_| Error::Key(format!("{name}: not UTF-8 text")))?;
        let mut found = 0;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let identity = age::x25519::Identity::from_str(line)
                .map_err(|_| Error::Key(format!("{name}: line {} is not an age X25519 identity", n + 1)))?;
            self.age.push(identity);
            found += 1;
        }
        if found == 0 {
            return Err(Error::Key(format!("{name}: no age identity")));
        }
        Ok(())
    }

    /// Adds the PGP secret keys of one armored `*.asc` entry; public keys in
    /// it are skipped. `name` only labels errors.
    pub fn add_pgp_keys(&mut self, name: &str, value: &[u8]) -> Result<()> {
        let invalid = |e: pgp::errors::Error| Error::Key(format!("{name}: not an armored PGP key: {e}"));
        let (keys, _) = PublicOrSecret::from_armor_many(BufReader::new(value)).map_err(invalid)?;
        let mut found = 0;
        for key in keys {
            if let PublicOrSecret::Secret(key) = key.map_err(invalid)? {
                self.pgp.push(key);
                found += 1;
            }
        }
        if found == 0 {
            return Err(Error::Key(format!("{name}: no PGP secret key")));
        }
        Ok(())
    }

    /// Whether the ring holds no key at all.
    pub fn is_empty(&self) -> bool {
        self.age.is_empty() && self.pgp.is_empty()
    }

    /// Recovers the 32-byte data key of a file from its metadata.
    pub(crate) fn data_key(&self, metadata: &Metadata) -> Result<[u8; 32]> {
        let mut parts = Vec::new();
        let mut tried = Vec::new();
        for group in &metadata.key_groups {
            match self.group_part(group, &mut tried) {
                Some(part) => parts.push(part),
                None => continue,
            }
        }
        let key = if metadata.key_groups.len() > 1 {
            let threshold =
                if metadata.shamir_threshold == 0 { metadata.key_groups.len() } else { metadata.shamir_threshold };
            if parts.len() < threshold {
                return Err(no_data_key(&tried, Some((parts.len(), threshold))));
            }
            crate::shamir::combine(&parts)
                .ok_or_else(|| Error::DataKey("the key groups' Shamir parts do not combine into a data key".into()))?
        } else {
            parts.into_iter().next().ok_or_else(|| no_data_key(&tried, None))?
        };
        <[u8; 32]>::try_from(key.as_slice())
            .map_err(|_| Error::DataKey(format!("the data key has {} bytes, not 32", key.len())))
    }

    /// The first data key (or Shamir part) any key of `group` opens.
    fn group_part(&self, group: &[MasterKey], tried: &mut Vec<String>) -> Option<Vec<u8>> {
        for key in group {
            match key {
                MasterKey::Age { recipient, enc } => {
                    tried.push(format!("age recipient {recipient}"));
                    if let Some(part) = self.open_age(enc) {
                        return Some(part);
                    }
                }
                MasterKey::Pgp { fingerprint, enc } => {
                    tried.push(format!("pgp fingerprint {fingerprint}"));
                    if let Some(part) = self.open_pgp(enc) {
                        return Some(part);
                    }
                }
                MasterKey::Other { kind, id } => tried.push(format!("{kind} {id} (not supported)")),
            }
        }
        None
    }

    fn open_age(&self, enc: &str) -> Option<Vec<u8>> {
        if self.age.is_empty() {
            return None;
        }
        let reader = age::armor::ArmoredReader::new(enc.as_bytes());
        let decryptor = age::Decryptor::new(reader).ok()?;
        let identities = self.age.iter().map(|i| i as &dyn age::Identity);
        let mut out = Vec::new();
        decryptor.decrypt(identities).ok()?.read_to_end(&mut out).ok()?;
        Some(out)
    }

    fn open_pgp(&self, enc: &str) -> Option<Vec<u8>> {
        for key in &self.pgp {
            let Ok((message, _)) = Message::from_armor(enc.as_bytes()) else {
                return None;
            };
            let Ok(mut message) = message.decrypt(&Password::empty(), key) else {
                continue;
            };
            if message.is_compressed() {
                message = message.decompress().ok()?;
            }
            if let Ok(data) = message.as_data_vec() {
                return Some(data);
            }
        }
        None
    }
}

impl Default for KeyRing {
    fn default() -> Self {
        KeyRing::new()
    }
}

fn no_data_key(tried: &[String], shamir: Option<(usize, usize)>) -> Error {
    let mut msg = String::from("failed to get the data key required to decrypt the SOPS file");
    if let Some((got, need)) = shamir {
        msg.push_str(&format!(": {got} of the {need} key groups needed could be opened"));
    }
    if tried.is_empty() {
        msg.push_str("; the file lists no age or pgp key");
    } else {
        msg.push_str("; no key in the decryption Secret matches any of: ");
        msg.push_str(&tried.join(", "));
    }
    Error::DataKey(msg)
}
