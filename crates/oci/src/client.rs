//! The distribution API client of one repository.

use std::time::Duration;

use bytes::Bytes;
use reqwest::{Method, StatusCode, header};
use url::Url;

use crate::auth::{Challenge, Credentials};
use crate::manifest::{Manifest, media_type};
use crate::{Error, Repository, Result};

/// How a [`Client`] connects and authenticates.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Credentials for basic auth or for the token service.
    pub credentials: Option<Credentials>,
    /// Extra trusted roots.
    pub roots: Vec<reqwest::Certificate>,
    /// A client certificate and key (mTLS).
    pub identity: Option<reqwest::Identity>,
    /// Fall back to plain HTTP when HTTPS fails (Flux's `insecure`); loopback
    /// and private addresses always may, as in go-containerregistry.
    pub insecure: bool,
    /// Accept any server certificate (Flux's `insecure` without a
    /// `certSecretRef`, kept for tools like crane; nowhere else).
    pub skip_tls_verify: bool,
    /// A proxy for every request, `http://[user:password@]host:port`.
    pub proxy: Option<String>,
    /// The timeout of each request.
    pub timeout: Duration,
    /// The `User-Agent`.
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            credentials: None,
            roots: Vec::new(),
            identity: None,
            insecure: false,
            skip_tls_verify: false,
            proxy: None,
            timeout: Duration::from_secs(60),
            user_agent: concat!("ferry-oci/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// A pulled manifest and its digest.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The manifest.
    pub manifest: Manifest,
    /// The digest of the manifest's bytes (`sha256:<hex>`).
    pub digest: String,
}

/// A manifest that refers to another, as the referrers API lists it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Referrer {
    /// The manifest's media type.
    #[serde(default)]
    pub media_type: String,
    /// Its digest.
    pub digest: String,
    /// Its size.
    #[serde(default)]
    pub size: u64,
    /// Its artifact type.
    #[serde(default)]
    pub artifact_type: Option<String>,
}

/// An image index, as far as choosing a platform needs it.
#[derive(serde::Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<IndexEntry>,
}

/// One manifest of an index.
#[derive(serde::Deserialize)]
struct IndexEntry {
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

/// The platform of an index entry.
#[derive(serde::Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

/// What the client learnt from the registry's `/v2/` endpoint.
#[derive(Debug, Clone, Default)]
struct Session {
    /// `<scheme>://<host>`, once a scheme answered.
    base: Option<Url>,
    /// The challenge of the `/v2/` endpoint.
    challenge: Option<Challenge>,
    /// The `Authorization` value in use, and the scope it was made for.
    authorization: Option<(String, String)>,
}

/// A client of one repository in a registry. Cheap to keep for several
/// calls: the scheme and token are remembered.
pub struct Client {
    http: reqwest::Client,
    repository: Repository,
    credentials: Option<Credentials>,
    insecure: bool,
    session: tokio::sync::Mutex<Session>,
}

/// The media types a manifest GET accepts.
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";

impl Client {
    /// A client of `repository`.
    pub fn new(repository: Repository, options: ClientOptions) -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().timeout(options.timeout).user_agent(options.user_agent);
        if !options.roots.is_empty() {
            builder = builder.tls_certs_merge(options.roots);
        }
        if let Some(proxy) = &options.proxy {
            builder = builder.proxy(reqwest::Proxy::all(proxy).map_err(|source| Error::Client { source })?);
        }
        if options.skip_tls_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        if let Some(identity) = options.identity {
            builder = builder.identity(identity);
        }
        let http = builder.build().map_err(|source| Error::Client { source })?;
        Ok(Self {
            http,
            repository,
            credentials: options.credentials,
            insecure: options.insecure,
            session: tokio::sync::Mutex::new(Session::default()),
        })
    }

    /// The repository.
    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// The repository's tags, every page.
    pub async fn tags(&self) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct List {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let mut path = format!("/v2/{}/tags/list?n=1000", self.repository.path);
        loop {
            let response = self.send(Method::GET, &path, "pull", |r| r).await?;
            let url = response.url().to_string();
            let next = next_link(response.headers());
            let body = read(response, "tags list", 16 << 20).await?;
            let list: List = serde_json::from_slice(&body)
                .map_err(|e| Error::InvalidResponse { url: url.clone(), reason: e.to_string() })?;
            tags.extend(list.tags.unwrap_or_default());
            match next {
                Some(next) => path = next,
                None => return Ok(tags),
            }
        }
    }

    /// The image manifest that `reference` (a tag or a digest) names, with
    /// the digest of what the reference names: for an index (a
    /// multi-platform image) that is the index's digest, and the manifest
    /// is its `linux/amd64` one (else its first), as go-containerregistry's
    /// `remote.Image` picks with its default platform.
    pub async fn manifest(&self, reference: &str) -> Result<Pulled> {
        let (kind, body, digest) = self.raw_manifest(reference).await?;
        if kind.as_deref() != Some(media_type::OCI_INDEX) && kind.as_deref() != Some(media_type::DOCKER_LIST) {
            let manifest: Manifest = serde_json::from_slice(&body).map_err(|source| Error::Manifest { source })?;
            return Ok(Pulled { manifest, digest });
        }
        let index: Index = serde_json::from_slice(&body).map_err(|source| Error::Manifest { source })?;
        let is_default =
            |m: &&IndexEntry| m.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == "amd64");
        let child = index
            .manifests
            .iter()
            .find(is_default)
            .or(index.manifests.first())
            .ok_or_else(|| Error::UnsupportedManifest(format!("{} without manifests", kind.unwrap_or_default())))?;
        let (child_kind, child_body, _) = self.raw_manifest(&child.digest).await?;
        if child_kind.as_deref() == Some(media_type::OCI_INDEX)
            || child_kind.as_deref() == Some(media_type::DOCKER_LIST)
        {
            return Err(Error::UnsupportedManifest(format!("nested index {}", child.digest)));
        }
        let manifest: Manifest = serde_json::from_slice(&child_body).map_err(|source| Error::Manifest { source })?;
        Ok(Pulled { manifest, digest })
    }

    /// The manifest `reference` names as it is stored: its media type (from
    /// its body, else its `Content-Type`), bytes and digest, checked against
    /// `reference` when that is a digest. Indexes are not resolved.
    pub async fn manifest_bytes(&self, reference: &str) -> Result<(Option<String>, Vec<u8>, String)> {
        self.raw_manifest(reference).await
    }

    /// The manifests that refer to `digest` (their `subject`), of
    /// `artifact_type` when given: from the referrers API, else, where the
    /// registry has none, from the referrers tag schema (`sha256-<hex>`),
    /// as oras-go finds them.
    pub async fn referrers(&self, digest: &str, artifact_type: Option<&str>) -> Result<Vec<Referrer>> {
        #[derive(serde::Deserialize)]
        struct List {
            #[serde(default)]
            manifests: Vec<Referrer>,
        }
        let mut path = format!("/v2/{}/referrers/{digest}", self.repository.path);
        if let Some(kind) = artifact_type {
            path.push_str(&format!(
                "?artifactType={}",
                url::form_urlencoded::byte_serialize(kind.as_bytes()).collect::<String>()
            ));
        }
        let listed =
            match self.send(Method::GET, &path, "pull", |r| r.header(header::ACCEPT, media_type::OCI_INDEX)).await {
                Ok(response) => {
                    let url = response.url().to_string();
                    let body = read(response, "referrers", 4 << 20).await?;
                    serde_json::from_slice::<List>(&body)
                        .map_err(|e| Error::InvalidResponse { url, reason: e.to_string() })?
                        .manifests
                }
                // No referrers API: the tag schema.
                Err(error) if error.is_not_found() => match self.raw_manifest(&digest.replace(':', "-")).await {
                    Ok((_, body, _)) => {
                        serde_json::from_slice::<List>(&body).map_err(|source| Error::Manifest { source })?.manifests
                    }
                    Err(error) if error.is_not_found() => Vec::new(),
                    Err(error) => return Err(error),
                },
                Err(error) => return Err(error),
            };
        Ok(listed
            .into_iter()
            .filter(|r| artifact_type.is_none_or(|kind| r.artifact_type.as_deref() == Some(kind)))
            .collect())
    }

    /// A manifest's media type (from its body, else its `Content-Type`),
    /// bytes and digest, checked against `reference` when that is a digest.
    async fn raw_manifest(&self, reference: &str) -> Result<(Option<String>, Vec<u8>, String)> {
        let path = format!("/v2/{}/manifests/{reference}", self.repository.path);
        let response = self.send(Method::GET, &path, "pull", |r| r.header(header::ACCEPT, ACCEPT)).await?;
        let url = response.url().to_string();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let body = read(response, "manifest", 4 << 20).await?;
        let digest = crate::digest(&body);
        if reference.starts_with("sha256:") && reference != digest {
            return Err(Error::DigestMismatch { url, expected: reference.into(), actual: digest });
        }
        #[derive(serde::Deserialize)]
        struct Kind {
            #[serde(default, rename = "mediaType")]
            media_type: Option<String>,
        }
        let kind: Kind = serde_json::from_slice(&body).map_err(|source| Error::Manifest { source })?;
        Ok((kind.media_type.or(content_type), body, digest))
    }

    /// The blob `digest`, checked against its digest, refused beyond `max`
    /// bytes.
    pub async fn blob(&self, digest: &str, max: u64) -> Result<Vec<u8>> {
        let path = format!("/v2/{}/blobs/{digest}", self.repository.path);
        let response = self.send(Method::GET, &path, "pull", |r| r).await?;
        let url = response.url().to_string();
        let body = read(response, "blob", max).await?;
        let actual = crate::digest(&body);
        if actual != digest {
            return Err(Error::DigestMismatch { url, expected: digest.into(), actual });
        }
        Ok(body)
    }

    /// Uploads `content` (monolithic upload) unless the registry has it;
    /// returns its digest.
    pub async fn push_blob(&self, content: Bytes) -> Result<String> {
        let digest = crate::digest(&content);
        let head = format!("/v2/{}/blobs/{digest}", self.repository.path);
        match self.send(Method::HEAD, &head, "pull,push", |r| r).await {
            Ok(_) => return Ok(digest),
            Err(error) if error.is_not_found() => {}
            Err(error) => return Err(error),
        }
        let start = format!("/v2/{}/blobs/uploads/", self.repository.path);
        let response = self.send(Method::POST, &start, "pull,push", |r| r.header(header::CONTENT_LENGTH, 0)).await?;
        let url = response.url().clone();
        let location =
            response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).ok_or_else(|| {
                Error::InvalidResponse { url: url.to_string(), reason: "upload without Location".into() }
            })?;
        let mut upload =
            url.join(location).map_err(|e| Error::InvalidResponse { url: url.to_string(), reason: e.to_string() })?;
        upload.query_pairs_mut().append_pair("digest", &digest);
        let upload_path = match upload.query() {
            Some(query) => format!("{}?{query}", upload.path()),
            None => upload.path().to_string(),
        };
        self.send(Method::PUT, &upload_path, "pull,push", |r| {
            r.header(header::CONTENT_TYPE, "application/octet-stream").body(content.clone())
        })
        .await?;
        Ok(digest)
    }

    /// Puts `manifest` (bytes of `media_type`) under `reference`; returns
    /// its digest.
    pub async fn push_manifest(&self, reference: &str, manifest: Bytes, media_type: &str) -> Result<String> {
        let digest = crate::digest(&manifest);
        let path = format!("/v2/{}/manifests/{reference}", self.repository.path);
        self.send(Method::PUT, &path, "pull,push", |r| {
            r.header(header::CONTENT_TYPE, media_type).body(manifest.clone())
        })
        .await?;
        Ok(digest)
    }

    /// Sends a request to `path` (with its query) on the registry, with the
    /// authorization for `actions` on the repository; answers a 401 once by
    /// authenticating again. Returns successful responses only.
    async fn send(
        &self,
        method: Method,
        path: &str,
        actions: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let scope = format!("repository:{}:{actions}", self.repository.path);
        let base = self.base().await?;
        let url =
            base.join(path).map_err(|e| Error::InvalidResponse { url: base.to_string(), reason: e.to_string() })?;
        let mut authorization = self.authorization(&scope, false).await?;
        let mut retried = false;
        loop {
            let mut request = build(self.http.request(method.clone(), url.clone()));
            if let Some(value) = &authorization {
                request = request.header(header::AUTHORIZATION, value);
            }
            let failed = |source| Error::Request { method: method.to_string(), url: url.to_string(), source };
            let response = request.send().await.map_err(failed)?;
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !retried {
                if let Some(challenge) = response
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Challenge::parse)
                {
                    self.session.lock().await.challenge = Some(challenge);
                }
                retried = true;
                authorization = self.authorization(&scope, true).await?;
                if authorization.is_some() {
                    continue;
                }
            }
            if status.is_success() {
                return Ok(response);
            }
            let detail = error_detail(response).await;
            let (method, url) = (method.to_string(), url.to_string());
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    Error::Unauthorized { method, url, status: status.as_u16(), detail }
                }
                StatusCode::NOT_FOUND => Error::NotFound { method, url, what: path_what(path) },
                _ => Error::Status { method, url, status: status.as_u16(), detail },
            });
        }
    }

    /// The registry's base URL, pinging `/v2/` over HTTPS and, where
    /// allowed, plain HTTP the first time.
    async fn base(&self) -> Result<Url> {
        let mut session = self.session.lock().await;
        if let Some(base) = &session.base {
            return Ok(base.clone());
        }
        let schemes: &[&str] =
            if self.insecure || self.repository.is_local() { &["https", "http"] } else { &["https"] };
        // The first failure (HTTPS's) says most about why none worked.
        let mut first = None;
        for scheme in schemes {
            let base = Url::parse(&format!("{scheme}://{}/", self.repository.registry)).map_err(|e| {
                Error::InvalidReference {
                    reference: self.repository.name(),
                    reason: format!("invalid registry host: {e}"),
                }
            })?;
            let ping = base.join("v2/").unwrap_or_else(|_| base.clone());
            match self.http.get(ping.clone()).send().await {
                Ok(response) if !matches!(response.status(), StatusCode::OK | StatusCode::UNAUTHORIZED) => {
                    // Not a registry on this scheme (a TLS port answering plain HTTP with 400).
                    let status = response.status().as_u16();
                    let error =
                        Error::Status { method: "GET".into(), url: ping.to_string(), status, detail: String::new() };
                    first.get_or_insert(error);
                }
                Ok(response) => {
                    if response.status() == StatusCode::UNAUTHORIZED {
                        session.challenge = response
                            .headers()
                            .get(header::WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .and_then(Challenge::parse);
                    }
                    session.base = Some(base.clone());
                    return Ok(base);
                }
                Err(source) => {
                    first.get_or_insert(Error::Request { method: "GET".into(), url: ping.to_string(), source });
                }
            }
        }
        Err(first.unwrap_or_else(|| Error::InvalidReference {
            reference: self.repository.name(),
            reason: "no scheme to reach the registry".into(),
        }))
    }

    /// The `Authorization` value for `scope` the registry's challenge asks
    /// for: basic credentials, or a token from its token service (fetched
    /// again when `refresh`, or for another scope).
    async fn authorization(&self, scope: &str, refresh: bool) -> Result<Option<String>> {
        let mut session = self.session.lock().await;
        if !refresh
            && let Some((value, for_scope)) = &session.authorization
            && for_scope == scope
        {
            return Ok(Some(value.clone()));
        }
        let value = match session.challenge.clone() {
            None => None,
            Some(Challenge::Basic) => self.credentials.as_ref().map(Credentials::basic_header),
            Some(Challenge::Bearer { realm, service }) => Some(self.token(&realm, service.as_deref(), scope).await?),
        };
        session.authorization = value.clone().map(|v| (v, scope.to_string()));
        Ok(value)
    }

    /// A bearer token from the token service `realm`.
    async fn token(&self, realm: &str, service: Option<&str>, scope: &str) -> Result<String> {
        let fail = |reason: String| Error::Token { realm: realm.to_string(), reason };
        let mut url = Url::parse(realm).map_err(|e| fail(e.to_string()))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope);
        }
        let mut request = self.http.get(url.clone());
        if let Some(credentials) = &self.credentials {
            request = request.header(header::AUTHORIZATION, credentials.basic_header());
        }
        let response = request.send().await.map_err(|source| Error::Request {
            method: "GET".into(),
            url: url.to_string(),
            source,
        })?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let detail = error_detail(response).await;
            return Err(Error::Unauthorized {
                method: "GET".into(),
                url: url.to_string(),
                status: status.as_u16(),
                detail,
            });
        }
        if !status.is_success() {
            return Err(fail(format!("status {status}")));
        }
        #[derive(serde::Deserialize)]
        struct Token {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let body = read(response, "token", 1 << 20).await?;
        let token: Token = serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))?;
        token
            .token
            .or(token.access_token)
            .map(|t| format!("Bearer {t}"))
            .ok_or_else(|| fail("no token in the answer".into()))
    }
}

/// The body of `response`, refused beyond `max` bytes.
async fn read(mut response: reqwest::Response, what: &'static str, max: u64) -> Result<Vec<u8>> {
    let url = response.url().to_string();
    if response.content_length().is_some_and(|len| len > max) {
        return Err(Error::TooLarge { what, url, max });
    }
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|source| Error::Request {
            method: "GET".into(),
            url: url.clone(),
            source,
        })?;
        let Some(chunk) = chunk else { return Ok(body) };
        if (body.len() + chunk.len()) as u64 > max {
            return Err(Error::TooLarge { what, url, max });
        }
        body.extend_from_slice(&chunk);
    }
}

/// `: <registry's error text>` from an error response, when it has one.
async fn error_detail(response: reqwest::Response) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let body = response.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<Errors>(&body) {
        Ok(errors) if !errors.errors.is_empty() => {
            let parts: Vec<String> = errors.errors.iter().map(|e| format!("{}: {}", e.code, e.message)).collect();
            format!(": {}", parts.join("; "))
        }
        _ => String::new(),
    }
}

/// What a 404 on `path` did not find: the manifest or blob reference.
fn path_what(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    match path.rsplit_once("/manifests/") {
        Some((_, reference)) => format!("manifest unknown: {reference}"),
        None => match path.rsplit_once("/blobs/") {
            Some((_, digest)) => format!("blob unknown: {digest}"),
            None => "repository unknown".into(),
        },
    }
}

/// The path and query of the `rel="next"` Link of a tags page.
fn next_link(headers: &header::HeaderMap) -> Option<String> {
    let link = headers.get(header::LINK)?.to_str().ok()?;
    if !link.contains("rel=\"next\"") {
        return None;
    }
    let target = link.split_once('<')?.1.split_once('>')?.0;
    match Url::parse(target) {
        Ok(url) => Some(match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        }),
        Err(_) => Some(target.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_are_followed_by_path() {
        let mut headers = header::HeaderMap::new();
        headers.insert(header::LINK, r#"</v2/app/tags/list?last=b&n=2>; rel="next""#.parse().unwrap());
        assert_eq!(next_link(&headers).as_deref(), Some("/v2/app/tags/list?last=b&n=2"));
        assert_eq!(next_link(&header::HeaderMap::new()), None);
    }
}
