//! Flux's OCI artifact: an OCI image manifest with a config of media type
//! [`CONFIG_MEDIA_TYPE`], one tar.gz layer of media type
//! [`CONTENT_MEDIA_TYPE`], and the source, revision and creation time in
//! the manifest's annotations (`flux push artifact`'s shape).

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::manifest::{Descriptor, Manifest, media_type};
use crate::{Client, Result};

/// The config media type of Flux artifacts.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.flux.config.v1+json";
/// The layer media type of Flux artifacts (a tar.gz).
pub const CONTENT_MEDIA_TYPE: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";
/// The annotation with the source's URL.
pub const SOURCE_ANNOTATION: &str = "org.opencontainers.image.source";
/// The annotation with the source's revision.
pub const REVISION_ANNOTATION: &str = "org.opencontainers.image.revision";
/// The annotation with the creation time (RFC 3339).
pub const CREATED_ANNOTATION: &str = "org.opencontainers.image.created";
/// The config blob Ferry pushes: an empty JSON object.
pub const CONFIG: &[u8] = b"{}";

/// What the annotations say of an artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `--source`: where the content comes from.
    pub source: String,
    /// `--revision`: which version of it.
    pub revision: String,
    /// The creation time, RFC 3339.
    pub created: String,
}

impl Metadata {
    /// The manifest annotations, empty values left out.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        [(CREATED_ANNOTATION, &self.created), (SOURCE_ANNOTATION, &self.source), (REVISION_ANNOTATION, &self.revision)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// The metadata a manifest's annotations hold.
    pub fn of(manifest: &Manifest) -> Self {
        let get = |key| manifest.annotation(key).unwrap_or_default().to_string();
        Self { source: get(SOURCE_ANNOTATION), revision: get(REVISION_ANNOTATION), created: get(CREATED_ANNOTATION) }
    }
}

/// The manifest of a Flux artifact with `layer` (a tar.gz's bytes).
pub fn manifest(layer: &[u8], metadata: &Metadata) -> Manifest {
    Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE.into(),
            digest: crate::digest(CONFIG),
            size: CONFIG.len() as u64,
            annotations: None,
        },
        layers: vec![Descriptor {
            media_type: CONTENT_MEDIA_TYPE.into(),
            digest: crate::digest(layer),
            size: layer.len() as u64,
            annotations: None,
        }],
        annotations: Some(metadata.annotations()),
    }
}

/// Pushes a Flux artifact with `layer` under `tag`; returns the manifest's
/// digest.
pub async fn push(client: &Client, tag: &str, layer: Bytes, metadata: &Metadata) -> Result<String> {
    let manifest = manifest(&layer, metadata);
    client.push_blob(Bytes::from_static(CONFIG)).await?;
    client.push_blob(layer).await?;
    let bytes = serde_json::to_vec(&manifest).map_err(|source| crate::Error::Manifest { source })?;
    client.push_manifest(tag, Bytes::from(bytes), media_type::OCI_MANIFEST).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_flux_shaped_and_reproducible() {
        let metadata =
            Metadata { source: "https://x/y".into(), revision: "main@sha1:abc".into(), created: String::new() };
        let one = serde_json::to_string(&manifest(b"layer", &metadata)).unwrap();
        assert_eq!(one, serde_json::to_string(&manifest(b"layer", &metadata)).unwrap());
        assert!(one.contains(CONTENT_MEDIA_TYPE) && one.contains(CONFIG_MEDIA_TYPE));
        assert!(!one.contains(CREATED_ANNOTATION));
        assert_eq!(Metadata::of(&manifest(b"layer", &metadata)), metadata);
    }
}
