//! Cosign signatures verified with public keys, offline (as Flux verifies
//! with a key: no transparency log): the signature image at tag
//! `sha256-<hex>.sig` holds simple-signing payloads naming the image digest,
//! each signed (ECDSA P-256, SHA-256, ASN.1) in the layer's
//! `dev.cosignproject.cosign/signature` annotation.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};

use crate::manifest::{Descriptor, Manifest, media_type};
use crate::{Client, Result};

/// The annotation holding a layer's base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The largest payload read.
const MAX_PAYLOAD: u64 = 1 << 20;

/// Why a public key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// It is no PEM `PUBLIC KEY`.
    #[error("invalid public key: not a PEM-encoded public key")]
    NotPem,
    /// It is not an ECDSA P-256 key (cosign's default).
    #[error("unsupported public key: only ECDSA P-256 keys are supported")]
    Unsupported,
}

/// An ECDSA P-256 public key (`cosign.pub`).
#[derive(Debug, Clone)]
pub struct PublicKey {
    point: Vec<u8>,
}

/// The DER prefix of a P-256 SubjectPublicKeyInfo with an uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl PublicKey {
    /// Reads a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) of an ECDSA P-256 key.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let text = std::str::from_utf8(pem).map_err(|_| KeyError::NotPem)?;
        let body: String = text
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != "-----BEGIN PUBLIC KEY-----")
            .skip(1)
            .take_while(|l| *l != "-----END PUBLIC KEY-----")
            .collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).map_err(|_| KeyError::NotPem)?;
        match der.strip_prefix(&P256_SPKI_PREFIX[..]) {
            Some(point) if point.len() == 65 && point[0] == 0x04 => Ok(Self { point: point.to_vec() }),
            _ if der.is_empty() => Err(KeyError::NotPem),
            _ => Err(KeyError::Unsupported),
        }
    }

    /// Whether `signature` (DER) signs `payload`.
    pub fn verifies(&self, payload: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.point).verify(payload, signature).is_ok()
    }
}

/// The tag of the signatures of the image `digest`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// The simple-signing payload cosign signs for `image` (`host/path`) at `digest`.
pub fn payload(image: &str, digest: &str) -> Vec<u8> {
    serde_json::json!({
        "critical": {
            "identity": {"docker-reference": image},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    })
    .to_string()
    .into_bytes()
}

/// Whether a signature of `digest` made by one of `keys` is in the
/// registry: false when there is none, or none verifies.
pub async fn verify(client: &Client, digest: &str, keys: &[PublicKey]) -> Result<bool> {
    let signatures = match client.manifest(&signature_tag(digest)).await {
        Ok(pulled) => pulled.manifest,
        Err(error) if error.is_not_found() => return Ok(false),
        Err(error) => return Err(error),
    };
    for layer in &signatures.layers {
        let Some(signature) = layer.annotations.as_ref().and_then(|a| a.get(SIGNATURE_ANNOTATION)) else {
            continue;
        };
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature) else { continue };
        let payload = client.blob(&layer.digest, MAX_PAYLOAD).await?;
        if !keys.iter().any(|key| key.verifies(&payload, &signature)) {
            continue;
        }
        let signed: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
        if signed["critical"]["image"]["docker-manifest-digest"].as_str() == Some(digest) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Pushes a signature image for `digest` with one payload and its
/// signature (DER), as `cosign sign --key` stores it.
pub async fn push_signature(client: &Client, digest: &str, payload: Vec<u8>, signature: &[u8]) -> Result<String> {
    let config = Bytes::from_static(b"{}");
    let config_digest = client.push_blob(config.clone()).await?;
    let payload = Bytes::from(payload);
    let layer_digest = client.push_blob(payload.clone()).await?;
    let annotations = BTreeMap::from([(
        SIGNATURE_ANNOTATION.to_string(),
        base64::engine::general_purpose::STANDARD.encode(signature),
    )]);
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        config: Descriptor {
            media_type: "application/vnd.oci.image.config.v1+json".into(),
            digest: config_digest,
            size: config.len() as u64,
            annotations: None,
        },
        layers: vec![Descriptor {
            media_type: SIMPLE_SIGNING_MEDIA_TYPE.into(),
            digest: layer_digest,
            size: payload.len() as u64,
            annotations: Some(annotations),
        }],
        annotations: None,
    };
    let bytes = serde_json::to_vec(&manifest).map_err(|source| crate::Error::Manifest { source })?;
    client.push_manifest(&signature_tag(digest), Bytes::from(bytes), media_type::OCI_MANIFEST).await
}
