//! A native kustomize engine: `kustomize build` (v5) as a pure library.
//!
//! The engine reads files only through [`FileSystem`], holds no global state, and can run many
//! builds at once on different threads.
//!
//! ```no_run
//! use ferry_kustomize::{build, BuildOptions, RealFs};
//! let yaml = build(&RealFs, "deploy/overlays/prod".as_ref(), &BuildOptions::default())?;
//! print!("{yaml}");
//! # Ok::<(), ferry_kustomize::Error>(())
//! ```

#![deny(missing_docs)]

mod build;
mod config;
mod context;
mod fs;
mod generator;
mod jsonpatch;
mod loader;
mod nameref;
mod patch;
mod plugin;
mod remote;
mod replacement;
mod resource;
pub mod smp;
mod sort;
mod transform;
mod types;
mod vars;
pub mod yaml;

pub use build::{BuildOptions, Reorder, build, build_resources, build_resources_with};
pub use fs::{FileSystem, MemFs, RealFs};
pub use loader::LoadRestrictions;
pub use remote::{NoRemoteBases, RemoteResolver};
pub use types::Kustomization;

/// Why a build failed. The message names the file at fault where there is one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read, parsed or used.
    #[error("{path}: {message}")]
    File {
        /// The file or directory at fault.
        path: String,
        /// The reason, in kustomize's words where Ferry matches its message.
        message: String,
    },
    /// The build itself failed (a conflict between resources, a bad reference...).
    #[error("{0}")]
    Build(String),
}

impl Error {
    pub(crate) fn msg(message: impl Into<String>) -> Self {
        Error::Build(message.into())
    }

    pub(crate) fn in_file(path: impl std::fmt::Display, message: impl Into<String>) -> Self {
        Error::File { path: path.to_string(), message: message.into() }
    }

    /// Adds the file at fault to an error that has none.
    pub(crate) fn with_file(self, path: impl std::fmt::Display) -> Self {
        match self {
            Error::Build(message) => Error::File { path: path.to_string(), message },
            other => other,
        }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
