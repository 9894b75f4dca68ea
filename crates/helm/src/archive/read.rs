//! Reads a gzipped chart tarball into memory (`pkg/chart/loader/archive.go`): the first path
//! component (the chart's directory) is dropped, paths are cleaned and checked, and sizes are
//! limited per file and in total. The tar stream itself is read by [`ferry_archive`], the one
//! reader of the workspace.

use std::io::Read;
use std::path::Path;

use crate::chart::File;

/// Limits for reading an archive.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most bytes all files may unpack to (Helm: 100 MiB).
    pub max_chart_size: u64,
    /// Most bytes one file may unpack to (Helm: 5 MiB).
    pub max_file_size: u64,
    /// Most entries the archive may hold.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_chart_size: 100 << 20, max_file_size: 5 << 20, max_entries: 100_000 }
    }
}

/// An archive Helm (or Ferry's stricter reading) refuses.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not gzip data.
    #[error("file '{name}' does not appear to be a gzipped archive")]
    NotGzip {
        /// The archive's name.
        name: String,
    },
    /// A YAML file given where an archive was expected.
    #[error("file '{name}' seems to be a YAML file, but expected a gzipped archive")]
    YamlNotArchive {
        /// The archive's name.
        name: String,
    },
    /// The gzip or tar stream is broken.
    #[error("reading chart archive")]
    Read(#[source] std::io::Error),
    /// An absolute path.
    #[error("chart illegally contains absolute paths")]
    AbsolutePath,
    /// A path that is only the base directory.
    #[error("chart illegally contains content outside the base directory: {0:?}")]
    OutsideBase(String),
    /// A path starting with `..`.
    #[error("chart illegally references parent directory")]
    ParentDirectory,
    /// A Windows drive path.
    #[error("chart contains illegally named files")]
    DrivePath,
    /// Chart.yaml at the top of the tarball, without a chart directory.
    #[error("chart yaml not in base directory")]
    ChartYamlAtRoot,
    /// Over the total size limit.
    #[error("decompressed chart is larger than the maximum file size {0}")]
    TooLarge(u64),
    /// One file over the per-file limit.
    #[error("decompressed chart file {name:?} is larger than the maximum file size {limit}")]
    FileTooLarge {
        /// The entry's name.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// Too many entries.
    #[error("chart archive has more than {0} entries")]
    TooManyEntries(usize),
    /// A link, device or other entry that is not a regular file or directory.
    #[error("chart archive entry {name:?} is a {kind}, which a chart cannot hold")]
    Unsupported {
        /// The entry's name.
        name: String,
        /// What it is.
        kind: String,
    },
    /// No files at all.
    #[error("no files in chart archive")]
    Empty,
}

/// Checks the first bytes look like gzip, with Helm's messages.
pub fn ensure_archive(name: &str, data: &[u8]) -> Result<(), Error> {
    if data.starts_with(&[0x1f, 0x8b, 0x08]) {
        return Ok(());
    }
    if name.ends_with(".yml") || name.ends_with(".yaml") {
        return Err(Error::YamlNotArchive { name: name.to_string() });
    }
    Err(Error::NotGzip { name: name.to_string() })
}

/// Reads every regular file of a chart archive, in archive order, through the workspace's one
/// tar reader ([`ferry_archive`]), which checks paths, entry count and the total size; this
/// sink adds Helm's rules: the chart directory is dropped, each file is capped, links refused.
pub fn read_archive(data: &[u8], limits: Limits) -> Result<Vec<File>, Error> {
    let budget = ferry_archive::Limits { max_size: limits.max_chart_size, max_files: limits.max_entries };
    let mut sink = ChartFiles { files: Vec::new(), max_file_size: limits.max_file_size };
    ferry_archive::walk(data, budget, &mut sink)?;
    if sink.files.is_empty() {
        return Err(Error::Empty);
    }
    Ok(sink.files)
}

/// The regular files of a chart, kept in memory.
struct ChartFiles {
    files: Vec<File>,
    max_file_size: u64,
}

impl ferry_archive::Sink for ChartFiles {
    type Error = Error;

    fn dir(&mut self, _path: &Path, _raw: &str) -> Result<(), Error> {
        Ok(())
    }

    fn file(&mut self, _path: &Path, raw: &str, body: &mut dyn Read, _mode: u32) -> Result<u64, Error> {
        let name = clean_name(raw)?;
        let mut buf = Vec::new();
        body.take(self.max_file_size + 1).read_to_end(&mut buf).map_err(Error::Read)?;
        let size = buf.len() as u64;
        if size > self.max_file_size {
            return Err(Error::FileTooLarge { name: raw.to_string(), limit: self.max_file_size });
        }
        let data = match buf.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
            Some(rest) => rest.to_vec(),
            None => buf,
        };
        self.files.push(File { name, data });
        Ok(size)
    }

    fn symlink(&mut self, _path: &Path, raw: &str, _target: &str) -> Result<(), Error> {
        Err(Error::Unsupported { name: raw.to_string(), kind: "symbolic link".into() })
    }

    fn linked_size(&mut self, _source: &Path, raw: &str, _target: &str) -> Result<u64, Error> {
        Err(Error::Unsupported { name: raw.to_string(), kind: "hard link".into() })
    }

    fn hard_link(&mut self, _path: &Path, raw: &str, _source: &Path) -> Result<(), Error> {
        Err(Error::Unsupported { name: raw.to_string(), kind: "hard link".into() })
    }
}

/// The reader's refusals, in Helm's words where Helm has them.
impl From<ferry_archive::Error> for Error {
    fn from(error: ferry_archive::Error) -> Self {
        use ferry_archive::Error as A;
        match error {
            A::AbsolutePath(_) => Error::AbsolutePath,
            A::ParentTraversal(_) => Error::ParentDirectory,
            A::SizeLimitExceeded(max) => Error::TooLarge(max),
            A::FileLimitExceeded(max) => Error::TooManyEntries(max),
            A::UnsupportedEntry { path, kind } => Error::Unsupported { name: path, kind },
            A::LinkEscape { path, .. } => Error::Unsupported { name: path, kind: "link".into() },
            A::Io { source, .. } => Error::Read(source),
        }
    }
}

/// Drops the chart directory, cleans the rest as Go's `path.Clean`, and applies Helm's checks.
fn clean_name(raw: &str) -> Result<String, Error> {
    let delimiter = if raw.contains('\\') { '\\' } else { '/' };
    let parts: Vec<&str> = raw.split(delimiter).collect();
    let joined = parts[1..].join("/");
    if joined.starts_with('/') {
        return Err(Error::AbsolutePath);
    }
    let n = go_path_clean(&joined);
    if n == "." {
        return Err(Error::OutsideBase(raw.to_string()));
    }
    if n.starts_with("..") {
        return Err(Error::ParentDirectory);
    }
    let b = n.as_bytes();
    if b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/' {
        return Err(Error::DrivePath);
    }
    if parts[0] == "Chart.yaml" {
        return Err(Error::ChartYamlAtRoot);
    }
    Ok(n)
}

/// Go's `path.Clean` for relative paths.
pub(crate) fn go_path_clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let rooted = p.starts_with('/');
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            builder.append(&h, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn reads_and_strips_base() {
        let files = read_archive(
            &tgz(&[("c/Chart.yaml", b"name: c"), ("c/templates/a.yaml", b"\xEF\xBB\xBFx")]),
            Limits::default(),
        )
        .unwrap();
        assert_eq!(files[0].name, "Chart.yaml");
        assert_eq!(files[1].data, b"x");
    }

    #[test]
    fn hostile_archives() {
        assert!(matches!(read_archive(&tgz(&[("c/../../x", b"")]), Limits::default()), Err(Error::ParentDirectory)));
        assert!(matches!(read_archive(&tgz(&[("Chart.yaml", b"")]), Limits::default()), Err(Error::OutsideBase(_))));
        let limits = Limits { max_chart_size: 10, ..Limits::default() };
        assert!(matches!(read_archive(&tgz(&[("c/a", &[0u8; 11])]), limits), Err(Error::TooLarge(10))));
        let limits = Limits { max_file_size: 4, ..Limits::default() };
        assert!(matches!(read_archive(&tgz(&[("c/a", &[0u8; 5])]), limits), Err(Error::FileTooLarge { .. })));
        assert!(matches!(ensure_archive("x.yaml", b"a: b"), Err(Error::YamlNotArchive { .. })));
        assert!(read_archive(b"\x1f\x8b\x08garbage", Limits::default()).is_err());
    }
}
