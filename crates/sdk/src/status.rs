//! The status every Flux-style object has, and the one write per reconcile.
//!
//! The write is a server-side-apply patch of the status subresource under the
//! controller's field manager. Flux's controllers write status under their
//! controller name (`source-controller`, …), except kustomize-controller,
//! which uses `gotk-kustomize-controller` (see
//! [`Reconciler::status_manager`](crate::Reconciler::status_manager)),
//! so a Ferry controller under the same name takes over the status fields of
//! its Flux twin.

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The status could not be serialised.
    #[error("serialising the status of {name}: {source}")]
    SerializeFailed {
        /// The object's name.
        name: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// The API server refused the status patch.
    #[error("patching the status of {name}: {source}")]
    PatchFailed {
        /// The object's name.
        name: String,
        /// The cause.
        source: kube::Error,
    },
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use ferry_api_meta::{FluxObject, ReconcileStatus};

/// Patches the status subresource of `object` to `status` with server-side
/// apply under `field_manager`, forcing ownership of the fields.
pub async fn patch<K>(api: &Api<K>, object: &K, status: &K::Status, field_manager: &str) -> Result<K>
where
    K: FluxObject + Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned,
    K::Status: Serialize,
{
    let name = object.name_any();
    let status =
        serde_json::to_value(status).map_err(|source| Error::SerializeFailed { name: name.clone(), source })?;
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "name": name },
        "status": status,
    });
    let params = PatchParams::apply(field_manager).force();
    api.patch_status(&name, &params, &Patch::Apply(&body)).await.map_err(|source| Error::PatchFailed { name, source })
}
