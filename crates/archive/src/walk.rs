//! The walker: reads entries, checks each one, charges the budget, and hands
//! what it accepts to a [`Sink`].

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, io_error};

/// Limits for one archive.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most bytes the archive may unpack to: regular files, hard-link
    /// copies and symlink targets together.
    pub max_size: u64,
    /// The most entries the archive may have, of any type.
    pub max_files: usize,
}

impl Default for Limits {
    /// 100 MiB (Flux's default untar limit, and Helm's chart limit) and
    /// 100,000 entries.
    fn default() -> Self {
        Self { max_size: 100 << 20, max_files: 100_000 }
    }
}

/// What an archive unpacked to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Regular files (and hard-link copies) kept.
    pub files: usize,
    /// Bytes kept.
    pub bytes: u64,
}

/// Where the walker puts the entries it accepted. Every `path` is relative,
/// free of `.` and `..`, and already charged to the budget; `raw` is the
/// entry's name as the archive spells it, for messages and for destinations
/// with naming rules of their own.
pub trait Sink {
    /// The sink's error; the walker's own refusals convert into it.
    type Error: From<Error>;
    /// A directory.
    fn dir(&mut self, path: &Path, raw: &str) -> Result<(), Self::Error>;
    /// A regular file, whose body yields at most one byte more than the
    /// budget left (so a lying header is caught); returns the bytes kept.
    fn file(&mut self, path: &Path, raw: &str, body: &mut dyn Read, mode: u32) -> Result<u64, Self::Error>;
    /// A symbolic link to the relative `target` (never empty or absolute).
    fn symlink(&mut self, path: &Path, raw: &str, target: &str) -> Result<(), Self::Error>;
    /// The size of the earlier entry `source` that a hard link copies, asked
    /// before the copy is charged; [`Error::LinkEscape`] when it is no file
    /// of the archive.
    fn linked_size(&mut self, source: &Path, raw: &str, target: &str) -> Result<u64, Self::Error>;
    /// The copy of `source` at `path`.
    fn hard_link(&mut self, path: &Path, raw: &str, source: &Path) -> Result<(), Self::Error>;
}

/// The byte budget of one archive.
struct Budget {
    max: u64,
    used: u64,
}

impl Budget {
    fn charge(&mut self, bytes: u64) -> Result<(), Error> {
        match self.used.checked_add(bytes) {
            Some(used) if used <= self.max => {
                self.used = used;
                Ok(())
            }
            _ => Err(Error::SizeLimitExceeded(self.max)),
        }
    }

    fn left(&self) -> u64 {
        self.max - self.used
    }
}

/// Walks a gzip-compressed tarball (one or more gzip members), checks each
/// entry and hands it to `sink`. The first refusal ends the walk; what the
/// sink kept before it is the caller's to discard.
pub fn walk<S: Sink + ?Sized>(reader: impl Read, limits: Limits, sink: &mut S) -> Result<Extracted, S::Error> {
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(reader));
    let mut stats = Extracted::default();
    let mut budget = Budget { max: limits.max_size, used: 0 };
    let mut entries_seen = 0usize;
    for entry in archive.entries().map_err(io_error("reading archive", "<archive>"))? {
        let mut entry = entry.map_err(io_error("reading archive", "<archive>"))?;
        entries_seen += 1;
        if entries_seen > limits.max_files {
            return Err(Error::FileLimitExceeded(limits.max_files).into());
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(relative) = clean_entry_path(&raw)? else { continue };
        match entry.header().entry_type() {
            tar::EntryType::Directory => sink.dir(&relative, &raw)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size().map_err(io_error("reading archive", &raw))?;
                if size > budget.left() {
                    return Err(Error::SizeLimitExceeded(limits.max_size).into());
                }
                let mode = entry.header().mode().unwrap_or(0o644);
                let mut body = (&mut entry).take(budget.left().saturating_add(1));
                let copied = sink.file(&relative, &raw, &mut body, mode)?;
                budget.charge(copied)?;
                stats.bytes += copied;
                stats.files += 1;
            }
            tar::EntryType::Symlink => {
                let target = link_name(&entry, &raw)?;
                if target.is_empty() || Path::new(&target).is_absolute() {
                    return Err(Error::LinkEscape { path: raw, target }.into());
                }
                budget.charge(target.len() as u64)?;
                sink.symlink(&relative, &raw, &target)?;
            }
            tar::EntryType::Link => {
                let target = link_name(&entry, &raw)?;
                let escape = || Error::LinkEscape { path: raw.clone(), target: target.clone() };
                let source = clean_entry_path(&target).map_err(|_| escape())?.ok_or_else(escape)?;
                let size = sink.linked_size(&source, &raw, &target)?;
                budget.charge(size)?;
                sink.hard_link(&relative, &raw, &source)?;
                stats.bytes += size;
                stats.files += 1;
            }
            // Extended headers are consumed by the tar reader; these carry no file.
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => return Err(Error::UnsupportedEntry { path: raw, kind: entry_kind_name(other) }.into()),
        }
    }
    Ok(stats)
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>, raw: &str) -> Result<String, Error> {
    Ok(entry
        .link_name()
        .map_err(io_error("reading archive", raw))?
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default())
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
fn clean_entry_path(raw: &str) -> Result<Option<PathBuf>, Error> {
    let mut clean = PathBuf::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(Error::ParentTraversal(raw.to_string())),
            Component::RootDir | Component::Prefix(_) => return Err(Error::AbsolutePath(raw.to_string())),
        }
    }
    Ok(if clean.as_os_str().is_empty() { None } else { Some(clean) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_entry_paths() {
        assert_eq!(clean_entry_path("./a/./b").unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(clean_entry_path("./").unwrap(), None);
        assert!(matches!(clean_entry_path("/etc/passwd"), Err(Error::AbsolutePath(_))));
        assert!(matches!(clean_entry_path("a/../../b"), Err(Error::ParentTraversal(_))));
    }
}
