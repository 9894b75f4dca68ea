//! The webhook receiver (`--receiverAddr`, `:9292`): finds the Receiver
//! whose `status.webhookPath` is the request's path, verifies the call as
//! its type says and annotates its resources.
//!
//! Answers as Flux's: 404 for an unknown path, 503 while the Receiver is
//! suspended or not ready, 413 for a body over 3 MiB, 400 for a call that
//! is authentic but not acceptable, 500 when annotating failed, 200 when
//! done. A signature or token that does not match gets 401 (Flux answers
//! 400 there too), and triggers nothing.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::any;
use bytes::Bytes;
use ferry_api_meta::conditions::READY;
use ferry_api_notification::Receiver;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::{trigger, verify};

/// The largest body accepted, as Flux's 3 MiB.
pub const MAX_REQUEST_SIZE_BYTES: usize = 3 * 1024 * 1024;

/// Serves the Receivers' webhooks.
#[derive(Clone)]
pub struct ReceiverServer {
    inner: Arc<Inner>,
}

struct Inner {
    client: kube::Client,
    no_cross_namespace_refs: bool,
}

impl ReceiverServer {
    /// A server reading Receivers and annotating resources with `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { inner: Arc::new(Inner { client, no_cross_namespace_refs: false }) }
    }

    /// Refuses resources in other namespaces than the Receiver's.
    pub fn with_no_cross_namespace_refs(self, no_cross_namespace_refs: bool) -> Self {
        Self { inner: Arc::new(Inner { client: self.inner.client.clone(), no_cross_namespace_refs }) }
    }

    /// The routes: `/hook/<digest>`.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/hook/{digest}", any(handle))
            .layer(DefaultBodyLimit::max(MAX_REQUEST_SIZE_BYTES))
            .with_state(self.clone())
    }
}

async fn handle(State(server): State<ReceiverServer>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    let path = uri.path();
    let receivers: Api<Receiver> = Api::all(server.inner.client.clone());
    let list = match receivers.list(&ListParams::default()).await {
        Ok(list) => list,
        Err(err) => {
            tracing::error!(%err, "unable to list receivers");
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
    };
    let Some(receiver) =
        list.items.into_iter().find(|r| r.status.as_ref().and_then(|s| s.webhook_path.as_deref()) == Some(path))
    else {
        return StatusCode::NOT_FOUND;
    };
    let (name, namespace) = (receiver.name_any(), receiver.namespace().unwrap_or_default());
    let ready = receiver
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == READY && c.status == ferry_api_meta::ConditionStatus::True));
    if receiver.spec.suspend.unwrap_or(false) || !ready {
        tracing::error!(%name, %namespace, suspended = receiver.spec.suspend.unwrap_or(false), "unable to process request");
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let token = match super::read_token(&server.inner.client, &receiver).await {
        Ok(token) => token,
        Err(err) => {
            tracing::error!(%name, %namespace, %err, "unable to validate payload");
            return StatusCode::BAD_REQUEST;
        }
    };
    let events = receiver.spec.events.clone().unwrap_or_default();
    if let Err(err) = verify::verify(&receiver.spec.type_, &token, &events, &headers, &body) {
        tracing::error!(%name, %namespace, %err, "unable to validate payload");
        return match err {
            verify::Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            verify::Error::Rejected(_) => StatusCode::BAD_REQUEST,
        };
    }
    tracing::info!(%name, %namespace, kind = %receiver.spec.type_, "handling webhook call");
    let mut failed = false;
    for resource in &receiver.spec.resources {
        let result = trigger::request_reconciliation(
            &server.inner.client,
            &resource.reference,
            &namespace,
            server.inner.no_cross_namespace_refs,
        )
        .await;
        if let Err(err) = result {
            tracing::error!(%name, %namespace, %err, "unable to request reconciliation");
            failed = true;
        }
    }
    if failed { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
}
