//! Builds a [`Chart`] from its files (`pkg/chart/loader`): from a list of files, a directory
//! (honouring `.helmignore`), or an archive; subcharts under `charts/` as directories or `.tgz`.

use std::collections::BTreeMap;
use std::path::Path;

use super::ignore::{self, Rules};
use super::metadata::{self, Metadata};
use super::{Chart, File};
use crate::archive::read::{self as archive, Limits};
use crate::value::Value;
use crate::yaml::decode::{self, Numbers};

/// A chart Helm's loader would refuse, with Helm's message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Chart.yaml is not valid YAML or has fields of the wrong type.
    #[error("cannot load Chart.yaml: {0}")]
    ChartYaml(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// values.yaml is not a YAML map.
    #[error("cannot load values.yaml: {0}")]
    ValuesYaml(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// requirements.yaml is broken.
    #[error("cannot load requirements.yaml: {0}")]
    RequirementsYaml(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Chart.lock or requirements.lock is broken.
    #[error("cannot load {file}: {source}")]
    Lock {
        /// Which lock file.
        file: &'static str,
        /// Why.
        #[source]
        source: decode::Error,
    },
    /// No Chart.yaml.
    #[error("Chart.yaml file is missing")]
    MissingChartYaml,
    /// Chart.yaml fails validation.
    #[error(transparent)]
    Invalid(#[from] metadata::Error),
    /// A subchart failed to load.
    #[error("error unpacking subchart {name} in {parent}: {source}")]
    Subchart {
        /// The entry under `charts/`.
        name: String,
        /// The parent chart's name.
        parent: String,
        /// Why.
        #[source]
        source: Box<Error>,
    },
    /// A subchart archive is not directly under `charts/`.
    #[error("error unpacking subchart tar in {parent}: expected {expected}, got {got}")]
    SubchartTar {
        /// The parent chart.
        parent: String,
        /// The expected name.
        expected: String,
        /// The file found.
        got: String,
    },
    /// The archive could not be read.
    #[error(transparent)]
    Archive(#[from] archive::Error),
    /// `.helmignore` is broken.
    #[error(transparent)]
    Ignore(#[from] ignore::Error),
    /// A file could not be read.
    #[error("error reading {path}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A chart directory holds something that is not a regular file.
    #[error("cannot load irregular file {0} as it has file mode type bits set")]
    Irregular(String),
    /// A chart file over Helm's per-file limit.
    #[error("chart file {name:?} is larger than the maximum file size {limit}")]
    FileTooLarge {
        /// The file's base name.
        name: String,
        /// The limit.
        limit: u64,
    },
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// Loads a chart from a directory or an archive file.
pub fn load(path: &Path) -> Result<Chart> {
    load_with(path, MAX_FILE_SIZE)
}

/// [`load`], with at most `max_file_size` bytes in any one file of the chart
/// (source-controller's `--helm-chart-file-max-size`; Helm's default is 5 MiB).
pub fn load_with(path: &Path, max_file_size: u64) -> Result<Chart> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
    if meta.is_dir() {
        load_files(read_dir_files_with(path, max_file_size)?)
    } else {
        let data = std::fs::read(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        archive::ensure_archive(&path.display().to_string(), &data)?;
        load_archive_with(&data, max_file_size)
    }
}

/// Loads a chart archive held in memory.
pub fn load_archive(data: &[u8]) -> Result<Chart> {
    load_archive_with(data, MAX_FILE_SIZE)
}

/// [`load_archive`], with at most `max_file_size` bytes in any one file.
pub fn load_archive_with(data: &[u8], max_file_size: u64) -> Result<Chart> {
    load_files(archive::read_archive(data, Limits { max_file_size, ..Limits::default() })?)
}

/// Reads a chart directory's files as Helm does: `.helmignore` plus the default rule, symlinks
/// followed, entries in lexical order per directory, byte order marks dropped.
pub fn read_dir_files(dir: &Path) -> Result<Vec<File>> {
    read_dir_files_with(dir, MAX_FILE_SIZE)
}

/// [`read_dir_files`], with at most `max_file_size` bytes in any one file.
pub fn read_dir_files_with(dir: &Path, max_file_size: u64) -> Result<Vec<File>> {
    let mut rules = match std::fs::read_to_string(dir.join(".helmignore")) {
        Ok(text) => Rules::parse(&text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Rules::default(),
        Err(source) => return Err(Error::Io { path: dir.join(".helmignore").display().to_string(), source }),
    };
    rules.add_defaults();
    let mut files = Vec::new();
    walk(dir, "", &Walk { rules: &rules, max_file_size }, &mut files, 0)?;
    Ok(files)
}

/// Loads a chart from a directory.
pub fn load_dir(dir: &Path) -> Result<Chart> {
    load_files(read_dir_files(dir)?)
}

/// Helm's limit on one file of a chart.
const MAX_FILE_SIZE: u64 = 5 << 20;
const MAX_DEPTH: usize = 64;

/// What a directory walk keeps to.
struct Walk<'a> {
    rules: &'a Rules,
    max_file_size: u64,
}

fn walk(dir: &Path, prefix: &str, opts: &Walk<'_>, files: &mut Vec<File>, depth: usize) -> Result<()> {
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source| Error::Io { path: p, source }
    };
    if depth > MAX_DEPTH {
        return Err(Error::Irregular(dir.display().to_string()));
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    entries.sort();
    for name in entries {
        let name = name.to_string_lossy().into_owned();
        let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        let path = dir.join(&name);
        // Symlinks are followed, as Helm's sympath.Walk does.
        let meta = std::fs::metadata(&path).map_err(io(&path))?;
        if meta.is_dir() {
            if opts.rules.ignore(&rel, true) {
                continue;
            }
            walk(&path, &rel, opts, files, depth + 1)?;
            continue;
        }
        if opts.rules.ignore(&rel, false) {
            continue;
        }
        if !meta.is_file() {
            return Err(Error::Irregular(path.display().to_string()));
        }
        if meta.len() > opts.max_file_size {
            return Err(Error::FileTooLarge { name, limit: opts.max_file_size });
        }
        let data = std::fs::read(&path).map_err(io(&path))?;
        let data = match data.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
            Some(rest) => rest.to_vec(),
            None => data,
        };
        files.push(File { name: rel, data });
    }
    Ok(())
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Helm's `LoadFiles`: sorts files into the chart's parts and loads subcharts.
pub fn load_files(files: Vec<File>) -> Result<Chart> {
    let mut c = Chart::default();
    let mut have_metadata = false;
    for f in &files {
        if f.name == "Chart.yaml" {
            let doc = decode::from_str(&text(&f.data), Numbers::Json).map_err(|e| Error::ChartYaml(converting(e)))?;
            c.metadata.merge_from(&doc).map_err(|e| Error::ChartYaml(Box::new(e)))?;
            if c.metadata.api_version.is_empty() {
                c.metadata.api_version = "v1".into();
            }
            have_metadata = true;
        }
    }
    let mut subcharts: BTreeMap<String, Vec<File>> = BTreeMap::new();
    for f in &files {
        c.raw.push(f.clone());
        match f.name.as_str() {
            "Chart.yaml" => {}
            "Chart.lock" | "requirements.lock" => {
                let file = if f.name == "Chart.lock" { "Chart.lock" } else { "requirements.lock" };
                c.lock = Some(
                    decode::from_str(&text(&f.data), Numbers::Json).map_err(|source| Error::Lock { file, source })?,
                );
                if file == "requirements.lock" {
                    have_metadata = true;
                    if c.metadata.api_version == "v1" {
                        c.files.push(f.clone());
                    }
                }
            }
            "values.yaml" => {
                c.values = match decode::from_str(&text(&f.data), Numbers::Json)
                    .map_err(|e| Error::ValuesYaml(converting(e)))?
                {
                    Value::Map(m) => m,
                    Value::Null => Default::default(),
                    other => {
                        return Err(Error::ValuesYaml(
                            format!(
                                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                                json_kind(&other)
                            )
                            .into(),
                        ));
                    }
                };
            }
            "values.schema.json" => c.schema = Some(f.data.clone()),
            "requirements.yaml" => {
                have_metadata = true;
                let doc = decode::from_str(&text(&f.data), Numbers::Json)
                    .map_err(|e| Error::RequirementsYaml(converting(e)))?;
                c.metadata.merge_from(&doc).map_err(|e| Error::RequirementsYaml(Box::new(e)))?;
                if c.metadata.api_version == "v1" {
                    c.files.push(f.clone());
                }
            }
            name if name.starts_with("templates/") => c.templates.push(f.clone()),
            name if name.starts_with("charts/") => {
                if name.ends_with(".prov") {
                    c.files.push(f.clone());
                    continue;
                }
                let rest = &name["charts/".len()..];
                let cname = rest.split('/').next().unwrap_or(rest).to_string();
                subcharts.entry(cname).or_default().push(File { name: rest.to_string(), data: f.data.clone() });
            }
            _ => c.files.push(f.clone()),
        }
    }
    if !have_metadata {
        return Err(Error::MissingChartYaml);
    }
    c.metadata.validate()?;
    for (n, files) in subcharts {
        if n.starts_with('_') || n.starts_with('.') {
            continue;
        }
        let parent = c.name().to_string();
        let wrap = |e: Error| Error::Subchart { name: n.clone(), parent: parent.clone(), source: Box::new(e) };
        let sc = if n.ends_with(".tgz") {
            let file = &files[0];
            if file.name != n {
                return Err(Error::SubchartTar { parent, expected: n.clone(), got: file.name.clone() });
            }
            load_archive(&file.data).map_err(wrap)?
        } else {
            let buff: Vec<File> = files
                .into_iter()
                .filter_map(|f| f.name.split_once('/').map(|(_, rest)| File { name: rest.to_string(), data: f.data }))
                .collect();
            load_files(buff).map_err(wrap)?
        };
        c.dependencies.push(sc);
    }
    Ok(c)
}

/// `sigs.k8s.io/yaml`'s wrapping of a YAML syntax error.
fn converting(e: decode::Error) -> Box<dyn std::error::Error + Send + Sync> {
    format!("error converting YAML to JSON: {e}").into()
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::Float(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "array",
        Value::Map(_) => "object",
    }
}

impl Metadata {
    /// Whether this chart can be rendered on its own (Helm's `CheckIfInstallable`).
    pub fn check_installable(&self) -> Result<(), String> {
        match self.chart_type.as_str() {
            "" | "application" => Ok(()),
            other => Err(format!("{other} charts are not installable")),
        }
    }
}
