//! Building a chart artifact from a chart already at hand, as Flux's
//! `internal/helm/chart` builders do: the version with its build metadata,
//! the values files merged into a new default `values.yaml`, and the
//! package written as `helm package` writes it. Pure: bytes and charts in,
//! bytes and a [`Build`] out, so both source kinds share it.

use std::fmt;

use ferry_helm::chart::Chart;
use ferry_helm::value::{Map, Value};
use ferry_helm::yaml::decode::{self, Numbers};

/// Helm's name for a chart's default values file.
pub const VALUES_FILE: &str = "values.yaml";

/// Why a build failed, as Flux's `BuildErrorReason`: the condition reason,
/// and the summary that prefixes the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The spec points at no usable chart; no retry helps.
    Reference,
    /// The chart could not be downloaded or read.
    Pull,
    /// The version's build metadata could not be set; no retry helps.
    MetadataPatch,
    /// The values files could not be merged; no retry helps.
    ValuesFiles,
    /// A dependency could not be added.
    DependencyBuild,
    /// The chart could not be loaded for packaging, or packaged.
    Package,
    /// The chart's signature could not be verified.
    Verification,
}

impl Reason {
    /// Flux's condition reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Reference => "InvalidChartReference",
            Self::Pull => "ChartPullError",
            Self::MetadataPatch => "MetadataPatchError",
            Self::ValuesFiles => "ValuesFilesError",
            Self::DependencyBuild => "DependencyBuildError",
            Self::Package => "ChartPackageError",
            Self::Verification => "ChartVerificationError",
        }
    }

    /// Flux's summary, the message's prefix.
    pub fn summary(self) -> &'static str {
        match self {
            Self::Reference => "invalid chart reference",
            Self::Pull => "chart pull error",
            Self::MetadataPatch => "chart metadata patch error",
            Self::ValuesFiles => "values files merge error",
            Self::DependencyBuild => "dependency build error",
            Self::Package => "chart package error",
            Self::Verification => "chart verification error",
        }
    }

    /// Whether only a new spec can fix it (Flux's `IsPersistentBuildErrorReason`).
    pub fn persistent(self) -> bool {
        matches!(self, Self::Reference | Self::MetadataPatch | Self::ValuesFiles)
    }

    /// Whether it is a failure to build (`BuildFailed`) rather than to
    /// fetch (`FetchFailed`), as Flux's `observeChartBuild` sorts them.
    pub fn is_build_failure(self) -> bool {
        matches!(
            self,
            Self::MetadataPatch | Self::ValuesFiles | Self::DependencyBuild | Self::Package | Self::Verification
        )
    }
}

/// What went wrong inside a build.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The chart name or path is unusable.
    #[error("{0}")]
    InvalidReference(String),
    /// No version of the chart in the index matches.
    #[error("failed to get chart version for remote reference: {0}")]
    Version(#[source] super::remote::Error),
    /// The chart's download URL could not be found.
    #[error("failed to download chart for remote reference: {0}")]
    Url(#[source] super::remote::Error),
    /// The download failed.
    #[error("failed to download chart for remote reference: {0}")]
    Download(#[source] crate::helmrepository::fetch::Error),
    /// No version of the chart in the OCI registry matches, or its tags
    /// could not be listed (Flux's `ErrExternal`: a pull error).
    #[error("failed to get chart version for remote reference: {0}")]
    OciVersion(#[source] super::oci::Error),
    /// The chart could not be pulled from the OCI registry.
    #[error("failed to download chart for remote reference: {0}")]
    OciDownload(#[source] super::oci::Error),
    /// The chart (or its metadata) could not be loaded.
    #[error("{context}: {source}")]
    Load {
        /// What was being loaded, in Flux's words.
        context: String,
        /// The loader's error.
        source: ferry_helm::chart::load::Error,
    },
    /// The chart version is no SemVer, so no metadata can be set on it.
    #[error("failed to parse version from chart metadata as SemVer: {source}")]
    SemVer {
        /// The parser's error.
        source: ferry_semver::Error,
    },
    /// The build metadata has characters SemVer refuses.
    #[error("failed to set SemVer metadata on chart version: invalid metadata string")]
    InvalidMetadata,
    /// A values file is missing (and missing ones are not ignored).
    #[error("no values file found at path '{path}'{}", reference.as_ref().map(|r| format!(" (reference '{r}')")).unwrap_or_default())]
    NoValuesFile {
        /// The path looked at.
        path: String,
        /// The path as the spec gives it, when it differs.
        reference: Option<String>,
    },
    /// A values file is not a YAML map.
    #[error("unmarshaling values from '{path}' failed: {source}")]
    ValuesYaml {
        /// The path as the spec gives it.
        path: String,
        /// The parser's error.
        source: decode::Error,
    },
    /// A values file is YAML but no map.
    #[error("unmarshaling values from '{path}' failed: values are not a map")]
    ValuesNotMap {
        /// The path as the spec gives it.
        path: String,
    },
    /// The chart has no `values.yaml` to replace.
    #[error("failed to locate values file: {VALUES_FILE}")]
    NoDefaultValues,
    /// The merged values could not be written as YAML.
    #[error("failed to encode merged values: {0}")]
    EncodeValues(#[source] ferry_helm::yaml::encode::Error),
    /// `helm package` would refuse the chart.
    #[error("failed to package chart: {0}")]
    Package(#[source] ferry_helm::archive::write::Error),
    /// A local dependency could not be added.
    #[error("failed to add local dependency '{name}': {source}")]
    LocalDependency {
        /// The dependency's name or alias.
        name: String,
        /// Why.
        source: Box<Cause>,
    },
    /// A dependency's version constraint does not parse, or the chart
    /// found does not satisfy it.
    #[error("{0}")]
    DependencyVersion(String),
    /// A dependency from a chart repository where none can be fetched.
    #[error("failed to add remote dependency '{name}': no chart repository client for '{repository}'")]
    RemoteDependencyUnsupported {
        /// The dependency's name or alias.
        name: String,
        /// Its `repository`.
        repository: String,
    },
    /// A dependency from a chart repository could not be added.
    #[error("failed to add remote dependency '{name}': {source}")]
    RemoteDependency {
        /// The dependency's name or alias.
        name: String,
        /// Why.
        source: Box<Cause>,
    },
    /// A dependency's repository is no URL Flux resolves (`@alias`, an
    /// unknown scheme).
    #[error("{0}")]
    DependencyUrl(String),
    /// The HelmRepository of a dependency's URL could not be listed.
    #[error("unable to retrieve HelmRepositoryList: {0}")]
    ListRepositories(#[source] kube::Error),
    /// The repository of a dependency is unusable (its Secrets, timeout).
    #[error("failed to get chart repository for URL '{url}': {source}")]
    Repository {
        /// The repository URL.
        url: String,
        /// Why.
        source: Box<crate::helmrepository::Error>,
    },
    /// The index of a dependency's repository could not be had.
    #[error("failed to get chart repository for URL '{url}': {message}: {source}")]
    IndexFetch {
        /// The repository URL.
        url: String,
        /// What failed.
        message: &'static str,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No version of a dependency matches.
    #[error("failed to get chart '{name}' version '{version}' from '{repository}': {source}")]
    DependencyVersionNotFound {
        /// The chart.
        name: String,
        /// Its constraint.
        version: String,
        /// Its repository.
        repository: String,
        /// Why.
        source: super::remote::Error,
    },
    /// No version of a dependency from an OCI registry matches.
    #[error("failed to get chart '{name}' version '{version}' from '{repository}': {source}")]
    OciDependencyVersion {
        /// The chart.
        name: String,
        /// Its constraint.
        version: String,
        /// Its repository.
        repository: String,
        /// Why.
        source: Box<super::oci::Error>,
    },
    /// A dependency's chart could not be downloaded.
    #[error("chart download of version '{version}' failed: {source}")]
    DependencyDownload {
        /// The version.
        version: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A dependency's chart could not be loaded.
    #[error("failed to load downloaded archive of version '{version}': {source}")]
    DependencyLoad {
        /// The version.
        version: String,
        /// Why.
        source: ferry_helm::chart::load::Error,
    },
    /// A file of the build could not be read or written.
    #[error("{action} '{path}': {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path, relative to the source where it is in one.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Signature verification is asked for a chart it cannot apply to.
    #[error(
        "failed to verify chart: verification of charts from HTTP/S Helm repositories is not implemented (spec.verify applies to OCI charts only)"
    )]
    VerificationUnsupported,
    /// No signature of the OCI chart verifies.
    #[error("{0}")]
    SignatureMismatch(#[source] crate::verify::VerifyError),
    /// The signatures of the OCI chart could not be checked.
    #[error("failed to verify {url}: {source}")]
    Verify {
        /// `oci://host/path/name:version`.
        url: String,
        /// Why.
        source: crate::verify::VerifyError,
    },
}

/// A failed build: Flux's `BuildError`, its reason and cause.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", reason.summary())]
pub struct BuildError {
    /// Why, as Flux sorts it.
    pub reason: Reason,
    /// What went wrong (boxed: causes are large, builds return this often).
    #[source]
    pub source: Box<Cause>,
}

impl BuildError {
    /// A build error of `reason`.
    pub fn new(reason: Reason, source: Cause) -> Self {
        Self { reason, source: Box::new(source) }
    }
}

/// The chart a build produced (or found already stored).
#[derive(Debug, Default)]
pub struct Build {
    /// The chart's name.
    pub name: String,
    /// Its version, with build metadata where the build set some.
    pub version: String,
    /// The values files merged into its default values.
    pub values_files: Vec<String>,
    /// Whether it was packaged here (rather than pulled as it was).
    pub packaged: bool,
    /// Whether a signature of the chart verified (`spec.verify`).
    pub verified: bool,
    /// How many missing dependencies were added.
    pub resolved_dependencies: usize,
    /// The packaged chart, or `None` when the stored artifact already is it.
    pub package: Option<Vec<u8>>,
}

impl Build {
    /// Flux's `Build.Summary`: what happened, for the Ready message and
    /// the events.
    pub fn summary(&self) -> String {
        let action = if self.packaged { "packaged" } else { "pulled" };
        let mut text = format!("{action} '{}' chart with version '{}'", self.name, self.version);
        if !self.values_files.is_empty() {
            text.push_str(&format!(" and merged values files [{}]", self.values_files.join(" ")));
        }
        text
    }

    /// The reason of the success condition and event.
    pub fn reason(&self) -> &'static str {
        if self.packaged {
            ferry_api_meta::conditions::CHART_PACKAGE_SUCCEEDED
        } else {
            ferry_api_meta::conditions::CHART_PULL_SUCCEEDED
        }
    }
}

impl fmt::Display for Build {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// Flux's `BuildOptions.GetValuesFiles`: the values files, except a lone
/// `values.yaml`, which changes nothing.
pub fn effective_values_files(files: &[String]) -> &[String] {
    if files.len() == 1 && clean(&files[0]) == VALUES_FILE { &[] } else { files }
}

/// `version` with its build metadata replaced by `metadata` (Masterminds'
/// `SetMetadata`), as the chart and artifact are versioned.
pub fn with_metadata(version: &str, metadata: &str) -> Result<String, BuildError> {
    let patch = |source| BuildError::new(Reason::MetadataPatch, source);
    let parsed: ferry_semver::Version = version.parse().map_err(|source| patch(Cause::SemVer { source }))?;
    let valid = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !metadata.split('.').all(valid) {
        return Err(patch(Cause::InvalidMetadata));
    }
    let mut text = format!("{}.{}.{}", parsed.major(), parsed.minor(), parsed.patch());
    if parsed.is_prerelease() {
        text.push('-');
        text.push_str(parsed.prerelease());
    }
    text.push('+');
    text.push_str(metadata);
    Ok(text)
}

/// Go's `filepath.Clean` of a relative path.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Reads one values file as Flux does (`yaml.Unmarshal` into a map).
pub fn parse_values(path: &str, data: &[u8]) -> Result<Map, BuildError> {
    let merge = |source| BuildError::new(Reason::ValuesFiles, source);
    let text = String::from_utf8_lossy(data);
    match decode::from_str(&text, Numbers::Json) {
        Ok(Value::Map(map)) => Ok(map),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err(merge(Cause::ValuesNotMap { path: path.into() })),
        Err(source) => Err(merge(Cause::ValuesYaml { path: path.into(), source })),
    }
}

/// Replaces the chart's default values with `values` (Flux's
/// `OverwriteChartDefaultValues`): `true` when that changed them.
pub fn overwrite_default_values(chart: &mut Chart, values: Map) -> Result<bool, BuildError> {
    let merge = |source| BuildError::new(Reason::ValuesFiles, source);
    let encoded = if values.is_empty() {
        Vec::new()
    } else {
        ferry_helm::yaml::encode::to_string(&Value::Map(values.clone()))
            .map_err(|e| merge(Cause::EncodeValues(e)))?
            .into_bytes()
    };
    let file = chart.raw.iter_mut().find(|f| f.name == VALUES_FILE).ok_or_else(|| merge(Cause::NoDefaultValues))?;
    if file.data == encoded {
        return Ok(false);
    }
    file.data = encoded;
    chart.values = values;
    Ok(true)
}

/// Merges the values files of a chart pulled from a repository: paths in
/// the chart, `values.yaml` its own default values (Flux's
/// `mergeChartValues`). Returns the merged values and the files used.
pub fn merge_chart_values(
    chart: &Chart,
    paths: &[String],
    ignore_missing: bool,
) -> Result<(Map, Vec<String>), BuildError> {
    let mut merged = Map::new();
    let mut used = Vec::new();
    for path in paths {
        let cleaned = clean(path);
        if cleaned == VALUES_FILE {
            merged = ferry_helm::values::options::merge_maps(merged, chart.values.clone());
            used.push(path.clone());
            continue;
        }
        let Some(file) = chart.files.iter().find(|f| f.name == cleaned) else {
            if ignore_missing {
                continue;
            }
            return Err(BuildError::new(
                Reason::ValuesFiles,
                Cause::NoValuesFile { path: path.clone(), reference: None },
            ));
        };
        merged = ferry_helm::values::options::merge_maps(merged, parse_values(path, &file.data)?);
        used.push(path.clone());
    }
    Ok((merged, used))
}

/// Packages `chart` as `helm package` does, stamped with the current time
/// as Helm stamps it.
pub fn package(chart: &Chart) -> Result<Vec<u8>, BuildError> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    ferry_helm::archive::write::package(chart, now).map_err(|e| BuildError::new(Reason::Package, Cause::Package(e)))
}

/// Flux's `RemoteReference.Validate`: a chart name is lower case letters
/// and digits, separated by dashes, slashes or periods.
pub fn validate_name(name: &str) -> Result<(), BuildError> {
    let invalid = |message: String| BuildError::new(Reason::Reference, Cause::InvalidReference(message));
    if name.is_empty() {
        return Err(invalid("no name set for remote chart reference".into()));
    }
    // ^([-a-z0-9]+/?\.?)+$ : runs of [-a-z0-9], each optionally followed
    // by one '/' then one '.'.
    let bytes = name.as_bytes();
    let mut i = 0;
    let mut ok = true;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit() || bytes[i] == b'-') {
            i += 1;
        }
        if i == start {
            ok = false;
            break;
        }
        if i < bytes.len() && bytes[i] == b'/' {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
        }
    }
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "invalid chart name '{name}': a valid name must be lower case letters and numbers and MAY be separated with dashes (-), slashes (/) or periods (.)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_metadata_replaces_any_before() {
        assert_eq!(with_metadata("1.2.3", "4").unwrap(), "1.2.3+4");
        assert_eq!(with_metadata("v1.2.3-rc.1+old", "abc123def456.2").unwrap(), "1.2.3-rc.1+abc123def456.2");
        assert_eq!(with_metadata("nope", "1").unwrap_err().reason, Reason::MetadataPatch);
        assert_eq!(with_metadata("1.0.0", "a_b").unwrap_err().reason, Reason::MetadataPatch);
    }

    #[test]
    fn a_lone_values_yaml_changes_nothing() {
        assert!(effective_values_files(&["./values.yaml".into()]).is_empty());
        assert_eq!(effective_values_files(&["values.yaml".into(), "prod.yaml".into()]).len(), 2);
    }

    #[test]
    fn names_are_checked_as_flux_checks_them() {
        assert!(validate_name("podinfo").is_ok());
        assert!(validate_name("org/chart.v2").is_ok());
        assert_eq!(validate_name("Podinfo").unwrap_err().reason, Reason::Reference);
        assert!(validate_name("a//b").is_err());
    }

    #[test]
    fn summaries_are_worded_as_flux_words_them() {
        let build = Build {
            name: "app".into(),
            version: "1.0.0+2".into(),
            values_files: vec!["a.yaml".into(), "b.yaml".into()],
            packaged: true,
            ..Build::default()
        };
        assert_eq!(
            build.summary(),
            "packaged 'app' chart with version '1.0.0+2' and merged values files [a.yaml b.yaml]"
        );
        assert_eq!(clean("./a/../b//c.yaml"), "b/c.yaml");
        assert_eq!(clean("../x"), "../x");
    }

    #[test]
    fn values_files_are_merged_into_the_default_values() {
        let files = vec![
            ferry_helm::chart::File {
                name: "Chart.yaml".into(),
                data: b"apiVersion: v2\nname: a\nversion: 1.0.0\n".to_vec(),
            },
            ferry_helm::chart::File { name: "values.yaml".into(), data: b"a: 1\nb: {c: 2}\n".to_vec() },
            ferry_helm::chart::File { name: "prod.yaml".into(), data: b"b: {d: 3}\n".to_vec() },
        ];
        let mut chart = ferry_helm::chart::load::load_files(files).unwrap();
        let paths = vec!["values.yaml".to_string(), "prod.yaml".to_string(), "missing.yaml".to_string()];
        let error = merge_chart_values(&chart, &paths, false).unwrap_err();
        assert_eq!(error.to_string(), "values files merge error: no values file found at path 'missing.yaml'");
        let (merged, used) = merge_chart_values(&chart, &paths, true).unwrap();
        assert_eq!(used, ["values.yaml", "prod.yaml"]);
        assert!(overwrite_default_values(&mut chart, merged).unwrap());
        let values = chart.raw.iter().find(|f| f.name == VALUES_FILE).unwrap();
        assert_eq!(String::from_utf8_lossy(&values.data), "a: 1\nb:\n  c: 2\n  d: 3\n");
    }
}
