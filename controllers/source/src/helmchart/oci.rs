//! Charts in OCI registries, found as Flux's `OCIChartRepository` finds
//! them through Helm's registry client: the chart `name` of a repository
//! `oci://host/path` lives at `host/path/name`, its versions are the tags
//! that are strict SemVer once `_` is read as `+` (the registry refuses `+`
//! in tags, so `helm push` writes `_`), and the chart is the manifest's
//! `application/vnd.cncf.helm.chart.content.v1.tar+gzip` layer.

use std::time::Duration;

use ferry_api_source::{HelmRepositorySpec, OCIProvider};
use ferry_oci::{Client, ClientOptions, Credentials, Pulled, Repository};
use ferry_sdk::reconcile::Context;

use crate::helmrepository::auth;

/// The media type of a chart's layer (Helm's `ChartLayerMediaType`).
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// The media type of a chart's config (Helm's `ConfigMediaType`).
pub const CHART_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";

/// The timeout of a repository without one (Flux's).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a registry could not be set up or a chart not found in it, in the
/// words of Flux's OCI chart repository and Helm's registry client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository URL is no `oci://host[/path]`.
    #[error("invalid OCI registry URL: {url}")]
    InvalidUrl {
        /// The URL.
        url: String,
    },
    /// The chart's repository is no repository name the registry accepts.
    #[error("invalid chart reference '{reference}': {source}")]
    InvalidReference {
        /// `host/path/name`.
        reference: String,
        /// Why.
        source: Box<ferry_oci::Error>,
    },
    /// The client could not be built (a bad certificate, say).
    #[error("failed to construct Helm client: {source}")]
    Client {
        /// The client's error.
        source: Box<ferry_oci::Error>,
    },
    /// The tags of the chart's repository could not be listed.
    #[error("could not get tags for \"{name}\": could not fetch tags for \"{url}\": {source}")]
    Tags {
        /// The chart.
        name: String,
        /// `oci://host/path/name`.
        url: String,
        /// The registry's answer.
        source: Box<ferry_oci::Error>,
    },
    /// The chart's repository has no SemVer tags.
    #[error("could not get tags for \"{name}\": unable to locate any tags in provided repository: {url}")]
    NoTags {
        /// The chart.
        name: String,
        /// `oci://host/path/name`.
        url: String,
    },
    /// `spec.version` is no SemVer range.
    #[error("{source}")]
    InvalidConstraint {
        /// The parser's error.
        source: ferry_semver::Error,
    },
    /// No tag satisfies `spec.version`.
    #[error("could not locate a version matching provided version string {0}")]
    NoMatch(String),
    /// The chart's manifest or layer could not be pulled.
    #[error("failed to get '{reference}': {source}")]
    Pull {
        /// `oci://host/path/name:version`.
        reference: String,
        /// The registry's answer.
        source: Box<ferry_oci::Error>,
    },
    /// The manifest is no Helm chart.
    #[error("failed to get '{reference}': manifest has no layer of media type {CHART_LAYER_MEDIA_TYPE}")]
    NotAChart {
        /// `oci://host/path/name:version`.
        reference: String,
    },
}

impl Error {
    /// True when the registry refused or asked for credentials.
    pub fn is_unauthorized(&self) -> bool {
        match self {
            Self::Tags { source, .. } | Self::Pull { source, .. } => source.is_unauthorized(),
            _ => false,
        }
    }
}

/// Why the credentials or TLS settings of an OCI HelmRepository are
/// unusable (Flux's `GetClientOpts` failures: `AuthenticationFailed`).
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    /// `spec.timeout` is no Go duration.
    #[error("invalid timeout '{value}': {source}")]
    InvalidTimeout {
        /// `spec.timeout`.
        value: String,
        /// Why it does not parse.
        source: ferry_api_meta::duration::DurationError,
    },
    /// A cloud provider's workload identity was asked for; Ferry has none.
    #[error(
        "failed to get credential from {provider}: workload identity of {provider} is not supported by Ferry; use provider 'generic' with a secretRef"
    )]
    Provider {
        /// `spec.provider`.
        provider: &'static str,
    },
    /// A referenced Secret does not exist or could not be read.
    #[error("failed to get {what} secret '{}': {source}", source.secret())]
    Secret {
        /// `authentication` or `TLS authentication`.
        what: &'static str,
        /// The reader's error.
        source: ferry_sdk::secret::Error,
    },
    /// A referenced Secret's keys are unusable.
    #[error("{context}: {source}")]
    InvalidSecret {
        /// What was being built.
        context: &'static str,
        /// What is wrong.
        source: auth::Error,
    },
    /// The `secretRef`'s docker config is unusable.
    #[error("failed to read docker config from secret '{secret}': {source}")]
    DockerConfig {
        /// `<namespace>/<name>`.
        secret: String,
        /// What is wrong.
        source: ferry_oci::DockerConfigError,
    },
    /// The `secretRef` holds no registry credentials.
    #[error("invalid secret '{secret}': it holds neither 'username' and 'password' nor '.dockerconfigjson'")]
    NoCredentials {
        /// `<namespace>/<name>`.
        secret: String,
    },
}

/// The registry client settings of an OCI HelmRepository, read from its
/// spec and Secrets as Flux's `GetClientOpts` reads them: credentials from
/// `secretRef` (`.dockerconfigjson` for `registry`, else `username` and
/// `password`), TLS from `certSecretRef`, plain HTTP with `insecure`.
pub async fn client_options(
    ctx: &Context,
    namespace: &str,
    spec: &HelmRepositorySpec,
    registry: &str,
) -> Result<ClientOptions, OptionsError> {
    match spec.provider.unwrap_or_default() {
        OCIProvider::Generic => {}
        OCIProvider::Aws => return Err(OptionsError::Provider { provider: "aws" }),
        OCIProvider::Azure => return Err(OptionsError::Provider { provider: "azure" }),
        OCIProvider::Gcp => return Err(OptionsError::Provider { provider: "gcp" }),
    }
    let timeout = match &spec.timeout {
        Some(text) => ferry_api_meta::duration::parse(text)
            .map_err(|source| OptionsError::InvalidTimeout { value: text.clone(), source })?,
        None => DEFAULT_TIMEOUT,
    };
    let mut options = ClientOptions {
        insecure: spec.insecure.unwrap_or(false),
        timeout,
        user_agent: concat!("ferry-source-controller/", env!("CARGO_PKG_VERSION")).into(),
        ..Default::default()
    };
    let read = |name: String, what: &'static str| async move {
        ferry_sdk::secret::read(ctx.client(), namespace, &name)
            .await
            .map_err(|source| OptionsError::Secret { what, source })
    };
    if let Some(secret) = &spec.cert_secret_ref {
        let data = read(secret.name.clone(), "TLS authentication").await?;
        let name = format!("{namespace}/{}", secret.name);
        let tls = auth::tls_from_secret(&name, &data, true).map_err(|source| OptionsError::InvalidSecret {
            context: "failed to construct Helm client's TLS config",
            source,
        })?;
        if let Some(tls) = tls {
            options.roots = tls.roots;
            options.identity = tls.identity;
        }
    }
    if let Some(secret) = &spec.secret_ref {
        let data = read(secret.name.clone(), "authentication").await?;
        let name = format!("{namespace}/{}", secret.name);
        options.credentials = match data.get(".dockerconfigjson") {
            Some(config) => Credentials::from_docker_config(config, registry)
                .map_err(|source| OptionsError::DockerConfig { secret: name, source })?,
            None => {
                let basic = auth::basic_from_secret(&name, &data).map_err(|source| OptionsError::InvalidSecret {
                    context: "failed to detect authentication methods",
                    source,
                })?;
                let basic = basic.ok_or(OptionsError::NoCredentials { secret: name })?;
                Some(Credentials { username: basic.username, password: basic.password })
            }
        };
    }
    Ok(options)
}

/// An OCI chart repository: `oci://host[/path]` and how to reach it.
pub struct OciChartRepository {
    /// The registry host.
    registry: String,
    /// The path under the host, without slashes at either end (may be empty).
    path: String,
    options: ClientOptions,
}

impl OciChartRepository {
    /// The repository at `url` (Flux's `NormalizeURL`: trailing slashes dropped).
    pub fn new(url: &str, options: ClientOptions) -> Result<Self, Error> {
        let invalid = || Error::InvalidUrl { url: url.to_string() };
        let rest = url.strip_prefix("oci://").ok_or_else(invalid)?.trim_end_matches('/');
        let (registry, path) = rest.split_once('/').unwrap_or((rest, ""));
        if registry.is_empty() || rest.contains(['?', '#', '@']) {
            return Err(invalid());
        }
        Ok(Self { registry: registry.to_string(), path: path.to_string(), options })
    }

    /// The registry host, to find credentials for.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The chart `name` of this repository.
    pub fn chart(&self, name: &str) -> Result<OciChart, Error> {
        let reference = if self.path.is_empty() {
            format!("{}/{name}", self.registry)
        } else {
            format!("{}/{}/{name}", self.registry, self.path)
        };
        let repository = Repository::parse(&reference)
            .map_err(|source| Error::InvalidReference { reference: reference.clone(), source: Box::new(source) })?;
        let client = Client::new(repository, self.options.clone())
            .map_err(|source| Error::Client { source: Box::new(source) })?;
        Ok(OciChart { client, name: name.to_string(), url: format!("oci://{reference}") })
    }
}

/// One chart's repository in a registry.
pub struct OciChart {
    client: Client,
    name: String,
    url: String,
}

impl OciChart {
    /// The client of the chart's repository (for signatures).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `oci://host/path/name:version`, as Flux names the chart in messages.
    pub fn reference(&self, version: &str) -> String {
        format!("{}:{version}", self.url)
    }

    /// The version `constraint` selects, as Flux's `getChartVersion`: a
    /// version that parses as SemVer is taken as it is, without listing
    /// tags; else the tags that are strict SemVer (`_` read as `+`) are
    /// searched for an exact match, then for the highest in the range
    /// (empty or `*`: the latest stable).
    pub async fn version(&self, constraint: &str) -> Result<String, Error> {
        if super::remote::parse_version(constraint).is_some() {
            return Ok(constraint.to_string());
        }
        let tags = self.client.tags().await.map_err(|source| Error::Tags {
            name: self.name.clone(),
            url: self.url.clone(),
            source: Box::new(source),
        })?;
        let versions = helm_versions(&tags);
        if versions.is_empty() {
            return Err(Error::NoTags { name: self.name.clone(), url: self.url.clone() });
        }
        last_matching(&versions, constraint)
    }

    /// The manifest of `version` (its tag, `+` written as `_`) and its digest.
    pub async fn manifest(&self, version: &str) -> Result<Pulled, Error> {
        self.client
            .manifest(&tag(version))
            .await
            .map_err(|source| Error::Pull { reference: self.reference(version), source: Box::new(source) })
    }

    /// The chart archive of `pulled`, at most `max` bytes.
    pub async fn download(&self, version: &str, pulled: &Pulled, max: u64) -> Result<Vec<u8>, Error> {
        let reference = self.reference(version);
        let layer = pulled
            .manifest
            .layers
            .iter()
            .find(|l| l.media_type == CHART_LAYER_MEDIA_TYPE)
            .ok_or_else(|| Error::NotAChart { reference: reference.clone() })?;
        self.client.blob(&layer.digest, max).await.map_err(|source| Error::Pull { reference, source: Box::new(source) })
    }
}

/// The tag of a chart version: `+` is no tag character, Helm writes `_`.
pub fn tag(version: &str) -> String {
    version.replace('+', "_")
}

/// Helm's registry client `Tags`: the tags that are strict SemVer once `_`
/// is read as `+`, written back with `+`.
pub fn helm_versions(tags: &[String]) -> Vec<String> {
    tags.iter().map(|t| t.replace('_', "+")).filter(|t| is_strict_semver(t)).collect()
}

/// Masterminds' `StrictNewVersion`: `MAJOR.MINOR.PATCH` without a `v` and
/// without leading zeros, then an optional pre-release and build metadata.
fn is_strict_semver(text: &str) -> bool {
    let core_end = text.find(['-', '+']).unwrap_or(text.len());
    let core = &text[..core_end];
    let parts: Vec<&str> = core.split('.').collect();
    let numeric =
        |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0'));
    parts.len() == 3 && parts.iter().all(numeric) && text.parse::<ferry_semver::Version>().is_ok()
}

/// Flux's `getLastMatchingVersionOrConstraint`: an exact match first, then
/// the highest version in the range (`*` when empty).
fn last_matching(versions: &[String], constraint: &str) -> Result<String, Error> {
    if !constraint.is_empty()
        && let Some(exact) = versions.iter().find(|v| *v == constraint)
    {
        return Ok(exact.clone());
    }
    let range = if constraint.is_empty() { "*" } else { constraint };
    let parsed: ferry_semver::Constraints = range.parse().map_err(|source| Error::InvalidConstraint { source })?;
    let mut best: Option<(ferry_semver::Version, &String)> = None;
    for text in versions {
        let Some(version) = super::remote::parse_version(text) else { continue };
        if parsed.matches(&version) && best.as_ref().is_none_or(|(b, _)| version > *b) {
            best = Some((version, text));
        }
    }
    best.map(|(_, text)| text.clone()).ok_or_else(|| Error::NoMatch(constraint.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tags_are_read_as_helm_reads_them() {
        let tags =
            strings(&["latest", "v1.0.0", "1.0", "01.0.0", "1.0.0", "1.1.0_build.1", "2.0.0-rc.1", "sha256-x.sig"]);
        assert_eq!(helm_versions(&tags), strings(&["1.0.0", "1.1.0+build.1", "2.0.0-rc.1"]));
        assert_eq!(tag("1.1.0+build.1"), "1.1.0_build.1");
    }

    #[test]
    fn versions_are_chosen_as_flux_chooses_them() {
        let versions = strings(&["1.0.0", "1.1.0+build.1", "1.2.0", "2.0.0-rc.1"]);
        assert_eq!(last_matching(&versions, "").unwrap(), "1.2.0");
        assert_eq!(last_matching(&versions, "*").unwrap(), "1.2.0");
        assert_eq!(last_matching(&versions, "~1.1").unwrap(), "1.1.0+build.1");
        assert_eq!(last_matching(&versions, ">=2.0.0-0").unwrap(), "2.0.0-rc.1");
        assert_eq!(last_matching(&versions, "1.1.0+build.1").unwrap(), "1.1.0+build.1");
        assert_eq!(
            last_matching(&versions, "3.x").unwrap_err().to_string(),
            "could not locate a version matching provided version string 3.x"
        );
        assert!(matches!(last_matching(&versions, "not a range"), Err(Error::InvalidConstraint { .. })));
    }

    #[test]
    fn repository_urls_name_the_chart_repositories() {
        let repo = OciChartRepository::new("oci://127.0.0.1:5000/charts/", ClientOptions::default()).unwrap();
        assert_eq!(repo.chart("app").unwrap().reference("1.0.0"), "oci://127.0.0.1:5000/charts/app:1.0.0");
        let repo = OciChartRepository::new("oci://127.0.0.1:5000", ClientOptions::default()).unwrap();
        assert_eq!(repo.chart("app").unwrap().reference("1.0.0"), "oci://127.0.0.1:5000/app:1.0.0");
        assert!(OciChartRepository::new("https://h/charts", ClientOptions::default()).is_err());
    }
}
