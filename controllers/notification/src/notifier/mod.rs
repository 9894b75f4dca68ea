//! Providers: how an event reaches a service. [`Config`] gathers a
//! Provider's spec and Secrets (pure), [`payload`] turns an event into the
//! HTTP requests the service expects (pure), and [`Notifier`] sends them
//! with Flux's retries (go-retryablehttp's: four retries, waits from 2 s
//! doubling up to 30 s, on connection errors, 429 and 5xx but 501), all
//! within the Provider's `timeout` (15 s by default).

pub mod payload;

use std::collections::BTreeMap;
use std::time::Duration;

use ferry_api_notification::ProviderSpec;

use crate::event::Event;

pub use payload::{Plan, Request};

/// The Provider types Ferry delivers to; the others are refused with a
/// clear error (never ignored).
pub const SUPPORTED: &[&str] = &[
    "generic",
    "generic-hmac",
    "slack",
    "discord",
    "rocket",
    "msteams",
    "googlechat",
    "webex",
    "telegram",
    "lark",
    "matrix",
    "alertmanager",
    "grafana",
    "github",
    "gitlab",
    "gitea",
    "githubdispatch",
    "pagerduty",
    "opsgenie",
    "datadog",
    "sentry",
    "bitbucket",
    "bitbucketserver",
    "azuredevops",
];

/// The types that set Git commit statuses.
pub const COMMIT_STATUS_TYPES: &[&str] = &["github", "gitlab", "gitea", "bitbucketserver", "bitbucket", "azuredevops"];

/// A Provider's default `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The header carrying the sending controller, for `generic` receivers.
pub const NOTIFICATION_HEADER: &str = "gotk-component";

/// Why a Provider cannot be used or a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The type is not one Ferry delivers to.
    #[error("provider type '{0}' is not supported by Ferry")]
    Unsupported(String),
    /// A required setting is missing or invalid.
    #[error("{0}")]
    Invalid(String),
    /// The address does not parse.
    #[error("invalid address {address}: {source}")]
    InvalidAddress {
        /// The address.
        address: String,
        /// The cause.
        #[source]
        source: url::ParseError,
    },
    /// The Secret's `headers` are not a YAML map of strings.
    #[error("failed to read headers from secret: {0}")]
    Headers(#[source] serde_yaml_ng::Error),
    /// The HTTP client (TLS material, proxy) could not be built.
    #[error("{context}: {source}")]
    Client {
        /// What was being set up.
        context: &'static str,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The request could not be sent (after the retries).
    #[error("failed to execute request: {0}")]
    Send(#[source] reqwest::Error),
    /// The service answered with an error status (after the retries).
    #[error("request failed with status code {status}: {body}")]
    Status {
        /// The status.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The service said no in a 2xx answer (Slack's `ok: false`).
    #[error("{0}")]
    Refused(String),
    /// The delivery did not finish within the Provider's timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// Everything a Provider and its Secrets say about delivery.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `spec.type`.
    pub kind: String,
    /// The address: the Secret's `address` wins over `spec.address`.
    pub address: String,
    /// `spec.channel`.
    pub channel: String,
    /// `spec.username`, or the Secret's `username`.
    pub username: String,
    /// The Secret's `password`.
    pub password: String,
    /// The Secret's `token`.
    pub token: String,
    /// The Secret's `headers`.
    pub headers: BTreeMap<String, String>,
    /// The proxy URL (`proxySecretRef`'s `address`, or the deprecated fields).
    pub proxy: Option<String>,
    /// Basic auth for the proxy.
    pub proxy_auth: Option<(String, String)>,
    /// `ca.crt` of `certSecretRef`.
    pub ca_pem: Option<Vec<u8>>,
    /// `tls.crt` and `tls.key` of `certSecretRef`, for mutual TLS.
    pub client_pem: Option<Vec<u8>>,
    /// `spec.timeout` (15 s by default).
    pub timeout: Duration,
    /// The commit status key, for the Git providers.
    pub commit_status: String,
    /// The Provider's UID: Opsgenie's alias tells clusters apart with it.
    pub provider_uid: String,
}

/// The Secrets a Provider references, already read (through `ferry_sdk::secret`).
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// `secretRef`'s data.
    pub secret: Option<ferry_sdk::secret::Data>,
    /// `proxySecretRef`'s data.
    pub proxy: Option<ferry_sdk::secret::Data>,
    /// `certSecretRef`'s data.
    pub cert: Option<ferry_sdk::secret::Data>,
}

fn text(data: &ferry_sdk::secret::Data, key: &str) -> Option<String> {
    data.get(key).map(|v| String::from_utf8_lossy(v).trim().to_string()).filter(|v| !v.is_empty())
}

impl Config {
    /// The configuration of a Provider with `spec`, `uid` (for the default
    /// commit status key) and its read `secrets`, for events of `kind/name`.
    pub fn new(spec: &ProviderSpec, secrets: &Secrets) -> Result<Self, Error> {
        if !SUPPORTED.contains(&spec.type_.as_str()) {
            return Err(Error::Unsupported(spec.type_.clone()));
        }
        if spec.service_account_name.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(Error::Invalid("spec.serviceAccountName (workload identity) is not supported by Ferry".into()));
        }
        if spec.commit_status_expr.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(Error::Invalid("spec.commitStatusExpr (CEL) is not supported by Ferry".into()));
        }
        let mut config = Config {
            kind: spec.type_.clone(),
            address: spec.address.clone().unwrap_or_default(),
            channel: spec.channel.clone().unwrap_or_default(),
            username: spec.username.clone().unwrap_or_default(),
            proxy: spec.proxy.clone().filter(|p| !p.is_empty()),
            timeout: match spec.timeout.as_deref() {
                Some(t) => {
                    ferry_api_meta::duration::parse(t).map_err(|_| Error::Invalid(format!("invalid timeout {t:?}")))?
                }
                None => DEFAULT_TIMEOUT,
            },
            ..Config::default()
        };
        if let Some(data) = &secrets.secret {
            if let Some(address) = text(data, "address") {
                if address.len() > 2048 {
                    return Err(Error::Invalid(
                        "invalid address in secret: address exceeds maximum length of 2048 bytes".into(),
                    ));
                }
                config.address = address;
            }
            if let Some(proxy) = text(data, "proxy") {
                config.proxy = Some(proxy);
            }
            if let Some(headers) = data.get("headers") {
                config.headers = serde_yaml_ng::from_slice(headers).map_err(Error::Headers)?;
            }
            config.token = text(data, "token").unwrap_or_default();
            if let Some(username) = text(data, "username") {
                config.username = username;
            }
            config.password = text(data, "password").unwrap_or_default();
        }
        if let Some(data) = &secrets.proxy {
            config.proxy = Some(
                text(data, "address")
                    .ok_or_else(|| Error::Invalid("invalid proxy secret: missing 'address' key".into()))?,
            );
            if let (Some(user), Some(pass)) = (text(data, "username"), text(data, "password")) {
                config.proxy_auth = Some((user, pass));
            }
        }
        if let Some(data) = &secrets.cert {
            config.ca_pem = data.get("ca.crt").cloned();
            if let (Some(cert), Some(key)) = (data.get("tls.crt"), data.get("tls.key")) {
                let mut pem = cert.clone();
                pem.push(b'\n');
                pem.extend_from_slice(key);
                config.client_pem = Some(pem);
            }
            if config.ca_pem.is_none() && config.client_pem.is_none() {
                return Err(Error::Invalid(
                    "invalid certSecretRef: expected 'ca.crt', or 'tls.crt' and 'tls.key'".into(),
                ));
            }
        }
        payload::check(&config)?;
        Ok(config)
    }
}

/// The default commit status key: `kind/name/<first part of the Provider UID>`, lowercase.
pub fn default_commit_status(provider_uid: &str, event: &Event) -> String {
    let uid = provider_uid.split('-').next().unwrap_or_default();
    format!("{}/{}/{uid}", event.kind(), event.name()).to_lowercase()
}

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Retries after the first attempt.
    pub max: u32,
    /// The first wait; it doubles each time.
    pub wait_min: Duration,
    /// The longest wait.
    pub wait_max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self { max: 4, wait_min: Duration::from_secs(2), wait_max: Duration::from_secs(30) }
    }
}

/// Sends events to one Provider.
#[derive(Debug, Clone)]
pub struct Notifier {
    config: Config,
    client: reqwest::Client,
    retry: Retry,
}

impl Notifier {
    /// A notifier for `config`, with its proxy and TLS settings.
    pub fn new(config: Config) -> Result<Self, Error> {
        ferry_sdk::http::install_crypto_provider();
        let mut builder =
            reqwest::Client::builder().user_agent(concat!("ferry-notification-controller/", env!("CARGO_PKG_VERSION")));
        if let Some(proxy) = &config.proxy {
            let mut proxy =
                reqwest::Proxy::all(proxy).map_err(|source| Error::Client { context: "invalid proxy", source })?;
            if let Some((user, pass)) = &config.proxy_auth {
                proxy = proxy.basic_auth(user, pass);
            }
            builder = builder.proxy(proxy);
        } else {
            builder = builder.no_proxy();
        }
        if let Some(ca) = &config.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(ca)
                .map_err(|source| Error::Client { context: "invalid ca.crt", source })?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some(pem) = &config.client_pem {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|source| Error::Client { context: "invalid tls.crt/tls.key", source })?;
            builder = builder.identity(identity);
        }
        let client = builder.build().map_err(|source| Error::Client { context: "building the HTTP client", source })?;
        Ok(Self { config, client, retry: Retry::default() })
    }

    /// Changes the retries (tests shorten the waits).
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Delivers `event`, within the Provider's timeout.
    pub async fn post(&self, event: &Event) -> Result<(), Error> {
        let timeout = self.config.timeout;
        tokio::time::timeout(timeout, self.deliver(event)).await.map_err(|_| Error::Timeout(timeout))?
    }

    async fn deliver(&self, event: &Event) -> Result<(), Error> {
        let Some(plan) = payload::plan(&self.config, event)? else { return Ok(()) };
        if let Some(lookup) = &plan.lookup {
            let answer = match self.send(&lookup.request).await {
                Err(Error::Status { status: 404, .. }) if lookup.missing_ok => bytes::Bytes::new(),
                answer => answer?,
            };
            let existing: serde_json::Value = serde_json::from_slice(&answer).unwrap_or(serde_json::Value::Null);
            if (lookup.duplicate)(&existing) {
                return Ok(());
            }
        }
        let answer = self.send(&plan.request).await?;
        if let Some(validate) = plan.validate {
            validate(&answer)?;
        }
        for request in &plan.then {
            self.send(request).await?;
        }
        Ok(())
    }

    /// Sends one request with retries; returns the body of the 2xx answer.
    async fn send(&self, request: &Request) -> Result<bytes::Bytes, Error> {
        let mut wait = self.retry.wait_min;
        let mut attempt = 0;
        loop {
            let mut builder = self.client.request(request.method.clone(), &request.url);
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            if let Some((user, pass)) = &request.basic_auth {
                builder = builder.basic_auth(user, Some(pass));
            }
            let result = builder.body(request.body.clone()).send().await;
            let retryable = match result {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        return response.bytes().await.map_err(Error::Send);
                    }
                    let body = response.text().await.unwrap_or_default();
                    let error = Error::Status { status: status.as_u16(), body: body.chars().take(512).collect() };
                    let retry = status.as_u16() == 429 || (status.is_server_error() && status.as_u16() != 501);
                    if !retry {
                        return Err(error);
                    }
                    error
                }
                Err(error) => Error::Send(error),
            };
            if attempt >= self.retry.max {
                return Err(retryable);
            }
            tracing::debug!(url = %request.url, attempt, error = %retryable, "retrying delivery");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.retry.wait_max);
            attempt += 1;
        }
    }
}
