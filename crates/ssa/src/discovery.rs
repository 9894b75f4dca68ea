//! Resolving a kind to its API resource and scope, cached. A miss asks the API server again,
//! so kinds that CRDs add later (even within one staged apply) become usable at once.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::discovery::Scope;

use crate::error::{Error, Result};
use crate::object::ObjectRef;

/// A served kind.
#[derive(Clone, Debug)]
pub(crate) struct Resolved {
    pub(crate) resource: ApiResource,
    pub(crate) namespaced: bool,
}

impl Resolved {
    /// The API for `object` (namespaced or cluster-wide as its kind is).
    pub(crate) fn api(&self, client: Client, object: &ObjectRef) -> Api<DynamicObject> {
        if self.namespaced {
            Api::namespaced_with(client, &object.namespace, &self.resource)
        } else {
            Api::all_with(client, &self.resource)
        }
    }
}

pub(crate) struct Discovery {
    client: Client,
    cache: Mutex<HashMap<(String, String, String), Resolved>>,
}

impl Discovery {
    pub(crate) fn new(client: Client) -> Self {
        Self { client, cache: Mutex::new(HashMap::new()) }
    }

    /// The kind of `object`, or `None` when the cluster does not serve it.
    pub(crate) async fn resolve(&self, object: &ObjectRef) -> Result<Option<Resolved>> {
        let key = (object.group.clone(), object.version.clone(), object.kind.clone());
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(Some(hit));
        }
        match kube::discovery::pinned_kind(&self.client, &object.gvk()).await {
            Ok((resource, caps)) => {
                let resolved = Resolved { resource, namespaced: caps.scope == Scope::Namespaced };
                if let Ok(mut cache) = self.cache.lock() {
                    cache.insert(key, resolved.clone());
                }
                Ok(Some(resolved))
            }
            Err(kube::Error::Discovery(_)) => Ok(None),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(source) => Err(Error::DiscoveryFailed { subject: object.subject(), source: source.into() }),
        }
    }

    /// Forgets a kind (after its CRD is deleted, say).
    pub(crate) fn forget(&self, object: &ObjectRef) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(&(object.group.clone(), object.version.clone(), object.kind.clone()));
        }
    }
}
