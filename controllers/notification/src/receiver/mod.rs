//! The Receiver: its reconciler publishes `status.webhookPath`, derived from
//! the token in its Secret; [`server`] answers the webhook calls.
//!
//! Steps of a reconcile, in order:
//! 1. [`ReceiverReconciler::reconcile_spec`]: refuses what Ferry cannot
//!    serve (ValidationFailed, stalled);
//! 2. [`ReceiverReconciler::reconcile_token`]: reads the token
//!    (TokenNotFound) and sets the webhook path; Ready=True `Succeeded`.

mod error;
pub mod server;
pub mod trigger;
pub mod verify;

use ferry_api_notification::{RECEIVER_WEBHOOK_PATH, Receiver, ReceiverStatus};
use ferry_sdk::reconcile::{Context, Controller, Outcome, Reconciler};
use kube::ResourceExt;
use sha2::{Digest, Sha256};

pub use error::{Error, Result};

/// The path a Receiver is served at, as Flux computes it:
/// `/hook/` and the hex SHA-256 of the token, name and namespace.
pub fn webhook_path(token: &str, name: &str, namespace: &str) -> String {
    let digest = Sha256::digest(format!("{token}{name}{namespace}").as_bytes());
    format!("{RECEIVER_WEBHOOK_PATH}{}", hex::encode(digest))
}

/// Reconciles Receivers.
#[derive(Debug, Default)]
pub struct ReceiverReconciler;

impl ReceiverReconciler {
    /// A Receiver reconciler.
    pub fn new() -> Self {
        Self
    }

    /// Refuses receiver types and fields Ferry has no implementation of, so
    /// that a Receiver never silently accepts calls it cannot check.
    ///
    /// Conditions: none; the error sets Ready=False ValidationFailed.
    fn reconcile_spec(&self, object: &Receiver) -> Result<()> {
        if !verify::SUPPORTED.contains(&object.spec.type_.as_str()) {
            return Err(Error::Unsupported(format!(
                "receiver type '{}' is not supported by Ferry; supported types: {}",
                object.spec.type_,
                verify::SUPPORTED.join(", ")
            )));
        }
        if object.spec.resource_filter.as_deref().is_some_and(|f| !f.is_empty())
            || object.spec.resources.iter().any(|r| r.filter.as_deref().is_some_and(|f| !f.is_empty()))
        {
            return Err(Error::Unsupported(
                "CEL resource filters (spec.resourceFilter, spec.resources[].filter) are not supported by Ferry".into(),
            ));
        }
        if object.spec.secret_ref.is_none() {
            return Err(Error::Unsupported("spec.secretRef is required".into()));
        }
        Ok(())
    }

    /// Reads the token and computes the webhook path; on failure the path is
    /// cleared, as Flux does.
    ///
    /// Conditions: Ready (through the outcome or the error).
    async fn reconcile_token(&self, ctx: &Context, object: &Receiver, status: &mut ReceiverStatus) -> Result<String> {
        let namespace = object.namespace().unwrap_or_default();
        let result = read_token(ctx.client(), object).await;
        match result {
            Ok(token) => {
                let path = webhook_path(&token, &object.name_any(), &namespace);
                if status.webhook_path.as_deref() != Some(path.as_str()) {
                    tracing::info!(receiver = %object.name_any(), "Receiver initialized for path: {path}");
                }
                status.webhook_path = Some(path.clone());
                Ok(path)
            }
            Err(error) => {
                status.webhook_path = None;
                Err(error)
            }
        }
    }
}

/// The `token` of the Receiver's Secret.
pub async fn read_token(client: &kube::Client, object: &Receiver) -> Result<String> {
    let namespace = object.namespace().unwrap_or_default();
    let name = object.spec.secret_ref.as_ref().map(|r| r.name.clone()).unwrap_or_default();
    let secret = format!("{namespace}/{name}");
    let data = ferry_sdk::secret::read(client, &namespace, &name)
        .await
        .map_err(|source| Error::TokenSecret { secret: secret.clone(), source })?;
    let token = data.get("token").ok_or(Error::TokenMissing { secret })?;
    Ok(String::from_utf8_lossy(token).into_owned())
}

impl Reconciler for ReceiverReconciler {
    type Object = Receiver;
    type Error = Error;

    async fn reconcile(&self, object: &Receiver, status: &mut ReceiverStatus, ctx: &Context) -> Result<Outcome> {
        self.reconcile_spec(object)?;
        let path = self.reconcile_token(ctx, object, status).await?;
        Ok(Outcome::ready(format!("Receiver initialized for path: {path}")).quiet())
    }

    async fn cleanup(&self, _: &Receiver, _: &Context) -> Result<()> {
        Ok(())
    }
}

/// The Receiver controller's watches: the labelled Secrets holding tokens.
pub fn watches(controller: Controller<ReceiverReconciler>) -> Controller<ReceiverReconciler> {
    controller.watch_secrets(|r: &Receiver| r.spec.secret_ref.iter().map(|s| s.name.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest is Flux's: sha256 over token, name and namespace, in that order.
    #[test]
    fn webhook_path_is_fluxs_digest() {
        let expected = hex::encode(Sha256::digest(b"s3cr3tpodinfoflux-system"));
        assert_eq!(webhook_path("s3cr3t", "podinfo", "flux-system"), format!("/hook/{expected}"));
        assert_ne!(webhook_path("s3cr3t", "podinfo", "flux-system"), webhook_path("s3cr3t", "podinfo", "default"));
    }
}
