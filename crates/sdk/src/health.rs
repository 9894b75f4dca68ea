//! `/healthz` and `/readyz` on `--health-addr`. Ready means the caches are
//! synced (and, with leader election, does not depend on being leader, so
//! standbys stay in the Service). When one process runs several
//! controllers, each holds a [`ReadyGate`] and the process is ready once
//! every gate is open.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

pub use crate::metrics::Error;

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The process's health: live while it runs, ready once every
/// [`ReadyGate`] is open (or, with no gates, once marked ready).
#[derive(Debug, Clone, Default)]
pub struct Health {
    state: Arc<Mutex<Readiness>>,
}

#[derive(Debug, Default)]
struct Readiness {
    /// Set by [`Health::set_ready`]; `None` until then.
    marked: Option<bool>,
    gates: Vec<Arc<AtomicBool>>,
}

/// One component's part of readiness (a controller whose caches sync).
#[derive(Debug, Clone)]
pub struct ReadyGate {
    open: Arc<AtomicBool>,
}

impl ReadyGate {
    /// Marks this component ready (caches synced) or not.
    pub fn set_ready(&self, ready: bool) {
        self.open.store(ready, Ordering::SeqCst);
    }
}

impl Health {
    /// Not ready yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the process ready or not. With gates, the process is ready
    /// only when this is not `false` and every gate is open.
    pub fn set_ready(&self, ready: bool) {
        self.lock().marked = Some(ready);
    }

    /// A new closed gate: the process is not ready until it opens.
    pub fn gate(&self) -> ReadyGate {
        let open = Arc::new(AtomicBool::new(false));
        self.lock().gates.push(open.clone());
        ReadyGate { open }
    }

    /// Whether the process is ready.
    pub fn is_ready(&self) -> bool {
        let state = self.lock();
        state.marked.unwrap_or(!state.gates.is_empty()) && state.gates.iter().all(|gate| gate.load(Ordering::SeqCst))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Readiness> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_when_marked_without_gates() {
        let health = Health::new();
        assert!(!health.is_ready());
        health.set_ready(true);
        assert!(health.is_ready());
        health.set_ready(false);
        assert!(!health.is_ready());
    }

    #[test]
    fn ready_only_when_every_gate_is_open() {
        let health = Health::new();
        let a = health.gate();
        let b = health.gate();
        assert!(!health.is_ready());
        a.set_ready(true);
        assert!(!health.is_ready());
        b.set_ready(true);
        assert!(health.is_ready());
        health.set_ready(false);
        assert!(!health.is_ready(), "marking not ready wins over the gates");
    }
}
