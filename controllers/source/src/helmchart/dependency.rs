//! Dependencies of a chart built from Git on chart repositories, fetched as
//! Flux's `namespacedChartRepositoryCallback` fetches them: the
//! HelmRepository in the chart's namespace whose URL is the dependency's
//! (its credentials, its stored index), else the URL itself without
//! credentials (its `index.yaml` downloaded); the version chosen as for a
//! HelmChart, the archive downloaded and loaded, renamed to its alias.

use std::collections::HashMap;
use std::time::Duration;

use ferry_api_source::{HelmRepository, HelmRepositorySpec};
use ferry_helm::chart::{Chart, Dependency};
use ferry_sdk::reconcile::Context;
use kube::api::{Api, ListParams};

use super::build::{BuildError, Cause, Reason};
use super::remote;
use crate::helmrepository::fetch::Getter;
use crate::helmrepository::index::IndexFile;

/// The timeout of a repository that has no HelmRepository (Flux's).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest index read from a repository without a HelmRepository.
const INDEX_MAX_SIZE: u64 = 50 << 20;

/// Flux's `NormalizeURL` for HTTP repositories: one trailing slash.
pub fn normalize(url: &str) -> Option<String> {
    let mut parsed = url::Url::parse(url).ok()?;
    let path = format!("{}/", parsed.path().trim_end_matches('/'));
    parsed.set_path(&path);
    Some(parsed.to_string())
}

/// Flux's `NormalizeURL` for OCI registries: no trailing slash.
pub fn normalize_oci(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

/// Flux's `ValidateDepURL`.
fn validate(repository: &str) -> Result<(), Cause> {
    if repository.starts_with("https://") || repository.starts_with("http://") || repository.starts_with("oci://") {
        return Ok(());
    }
    let message = if repository.starts_with('@') || repository.starts_with("alias:") {
        format!("aliased repository dependency is not supported: {repository}")
    } else {
        format!("invalid url for dependency: {repository}")
    };
    Err(Cause::DependencyUrl(message))
}

/// A repository the dependencies are fetched from.
struct Repository {
    url: String,
    getter: Getter,
    index: IndexFile,
}

/// Fetches `dependencies` for a chart in `namespace`; `max` caps each
/// archive (`--helm-chart-max-size`).
pub async fn fetch(
    ctx: &Context,
    namespace: &str,
    dependencies: &[Dependency],
    max: u64,
    max_file: u64,
) -> Result<Vec<Chart>, BuildError> {
    let mut repositories: HashMap<String, Repository> = HashMap::new();
    let mut charts = Vec::new();
    for dep in dependencies {
        let name = if dep.alias.is_empty() { dep.name.clone() } else { dep.alias.clone() };
        let failed = |source| {
            BuildError::new(
                Reason::DependencyBuild,
                Cause::RemoteDependency { name: name.clone(), source: Box::new(source) },
            )
        };
        validate(&dep.repository).map_err(failed)?;
        if dep.repository.starts_with("oci://") {
            let mut chart = oci_dependency(ctx, namespace, dep, max, max_file).await.map_err(failed)?;
            if !dep.alias.is_empty() {
                chart.metadata.name = dep.alias.clone();
            }
            charts.push(chart);
            continue;
        }
        let url = normalize(&dep.repository)
            .ok_or_else(|| failed(Cause::DependencyUrl(format!("invalid url for dependency: {}", dep.repository))))?;
        if !repositories.contains_key(&url) {
            let repository = repository(ctx, namespace, &url).await.map_err(failed)?;
            repositories.insert(url.clone(), repository);
        }
        let Some(repository) = repositories.get(&url) else { continue };
        let cv = remote::chart_version(&repository.index, &dep.name, &dep.version).map_err(|source| {
            failed(Cause::DependencyVersionNotFound {
                name: dep.name.clone(),
                version: dep.version.clone(),
                repository: dep.repository.clone(),
                source,
            })
        })?;
        let version = cv.version().to_string();
        let download = |source: Box<dyn std::error::Error + Send + Sync>| {
            failed(Cause::DependencyDownload { version: version.clone(), source })
        };
        let chart_url = remote::chart_url(&repository.url, cv).map_err(|e| download(Box::new(e)))?;
        let data = repository.getter.get(&chart_url, "chart", max).await.map_err(|e| download(Box::new(e)))?;
        let mut chart = ferry_helm::chart::load::load_archive_with(&data, max_file)
            .map_err(|source| failed(Cause::DependencyLoad { version: version.clone(), source }))?;
        if !dep.alias.is_empty() {
            chart.metadata.name = dep.alias.clone();
        }
        charts.push(chart);
    }
    Ok(charts)
}

/// A dependency from an OCI registry, as Flux's OCI chart repository gets
/// it: the namespace's HelmRepository of that URL gives the credentials
/// and TLS settings (none without one), the version is chosen among the
/// tags, the chart layer pulled and loaded.
async fn oci_dependency(
    ctx: &Context,
    namespace: &str,
    dep: &Dependency,
    max: u64,
    max_file: u64,
) -> Result<Chart, Cause> {
    let url = normalize_oci(&dep.repository);
    let api: Api<HelmRepository> = Api::namespaced(ctx.client().clone(), namespace);
    let list = api.list(&ListParams::default()).await.map_err(Cause::ListRepositories)?;
    let found = list.items.into_iter().find(|r| normalize_oci(&r.spec.url) == url);
    let spec = match found {
        Some(repo) => repo.spec,
        None => HelmRepositorySpec { url: url.clone(), ..Default::default() },
    };
    let repository_failed = |source: Box<dyn std::error::Error + Send + Sync>| Cause::IndexFetch {
        url: url.clone(),
        message: "failed to create OCI chart repository",
        source,
    };
    let registry = url.strip_prefix("oci://").and_then(|r| r.split('/').next()).unwrap_or_default();
    let options = super::oci::client_options(ctx, namespace, &spec, registry)
        .await
        .map_err(|e| repository_failed(Box::new(e)))?;
    let repository = super::oci::OciChartRepository::new(&url, options).map_err(|e| repository_failed(Box::new(e)))?;
    let remote = repository.chart(&dep.name).map_err(|e| repository_failed(Box::new(e)))?;
    let version = remote.version(&dep.version).await.map_err(|source| Cause::OciDependencyVersion {
        name: dep.name.clone(),
        version: dep.version.clone(),
        repository: dep.repository.clone(),
        source: Box::new(source),
    })?;
    let download =
        |source: super::oci::Error| Cause::DependencyDownload { version: version.clone(), source: Box::new(source) };
    let pulled = remote.manifest(&version).await.map_err(download)?;
    let data = remote.download(&version, &pulled, max).await.map_err(download)?;
    ferry_helm::chart::load::load_archive_with(&data, max_file)
        .map_err(|source| Cause::DependencyLoad { version: version.clone(), source })
}

/// The repository at `url`: the namespace's HelmRepository of that URL,
/// else the URL alone.
async fn repository(ctx: &Context, namespace: &str, url: &str) -> Result<Repository, Cause> {
    let api: Api<HelmRepository> = Api::namespaced(ctx.client().clone(), namespace);
    let list = api.list(&ListParams::default()).await.map_err(Cause::ListRepositories)?;
    let found = list.items.into_iter().find(|r| normalize(&r.spec.url).as_deref() == Some(url));
    let spec = match &found {
        Some(repo) => repo.spec.clone(),
        None => HelmRepositorySpec { url: url.to_string(), ..Default::default() },
    };
    let boxed = |source| Cause::Repository { url: url.to_string(), source: Box::new(source) };
    let (parsed, timeout) = crate::helmrepository::checked_spec(&spec).map_err(boxed)?;
    let timeout = if found.is_some() { timeout } else { DEFAULT_TIMEOUT };
    let getter = crate::helmrepository::getter(ctx, namespace, &spec, parsed, timeout).await.map_err(boxed)?;
    let index_failed = |message, source: Box<dyn std::error::Error + Send + Sync>| Cause::IndexFetch {
        url: url.to_string(),
        message,
        source,
    };
    let artifact = found.as_ref().and_then(|r| r.status.as_ref()).and_then(|s| s.artifact.clone());
    let index = match artifact {
        Some(artifact) => super::artifact::index(&artifact)
            .await
            .map_err(|e| index_failed("failed to read the stored index", Box::new(e)))?,
        None => {
            let raw = getter
                .get(&getter.index_url(), "index", INDEX_MAX_SIZE)
                .await
                .map_err(|e| index_failed("failed to fetch index", Box::new(e)))?;
            crate::helmrepository::index::load(&raw).map_err(|e| index_failed("failed to load index", Box::new(e)))?
        }
    };
    Ok(Repository { url: url.to_string(), getter, index })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised_and_checked_as_flux_does() {
        assert_eq!(normalize("https://h/charts").unwrap(), "https://h/charts/");
        assert_eq!(normalize("https://h/charts///").unwrap(), "https://h/charts/");
        assert!(validate("https://h").is_ok());
        assert!(validate("@stable").unwrap_err().to_string().contains("aliased"));
        assert!(validate("oci://ghcr.io/x").is_ok());
        assert_eq!(normalize_oci("oci://ghcr.io/charts/"), "oci://ghcr.io/charts");
        assert!(validate("ftp://x").is_err());
    }
}
