//! A loopback HTTP service for the provider tests: it checks each request
//! the way the real service would (a closure per test, from the service's
//! public API docs), answers accordingly and records what it saw.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};

/// One request the service received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The method.
    pub method: Method,
    /// The path.
    pub path: String,
    /// The query, if any.
    pub query: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Seen {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

type Check = dyn Fn(&Seen) -> (StatusCode, String) + Send + Sync;

/// The service.
pub struct Service {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Service {
    /// Starts a service answering each request with `check`.
    pub async fn start(check: impl Fn(&Seen) -> (StatusCode, String) + Send + Sync + 'static) -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let check: Arc<Check> = Arc::new(check);
        let recorded = seen.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let recorded = recorded.clone();
            let check = check.clone();
            async move {
                let request = Seen {
                    method,
                    path: uri.path().to_string(),
                    query: uri.query().map(str::to_string),
                    headers,
                    body,
                };
                let answer = check(&request);
                recorded.lock().unwrap().push(request);
                answer
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, seen }
    }

    /// `http://127.0.0.1:<port>` and `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What it received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// 200 with an empty JSON object.
pub fn ok() -> (StatusCode, String) {
    (StatusCode::OK, "{}".into())
}

/// An error answer with a message, as services explain refusals.
pub fn refuse(status: StatusCode, why: &str) -> (StatusCode, String) {
    (status, format!("{{\"message\":\"{why}\"}}"))
}
