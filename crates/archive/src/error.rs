//! Why an archive was refused.

use std::io;
use std::path::Path;

/// An archive the walker refuses, or an I/O failure while reading it.
///
/// A [`Sink`](crate::Sink) has its own error type, which must convert from
/// this one, so callers can word these in their own domain (Helm's messages,
/// for example) while keeping the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An entry has an absolute path.
    #[error("archive entry {0:?} has an absolute path")]
    AbsolutePath(String),
    /// An entry's path contains `..`.
    #[error("archive entry {0:?} has a '..' path component")]
    ParentTraversal(String),
    /// A link points out of the archive (or, for a hard link, at no earlier
    /// file of it).
    #[error("archive link {path:?} -> {target:?} leads outside the target directory")]
    LinkEscape {
        /// The link's path.
        path: String,
        /// Where it points.
        target: String,
    },
    /// An entry is a device, FIFO or another type the destination cannot hold.
    #[error("archive entry {path:?} is a {kind}, which is not allowed")]
    UnsupportedEntry {
        /// The entry's path.
        path: String,
        /// The entry's type, in words.
        kind: String,
    },
    /// The archive unpacks to more than the byte budget.
    #[error("archive unpacks to more than {0} bytes")]
    SizeLimitExceeded(u64),
    /// The archive has more entries than allowed.
    #[error("archive has more than {0} entries")]
    FileLimitExceeded(usize),
    /// Reading the archive or writing an entry failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: String,
        /// The cause.
        source: io::Error,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an I/O error with what was being done to which path.
pub(crate) fn io_error(action: &'static str, path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> Error {
    let path = path.as_ref().display().to_string();
    move |source| Error::Io { action, path, source }
}
