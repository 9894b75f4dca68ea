//! Building a chart from a source's files (a GitRepository artifact,
//! unpacked), as Flux's `localChartBuilder` and `DependencyManager` do: the
//! chart at `spec.chart` (a directory, packaged here, or a `.tgz`, copied),
//! values files relative to the source root, dependencies vendored under
//! `charts/` or given as `file://` paths inside the source. Dependencies
//! from chart repositories are left to the caller ([`Prepared::remote`]),
//! which fetches them (the controller, [`super::dependency`]).

use std::path::{Path, PathBuf};

use ferry_helm::chart::{Chart, Dependency};
use ferry_helm::value::Value;

use super::build::{self, Build, BuildError, Cause, Reason};

/// What the build is asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// `spec.valuesFiles`, relative to the source root.
    pub values_files: Vec<String>,
    /// `spec.ignoreMissingValuesFiles`.
    pub ignore_missing_values_files: bool,
    /// Build metadata for the version (revision, generation), or empty.
    pub version_metadata: String,
    /// The chart name and version of the stored artifact, when a rebuild
    /// is not forced: a build of the same name and version stops there.
    pub cached: Option<(String, String)>,
    /// `status.observedValuesFiles`, reported for a cached build.
    pub cached_values_files: Option<Vec<String>>,
    /// `--helm-chart-file-max-size`: the largest file of a chart, in bytes.
    pub max_file_size: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            values_files: Vec::new(),
            ignore_missing_values_files: false,
            version_metadata: String::new(),
            cached: None,
            cached_values_files: None,
            max_file_size: super::DEFAULT_CHART_FILE_MAX_SIZE,
        }
    }
}

/// `path` inside `root`, never above it: `..` stops at the root, as
/// `securejoin.SecureJoin` treats it (links were checked at extraction).
pub fn secure_join(root: &Path, path: &str) -> PathBuf {
    let cleaned = build::clean(&format!("/{path}"));
    root.join(cleaned.trim_start_matches('/'))
}

/// The path of `full` as Flux prints it: relative to the root, with a
/// leading slash.
fn shown(root: &Path, full: &Path) -> String {
    full.strip_prefix(root).map_or_else(|_| full.display().to_string(), |p| format!("/{}", p.display()))
}

fn io(action: &'static str, path: String) -> impl FnOnce(std::io::Error) -> Cause {
    move |source| Cause::Io { action, path, source }
}

/// Loads a chart from a directory or an archive.
fn load(root: &Path, path: &Path, context: &str, max_file_size: u64) -> Result<Chart, Cause> {
    ferry_helm::chart::load::load_with(path, max_file_size)
        .map_err(|source| Cause::Load { context: format!("{context} '{}'", shown(root, path)), source })
}

/// A chart loaded and checked, with what is left to do before packaging.
#[derive(Debug)]
pub struct Prepared {
    chart: Chart,
    result: Build,
    /// The dependencies to fetch from chart repositories (their
    /// `repository` is a URL): the caller resolves them.
    pub remote: Vec<Dependency>,
}

/// What [`prepare`] found.
#[derive(Debug)]
pub enum Step {
    /// Nothing to package: the stored chart, or the `.tgz` as it is.
    Done(Build),
    /// A chart to package once the remote dependencies are added.
    Package(Box<Prepared>),
}

/// Builds the chart at `chart_path` in the source unpacked at `root`,
/// refusing dependencies from chart repositories.
pub fn build(root: &Path, chart_path: &str, options: &Options) -> Result<Build, BuildError> {
    match prepare(root, chart_path, options)? {
        Step::Done(build) => Ok(build),
        Step::Package(prepared) => {
            if let Some(dep) = prepared.remote.first() {
                let name = if dep.alias.is_empty() { dep.name.clone() } else { dep.alias.clone() };
                let cause = Cause::RemoteDependencyUnsupported { name, repository: dep.repository.clone() };
                return Err(BuildError::new(Reason::DependencyBuild, cause));
            }
            finish(*prepared, Vec::new())
        }
    }
}

/// Loads the chart at `chart_path`, sets its version, merges the values
/// files and adds its local dependencies; stops at a chart already stored
/// or a `.tgz` that needs no change.
pub fn prepare(root: &Path, chart_path: &str, options: &Options) -> Result<Step, BuildError> {
    let reference = |cause| BuildError::new(Reason::Reference, cause);
    if chart_path.is_empty() {
        return Err(reference(Cause::InvalidReference("no path set for local chart reference".into())));
    }
    if chart_path.starts_with('/') {
        return Err(reference(Cause::InvalidReference("local chart reference path is expected to be relative".into())));
    }
    let path = secure_join(root, chart_path);
    let metadata = std::fs::metadata(&path).map_err(|e| reference(io("stat", shown(root, &path))(e)))?;
    let is_dir = metadata.is_dir();
    // Flux loads the metadata alone here; Ferry's loader reads the chart
    // whole, which also checks Chart.yaml.
    let mut chart = load(root, &path, "failed to load chart from", options.max_file_size).map_err(reference)?;
    let values_files = build::effective_values_files(&options.values_files).to_vec();

    let mut result =
        Build { name: chart.name().to_string(), version: chart.metadata.version.clone(), ..Build::default() };
    if !options.version_metadata.is_empty() {
        result.version = build::with_metadata(&result.version, &options.version_metadata)?;
    }
    let requires_packaging = is_dir || !options.version_metadata.is_empty() || !values_files.is_empty();

    if let Some((name, version)) = &options.cached
        && *name == result.name
        && *version == result.version
    {
        result.values_files = options.cached_values_files.clone().unwrap_or(values_files);
        result.packaged = requires_packaging;
        return Ok(Step::Done(result));
    }

    if !requires_packaging {
        let data = std::fs::read(&path).map_err(|e| {
            BuildError::new(Reason::Pull, io("failed to open file to copy from", shown(root, &path))(e))
        })?;
        result.package = Some(data);
        return Ok(Step::Done(result));
    }

    let mut merged = None;
    let mut used = Vec::new();
    if !values_files.is_empty() {
        let (values, files) = merge_file_values(root, &options.values_files, options.ignore_missing_values_files)?;
        merged = Some(values);
        used = files;
    }
    chart.metadata.version = result.version.clone();
    if let Some(values) = merged
        && build::overwrite_default_values(&mut chart, values)?
    {
        result.values_files = used;
    }
    let mut remote = Vec::new();
    if is_dir {
        let (added, missing) = add_missing_dependencies(root, chart_path, &mut chart, options.max_file_size)
            .map_err(|cause| BuildError::new(Reason::DependencyBuild, cause))?;
        result.resolved_dependencies = added + missing.len();
        remote = missing;
    }
    Ok(Step::Package(Box::new(Prepared { chart, result, remote })))
}

/// Adds the fetched remote dependencies (named by their alias where they
/// have one) and packages the chart.
pub fn finish(prepared: Prepared, dependencies: Vec<Chart>) -> Result<Build, BuildError> {
    let Prepared { mut chart, mut result, .. } = prepared;
    chart.dependencies.extend(dependencies);
    result.package = Some(build::package(&chart)?);
    result.packaged = true;
    Ok(result)
}

/// Flux's `mergeFileValues`: values files relative to the source root.
fn merge_file_values(
    root: &Path,
    paths: &[String],
    ignore_missing: bool,
) -> Result<(ferry_helm::Map, Vec<String>), BuildError> {
    let merge = |cause| BuildError::new(Reason::ValuesFiles, cause);
    let mut merged = ferry_helm::Map::new();
    let mut used = Vec::new();
    for reference in paths {
        let path = secure_join(root, reference);
        let missing = || merge(Cause::NoValuesFile { path: shown(root, &path), reference: Some(reference.clone()) });
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && ignore_missing => continue,
            Err(_) => return Err(missing()),
            Ok(meta) if !meta.is_file() => return Err(missing()),
            Ok(_) => {}
        }
        let data =
            std::fs::read(&path).map_err(|e| merge(io("could not read values from file", reference.clone())(e)))?;
        merged = ferry_helm::values::options::merge_maps(merged, build::parse_values(reference, &data)?);
        used.push(reference.clone());
    }
    Ok((merged, used))
}

/// The dependencies the chart asks for (its lock file's when it has one).
fn requested(chart: &Chart) -> Vec<Dependency> {
    let from_lock = chart.lock.as_ref().and_then(|lock| match lock {
        Value::Map(map) => match map.get("dependencies") {
            Some(Value::List(items)) => Some(items),
            _ => None,
        },
        _ => None,
    });
    let Some(items) = from_lock else { return chart.metadata.dependencies.clone() };
    let text = |map: &ferry_helm::Map, key: &str| match map.get(key) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::Map(map) => Some(Dependency {
                name: text(map, "name"),
                version: text(map, "version"),
                repository: text(map, "repository"),
                alias: text(map, "alias"),
                ..Dependency::default()
            }),
            _ => None,
        })
        .collect()
}

/// Adds the dependencies missing from `charts/` (Flux's
/// `DependencyManager.Build`): local ones from their path in the source.
/// Returns how many were added, and the remote ones, for the caller.
fn add_missing_dependencies(
    root: &Path,
    chart_path: &str,
    chart: &mut Chart,
    max_file_size: u64,
) -> Result<(usize, Vec<Dependency>), Cause> {
    let requests = requested(chart);
    if chart.dependencies.len() == requests.len() {
        return Ok((0, Vec::new()));
    }
    let mut added = 0;
    let mut remote = Vec::new();
    for dep in &requests {
        let name = if dep.alias.is_empty() { dep.name.clone() } else { dep.alias.clone() };
        if chart.dependencies.iter().any(|c| c.name() == name) {
            continue;
        }
        let local = |source| Cause::LocalDependency { name: name.clone(), source: Box::new(source) };
        let scheme = dep.repository.split_once("://").map(|(s, _)| s);
        let location = match (dep.repository.as_str(), scheme) {
            ("", _) => format!("{chart_path}/charts/{}", dep.name),
            (_, Some("file")) => {
                let rest = &dep.repository["file://".len()..];
                format!("{chart_path}/{rest}")
            }
            _ => {
                remote.push(dep.clone());
                continue;
            }
        };
        let path = secure_join(root, &location);
        if !path.exists() {
            let message = format!("no chart found at '{}' (reference '{}')", shown(root, &path), dep.repository);
            return Err(local(Cause::DependencyVersion(message)));
        }
        let constraint: ferry_semver::Constraints = dep.version.parse().map_err(|e: ferry_semver::Error| {
            local(Cause::DependencyVersion(format!("invalid version/constraint format '{}': {e}", dep.version)))
        })?;
        let mut sub = load(root, &path, "failed to load chart from", max_file_size).map_err(local)?;
        let version: ferry_semver::Version = sub
            .metadata
            .version
            .parse()
            .map_err(|e: ferry_semver::Error| local(Cause::DependencyVersion(e.to_string())))?;
        if !constraint.matches(&version) {
            let message = format!("can't get a valid version for constraint '{}'", dep.version);
            return Err(local(Cause::DependencyVersion(message)));
        }
        if !dep.alias.is_empty() {
            sub.metadata.name = dep.alias.clone();
        }
        chart.dependencies.push(sub);
        added += 1;
    }
    Ok((added, remote))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, files: &[(&str, &str)]) {
        for (name, data) in files {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
    }

    #[test]
    fn files_over_the_file_size_limit_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                ("app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.0.0\n"),
                ("app/values.yaml", &format!("big: {}\n", "x".repeat(200))),
            ],
        );
        assert!(build(dir.path(), "app", &Options::default()).is_ok());
        let small = Options { max_file_size: 100, ..Options::default() };
        let error = build(dir.path(), "app", &small).unwrap_err();
        assert!(error.to_string().contains("larger than the maximum file size 100"), "{error}");
    }

    #[test]
    fn paths_never_leave_the_source() {
        let root = Path::new("/src");
        assert_eq!(secure_join(root, "../../etc/passwd"), Path::new("/src/etc/passwd"));
        assert_eq!(secure_join(root, "./charts/app"), Path::new("/src/charts/app"));
    }

    #[test]
    fn a_directory_is_packaged_with_its_local_dependencies_and_values() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                (
                    "charts/app/Chart.yaml",
                    "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: lib\n  version: '>=0.1.0'\n  repository: file://../lib\n",
                ),
                ("charts/app/values.yaml", "replicas: 1\n"),
                ("charts/app/templates/cm.yaml", "kind: ConfigMap\n"),
                ("charts/lib/Chart.yaml", "apiVersion: v2\nname: lib\nversion: 0.2.0\n"),
                ("charts/lib/values.yaml", ""),
                ("prod.yaml", "replicas: 3\n"),
            ],
        );
        let options = Options {
            values_files: vec!["charts/app/values.yaml".into(), "prod.yaml".into()],
            version_metadata: "abcdef123456.1".into(),
            ..Options::default()
        };
        let build = build(dir.path(), "./charts/app", &options).unwrap();
        assert_eq!((build.name.as_str(), build.version.as_str()), ("app", "1.0.0+abcdef123456.1"));
        assert_eq!(build.resolved_dependencies, 1);
        assert_eq!(build.values_files, ["charts/app/values.yaml", "prod.yaml"]);
        let chart = ferry_helm::chart::load::load_archive(build.package.as_ref().unwrap()).unwrap();
        assert_eq!(chart.metadata.version, "1.0.0+abcdef123456.1");
        assert_eq!(chart.dependencies[0].name(), "lib");
        assert_eq!(chart.values.get("replicas"), Some(&Value::Float(3.0)));
    }

    #[test]
    fn remote_dependencies_and_missing_charts_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                (
                    "app/Chart.yaml",
                    "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: 18.x\n  repository: https://charts.example.com\n",
                ),
                ("app/values.yaml", ""),
            ],
        );
        let error = build(dir.path(), "app", &Options::default()).unwrap_err();
        assert_eq!(error.reason, Reason::DependencyBuild);
        assert!(error.to_string().contains("no chart repository client"), "{error}");
        let Step::Package(prepared) = prepare(dir.path(), "app", &Options::default()).unwrap() else { panic!() };
        assert_eq!(prepared.remote[0].repository, "https://charts.example.com");
        let error = build(dir.path(), "nope", &Options::default()).unwrap_err();
        assert_eq!(error.reason, Reason::Reference);
        let cached = Options { cached: Some(("app".into(), "1.0.0".into())), ..Options::default() };
        let build = build(dir.path(), "app", &cached).unwrap();
        assert!(build.package.is_none() && build.packaged);
    }
}
