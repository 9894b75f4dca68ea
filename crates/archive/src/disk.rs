//! Extraction to a directory: entries are written under it, never through
//! a link out of it, with hard links turned into copies.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result, io_error};
use crate::walk::{Extracted, Limits, Sink, walk};

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
    type Error = Error;

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
