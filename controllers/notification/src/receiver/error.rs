//! Why a Receiver reconcile failed: each variant carries Flux's reason and
//! keeps its cause.

use ferry_api_notification::{TOKEN_NOT_FOUND_REASON, VALIDATION_FAILED_REASON};
use ferry_sdk::error::{ErrorClass, ReconcileError};

/// Why a Receiver reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Secret with the token could not be read.
    #[error("unable to read token from secret '{secret}' error: {source}")]
    TokenSecret {
        /// `<namespace>/<name>`.
        secret: String,
        /// The cause.
        #[source]
        source: ferry_sdk::secret::Error,
    },
    /// The Secret has no `token` key.
    #[error("invalid '{secret}' secret data: required fields 'token'")]
    TokenMissing {
        /// `<namespace>/<name>`.
        secret: String,
    },
    /// The spec asks for what Ferry cannot do (a receiver type or a CEL
    /// filter it has no implementation of): refused, never ignored.
    #[error("{0}")]
    Unsupported(String),
}

impl ReconcileError for Error {
    fn reason(&self) -> &str {
        match self {
            Self::TokenSecret { .. } | Self::TokenMissing { .. } => TOKEN_NOT_FOUND_REASON,
            Self::Unsupported(_) => VALIDATION_FAILED_REASON,
        }
    }

    fn class(&self) -> ErrorClass {
        match self {
            Self::Unsupported(_) => ErrorClass::Stalled,
            _ => ErrorClass::Transient,
        }
    }
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
