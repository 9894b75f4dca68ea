//! Digests of stored bytes, computed while they are written.

use std::io::{self, Write};

use sha2::Digest as _;

use crate::{Error, Result};

/// The algorithms `--artifact-digest-algo` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DigestAlgorithm {
    /// SHA-256, Flux's default.
    #[default]
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// BLAKE3.
    Blake3,
}

impl DigestAlgorithm {
    /// The algorithm's name, as used in the flag and as digest prefix.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
            Self::Blake3 => "blake3",
        }
    }

    /// The digest `<algorithm>:<hex>` of `data` (a HelmRepository's revision
    /// is the digest of its index as fetched).
    pub fn digest(self, data: &[u8]) -> String {
        let mut writer = DigestWriter::new(self, io::sink());
        // A sink never fails.
        let _ = writer.write_all(data);
        writer.finish().0
    }

    /// The algorithm named by a digest such as `sha256:<hex>`.
    pub fn of_digest(digest: &str) -> Result<Self> {
        let (name, hex) = digest.split_once(':').ok_or_else(|| Error::UnsupportedDigest(digest.to_string()))?;
        let algorithm: Self = name.parse()?;
        if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::UnsupportedDigest(digest.to_string()));
        }
        Ok(algorithm)
    }
}

impl std::str::FromStr for DigestAlgorithm {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "sha256" => Ok(Self::Sha256),
            "sha384" => Ok(Self::Sha384),
            "sha512" => Ok(Self::Sha512),
            "blake3" => Ok(Self::Blake3),
            other => Err(Error::UnsupportedDigest(other.to_string())),
        }
    }
}

enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
    Blake3(Box<blake3::Hasher>),
}

/// A writer that digests and counts what passes through it.
pub(crate) struct DigestWriter<W> {
    inner: W,
    hasher: Hasher,
    algorithm: DigestAlgorithm,
    size: u64,
}

impl<W: Write> DigestWriter<W> {
    pub(crate) fn new(algorithm: DigestAlgorithm, inner: W) -> Self {
        let hasher = match algorithm {
            DigestAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            DigestAlgorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            DigestAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            DigestAlgorithm::Blake3 => Hasher::Blake3(Box::new(blake3::Hasher::new())),
        };
        Self { inner, hasher, algorithm, size: 0 }
    }

    /// The digest `<algorithm>:<hex>`, the byte count, and the inner writer.
    pub(crate) fn finish(self) -> (String, u64, W) {
        let hex = match self.hasher {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha384(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
            Hasher::Blake3(h) => h.finalize().to_hex().to_string(),
        };
        (format!("{}:{hex}", self.algorithm.name()), self.size, self.inner)
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = &buf[..n];
        match &mut self.hasher {
            Hasher::Sha256(h) => h.update(written),
            Hasher::Sha384(h) => h.update(written),
            Hasher::Sha512(h) => h.update(written),
            Hasher::Blake3(h) => {
                h.update(written);
            }
        }
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_known_values() {
        let mut w = DigestWriter::new(DigestAlgorithm::Sha256, Vec::new());
        w.write_all(b"abc").unwrap();
        let (digest, size, bytes) = w.finish();
        assert_eq!(digest, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!((size, bytes.as_slice()), (3, &b"abc"[..]));
        let mut w = DigestWriter::new(DigestAlgorithm::Blake3, io::sink());
        w.write_all(b"abc").unwrap();
        assert_eq!(w.finish().0, "blake3:6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
        assert_eq!(
            DigestAlgorithm::Sha256.digest(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parses_algorithms_and_digests() {
        assert_eq!("sha512".parse::<DigestAlgorithm>().unwrap(), DigestAlgorithm::Sha512);
        assert!("md5".parse::<DigestAlgorithm>().is_err());
        assert_eq!(DigestAlgorithm::of_digest("sha384:ab12").unwrap(), DigestAlgorithm::Sha384);
        for bad in ["sha256", "sha256:", "sha256:xyz", "md5:abcd", ""] {
            assert!(DigestAlgorithm::of_digest(bad).is_err(), "{bad}");
        }
    }
}
