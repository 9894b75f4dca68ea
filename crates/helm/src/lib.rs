//! A native Helm chart engine: load charts from directories and archives, coalesce values as
//! Helm does, package charts as `helm package` does, and render them like `helm template`.
//!
//! The crate has no Kubernetes client and no async runtime: it takes data and returns data, so
//! helm-controller, the HelmChart artifact builder and the CLI share one implementation.
#![deny(missing_docs)]

pub mod archive;
pub mod chart;
pub mod release;
pub mod render;
pub mod value;
pub mod values;
pub mod yaml;

pub use value::{Map, Value};
