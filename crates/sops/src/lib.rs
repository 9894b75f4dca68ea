//! Native SOPS decryption for Ferry's kustomize-controller (`spec.decryption`
//! with provider `sops`), wire-compatible with files made by sops 3.x.
//!
//! - [`KeyRing::from_secret_data`] reads the keys of a decryption Secret
//!   (`*.agekey` age identities, `*.asc` armored PGP secret keys).
//! - [`decrypt`] turns an encrypted file into its plaintext in the same
//!   format, after checking its MAC; [`Format::from_path`] picks the format
//!   from a file name as sops does.
//! - [`is_encrypted`] tells sops files from plain ones cheaply.
//!
//! No external `sops` or `gpg` program is run and no cloud KMS is called.
#![deny(missing_docs)]

mod cipher;
mod dotenv;
mod ini;
mod json;
mod keys;
mod metadata;
mod shamir;
mod tree;
mod yaml;

use std::path::Path;

pub use keys::KeyRing;

use metadata::Metadata;
use tree::Node;

/// What can go wrong decrypting a file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input does not parse in its format.
    #[error("cannot parse the file: {0}")]
    Parse(String),
    /// The input parses but has no sops metadata.
    #[error("the file is not encrypted with sops (no 'sops' metadata with a 'mac')")]
    NotEncrypted,
    /// The metadata or a value is not what sops writes.
    #[error("malformed sops file: {0}")]
    Malformed(String),
    /// A key of the key ring cannot be read.
    #[error("invalid decryption key {0}")]
    Key(String),
    /// No key of the key ring opens the file's data key.
    #[error("{0}")]
    DataKey(String),
    /// A value does not decrypt with the data key.
    #[error("{0}")]
    Value(String),
    /// The plaintext does not match the file's MAC: the file was changed.
    #[error(
        "MAC mismatch: the file's MAC is {stored}, its content hashes to {computed}; the file was changed after encryption"
    )]
    MacMismatch {
        /// The MAC stored (encrypted) in the file.
        stored: String,
        /// The MAC of the decrypted content.
        computed: String,
    },
}

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The file formats sops writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML, possibly several documents; metadata under a `sops` key.
    Yaml,
    /// A JSON object; metadata under a `sops` key.
    Json,
    /// `KEY=value` lines; metadata in `sops_*` entries.
    Dotenv,
    /// INI sections; metadata in a `[sops]` section.
    Ini,
    /// Any other file, wrapped by sops as JSON `{"data": …, "sops": …}`.
    Binary,
}

impl Format {
    /// The format sops infers from a file name: `.yaml`/`.yml`, `.json`,
    /// `.env`, `.ini`, and binary for everything else.
    pub fn from_path(path: impl AsRef<Path>) -> Format {
        match path.as_ref().extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Format::Yaml,
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            Some("ini") => Format::Ini,
            _ => Format::Binary,
        }
    }
}

/// A file loaded into sops's tree.
struct Loaded {
    branches: Vec<Node>,
    metadata: Option<Node>,
    yaml: Option<yaml::Loaded>,
}

fn load(data: &[u8], format: Format) -> Result<Loaded> {
    Ok(match format {
        Format::Yaml => {
            let text = std::str::from_utf8(data).map_err(|_| Error::Parse("YAML: not UTF-8".into()))?;
            let mut loaded = yaml::load(text)?;
            let branches = std::mem::take(&mut loaded.branches);
            Loaded { branches, metadata: loaded.metadata.take(), yaml: Some(loaded) }
        }
        Format::Json | Format::Binary => {
            let (branch, metadata) = json::load(data)?;
            Loaded { branches: vec![branch], metadata, yaml: None }
        }
        Format::Dotenv | Format::Ini => {
            let (branch, flat) = if format == Format::Dotenv { dotenv::load(data)? } else { ini::load(data)? };
            let metadata = (!flat.is_empty()).then(|| metadata::unflatten(&flat));
            Loaded { branches: vec![branch], metadata, yaml: None }
        }
    })
}

/// Whether `data` is a sops-encrypted file of `format`: it parses and has
/// sops metadata (a `sops` entry with a `mac` or `version`). Plain files,
/// and files that do not parse, are not.
pub fn is_encrypted(data: &[u8], format: Format) -> bool {
    if !data.windows(4).any(|w| w == b"sops") {
        return false;
    }
    load(data, format).ok().and_then(|l| l.metadata).is_some_and(|m| metadata::is_metadata(&m))
}

/// Decrypts a sops file of `format` with the keys of `keys` and returns the
/// plaintext file, without its metadata, in the same format (the raw content
/// for [`Format::Binary`]). The MAC is verified as sops verifies it.
///
/// YAML keeps the input's text (order, layout, comments, documents) with each
/// encrypted value and comment replaced by its plaintext; JSON, dotenv and INI
/// are written again from the parsed entries, in their order.
pub fn decrypt(data: &[u8], format: Format, keys: &KeyRing) -> Result<Vec<u8>> {
    let mut loaded = load(data, format)?;
    let node = loaded.metadata.take().filter(metadata::is_metadata).ok_or(Error::NotEncrypted)?;
    let metadata = Metadata::from_node(&node)?;
    let key = keys.data_key(&metadata)?;
    let decrypted = tree::decrypt(std::mem::take(&mut loaded.branches), &key, &metadata.rules)?;
    let stored = cipher::decrypt_str(&metadata.mac, &key, &metadata.mac_aad())
        .map_err(|_| Error::Malformed("the MAC does not decrypt with the data key".into()))?;
    if !stored.eq_ignore_ascii_case(&decrypted.mac) {
        return Err(Error::MacMismatch { stored, computed: decrypted.mac });
    }
    match format {
        Format::Yaml => {
            let text = std::str::from_utf8(data).map_err(|_| Error::Parse("YAML: not UTF-8".into()))?;
            let yaml = loaded.yaml.as_ref().ok_or_else(|| Error::Parse("YAML: not loaded".into()))?;
            yaml::emit(text, yaml, &decrypted, &key)
        }
        Format::Json => Ok(json::emit(first(&decrypted.branches)?)),
        Format::Dotenv => dotenv::emit(first(&decrypted.branches)?),
        Format::Ini => ini::emit(first(&decrypted.branches)?),
        Format::Binary => match first(&decrypted.branches)?.get("data") {
            Some(Node::Str(s)) => Ok(s.clone().into_bytes()),
            _ => Err(Error::Malformed("a binary file needs a string 'data' entry".into())),
        },
    }
}

fn first(branches: &[Node]) -> Result<&Node> {
    branches.first().ok_or_else(|| Error::Parse("no document".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_paths() {
        assert_eq!(Format::from_path("a/secret.yaml"), Format::Yaml);
        assert_eq!(Format::from_path("x.yml"), Format::Yaml);
        assert_eq!(Format::from_path("x.json"), Format::Json);
        assert_eq!(Format::from_path(".env"), Format::Binary);
        assert_eq!(Format::from_path("app.env"), Format::Dotenv);
        assert_eq!(Format::from_path("app.ini"), Format::Ini);
        assert_eq!(Format::from_path("id_rsa"), Format::Binary);
    }

    #[test]
    fn plain_files_are_not_encrypted() {
        assert!(!is_encrypted(b"a: 1\n", Format::Yaml));
        assert!(!is_encrypted(b"sops: 1\n", Format::Yaml));
        assert!(!is_encrypted(b"{\"sops\": {}}", Format::Json));
        assert!(matches!(decrypt(b"a: 1\n", Format::Yaml, &KeyRing::new()), Err(Error::NotEncrypted)));
    }
}
