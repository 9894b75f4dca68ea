//! The HTTP client the SDK uses for artifacts and event webhooks.

use std::time::Duration;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    BuildFailed(#[source] reqwest::Error),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Installs rustls' ring crypto provider as the process default, once.
/// reqwest and kube both take their TLS crypto from it.
pub fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client with `timeout` per request and the process's TLS setup.
pub fn client(timeout: Duration) -> Result<reqwest::Client> {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("ferry-sdk/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(Error::BuildFailed)
}
