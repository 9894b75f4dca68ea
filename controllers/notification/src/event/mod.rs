//! Flux events as the event server receives them, and what Flux does to
//! them before matching: metadata cleanup, the duplicate key, and the
//! metadata an Alert adds.

pub mod limiter;
pub mod matching;
pub mod server;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The API group of event metadata keys that are not the object's own.
pub const EVENT_GROUP: &str = "event.toolkit.fluxcd.io";

/// Flux's event payload (`event.toolkit.fluxcd.io/v1beta1` Event). Fields a
/// sender leaves out decode as empty, as Go's decoder does; [`Event::validate`]
/// then refuses what no Flux controller sends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The object the event is about.
    #[serde(default)]
    pub involved_object: ObjectReference,
    /// `info`, `error` or `trace`.
    #[serde(default)]
    pub severity: String,
    /// When it happened (RFC 3339).
    #[serde(default)]
    pub timestamp: String,
    /// The human-readable message.
    #[serde(default)]
    pub message: String,
    /// The CamelCase reason.
    #[serde(default)]
    pub reason: String,
    /// Extra data; keys are prefixed with an API group on the wire.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The sending controller.
    #[serde(default)]
    pub reporting_controller: String,
    /// The sending instance.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reporting_instance: String,
}

/// What makes an event unacceptable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Invalid {
    /// The involved object has no kind, name or namespace.
    #[error("involvedObject.{0} is required")]
    MissingObjectField(&'static str),
    /// The severity is none of `info`, `error`, `trace`.
    #[error("severity {0:?} is not one of info, error, trace")]
    Severity(String),
}

impl Event {
    /// Refuses events no Flux controller sends: without an involved object,
    /// or with an unknown severity.
    pub fn validate(&self) -> Result<(), Invalid> {
        let object = &self.involved_object;
        for (field, value) in [("kind", &object.kind), ("name", &object.name), ("namespace", &object.namespace)] {
            if value.as_deref().unwrap_or_default().is_empty() {
                return Err(Invalid::MissingObjectField(field));
            }
        }
        if !matches!(self.severity.as_str(), "info" | "error" | "trace") {
            return Err(Invalid::Severity(self.severity.clone()));
        }
        Ok(())
    }

    /// The involved object's kind.
    pub fn kind(&self) -> &str {
        self.involved_object.kind.as_deref().unwrap_or_default()
    }

    /// The involved object's name.
    pub fn name(&self) -> &str {
        self.involved_object.name.as_deref().unwrap_or_default()
    }

    /// The involved object's namespace.
    pub fn namespace(&self) -> &str {
        self.involved_object.namespace.as_deref().unwrap_or_default()
    }

    /// The involved object's API group (from its `apiVersion`).
    pub fn object_group(&self) -> &str {
        let api_version = self.involved_object.api_version.as_deref().unwrap_or_default();
        api_version.split_once('/').map(|(group, _)| group).unwrap_or_default()
    }

    /// `Kind/namespace.name`, as Flux's messages name the object.
    pub fn object_string(&self) -> String {
        format!("{}/{}.{}", self.kind(), self.namespace(), self.name())
    }

    /// Keeps only the metadata keys prefixed with the event group or the
    /// object's group, without checksums and digests (Flux's `cleanupMetadata`).
    pub fn cleanup_metadata(&mut self) {
        let event_prefix = format!("{EVENT_GROUP}/");
        let object_prefix = format!("{}/", self.object_group());
        let excluded = [format!("{object_prefix}checksum"), format!("{object_prefix}digest")];
        self.metadata.retain(|key, _| {
            !excluded.iter().any(|e| e.eq_ignore_ascii_case(key))
                && (key.starts_with(&event_prefix) || key.starts_with(&object_prefix))
        });
    }

    /// Drops the object's `token` metadata, used only for deduplication.
    pub fn exclude_internal_metadata(&mut self) {
        let key = format!("{}/token", self.object_group());
        self.metadata.remove(&key);
    }

    /// The duplicate key of Flux's rate limiter: the object, the message, and
    /// the revision, origin revision and token metadata when present.
    pub fn rate_limit_key(&self) -> String {
        let mut parts = vec![
            "event".to_string(),
            format!("name={}", self.name()),
            format!("namespace={}", self.namespace()),
            format!("kind={}", self.kind()),
            format!("message={}", self.message),
        ];
        let group = self.object_group();
        for (meta, label) in [("originRevision", "originRevision"), ("revision", "revision"), ("token", "token")] {
            if let Some(value) = self.metadata.get(&format!("{group}/{meta}")) {
                parts.push(format!("{label}={value}"));
            }
        }
        hex::encode(Sha256::digest(parts.join("/").as_bytes()))
    }

    /// The metadata a provider sees (Flux's RFC 0008 order, lowest first):
    /// event-group keys unprefixed, the Alert's `eventMetadata`, its
    /// `summary`, then the object-group keys unprefixed. Returns the keys
    /// set by more than one source.
    pub fn combine_metadata(
        &mut self,
        alert_metadata: &BTreeMap<String, String>,
        summary: Option<&str>,
    ) -> Vec<String> {
        let mut combined = BTreeMap::new();
        let mut sources: BTreeMap<String, usize> = BTreeMap::new();
        let mut put = |key: &str, value: &str, combined: &mut BTreeMap<String, String>| {
            combined.insert(key.to_string(), value.to_string());
            *sources.entry(key.to_string()).or_default() += 1;
        };
        let event_prefix = format!("{EVENT_GROUP}/");
        for (k, v) in &self.metadata {
            if let Some(key) = k.strip_prefix(&event_prefix) {
                put(key, v, &mut combined);
            }
        }
        for (k, v) in alert_metadata {
            put(k, v, &mut combined);
        }
        if let Some(summary) = summary.filter(|s| !s.is_empty()) {
            put("summary", summary, &mut combined);
        }
        let object_prefix = format!("{}/", self.object_group());
        for (k, v) in &self.metadata {
            if let Some(key) = k.strip_prefix(&object_prefix) {
                put(key, v, &mut combined);
            }
        }
        if !combined.is_empty() {
            self.metadata = combined;
        }
        sources.into_iter().filter(|(_, n)| *n > 1).map(|(k, _)| k).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        serde_json::from_value(serde_json::json!({
            "involvedObject": {"kind": "Kustomization", "name": "apps", "namespace": "flux-system",
                               "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
            "severity": "info", "timestamp": "2026-12-02T10:00:00Z", "message": "applied",
            "reason": "ReconciliationSucceeded", "reportingController": "kustomize-controller",
            "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc",
                         "kustomize.toolkit.fluxcd.io/checksum": "x",
                         "event.toolkit.fluxcd.io/env": "prod",
                         "other.io/junk": "y"}
        }))
        .unwrap()
    }

    #[test]
    fn metadata_is_cleaned_and_combined_as_flux_does() {
        let mut e = event();
        e.cleanup_metadata();
        assert_eq!(e.metadata.len(), 2);
        let conflicts = e.combine_metadata(&[("env".to_string(), "staging".to_string())].into(), Some("cluster"));
        assert_eq!(e.metadata["revision"], "main@sha1:abc");
        assert_eq!(e.metadata["env"], "staging");
        assert_eq!(e.metadata["summary"], "cluster");
        assert_eq!(conflicts, ["env"]);
    }

    #[test]
    fn the_duplicate_key_covers_object_message_and_revision() {
        let a = event();
        let mut b = event();
        assert_eq!(a.rate_limit_key(), b.rate_limit_key());
        b.metadata.insert("kustomize.toolkit.fluxcd.io/revision".into(), "main@sha1:def".into());
        assert_ne!(a.rate_limit_key(), b.rate_limit_key());
        b = event();
        b.message = "other".into();
        assert_ne!(a.rate_limit_key(), b.rate_limit_key());
    }

    #[test]
    fn validation_refuses_what_no_flux_controller_sends() {
        assert_eq!(event().validate(), Ok(()));
        let mut e = event();
        e.severity = "fatal".into();
        assert!(e.validate().is_err());
        let e: Event = serde_json::from_str(r#"{"message":"x","severity":"info"}"#).unwrap();
        assert_eq!(e.validate(), Err(Invalid::MissingObjectField("kind")));
    }
}
