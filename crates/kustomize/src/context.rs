//! The context one kustomization level hands to its transformers: its file loader, the OpenAPI
//! schemas strategic merges consult, and the kustomization file's name for messages and
//! `buildMetadata`. It sits below the transformers and above the loader, so that transformers
//! and patches share it without importing the build.

use crate::loader::DirLoader;
use crate::smp::Schema;

/// What the transformers of one level need besides the resources.
pub(crate) struct Ctx<'a> {
    /// Reads the files the level's kustomization names (patches, replacement sources).
    pub loader: &'a DirLoader<'a>,
    /// The OpenAPI schemas in force, innermost first, for strategic merge patches.
    pub schemas: &'a [&'a Schema],
    /// The kustomization file, as messages and transformer annotations name it.
    pub kust_file: &'a str,
}
