//! Garbage collection of an object's old artifact files.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::{Result, io_err};

/// The prefix of files being written; never collected.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// The most files looked at in one directory, as Flux limits it.
const COUNT_LIMIT: usize = 1000;

/// Removes files next to `current` that are older than `ttl`, then the
/// oldest until at most `keep` remain (`current` always stays), with their
/// `.lock` files.
pub(crate) fn collect(current: &Path, ttl: Duration, keep: usize) -> Result<Vec<PathBuf>> {
    let Some(dir) = current.parent() else { return Ok(Vec::new()) };
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let now = SystemTime::now();
    let mut files: Vec<(SystemTime, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("listing", dir))?.take(COUNT_LIMIT) {
        let entry = entry.map_err(io_err("listing", dir))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let meta = fs::symlink_metadata(&path).map_err(io_err("reading", &path))?;
        if !meta.is_file() || name.ends_with(".lock") || name.starts_with(TEMP_PREFIX) {
            continue;
        }
        let modified = meta.modified().map_err(io_err("reading", &path))?;
        files.push((modified, path));
    }
    files.sort();
    let total = files.len();
    let mut garbage: Vec<PathBuf> = Vec::new();
    for (modified, path) in &files {
        let age = now.duration_since(*modified).unwrap_or_default();
        if path != current && age > ttl {
            garbage.push(path.clone());
        }
    }
    for (_, path) in &files {
        if total - garbage.len() <= keep {
            break;
        }
        if path != current && !garbage.contains(path) {
            garbage.push(path.clone());
        }
    }
    let mut removed = Vec::new();
    for path in garbage {
        fs::remove_file(&path).map_err(io_err("removing", &path))?;
        let lock = PathBuf::from(format!("{}.lock", path.display()));
        if lock.exists() {
            fs::remove_file(&lock).map_err(io_err("removing", &lock))?;
        }
        removed.push(path);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::*;

    fn file(dir: &Path, name: &str, age: Duration) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, name).unwrap();
        File::options().write(true).open(&path).unwrap().set_modified(SystemTime::now() - age).unwrap();
        path
    }

    #[test]
    fn keeps_the_newest_records_and_the_current_file() {
        let dir = tempfile::tempdir().unwrap();
        let minute = Duration::from_secs(60);
        let a = file(dir.path(), "a.tar.gz", minute * 5);
        let b = file(dir.path(), "b.tar.gz", minute * 4);
        let c = file(dir.path(), "c.tar.gz", minute * 3);
        let current = file(dir.path(), "d.tar.gz", minute * 2);
        fs::write(dir.path().join("a.tar.gz.lock"), "").unwrap();
        std::os::unix::fs::symlink(&current, dir.path().join("latest.tar.gz")).unwrap();

        let removed = collect(&current, Duration::from_secs(3600), 2).unwrap();
        assert_eq!(removed, [a.clone(), b.clone()]);
        assert!(!dir.path().join("a.tar.gz.lock").exists());
        assert!(c.exists() && current.exists() && dir.path().join("latest.tar.gz").exists());

        // A short TTL removes everything but the current file.
        let removed = collect(&current, Duration::from_secs(30), 2).unwrap();
        assert_eq!(removed, [c]);
        assert!(current.exists());
    }
}
