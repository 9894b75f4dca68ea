//! The one tar.gz reader of the workspace.
//!
//! Archives are untrusted input (artifacts from a source-controller, charts
//! from a Helm repository, charts nested in charts), so every archive Ferry
//! opens goes through one walker ([`walk`]) that checks each entry the same
//! way whatever the destination: absolute paths and `..` are refused, devices
//! and FIFOs too, every entry counts against [`Limits::max_files`], and one
//! byte budget ([`Limits::max_size`]) counts regular files, the copies hard
//! links make and the targets symlinks store, charged *before* anything is
//! kept, so a small archive of hard links to a large file cannot grow memory
//! or disk past the budget.
//!
//! Where the accepted entries go is a [`Sink`]: a directory on disk
//! ([`extract_tar_gz`]), the SDK's in-memory artifact tree, or a chart's file
//! list in ferry-helm, each with its own error type and its own extra rules
//! (Helm refuses links, for example). The crate has no async runtime and no
//! Kubernetes client, so engines can depend on it.

#![deny(missing_docs)]

mod disk;
mod error;
mod walk;

pub use disk::extract_tar_gz;
pub use error::{Error, Result};
pub use walk::{Extracted, Limits, Sink, walk};
