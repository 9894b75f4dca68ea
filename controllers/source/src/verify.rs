//! Signature verification of OCI content, shared by OCIRepository and
//! HelmChart (`spec.verify`): the verifier a provider and its Secret
//! describe, run offline against the signatures in the registry.
//!
//! - `cosign` with a `secretRef`: the `.pub` keys of the Secret
//!   ([`ferry_oci::cosign`]);
//! - `cosign` without one (keyless): refused, naming what an offline
//!   controller lacks;
//! - `notation`: the `trustpolicy.json` and the `.crt`/`.pem` certificates
//!   of the Secret ([`ferry_oci::notation`]), as Flux reads them; a
//!   `skip` level, or an `audit` level that only logged a failed
//!   authenticity check, leaves the content unverified ([`Outcome::Ignored`]).

use ferry_api_meta::LocalObjectReference;
use ferry_api_source::VerificationProvider;
use ferry_oci::Client;
use ferry_sdk::reconcile::Context;

/// The key of the trust policy in a notation Secret (Flux's).
pub const TRUST_POLICY_KEY: &str = "trustpolicy.json";

/// Why a signature was not verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Keyless cosign: the certificate of a keyless signature is issued by
    /// Sigstore's Fulcio and its signature logged in Rekor; checking them
    /// needs their roots, which Ferry does not fetch.
    #[error(
        "keyless verification is not supported by Ferry: it needs the Fulcio root certificate and the Rekor transparency log of the public Sigstore instance, which Ferry does not fetch{}; verify with cosign public keys in a secretRef, or with notation",
        if *trusted_root { " (a trustedRootSecretRef is not used either)" } else { "" }
    )]
    Keyless {
        /// Whether `trustedRootSecretRef` was given.
        trusted_root: bool,
    },
    /// Notation without a Secret.
    #[error("verification secret cannot be empty: '{0}'")]
    NoSecret(String),
    /// The verification Secret could not be read.
    #[error("{source}")]
    Secret {
        /// The reader's error.
        source: ferry_sdk::secret::Error,
    },
    /// A `.pub` key of the Secret is unusable.
    #[error("key '{key}' in secret '{secret}': {source}")]
    Key {
        /// `<namespace>/<name>`.
        secret: String,
        /// The Secret's key.
        key: String,
        /// What is wrong.
        source: ferry_oci::cosign::KeyError,
    },
    /// The Secret has no `.pub` key.
    #[error("no public keys found in secret '{0}'")]
    NoKeys(String),
    /// The signatures could not be read from the registry.
    #[error("{source}")]
    Registry {
        /// The client's error.
        source: ferry_oci::Error,
    },
    /// The notation Secret has no `trustpolicy.json`.
    #[error("'{TRUST_POLICY_KEY}' not found in secret '{0}'")]
    NoTrustPolicy(String),
    /// The notation Secret has no `.crt` or `.pem` certificate.
    #[error("no certificates found in secret '{0}'")]
    NoCertificates(String),
    /// The trust policy or a certificate is unusable, or no signature
    /// passed the trust policy.
    #[error("{source}")]
    Notation {
        /// Why.
        source: ferry_oci::notation::Error,
    },
    /// No signature verifies with the keys.
    #[error("no matching signatures were found for '{0}'")]
    NoMatch(String),
}

/// What a verification found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A signature verified.
    Verified,
    /// The trust policy asked for no verification (`skip`), or only logged
    /// a failed authenticity check (`audit`): not verified, not refused
    /// (Flux's `VerificationResultIgnored`).
    Ignored,
}

/// A verifier of one provider, with its trust material.
pub enum Verifier {
    /// Cosign signatures made with one of these keys.
    Cosign(Vec<ferry_oci::cosign::PublicKey>),
    /// Notary Project signatures, under a trust policy.
    Notation(Box<ferry_oci::notation::Verifier>),
}

/// The provider's name in messages: `cosign keyless` without a Secret (Flux's).
pub fn provider_name(provider: VerificationProvider, secret: Option<&LocalObjectReference>) -> String {
    match (provider, secret) {
        (VerificationProvider::Cosign, Some(_)) => "cosign".into(),
        (VerificationProvider::Cosign, None) => "cosign keyless".into(),
        (VerificationProvider::Notation, _) => "notation".into(),
    }
}

impl Verifier {
    /// The verifier `provider` and the Secret `secret` in `namespace`
    /// describe; `subject` names the object for Flux's messages.
    pub async fn new(
        ctx: &Context,
        namespace: &str,
        provider: VerificationProvider,
        secret: Option<&LocalObjectReference>,
        trusted_root: bool,
        subject: &str,
    ) -> Result<Self, VerifyError> {
        let secret = match (provider, secret) {
            (VerificationProvider::Cosign, None) => return Err(VerifyError::Keyless { trusted_root }),
            (VerificationProvider::Notation, None) => return Err(VerifyError::NoSecret(subject.to_string())),
            (_, Some(secret)) => secret,
        };
        let data = ferry_sdk::secret::read(ctx.client(), namespace, &secret.name)
            .await
            .map_err(|source| VerifyError::Secret { source })?;
        let name = format!("{namespace}/{}", secret.name);
        match provider {
            VerificationProvider::Cosign => {
                let mut keys = Vec::new();
                for (key, pem) in data.iter().filter(|(key, _)| key.ends_with(".pub")) {
                    let parsed = ferry_oci::cosign::PublicKey::from_pem(pem).map_err(|source| VerifyError::Key {
                        secret: name.clone(),
                        key: key.clone(),
                        source,
                    })?;
                    keys.push(parsed);
                }
                if keys.is_empty() {
                    return Err(VerifyError::NoKeys(name));
                }
                Ok(Self::Cosign(keys))
            }
            VerificationProvider::Notation => {
                let policy = data.get(TRUST_POLICY_KEY).ok_or_else(|| VerifyError::NoTrustPolicy(name.clone()))?;
                let certificates: Vec<(String, Vec<u8>)> = data
                    .iter()
                    .filter(|(key, _)| key.ends_with(".crt") || key.ends_with(".pem"))
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect();
                if certificates.is_empty() {
                    return Err(VerifyError::NoCertificates(name));
                }
                let verifier = ferry_oci::notation::Verifier::new(policy, &certificates)
                    .map_err(|source| VerifyError::Notation { source })?;
                Ok(Self::Notation(Box::new(verifier)))
            }
        }
    }

    /// Verifies the signatures of the manifest `digest` in the repository of
    /// `client`; `reference` (`host/path:tag`) names it in messages.
    pub async fn verify(&self, client: &Client, reference: &str, digest: &str) -> Result<Outcome, VerifyError> {
        match self {
            Self::Cosign(keys) => match ferry_oci::cosign::verify(client, digest, keys).await {
                Ok(true) => Ok(Outcome::Verified),
                Ok(false) => Err(VerifyError::NoMatch(reference.to_string())),
                Err(source) => Err(VerifyError::Registry { source }),
            },
            Self::Notation(verifier) => match verifier.verify(client, digest).await {
                Ok(ferry_oci::notation::Outcome::Verified) => Ok(Outcome::Verified),
                Ok(ferry_oci::notation::Outcome::Ignored) => Ok(Outcome::Ignored),
                Err(source) => Err(VerifyError::Notation { source }),
            },
        }
    }
}

impl VerifyError {
    /// Whether only a new spec (or Secret) can fix it.
    pub fn is_stalling(&self) -> bool {
        matches!(self, Self::Keyless { .. } | Self::NoSecret(_))
    }
}
