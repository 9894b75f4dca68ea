//! Talking to the registry for one OCIRepository: the client its spec and
//! Secrets describe, the reference resolved to a digest, the layer pulled.

use ferry_sdk::artifact::store::StorageError;
use std::collections::BTreeMap;
use std::path::PathBuf;

use ferry_api_source::{LayerOperation, OCIProvider, OCIRepositoryRef, OCIRepositorySpec, OciRepositoryVerification};
use ferry_oci::{Client, ClientOptions, Credentials, Repository};
use ferry_sdk::reconcile::Context;

use super::{DEFAULT_TIMEOUT, Error, MAX_LAYER_SIZE};
use crate::helmrepository::auth;

/// The registry client of one OCIRepository.
pub struct Remote {
    client: Client,
    url: String,
}

/// A reference resolved to a manifest.
pub struct Resolved {
    /// `host/path:tag` or `host/path@digest`, for messages.
    pub reference: String,
    /// `<tag>@sha256:<digest>`, or the digest alone.
    pub revision: String,
    /// The manifest.
    manifest: ferry_oci::Manifest,
}

impl Remote {
    /// The client `spec` and its Secrets describe. Providers other than
    /// `generic` are refused.
    pub async fn new(ctx: &Context, namespace: &str, spec: &OCIRepositorySpec) -> Result<Self, Error> {
        let url = spec.url.clone();
        let timeout = match &spec.timeout {
            Some(text) => ferry_api_meta::duration::parse(text)
                .map_err(|source| Error::InvalidTimeout { value: text.clone(), source })?,
            None => DEFAULT_TIMEOUT,
        };
        let repository = Repository::from_url(&url).map_err(|source| Error::InvalidUrl { url: url.clone(), source })?;
        match spec.provider.unwrap_or_default() {
            OCIProvider::Generic => {}
            OCIProvider::Aws => return Err(Error::Provider { provider: "aws" }),
            OCIProvider::Azure => return Err(Error::Provider { provider: "azure" }),
            OCIProvider::Gcp => return Err(Error::Provider { provider: "gcp" }),
        }
        let mut options = ClientOptions {
            insecure: spec.insecure.unwrap_or(false),
            timeout,
            user_agent: concat!("ferry-source-controller/", env!("CARGO_PKG_VERSION")).into(),
            ..Default::default()
        };
        if let Some(secret) = &spec.proxy_secret_ref {
            let data = read_secret(ctx, namespace, &secret.name, "proxy").await?;
            options.proxy =
                Some(crate::gitrepository::auth::proxy_from_secret(&data).map_err(|source| Error::Proxy { source })?);
        }
        if let Some(secret) = &spec.secret_ref {
            let data = read_secret(ctx, namespace, &secret.name, "authentication").await?;
            let name = format!("{namespace}/{}", secret.name);
            options.credentials = match data.get(".dockerconfigjson") {
                Some(config) => Credentials::from_docker_config(config, &repository.registry)
                    .map_err(|source| Error::DockerConfig { secret: name, source })?,
                None => auth::basic_from_secret(&name, &data)
                    .map_err(|source| Error::InvalidSecret { url: url.clone(), source })?
                    .map(|basic| Credentials { username: basic.username, password: basic.password }),
            };
        }
        if options.credentials.is_none()
            && let Some(account) = spec.service_account_name.as_ref().filter(|a| !a.is_empty())
        {
            options.credentials = pull_secret_credentials(ctx, namespace, account, &repository.registry).await?;
        }
        match &spec.cert_secret_ref {
            Some(secret) => {
                let data = read_secret(ctx, namespace, &secret.name, "TLS").await?;
                let name = format!("{namespace}/{}", secret.name);
                if let Some(tls) = auth::tls_from_secret(&name, &data, true)
                    .map_err(|source| Error::InvalidSecret { url: url.clone(), source })?
                {
                    options.roots = tls.roots;
                    options.identity = tls.identity;
                }
            }
            // Flux's one exception to certificate checks: `insecure` without a CA.
            None => options.skip_tls_verify = options.insecure,
        }
        let client = Client::new(repository, options).map_err(|source| Error::Client { url: url.clone(), source })?;
        Ok(Self { client, url })
    }

    /// The manifest `reference` selects: the digest, else the highest tag
    /// in the semver range (after `semverFilter`), else the tag, else
    /// `latest`.
    pub async fn resolve(&self, reference: Option<&OCIRepositoryRef>) -> Result<Resolved, Error> {
        let name = self.client.repository().name();
        let reference = reference.cloned().unwrap_or_default();
        let nonempty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let (manifest_ref, display, tag) = if let Some(digest) = nonempty(&reference.digest) {
            (digest.clone(), format!("{name}@{digest}"), None)
        } else if let Some(semver) = nonempty(&reference.semver) {
            let tag = self.tag_by_semver(&semver, nonempty(&reference.semver_filter)).await?;
            (tag.clone(), format!("{name}:{tag}"), Some(tag))
        } else {
            let tag = nonempty(&reference.tag).unwrap_or_else(|| "latest".into());
            (tag.clone(), format!("{name}:{tag}"), Some(tag))
        };
        let pulled = self.client.manifest(&manifest_ref).await.map_err(|source| Error::Digest { source })?;
        let revision = match tag {
            Some(tag) => format!("{tag}@{}", pulled.digest),
            None => pulled.digest.clone(),
        };
        Ok(Resolved { reference: display, revision, manifest: pulled.manifest })
    }

    /// The highest tag that `semver` admits among those `filter` keeps,
    /// parsed as fluxcd/pkg's `version.ParseVersion` parses them.
    async fn tag_by_semver(&self, semver: &str, filter: Option<String>) -> Result<String, Error> {
        let url = self.url.clone();
        let tags = self.client.tags().await.map_err(|source| Error::ListTags { url: url.clone(), source })?;
        let tags: Vec<String> = match &filter {
            Some(filter) => {
                let regex = regex::Regex::new(filter).map_err(|source| Error::InvalidFilter {
                    url: url.clone(),
                    filter: filter.clone(),
                    source,
                })?;
                tags.into_iter().filter(|t| regex.is_match(t)).collect()
            }
            None => tags,
        };
        let constraints: ferry_semver::Constraints = semver.parse().map_err(|source| Error::InvalidSemver {
            url: url.clone(),
            semver: semver.to_string(),
            source,
        })?;
        let mut best: Option<(ferry_semver::Version, &String)> = None;
        for tag in &tags {
            if tag.splitn(3, '.').count() != 3 {
                continue;
            }
            let Ok(version) = tag.parse::<ferry_semver::Version>() else { continue };
            if constraints.matches(&version) && best.as_ref().is_none_or(|(b, _)| version > *b) {
                best = Some((version, tag));
            }
        }
        best.map(|(_, tag)| tag.clone()).ok_or_else(|| Error::NoSemverMatch { url, semver: semver.to_string() })
    }

    /// Verifies the signature of the resolved digest with the verifier
    /// `verify` describes ([`crate::verify`]): cosign keys or a notation
    /// trust policy, offline. Keyless cosign is refused.
    pub async fn verify(
        &self,
        ctx: &Context,
        namespace: &str,
        verify: &OciRepositoryVerification,
        resolved: &Resolved,
    ) -> Result<crate::verify::Outcome, Error> {
        let secret = verify.secret_ref.as_ref();
        let provider = crate::verify::provider_name(verify.provider, secret);
        let failed = |source| Error::Verification { provider: provider.clone(), source };
        let trusted_root = verify.trusted_root_secret_ref.is_some();
        let verifier =
            crate::verify::Verifier::new(ctx, namespace, verify.provider, secret, trusted_root, &resolved.reference)
                .await
                .map_err(failed)?;
        let digest = resolved.revision.rsplit('@').next().unwrap_or(&resolved.revision);
        verifier.verify(&self.client, &resolved.reference, digest).await.map_err(failed)
    }

    /// Downloads the layer of `media_type` (the first when unset) and
    /// extracts it into a scratch directory, or copies it into a file
    /// there. Returns the scratch directory, the content's path and the
    /// manifest's annotations.
    pub async fn pull(
        &self,
        resolved: &Resolved,
        media_type: Option<&str>,
        operation: LayerOperation,
    ) -> Result<(tempfile::TempDir, PathBuf, BTreeMap<String, String>), Error> {
        let layers = &resolved.manifest.layers;
        if layers.is_empty() {
            return Err(Error::Layer("no layers found in artifact".into()));
        }
        let layer = match media_type {
            Some(media_type) => layers.iter().find(|l| l.media_type == media_type).ok_or_else(|| {
                Error::Layer(format!("failed to find layer with media type '{media_type}' in artifact"))
            })?,
            None => &layers[0],
        };
        let blob = self
            .client
            .blob(&layer.digest, MAX_LAYER_SIZE)
            .await
            .map_err(|source| Error::Pull { url: self.url.clone(), source })?;
        let scratch = tempfile::Builder::new().prefix("ocirepository-").tempdir().map_err(|source| {
            StorageError::Scratch { message: "failed to create temporary working directory", source }
        })?;
        let content = match operation {
            LayerOperation::Extract => {
                let dir = scratch.path().join("content");
                let limits = ferry_sdk::artifact::Limits { max_size: u64::MAX, ..Default::default() };
                let target = dir.clone();
                tokio::task::spawn_blocking(move || {
                    ferry_sdk::artifact::extract_tar_gz(blob.as_slice(), &target, limits)
                })
                .await
                .map_err(|join| StorageError::Scratch {
                    message: "failed to extract layer contents from artifact",
                    source: std::io::Error::other(join),
                })?
                .map_err(|source| Error::Extract { source })?;
                dir
            }
            LayerOperation::Copy => {
                let file = scratch.path().join("layer.tgz");
                std::fs::write(&file, &blob).map_err(|source| StorageError::Scratch {
                    message: "failed to create file to copy layer to",
                    source,
                })?;
                file
            }
        };
        Ok((scratch, content, resolved.manifest.annotations.clone().unwrap_or_default()))
    }
}

/// The credentials for `registry` in the image pull secrets of the
/// ServiceAccount `account` (the first that has an entry for it), as
/// Flux's keychain of pull secrets finds them.
async fn pull_secret_credentials(
    ctx: &Context,
    namespace: &str,
    account: &str,
    registry: &str,
) -> Result<Option<Credentials>, Error> {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let accounts: kube::Api<ServiceAccount> = kube::Api::namespaced(ctx.client().clone(), namespace);
    let found = accounts
        .get(account)
        .await
        .map_err(|source| Error::ServiceAccount { name: format!("{namespace}/{account}"), source })?;
    for secret in found.image_pull_secrets.iter().flatten() {
        let data = read_secret(ctx, namespace, &secret.name, "image pull").await?;
        let Some(config) = data.get(".dockerconfigjson") else { continue };
        let name = format!("{namespace}/{}", secret.name);
        if let Some(credentials) = Credentials::from_docker_config(config, registry)
            .map_err(|source| Error::DockerConfig { secret: name, source })?
        {
            return Ok(Some(credentials));
        }
    }
    Ok(None)
}

/// A referenced Secret's data, read by the SDK's one Secret reader.
async fn read_secret(
    ctx: &Context,
    namespace: &str,
    name: &str,
    what: &'static str,
) -> Result<ferry_sdk::secret::Data, Error> {
    ferry_sdk::secret::read(ctx.client(), namespace, name).await.map_err(|source| Error::Secret { what, source })
}
