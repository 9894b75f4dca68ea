//! Reading the Secrets a spec references (`secretRef`, `certSecretRef`,
//! `proxySecretRef`, decryption keys, kubeconfigs): the one place Ferry
//! reads credentials, so every controller treats them alike.
//!
//! Only `data` is read, as the API server stores it (`stringData` is a
//! write-only convenience the server folds into `data`); values are bytes,
//! never logged, and errors name the Secret but never print its content.
//! Callers wrap [`Error`] with their own context and Flux's reason, keeping
//! it as the cause.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

/// The keys and values of a Secret's `data`.
pub type Data = BTreeMap<String, Vec<u8>>;

/// Why a referenced Secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Secret does not exist. Worded as the API server words it, which
    /// is what Flux's messages carry.
    #[error("secrets \"{name}\" not found")]
    NotFound {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
    },
    /// The API server refused or failed the read (RBAC, connection).
    #[error("{source}")]
    Read {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The API error (boxed: it is large, and errors travel by value).
        source: Box<kube::Error>,
    },
}

impl Error {
    /// `<namespace>/<name>` of the Secret, for the caller's message.
    pub fn secret(&self) -> String {
        match self {
            Self::NotFound { namespace, name } | Self::Read { namespace, name, .. } => format!("{namespace}/{name}"),
        }
    }
}

/// Reads the Secret `namespace/name`; a missing one is [`Error::NotFound`].
pub async fn read(client: &Client, namespace: &str, name: &str) -> Result<Data, Error> {
    read_opt(client, namespace, name)
        .await?
        .ok_or_else(|| Error::NotFound { namespace: namespace.to_string(), name: name.to_string() })
}

/// Reads the Secret `namespace/name`, or `None` when it does not exist (for
/// references marked `optional`).
pub async fn read_opt(client: &Client, namespace: &str, name: &str) -> Result<Option<Data>, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(secret) => Ok(secret.map(|s| s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect())),
        Err(source) => {
            Err(Error::Read { namespace: namespace.to_string(), name: name.to_string(), source: Box::new(source) })
        }
    }
}
