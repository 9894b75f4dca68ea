//! Events: Kubernetes Events, and Flux's event webhook.
//!
//! Info and error events become `Normal` and `Warning` Kubernetes Events,
//! written as Flux's (client-go's) recorder writes them: core/v1 Events with
//! `source.component`, `count` and first/last timestamps. An event repeating
//! an earlier one — same object, type, reason and message, as client-go's
//! correlator compares them — increments that Event's count; a different
//! message is a new Event. The metadata (the
//! revision, prefixed with the object's group) is put on the Event as
//! annotations, as Flux does. When `--events-addr` is set, every event
//! (trace ones too) is also POSTed as Flux's event payload, which
//! notification-controller (or Ferry's) understands.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::core::v1::{Event as KubeEvent, EventSource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::{Deserialize, Serialize};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The webhook address is not a valid URL.
    #[error("invalid events address {address:?}: {reason}")]
    InvalidAddress {
        /// The address given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error(transparent)]
    Http(#[from] crate::http::Error),
    /// The webhook could not be reached, or answered with an error, after retries.
    #[error("posting event to {address}: {message}")]
    PostFailed {
        /// The webhook address.
        address: String,
        /// The last failure.
        message: String,
    },
    /// The payload could not be built.
    #[error("the event has no {0}")]
    Incomplete(&'static str),
    /// The Kubernetes Event was refused.
    #[error("publishing Kubernetes event: {0}")]
    PublishFailed(#[source] kube::Error),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The prefix of object annotations that are copied into event metadata.
pub const EVENT_ANNOTATION_PREFIX: &str = "event.toolkit.fluxcd.io/";
/// The metadata key (after the group prefix) for the revision.
pub const META_REVISION_KEY: &str = "revision";
/// The metadata key (after the group prefix) that marks an event for
/// providers that set Git commit statuses (value `update`).
pub const META_COMMIT_STATUS_KEY: &str = "commit_status";
/// The metadata key (after the group prefix) for the token.
pub const META_TOKEN_KEY: &str = "token";
/// Messages longer than this are cut before being posted.
pub const MAX_MESSAGE_LENGTH: usize = 39_000;
/// Kubernetes Event messages are cut to this many bytes.
const MAX_NOTE_BYTES: usize = 32 * 1024;
/// The webhook timeout per attempt.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries after the first webhook attempt.
pub const WEBHOOK_RETRIES: u32 = 4;

/// How severe an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something happened as it should (a `Normal` Kubernetes Event).
    Info,
    /// Something failed (a `Warning` Kubernetes Event).
    Error,
    /// Progress detail, sent only to the webhook.
    Trace,
}

/// Flux's event payload (`event.toolkit.fluxcd.io/v1beta1` `Event`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    /// The object the event is about.
    pub involved_object: ObjectReference,
    /// `info`, `error` or `trace`.
    pub severity: Severity,
    /// When it happened, RFC 3339 in seconds.
    pub timestamp: String,
    /// The human-readable message.
    pub message: String,
    /// The CamelCase reason.
    pub reason: String,
    /// Extra data, keys prefixed with the object's API group.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The controller's name.
    pub reporting_controller: String,
    /// The controller's instance (pod name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reporting_instance: String,
}

/// Cuts `message` to at most `max` characters, marking the cut.
pub fn truncate(message: &str, max: usize) -> String {
    if message.chars().count() <= max {
        return message.to_string();
    }
    const MARK: &str = "...";
    let keep = max.saturating_sub(MARK.len());
    let mut out: String = message.chars().take(keep).collect();
    out.push_str(MARK);
    out
}

fn truncate_bytes(message: &str, max: usize) -> String {
    if message.len() <= max {
        return message.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

/// A reference to `object` for events.
pub fn object_reference<K: Resource<DynamicType = ()>>(object: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: object.meta().name.clone(),
        namespace: object.meta().namespace.clone(),
        uid: object.meta().uid.clone(),
        resource_version: object.meta().resource_version.clone(),
        field_path: None,
    }
}

/// Builds the webhook payload for an event about `object`.
///
/// `metadata` keys are prefixed with the object's API group
/// (`revision` → `source.toolkit.fluxcd.io/revision`); the object's
/// `event.toolkit.fluxcd.io/*` annotations are added, without overriding.
pub fn payload<K: Resource<DynamicType = ()>>(
    object: &K,
    severity: Severity,
    reason: &str,
    message: &str,
    metadata: &BTreeMap<String, String>,
    reporting_controller: &str,
    reporting_instance: &str,
) -> Payload {
    let group = K::group(&());
    let mut meta: BTreeMap<String, String> = metadata
        .iter()
        .map(|(k, v)| {
            let key = if group.is_empty() || k.contains('/') { k.clone() } else { format!("{group}/{k}") };
            (key, v.clone())
        })
        .collect();
    for (key, value) in object.annotations() {
        if key.starts_with(EVENT_ANNOTATION_PREFIX) {
            meta.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    Payload {
        involved_object: object_reference(object),
        severity,
        timestamp: Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        message: truncate(message, MAX_MESSAGE_LENGTH),
        reason: reason.to_string(),
        metadata: meta,
        reporting_controller: reporting_controller.to_string(),
        reporting_instance: reporting_instance.to_string(),
    }
}

/// Posts payloads to Flux's event webhook.
///
/// Connection errors and 5xx answers are retried with backoff; HTTP 429
/// counts as delivered (the receiver is rate limiting on purpose), other 4xx
/// answers fail at once.
#[derive(Debug, Clone)]
pub struct Webhook {
    address: reqwest::Url,
    client: reqwest::Client,
    retries: u32,
    retry_wait: Duration,
}

impl Webhook {
    /// A webhook posting to `address` with Flux's 5 s timeout and 4 retries.
    pub fn new(address: &str) -> Result<Self> {
        let url = reqwest::Url::parse(address)
            .map_err(|e| Error::InvalidAddress { address: address.to_string(), reason: e.to_string() })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::InvalidAddress {
                address: address.to_string(),
                reason: "the scheme must be http or https".to_string(),
            });
        }
        Ok(Self {
            address: url,
            client: crate::http::client(WEBHOOK_TIMEOUT)?,
            retries: WEBHOOK_RETRIES,
            retry_wait: Duration::from_secs(1),
        })
    }

    /// Changes the number of retries and the first wait between them.
    pub fn with_retries(mut self, retries: u32, first_wait: Duration) -> Self {
        self.retries = retries;
        self.retry_wait = first_wait;
        self
    }

    /// POSTs `payload`, retrying as described on the type.
    pub async fn post(&self, payload: &Payload) -> Result<()> {
        let mut wait = self.retry_wait;
        let mut last = String::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(30));
            }
            match self.client.post(self.address.clone()).json(payload).send().await {
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                        return Ok(());
                    }
                    last = format!("HTTP {status}");
                    if !status.is_server_error() {
                        break;
                    }
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(Error::PostFailed { address: self.address.to_string(), message: last })
    }
}

/// Records events about objects, to Kubernetes and the optional webhook.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    webhook: Option<Webhook>,
    controller: String,
    instance: String,
    series: Arc<Mutex<HashMap<SeriesKey, Seen>>>,
}

/// What makes two Kubernetes Events the same one, repeated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    type_: &'static str,
    reason: String,
    note: String,
    namespace: String,
    name: String,
    uid: String,
    kind: String,
}

/// The Event last published for a key.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    count: i32,
    last: Timestamp,
}

/// A repeat later than this after the last one starts a new Event (the
/// API server's default event TTL).
const SERIES_TTL: SignedDuration = SignedDuration::from_hours(1);

impl Recorder {
    /// A recorder reporting as `controller`; the instance is the pod's
    /// hostname. `webhook` is `--events-addr`.
    pub fn new(client: Client, controller: &str, webhook: Option<Webhook>) -> Self {
        let instance =
            std::env::var("POD_NAME").or_else(|_| std::env::var("HOSTNAME")).unwrap_or_else(|_| controller.to_string());
        Self { client, webhook, controller: controller.to_string(), instance, series: Arc::default() }
    }

    /// Records an event. Trace events go to the webhook only. Webhook
    /// delivery happens in the background so a slow receiver never holds up
    /// a reconcile; failures are logged.
    pub async fn record<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        severity: Severity,
        reason: &str,
        message: &str,
        metadata: &BTreeMap<String, String>,
    ) -> Result<()> {
        let payload = payload(object, severity, reason, message, metadata, &self.controller, &self.instance);
        if let Some(webhook) = &self.webhook {
            let webhook = webhook.clone();
            let payload = payload.clone();
            tokio::spawn(async move {
                if let Err(error) = webhook.post(&payload).await {
                    tracing::warn!(%error, reason = payload.reason, "event not delivered to the webhook");
                }
            });
        }
        let type_ = match severity {
            Severity::Trace => return Ok(()),
            Severity::Info => "Normal",
            Severity::Error => "Warning",
        };
        let (Some(name), Some(namespace)) = (object.meta().name.clone(), object.meta().namespace.clone()) else {
            return Err(Error::Incomplete("name or namespace"));
        };
        let key = SeriesKey {
            type_,
            reason: reason.to_string(),
            note: truncate_bytes(message, MAX_NOTE_BYTES),
            namespace,
            name,
            uid: object.meta().uid.clone().unwrap_or_default(),
            kind: K::kind(&()).into_owned(),
        };
        self.publish(object_reference(object), key, payload.metadata).await
    }

    async fn publish(
        &self,
        regarding: ObjectReference,
        key: SeriesKey,
        annotations: BTreeMap<String, String>,
    ) -> Result<()> {
        let now = Timestamp::now();
        let earlier = {
            let mut series = self.series.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            series.retain(|_, seen| seen.last + SERIES_TTL > now);
            series.get(&key).cloned()
        };
        let events: Api<KubeEvent> = Api::namespaced(self.client.clone(), &key.namespace);
        if let Some(seen) = earlier {
            // As client-go's recorder: the count and last time of the one Event.
            let count = seen.count + 1;
            let patch = serde_json::json!({"count": count, "lastTimestamp": Time(now)});
            match events.patch(&seen.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => {
                    self.remember(key, Seen { name: seen.name, count, last: now });
                    return Ok(());
                }
                // The Event expired on the server: start a new one.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => return Err(Error::PublishFailed(error)),
            }
        }
        let name = format!("{}.{:x}", key.name, now.as_nanosecond());
        let event = KubeEvent {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(key.namespace.clone()),
                annotations: (!annotations.is_empty()).then_some(annotations),
                ..ObjectMeta::default()
            },
            involved_object: regarding,
            type_: Some(key.type_.to_string()),
            reason: Some(key.reason.clone()),
            message: Some(key.note.clone()),
            source: Some(EventSource { component: Some(self.controller.clone()), host: None }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            reporting_component: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..KubeEvent::default()
        };
        events.create(&PostParams::default(), &event).await.map_err(Error::PublishFailed)?;
        self.remember(key, Seen { name, count: 1, last: now });
        Ok(())
    }

    fn remember(&self, key: SeriesKey, seen: Seen) {
        self.series.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(key, seen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    #[test]
    fn payload_prefixes_metadata_and_merges_annotations() {
        let object = ConfigMap {
            metadata: ObjectMeta {
                name: Some("cm".into()),
                namespace: Some("ns".into()),
                uid: Some("u1".into()),
                annotations: Some(
                    [
                        ("event.toolkit.fluxcd.io/env".to_string(), "prod".to_string()),
                        ("other/annotation".to_string(), "x".to_string()),
                    ]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        let metadata = [("revision".to_string(), "main@sha1:abc".to_string())].into();
        let p = payload(&object, Severity::Info, "Succeeded", "done", &metadata, "ctl", "pod-1");
        // The core group is empty, so keys stay as they are.
        assert_eq!(p.metadata.get("revision").map(String::as_str), Some("main@sha1:abc"));
        assert_eq!(p.metadata.get("event.toolkit.fluxcd.io/env").map(String::as_str), Some("prod"));
        assert!(!p.metadata.contains_key("other/annotation"));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["involvedObject"]["kind"], "ConfigMap");
        assert_eq!(json["involvedObject"]["uid"], "u1");
        assert_eq!(json["severity"], "info");
        assert_eq!(json["reportingController"], "ctl");
        assert_eq!(json["reportingInstance"], "pod-1");
        let ts = json["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 20, "{ts}");
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(50_000);
        let cut = truncate(&long, MAX_MESSAGE_LENGTH);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_LENGTH);
        assert!(cut.ends_with("..."));
        assert_eq!(truncate("short", 10), "short");
        let note = truncate_bytes(&"é".repeat(1000), 1024);
        assert!(note.len() <= 1024);
    }

    #[test]
    fn rejects_bad_addresses() {
        assert!(matches!(Webhook::new("not a url"), Err(Error::InvalidAddress { .. })));
        assert!(matches!(Webhook::new("ftp://x/"), Err(Error::InvalidAddress { .. })));
        assert!(Webhook::new("http://127.0.0.1:9292/").is_ok());
    }
}
