//! A Helm repository index as Flux's source-controller loads and stores it
//! (`internal/helm/repository`: `IndexFromBytes`, then `ToJSON`): read as
//! JSON or strict YAML, entries whose chart metadata Helm finds invalid
//! dropped, the rest sanitised and sorted newest first, and written back as
//! Go's `json.MarshalIndent(index, "", "  ")` writes Helm's `IndexFile`.
//! That JSON is the HelmRepository artifact, so its bytes (and digest) are
//! the ones Flux stores for the same `index.yaml`.

mod decode;
mod encode;
mod golang;
mod sort;

use std::collections::BTreeMap;

pub use decode::Error as DecodeError;

/// Why an index is refused, in Helm's words.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is empty.
    #[error("empty index.yaml file")]
    Empty,
    /// The document is no index: it does not parse, or has values of the
    /// wrong type or (YAML) unknown fields.
    #[error(transparent)]
    Decode(#[from] decode::Error),
    /// `apiVersion` is missing.
    #[error("no API version specified")]
    NoApiVersion,
    /// A chart has a null entry among other versions: Helm's sort
    /// dereferences it and panics, which fails Flux's reconcile.
    #[error("chart '{0}' has an empty entry among its versions")]
    EmptyEntry(String),
    /// A value cannot be written as JSON (a NaN or an infinity in
    /// `serverInfo` or `import-values`), as Go's encoder refuses it.
    #[error("json: unsupported value: {0}")]
    Unsupported(String),
}

/// A value of unknown type (`interface{}` in Helm's types).
#[derive(Debug, Clone, PartialEq)]
pub enum Any {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number, held as Go holds it (float64).
    Number(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Any>),
    /// An object; Go writes its keys sorted.
    Object(BTreeMap<String, Any>),
}

/// Helm's `repo.IndexFile`. `None` is Go's nil where Go writes `null`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexFile {
    /// `serverInfo` (ChartMuseum's).
    pub server_info: Option<BTreeMap<String, Any>>,
    /// `apiVersion`.
    pub api_version: String,
    /// `generated`, normalised; `None` is Go's zero time.
    pub generated: Option<String>,
    /// `entries`: chart name to its versions, newest first once loaded.
    pub entries: Option<BTreeMap<String, Option<Vec<Option<ChartVersion>>>>>,
    /// `publicKeys`.
    pub public_keys: Option<Vec<String>>,
    /// `annotations`.
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Helm's `repo.ChartVersion`: the chart's metadata and where to get it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartVersion {
    /// The embedded `*chart.Metadata`.
    pub metadata: Option<Metadata>,
    /// `urls`.
    pub urls: Option<Vec<String>>,
    /// `created`, normalised; `None` is Go's zero time.
    pub created: Option<String>,
    /// `removed`.
    pub removed: bool,
    /// `digest`.
    pub digest: String,
    /// `checksum` (deprecated, kept).
    pub checksum: String,
    /// `engine` (deprecated, kept).
    pub engine: String,
    /// `tillerVersion` (deprecated, kept).
    pub tiller_version: String,
    /// `url` (deprecated, kept).
    pub url: String,
}

impl ChartVersion {
    /// The chart version's `version`.
    pub fn version(&self) -> &str {
        self.metadata.as_ref().map_or("", |m| m.version.as_str())
    }
}

/// Helm's `chart.Metadata` (Chart.yaml).
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(missing_docs)]
pub struct Metadata {
    pub name: String,
    pub home: String,
    pub sources: Vec<String>,
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub maintainers: Vec<Option<Maintainer>>,
    pub icon: String,
    pub api_version: String,
    pub condition: String,
    pub tags: String,
    pub app_version: String,
    pub deprecated: bool,
    pub annotations: BTreeMap<String, String>,
    pub kube_version: String,
    pub dependencies: Vec<Option<Dependency>>,
    pub type_: String,
}

/// Helm's `chart.Maintainer`.
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(missing_docs)]
pub struct Maintainer {
    pub name: String,
    pub email: String,
    pub url: String,
}

/// Helm's `chart.Dependency`.
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(missing_docs)]
pub struct Dependency {
    pub name: String,
    pub version: String,
    pub repository: String,
    pub condition: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub import_values: Vec<Any>,
    pub alias: String,
}

/// Loads an index as Flux's `IndexFromBytes` does.
pub fn load(data: &[u8]) -> Result<IndexFile, Error> {
    if data.is_empty() {
        return Err(Error::Empty);
    }
    let mut index = decode::read(data)?;
    if index.api_version.is_empty() {
        return Err(Error::NoApiVersion);
    }
    for versions in index.entries.iter_mut().flat_map(|e| e.values_mut()).flatten() {
        // Flux walks backwards, removing the versions Helm finds invalid;
        // a null entry is kept as it is.
        versions.retain_mut(|slot| match slot {
            None => true,
            Some(cv) => {
                let md = cv.metadata.get_or_insert_with(Metadata::default);
                if md.api_version.is_empty() {
                    md.api_version = "v1".into();
                }
                match validate(md) {
                    Ok(()) => true,
                    Err(message) => {
                        tracing::debug!(chart = %md.name, version = %md.version, %message, "skipping invalid index entry");
                        false
                    }
                }
            }
        });
    }
    for (chart, versions) in index.entries.iter_mut().flatten() {
        let Some(versions) = versions else { continue };
        // Every element of a sort of two or more is compared at least once.
        if versions.len() > 1 && versions.iter().any(Option::is_none) {
            return Err(Error::EmptyEntry(chart.clone()));
        }
        sort_versions(versions);
    }
    Ok(index)
}

/// Helm's `SortEntries` for one chart: `sort.Sort(sort.Reverse(versions))`
/// where a version that does not parse is less than anything.
fn sort_versions(versions: &mut [Option<ChartVersion>]) {
    type Parsed = (Option<ferry_semver::Version>, Option<ChartVersion>);
    let mut parsed: Vec<Parsed> = versions
        .iter_mut()
        .map(|slot| {
            let cv = slot.take();
            (cv.as_ref().and_then(|c| c.version().parse().ok()), cv)
        })
        .collect();
    // ChartVersions.Less(a, b): a unparsable a is less; else an unparsable b
    // is not; else semver order. Reverse swaps the arguments.
    let less = |a: &Parsed, b: &Parsed| {
        let (a, b) = (&b.0, &a.0);
        match (a, b) {
            (None, _) => true,
            (_, None) => false,
            (Some(a), Some(b)) => a < b,
        }
    };
    sort::sort(&mut parsed, &less);
    for (slot, (_, cv)) in versions.iter_mut().zip(parsed) {
        *slot = cv;
    }
}

/// Helm's `Metadata.Validate`, sanitising the strings it sanitises; the
/// error Flux ignores (a duplicate dependency name, which some repositories
/// produce by stripping aliases) passes.
fn validate(md: &mut Metadata) -> Result<(), String> {
    use golang::sanitize;
    for s in [
        &mut md.name,
        &mut md.description,
        &mut md.home,
        &mut md.icon,
        &mut md.condition,
        &mut md.tags,
        &mut md.app_version,
        &mut md.kube_version,
    ] {
        *s = sanitize(s);
    }
    for s in md.sources.iter_mut().chain(md.keywords.iter_mut()) {
        *s = sanitize(s);
    }
    if md.api_version.is_empty() {
        return Err("chart.metadata.apiVersion is required".into());
    }
    if md.name.is_empty() {
        return Err("chart.metadata.name is required".into());
    }
    if md.name == "." || md.name == ".." {
        return Err(format!("chart.metadata.name {:?} is not allowed", md.name));
    }
    // filepath.Base(name) != name: a slash anywhere, except the name "/".
    if md.name.contains('/') && md.name != "/" {
        return Err(format!("chart.metadata.name {:?} is invalid", md.name));
    }
    if md.version.is_empty() {
        return Err("chart.metadata.version is required".into());
    }
    if md.version.parse::<ferry_semver::Version>().is_err() {
        return Err(format!("chart.metadata.version {:?} is invalid", md.version));
    }
    if !matches!(md.type_.as_str(), "" | "application" | "library") {
        return Err("chart.metadata.type must be application or library".into());
    }
    for m in &mut md.maintainers {
        let Some(m) = m else { return Err("maintainers must not contain empty or null nodes".into()) };
        m.name = sanitize(&m.name);
        m.email = sanitize(&m.email);
        m.url = sanitize(&m.url);
    }
    let mut seen = std::collections::HashSet::new();
    for d in &mut md.dependencies {
        let Some(d) = d else { return Err("dependencies must not contain empty or null nodes".into()) };
        d.name = sanitize(&d.name);
        d.version = sanitize(&d.version);
        d.repository = sanitize(&d.repository);
        d.condition = sanitize(&d.condition);
        for t in &mut d.tags {
            *t = sanitize(t);
        }
        if !d.alias.is_empty() && !d.alias.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(format!("dependency {:?} has disallowed characters in the alias", d.name));
        }
        let key = if d.alias.is_empty() { d.name.clone() } else { d.alias.clone() };
        if !seen.insert(key) {
            // "more than one dependency with name or alias": skippable.
            return Ok(());
        }
    }
    Ok(())
}

impl IndexFile {
    /// The index as Flux stores it: `json.MarshalIndent(index, "", "  ")`.
    pub fn to_json(&self) -> Result<Vec<u8>, Error> {
        encode::index(self).map(String::into_bytes)
    }

    /// The versions of a chart, newest first.
    pub fn versions(&self, chart: &str) -> impl Iterator<Item = &ChartVersion> {
        self.entries.iter().filter_map(move |e| e.get(chart)).flatten().flatten().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `tests/helm-index/<case>.{yaml,json}` loaded and stored as
    /// `hack/helm-index-oracle` (Flux's own code) did into `<case>.golden`:
    /// the same bytes, or an error where Flux has one.
    #[test]
    fn indexes_are_stored_byte_for_byte_as_flux_stores_them() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm-index");
        let mut cases = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "golden") {
                continue;
            }
            cases += 1;
            let golden = std::fs::read_to_string(path.with_extension("golden")).unwrap();
            let input = std::fs::read(&path).unwrap();
            let ours = load(&input).and_then(|index| index.to_json());
            match (golden.strip_prefix("error: "), ours) {
                (Some(_), Err(_)) => {}
                (Some(expected), Ok(json)) => {
                    panic!(
                        "{}: Flux refuses it ({expected}), Ferry stored:\n{}",
                        path.display(),
                        String::from_utf8_lossy(&json)
                    )
                }
                (None, Err(error)) => panic!("{}: Flux stores it, Ferry refused: {error}", path.display()),
                (None, Ok(json)) => assert_eq!(String::from_utf8(json).unwrap(), golden, "{}", path.display()),
            }
        }
        assert!(cases >= 10, "only {cases} golden cases");
    }

    #[test]
    fn errors_are_worded_as_helm_words_them() {
        assert_eq!(load(b"").unwrap_err().to_string(), "empty index.yaml file");
        assert_eq!(load(b"entries: {}").unwrap_err().to_string(), "no API version specified");
        let error = load(b"apiVersion: v1\nentries: {}\nunknown: field\n").unwrap_err();
        assert_eq!(error.to_string(), "error unmarshaling JSON: while decoding JSON: json: unknown field \"unknown\"");
    }
}
