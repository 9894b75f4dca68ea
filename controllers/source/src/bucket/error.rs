//! Why a Bucket reconcile failed: each variant is made where the failure
//! happens, carries Flux's reason for it and keeps its cause.

use ferry_api_meta::conditions as cond;
use ferry_api_source::{BUCKET_OPERATION_FAILED_REASON, INVALID_STS_CONFIGURATION_REASON};
use ferry_sdk::artifact::store::StorageError;
use ferry_sdk::{ErrorClass, ReconcileError};

use crate::helmrepository::auth;

/// What went wrong reconciling a Bucket.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `spec.timeout` is no Go duration; no retry helps.
    #[error("invalid timeout '{value}': {source}")]
    InvalidTimeout {
        /// `spec.timeout`.
        value: String,
        /// Why it does not parse.
        source: ferry_api_meta::duration::DurationError,
    },
    /// `serviceAccountName` with a cloud provider: object-level workload
    /// identity, behind a feature gate Flux leaves off by default and
    /// Ferry does not have.
    #[error(
        "to use spec.serviceAccountName for provider authentication please enable the ObjectLevelWorkloadIdentity feature gate in the controller"
    )]
    FeatureGate,
    /// A referenced Secret does not exist or could not be read.
    #[error("failed to get {what}secret '{namespace}/{name}': {source}")]
    Secret {
        /// `""` or `STS `.
        what: &'static str,
        /// The namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The reader's error.
        source: ferry_sdk::secret::Error,
    },
    /// The `proxySecretRef` Secret could not be read or has no address.
    #[error("failed to get proxy URL: {source}")]
    Proxy {
        /// What is wrong.
        source: ProxyError,
    },
    /// The `certSecretRef` Secret could not be read or is unusable.
    #[error("failed to get TLS config: {source}")]
    Tls {
        /// What is wrong.
        source: TlsError,
    },
    /// The `secretRef` lacks `accesskey` or `secretkey`.
    #[error("invalid '{name}' secret data: required fields 'accesskey' and 'secretkey'")]
    InvalidSecret {
        /// The Secret's name.
        name: String,
    },
    /// The STS configuration does not fit the provider.
    #[error("{0}")]
    InvalidSts(String),
    /// `spec.sts.endpoint` is no URL.
    #[error("failed to parse STS endpoint '{endpoint}': {source}")]
    InvalidStsEndpoint {
        /// `spec.sts.endpoint`.
        endpoint: String,
        /// The parser's error.
        source: url::ParseError,
    },
    /// The STS Secret lacks its keys.
    #[error("invalid '{name}' secret data for '{provider}' STS provider: required fields username, password")]
    InvalidStsSecret {
        /// The Secret's name.
        name: String,
        /// `spec.sts.provider`.
        provider: &'static str,
    },
    /// A valid STS configuration Ferry cannot use.
    #[error(
        "STS provider '{0}' is not supported by Ferry: it needs an identity service Ferry does not talk to; use spec.secretRef with static keys"
    )]
    StsUnsupported(&'static str),
    /// A provider whose credentials come from the cloud's identity service.
    #[error("{0}")]
    ProviderUnsupported(String),
    /// The S3 client could not be built (endpoint, TLS material, proxy).
    #[error("{source}")]
    Client {
        /// The client's error.
        source: ferry_s3::Error,
    },
    /// The existence check failed.
    #[error("failed to confirm existence of '{bucket}' bucket: {source}")]
    Exists {
        /// `spec.bucketName`.
        bucket: String,
        /// The client's error.
        source: ferry_s3::Error,
    },
    /// The bucket does not exist.
    #[error("bucket '{0}' not found")]
    NotFound(String),
    /// The root `.sourceignore` could not be read.
    #[error("failed to get Etag for '.sourceignore' object: {source}")]
    IgnoreFile {
        /// The client's error.
        source: ferry_s3::Error,
    },
    /// The ignore rules do not parse.
    #[error("{source}")]
    IgnorePattern {
        /// The parser's error.
        source: super::index::PatternError,
    },
    /// Listing the objects failed.
    #[error(
        "indexation of objects from bucket '{bucket}' failed: listing objects from bucket '{bucket}' failed: {source}"
    )]
    List {
        /// `spec.bucketName`.
        bucket: String,
        /// The client's error.
        source: ferry_s3::Error,
    },
    /// Downloading an object failed.
    #[error("fetch from bucket '{bucket}' failed: failed to get '{key}' object: {source}")]
    Get {
        /// `spec.bucketName`.
        bucket: String,
        /// The object's key.
        key: String,
        /// The client's error.
        source: ferry_s3::Error,
    },
    /// A key names no path inside the artifact.
    #[error("fetch from bucket '{bucket}' failed: failed to resolve path for '{key}' object")]
    KeyPath {
        /// `spec.bucketName`.
        bucket: String,
        /// The object's key.
        key: String,
    },
    /// `spec.timeout` passed before the bucket was read.
    #[error("{what} from bucket '{bucket}' failed: context deadline exceeded")]
    Timeout {
        /// `indexation of objects` or `fetch`.
        what: &'static str,
        /// `spec.bucketName`.
        bucket: String,
    },
    /// A storage failure: scratch space, artifact path, storing, cleanup.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why the proxy Secret is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The Secret could not be read.
    #[error("{source}")]
    Secret {
        /// The reader's error.
        source: ferry_sdk::secret::Error,
    },
    /// The Secret has no usable address.
    #[error("{source}")]
    Address {
        /// What is wrong.
        source: crate::gitrepository::auth::Error,
    },
}

/// Why the TLS Secret is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The Secret could not be read.
    #[error("{source}")]
    Secret {
        /// The reader's error.
        source: ferry_sdk::secret::Error,
    },
    /// Its keys are missing or malformed.
    #[error("{source}")]
    Material {
        /// What is wrong.
        source: auth::Error,
    },
}

impl Error {
    /// The condition the error belongs on.
    pub fn condition(&self) -> &'static str {
        match self {
            Self::Storage(_) => cond::STORAGE_OPERATION_FAILED,
            _ => cond::FETCH_FAILED,
        }
    }
}

impl ReconcileError for Error {
    fn reason(&self) -> &str {
        match self {
            Self::InvalidTimeout { .. } => crate::gitrepository::INVALID_TIMEOUT,
            Self::FeatureGate => cond::FEATURE_GATE_DISABLED,
            Self::InvalidSts(_) | Self::StsUnsupported(_) => INVALID_STS_CONFIGURATION_REASON,
            Self::InvalidStsEndpoint { .. } => cond::URL_INVALID,
            Self::Secret { .. }
            | Self::Proxy { .. }
            | Self::Tls { .. }
            | Self::InvalidSecret { .. }
            | Self::InvalidStsSecret { .. }
            | Self::ProviderUnsupported(_)
            | Self::Client { .. } => cond::AUTHENTICATION_FAILED,
            Self::Exists { .. }
            | Self::NotFound(_)
            | Self::IgnoreFile { .. }
            | Self::IgnorePattern { .. }
            | Self::List { .. }
            | Self::Get { .. }
            | Self::KeyPath { .. }
            | Self::Timeout { .. } => BUCKET_OPERATION_FAILED_REASON,
            Self::Storage(error) => error.reason(),
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            // Spec problems and features Ferry lacks: no retry helps until the spec changes.
            Self::InvalidTimeout { .. }
            | Self::FeatureGate
            | Self::InvalidSts(_)
            | Self::InvalidStsEndpoint { .. }
            | Self::StsUnsupported(_)
            | Self::ProviderUnsupported(_)
            | Self::Client { source: ferry_s3::Error::InvalidEndpoint { .. } } => ErrorClass::Stalled,
            _ => ErrorClass::Transient,
        }
    }
}
