//! What a reconciler can use besides its object: the client, the one event
//! path, the metrics and the progress write.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::api::Api;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::events::{Recorder, Severity};
use crate::metrics::Metrics;
use crate::status::{self, FluxObject};

/// What a reconciler can use besides its object. One per kind; every kind
/// of a [`Manager`](super::Manager) shares its client, its event source and
/// its metrics.
#[derive(Clone)]
pub struct Context {
    pub(super) client: Client,
    pub(super) recorder: Option<Recorder>,
    pub(super) metrics: Metrics,
    pub(super) controller_name: String,
    pub(super) field_manager: String,
}

impl Context {
    /// Writes `status` now, before the reconcile ends, so that users see
    /// progress during long steps (Flux's `Reconciling` messages, such as
    /// "Running health checks for revision ..."). The harness still writes
    /// the final status; a failure here is logged, not returned.
    pub async fn report_progress<K>(&self, object: &K, status: &K::Status)
    where
        K: FluxObject + Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + Debug + DeserializeOwned,
        K::Status: Serialize,
    {
        let Some(namespace) = object.namespace() else { return };
        let api: Api<K> = Api::namespaced(self.client.clone(), &namespace);
        if let Err(error) = status::patch(&api, object, status, &self.field_manager).await {
            tracing::warn!(%error, "writing progress to status");
        }
    }

    /// The controller's client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The process's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The controller's name (its identity: `source-controller`, ...).
    pub fn controller_name(&self) -> &str {
        &self.controller_name
    }

    /// The field manager of the kind's status and finalizer writes.
    pub fn field_manager(&self) -> &str {
        &self.field_manager
    }

    /// Records an event about `object`: a Kubernetes Event (unless
    /// `severity` is [`Severity::Trace`]) and, with `--events-addr`, a post
    /// to Flux's notification webhook carrying `metadata` (e.g.
    /// [`META_REVISION_KEY`](crate::events::META_REVISION_KEY)). This is the
    /// one event path of a controller: the harness reports failures and
    /// success through it too. Failures to record are logged, never
    /// returned: an event is not worth failing a reconcile for.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        severity: Severity,
        reason: &str,
        message: &str,
        metadata: &BTreeMap<String, String>,
    ) {
        if let Some(recorder) = &self.recorder
            && let Err(error) = recorder.record(object, severity, reason, message, metadata).await
        {
            tracing::warn!(%error, "recording event");
        }
    }
}
