//! Kubernetes clients: rate limited like Flux's (`--kube-api-qps`,
//! `--kube-api-burst`), impersonating `spec.serviceAccountName`, or built from
//! the kubeconfig Secret of `spec.kubeConfig`.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::time::{Instant, Sleep};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client could not be built from its configuration.
    #[error("building Kubernetes client: {0}")]
    BuildFailed(#[source] kube::Error),
    /// No configuration (kubeconfig or in-cluster) was found.
    #[error("loading Kubernetes configuration: {0}")]
    ConfigFailed(String),
    /// The kubeconfig Secret could not be read.
    #[error("reading kubeconfig secret {}: {}", .0.secret(), .0)]
    SecretReadFailed(#[source] crate::secret::Error),
    /// The kubeconfig Secret has no usable key.
    #[error("kubeconfig secret {namespace}/{name} has no key {key}")]
    SecretKeyMissing {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The key(s) looked for.
        key: String,
    },
    /// The kubeconfig is not valid.
    #[error("invalid kubeconfig in secret {namespace}/{name}: {message}")]
    InvalidKubeconfig {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The service account name is not valid.
    #[error("invalid service account name {0:?}")]
    InvalidServiceAccount(String),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds clients that share one base configuration and rate limit.
#[derive(Clone)]
pub struct ClientFactory {
    base: Config,
    qps: f32,
    burst: u32,
}

impl ClientFactory {
    /// A factory over `base` with `qps` requests per second and `burst`.
    pub fn new(base: Config, qps: f32, burst: u32) -> Self {
        Self { base, qps, burst }
    }

    /// A factory over the inferred configuration (kubeconfig or in-cluster).
    pub async fn infer(qps: f32, burst: u32) -> Result<Self> {
        crate::http::install_crypto_provider();
        let base = Config::infer().await.map_err(|e| Error::ConfigFailed(e.to_string()))?;
        Ok(Self::new(base, qps, burst))
    }

    /// The base configuration.
    pub fn config(&self) -> &Config {
        &self.base
    }

    /// The controller's own client.
    pub fn client(&self) -> Result<Client> {
        build(self.base.clone(), self.qps, self.burst)
    }

    /// A client acting as the service account `namespace/name`, for objects
    /// with `spec.serviceAccountName`. Needs `impersonate` RBAC.
    pub fn impersonating(&self, namespace: &str, name: &str) -> Result<Client> {
        self.build(impersonate(self.base.clone(), namespace, name)?)
    }

    /// A client from `config` (another cluster's, or another identity's)
    /// under this factory's rate limit.
    pub fn build(&self, config: Config) -> Result<Client> {
        build(config, self.qps, self.burst)
    }

    /// A client for the cluster in the kubeconfig stored in Secret
    /// `namespace/name` under `key` (default `value`, then `value.yaml`, as
    /// Flux). Exec and auth-provider credentials are refused unless
    /// `allow_exec`, because they run commands on the controller's host;
    /// `insecure-skip-tls-verify` is ignored (TLS is verified) unless
    /// `allow_insecure_tls`.
    pub async fn from_kubeconfig_secret(
        &self,
        namespace: &str,
        name: &str,
        key: Option<&str>,
        allow_exec: bool,
        allow_insecure_tls: bool,
    ) -> Result<Client> {
        let config = self.kubeconfig_secret_config(namespace, name, key, allow_exec, allow_insecure_tls).await?;
        self.build(config)
    }

    /// The configuration [`Self::from_kubeconfig_secret`] builds its client
    /// from, for callers that change it first (Flux impersonates
    /// `spec.serviceAccountName` on the remote cluster too).
    pub async fn kubeconfig_secret_config(
        &self,
        namespace: &str,
        name: &str,
        key: Option<&str>,
        allow_exec: bool,
        allow_insecure_tls: bool,
    ) -> Result<Config> {
        let own = self.client()?;
        let data = crate::secret::read(&own, namespace, name).await.map_err(Error::SecretReadFailed)?;
        let keys: Vec<&str> = match key {
            Some(key) => vec![key],
            None => vec!["value", "value.yaml"],
        };
        let bytes = keys.iter().find_map(|k| data.get(*k)).ok_or_else(|| Error::SecretKeyMissing {
            namespace: namespace.to_string(),
            name: name.to_string(),
            key: keys.join(" or "),
        })?;
        let invalid = |message: String| Error::InvalidKubeconfig {
            namespace: namespace.to_string(),
            name: name.to_string(),
            message,
        };
        let text = std::str::from_utf8(bytes).map_err(|e| invalid(e.to_string()))?;
        let kubeconfig = Kubeconfig::from_yaml(text).map_err(|e| invalid(e.to_string()))?;
        if !allow_exec {
            for user in &kubeconfig.auth_infos {
                if let Some(auth) = &user.auth_info
                    && (auth.exec.is_some() || auth.auth_provider.is_some())
                {
                    return Err(invalid(format!(
                        "user {:?} uses exec or an auth provider, which is not allowed",
                        user.name
                    )));
                }
            }
        }
        let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| invalid(e.to_string()))?;
        if !allow_insecure_tls {
            config.accept_invalid_certs = false;
        }
        Ok(config)
    }
}

/// `config` acting as the service account `namespace/name`
/// (`system:serviceaccount:<namespace>:<name>`), as Flux's impersonator sets
/// it, whichever cluster `config` reaches. Needs `impersonate` RBAC there.
pub fn impersonate(mut config: Config, namespace: &str, name: &str) -> Result<Config> {
    let valid = |s: &str| !s.is_empty() && s.len() <= 253 && !s.contains([':', '/', ' ']);
    if !valid(name) || !valid(namespace) {
        return Err(Error::InvalidServiceAccount(format!("{namespace}/{name}")));
    }
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{namespace}:{name}"));
    config.auth_info.impersonate_groups = None;
    Ok(config)
}

/// Builds a client from `config` limited to `qps` with `burst`.
pub fn build(config: Config, qps: f32, burst: u32) -> Result<Client> {
    crate::http::install_crypto_provider();
    let host = config.cluster_url.authority().map(|a| a.to_string()).unwrap_or_default();
    let builder = ClientBuilder::try_from(config).map_err(Error::BuildFailed)?;
    Ok(builder.with_layer(&RateLimitLayer::new(qps, burst)).with_layer(&CountRequestsLayer { host }).build())
}

/// A tower layer counting requests into `rest_client_requests_total`
/// ([`crate::metrics::REST_CLIENT_REQUESTS`]).
#[derive(Debug, Clone)]
struct CountRequestsLayer {
    host: String,
}

impl<S> tower::Layer<S> for CountRequestsLayer {
    type Service = CountRequests<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountRequests { inner, host: self.host.clone() }
    }
}

/// The service made by [`CountRequestsLayer`].
#[derive(Debug, Clone)]
struct CountRequests<S> {
    inner: S,
    host: String,
}

impl<S, B, RB> tower::Service<http::Request<B>> for CountRequests<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.method().as_str().to_string();
        let host = self.host.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            let code = match &result {
                Ok(response) => response.status().as_u16().to_string(),
                Err(_) => "<error>".to_string(),
            };
            crate::metrics::REST_CLIENT_REQUESTS
                .with_label_values(&[code.as_str(), host.as_str(), method.as_str()])
                .inc();
            result
        })
    }
}

/// A token bucket shared by all clones of a rate-limited service.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    refilled: Instant,
}

impl Bucket {
    /// Takes a token, or says how long until one is there.
    fn take(&mut self) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.per_second))
        }
    }
}

/// A tower layer limiting requests like client-go's token bucket.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    bucket: Arc<Mutex<Bucket>>,
}

impl RateLimitLayer {
    /// `qps` requests per second on average, up to `burst` at once. A
    /// non-positive `qps` turns limiting off.
    pub fn new(qps: f32, burst: u32) -> Self {
        let capacity = f64::from(burst.max(1));
        Self {
            bucket: Arc::new(Mutex::new(Bucket {
                tokens: capacity,
                capacity,
                per_second: f64::from(qps),
                refilled: Instant::now(),
            })),
        }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit { inner, bucket: self.bucket.clone(), sleep: None, ready: false }
    }
}

/// The service made by [`RateLimitLayer`].
pub struct RateLimit<S> {
    inner: S,
    bucket: Arc<Mutex<Bucket>>,
    sleep: Option<Pin<Box<Sleep>>>,
    ready: bool,
}

impl<S, R> tower::Service<R> for RateLimit<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        while !self.ready {
            if let Some(sleep) = self.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            let taken = self.bucket.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
            match taken {
                Ok(()) => self.ready = true,
                Err(wait) => self.sleep = Some(Box::pin(tokio::time::sleep(wait))),
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.ready = false;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bucket_allows_burst_then_qps() {
        let layer = RateLimitLayer::new(10.0, 3);
        let wait = {
            let mut bucket = layer.bucket.lock().unwrap();
            for _ in 0..3 {
                assert!(bucket.take().is_ok());
            }
            bucket.take().unwrap_err()
        };
        assert!(wait <= Duration::from_millis(100) && wait > Duration::from_millis(50), "{wait:?}");
        tokio::time::sleep(Duration::from_millis(110)).await;
        assert!(layer.bucket.lock().unwrap().take().is_ok());
    }

    #[tokio::test]
    async fn rejects_bad_service_account() {
        let config = Config::new("https://127.0.0.1:1".parse().unwrap());
        let factory = ClientFactory::new(config, 50.0, 300);
        assert!(matches!(factory.impersonating("ns", "a:b"), Err(Error::InvalidServiceAccount(_))));
        assert!(factory.impersonating("ns", "deployer").is_ok());
    }
}
