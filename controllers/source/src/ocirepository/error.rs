//! Why an OCIRepository reconcile failed: each variant is made where the
//! failure happens, carries Flux's reason for it and keeps its cause.

use ferry_api_meta::conditions as cond;
use ferry_sdk::artifact::store::StorageError;
use ferry_sdk::{ErrorClass, ReconcileError};

use crate::helmrepository::auth;
pub use crate::verify::VerifyError;

/// What went wrong reconciling an OCIRepository.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `spec.url` is no `oci://` repository; no retry helps.
    #[error("URL validation failed for '{url}': {source}")]
    InvalidUrl {
        /// `spec.url`.
        url: String,
        /// Why.
        source: ferry_oci::Error,
    },
    /// `spec.timeout` is no Go duration; no retry helps.
    #[error("invalid timeout '{value}': {source}")]
    InvalidTimeout {
        /// `spec.timeout`.
        value: String,
        /// Why it does not parse.
        source: ferry_api_meta::duration::DurationError,
    },
    /// A cloud provider's workload identity was asked for; Ferry has none.
    #[error(
        "failed to get credential from {provider}: workload identity of {provider} is not supported by Ferry; use provider 'generic' with a secretRef"
    )]
    Provider {
        /// `spec.provider`.
        provider: &'static str,
    },
    /// The ServiceAccount of `spec.serviceAccountName` could not be read.
    #[error("failed to get credential: failed to get service account '{name}': {source}")]
    ServiceAccount {
        /// `<namespace>/<name>`.
        name: String,
        /// The API error.
        source: kube::Error,
    },
    /// The `proxySecretRef` Secret has no usable address.
    #[error("failed to get proxy address: {source}")]
    Proxy {
        /// What is wrong.
        source: crate::gitrepository::auth::Error,
    },
    /// A referenced Secret does not exist or could not be read.
    #[error("failed to get {what} secret '{}': {source}", source.secret())]
    Secret {
        /// `authentication` or `TLS`.
        what: &'static str,
        /// The reader's error.
        source: ferry_sdk::secret::Error,
    },
    /// The `secretRef`'s docker config is unusable.
    #[error("failed to read docker config from secret '{secret}': {source}")]
    DockerConfig {
        /// `<namespace>/<name>`.
        secret: String,
        /// Why.
        source: ferry_oci::DockerConfigError,
    },
    /// The `secretRef`'s basic auth keys, or the `certSecretRef`, are unusable.
    #[error("failed to generate transport for '{url}': {source}")]
    InvalidSecret {
        /// `spec.url`.
        url: String,
        /// What is wrong.
        source: auth::Error,
    },
    /// The registry client could not be built.
    #[error("failed to generate transport for '{url}': {source}")]
    Client {
        /// `spec.url`.
        url: String,
        /// The client's error.
        source: ferry_oci::Error,
    },
    /// `spec.ref.semverFilter` is no regular expression.
    #[error("failed to determine the artifact tag for '{url}': semverFilter '{filter}' parse error: {source}")]
    InvalidFilter {
        /// `spec.url`.
        url: String,
        /// `spec.ref.semverFilter`.
        filter: String,
        /// The regex error.
        source: regex::Error,
    },
    /// `spec.ref.semver` is no semver range.
    #[error("failed to determine the artifact tag for '{url}': semver '{semver}' parse error: {source}")]
    InvalidSemver {
        /// `spec.url`.
        url: String,
        /// `spec.ref.semver`.
        semver: String,
        /// The parser's error.
        source: ferry_semver::Error,
    },
    /// Listing the tags failed.
    #[error("failed to determine the artifact tag for '{url}': {source}")]
    ListTags {
        /// `spec.url`.
        url: String,
        /// The client's error.
        source: ferry_oci::Error,
    },
    /// No tag matches the semver range.
    #[error("failed to determine the artifact tag for '{url}': no match found for semver: {semver}")]
    NoSemverMatch {
        /// `spec.url`.
        url: String,
        /// `spec.ref.semver`.
        semver: String,
    },
    /// The manifest of the reference could not be had (missing tag,
    /// credentials, connection).
    #[error("failed to determine artifact digest: {source}")]
    Digest {
        /// The client's error.
        source: ferry_oci::Error,
    },
    /// The signature could not be verified, or verification of this kind
    /// is not supported.
    #[error("failed to verify the signature using provider '{provider}': {source}")]
    Verification {
        /// `spec.verify.provider` (with ` keyless` when no Secret).
        provider: String,
        /// Why.
        source: VerifyError,
    },
    /// The artifact has no layers, or none of the selected media type.
    #[error("{0}")]
    Layer(String),
    /// Downloading the layer failed.
    #[error("failed to pull artifact from '{url}': {source}")]
    Pull {
        /// `spec.url`.
        url: String,
        /// The client's error.
        source: ferry_oci::Error,
    },
    /// The layer is no tarball that can be extracted safely.
    #[error("failed to extract layer contents from artifact: {source}")]
    Extract {
        /// The extractor's error.
        source: ferry_sdk::artifact::Error,
    },
    /// A storage failure: scratch space, artifact path, storing, cleanup.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Error {
    /// The condition the error belongs on.
    pub fn condition(&self) -> &'static str {
        match self {
            Self::Verification { .. } => cond::SOURCE_VERIFIED,
            Self::Storage(_) => cond::STORAGE_OPERATION_FAILED,
            _ => cond::FETCH_FAILED,
        }
    }
}

impl ReconcileError for Error {
    fn reason(&self) -> &str {
        match self {
            Self::InvalidUrl { .. } => cond::URL_INVALID,
            Self::InvalidTimeout { .. } => crate::gitrepository::INVALID_TIMEOUT,
            Self::Provider { .. }
            | Self::ServiceAccount { .. }
            | Self::Proxy { .. }
            | Self::Secret { .. }
            | Self::DockerConfig { .. }
            | Self::InvalidSecret { .. }
            | Self::Client { .. } => cond::AUTHENTICATION_FAILED,
            Self::InvalidFilter { .. }
            | Self::InvalidSemver { .. }
            | Self::ListTags { .. }
            | Self::NoSemverMatch { .. } => cond::READ_OPERATION_FAILED,
            Self::Digest { .. } | Self::Pull { .. } => cond::OCI_ARTIFACT_PULL_FAILED,
            Self::Verification { .. } => cond::VERIFICATION_ERROR,
            Self::Layer(_) | Self::Extract { .. } => cond::OCI_ARTIFACT_LAYER_OPERATION_FAILED,
            Self::Storage(error) => error.reason(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            // Spec problems and features Ferry lacks: no retry helps until the spec changes.
            Self::InvalidUrl { .. }
            | Self::InvalidTimeout { .. }
            | Self::Provider { .. }
            | Self::InvalidFilter { .. }
            | Self::InvalidSemver { .. } => ErrorClass::Stalled,
            Self::Verification { source, .. } if source.is_stalling() => ErrorClass::Stalled,
            _ => ErrorClass::Transient,
        }
    }
}
