//! Notary Project signatures (`notation sign`) verified offline against a
//! trust policy and trusted certificates, as notation-go verifies them for
//! Flux: the signature manifests of an artifact are found through the OCI
//! referrers API, else the referrers tag schema (`sha256-<hex>`); each
//! holds one envelope (JWS; COSE is refused), whose signature, certificate
//! chain, payload and signed attributes are checked in the order and with
//! the enforcement the applicable trust policy statement asks for.
//!
//! What needs a network or a timestamp authority is not done: revocation
//! of certificates that name OCSP or CRL endpoints is "unknown" (a failure
//! where revocation is enforced), and timestamp countersignatures (a `tsa`
//! trust store) are refused.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use ring::signature::{self as sig, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use crate::manifest::{Descriptor, media_type};
use crate::{Client, Error as ClientError};

/// The artifact type of signature manifests.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";
/// The media type of a JWS envelope.
pub const JWS_MEDIA_TYPE: &str = "application/jose+json";
/// The media type of a COSE envelope.
pub const COSE_MEDIA_TYPE: &str = "application/cose";
/// The content type of the signed payload.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// The annotation of a signature manifest listing its chain's thumbprints.
pub const THUMBPRINT_ANNOTATION: &str = "io.cncf.notary.x509chain.thumbprint#S256";
/// The signing scheme of signatures made with a CA-issued certificate.
pub const SCHEME_X509: &str = "notary.x509";
/// The signing scheme of signatures made by a signing authority.
pub const SCHEME_SIGNING_AUTHORITY: &str = "notary.x509.signingAuthority";
/// The media type of the empty config of signature manifests.
const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// How many signatures are tried (notation-go's `MaxSignatureAttempts` as Flux sets it).
const MAX_SIGNATURE_ATTEMPTS: usize = 3;
/// The largest envelope read (notation-go's limit).
const MAX_ENVELOPE_SIZE: u64 = 32 << 20;

/// Why a trust policy, a certificate or a signature cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The trust policy is no valid Notary Project trust policy.
    #[error("invalid trust policy: {0}")]
    Policy(String),
    /// No statement of the trust policy applies to the artifact.
    #[error("artifact \"{0}\" has no applicable trust policy statement")]
    NoPolicy(String),
    /// A trusted certificate does not parse.
    #[error("failed to parse certificate '{name}': {reason}")]
    Certificate {
        /// The Secret key it came from.
        name: String,
        /// Why.
        reason: String,
    },
    /// The registry could not be asked for the signatures.
    #[error("{source}")]
    Registry {
        /// The client's error.
        source: ClientError,
    },
    /// The artifact has no signature.
    #[error("no signature is associated with \"{0}\", make sure the artifact was signed successfully")]
    NoSignature(String),
    /// No signature passed the enforced checks.
    #[error("signature verification failed for all the signatures associated with {reference}: {}", reasons.join("; "))]
    Failed {
        /// `host/path@sha256:<hex>`.
        reference: String,
        /// Why each signature failed.
        reasons: Vec<String>,
    },
}

/// A trust policy document (`trustpolicy.json`, version 1.0).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustPolicyDocument {
    /// Must be `1.0`.
    pub version: String,
    /// The statements.
    pub trust_policies: Vec<TrustPolicy>,
}

/// One statement of a trust policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustPolicy {
    /// Its name.
    pub name: String,
    /// `host/path` repositories it applies to, or `*`.
    #[serde(default)]
    pub registry_scopes: Vec<String>,
    /// The verification level.
    pub signature_verification: SignatureVerification,
    /// `ca:<name>`, `signingAuthority:<name>` or `tsa:<name>` stores.
    #[serde(default)]
    pub trust_stores: Vec<String>,
    /// `x509.subject: <DN>` identities, or `*`.
    #[serde(default)]
    pub trusted_identities: Vec<String>,
}

/// A verification level and its overrides.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureVerification {
    /// `strict`, `permissive`, `audit` or `skip`.
    pub level: String,
    /// Per-check actions replacing the level's.
    #[serde(default, rename = "override")]
    pub overrides: BTreeMap<String, String>,
    /// `always` (default) or `afterCertExpiry`.
    #[serde(default)]
    pub verify_timestamp: Option<String>,
}

/// What a failed check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Fails the signature.
    Enforce,
    /// Is logged; the signature may still pass.
    Log,
    /// Is not done.
    Skip,
}

/// The checks of a verification, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// The envelope, its signature, certificate chain and payload.
    Integrity,
    /// The chain leads to a trusted certificate, the signer is a trusted identity.
    Authenticity,
    /// The certificates were valid when the signature was made.
    AuthenticTimestamp,
    /// The signer's "best by" time has not passed.
    Expiry,
    /// No certificate is revoked.
    Revocation,
}

impl Check {
    /// The check's name in trust policies and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Integrity => "integrity",
            Self::Authenticity => "authenticity",
            Self::AuthenticTimestamp => "authenticTimestamp",
            Self::Expiry => "expiry",
            Self::Revocation => "revocation",
        }
    }
}

/// The action of each check at a level, with its overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// `strict`, `permissive`, `audit` or `skip`.
    pub name: String,
    actions: BTreeMap<Check, Action>,
}

impl Level {
    /// The level a statement asks for.
    pub fn of(verification: &SignatureVerification) -> Result<Self, Error> {
        use Action::{Enforce as E, Log as L, Skip as S};
        let base = match verification.level.as_str() {
            "strict" => [E, E, E, E, E],
            "permissive" => [E, E, L, L, L],
            "audit" => [E, L, L, L, L],
            "skip" => [S, S, S, S, S],
            other => return Err(Error::Policy(format!("invalid signature verification level \"{other}\""))),
        };
        let checks =
            [Check::Integrity, Check::Authenticity, Check::AuthenticTimestamp, Check::Expiry, Check::Revocation];
        let mut actions: BTreeMap<Check, Action> = checks.into_iter().zip(base).collect();
        if verification.level == "skip" && !verification.overrides.is_empty() {
            return Err(Error::Policy("signature verification level \"skip\" cannot be customized".into()));
        }
        for (key, value) in &verification.overrides {
            let check = match key.as_str() {
                "authenticity" => Check::Authenticity,
                "authenticTimestamp" => Check::AuthenticTimestamp,
                "expiry" => Check::Expiry,
                "revocation" => Check::Revocation,
                "integrity" => return Err(Error::Policy("\"integrity\" verification can not be overridden".into())),
                other => return Err(Error::Policy(format!("verification type \"{other}\" is not valid"))),
            };
            let action = match (value.as_str(), check) {
                ("enforce", _) => E,
                ("log", _) => L,
                ("skip", Check::Revocation) => S,
                (other, _) => {
                    return Err(Error::Policy(format!("verification action \"{other}\" is not valid for \"{key}\"")));
                }
            };
            actions.insert(check, action);
        }
        Ok(Self { name: verification.level.clone(), actions })
    }

    /// The action of `check`.
    pub fn action(&self, check: Check) -> Action {
        self.actions.get(&check).copied().unwrap_or(Action::Enforce)
    }
}

impl TrustPolicyDocument {
    /// Parses and validates a trust policy as notation-go does, with
    /// Flux's cleaning: `skip` statements drop their stores and identities.
    pub fn parse(json: &[u8]) -> Result<Self, Error> {
        let mut doc: Self = serde_json::from_slice(json)
            .map_err(|e| Error::Policy(format!("error occurred while parsing trustpolicy.json: {e}")))?;
        for policy in &mut doc.trust_policies {
            if policy.signature_verification.level == "skip" {
                policy.trust_stores.clear();
                policy.trusted_identities.clear();
            }
        }
        doc.validate()?;
        Ok(doc)
    }

    fn validate(&self) -> Result<(), Error> {
        let invalid = |m: String| Err(Error::Policy(m));
        if self.version != "1.0" {
            return invalid(format!("trust policy document uses unsupported version \"{}\"", self.version));
        }
        if self.trust_policies.is_empty() {
            return invalid("trust policy document can not have zero trust policy statements".into());
        }
        let mut names = std::collections::HashSet::new();
        let mut scopes = std::collections::HashSet::new();
        for policy in &self.trust_policies {
            if policy.name.is_empty() {
                return invalid("a trust policy statement is missing a name".into());
            }
            if !names.insert(policy.name.as_str()) {
                return invalid(format!("multiple trust policy statements use the same name \"{}\"", policy.name));
            }
            let level = Level::of(&policy.signature_verification)?;
            if policy.registry_scopes.is_empty() {
                return invalid(format!("trust policy statement \"{}\" has zero registry scopes", policy.name));
            }
            if policy.registry_scopes.len() > 1 && policy.registry_scopes.iter().any(|s| s == "*") {
                return invalid(format!(
                    "trust policy statement \"{}\" uses wildcard registry scope '*', a wildcard scope cannot be used in conjunction with other scope values",
                    policy.name
                ));
            }
            for scope in &policy.registry_scopes {
                if scope != "*" && (scope.contains('*') || !scope.contains('/')) {
                    return invalid(format!(
                        "registry scope \"{scope}\" is not valid, make sure it is a fully qualified repository without the scheme, protocol or tag"
                    ));
                }
                if !scopes.insert(scope.as_str()) {
                    return invalid(format!(
                        "registry scope \"{scope}\" is present in multiple trust policy statements"
                    ));
                }
            }
            if level.name == "skip" {
                continue;
            }
            if policy.trust_stores.is_empty() {
                return invalid(format!(
                    "trust policy statement \"{}\" is either missing trust stores or trusted identities, both must be specified",
                    policy.name
                ));
            }
            for store in &policy.trust_stores {
                let (kind, name) = store.split_once(':').unwrap_or(("", ""));
                if !matches!(kind, "ca" | "signingAuthority" | "tsa") || name.is_empty() {
                    return invalid(format!(
                        "trust policy statement \"{}\" uses an unsupported trust store type \"{store}\"",
                        policy.name
                    ));
                }
            }
            if policy.trusted_identities.is_empty() {
                return invalid(format!("trust policy statement \"{}\" has zero trusted identities", policy.name));
            }
            if policy.trusted_identities.len() > 1 && policy.trusted_identities.iter().any(|i| i == "*") {
                return invalid(format!(
                    "trust policy statement \"{}\" uses a wildcard trusted identity '*', a wildcard identity cannot be used in conjunction with other values",
                    policy.name
                ));
            }
            for identity in policy.trusted_identities.iter().filter(|i| *i != "*") {
                let Some(("x509.subject", dn)) = identity.split_once(':') else {
                    return invalid(format!(
                        "trust policy statement \"{}\" has trusted identity \"{identity}\" that is not an x509.subject",
                        policy.name
                    ));
                };
                let parsed = parse_dn(dn).map_err(Error::Policy)?;
                let has = |k: &str| parsed.contains_key(k);
                if !(has("C") && has("ST") && has("O")) {
                    return invalid(format!(
                        "trust policy statement \"{}\" has trusted identity \"{identity}\" without the mandatory \"C\", \"ST\" or \"S\", and \"O\" RDNs",
                        policy.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// The statement for the repository `host/path`: the one naming it, else the global one.
    pub fn statement(&self, repository: &str) -> Result<&TrustPolicy, Error> {
        let named = self.trust_policies.iter().find(|p| p.registry_scopes.iter().any(|s| s == repository));
        named
            .or_else(|| self.trust_policies.iter().find(|p| p.registry_scopes.iter().any(|s| s == "*")))
            .ok_or_else(|| Error::NoPolicy(repository.to_string()))
    }
}

/// Parses an RFC 4514 distinguished name into attribute → value (`S` read
/// as `ST`), escapes resolved.
pub fn parse_dn(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => {
                    current.push('\\');
                    current.push(next);
                }
                None => return Err(format!("invalid distinguished name \"{text}\": trailing escape")),
            },
            ',' | ';' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    let mut map = BTreeMap::new();
    for part in parts {
        let part = part.trim();
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("invalid distinguished name \"{text}\": \"{part}\" has no '='"))?;
        let key = key.trim().to_ascii_uppercase();
        let key = if key == "S" { "ST".to_string() } else { key };
        let mut unescaped = String::new();
        let mut value_chars = value.trim().chars();
        while let Some(c) = value_chars.next() {
            if c == '\\' {
                if let Some(next) = value_chars.next() {
                    unescaped.push(next);
                }
            } else {
                unescaped.push(c);
            }
        }
        if map.insert(key.clone(), unescaped).is_some() {
            return Err(format!("distinguished name \"{text}\" has duplicate RDN attribute for \"{key}\""));
        }
    }
    Ok(map)
}

/// The RFC 4514 name of a subject attribute, as Go's `pkix.Name` writes it.
fn attribute_name(oid: &str) -> String {
    match oid {
        "2.5.4.6" => "C",
        "2.5.4.8" => "ST",
        "2.5.4.7" => "L",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.3" => "CN",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.9" => "STREET",
        "2.5.4.17" => "POSTALCODE",
        other => other,
    }
    .to_string()
}

/// What verifying an artifact found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A signature passed every enforced check, authenticity included.
    Verified,
    /// The statement's level is `skip`, or the signature passed with a
    /// logged authenticity failure (`audit`): not verified, not refused
    /// (Flux's `VerificationResultIgnored`).
    Ignored,
}

/// A notation verifier: a trust policy and the certificates of its trust stores.
pub struct Verifier {
    policy: TrustPolicyDocument,
    trusted: Vec<Vec<u8>>,
}

impl Verifier {
    /// A verifier of `policy` (JSON) with the PEM or DER `certificates`,
    /// each named by where it came from; every trust store of the policy
    /// holds them all, as Flux's in-memory store does.
    pub fn new(policy: &[u8], certificates: &[(String, Vec<u8>)]) -> Result<Self, Error> {
        let policy = TrustPolicyDocument::parse(policy)?;
        let mut trusted = Vec::new();
        for (name, data) in certificates {
            let ders = pem_or_der(data);
            if ders.is_empty() {
                return Err(Error::Certificate { name: name.clone(), reason: "no certificate found".into() });
            }
            for der in ders {
                X509Certificate::from_der(&der)
                    .map_err(|e| Error::Certificate { name: name.clone(), reason: e.to_string() })?;
                trusted.push(der);
            }
        }
        Ok(Self { policy, trusted })
    }

    /// Verifies the signatures of the manifest `digest` in the repository
    /// of `client`, at the current time.
    pub async fn verify(&self, client: &Client, digest: &str) -> Result<Outcome, Error> {
        let repository = client.repository().name();
        let reference = format!("{repository}@{digest}");
        let statement = self.policy.statement(&repository)?;
        let level = Level::of(&statement.signature_verification)?;
        if level.name == "skip" {
            return Ok(Outcome::Ignored);
        }
        let (kind, body, _) = client.manifest_bytes(digest).await.map_err(|source| Error::Registry { source })?;
        let target = Descriptor {
            media_type: kind.unwrap_or_else(|| media_type::OCI_MANIFEST.into()),
            digest: digest.to_string(),
            size: body.len() as u64,
            annotations: None,
        };
        let referrers = client
            .referrers(digest, Some(SIGNATURE_ARTIFACT_TYPE))
            .await
            .map_err(|source| Error::Registry { source })?;
        if referrers.is_empty() {
            return Err(Error::NoSignature(reference));
        }
        let now = unix_now();
        let mut reasons = Vec::new();
        for referrer in referrers.iter().take(MAX_SIGNATURE_ATTEMPTS) {
            let envelope = match self.envelope(client, &referrer.digest).await {
                Ok(envelope) => envelope,
                Err(reason) => {
                    reasons.push(format!("{}: {reason}", referrer.digest));
                    continue;
                }
            };
            match verify_envelope(statement, &level, &self.trusted, &envelope.0, &envelope.1, &target, now) {
                Ok(outcome) => return Ok(outcome),
                Err(reason) => reasons.push(format!("{}: {reason}", referrer.digest)),
            }
        }
        Err(Error::Failed { reference, reasons })
    }

    /// The media type and bytes of the one envelope of the signature manifest `digest`.
    async fn envelope(&self, client: &Client, digest: &str) -> Result<(String, Vec<u8>), String> {
        let (_, body, _) = client.manifest_bytes(digest).await.map_err(|e| e.to_string())?;
        let manifest: SignatureManifest = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        if manifest.layers.len() != 1 {
            return Err(format!(
                "signature manifest requires exactly one signature envelope blob, got {}",
                manifest.layers.len()
            ));
        }
        let layer = &manifest.layers[0];
        if layer.size > MAX_ENVELOPE_SIZE {
            return Err(format!("signature blob too large: {} bytes", layer.size));
        }
        let blob = client.blob(&layer.digest, MAX_ENVELOPE_SIZE).await.map_err(|e| e.to_string())?;
        Ok((layer.media_type.clone(), blob))
    }
}

/// A signature manifest, as far as verification reads it.
#[derive(Deserialize)]
struct SignatureManifest {
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// A JWS envelope in flattened JSON serialization.
#[derive(Debug, Serialize, Deserialize)]
pub struct JwsEnvelope {
    /// Base64url of the payload.
    pub payload: String,
    /// Base64url of the protected header.
    pub protected: String,
    /// The unprotected header.
    pub header: JwsHeader,
    /// Base64url of the signature.
    pub signature: String,
}

/// The unprotected header of a JWS envelope.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct JwsHeader {
    /// Base64 DER certificates, the signer's first, the root last.
    #[serde(default)]
    pub x5c: Vec<String>,
    /// The tool that signed.
    #[serde(default, rename = "io.cncf.notary.signingAgent", skip_serializing_if = "Option::is_none")]
    pub signing_agent: Option<String>,
    /// An RFC 3161 timestamp token.
    #[serde(default, rename = "io.cncf.notary.timestampSignature", skip_serializing_if = "Option::is_none")]
    pub timestamp_signature: Option<String>,
}

/// The parsed, integrity-checked content of an envelope.
struct Signed {
    chain: Vec<Vec<u8>>,
    scheme: String,
    signing_time: i64,
    expiry: Option<i64>,
    has_timestamp: bool,
}

/// One check's failure, with the action the level gives it.
fn fail(level: &Level, check: Check, reason: String, logged: &mut Vec<Check>) -> Result<(), String> {
    match level.action(check) {
        Action::Enforce => Err(format!("{} validation failed: {reason}", check.name())),
        Action::Log => {
            logged.push(check);
            Ok(())
        }
        Action::Skip => Ok(()),
    }
}

/// Verifies one envelope of `media_type` against the statement: integrity,
/// authenticity, expiry, authentic timestamp and revocation, each failure
/// enforced or logged as the level says.
pub fn verify_envelope(
    statement: &TrustPolicy,
    level: &Level,
    trusted: &[Vec<u8>],
    media_type: &str,
    envelope: &[u8],
    target: &Descriptor,
    now: i64,
) -> Result<Outcome, String> {
    let integrity = |reason: String| format!("integrity validation failed: {reason}");
    let signed = match media_type {
        JWS_MEDIA_TYPE => verify_jws(envelope, target).map_err(integrity)?,
        COSE_MEDIA_TYPE => {
            return Err(integrity(
                "COSE signature envelopes are not supported by Ferry; sign with `notation sign --signature-format jws`"
                    .into(),
            ));
        }
        other => {
            return Err(integrity(format!("signature envelope format with media type \"{other}\" is not supported")));
        }
    };
    let mut logged = Vec::new();
    let certs: Vec<X509Certificate<'_>> =
        signed.chain.iter().filter_map(|der| X509Certificate::from_der(der).ok().map(|(_, c)| c)).collect();

    // Authenticity: a trusted certificate in the chain, a trusted identity.
    if level.action(Check::Authenticity) != Action::Skip {
        let anchored = trusted.iter().any(|t| signed.chain.iter().any(|c| c == t));
        if !anchored {
            fail(
                level,
                Check::Authenticity,
                "the signature's certificate chain does not contain any trusted certificate".into(),
                &mut logged,
            )?;
        } else if let Err(reason) = trusted_identity(statement, &certs[0]) {
            fail(level, Check::Authenticity, reason, &mut logged)?;
        }
    }
    // Expiry: the signer's "best by" time.
    if let Some(expiry) = signed.expiry
        && now >= expiry
    {
        fail(level, Check::Expiry, format!("digital signature has expired on {}", rfc3339(expiry)), &mut logged)?;
    }
    // Authentic timestamp.
    if level.action(Check::AuthenticTimestamp) != Action::Skip {
        let at = if signed.scheme == SCHEME_SIGNING_AUTHORITY { signed.signing_time } else { now };
        let tsa = statement.trust_stores.iter().any(|s| s.starts_with("tsa:"));
        let always = statement.signature_verification.verify_timestamp.as_deref() != Some("afterCertExpiry");
        let expired = certs.iter().any(|c| now > c.validity().not_after.timestamp());
        if signed.scheme == SCHEME_X509 && tsa && (always || expired) {
            let reason = if signed.has_timestamp {
                "timestamp countersignatures are not verified by Ferry: remove the `tsa` trust store from the trust policy statement".to_string()
            } else {
                "no timestamp countersignature was found in the signature envelope".to_string()
            };
            fail(level, Check::AuthenticTimestamp, reason, &mut logged)?;
        } else if let Some(cert) =
            certs.iter().find(|c| at < c.validity().not_before.timestamp() || at > c.validity().not_after.timestamp())
        {
            let reason = format!("certificate \"{}\" is not valid at {}", subject_string(cert), rfc3339(at));
            fail(level, Check::AuthenticTimestamp, reason, &mut logged)?;
        }
    }
    // Revocation: offline, only certificates without OCSP or CRL endpoints pass.
    if level.action(Check::Revocation) != Action::Skip
        && let Some(cert) = certs.iter().find(|c| has_revocation_endpoints(c))
    {
        let reason = format!(
            "signing certificate with subject \"{}\" revocation status is unknown: its OCSP or CRL endpoints are not queried by Ferry (set \"revocation\": \"skip\" or \"log\" in the trust policy to accept it)",
            subject_string(cert)
        );
        fail(level, Check::Revocation, reason, &mut logged)?;
    }
    if logged.contains(&Check::Authenticity) { Ok(Outcome::Ignored) } else { Ok(Outcome::Verified) }
}

/// The JWS integrity checks: the envelope and its headers, the chain, the
/// signature with the signer's key and its `alg`, the payload's target.
fn verify_jws(envelope: &[u8], target: &Descriptor) -> Result<Signed, String> {
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let b64 = base64::engine::general_purpose::STANDARD;
    let jws: JwsEnvelope =
        serde_json::from_slice(envelope).map_err(|e| format!("unable to parse the digital signature: {e}"))?;
    let protected_raw = b64url.decode(&jws.protected).map_err(|e| format!("protected header is no base64url: {e}"))?;
    let protected: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&protected_raw).map_err(|e| format!("protected header is no JSON object: {e}"))?;
    let text = |key: &str| protected.get(key).and_then(|v| v.as_str());
    let alg = text("alg").ok_or("protected header has no \"alg\"")?;
    if text("cty") != Some(PAYLOAD_CONTENT_TYPE) {
        return Err(format!("payload content type \"{}\" is not supported", text("cty").unwrap_or_default()));
    }
    let scheme =
        text("io.cncf.notary.signingScheme").ok_or("protected header has no \"io.cncf.notary.signingScheme\"")?;
    let crit: Vec<&str> = protected
        .get("crit")
        .and_then(|v| v.as_array())
        .ok_or("protected header has no \"crit\"")?
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    if !crit.contains(&"io.cncf.notary.signingScheme") {
        return Err("\"crit\" does not list \"io.cncf.notary.signingScheme\"".into());
    }
    const KNOWN: [&str; 5] = [
        "io.cncf.notary.signingScheme",
        "io.cncf.notary.expiry",
        "io.cncf.notary.authenticSigningTime",
        "io.cncf.notary.verificationPlugin",
        "io.cncf.notary.verificationPluginMinVersion",
    ];
    for key in &crit {
        if !protected.contains_key(*key) {
            return Err(format!("critical header \"{key}\" is missing"));
        }
        if key.starts_with("io.cncf.notary.verificationPlugin") {
            return Err(format!("the signature asks for a verification plugin (\"{key}\"), which Ferry does not run"));
        }
        if !KNOWN.contains(key) {
            return Err(format!("critical header \"{key}\" is not understood"));
        }
    }
    if protected.contains_key("io.cncf.notary.expiry") && !crit.contains(&"io.cncf.notary.expiry") {
        return Err("\"io.cncf.notary.expiry\" must be listed in \"crit\"".into());
    }
    let time = |key: &str| -> Result<Option<i64>, String> {
        match text(key) {
            None => Ok(None),
            Some(value) => {
                parse_rfc3339(value).map(Some).ok_or_else(|| format!("\"{key}\" is no RFC 3339 time: {value}"))
            }
        }
    };
    let signing_time = match scheme {
        SCHEME_X509 => time("io.cncf.notary.signingTime")?.ok_or("\"io.cncf.notary.signingTime\" is missing")?,
        SCHEME_SIGNING_AUTHORITY => {
            if !crit.contains(&"io.cncf.notary.authenticSigningTime") {
                return Err("\"io.cncf.notary.authenticSigningTime\" must be listed in \"crit\"".into());
            }
            time("io.cncf.notary.authenticSigningTime")?.ok_or("\"io.cncf.notary.authenticSigningTime\" is missing")?
        }
        other => return Err(format!("signing scheme \"{other}\" is not supported")),
    };
    let expiry = time("io.cncf.notary.expiry")?;

    // The chain: leaf first, each certificate signed by the next, a root last.
    if jws.header.x5c.is_empty() {
        return Err("the signature has no certificate chain (x5c)".into());
    }
    let chain: Vec<Vec<u8>> = jws
        .header
        .x5c
        .iter()
        .map(|c| b64.decode(c).map_err(|e| format!("x5c certificate is no base64: {e}")))
        .collect::<Result<_, _>>()?;
    let certs: Vec<X509Certificate<'_>> = chain
        .iter()
        .map(|der| {
            X509Certificate::from_der(der).map(|(_, c)| c).map_err(|e| format!("x5c certificate does not parse: {e}"))
        })
        .collect::<Result<_, _>>()?;
    verify_chain(&certs)?;

    // The signature, with the algorithm the signer's key implies.
    let leaf = &certs[0];
    let (expected_alg, algorithm) = key_algorithm(leaf)?;
    if alg != expected_alg {
        return Err(format!(
            "signature algorithm \"{alg}\" does not match the signing key, which implies \"{expected_alg}\""
        ));
    }
    let signature = b64url.decode(&jws.signature).map_err(|e| format!("signature is no base64url: {e}"))?;
    let input = format!("{}.{}", jws.protected, jws.payload);
    UnparsedPublicKey::new(algorithm, leaf.public_key().subject_public_key.data.as_ref())
        .verify(input.as_bytes(), &signature)
        .map_err(|_| "signature is invalid: it does not verify with the signing certificate's key".to_string())?;

    // The payload names the artifact.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Payload {
        target_artifact: Descriptor,
    }
    let payload_raw = b64url.decode(&jws.payload).map_err(|e| format!("payload is no base64url: {e}"))?;
    let payload: Payload = serde_json::from_slice(&payload_raw).map_err(|e| format!("payload does not parse: {e}"))?;
    let signed = &payload.target_artifact;
    if signed.digest != target.digest || signed.media_type != target.media_type || signed.size != target.size {
        return Err(format!(
            "the signature is for {} ({}, {} bytes), not for {} ({}, {} bytes)",
            signed.digest, signed.media_type, signed.size, target.digest, target.media_type, target.size
        ));
    }
    Ok(Signed {
        chain,
        scheme: scheme.to_string(),
        signing_time,
        expiry,
        has_timestamp: jws.header.timestamp_signature.is_some(),
    })
}

/// The certificate chain requirements of the Notary Project signature
/// specification: each certificate signed by the next, the last
/// self-signed, issuers CAs that may sign certificates, the leaf a code
/// signing certificate.
fn verify_chain(certs: &[X509Certificate<'_>]) -> Result<(), String> {
    for (i, cert) in certs.iter().enumerate() {
        let issuer = certs.get(i + 1).unwrap_or(cert);
        if cert.issuer() != issuer.subject() {
            return Err(format!(
                "certificate chain is not ordered: \"{}\" is not issued by \"{}\"",
                subject_string(cert),
                subject_string(issuer)
            ));
        }
        cert.verify_signature(Some(issuer.public_key())).map_err(|e| {
            format!("certificate \"{}\" is not signed by \"{}\": {e}", subject_string(cert), subject_string(issuer))
        })?;
        if i > 0 {
            let ca = cert.basic_constraints().ok().flatten().is_some_and(|b| b.value.ca);
            let signs = cert.key_usage().ok().flatten().is_none_or(|k| k.value.key_cert_sign());
            if !ca || !signs {
                return Err(format!("certificate \"{}\" is no CA that may sign certificates", subject_string(cert)));
            }
        }
    }
    let leaf = &certs[0];
    if leaf.basic_constraints().ok().flatten().is_some_and(|b| b.value.ca) && certs.len() > 1 {
        return Err(format!("signing certificate \"{}\" is a CA certificate", subject_string(leaf)));
    }
    let usage = leaf.key_usage().map_err(|e| e.to_string())?;
    if !usage.is_some_and(|k| k.value.digital_signature()) {
        return Err(format!("signing certificate \"{}\" has no digitalSignature key usage", subject_string(leaf)));
    }
    if let Some(eku) = leaf.extended_key_usage().map_err(|e| e.to_string())?
        && !eku.value.code_signing
    {
        return Err(format!("signing certificate \"{}\" has no codeSigning extended key usage", subject_string(leaf)));
    }
    Ok(())
}

/// The JWS `alg` the signer's key implies, and ring's verification of it.
fn key_algorithm(
    cert: &X509Certificate<'_>,
) -> Result<(&'static str, &'static dyn sig::VerificationAlgorithm), String> {
    use x509_parser::public_key::PublicKey;
    let spki = cert.public_key();
    match spki.parsed().map_err(|e| format!("signing key does not parse: {e}"))? {
        PublicKey::RSA(rsa) => match rsa.key_size() {
            2048 => Ok(("PS256", &sig::RSA_PSS_2048_8192_SHA256)),
            3072 => Ok(("PS384", &sig::RSA_PSS_2048_8192_SHA384)),
            4096 => Ok(("PS512", &sig::RSA_PSS_2048_8192_SHA512)),
            bits => Err(format!("RSA key size {bits} bits is not supported")),
        },
        PublicKey::EC(_) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string())
                .unwrap_or_default();
            match curve.as_str() {
                "1.2.840.10045.3.1.7" => Ok(("ES256", &sig::ECDSA_P256_SHA256_FIXED)),
                "1.3.132.0.34" => Ok(("ES384", &sig::ECDSA_P384_SHA384_FIXED)),
                "1.3.132.0.35" => Err("ECDSA P-521 (ES512) signatures are not supported by Ferry".into()),
                other => Err(format!("EC curve {other} is not supported")),
            }
        }
        _ => Err("the signing key is neither RSA nor ECDSA".into()),
    }
}

/// Whether the leaf's subject matches one of the statement's trusted identities.
fn trusted_identity(statement: &TrustPolicy, leaf: &X509Certificate<'_>) -> Result<(), String> {
    if statement.trusted_identities.iter().any(|i| i == "*") {
        return Ok(());
    }
    let subject = subject_map(leaf);
    for identity in &statement.trusted_identities {
        let Some(("x509.subject", dn)) = identity.split_once(':') else { continue };
        let wanted = parse_dn(dn)?;
        if wanted.iter().all(|(k, v)| subject.get(k) == Some(v)) {
            return Ok(());
        }
    }
    Err(format!(
        "signing certificate from the digital signature does not match the X.509 trusted identities {:?} defined in the trust policy \"{}\"",
        statement.trusted_identities, statement.name
    ))
}

/// A certificate's subject as attribute → value.
fn subject_map(cert: &X509Certificate<'_>) -> BTreeMap<String, String> {
    cert.subject()
        .iter_attributes()
        .map(|a| (attribute_name(&a.attr_type().to_id_string()), a.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// A certificate's subject for messages.
fn subject_string(cert: &X509Certificate<'_>) -> String {
    subject_map(cert).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// Whether the certificate names OCSP responders or CRL distribution points.
fn has_revocation_endpoints(cert: &X509Certificate<'_>) -> bool {
    cert.iter_extensions().any(|ext| match ext.parsed_extension() {
        ParsedExtension::CRLDistributionPoints(points) => !points.points.is_empty(),
        ParsedExtension::AuthorityInfoAccess(aia) => {
            aia.iter().any(|d| d.access_method.to_id_string() == "1.3.6.1.5.5.7.48.1")
        }
        _ => false,
    })
}

/// The DER certificates of PEM text, else the data as one DER certificate.
fn pem_or_der(data: &[u8]) -> Vec<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(data) else { return vec![data.to_vec()] };
    if !text.contains("-----BEGIN") {
        return vec![data.to_vec()];
    }
    let mut ders = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            if let Some(b) = body.take()
                && let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b)
            {
                ders.push(der);
            }
        } else if let Some(b) = &mut body {
            b.push_str(line);
        }
    }
    ders
}

/// Seconds since the epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// An RFC 3339 time as seconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = text.get(19..)?;
    if let Some(after) = rest.strip_prefix('.') {
        let n = after.bytes().take_while(u8::is_ascii_digit).count();
        rest = &after[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            sign * (rest.get(1..3)?.parse::<i64>().ok()? * 3600 + rest.get(4..6)?.parse::<i64>().ok()? * 60)
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset)
}

/// Days since the epoch of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, mo: i64, d: i64) -> i64 {
    let (y, m) = if mo <= 2 { (y - 1, mo + 9) } else { (y, mo - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch as RFC 3339 (UTC).
pub fn rfc3339(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Pushes a signature manifest holding `envelope` (of `envelope_type`)
/// for `subject`, and adds it to the referrers tag index
/// (`sha256-<hex>`), as notation does on a registry without the referrers
/// API. Returns the signature manifest's digest.
pub async fn push_signature(
    client: &Client,
    subject: &Descriptor,
    envelope: Vec<u8>,
    envelope_type: &str,
    annotations: BTreeMap<String, String>,
) -> Result<String, ClientError> {
    let empty = Bytes::from_static(b"{}");
    let config_digest = client.push_blob(empty.clone()).await?;
    let size = envelope.len() as u64;
    let layer_digest = client.push_blob(Bytes::from(envelope)).await?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "artifactType": SIGNATURE_ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_CONFIG_MEDIA_TYPE, "digest": config_digest, "size": 2},
        "layers": [{"mediaType": envelope_type, "digest": layer_digest, "size": size}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
        "annotations": annotations,
    });
    let bytes = Bytes::from(serde_json::to_vec(&manifest).map_err(|source| ClientError::Manifest { source })?);
    let manifest_size = bytes.len() as u64;
    let digest = client.push_manifest(&bytes_digest(&bytes), bytes, media_type::OCI_MANIFEST).await?;
    let tag = subject.digest.replace(':', "-");
    let mut entries: Vec<serde_json::Value> = match client.manifest_bytes(&tag).await {
        Ok((_, body, _)) => serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("manifests").and_then(|m| m.as_array()).cloned())
            .unwrap_or_default(),
        Err(error) if error.is_not_found() => Vec::new(),
        Err(error) => return Err(error),
    };
    entries.push(serde_json::json!({
        "mediaType": media_type::OCI_MANIFEST, "digest": digest, "size": manifest_size,
        "artifactType": SIGNATURE_ARTIFACT_TYPE,
    }));
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": entries});
    let index = Bytes::from(serde_json::to_vec(&index).map_err(|source| ClientError::Manifest { source })?);
    client.push_manifest(&tag, index, media_type::OCI_INDEX).await?;
    Ok(digest)
}

/// The digest of bytes about to be pushed by digest.
fn bytes_digest(bytes: &[u8]) -> String {
    crate::digest(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(level: &str, extra: &str) -> Vec<u8> {
        format!(
            r#"{{"version":"1.0","trustPolicies":[{{"name":"p","registryScopes":["*"],"signatureVerification":{{"level":"{level}"{extra}}},"trustStores":["ca:flux"],"trustedIdentities":["*"]}}]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn levels_and_overrides_set_each_check() {
        let doc = TrustPolicyDocument::parse(&policy("permissive", r#","override":{"revocation":"skip"}"#)).unwrap();
        let level = Level::of(&doc.trust_policies[0].signature_verification).unwrap();
        assert_eq!(level.action(Check::Integrity), Action::Enforce);
        assert_eq!(level.action(Check::Authenticity), Action::Enforce);
        assert_eq!(level.action(Check::Expiry), Action::Log);
        assert_eq!(level.action(Check::Revocation), Action::Skip);
        let audit = Level::of(
            &TrustPolicyDocument::parse(&policy("audit", "")).unwrap().trust_policies[0].signature_verification,
        )
        .unwrap();
        assert_eq!(audit.action(Check::Authenticity), Action::Log);
        assert!(TrustPolicyDocument::parse(&policy("strict", r#","override":{"integrity":"log"}"#)).is_err());
        assert!(TrustPolicyDocument::parse(&policy("lenient", "")).is_err());
    }

    #[test]
    fn policies_are_validated_and_selected_by_scope() {
        let doc = TrustPolicyDocument::parse(
            br#"{"version":"1.0","trustPolicies":[
              {"name":"app","registryScopes":["r.io/org/app"],"signatureVerification":{"level":"strict"},"trustStores":["ca:a"],"trustedIdentities":["x509.subject: C=US, S=WA, O=Acme\\, Inc."]},
              {"name":"rest","registryScopes":["*"],"signatureVerification":{"level":"skip"},"trustStores":["ca:a"],"trustedIdentities":["*"]}]}"#,
        )
        .unwrap();
        assert_eq!(doc.statement("r.io/org/app").unwrap().name, "app");
        assert_eq!(doc.statement("r.io/org/other").unwrap().name, "rest");
        assert!(doc.trust_policies[1].trust_stores.is_empty(), "skip statements are cleaned as Flux cleans them");
        let dn = parse_dn(" C=US, S=WA, O=Acme\\, Inc.").unwrap();
        assert_eq!(dn.get("ST").map(String::as_str), Some("WA"));
        assert_eq!(dn.get("O").map(String::as_str), Some("Acme, Inc."));
        let missing = br#"{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["r.io/a"],"signatureVerification":{"level":"strict"},"trustStores":["ca:a"],"trustedIdentities":["x509.subject: CN=x"]}]}"#;
        assert!(TrustPolicyDocument::parse(missing).unwrap_err().to_string().contains("mandatory"));
        let twice = br#"{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"skip"}},{"name":"b","registryScopes":["*"],"signatureVerification":{"level":"skip"}}]}"#;
        assert!(TrustPolicyDocument::parse(twice).is_err());
        let only = TrustPolicyDocument::parse(br#"{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["r.io/a"],"signatureVerification":{"level":"skip"}}]}"#).unwrap();
        assert!(matches!(only.statement("r.io/b"), Err(Error::NoPolicy(_))));
    }

    #[test]
    fn times_round_trip() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Some(1));
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00+02:00"), Some(1_709_200_800));
        assert_eq!(rfc3339(1_709_200_800), "2024-02-29T10:00:00Z");
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
