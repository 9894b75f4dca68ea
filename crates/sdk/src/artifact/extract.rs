//! Unpacking artifacts to disk, through the workspace's one tar reader,
//! [`ferry_archive`]: it refuses absolute paths, `..`, links out of the
//! target, devices and FIFOs, and counts every entry and one byte budget
//! (files, hard-link copies and symlink targets alike) before anything is
//! written. This module adds only the SDK's error type and a blocking-thread
//! wrapper for async callers.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

pub use ferry_archive::{Extracted, Limits};

use super::{Error, Result, io_error};

/// Extracts the `tar.gz` file `archive` into `target` on a blocking thread.
pub async fn extract_file(archive: &Path, target: &Path, limits: Limits) -> Result<Extracted> {
    let archive = archive.to_path_buf();
    let target = target.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let file = File::open(&archive).map_err(io_error("opening", &archive))?;
        extract_tar_gz(io::BufReader::new(file), &target, limits)
    })
    .await
    .map_err(|source| Error::TaskFailed { source })?
}

/// Extracts a gzip-compressed tarball from `reader` into `target`, which is
/// created if missing. Hostile entries fail the whole extraction with
/// [`Error::Archive`]; whatever was written before stays inside `target`, so
/// extract into a fresh directory and discard it on error. Hard links become
/// copies.
pub fn extract_tar_gz(reader: impl Read, target: &Path, limits: Limits) -> Result<Extracted> {
    Ok(ferry_archive::extract_tar_gz(reader, target, limits)?)
}
