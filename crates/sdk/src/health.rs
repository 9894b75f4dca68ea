//! `/healthz` and `/readyz` on `--health-addr`. Ready means the caches are
//! synced (and, with leader election, does not depend on being leader, so
//! standbys stay in the Service).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

pub use crate::metrics::Error;

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The process's health: live while it runs, ready once marked so.
#[derive(Debug, Clone, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    /// Not ready yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the process ready (caches synced) or not.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Whether the process is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// An axum router serving `/healthz` and `/readyz`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(|| async { (StatusCode::OK, "ok") }))
            .route("/readyz", get(readyz))
            .with_state(self.clone())
    }

    /// Serves the probes on `addr` until `shutdown` resolves.
    pub async fn serve(
        &self,
        addr: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(SocketAddr, tokio::task::JoinHandle<Result<()>>)> {
        crate::metrics::serve_router(self.router(), addr, shutdown).await
    }
}

async fn readyz(State(health): State<Health>) -> (StatusCode, &'static str) {
    if health.is_ready() { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "caches not synced") }
}
