//! What can go wrong talking to a registry.

/// An error of the OCI client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address is no `oci://host/path` (or `host/path`) reference.
    #[error("invalid OCI reference '{reference}': {reason}")]
    InvalidReference {
        /// The text given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built (a bad certificate, say).
    #[error("failed to build the HTTP client: {source}")]
    Client {
        /// reqwest's error.
        source: reqwest::Error,
    },
    /// A request could not be sent or its body read (connection, TLS,
    /// timeout).
    #[error("{method} {url}: {source}")]
    Request {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// reqwest's error.
        source: reqwest::Error,
    },
    /// The registry refused the credentials, or asked for some and none
    /// were given.
    #[error("{method} {url}: unauthorized: status {status}{detail}")]
    Unauthorized {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// The registry's error body, `: <text>` when there is one.
        detail: String,
    },
    /// The manifest or blob does not exist.
    #[error("{method} {url}: not found: {what}")]
    NotFound {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// What was looked for.
        what: String,
    },
    /// Any other unexpected status.
    #[error("{method} {url}: unexpected status {status}{detail}")]
    Status {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The registry's error body, `: <text>` when there is one.
        detail: String,
    },
    /// The token service's answer could not be used.
    #[error("failed to get a token from {realm}: {reason}")]
    Token {
        /// The token service.
        realm: String,
        /// Why.
        reason: String,
    },
    /// The registry's answer is not what the API promises (JSON, digest).
    #[error("invalid response from {url}: {reason}")]
    InvalidResponse {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The content is larger than allowed.
    #[error("{what} from {url} exceeds the limit of {max} bytes")]
    TooLarge {
        /// What was downloaded.
        what: &'static str,
        /// The URL.
        url: String,
        /// The limit.
        max: u64,
    },
    /// The content does not have the digest it was asked for.
    #[error("digest mismatch for {url}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The URL.
        url: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what came.
        actual: String,
    },
    /// The manifest is no JSON OCI manifest.
    #[error("invalid manifest: {source}")]
    Manifest {
        /// serde's error.
        source: serde_json::Error,
    },
    /// The manifest has a media type this client does not handle (an index).
    #[error("unsupported manifest media type '{0}'")]
    UnsupportedManifest(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the registry refused or asked for credentials.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized { .. })
    }

    /// True when the manifest or blob does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}
