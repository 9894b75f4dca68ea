//! The event server (`--events-addr`, `:9090`): takes Flux events, drops
//! duplicates, matches Alerts and hands each match to its Provider in a
//! task of its own, so a slow or failing provider never holds up the
//! answer or the other providers.
//!
//! Answers: 202 when accepted (forwarded or not), 400 with the reason for
//! a body that is not a valid event, 413 over 3 MiB, 429 for a duplicate
//! within `--rate-limit-interval` (Flux's codes).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use bytes::Bytes;
use ferry_api_notification::{Alert, Provider};
use ferry_sdk::events::{Recorder, Severity};
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::Api;
use kube::core::{DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};

use super::Event;
use super::limiter::Limiter;
use super::matching::{self, SourceMatch};
use crate::notifier::{self, Config, Notifier, Retry, Secrets};

/// The largest body accepted, as Flux's 3 MiB.
pub const MAX_REQUEST_SIZE_BYTES: usize = 3 * 1024 * 1024;

/// The Alert event reason of a failed delivery.
pub const NOTIFICATION_DISPATCH_FAILED: &str = "NotificationDispatchFailed";

/// The Alert event reason of an invalid pattern or selector.
pub const INVALID_CONFIG: &str = "InvalidConfig";

/// How the event server behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--rate-limit-interval`.
    pub rate_limit_interval: Duration,
    /// `--no-cross-namespace-refs`: Alerts get only events of their namespace.
    pub no_cross_namespace_refs: bool,
}

/// Counts of what the server did, for tests and logs.
#[derive(Debug, Default)]
pub struct Stats {
    /// Events accepted (after deduplication).
    pub accepted: AtomicU64,
    /// Duplicates dropped.
    pub duplicates: AtomicU64,
    /// Deliveries that succeeded.
    pub delivered: AtomicU64,
    /// Deliveries that failed after their retries.
    pub failed: AtomicU64,
}

/// Receives Flux events and forwards them.
#[derive(Clone)]
pub struct EventServer {
    inner: Arc<Inner>,
}

struct Inner {
    client: kube::Client,
    alerts: Store<Alert>,
    providers: Store<Provider>,
    notifiers: std::sync::Mutex<std::collections::HashMap<String, Notifier>>,
    options: Options,
    limiter: Limiter,
    recorder: Recorder,
    retry: Retry,
    stats: Stats,
}

impl EventServer {
    /// A server reading Alerts, Providers and Secrets with `client`.
    pub fn new(client: kube::Client, options: Options) -> anyhow::Result<Self> {
        Ok(Self::with_retry(client, options, Retry::default()))
    }

    /// Like [`EventServer::new`], with other delivery retries (tests shorten them).
    pub fn with_retry(client: kube::Client, options: Options, retry: Retry) -> Self {
        let recorder = Recorder::new(client.clone(), crate::CONTROLLER_NAME, None);
        let limiter = Limiter::new(options.rate_limit_interval);
        let alerts = cache::<Alert>(&client);
        let providers = cache::<Provider>(&client);
        let stats = Stats::default();
        let notifiers = Default::default();
        Self {
            inner: Arc::new(Inner { client, alerts, providers, notifiers, options, limiter, recorder, retry, stats }),
        }
    }

    /// What the server did so far.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// The routes: `POST /`.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/", post(handle))
            .layer(DefaultBodyLimit::max(MAX_REQUEST_SIZE_BYTES))
            .with_state(self.clone())
    }
}

/// A cache of every `K` in the cluster, kept by a watch, as Flux's cached
/// client reads Alerts and Providers: an event costs no API call for them.
fn cache<K>(client: &kube::Client) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(Api::<K>::all(client.clone()), watcher::Config::default()))
        .default_backoff()
        .applied_objects();
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(item) = stream.next().await {
            if let Err(err) = item {
                tracing::warn!(%err, "watch of the notification kinds failed; retrying");
            }
        }
    });
    store
}

/// How long a request waits for the caches' first listing.
const CACHE_SYNC_TIMEOUT: Duration = Duration::from_secs(30);

async fn synced<K: kube::Resource<DynamicType = ()> + Clone + 'static>(store: &Store<K>) -> Result<(), DispatchError> {
    tokio::time::timeout(CACHE_SYNC_TIMEOUT, store.wait_until_ready())
        .await
        .map_err(|_| DispatchError::CacheNotSynced)?
        .map_err(|_| DispatchError::CacheNotSynced)
}

async fn handle(State(server): State<EventServer>, body: Bytes) -> (StatusCode, String) {
    let mut event: Event = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(err) => {
            tracing::error!(%err, "decoding the request body failed");
            return (StatusCode::BAD_REQUEST, format!("invalid event: {err}\n"));
        }
    };
    if let Err(err) = event.validate() {
        tracing::error!(%err, "invalid event");
        return (StatusCode::BAD_REQUEST, format!("invalid event: {err}\n"));
    }
    event.cleanup_metadata();
    if !server.inner.limiter.allow(&event.rate_limit_key()) {
        server.inner.stats.duplicates.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(object = %event.object_string(), "Discarding event, rate limiting duplicate events");
        return (StatusCode::TOO_MANY_REQUESTS, "duplicate event\n".into());
    }
    server.inner.stats.accepted.fetch_add(1, Ordering::Relaxed);
    event.exclude_internal_metadata();
    let alerts = match server.alerts_for(&event).await {
        Ok(alerts) => alerts,
        Err(err) => {
            tracing::error!(%err, "failed to get alerts for the event");
            Vec::new()
        }
    };
    if alerts.is_empty() {
        tracing::info!(object = %event.object_string(), "discarding event, no alerts found for the involved object");
        return (StatusCode::ACCEPTED, String::new());
    }
    tracing::info!(object = %event.object_string(), message = %event.message, "dispatching event");
    for alert in alerts {
        if let Err(err) = server.dispatch(&event, &alert).await {
            tracing::error!(alert = %alert.name_any(), %err, "failed to dispatch notification");
            server
                .warn(
                    &alert,
                    NOTIFICATION_DISPATCH_FAILED,
                    &format!("failed to dispatch notification for {}: {err}", event.object_string()),
                )
                .await;
        }
    }
    (StatusCode::ACCEPTED, String::new())
}

/// Why an event could not be handed to a Provider.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// `--no-cross-namespace-refs` and the event is from another namespace.
    #[error(
        "discarding event, access denied to cross-namespace sources: alert '{alert}' can't process event from '{object}', cross-namespace references have been blocked"
    )]
    CrossNamespace {
        /// `namespace/name` of the Alert.
        alert: String,
        /// The event's object.
        object: String,
    },
    /// The Provider does not exist.
    #[error("failed to read provider: providers.notification.toolkit.fluxcd.io \"{0}\" not found")]
    ProviderNotFound(String),
    /// The Alerts and Providers have not been listed yet.
    #[error("the Alert and Provider caches are not synced")]
    CacheNotSynced,
    /// A Secret of the Provider could not be read.
    #[error("failed to get secret '{secret}': {source}")]
    Secret {
        /// `namespace/name`.
        secret: String,
        /// The cause.
        #[source]
        source: ferry_sdk::secret::Error,
    },
    /// The Provider cannot be used.
    #[error("failed to initialize notifier for provider '{provider}': {source}")]
    Notifier {
        /// The Provider's name.
        provider: String,
        /// The cause.
        #[source]
        source: notifier::Error,
    },
}

impl EventServer {
    async fn warn(&self, alert: &Alert, reason: &str, message: &str) {
        if let Err(err) = self.inner.recorder.record(alert, Severity::Error, reason, message, &BTreeMap::new()).await {
            tracing::debug!(%err, "recording an event failed");
        }
    }

    /// The Alerts, in every namespace, that take `event`.
    async fn alerts_for(&self, event: &Event) -> Result<Vec<Alert>, DispatchError> {
        synced(&self.inner.alerts).await?;
        let mut alerts: Vec<Arc<Alert>> = self.inner.alerts.state();
        alerts.sort_by_key(|a| (a.namespace(), a.name_any()));
        let mut matched = Vec::new();
        for alert in alerts {
            let alert = Alert::clone(&alert);
            if alert.spec.suspend.unwrap_or(false) || !self.sources_match(&alert, event).await {
                continue;
            }
            let (allowed, invalid) = matching::message_allowed(&alert, &event.message);
            for pattern in invalid {
                tracing::error!(alert = %alert.name_any(), err = %pattern.source, "{pattern}");
                self.warn(&alert, INVALID_CONFIG, &pattern.to_string()).await;
            }
            if allowed {
                matched.push(alert);
            }
        }
        Ok(matched)
    }

    async fn sources_match(&self, alert: &Alert, event: &Event) -> bool {
        for source in &alert.spec.event_sources {
            match matching::source_matches(alert, source, event) {
                SourceMatch::No => {}
                SourceMatch::Yes => return true,
                SourceMatch::IfLabels(selector) => match self.object_labels(event).await {
                    Ok(labels) if matching::labels_match(selector, &labels) => return true,
                    Ok(_) => {}
                    Err(err) => {
                        tracing::error!(%err, "error getting the involved object");
                        let message = format!("error getting source object {}", event.object_string());
                        self.warn(alert, "SourceFetchFailed", &message).await;
                    }
                },
            }
        }
        false
    }

    async fn object_labels(&self, event: &Event) -> Result<BTreeMap<String, String>, kube::Error> {
        let api_version = event.involved_object.api_version.as_deref().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, event.kind());
        let (resource, _) = kube::discovery::pinned_kind(&self.inner.client, &gvk).await?;
        let api: Api<DynamicObject> = Api::namespaced_with(self.inner.client.clone(), event.namespace(), &resource);
        Ok(api.get_metadata(event.name()).await?.metadata.labels.unwrap_or_default())
    }

    /// Hands `event` to the Alert's Provider in a task of its own.
    async fn dispatch(&self, event: &Event, alert: &Alert) -> Result<(), DispatchError> {
        let namespace = alert.namespace().unwrap_or_default();
        if self.inner.options.no_cross_namespace_refs && event.namespace() != namespace {
            return Err(DispatchError::CrossNamespace {
                alert: format!("{namespace}/{}", alert.name_any()),
                object: event.object_string(),
            });
        }
        synced(&self.inner.providers).await?;
        let key = ObjectRef::new(&alert.spec.provider_ref.name).within(&namespace);
        let provider = self
            .inner
            .providers
            .get(&key)
            .ok_or_else(|| DispatchError::ProviderNotFound(alert.spec.provider_ref.name.clone()))?;
        if provider.spec.suspend.unwrap_or(false) {
            return Ok(());
        }
        let kind = provider.spec.type_.as_str();
        let commit_status_provider = notifier::COMMIT_STATUS_TYPES.contains(&kind);
        let generic = matches!(kind, "generic" | "generic-hmac");
        let group = event.object_group();
        let commit_status_update = event.metadata.contains_key(&format!("{group}/commit_status"));
        if !commit_status_provider && !generic && commit_status_update {
            return Ok(());
        }
        if commit_status_provider
            && !event.metadata.contains_key(&format!("{group}/revision"))
            && !commit_status_update
            && event.severity != "error"
        {
            tracing::info!(alert = %alert.name_any(), "event dropped for commit status providers due to missing commit metadata key");
            return Ok(());
        }
        let mut notification = event.clone();
        let conflicts = notification.combine_metadata(
            alert.spec.event_metadata.as_ref().unwrap_or(&BTreeMap::new()),
            alert.spec.summary.as_deref(),
        );
        if !conflicts.is_empty() {
            let message = format!(
                "metadata key conflicts detected (please refer to the Alert API docs and Flux RFC 0008 for more information): {}",
                conflicts.join(", ")
            );
            self.warn(alert, "MetadataAppendFailed", &message).await;
        }
        let secrets = self.secrets(&provider, &namespace).await?;
        let notifier_error = |source| DispatchError::Notifier { provider: provider.name_any(), source };
        let mut config = Config::new(&provider.spec, &secrets).map_err(notifier_error)?;
        let uid = provider.metadata.uid.clone().unwrap_or_default();
        if commit_status_provider {
            config.commit_status = notifier::default_commit_status(&uid, &notification);
        }
        config.provider_uid = uid;
        let token = config.token.clone();
        let sender = self.notifier(&provider, &secrets, config).map_err(notifier_error)?;
        let server = self.clone();
        let alert = alert.clone();
        tokio::spawn(async move {
            match sender.post(&notification).await {
                Ok(()) => {
                    server.inner.stats.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) => {
                    server.inner.stats.failed.fetch_add(1, Ordering::Relaxed);
                    let mut message = err.to_string();
                    if !token.is_empty() {
                        message = message.replace(&token, "*****");
                    }
                    tracing::error!(alert = %alert.name_any(), err = %message, "failed to send notification");
                    let message =
                        format!("failed to send notification for {}: {message}", notification.object_string());
                    server.warn(&alert, NOTIFICATION_DISPATCH_FAILED, &message).await;
                }
            }
        });
        Ok(())
    }

    /// A notifier for `config`, reusing the HTTP client (its connections and
    /// TLS setup) while the Provider and its Secrets stay the same.
    fn notifier(&self, provider: &Provider, secrets: &Secrets, config: Config) -> Result<Notifier, notifier::Error> {
        use sha2::Digest;
        let mut digest = sha2::Sha256::new();
        for data in [&secrets.secret, &secrets.proxy, &secrets.cert].into_iter().flatten() {
            for (k, v) in data {
                digest.update((k.len() as u64).to_le_bytes());
                digest.update(k.as_bytes());
                digest.update((v.len() as u64).to_le_bytes());
                digest.update(v);
            }
            digest.update(b"|");
        }
        let key = format!(
            "{}/{}/{}/{}",
            provider.metadata.uid.as_deref().unwrap_or_default(),
            provider.metadata.resource_version.as_deref().unwrap_or_default(),
            config.commit_status,
            hex::encode(digest.finalize())
        );
        let mut cache = self.inner.notifiers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(notifier) = cache.get(&key) {
            return Ok(notifier.clone());
        }
        let notifier = Notifier::new(config)?.with_retry(self.inner.retry);
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(key, notifier.clone());
        Ok(notifier)
    }

    async fn secrets(&self, provider: &Provider, namespace: &str) -> Result<Secrets, DispatchError> {
        let client = &self.inner.client;
        let read = |name: String| async move {
            ferry_sdk::secret::read(client, namespace, &name)
                .await
                .map_err(|source| DispatchError::Secret { secret: format!("{namespace}/{name}"), source })
        };
        let spec = &provider.spec;
        Ok(Secrets {
            secret: match &spec.secret_ref {
                Some(r) => Some(read(r.name.clone()).await?),
                None => None,
            },
            proxy: match &spec.proxy_secret_ref {
                Some(r) => Some(read(r.name.clone()).await?),
                None => None,
            },
            cert: match &spec.cert_secret_ref {
                Some(r) => Some(read(r.name.clone()).await?),
                None => None,
            },
        })
    }
}
