//! Artifact revisions as Flux writes them: a named pointer (branch, tag, chart version),
//! a digest, or both joined by `@`: `main@sha1:<hex>`, `latest@sha256:<hex>`,
//! `sha256:<hex>`, `sha1:<hex>`, `6.5.0`.

use std::fmt;
use std::str::FromStr;

/// A parsed artifact revision: a name, a digest, or both.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Revision {
    /// The named pointer: a Git branch or tag (`main`, `refs/heads/main`, `v1.0.0`), an OCI
    /// tag or a chart version.
    pub name: Option<String>,
    /// The content digest.
    pub digest: Option<Digest>,
}

/// A content digest: algorithm and lowercase hex checksum.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Digest {
    /// The algorithm: `sha1`, `sha256`, `sha384`, `sha512` or `blake3`.
    pub algorithm: String,
    /// The checksum in lowercase hex.
    pub hex: String,
}

/// Why a text is no artifact revision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevisionError {
    /// The text is empty.
    #[error("invalid revision: empty")]
    Empty,
    /// The part before `@` is empty.
    #[error("revision {0:?} has an empty name before '@'")]
    EmptyName(String),
    /// The part after `@` is no `<algorithm>:<hex>` digest.
    #[error("revision {0:?} has no digest of the form <algorithm>:<hex> after '@'")]
    MissingDigest(String),
    /// The algorithm is unknown.
    #[error("unsupported digest algorithm {algorithm:?} in revision {text:?}")]
    UnknownAlgorithm {
        /// The algorithm as written.
        algorithm: String,
        /// The whole text.
        text: String,
    },
    /// The checksum is not lowercase hex of the algorithm's length.
    #[error("invalid {algorithm} checksum in revision {text:?}")]
    InvalidChecksum {
        /// The algorithm of the digest.
        algorithm: String,
        /// The whole text.
        text: String,
    },
}

/// The hex length of each supported algorithm.
fn hex_len(algorithm: &str) -> Option<usize> {
    Some(match algorithm {
        "sha1" => 40,
        "sha256" | "blake3" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return None,
    })
}

impl Digest {
    /// A digest, checked for a supported algorithm and a well-formed checksum.
    pub fn new(algorithm: &str, hex: &str) -> Result<Self, RevisionError> {
        let text = format!("{algorithm}:{hex}");
        Self::parse_in(algorithm, hex, &text)
    }

    fn parse_in(algorithm: &str, hex: &str, text: &str) -> Result<Self, RevisionError> {
        let len = hex_len(algorithm).ok_or_else(|| RevisionError::UnknownAlgorithm {
            algorithm: algorithm.to_string(),
            text: text.to_string(),
        })?;
        if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(RevisionError::InvalidChecksum { algorithm: algorithm.to_string(), text: text.to_string() });
        }
        Ok(Self { algorithm: algorithm.to_string(), hex: hex.to_string() })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl Revision {
    /// A revision of a name and a digest, printed `<name>@<digest>`.
    pub fn named(name: impl Into<String>, digest: Digest) -> Self {
        Self { name: Some(name.into()), digest: Some(digest) }
    }

    /// A revision of a digest alone.
    pub fn digest_only(digest: Digest) -> Self {
        Self { name: None, digest: Some(digest) }
    }

    /// Whether two revisions point to the same content: same digest when both have one,
    /// else the same text.
    pub fn same_content(&self, other: &Revision) -> bool {
        match (&self.digest, &other.digest) {
            (Some(a), Some(b)) => a == b,
            _ => self == other,
        }
    }
}

impl FromStr for Revision {
    type Err = RevisionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err(RevisionError::Empty);
        }
        if let Some((name, digest)) = text.rsplit_once('@') {
            if name.is_empty() {
                return Err(RevisionError::EmptyName(text.to_string()));
            }
            let (algorithm, hex) =
                digest.split_once(':').ok_or_else(|| RevisionError::MissingDigest(text.to_string()))?;
            let digest = Digest::parse_in(algorithm, hex, text)?;
            return Ok(Self { name: Some(name.to_string()), digest: Some(digest) });
        }
        if let Some((algorithm, hex)) = text.split_once(':')
            && hex_len(algorithm).is_some()
        {
            return Ok(Self { name: None, digest: Some(Digest::parse_in(algorithm, hex, text)?) });
        }
        Ok(Self { name: Some(text.to_string()), digest: None })
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.name, &self.digest) {
            (Some(name), Some(digest)) => write!(f, "{name}@{digest}"),
            (Some(name), None) => f.write_str(name),
            (None, Some(digest)) => write!(f, "{digest}"),
            (None, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1: &str = "132f4e719209eb10b9485302f8593fc0e680f4fc";
    const SHA256: &str = "6e3d5b3f7ab1ad8d2b3f1e2c9a0d7f1e6b5c4a3d2e1f0a9b8c7d6e5f4a3b2c1d";

    #[test]
    fn parses_and_prints_each_form() {
        let cases = [
            (format!("main@sha1:{SHA1}"), Some("main"), Some(("sha1", SHA1))),
            (format!("refs/heads/main@sha1:{SHA1}"), Some("refs/heads/main"), Some(("sha1", SHA1))),
            (format!("latest@sha256:{SHA256}"), Some("latest"), Some(("sha256", SHA256))),
            (format!("sha256:{SHA256}"), None, Some(("sha256", SHA256))),
            (format!("sha1:{SHA1}"), None, Some(("sha1", SHA1))),
            ("6.5.0".to_string(), Some("6.5.0"), None),
            ("v1.0.0+build.1".to_string(), Some("v1.0.0+build.1"), None),
        ];
        for (text, name, digest) in cases {
            let revision: Revision = text.parse().unwrap();
            assert_eq!(revision.name.as_deref(), name, "{text}");
            assert_eq!(revision.digest.as_ref().map(|d| (d.algorithm.as_str(), d.hex.as_str())), digest, "{text}");
            assert_eq!(revision.to_string(), text);
        }
    }

    #[test]
    fn the_last_at_sign_separates_the_digest() {
        let revision: Revision = format!("user@host@sha1:{SHA1}").parse().unwrap();
        assert_eq!(revision.name.as_deref(), Some("user@host"));
    }

    #[test]
    fn rejects_bad_input_with_an_error() {
        assert_eq!("".parse::<Revision>(), Err(RevisionError::Empty));
        assert!(matches!(format!("@sha1:{SHA1}").parse::<Revision>(), Err(RevisionError::EmptyName(_))));
        assert!(matches!("main@".parse::<Revision>(), Err(RevisionError::MissingDigest(_))));
        assert!(matches!(format!("main@{SHA1}").parse::<Revision>(), Err(RevisionError::MissingDigest(_))));
        assert!(matches!("main@md5:abc".parse::<Revision>(), Err(RevisionError::UnknownAlgorithm { .. })));
        assert!(matches!("sha1:abc".parse::<Revision>(), Err(RevisionError::InvalidChecksum { .. })));
        assert!(matches!(
            format!("sha1:{}", SHA1.to_uppercase()).parse::<Revision>(),
            Err(RevisionError::InvalidChecksum { .. })
        ));
        assert!(matches!(
            format!("main@sha256:{SHA1}").parse::<Revision>(),
            Err(RevisionError::InvalidChecksum { .. })
        ));
        assert!(matches!("sha256:".parse::<Revision>(), Err(RevisionError::InvalidChecksum { .. })));
        assert!(matches!("main@sha1:zz".parse::<Revision>(), Err(RevisionError::InvalidChecksum { .. })));
        assert!(matches!("main@ü:ü".parse::<Revision>(), Err(RevisionError::UnknownAlgorithm { .. })));
    }

    #[test]
    fn same_content_compares_digests() {
        let a: Revision = format!("main@sha1:{SHA1}").parse().unwrap();
        let b: Revision = format!("sha1:{SHA1}").parse().unwrap();
        let c: Revision = "6.5.0".parse().unwrap();
        assert!(a.same_content(&b));
        assert!(!a.same_content(&c));
        assert!(c.same_content(&"6.5.0".parse().unwrap()));
    }

    /// Every short string over the characters that matter: no panic, and what parses prints
    /// back to the same text.
    #[test]
    fn never_panics_and_round_trips() {
        let alphabet = ['a', 's', 'h', '1', '@', ':', '/', '\u{e9}'];
        let mut texts = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> =
                texts.iter().flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}"))).collect();
            texts.extend(longer);
        }
        for text in &texts {
            if let Ok(revision) = text.parse::<Revision>() {
                assert_eq!(&revision.to_string(), text);
            }
        }
        let long = format!("main@sha1:{}", "a".repeat(40));
        assert!(long.parse::<Revision>().is_ok());
    }
}
