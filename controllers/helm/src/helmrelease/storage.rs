//! Helm's Secret storage driver (`pkg/storage/driver/secrets.go`): one
//! Secret per revision, `sh.helm.release.v1.<name>.v<version>` of type
//! `helm.sh/release.v1`, labelled `name`, `owner=helm`, `status`, `version`,
//! holding the encoded record under `release`. The `helm` CLI and Flux's
//! helm-controller read what is written here, and the other way round.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};

use super::record::{self, Release, status};

/// The Secret type of Helm 3 and 4 release records.
pub const SECRET_TYPE: &str = "helm.sh/release.v1";

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused a read or write.
    #[error("{action} release '{key}' in storage: {source}")]
    Kube {
        /// `listing`, `creating`, ...
        action: &'static str,
        /// The record's key or the release name.
        key: String,
        /// The refusal.
        #[source]
        source: kube::Error,
    },
    /// A record could not be encoded or decoded.
    #[error("release record '{key}': {source}")]
    Record {
        /// The record's key.
        key: String,
        /// The cause.
        #[source]
        source: record::Error,
    },
}

/// The releases of one storage namespace.
#[derive(Clone)]
pub struct Storage {
    api: Api<Secret>,
    namespace: String,
}

impl Storage {
    /// Storage in `namespace`.
    pub fn new(client: Client, namespace: &str) -> Self {
        Self { api: Api::namespaced(client, namespace), namespace: namespace.to_string() }
    }

    /// The storage namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Every revision of release `name`, oldest first.
    pub async fn history(&self, name: &str) -> Result<Vec<Release>, Error> {
        let params = ListParams::default().labels(&format!("owner=helm,name={name}"));
        let list = self.api.list(&params).await.map_err(|source| Error::Kube {
            action: "listing",
            key: name.into(),
            source,
        })?;
        let mut releases = Vec::new();
        for secret in list.items {
            let key = secret.name_any();
            let Some(data) = secret.data.as_ref().and_then(|d| d.get("release")) else { continue };
            let mut release = record::decode(&data.0).map_err(|source| Error::Record { key, source })?;
            // Helm takes the custom labels from the Secret; the record has none.
            release.name = if release.name.is_empty() { name.to_string() } else { release.name };
            releases.push(release);
        }
        releases.sort_by_key(|r| r.version);
        Ok(releases)
    }

    /// The newest revision of `name`, if any (Helm's `Last`).
    pub async fn last(&self, name: &str) -> Result<Option<Release>, Error> {
        Ok(self.history(name).await?.pop())
    }

    /// Stores a new revision.
    pub async fn create(&self, release: &Release) -> Result<(), Error> {
        let mut labels = record::labels(release);
        labels.insert("createdAt".into(), unix_now());
        let secret = self.secret(release, labels)?;
        self.api.create(&PostParams::default(), &secret).await.map_err(|source| Error::Kube {
            action: "creating",
            key: release.storage_key(),
            source,
        })?;
        Ok(())
    }

    /// Rewrites a stored revision (its status changed), keeping `createdAt`.
    pub async fn update(&self, release: &Release) -> Result<(), Error> {
        let key = release.storage_key();
        let existing = self.api.get_opt(&key).await.map_err(|source| Error::Kube {
            action: "reading",
            key: key.clone(),
            source,
        })?;
        let Some(existing) = existing else { return self.create(release).await };
        let mut labels = record::labels(release);
        if let Some(created) = existing.labels().get("createdAt") {
            labels.insert("createdAt".into(), created.clone());
        }
        labels.insert("modifiedAt".into(), unix_now());
        let mut secret = self.secret(release, labels)?;
        secret.metadata.resource_version = existing.metadata.resource_version.clone();
        self.api.replace(&key, &PostParams::default(), &secret).await.map_err(|source| Error::Kube {
            action: "updating",
            key,
            source,
        })?;
        Ok(())
    }

    /// Deletes one revision.
    pub async fn delete(&self, name: &str, version: i64) -> Result<(), Error> {
        let key = record::storage_key(name, version);
        match self.api.delete(&key, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(source) => Err(Error::Kube { action: "deleting", key, source }),
        }
    }

    /// Keeps at most `max` revisions of `name` (none removed when `max` is
    /// 0), dropping the oldest first but never the last deployed one, as
    /// Helm's `removeLeastRecent`.
    pub async fn prune_history(&self, name: &str, max: usize) -> Result<(), Error> {
        if max == 0 {
            return Ok(());
        }
        let history = self.history(name).await?;
        if history.len() <= max {
            return Ok(());
        }
        let last_deployed = history.iter().rev().find(|r| r.status() == status::DEPLOYED).map(|r| r.version);
        let mut excess = history.len() - max;
        for release in &history {
            if excess == 0 {
                break;
            }
            if Some(release.version) == last_deployed {
                continue;
            }
            self.delete(name, release.version).await?;
            excess -= 1;
        }
        Ok(())
    }

    fn secret(&self, release: &Release, labels: BTreeMap<String, String>) -> Result<Secret, Error> {
        let key = release.storage_key();
        let encoded = record::encode(release).map_err(|source| Error::Record { key: key.clone(), source })?;
        Ok(Secret {
            metadata: ObjectMeta {
                name: Some(key),
                namespace: Some(self.namespace.clone()),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            type_: Some(SECRET_TYPE.to_string()),
            data: Some(BTreeMap::from([("release".to_string(), ByteString(encoded.into_bytes()))])),
            ..Secret::default()
        })
    }
}

fn unix_now() -> String {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0).to_string()
}
