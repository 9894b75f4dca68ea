use ferry_api_meta::LocalObjectReference;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The tool that signed an OCI artifact or chart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerificationProvider {
    /// Sigstore's cosign.
    #[default]
    Cosign,
    /// The Notary project's notation.
    Notation,
}

/// An OIDC identity a keyless cosign signature must come from; both fields are regular
/// expressions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OidcIdentityMatch {
    /// A regular expression the OIDC issuer must match.
    pub issuer: String,

    /// A regular expression the identity (subject) must match.
    pub subject: String,
}

/// How to verify the signature of a chart pulled from an OCI registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OciChartVerification {
    /// The signing tool.
    #[schemars(extend("default" = "cosign"))]
    pub provider: VerificationProvider,

    /// A Secret with the public keys (cosign) or certificates and trust policy (notation);
    /// without it, cosign verifies keyless signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,

    /// The OIDC identities accepted for keyless signatures; any of them may match.
    #[serde(default, rename = "matchOIDCIdentity", skip_serializing_if = "Option::is_none")]
    pub match_oidc_identity: Option<Vec<OidcIdentityMatch>>,
}

/// How to verify the signature of an OCI artifact.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OciRepositoryVerification {
    /// The signing tool.
    #[schemars(extend("default" = "cosign"))]
    pub provider: VerificationProvider,

    /// A Secret with the public keys (cosign) or certificates and trust policy (notation);
    /// without it, cosign verifies keyless signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,

    /// The OIDC identities accepted for keyless signatures; any of them may match.
    #[serde(default, rename = "matchOIDCIdentity", skip_serializing_if = "Option::is_none")]
    pub match_oidc_identity: Option<Vec<OidcIdentityMatch>>,

    /// A Secret with a Sigstore trusted root, for private Sigstore deployments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root_secret_ref: Option<LocalObjectReference>,
}
