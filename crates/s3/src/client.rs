//! The client: addressing, signing, and the three operations.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt as _;

use crate::error::{Error, ErrorResponse, Result};
use crate::sigv4::{self, Credentials, EMPTY_PAYLOAD_SHA256};
use crate::xml;

/// The region requests are signed for when none is given or known, as
/// minio-go's default.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How to reach and authenticate to an S3 service.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `host[:port]`, without scheme (Flux's `spec.endpoint`).
    pub endpoint: String,
    /// HTTPS when true, plain HTTP otherwise.
    pub secure: bool,
    /// The region to sign for; unset or empty: the one of an AWS
    /// endpoint's name, else the one the service names in an error, else
    /// `us-east-1`.
    pub region: Option<String>,
    /// The keys to sign with; unset: anonymous requests.
    pub credentials: Option<Credentials>,
    /// CA certificates trusted on top of the system's.
    pub roots: Vec<reqwest::Certificate>,
    /// A client certificate and key (mutual TLS).
    pub identity: Option<reqwest::Identity>,
    /// A proxy for every request (`http://user:pass@host:port`).
    pub proxy: Option<String>,
    /// How long one request may take.
    pub timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            secure: true,
            region: None,
            credentials: None,
            roots: Vec::new(),
            identity: None,
            proxy: None,
            timeout: Duration::from_secs(60),
            user_agent: concat!("ferry-s3/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The key.
    pub key: String,
    /// The ETag, its quotes trimmed as minio-go trims them.
    pub etag: String,
    /// The size in bytes.
    pub size: u64,
}

/// A client of one S3 service.
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    scheme: &'static str,
    credentials: Option<Credentials>,
    /// The region requests are signed for; learnt from the service when
    /// it names another.
    region: Mutex<String>,
    /// Virtual-hosted style (`bucket.host/key`) rather than path style.
    virtual_host: bool,
}

/// The largest number of keys one listing page asks for (S3's maximum).
const PAGE_SIZE: &str = "1000";

impl Client {
    /// A client for `options`; checks the endpoint's shape.
    pub fn new(options: ClientOptions) -> Result<Self> {
        validate_endpoint(&options.endpoint)?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(options.timeout)
            .user_agent(options.user_agent)
            .redirect(reqwest::redirect::Policy::none());
        if !options.roots.is_empty() {
            builder = builder.tls_certs_merge(options.roots);
        }
        if let Some(identity) = options.identity {
            builder = builder.identity(identity);
        }
        if let Some(proxy) = &options.proxy {
            builder = builder.proxy(reqwest::Proxy::all(proxy).map_err(|source| Error::Client { source })?);
        }
        let http = builder.build().map_err(|source| Error::Client { source })?;
        let host = options.endpoint.rsplit_once(':').map_or(options.endpoint.as_str(), |(host, _)| host);
        let region = options
            .region
            .filter(|r| !r.is_empty())
            .or_else(|| aws_region(host))
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        Ok(Self {
            http,
            virtual_host: is_aws_endpoint(host) || is_google_endpoint(host),
            endpoint: options.endpoint,
            scheme: if options.secure { "https" } else { "http" },
            credentials: options.credentials.filter(|c| !c.access_key.is_empty() && !c.secret_key.is_empty()),
            region: Mutex::new(region),
        })
    }

    /// Whether `bucket` exists: false when the service says `NoSuchBucket`.
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        match self.send("HEAD", bucket, "", &[]).await {
            Ok(_) => Ok(true),
            Err(error) if error.code() == Some("NoSuchBucket") => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Every object of `bucket` whose key starts with `prefix`, all pages
    /// of ListObjectsV2 (keys URL-encoded on the wire, decoded here).
    pub async fn list_objects(&self, bucket: &str, prefix: &str) -> Result<Vec<Object>> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("list-type".to_string(), "2".to_string()),
                ("encoding-type".to_string(), "url".to_string()),
                ("max-keys".to_string(), PAGE_SIZE.to_string()),
                ("prefix".to_string(), prefix.to_string()),
            ];
            if let Some(token) = &token {
                query.push(("continuation-token".to_string(), token.clone()));
            }
            let response = self.send("GET", bucket, "", &query).await?;
            let url = response.url().to_string();
            let page = response.text().await.map_err(|source| Error::Request { method: "GET", url, source })?;
            let malformed = |what| Error::Malformed { bucket: bucket.to_string(), what };
            for contents in xml::elements(&page, "Contents") {
                let key = xml::first(contents, "Key").ok_or_else(|| malformed("an object without Key"))?;
                let key = xml::url_decode(&key).ok_or_else(|| malformed("a Key that is not URL-encoded UTF-8"))?;
                let etag = xml::first(contents, "ETag").unwrap_or_default();
                let size = xml::first(contents, "Size").and_then(|s| s.parse().ok()).unwrap_or(0);
                objects.push(Object { key, etag: trim_etag(&etag).to_string(), size });
            }
            let truncated = xml::first(&page, "IsTruncated").is_some_and(|t| t == "true");
            if !truncated {
                return Ok(objects);
            }
            match xml::first(&page, "NextContinuationToken").filter(|t| !t.is_empty()) {
                Some(next) => token = Some(next),
                None => return Err(malformed("a truncated page without NextContinuationToken")),
            }
        }
    }

    /// Downloads object `key` of `bucket` into the file `target` (creating
    /// its parent directories) and returns its ETag.
    pub async fn get_object(&self, bucket: &str, key: &str, target: &Path) -> Result<String> {
        let mut response = self.send("GET", bucket, key, &[]).await?;
        let url = response.url().to_string();
        let etag = response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| trim_etag(v).to_string())
            .unwrap_or_default();
        let write = |source| Error::Write { path: target.to_path_buf(), source };
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(write)?;
        }
        let mut file = tokio::fs::File::create(target).await.map_err(write)?;
        while let Some(chunk) =
            response.chunk().await.map_err(|source| Error::Request { method: "GET", url: url.clone(), source })?
        {
            file.write_all(&chunk).await.map_err(write)?;
        }
        file.flush().await.map_err(write)?;
        Ok(etag)
    }

    /// Creates `bucket` (in the default region of the service).
    pub async fn make_bucket(&self, bucket: &str) -> Result<()> {
        self.send_body("PUT", bucket, "", &[], Vec::new()).await.map(drop)
    }

    /// Writes `body` as object `key` of `bucket`; returns its ETag.
    pub async fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<String> {
        let response = self.send_body("PUT", bucket, key, &[], body).await?;
        Ok(response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| trim_etag(v).to_string())
            .unwrap_or_default())
    }

    /// Deletes object `key` of `bucket`.
    pub async fn remove_object(&self, bucket: &str, key: &str) -> Result<()> {
        self.send_body("DELETE", bucket, key, &[], Vec::new()).await.map(drop)
    }

    /// Sends a signed request without a body.
    async fn send(
        &self,
        method: &'static str,
        bucket: &str,
        key: &str,
        query: &[(String, String)],
    ) -> Result<reqwest::Response> {
        self.send_body(method, bucket, key, query, Vec::new()).await
    }

    /// Sends a signed request, retrying once with the region the service
    /// names when it refuses the one signed for.
    async fn send_body(
        &self,
        method: &'static str,
        bucket: &str,
        key: &str,
        query: &[(String, String)],
        body: Vec<u8>,
    ) -> Result<reqwest::Response> {
        let region = self.current_region();
        match self.send_once(method, bucket, key, query, &region, body.clone()).await {
            Err(Error::Response(response))
                if response.region.as_deref().is_some_and(|r| !r.is_empty() && r != region) =>
            {
                let learnt = response.region.clone().unwrap_or_default();
                if let Ok(mut current) = self.region.lock() {
                    *current = learnt.clone();
                }
                self.send_once(method, bucket, key, query, &learnt, body).await
            }
            other => other,
        }
    }

    fn current_region(&self) -> String {
        self.region.lock().map(|r| r.clone()).unwrap_or_else(|_| DEFAULT_REGION.to_string())
    }

    async fn send_once(
        &self,
        method: &'static str,
        bucket: &str,
        key: &str,
        query: &[(String, String)],
        region: &str,
        body: Vec<u8>,
    ) -> Result<reqwest::Response> {
        let virtual_host = self.virtual_host && !bucket.contains('.');
        let (host, path) = if virtual_host {
            (format!("{bucket}.{}", self.endpoint), format!("/{key}"))
        } else if key.is_empty() {
            (self.endpoint.clone(), format!("/{bucket}"))
        } else {
            (self.endpoint.clone(), format!("/{bucket}/{key}"))
        };
        let encoded_query = sigv4::canonical_query(query);
        let mut url = format!("{}://{host}{}", self.scheme, sigv4::uri_encode(&path, true));
        if !encoded_query.is_empty() {
            url.push('?');
            url.push_str(&encoded_query);
        }
        let method_value = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let payload_sha256 = if body.is_empty() {
            EMPTY_PAYLOAD_SHA256.to_string()
        } else {
            use sha2::Digest as _;
            hex::encode(sha2::Sha256::digest(&body))
        };
        let mut request = self.http.request(method_value, &url);
        if !body.is_empty() || method == "PUT" {
            request = request.body(body);
        }
        if let Some(credentials) = &self.credentials {
            let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            let timestamp = sigv4::timestamp(seconds);
            let mut headers = vec![
                ("host".to_string(), host_header(&host, self.scheme)),
                ("x-amz-content-sha256".to_string(), payload_sha256.clone()),
                ("x-amz-date".to_string(), timestamp.clone()),
            ];
            if let Some(token) = credentials.session_token.as_ref().filter(|t| !t.is_empty()) {
                headers.push(("x-amz-security-token".to_string(), token.clone()));
            }
            let signed =
                sigv4::Request { method, path: &path, query, headers: &headers, payload_sha256: &payload_sha256 };
            let scope = sigv4::Scope { timestamp: &timestamp, region, service: "s3" };
            let authorization = sigv4::authorization(&signed, &scope, credentials);
            for (name, value) in headers.into_iter().filter(|(name, _)| name != "host") {
                request = request.header(name, value);
            }
            request = request.header(reqwest::header::AUTHORIZATION, authorization);
        }
        let response = request.send().await.map_err(|source| Error::Request { method, url: url.clone(), source })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(Error::Response(Box::new(error_response(response, method, bucket, key).await)))
    }
}

/// The `Host` header reqwest sends: the port left out when it is the
/// scheme's default.
fn host_header(host: &str, scheme: &str) -> String {
    match (scheme, host.rsplit_once(':')) {
        ("https", Some((name, "443"))) | ("http", Some((name, "80"))) => name.to_string(),
        _ => host.to_string(),
    }
}

/// Reads an error answer as minio-go does: the XML `Error` document when
/// there is one, else words for the status; MinIO's `x-minio-error-*`
/// headers win.
async fn error_response(response: reqwest::Response, method: &str, bucket: &str, key: &str) -> ErrorResponse {
    let status = response.status();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let region = header("x-amz-bucket-region");
    let minio_code = header("x-minio-error-code");
    let minio_desc = header("x-minio-error-desc");
    let body = if method == "HEAD" { String::new() } else { response.text().await.unwrap_or_default() };
    let (mut code, mut message) = match (xml::first(&body, "Code"), xml::first(&body, "Message")) {
        (Some(code), message) => (code, message.unwrap_or_default()),
        _ => match status.as_u16() {
            404 if key.is_empty() => ("NoSuchBucket".to_string(), "The specified bucket does not exist.".to_string()),
            404 => ("NoSuchKey".to_string(), "The specified key does not exist.".to_string()),
            403 => ("AccessDenied".to_string(), "Access Denied.".to_string()),
            409 => ("Conflict".to_string(), "Bucket not empty.".to_string()),
            _ => {
                let text = status.to_string();
                let message = if body.is_empty() { text.clone() } else { body.clone() };
                (text, message)
            }
        },
    };
    if let Some(minio_code) = minio_code.filter(|c| !c.is_empty()) {
        code = minio_code;
    }
    if let Some(desc) = minio_desc.filter(|d| !d.is_empty()) {
        message = desc.trim_matches('"').to_string();
    }
    if message.is_empty() {
        message = format!("Error response code {code}.");
    }
    let _ = bucket;
    ErrorResponse { status: status.as_u16(), code, message, region }
}

/// minio-go's `trimEtag`.
fn trim_etag(etag: &str) -> &str {
    let etag = etag.strip_prefix('"').unwrap_or(etag);
    etag.strip_suffix('"').unwrap_or(etag)
}

/// Refuses what minio-go's `getEndpointURL` refuses: a scheme, a path, a
/// host that is neither a domain name nor an IP address.
fn validate_endpoint(endpoint: &str) -> Result<()> {
    let invalid = |reason| Error::InvalidEndpoint { endpoint: endpoint.to_string(), reason };
    if endpoint.is_empty() {
        return Err(invalid("is empty"));
    }
    if endpoint.contains('/') {
        return Err(invalid("cannot have fully qualified paths (give host[:port] without scheme)"));
    }
    let host = match endpoint.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.starts_with('[') => {
            if port.parse::<u16>().is_err() {
                return Err(invalid("has an invalid port"));
            }
            host
        }
        _ => endpoint,
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let domain = !host.is_empty()
        && host.len() <= 255
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if bare.parse::<std::net::IpAddr>().is_ok() || domain {
        Ok(())
    } else {
        Err(invalid("does not follow ip address or domain name standards."))
    }
}

/// An Amazon S3 endpoint (`s3.amazonaws.com`, `s3.<region>.amazonaws.com`,
/// `s3-<region>.amazonaws.com`, China's `.amazonaws.com.cn`).
fn is_aws_endpoint(host: &str) -> bool {
    host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")
}

/// Google Cloud Storage's S3-compatible endpoint.
fn is_google_endpoint(host: &str) -> bool {
    host == "storage.googleapis.com"
}

/// The region in an AWS endpoint's name (`s3.eu-west-1.amazonaws.com`,
/// `s3-eu-west-1.amazonaws.com`, `s3.dualstack.eu-west-1.amazonaws.com`).
fn aws_region(host: &str) -> Option<String> {
    let name = host.strip_suffix(".amazonaws.com").or_else(|| host.strip_suffix(".amazonaws.com.cn"))?;
    let labels: Vec<&str> = name.split('.').collect();
    let region = match labels.as_slice() {
        ["s3"] => return None,
        [single] => single.strip_prefix("s3-")?,
        [.., region] => region,
        [] => return None,
    };
    (region.contains('-')).then(|| region.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_endpoints_as_minio_go() {
        for good in ["minio:9000", "127.0.0.1:9000", "s3.amazonaws.com", "[::1]:9000", "my_host.local"] {
            assert!(validate_endpoint(good).is_ok(), "{good}");
        }
        for bad in ["", "http://minio:9000", "minio:9000/path", "minio:port", "bad host"] {
            assert!(validate_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn finds_aws_regions_and_addressing() {
        assert_eq!(aws_region("s3.eu-west-1.amazonaws.com").as_deref(), Some("eu-west-1"));
        assert_eq!(aws_region("s3-us-west-2.amazonaws.com").as_deref(), Some("us-west-2"));
        assert_eq!(aws_region("s3.dualstack.ap-south-1.amazonaws.com").as_deref(), Some("ap-south-1"));
        assert_eq!(aws_region("s3.amazonaws.com"), None);
        assert_eq!(aws_region("minio.local"), None);
        assert!(is_aws_endpoint("s3.amazonaws.com"));
        assert!(!is_aws_endpoint("127.0.0.1"));
        assert_eq!(trim_etag("\"abc-2\""), "abc-2");
        assert_eq!(host_header("example.com:443", "https"), "example.com");
        assert_eq!(host_header("127.0.0.1:9000", "http"), "127.0.0.1:9000");
    }
}
