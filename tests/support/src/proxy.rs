//! A forward HTTP proxy on loopback that counts what it relays: `CONNECT`
//! tunnels (HTTPS) and absolute-URI requests (plain HTTP), optionally behind
//! proxy basic auth. It proves that traffic went through a proxy, which a
//! request log on the server cannot.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use ferry_testenv::proxy::ForwardProxy;
//! let proxy = ForwardProxy::start(Some(("user".into(), "pass".into()))).await?;
//! let url = proxy.url(); // http://127.0.0.1:PORT
//! // ... clone through it ...
//! assert!(proxy.relayed() > 0);
//! # let _ = url; Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedRequest {
    /// `CONNECT`, `GET`, `POST`...
    pub method: String,
    /// `host:port` for `CONNECT`, the absolute URI otherwise.
    pub target: String,
    /// False when it was refused with a 407 (missing or wrong credentials).
    pub relayed: bool,
}

struct ProxyState {
    credentials: Option<(String, String)>,
    log: Mutex<Vec<ProxiedRequest>>,
}

/// A forward proxy, stopped when dropped.
pub struct ForwardProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

impl ForwardProxy {
    /// Starts a proxy; with `credentials`, requests without that basic
    /// `Proxy-Authorization` get a 407.
    pub async fn start(credentials: Option<(String, String)>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState { credentials, log: Mutex::new(Vec::new()) });
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let state = state.clone();
                    tokio::spawn(async move {
                        let _ = serve(stream, &state).await;
                    });
                }
            }
        });
        Ok(Self { addr, state, task })
    }

    /// The proxy's URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<ProxiedRequest> {
        self.state.log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// How many requests were relayed (tunnels opened or requests forwarded).
    pub fn relayed(&self) -> usize {
        self.requests().iter().filter(|r| r.relayed).count()
    }

    /// How many requests were refused for want of credentials.
    pub fn refused(&self) -> usize {
        self.requests().iter().filter(|r| !r.relayed).count()
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(stream: TcpStream, state: &ProxyState) -> Result<()> {
    let mut client = BufReader::new(stream);
    let mut request_line = String::new();
    client.read_line(&mut request_line).await?;
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else { bail!("bad request line") };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if client.read_line(&mut line).await? == 0 {
            bail!("connection closed in the request head");
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        headers.push(line);
    }
    let header = |name: &str| {
        headers.iter().find_map(|h| {
            let (key, value) = h.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_string())
        })
    };
    let authorized = match &state.credentials {
        None => true,
        Some((user, password)) => {
            let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            header("proxy-authorization").as_deref().and_then(|v| v.strip_prefix("Basic ")) == Some(expected.as_str())
        }
    };
    if let Ok(mut log) = state.log.lock() {
        log.push(ProxiedRequest { method: method.clone(), target: target.clone(), relayed: authorized });
    }
    if !authorized {
        let refusal = "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"ferry\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        client.get_mut().write_all(refusal.as_bytes()).await?;
        return Ok(());
    }

    if method.eq_ignore_ascii_case("CONNECT") {
        let mut upstream = TcpStream::connect(&target).await.with_context(|| format!("connecting to {target}"))?;
        client.get_mut().write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await?;
        let early = client.buffer().to_vec();
        upstream.write_all(&early).await?;
        let mut client = client.into_inner();
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }

    // An absolute URI: forward it in origin form, one request per connection.
    let rest = target.strip_prefix("http://").context("only http:// URIs are forwarded; https goes through CONNECT")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut upstream = TcpStream::connect(authority).await.with_context(|| format!("connecting to {authority}"))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for line in &headers {
        let name = line.split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
        if !matches!(name.as_str(), "proxy-authorization" | "proxy-connection" | "connection" | "keep-alive") {
            head.push_str(line);
            head.push_str("\r\n");
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes()).await?;
    let early = client.buffer().to_vec();
    upstream.write_all(&early).await?;
    let mut client = client.into_inner();
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
