//! Artifacts: download with digest check, and safe `tar.gz` extraction.
//!
//! A consumer (Kustomization, HelmRelease, your controller) downloads its
//! source's artifact from `status.artifact.url`, checks it against
//! `status.artifact.digest` while it streams, and unpacks it. Archives are
//! untrusted input: extraction rejects absolute paths, `..`, links that lead
//! out of the target, device files and FIFOs, caps the total size and the file
//! count, and never writes outside the target directory.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The digest is not `sha256:<64 hex digits>`.
    #[error("unsupported artifact digest {0:?}: want sha256:<hex>")]
    InvalidDigest(String),
    /// The download failed after retries.
    #[error("downloading {url}: {message}")]
    DownloadFailed {
        /// The artifact URL.
        url: String,
        /// The last failure.
        message: String,
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
    /// An archive entry has an absolute path.
    #[error("archive entry {0:?} has an absolute path")]
    AbsolutePath(String),
    /// An archive entry's path contains `..`.
    #[error("archive entry {0:?} has a '..' path component")]
    ParentTraversal(String),
    /// A link in the archive points out of the target directory.
    #[error("archive link {path:?} -> {target:?} leads outside the target directory")]
    LinkEscape {
        /// The link's path.
        path: String,
        /// Where it points.
        target: String,
    },
    /// An archive entry is a device, FIFO or other unsupported type.
    #[error("archive entry {path:?} is a {kind}, which is not allowed")]
    UnsupportedEntry {
        /// The entry's path.
        path: String,
        /// The entry's type.
        kind: String,
    },
    /// The archive unpacks to more than the size limit.
    #[error("archive unpacks to more than {0} bytes")]
    SizeLimitExceeded(u64),
    /// The archive has more entries than the file limit.
    #[error("archive has more than {0} entries")]
    FileLimitExceeded(usize),
    /// Reading the archive or writing a file failed.
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
    #[error("extraction task failed: {0}")]
    TaskFailed(String),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_error(action: &'static str, path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> Error {
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
        let mut last = String::new();
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
                Err(Attempt::Retry(message)) => {
                    tracing::debug!(url, attempt, %message, "artifact download failed, retrying");
                    last = message;
                }
            }
        }
        let _ = fs::remove_file(dest);
        Err(Error::DownloadFailed { url: url.to_string(), message: last })
    }

    async fn try_fetch(&self, url: &str, dest: &Path) -> Result<String, Attempt> {
        let response = self.client.get(url).send().await.map_err(|e| Attempt::Retry(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let message = format!("HTTP {status}");
            return Err(if status == reqwest::StatusCode::NOT_FOUND {
                Attempt::Fatal(Error::NotFound { url: url.to_string() })
            } else if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                Attempt::Retry(message)
            } else {
                Attempt::Fatal(Error::DownloadFailed { url: url.to_string(), message })
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
            let chunk = chunk.map_err(|e| Attempt::Retry(e.to_string()))?;
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
    Retry(String),
    Fatal(Error),
}

/// Limits for extraction.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most bytes all files together may unpack to.
    pub max_size: u64,
    /// The most entries the archive may have.
    pub max_files: usize,
}

impl Default for Limits {
    /// 100 MiB (Flux's default untar limit) and 100,000 entries.
    fn default() -> Self {
        Self { max_size: 100 << 20, max_files: 100_000 }
    }
}

/// What an extraction produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Regular files (and hard-link copies) written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Extracts the `tar.gz` file `archive` into `target` on a blocking thread.
pub async fn extract_file(archive: &Path, target: &Path, limits: Limits) -> Result<Extracted> {
    let archive = archive.to_path_buf();
    let target = target.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let file = File::open(&archive).map_err(io_error("opening", &archive))?;
        extract_tar_gz(io::BufReader::new(file), &target, limits)
    })
    .await
    .map_err(|e| Error::TaskFailed(e.to_string()))?
}

/// Extracts a gzip-compressed tarball from `reader` into `target`, which is
/// created if missing. Hostile entries fail the whole extraction with a clear
/// error; whatever was written before stays inside `target`, so extract into
/// a fresh directory and discard it on error.
pub fn extract_tar_gz(reader: impl Read, target: &Path, limits: Limits) -> Result<Extracted> {
    fs::create_dir_all(target).map_err(io_error("creating", target))?;
    let root = target.canonicalize().map_err(io_error("resolving", target))?;
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(reader));
    let mut stats = Extracted::default();
    let mut entries_seen = 0usize;
    for entry in archive.entries().map_err(io_error("reading archive", target))? {
        let mut entry = entry.map_err(io_error("reading archive", target))?;
        entries_seen += 1;
        if entries_seen > limits.max_files {
            return Err(Error::FileLimitExceeded(limits.max_files));
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(relative) = clean_entry_path(&raw)? else { continue };
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory => {
                let dir = resolve(&root, &relative, &raw)?;
                fs::create_dir_all(&dir).map_err(io_error("creating", &dir))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size().map_err(io_error("reading archive", &raw))?;
                if stats.bytes.saturating_add(size) > limits.max_size {
                    return Err(Error::SizeLimitExceeded(limits.max_size));
                }
                let dest = prepare_leaf(&root, &relative, &raw)?;
                let mut file = File::create(&dest).map_err(io_error("creating", &dest))?;
                let budget = limits.max_size - stats.bytes;
                let copied = io::copy(&mut (&mut entry).take(budget.saturating_add(1)), &mut file)
                    .map_err(io_error("writing", &dest))?;
                if copied > budget {
                    return Err(Error::SizeLimitExceeded(limits.max_size));
                }
                set_mode(&dest, entry.header().mode().unwrap_or(0o644))?;
                stats.bytes += copied;
                stats.files += 1;
            }
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(io_error("reading archive", &raw))?
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let escape = || Error::LinkEscape { path: raw.clone(), target: link.clone() };
                if link.is_empty() || Path::new(&link).is_absolute() {
                    return Err(escape());
                }
                let parent = relative.parent().unwrap_or(Path::new(""));
                resolve(&root, &parent.join(&link), &raw).map_err(|_| escape())?;
                let dest = prepare_leaf(&root, &relative, &raw)?;
                make_symlink(&link, &dest)?;
            }
            tar::EntryType::Link => {
                let link = entry
                    .link_name()
                    .map_err(io_error("reading archive", &raw))?
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let escape = || Error::LinkEscape { path: raw.clone(), target: link.clone() };
                let source_rel = clean_entry_path(&link).map_err(|_| escape())?.ok_or_else(escape)?;
                let source = resolve(&root, &source_rel, &raw).map_err(|_| escape())?;
                let size = fs::metadata(&source).map_err(io_error("reading", &source))?.len();
                if stats.bytes.saturating_add(size) > limits.max_size {
                    return Err(Error::SizeLimitExceeded(limits.max_size));
                }
                let dest = prepare_leaf(&root, &relative, &raw)?;
                // A copy, not a hard link: the target directory may be moved
                // or served independently of the original file.
                fs::copy(&source, &dest).map_err(io_error("copying", &dest))?;
                stats.bytes += size;
                stats.files += 1;
            }
            // Extended headers are consumed by the tar reader; these carry no file.
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => {
                return Err(Error::UnsupportedEntry { path: raw, kind: entry_kind_name(other) });
            }
        }
    }
    Ok(stats)
}

fn entry_kind_name(kind: tar::EntryType) -> String {
    match kind {
        tar::EntryType::Char => "character device".into(),
        tar::EntryType::Block => "block device".into(),
        tar::EntryType::Fifo => "FIFO".into(),
        tar::EntryType::GNUSparse => "sparse file".into(),
        other => format!("{other:?}"),
    }
}

/// The entry's path without `.` components, or `None` for the root itself.
fn clean_entry_path(raw: &str) -> Result<Option<PathBuf>> {
    let path = Path::new(raw);
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(Error::ParentTraversal(raw.to_string())),
            Component::RootDir | Component::Prefix(_) => return Err(Error::AbsolutePath(raw.to_string())),
        }
    }
    Ok(if clean.as_os_str().is_empty() { None } else { Some(clean) })
}

/// Resolves `relative` under `root` the way the kernel would, following
/// symlinks already written inside `root`, and fails if it ever leaves `root`.
fn resolve(root: &Path, relative: &Path, entry: &str) -> Result<PathBuf> {
    let escape = || Error::LinkEscape { path: entry.to_string(), target: relative.display().to_string() };
    let mut stack: Vec<std::ffi::OsString> = Vec::new();
    let mut pending: Vec<std::ffi::OsString> =
        relative.components().rev().map(|c| c.as_os_str().to_os_string()).collect();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match Path::new(&part).components().next() {
            Some(Component::CurDir) | None => continue,
            Some(Component::ParentDir) => {
                if stack.pop().is_none() {
                    return Err(escape());
                }
                continue;
            }
            Some(Component::RootDir | Component::Prefix(_)) => return Err(escape()),
            Some(Component::Normal(_)) => {}
        }
        let mut candidate: PathBuf = root.to_path_buf();
        candidate.extend(stack.iter());
        candidate.push(&part);
        match fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    return Err(escape());
                }
                let link = fs::read_link(&candidate).map_err(io_error("reading link", &candidate))?;
                if link.is_absolute() {
                    return Err(escape());
                }
                pending.extend(link.components().rev().map(|c| c.as_os_str().to_os_string()));
            }
            _ => stack.push(part),
        }
    }
    let mut resolved = root.to_path_buf();
    resolved.extend(stack.iter());
    Ok(resolved)
}

/// Makes the parent directories of an entry and clears its own path, so the
/// new file, link or copy replaces any earlier entry (and never writes
/// through a symlink).
fn prepare_leaf(root: &Path, relative: &Path, raw: &str) -> Result<PathBuf> {
    let parent = resolve(root, relative.parent().unwrap_or(Path::new("")), raw)?;
    fs::create_dir_all(&parent).map_err(io_error("creating", &parent))?;
    let name = relative.file_name().ok_or_else(|| Error::ParentTraversal(raw.to_string()))?;
    let dest = parent.join(name);
    if let Ok(meta) = fs::symlink_metadata(&dest) {
        if meta.is_dir() {
            fs::remove_dir_all(&dest).map_err(io_error("replacing", &dest))?;
        } else {
            fs::remove_file(&dest).map_err(io_error("replacing", &dest))?;
        }
    }
    Ok(dest)
}

#[cfg(unix)]
fn make_symlink(link: &str, dest: &Path) -> Result<()> {
    std::os::unix::fs::symlink(link, dest).map_err(io_error("linking", dest))
}

#[cfg(not(unix))]
fn make_symlink(_link: &str, dest: &Path) -> Result<()> {
    Err(Error::UnsupportedEntry { path: dest.display().to_string(), kind: "symlink".into() })
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Keep only the executable bit's meaning: no setuid, setgid or world-writable files.
    let mode = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_error("setting mode of", path))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
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

    #[test]
    fn cleans_entry_paths() {
        assert_eq!(clean_entry_path("./a/./b").unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(clean_entry_path("./").unwrap(), None);
        assert!(matches!(clean_entry_path("/etc/passwd"), Err(Error::AbsolutePath(_))));
        assert!(matches!(clean_entry_path("a/../../b"), Err(Error::ParentTraversal(_))));
    }

    #[cfg(unix)]
    #[test]
    fn resolve_follows_links_and_catches_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::create_dir_all(root.join("deep/er")).unwrap();
        std::os::unix::fs::symlink("..", root.join("deep/er/up")).unwrap();
        // deep/er/up -> deep, so deep/er/up/.. is the root: fine.
        assert_eq!(resolve(&root, Path::new("deep/er/up/.."), "x").unwrap(), root);
        // deep/er/up/../.. is above the root even though it looks shallow.
        assert!(resolve(&root, Path::new("deep/er/up/../.."), "x").is_err());
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert!(resolve(&root, Path::new("loop/x"), "x").is_err());
    }
}
