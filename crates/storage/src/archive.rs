//! Reproducible tarballs of a directory, shaped as Flux shapes them.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::ignore::SourceIgnore;
use crate::{Result, io_err};

/// The mode of regular files in an artifact.
pub const FILE_MODE: u32 = 0o600;
/// The mode of executable files (any execute bit set) in an artifact.
pub const EXE_FILE_MODE: u32 = 0o700;
/// The mode of directories in an artifact.
pub const DIR_MODE: u32 = 0o750;

/// Writes `dir` as tar.gz into `out`: entries in lexical order, names
/// relative to `dir`, owner 0:0, no names, zero mtimes, Flux's modes; only
/// regular files and directories (symlinks and devices are left out).
pub(crate) fn write_tarball(dir: &Path, ignore: &SourceIgnore, out: &mut dyn Write) -> Result<()> {
    let gzip = GzEncoder::new(out, Compression::default());
    let mut tar = tar::Builder::new(gzip);
    tar.mode(tar::HeaderMode::Deterministic);
    append_dir(&mut tar, dir, Path::new(""), ignore)?;
    let gzip = tar.into_inner().map_err(io_err("finishing the tarball of", dir))?;
    gzip.finish().map_err(io_err("compressing", dir))?;
    Ok(())
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, root: &Path, rel: &Path, ignore: &SourceIgnore) -> Result<()> {
    let dir = root.join(rel);
    let mut entries = fs::read_dir(&dir)
        .map_err(io_err("listing", &dir))?
        .map(|entry| entry.map(|e| e.file_name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_err("listing", &dir))?;
    // Go's filepath.Walk order: by name, bytewise.
    entries.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    for name in entries {
        let rel_path = rel.join(&name);
        let full = root.join(&rel_path);
        let meta = fs::symlink_metadata(&full).map_err(io_err("reading", &full))?;
        let file_type = meta.file_type();
        if !(file_type.is_file() || file_type.is_dir()) {
            continue;
        }
        if ignore.is_ignored(&rel_path, file_type.is_dir()) {
            continue;
        }
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        if file_type.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(DIR_MODE);
            header.set_size(0);
            tar.append_data(&mut header, &rel_path, std::io::empty()).map_err(io_err("packing", &full))?;
            append_dir(tar, root, &rel_path, ignore)?;
        } else {
            use std::os::unix::fs::PermissionsExt;
            let executable = meta.permissions().mode() & 0o111 != 0;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if executable { EXE_FILE_MODE } else { FILE_MODE });
            header.set_size(meta.len());
            let file = File::open(&full).map_err(io_err("opening", &full))?;
            tar.append_data(&mut header, &rel_path, file).map_err(io_err("packing", &full))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;

    use flate2::read::GzDecoder;

    use super::*;

    fn tree(dir: &Path) {
        fs::create_dir_all(dir.join("deploy/base")).unwrap();
        fs::write(dir.join("deploy/base/app.yaml"), "kind: Deployment\n").unwrap();
        fs::write(dir.join("README.md"), "# app\n").unwrap();
        fs::write(dir.join("run.sh"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(dir.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("escape")).unwrap();
    }

    fn pack(dir: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        write_tarball(dir, &SourceIgnore::none(), &mut out).unwrap();
        out
    }

    #[test]
    fn tarballs_are_reproducible_and_shaped_like_flux() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        tree(a.path());
        tree(b.path());
        // Different permissions (but the same execute bit) and mtimes.
        fs::set_permissions(b.path().join("README.md"), fs::Permissions::from_mode(0o664)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(b.path().join("deploy/base/app.yaml"), "kind: Deployment\n").unwrap();
        let (first, second) = (pack(a.path()), pack(b.path()));
        assert_eq!(first, second, "same content, same bytes");

        let mut archive = tar::Archive::new(GzDecoder::new(first.as_slice()));
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let path = entry.path().unwrap().display().to_string();
            assert_eq!((header.uid().unwrap(), header.gid().unwrap(), header.mtime().unwrap()), (0, 0, 0));
            let mut body = String::new();
            entry.read_to_string(&mut body).unwrap();
            seen.push((path, header.mode().unwrap(), header.entry_type().is_dir()));
        }
        assert_eq!(
            seen,
            [
                ("README.md".to_string(), 0o600, false),
                ("deploy".to_string(), 0o750, true),
                ("deploy/base".to_string(), 0o750, true),
                ("deploy/base/app.yaml".to_string(), 0o600, false),
                ("run.sh".to_string(), 0o700, false),
            ]
        );
    }
}
