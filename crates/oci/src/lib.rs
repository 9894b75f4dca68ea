//! A small client of the OCI distribution API, enough for Flux's OCI
//! artifacts: manifests, blobs and tag lists, pulled and pushed, with basic
//! auth and the bearer-token challenge flow, TLS with extra roots and a
//! client certificate, and plain HTTP where go-containerregistry (Flux's
//! client) allows it. No Kubernetes client: controllers and the CLI wire it
//! to Secrets and flags.
//!
//! [`flux`] holds Flux's artifact format (`flux push artifact`'s media
//! types and annotations); [`cosign`] verifies cosign signatures with
//! public keys, [`notation`] Notary Project signatures against a trust
//! policy.
#![deny(missing_docs)]

mod auth;
mod client;
pub mod cosign;
mod error;
pub mod flux;
mod manifest;
pub mod notation;
mod reference;

pub use auth::{Credentials, DockerConfigError};
pub use client::{Client, ClientOptions, Pulled, Referrer};
pub use error::{Error, Result};
pub use manifest::{Descriptor, Manifest, media_type};
pub use reference::Repository;

/// The `sha256:<hex>` digest of `bytes`, as OCI names content.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
