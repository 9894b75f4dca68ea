//! The trait a controller author implements: the steps of one kind.

use std::fmt::Debug;

use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Context, Outcome};
use crate::conditions::Summary;
use crate::error::ReconcileError;
use crate::status::FluxObject;

/// The steps of one kind. The harness calls it: it adds and removes the
/// finalizer (see [`finalizer`](super::finalizer)), skips suspended objects,
/// writes the status once per reconcile and schedules the next one; the
/// reconciler only brings the world in line with the object.
///
/// ```no_run
/// use std::time::Duration;
///
/// use ferry_sdk::deps::meta::{Condition, FluxObject, impl_reconcile_status};
/// use ferry_sdk::reconcile::{Context, Outcome, Reconciler};
/// use ferry_sdk::{ErrorClass, ReconcileError};
/// use kube::CustomResource;
/// use schemars::JsonSchema;
/// use serde::{Deserialize, Serialize};
///
/// /// A kind that only says hello.
/// #[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema)]
/// #[kube(group = "example.com", version = "v1", kind = "Greeting", namespaced, status = "GreetingStatus")]
/// pub struct GreetingSpec {
///     pub interval: String,
/// }
///
/// #[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
/// #[serde(rename_all = "camelCase")]
/// pub struct GreetingStatus {
///     pub conditions: Option<Vec<Condition>>,
///     pub observed_generation: Option<i64>,
///     pub last_handled_reconcile_at: Option<String>,
///     pub greeted: Option<String>,
/// }
/// impl_reconcile_status!(GreetingStatus);
///
/// impl FluxObject for Greeting {
///     type Status = GreetingStatus;
///     fn status(&self) -> Option<&GreetingStatus> {
///         self.status.as_ref()
///     }
///     fn status_mut(&mut self) -> &mut GreetingStatus {
///         self.status.get_or_insert_with(Default::default)
///     }
///     fn interval(&self) -> Option<Duration> {
///         ferry_sdk::flags::parse_duration(&self.spec.interval).ok()
///     }
/// }
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("greeting has no name")]
/// pub struct Nameless;
///
/// impl ReconcileError for Nameless {
///     fn reason(&self) -> &str {
///         "Nameless"
///     }
///     fn class(&self) -> ErrorClass {
///         ErrorClass::Stalled
///     }
/// }
///
/// pub struct GreetingReconciler;
///
/// impl Reconciler for GreetingReconciler {
///     type Object = Greeting;
///     type Error = Nameless;
///
///     async fn reconcile(&self, greeting: &Greeting, status: &mut GreetingStatus, _: &Context) -> Result<Outcome, Nameless> {
///         let name = greeting.metadata.name.clone().ok_or(Nameless)?;
///         status.greeted = Some(name.clone());
///         Ok(Outcome::ready(format!("said hello to {name}")))
///     }
///
///     async fn cleanup(&self, _: &Greeting, _: &Context) -> Result<(), Nameless> {
///         Ok(())
///     }
/// }
/// ```
pub trait Reconciler: Send + Sync + 'static {
    /// The kind reconciled.
    type Object: FluxObject<Status: Clone + Debug + Serialize + Send + Sync>
        + Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static;
    /// Its errors.
    type Error: ReconcileError;

    /// The owned conditions that make up Ready, in priority order.
    fn summary(&self) -> Summary {
        Summary::default()
    }

    /// The field manager of the status and finalizer writes, when the kind's
    /// Flux twin uses another one than its controller name (Flux's
    /// kustomize-controller writes them as `gotk-kustomize-controller`,
    /// keeping `kustomize-controller` for the objects it applies). It replaces
    /// [`Settings::field_manager`](super::Settings::field_manager) only where
    /// that is still the default.
    fn status_manager(&self) -> Option<&str> {
        None
    }

    /// Brings the world in line with `object`, recording progress in
    /// `status` (which starts as the object's current status). Set the
    /// kind's own conditions here; Ready, Reconciling, Stalled,
    /// observedGeneration and lastHandledReconcileAt are the harness's.
    fn reconcile(
        &self,
        object: &Self::Object,
        status: &mut <Self::Object as FluxObject>::Status,
        ctx: &Context,
    ) -> impl Future<Output = Result<Outcome, Self::Error>> + Send;

    /// Cleans up after a deleted object, before its finalizer is removed
    /// (see [`finalizer`](super::finalizer) for what it must tolerate).
    fn cleanup(&self, object: &Self::Object, ctx: &Context) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
