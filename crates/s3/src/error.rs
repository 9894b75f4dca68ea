//! What can go wrong talking to an S3 service.

use std::path::PathBuf;

/// The result of the client's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint is not `host[:port]`.
    #[error("Endpoint: {endpoint} {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The HTTP client could not be built (TLS material, proxy).
    #[error("failed to build the HTTP client: {source}")]
    Client {
        /// reqwest's error.
        source: reqwest::Error,
    },
    /// A request could not be sent or its body read (connection, TLS,
    /// timeout).
    #[error("{method} \"{url}\": {source}")]
    Request {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// reqwest's error.
        source: reqwest::Error,
    },
    /// The service answered with an error (boxed: errors travel by value).
    #[error(transparent)]
    Response(Box<ErrorResponse>),
    /// A listing page could not be read.
    #[error("malformed ListObjectsV2 response from bucket '{bucket}': {what}")]
    Malformed {
        /// The bucket.
        bucket: String,
        /// What was missing or wrong.
        what: &'static str,
    },
    /// A downloaded object could not be written.
    #[error("writing '{}': {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// The S3 error code (`NoSuchBucket`, `AccessDenied`, ...), when the
    /// service answered with an error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Response(response) => Some(&response.code),
            _ => None,
        }
    }

    /// Whether the error says the object does not exist (minio-go's
    /// `NoSuchKey`, which Flux's `ObjectIsNotFound` checks).
    pub fn is_not_found(&self) -> bool {
        self.code() == Some("NoSuchKey")
    }
}

/// An error answer of the service: its code and message, as minio-go's
/// `ErrorResponse` reads them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ErrorResponse {
    /// The HTTP status.
    pub status: u16,
    /// The S3 error code.
    pub code: String,
    /// The human-readable message.
    pub message: String,
    /// The region the bucket lives in, when the service said so
    /// (`x-amz-bucket-region`).
    pub region: Option<String>,
}
