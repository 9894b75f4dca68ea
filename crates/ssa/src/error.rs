//! Errors of the resource manager, named after the action that failed; each message names the
//! object the way Flux does (`Deployment/apps/web dry-run failed (Invalid): ...`).

use std::time::Duration;

/// Why applying, deleting or waiting failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object lacks what every Kubernetes object has (apiVersion, kind, name) or is not
    /// JSON the manager can handle.
    #[error("{subject} is not a valid object: {reason}")]
    InvalidObject {
        /// The object.
        subject: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The cluster does not serve the object's kind (and no CRD in the same set defines it).
    #[error("{subject} dry-run failed: no matches for kind \"{kind}\" in version \"{api_version}\"")]
    NoMatch {
        /// The object.
        subject: String,
        /// Its kind.
        kind: String,
        /// Its apiVersion.
        api_version: String,
    },

    /// Asking the API server which kinds it serves failed.
    #[error("{subject} discovery failed: {source}")]
    DiscoveryFailed {
        /// The object.
        subject: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },

    /// A namespaced object has no namespace.
    #[error("{subject} namespace not specified")]
    NamespaceNotSpecified {
        /// The object.
        subject: String,
    },

    /// Reading the live object failed.
    #[error("{subject} query failed: {source}")]
    GetFailed {
        /// The object.
        subject: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },

    /// The server-side dry-run apply was refused: the object is invalid, changes an immutable
    /// field (without force), or its namespace does not exist.
    #[error("{subject} dry-run failed{}: {message}", reason_suffix(reason))]
    DryRunFailed {
        /// The object.
        subject: String,
        /// The API server's reason (`Invalid`, `NotFound`...), empty when unknown.
        reason: String,
        /// The API server's message.
        message: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },

    /// Recreating an object whose immutable fields changed failed at the delete.
    #[error("{subject} immutable field detected, failed to delete object: {source}")]
    RecreateFailed {
        /// The object.
        subject: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },

    /// The recreated object's old copy did not go away in time.
    #[error("{subject} immutable field detected, failed to wait for object to be deleted: timeout after {timeout:?}")]
    RecreateTimeout {
        /// The object.
        subject: String,
        /// How long was waited.
        timeout: Duration,
    },

    /// Taking over kubectl's managed fields or removing its annotation failed.
    #[error("{subject} metadata.managedFields cleanup failed: {source}")]
    CleanupFailed {
        /// The object.
        subject: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },

    /// The server-side apply itself failed.
    #[error("{subject} apply failed: {source}")]
    ApplyFailed {
        /// The object.
        subject: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },

    /// One or more deletes failed; the message lists them all.
    #[error("delete failed, errors: {0}")]
    DeleteFailed(String),

    /// Objects did not become ready (or go away) in time.
    #[error("timeout waiting for: [{0}]")]
    WaitTimeout(String),

    /// An ignore rule has a bad selector or path.
    #[error("invalid ignore rule: {0}")]
    InvalidIgnoreRule(String),
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() { String::new() } else { format!(" ({reason})") }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The API status of an error, when it is one.
pub(crate) fn api_status(err: &kube::Error) -> Option<&kube::core::Status> {
    match err {
        kube::Error::Api(status) => Some(status),
        _ => None,
    }
}

/// Whether the error says the object does not exist.
pub(crate) fn is_not_found(err: &kube::Error) -> bool {
    api_status(err).is_some_and(|s| s.code == 404)
}

/// Whether a dry-run error means an immutable field changed, as kubectl and Flux detect it:
/// a Conflict or Invalid status, or a message saying so (CEL rules, webhooks).
pub(crate) fn is_immutable(err: &kube::Error) -> bool {
    if let Some(status) = api_status(err)
        && (status.code == 409 || status.code == 422 || status.reason == "Conflict" || status.reason == "Invalid")
    {
        return true;
    }
    let text = err.to_string();
    text.contains("is immutable") || text.contains("immutable field")
}

/// The dry-run error for `subject`, with the API server's reason and message.
pub(crate) fn dry_run_failed(subject: String, source: kube::Error) -> Error {
    let (reason, message) = match api_status(&source) {
        Some(status) => (status.reason.clone(), status.message.clone()),
        None => (String::new(), source.to_string()),
    };
    Error::DryRunFailed { subject, reason, message, source: source.into() }
}
