//! Talking to the bucket for one Bucket object: the S3 client its spec and
//! Secrets describe (Flux's `setupCredentials` and `createBucketProvider`),
//! the ETag index (`fetchEtagIndex`) and the download of the indexed
//! objects (`fetchIndexFiles`).

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_api_source::{BucketProvider, BucketSpec, StsProvider};
use ferry_sdk::reconcile::Context;
use ferry_sdk::secret::Data;

use super::error::{ProxyError, TlsError};
use super::index::{EtagIndex, IGNORE_FILE, Matcher};
use super::{DEFAULT_TIMEOUT, Error};
use crate::helmrepository::auth;

/// How many objects are downloaded at once. Flux allows 100 goroutines;
/// Ferry keeps fewer connections open, which a local S3 server prefers.
pub const MAX_CONCURRENT_FETCHES: usize = 16;

/// The S3 client of one Bucket and what it reads.
pub struct Remote {
    client: Arc<ferry_s3::Client>,
    bucket: String,
    timeout: Duration,
}

/// The Secrets a Bucket refers to, read (Flux's `bucketCredentials`).
#[derive(Default)]
struct Credentials {
    secret: Option<(String, Data)>,
    sts_secret: Option<(String, Data)>,
    proxy: Option<String>,
    tls: Option<auth::Tls>,
}

impl Remote {
    /// The client `spec` and its Secrets describe, refused as Flux refuses
    /// it, plus what Ferry cannot do (cloud identity, STS).
    pub async fn new(ctx: &Context, namespace: &str, spec: &BucketSpec) -> Result<Self, Error> {
        let timeout = match &spec.timeout {
            Some(text) => ferry_api_meta::duration::parse(text)
                .map_err(|source| Error::InvalidTimeout { value: text.clone(), source })?,
            None => DEFAULT_TIMEOUT,
        };
        let provider = spec.provider.unwrap_or_default();
        let account = spec.service_account_name.as_deref().filter(|a| !a.is_empty());
        if provider != BucketProvider::Generic && account.is_some() {
            return Err(Error::FeatureGate);
        }
        let credentials = read_credentials(ctx, namespace, spec).await?;
        let options = client_options(spec, provider, credentials, timeout)?;
        let client = ferry_s3::Client::new(options).map_err(|source| Error::Client { source })?;
        Ok(Self { client: Arc::new(client), bucket: spec.bucket_name.clone(), timeout })
    }

    /// Flux's `fetchEtagIndex`: checks that the bucket exists, downloads the
    /// root `.sourceignore` into `dir` (it stays in the artifact, as in
    /// Flux), and indexes the objects under `prefix` that the rules keep
    /// (keys ending in `/`, and `.sourceignore` itself, are left out).
    pub async fn index(&self, prefix: &str, spec_ignore: Option<&str>, dir: &Path) -> Result<EtagIndex, Error> {
        let bucket = self.bucket.clone();
        let work = async {
            let exists = self
                .client
                .bucket_exists(&bucket)
                .await
                .map_err(|source| Error::Exists { bucket: bucket.clone(), source })?;
            if !exists {
                return Err(Error::NotFound(bucket.clone()));
            }
            let ignore_path = dir.join(IGNORE_FILE);
            let sourceignore = match self.client.get_object(&bucket, IGNORE_FILE, &ignore_path).await {
                Ok(_) => Some(tokio::fs::read_to_string(&ignore_path).await.map_err(|source| Error::IgnoreFile {
                    source: ferry_s3::Error::Write { path: ignore_path, source },
                })?),
                Err(error) if error.is_not_found() => None,
                Err(source) => return Err(Error::IgnoreFile { source }),
            };
            let matcher =
                Matcher::new(sourceignore.as_deref(), spec_ignore).map_err(|source| Error::IgnorePattern { source })?;
            let objects = self
                .client
                .list_objects(&bucket, prefix)
                .await
                .map_err(|source| Error::List { bucket: bucket.clone(), source })?;
            let mut index = EtagIndex::default();
            for object in objects {
                if object.key.ends_with('/') || object.key == IGNORE_FILE || matcher.ignores(&object.key) {
                    continue;
                }
                index.add(object.key, object.etag);
            }
            Ok(index)
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| Err(Error::Timeout { what: "indexation of objects", bucket: self.bucket.clone() }))
    }

    /// Flux's `fetchIndexFiles`: downloads every indexed object into `dir`
    /// (at most [`MAX_CONCURRENT_FETCHES`] at once), updating an ETag that
    /// changed since the listing and forgetting an object that
    /// disappeared. Returns the index of what was downloaded.
    pub async fn download(&self, mut index: EtagIndex, dir: &Path) -> Result<EtagIndex, Error> {
        let semaphore = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES));
        let mut tasks = tokio::task::JoinSet::new();
        for (key, etag) in index.iter() {
            let target = secure_join(dir, key)
                .ok_or_else(|| Error::KeyPath { bucket: self.bucket.clone(), key: key.clone() })?;
            let (client, bucket, key, etag) = (self.client.clone(), self.bucket.clone(), key.clone(), etag.clone());
            let semaphore = semaphore.clone();
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                let fetched = client.get_object(&bucket, &key, &target).await;
                (key, etag, fetched)
            });
        }
        let bucket = self.bucket.clone();
        let work = async {
            while let Some(joined) = tasks.join_next().await {
                let Ok((key, listed, fetched)) = joined else { continue };
                match fetched {
                    Ok(etag) if etag != listed && !etag.is_empty() => index.add(key, etag),
                    Ok(_) => {}
                    Err(error) if error.is_not_found() => {
                        tracing::info!(key, bucket, "indexed object disappeared from the bucket");
                        index.remove(&key);
                    }
                    Err(source) => return Err(Error::Get { bucket: bucket.clone(), key, source }),
                }
            }
            Ok(index)
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| Err(Error::Timeout { what: "fetch", bucket: self.bucket.clone() }))
    }
}

/// `key` as a path under `root`, as securejoin resolves it: `.` and empty
/// segments dropped, `..` never climbing above `root`. `None` for a key
/// that names `root` itself.
pub fn secure_join(root: &Path, key: &str) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in Path::new(key).components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::ParentDir => {
                parts.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    if parts.is_empty() {
        return None;
    }
    let mut path = root.to_path_buf();
    path.extend(parts);
    Some(path)
}

/// Reads the Secrets of `secretRef`, `sts.secretRef`, `proxySecretRef` and
/// `certSecretRef`, as Flux's `setupCredentials` (every failure is
/// `AuthenticationFailed`).
async fn read_credentials(ctx: &Context, namespace: &str, spec: &BucketSpec) -> Result<Credentials, Error> {
    let read = |what: &'static str, name: String| async move {
        ferry_sdk::secret::read(ctx.client(), namespace, &name)
            .await
            .map(|data| (name.clone(), data))
            .map_err(|source| Error::Secret { what, namespace: namespace.to_string(), name, source })
    };
    let mut credentials = Credentials::default();
    if let Some(secret) = &spec.secret_ref {
        credentials.secret = Some(read("", secret.name.clone()).await?);
    }
    if let Some(secret) = spec.sts.as_ref().and_then(|sts| sts.secret_ref.as_ref()) {
        credentials.sts_secret = Some(read("STS ", secret.name.clone()).await?);
    }
    if let Some(secret) = &spec.proxy_secret_ref {
        let data = ferry_sdk::secret::read(ctx.client(), namespace, &secret.name)
            .await
            .map_err(|source| Error::Proxy { source: ProxyError::Secret { source } })?;
        credentials.proxy = Some(
            crate::gitrepository::auth::proxy_from_secret(&data)
                .map_err(|source| Error::Proxy { source: ProxyError::Address { source } })?,
        );
    }
    if let Some(secret) = &spec.cert_secret_ref {
        let data = ferry_sdk::secret::read(ctx.client(), namespace, &secret.name)
            .await
            .map_err(|source| Error::Tls { source: TlsError::Secret { source } })?;
        let name = format!("{namespace}/{}", secret.name);
        credentials.tls = auth::tls_from_secret(&name, &data, true)
            .map_err(|source| Error::Tls { source: TlsError::Material { source } })?;
    }
    Ok(credentials)
}

/// The S3 client's options, as Flux's `createBucketProvider` (generic and
/// aws: minio-go) sets them up; gcp and azure, and credentials that only a
/// cloud identity or an STS would give, are refused.
fn client_options(
    spec: &BucketSpec,
    provider: BucketProvider,
    credentials: Credentials,
    timeout: Duration,
) -> Result<ferry_s3::ClientOptions, Error> {
    match provider {
        BucketProvider::Gcp | BucketProvider::Azure => {
            let (name, api) = if provider == BucketProvider::Gcp {
                ("gcp", "the Google Cloud Storage JSON API")
            } else {
                ("azure", "the Azure Blob Storage API")
            };
            return Err(Error::ProviderUnsupported(format!(
                "provider '{name}' is not supported by Ferry: it needs {api} and the cloud's identity service; \
                 use provider 'generic' (or 'aws') with an S3-compatible endpoint and spec.secretRef"
            )));
        }
        BucketProvider::Generic | BucketProvider::Aws => {}
    }
    let keys = match &credentials.secret {
        Some((name, data)) => Some(static_keys(name, data)?),
        None => None,
    };
    if let Some(sts) = &spec.sts {
        validate_sts(provider, sts)?;
        url::Url::parse(&sts.endpoint)
            .map_err(|source| Error::InvalidStsEndpoint { endpoint: sts.endpoint.clone(), source })?;
        if let (StsProvider::Ldap, Some((name, data))) = (sts.provider, &credentials.sts_secret) {
            let present = |key: &str| data.get(key).is_some_and(|v| !v.is_empty());
            if data.is_empty() || !present("username") || !present("password") {
                return Err(Error::InvalidStsSecret { name: name.clone(), provider: "ldap" });
            }
        }
    }
    // Flux takes static keys from the Secret first; without them, `aws`
    // asks AWS's credential chain and `generic` an LDAP STS.
    let has_keys = keys.as_ref().is_some_and(Option::is_some);
    if !has_keys && credentials.secret.is_none() {
        match (provider, spec.sts.as_ref().map(|s| s.provider)) {
            (BucketProvider::Aws, _) => {
                return Err(Error::ProviderUnsupported(
                    "AWS authentication failed: credentials from AWS's identity services (IRSA, EKS Pod Identity, \
                     instance profiles) are not supported by Ferry; set spec.secretRef with 'accesskey' and 'secretkey'"
                        .into(),
                ));
            }
            (BucketProvider::Generic, Some(StsProvider::Ldap)) => return Err(Error::StsUnsupported("ldap")),
            _ => {}
        }
    }
    let mut options = ferry_s3::ClientOptions {
        endpoint: spec.endpoint.clone(),
        secure: !spec.insecure.unwrap_or(false),
        region: spec.region.clone().filter(|r| !r.is_empty()),
        credentials: keys.flatten(),
        proxy: credentials.proxy,
        timeout,
        user_agent: concat!("ferry-source-controller/", env!("CARGO_PKG_VERSION")).into(),
        ..Default::default()
    };
    // minio-go uses the TLS configuration only over HTTPS.
    if let Some(tls) = credentials.tls.filter(|_| options.secure) {
        options.roots = tls.roots;
        options.identity = tls.identity;
    }
    Ok(options)
}

/// The `accesskey` and `secretkey` of the Secret (minio's
/// `ValidateSecret`: both keys must exist; `newCredsFromSecret`: either
/// empty means anonymous requests).
fn static_keys(name: &str, data: &Data) -> Result<Option<ferry_s3::Credentials>, Error> {
    let (Some(access), Some(secret)) = (data.get("accesskey"), data.get("secretkey")) else {
        let name = name.to_string();
        return Err(Error::InvalidSecret { name });
    };
    let (access, secret) = (String::from_utf8_lossy(access).into_owned(), String::from_utf8_lossy(secret).into_owned());
    Ok((!access.is_empty() && !secret.is_empty()).then_some(ferry_s3::Credentials {
        access_key: access,
        secret_key: secret,
        session_token: None,
    }))
}

/// minio's `ValidateSTSProvider` (the CRD's rules say the same, but an
/// object stored before them may not follow them).
fn validate_sts(provider: BucketProvider, sts: &ferry_api_source::BucketSts) -> Result<(), Error> {
    let sts_name = match sts.provider {
        StsProvider::Aws => "aws",
        StsProvider::Ldap => "ldap",
    };
    let provider_name = match provider {
        BucketProvider::Generic => "generic",
        BucketProvider::Aws => "aws",
        BucketProvider::Gcp => "gcp",
        BucketProvider::Azure => "azure",
    };
    let incompatible = || {
        Error::InvalidSts(format!("STS provider '{sts_name}' is not supported for '{provider_name}' bucket provider"))
    };
    match (provider, sts.provider) {
        (BucketProvider::Aws, StsProvider::Aws) => {
            if sts.secret_ref.is_some() {
                return Err(Error::InvalidSts(format!(
                    "spec.sts.secretRef is not required for the '{sts_name}' STS provider"
                )));
            }
            if sts.cert_secret_ref.is_some() {
                return Err(Error::InvalidSts(format!(
                    "spec.sts.certSecretRef is not required for the '{sts_name}' STS provider"
                )));
            }
            Ok(())
        }
        (BucketProvider::Generic, StsProvider::Ldap) => Ok(()),
        (BucketProvider::Aws | BucketProvider::Generic, _) => Err(incompatible()),
        _ => {
            Err(Error::InvalidSts(format!("STS configuration is not supported for '{provider_name}' bucket provider")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_resolve_inside_the_root() {
        let root = Path::new("/scratch");
        assert_eq!(secure_join(root, "a/b.yaml").unwrap(), Path::new("/scratch/a/b.yaml"));
        assert_eq!(secure_join(root, "../../etc/passwd").unwrap(), Path::new("/scratch/etc/passwd"));
        assert_eq!(secure_join(root, "/abs//./x").unwrap(), Path::new("/scratch/abs/x"));
        assert_eq!(secure_join(root, "a/../../b").unwrap(), Path::new("/scratch/b"));
        assert!(secure_join(root, "..").is_none());
    }

    fn data(pairs: &[(&str, &str)]) -> Data {
        pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn secret_keys_as_flux_reads_them() {
        let keys = static_keys("s", &data(&[("accesskey", "a"), ("secretkey", "b")])).unwrap().unwrap();
        assert_eq!((keys.access_key.as_str(), keys.secret_key.as_str()), ("a", "b"));
        assert!(static_keys("s", &data(&[("accesskey", ""), ("secretkey", "b")])).unwrap().is_none());
        let error = static_keys("s", &data(&[("accesskey", "a")])).unwrap_err();
        assert_eq!(error.to_string(), "invalid 's' secret data: required fields 'accesskey' and 'secretkey'");
    }
}
