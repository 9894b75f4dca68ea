//! Kinds whose CRDs the source-controller chart installs but that this
//! version does not reconcile yet. Rather than leaving such an object
//! without any status (which reads as "the controller is down"), each gets
//! `Ready=False` and `Stalled=True` with reason [`UNSUPPORTED_KIND`] and a
//! message saying so; nothing else is done with it, and deleting it is not
//! held up.

use std::marker::PhantomData;

use ferry_api_meta::FluxObject;
use ferry_sdk::reconcile::Context;
use ferry_sdk::{ErrorClass, Outcome, ReconcileError, Reconciler};
use k8s_openapi::NamespaceResourceScope;
use kube::Resource;

/// The Ready reason of an object of a kind not reconciled yet.
pub const UNSUPPORTED_KIND: &str = "UnsupportedKind";

/// The object is of a kind this version does not reconcile.
#[derive(Debug, thiserror::Error)]
#[error(
    "this version of Ferry's {controller} does not reconcile {kind} objects yet: nothing is fetched or stored for it"
)]
pub struct Unsupported {
    /// The controller's name.
    pub controller: &'static str,
    /// The kind.
    pub kind: String,
}

impl ReconcileError for Unsupported {
    fn reason(&self) -> &str {
        UNSUPPORTED_KIND
    }

    /// No retry helps until Ferry reconciles the kind.
    fn class(&self) -> ErrorClass {
        ErrorClass::Stalled
    }
}

/// Marks every object of kind `K` as not reconciled.
pub struct NotReconciled<K> {
    controller: &'static str,
    kind: PhantomData<fn() -> K>,
}

impl<K> NotReconciled<K> {
    /// The marker for `K`, on behalf of `controller`.
    pub fn new(controller: &'static str) -> Self {
        Self { controller, kind: PhantomData }
    }
}

impl<K> Reconciler for NotReconciled<K>
where
    K: FluxObject<Status: Clone + std::fmt::Debug + serde::Serialize + Send + Sync>
        + Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    type Object = K;
    type Error = Unsupported;

    async fn reconcile(&self, _object: &K, _status: &mut K::Status, _ctx: &Context) -> Result<Outcome, Unsupported> {
        Err(Unsupported { controller: self.controller, kind: K::kind(&()).to_string() })
    }

    async fn cleanup(&self, _object: &K, _ctx: &Context) -> Result<(), Unsupported> {
        Ok(())
    }
}
