//! Reading "a source": the object a consumer's `sourceRef` names, whatever
//! its kind, as a [`Source`] that tells its artifact.
//!
//! A consumer resolves the reference's kind to an [`ApiResource`] (for
//! Flux's kinds, `ferry_api_source::source_kind`) and calls [`get`]; a new
//! source kind needs no new code in any consumer.

use std::time::Duration;

use ferry_api_meta::{Artifact, DEFAULT_REQUEUE_AFTER, Source};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::{Client, ResourceExt};

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source does not exist.
    #[error("Source '{kind}/{namespace}/{name}' not found")]
    NotFound {
        /// The source kind.
        kind: String,
        /// The source namespace.
        namespace: String,
        /// The source name.
        name: String,
    },
    /// The API server could not be asked.
    #[error("unable to get source '{namespace}/{name}': {source}")]
    GetFailed {
        /// The source namespace.
        namespace: String,
        /// The source name.
        name: String,
        /// The cause.
        source: kube::Error,
    },
    /// `status.artifact` is not an artifact.
    #[error("source '{kind}/{namespace}/{name}' has an invalid status.artifact: {source}")]
    InvalidArtifact {
        /// The source kind.
        kind: String,
        /// The source namespace.
        namespace: String,
        /// The source name.
        name: String,
        /// The cause.
        source: serde_json::Error,
    },
}

/// A source read by kind at run time: the fields every source kind shares.
#[derive(Debug, Clone)]
pub struct SourceObject {
    kind: String,
    api_version: String,
    namespace: String,
    name: String,
    artifact: Option<Artifact>,
    interval: Option<Duration>,
}

impl SourceObject {
    /// `Kind/namespace/name`, for messages.
    pub fn display(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }

    /// Reads the shared fields of a source object: `status.artifact` and
    /// `spec.interval`.
    pub fn from_dynamic(resource: &ApiResource, object: &DynamicObject) -> Result<Self, Error> {
        let namespace = object.namespace().unwrap_or_default();
        let name = object.name_any();
        let artifact = match object.data.get("status").and_then(|s| s.get("artifact")) {
            Some(value) if !value.is_null() => {
                Some(serde_json::from_value(value.clone()).map_err(|source| Error::InvalidArtifact {
                    kind: resource.kind.clone(),
                    namespace: namespace.clone(),
                    name: name.clone(),
                    source,
                })?)
            }
            _ => None,
        };
        let interval = object
            .data
            .get("spec")
            .and_then(|s| s.get("interval"))
            .and_then(|i| i.as_str())
            .and_then(|text| ferry_api_meta::duration::parse(text).ok());
        Ok(Self {
            kind: resource.kind.clone(),
            api_version: resource.api_version.clone(),
            namespace,
            name,
            artifact,
            interval,
        })
    }
}

impl Source for SourceObject {
    fn source_kind(&self) -> &str {
        &self.kind
    }

    fn source_api_version(&self) -> &str {
        &self.api_version
    }

    fn artifact(&self) -> Option<&Artifact> {
        self.artifact.as_ref()
    }

    fn requeue_after(&self) -> Duration {
        self.interval.unwrap_or(DEFAULT_REQUEUE_AFTER)
    }
}

/// Reads the source `namespace/name` of the kind `resource` describes.
pub async fn get(client: &Client, resource: &ApiResource, namespace: &str, name: &str) -> Result<SourceObject, Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
    let object = api.get(name).await.map_err(|source| match &source {
        kube::Error::Api(status) if status.code == 404 => {
            Error::NotFound { kind: resource.kind.clone(), namespace: namespace.into(), name: name.into() }
        }
        _ => Error::GetFailed { namespace: namespace.into(), name: name.into(), source },
    })?;
    SourceObject::from_dynamic(resource, &object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_shared_fields_of_any_source_kind() {
        let resource = ApiResource {
            group: "example.com".into(),
            version: "v1".into(),
            api_version: "example.com/v1".into(),
            kind: "TestSource".into(),
            plural: "testsources".into(),
        };
        let object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "example.com/v1",
            "kind": "TestSource",
            "metadata": {"name": "app", "namespace": "apps"},
            "spec": {"interval": "5m"},
            "status": {"artifact": {
                "path": "testsource/apps/app/1.tar.gz",
                "url": "http://storage/testsource/apps/app/1.tar.gz",
                "revision": "v1",
                "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "lastUpdateTime": "2026-01-01T00:00:00Z",
            }},
        }))
        .unwrap();
        let source = SourceObject::from_dynamic(&resource, &object).unwrap();
        let dynamic: &dyn Source = &source;
        assert_eq!(dynamic.source_kind(), "TestSource");
        assert_eq!(dynamic.source_api_version(), "example.com/v1");
        assert_eq!(dynamic.artifact().map(|a| a.revision.as_str()), Some("v1"));
        assert_eq!(dynamic.requeue_after(), Duration::from_secs(300));
        assert_eq!(source.display(), "TestSource/apps/app");

        let mut broken = object.clone();
        broken.data["status"]["artifact"] = serde_json::json!({"url": 3});
        assert!(matches!(SourceObject::from_dynamic(&resource, &broken), Err(Error::InvalidArtifact { .. })));
        broken.data["status"] = serde_json::json!({});
        broken.data["spec"] = serde_json::json!({});
        let empty = SourceObject::from_dynamic(&resource, &broken).unwrap();
        assert!(empty.artifact().is_none());
        assert_eq!(empty.requeue_after(), DEFAULT_REQUEUE_AFTER);
    }
}
