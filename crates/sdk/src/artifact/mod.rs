//! Artifacts, from both sides: a source kind stores one ([`store::publish`],
//! the step every kind shares); a consumer reads the source, downloads its
//! artifact with a digest check, and unpacks it safely, to disk or memory.
//!
//! A consumer (Kustomization, HelmRelease, your controller) reads the object
//! its `sourceRef` names ([`source::get`]), downloads the artifact from
//! `status.artifact.url`, checks it against `status.artifact.digest` while it
//! streams ([`Fetcher`]) and unpacks it ([`extract_tar_gz`] to disk, or
//! [`Cache::tree`] once per revision into memory). Archives are untrusted
//! input: the one tar reader of the workspace ([`ferry_archive`], behind
//! [`extract`]) rejects absolute
//! paths, `..`, links that lead out of the target, device files and FIFOs,
//! and caps the entry count and one byte budget that counts files, hard-link
//! copies and symlinks alike.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};

mod cache;
pub mod extract;
pub mod source;
pub mod store;
mod tree;

pub use cache::{Cache, MAX_CACHE_BYTES};
pub use extract::{Extracted, Limits, extract_file, extract_tar_gz};
pub use ferry_archive::Error as ArchiveError;
pub use tree::Tree;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The digest is not `sha256:<64 hex digits>`.
    #[error("unsupported artifact digest {0:?}: want sha256:<hex>")]
    InvalidDigest(String),
    /// The download failed after retries.
    #[error("downloading {url}: {source}")]
    DownloadFailed {
        /// The artifact URL.
        url: String,
        /// The last failure.
        source: DownloadError,
    },
    /// The server has no such artifact (HTTP 404): the source may not have
    /// stored it yet, or already collected it. Not retried.
    #[error("downloading {url}: HTTP 404 Not Found")]
    NotFound {
        /// The artifact URL.
        url: String,
    },
    /// The downloaded bytes do not match the expected digest.
    #[error("artifact {url} has digest sha256:{actual}, want {expected}")]
    DigestMismatch {
        /// The artifact URL.
        url: String,
        /// The digest wanted.
        expected: String,
        /// The digest of what was received.
        actual: String,
    },
    /// The download is larger than allowed.
    #[error("artifact {url} is larger than {max} bytes")]
    TooLarge {
        /// The artifact URL.
        url: String,
        /// The limit.
        max: u64,
    },
    /// The HTTP client could not be built.
    #[error(transparent)]
    Http(#[from] crate::http::Error),
    /// The archive was refused (a hostile path or link, a device, over the
    /// size or entry budget) or could not be read.
    #[error(transparent)]
    Archive(#[from] ferry_archive::Error),
    /// Reading or writing a file of the SDK's own failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// The extraction task died.
    #[error("extraction task failed: {source}")]
    TaskFailed {
        /// The cause.
        source: tokio::task::JoinError,
    },
    /// The scratch directory for a download could not be made.
    #[error("tmp dir error: {source}")]
    TempDir {
        /// The cause.
        source: io::Error,
    },
}

/// Why one download attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The connection or the body failed.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// The server answered with an error status.
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_error(action: &'static str, path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> Error {
    let path = path.as_ref().display().to_string();
    move |source| Error::Io { action, path, source }
}

/// A parsed `sha256:<hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sha256Digest(String);

impl Sha256Digest {
    /// Parses `sha256:<64 lowercase or uppercase hex digits>`.
    pub fn parse(digest: &str) -> Result<Self> {
        let hex = digest.strip_prefix("sha256:").ok_or_else(|| Error::InvalidDigest(digest.to_string()))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidDigest(digest.to_string()));
        }
        Ok(Self(hex.to_ascii_lowercase()))
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

/// Downloads artifacts with retries.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    retries: u32,
    retry_wait: Duration,
    max_size: u64,
}

impl Fetcher {
    /// A fetcher with a `timeout` per attempt, 3 retries and a 1 GiB cap.
    pub fn new(timeout: Duration) -> Result<Self> {
        Ok(Self {
            client: crate::http::client(timeout)?,
            retries: 3,
            retry_wait: Duration::from_millis(500),
            max_size: 1 << 30,
        })
    }

    /// Sets the retries after the first attempt and the first wait.
    pub fn with_retries(mut self, retries: u32, first_wait: Duration) -> Self {
        self.retries = retries;
        self.retry_wait = first_wait;
        self
    }

    /// Sets the largest download accepted, in bytes.
    pub fn with_max_size(mut self, max_size: u64) -> Self {
        self.max_size = max_size;
        self
    }

    /// Downloads `url` into the file `dest`, checking it against `digest`
    /// while streaming. A digest mismatch is not retried: the server keeps
    /// serving what it has. `dest` is removed when the download fails.
    pub async fn fetch(&self, url: &str, digest: &str, dest: &Path) -> Result<()> {
        let expected = Sha256Digest::parse(digest)?;
        let mut wait = self.retry_wait;
        let mut last = None;
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
            match self.try_fetch(url, dest).await {
                Ok(actual) if actual == expected.hex() => return Ok(()),
                Ok(actual) => {
                    let _ = fs::remove_file(dest);
                    return Err(Error::DigestMismatch { url: url.to_string(), expected: expected.to_string(), actual });
                }
                Err(Attempt::Fatal(error)) => {
                    let _ = fs::remove_file(dest);
                    return Err(error);
                }
                Err(Attempt::Retry(error)) => {
                    tracing::debug!(url, attempt, %error, "artifact download failed, retrying");
                    last = Some(error);
                }
            }
        }
        let _ = fs::remove_file(dest);
        // At least one attempt ran, so `last` is set; a zero-retry loop
        // that never ran cannot happen (`0..=retries`).
        let source = last.unwrap_or(DownloadError::Status(reqwest::StatusCode::REQUEST_TIMEOUT));
        Err(Error::DownloadFailed { url: url.to_string(), source })
    }

    async fn try_fetch(&self, url: &str, dest: &Path) -> Result<String, Attempt> {
        let response = self.client.get(url).send().await.map_err(|e| Attempt::Retry(e.into()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(if status == reqwest::StatusCode::NOT_FOUND {
                Attempt::Fatal(Error::NotFound { url: url.to_string() })
            } else if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                Attempt::Retry(DownloadError::Status(status))
            } else {
                Attempt::Fatal(Error::DownloadFailed { url: url.to_string(), source: DownloadError::Status(status) })
            });
        }
        if response.content_length().is_some_and(|len| len > self.max_size) {
            return Err(Attempt::Fatal(Error::TooLarge { url: url.to_string(), max: self.max_size }));
        }
        let mut file = File::create(dest).map_err(|e| Attempt::Fatal(io_error("creating", dest)(e)))?;
        let mut hasher = Sha256::new();
        let mut written: u64 = 0;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| Attempt::Retry(e.into()))?;
            written += chunk.len() as u64;
            if written > self.max_size {
                return Err(Attempt::Fatal(Error::TooLarge { url: url.to_string(), max: self.max_size }));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(|e| Attempt::Fatal(io_error("writing", dest)(e)))?;
        }
        file.flush().map_err(|e| Attempt::Fatal(io_error("writing", dest)(e)))?;
        Ok(hex::encode(hasher.finalize()))
    }
}

enum Attempt {
    Retry(DownloadError),
    Fatal(Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_digests() {
        let hex = "a".repeat(64);
        assert_eq!(Sha256Digest::parse(&format!("sha256:{hex}")).unwrap().hex(), hex);
        assert!(Sha256Digest::parse(&hex).is_err());
        assert!(Sha256Digest::parse("sha256:xyz").is_err());
        assert!(Sha256Digest::parse("sha512:abc").is_err());
    }
}
