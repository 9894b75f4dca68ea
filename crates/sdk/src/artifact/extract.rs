//! The one tar.gz extractor of the workspace, for artifacts unpacked to disk
//! ([`extract_tar_gz`]) or into memory ([`Tree`](super::Tree)).
//!
//! Archives are untrusted input, so one walker checks every entry the same
//! way whatever the destination: absolute paths and `..` are refused,
//! devices and FIFOs too, every entry counts against [`Limits::max_files`],
//! and one byte budget ([`Limits::max_size`]) counts regular files, the
//! copies hard links make and the targets symlinks store, checked *before*
//! anything is written, so a small archive of hard links to a large file
//! cannot grow memory or disk past the budget.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use super::{Error, Result, io_error};

/// Limits for extraction.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most bytes the archive may unpack to: regular files, hard-link
    /// copies and symlink targets together.
    pub max_size: u64,
    /// The most entries the archive may have, of any type.
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

/// Where the walker puts the entries it accepted: it has already checked
/// the entry's path (relative, no `..`) and charged the budget.
pub(crate) trait Sink {
    /// A directory.
    fn dir(&mut self, path: &Path, raw: &str) -> Result<()>;
    /// A regular file, whose body reads at most `budget + 1` bytes; returns
    /// the bytes stored.
    fn file(&mut self, path: &Path, raw: &str, body: &mut dyn Read, mode: u32) -> Result<u64>;
    /// A symbolic link to the relative `target`.
    fn symlink(&mut self, path: &Path, raw: &str, target: &str) -> Result<()>;
    /// The size of the earlier entry `source` a hard link copies, before
    /// the copy is charged; `Err(LinkEscape)` when it is no file of the
    /// archive.
    fn linked_size(&mut self, source: &Path, raw: &str, target: &str) -> Result<u64>;
    /// The copy of `source` at `path`.
    fn hard_link(&mut self, path: &Path, raw: &str, source: &Path) -> Result<()>;
}

/// The byte budget of one extraction.
struct Budget {
    max: u64,
    used: u64,
}

impl Budget {
    fn charge(&mut self, bytes: u64) -> Result<()> {
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
/// entry and hands it to `sink`.
pub(crate) fn walk(reader: impl Read, limits: Limits, sink: &mut dyn Sink) -> Result<Extracted> {
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(reader));
    let mut stats = Extracted::default();
    let mut budget = Budget { max: limits.max_size, used: 0 };
    let mut entries_seen = 0usize;
    for entry in archive.entries().map_err(io_error("reading archive", "<archive>"))? {
        let mut entry = entry.map_err(io_error("reading archive", "<archive>"))?;
        entries_seen += 1;
        if entries_seen > limits.max_files {
            return Err(Error::FileLimitExceeded(limits.max_files));
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(relative) = clean_entry_path(&raw)? else { continue };
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Directory => sink.dir(&relative, &raw)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.header().size().map_err(io_error("reading archive", &raw))?;
                if size > budget.left() {
                    return Err(Error::SizeLimitExceeded(limits.max_size));
                }
                let mode = entry.header().mode().unwrap_or(0o644);
                let left = budget.left();
                let mut body = (&mut entry).take(left.saturating_add(1));
                let copied = sink.file(&relative, &raw, &mut body, mode)?;
                budget.charge(copied)?;
                stats.bytes += copied;
                stats.files += 1;
            }
            tar::EntryType::Symlink => {
                let target = link_name(&entry, &raw)?;
                if target.is_empty() || Path::new(&target).is_absolute() {
                    return Err(Error::LinkEscape { path: raw, target });
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
            other => return Err(Error::UnsupportedEntry { path: raw, kind: entry_kind_name(other) }),
        }
    }
    Ok(stats)
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>, raw: &str) -> Result<String> {
    Ok(entry
        .link_name()
        .map_err(io_error("reading archive", raw))?
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default())
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
    .map_err(|source| Error::TaskFailed { source })?
}

/// Extracts a gzip-compressed tarball from `reader` into `target`, which is
/// created if missing. Hostile entries fail the whole extraction with a clear
/// error; whatever was written before stays inside `target`, so extract into
/// a fresh directory and discard it on error. Links that lead out of
/// `target` are refused; hard links become copies.
pub fn extract_tar_gz(reader: impl Read, target: &Path, limits: Limits) -> Result<Extracted> {
    fs::create_dir_all(target).map_err(io_error("creating", target))?;
    let root = target.canonicalize().map_err(io_error("resolving", target))?;
    walk(reader, limits, &mut Disk { root })
}

/// Entries written under a directory, never through a link out of it.
struct Disk {
    root: PathBuf,
}

impl Sink for Disk {
    fn dir(&mut self, path: &Path, raw: &str) -> Result<()> {
        let dir = resolve(&self.root, path, raw)?;
        fs::create_dir_all(&dir).map_err(io_error("creating", &dir))
    }

    fn file(&mut self, path: &Path, raw: &str, body: &mut dyn Read, mode: u32) -> Result<u64> {
        let dest = prepare_leaf(&self.root, path, raw)?;
        let mut file = File::create(&dest).map_err(io_error("creating", &dest))?;
        let copied = io::copy(body, &mut file).map_err(io_error("writing", &dest))?;
        set_mode(&dest, mode)?;
        Ok(copied)
    }

    fn symlink(&mut self, path: &Path, raw: &str, target: &str) -> Result<()> {
        let parent = path.parent().unwrap_or(Path::new(""));
        resolve(&self.root, &parent.join(target), raw)
            .map_err(|_| Error::LinkEscape { path: raw.to_string(), target: target.to_string() })?;
        let dest = prepare_leaf(&self.root, path, raw)?;
        make_symlink(target, &dest)
    }

    fn linked_size(&mut self, source: &Path, raw: &str, target: &str) -> Result<u64> {
        let source = resolve(&self.root, source, raw)
            .map_err(|_| Error::LinkEscape { path: raw.to_string(), target: target.to_string() })?;
        Ok(fs::metadata(&source).map_err(io_error("reading", &source))?.len())
    }

    fn hard_link(&mut self, path: &Path, raw: &str, source: &Path) -> Result<()> {
        let source = resolve(&self.root, source, raw)?;
        let dest = prepare_leaf(&self.root, path, raw)?;
        // A copy, not a hard link: the target directory may be moved or
        // served independently of the original file.
        fs::copy(&source, &dest).map_err(io_error("copying", &dest))?;
        Ok(())
    }
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
