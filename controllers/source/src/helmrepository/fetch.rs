//! Downloads from a chart repository as Helm's HTTP getter does, with the
//! repository's credentials: basic auth (only when both username and
//! password are set, and only to the repository's own scheme and host
//! unless `passCredentials`), TLS roots and client certificate, a timeout
//! per request, and a cap on the body's size read as it streams in.

use std::time::Duration;

use reqwest::Url;

use super::auth::{Basic, Tls};

/// Why a download failed, worded as Helm's getter words it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client could not be built (TLS settings).
    #[error("failed to construct Helm client: {source}")]
    Client {
        /// reqwest's error.
        source: reqwest::Error,
    },
    /// The request failed (connection, TLS, timeout).
    #[error("Get \"{url}\": {}", chain(source))]
    Request {
        /// The URL.
        url: Url,
        /// reqwest's error.
        source: reqwest::Error,
    },
    /// The server answered with another status than 200.
    #[error("failed to fetch {url} : {status}")]
    Status {
        /// The URL.
        url: Url,
        /// The status.
        status: reqwest::StatusCode,
    },
    /// The body is larger than allowed.
    #[error("{what} exceeds the maximum {what} file size of {max} bytes")]
    TooLarge {
        /// `index` or `chart`.
        what: &'static str,
        /// The limit.
        max: u64,
    },
}

/// reqwest's error with its causes, on one line (its own Display stops at
/// the outermost, which says little: "error sending request").
fn chain(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// A client for one repository, built per reconcile from its Secrets.
#[derive(Debug, Clone)]
pub struct Getter {
    client: reqwest::Client,
    repository: Url,
    basic: Option<Basic>,
    pass_credentials: bool,
}

impl Getter {
    /// A getter for the repository at `repository`, with a `timeout` per
    /// request.
    pub fn new(
        repository: Url,
        basic: Option<Basic>,
        tls: Option<Tls>,
        pass_credentials: bool,
        timeout: Duration,
    ) -> Result<Self, Error> {
        ferry_sdk::http::install_crypto_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("ferry-source-controller/", env!("CARGO_PKG_VERSION")));
        if let Some(tls) = tls {
            if !tls.roots.is_empty() {
                builder = builder.tls_certs_merge(tls.roots);
            }
            if let Some(identity) = tls.identity {
                builder = builder.identity(identity);
            }
        }
        let client = builder.build().map_err(|source| Error::Client { source })?;
        Ok(Self { client, repository, basic, pass_credentials })
    }

    /// The repository's `index.yaml`, as Flux's `DownloadIndex` finds it:
    /// `index.yaml` joined to the URL's path (cleaned), query kept.
    pub fn index_url(&self) -> Url {
        let mut url = self.repository.clone();
        url.set_path(&clean_path(&format!("{}/index.yaml", self.repository.path())));
        url
    }

    /// Whether credentials go along to `url`: to the repository's own
    /// scheme and host (with port), or anywhere with `passCredentials`.
    fn credentials_for(&self, url: &Url) -> Option<&Basic> {
        let same = url.scheme() == self.repository.scheme()
            && url.host_str() == self.repository.host_str()
            && url.port_or_known_default() == self.repository.port_or_known_default();
        self.basic
            .as_ref()
            .filter(|b| !b.username.is_empty() && !b.password.is_empty())
            .filter(|_| same || self.pass_credentials)
    }

    /// GETs `url`, refusing a body over `max` bytes (`what` names it in the
    /// error: `index`, `chart`).
    pub async fn get(&self, url: &Url, what: &'static str, max: u64) -> Result<Vec<u8>, Error> {
        let mut request = self.client.get(url.clone());
        if let Some(basic) = self.credentials_for(url) {
            request = request.basic_auth(&basic.username, Some(&basic.password));
        }
        let failed = |source| Error::Request { url: url.clone(), source };
        let mut response = request.send().await.map_err(failed)?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(Error::Status { url: url.clone(), status: response.status() });
        }
        if response.content_length().is_some_and(|len| len > max) {
            return Err(Error::TooLarge { what, max });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if (body.len() + chunk.len()) as u64 > max {
                return Err(Error::TooLarge { what, max });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Go's `path.Clean` for an absolute URL path.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn getter(url: &str) -> Getter {
        Getter::new(Url::parse(url).unwrap(), None, None, false, Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn the_index_is_next_to_the_repository_path() {
        assert_eq!(getter("https://h/charts/").index_url().as_str(), "https://h/charts/index.yaml");
        assert_eq!(getter("https://h/charts").index_url().as_str(), "https://h/charts/index.yaml");
        assert_eq!(getter("https://h").index_url().as_str(), "https://h/index.yaml");
        assert_eq!(getter("https://h/a//b/../c?x=1").index_url().as_str(), "https://h/a/c/index.yaml?x=1");
    }

    #[test]
    fn credentials_stay_with_the_repository_host_unless_passed() {
        let basic = Basic { username: "u".into(), password: "p".into() };
        let url = Url::parse("https://h/charts/").unwrap();
        let own = Getter::new(url.clone(), Some(basic.clone()), None, false, Duration::from_secs(1)).unwrap();
        assert!(own.credentials_for(&Url::parse("https://h/charts/a.tgz").unwrap()).is_some());
        assert!(own.credentials_for(&Url::parse("https://other/a.tgz").unwrap()).is_none());
        assert!(own.credentials_for(&Url::parse("http://h/a.tgz").unwrap()).is_none());
        let passed = Getter::new(url, Some(basic), None, true, Duration::from_secs(1)).unwrap();
        assert!(passed.credentials_for(&Url::parse("https://other/a.tgz").unwrap()).is_some());
    }
}
