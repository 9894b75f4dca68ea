//! A real chart repository for tests: an HTTP(S) server on a loopback port
//! serving `index.yaml` and chart archives from a directory, optionally
//! behind basic auth, with charts packaged by ferry-helm (as `helm package`
//! packages them) and an index written as `helm repo index` writes it.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use ferry_testenv::helmrepo::{ChartRepo, ChartRepoOptions};
//! let repo = ChartRepo::start(ChartRepoOptions::default()).await?;
//! repo.add_chart("podinfo", "6.5.0")?;
//! let index = repo.write_index()?; // the bytes now served as index.yaml
//! let url = repo.url(); // http://127.0.0.1:PORT/charts/
//! # let _ = (index, url); Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::Digest as _;
use tokio::net::TcpListener;

/// The path the repository is served under.
pub const PREFIX: &str = "/charts/";

/// How a [`ChartRepo`] guards and serves its files.
#[derive(Debug, Clone, Default)]
pub struct ChartRepoOptions {
    /// Require HTTP basic auth with this user name and password.
    pub basic_auth: Option<(String, String)>,
    /// Serve HTTPS with a certificate signed by a fresh CA
    /// ([`ChartRepo::ca_pem`]).
    pub tls: bool,
    /// With `tls`, require a client certificate from that CA
    /// ([`ChartRepo::client_pem`]).
    pub mtls: bool,
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The path and query.
    pub uri: String,
    /// Whether it carried an `Authorization` header.
    pub authorized: bool,
    /// The status sent back.
    pub status: u16,
}

struct ServerState {
    root: PathBuf,
    options: ChartRepoOptions,
    log: Mutex<Vec<LoggedRequest>>,
}

/// A chart repository on a loopback port, stopped when dropped.
pub struct ChartRepo {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    state: Arc<ServerState>,
    ca_pem: Option<String>,
    client: Option<(String, String)>,
    task: tokio::task::JoinHandle<()>,
}

impl ChartRepo {
    /// Starts a server over a fresh, empty directory.
    pub async fn start(options: ChartRepoOptions) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("ferry-charts-").tempdir()?;
        let (tls, mtls) = (options.tls, options.mtls);
        let state = Arc::new(ServerState { root: dir.path().to_path_buf(), options, log: Mutex::new(Vec::new()) });
        let router = Router::new().fallback(handle).with_state(state.clone());
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (task, ca_pem, client) = if tls {
            let names = ["127.0.0.1", "localhost"];
            let tls = if mtls {
                crate::tls::ServerTls::generate_mtls(&names)?
            } else {
                crate::tls::ServerTls::generate(&names)?
            };
            let (ca, client) = (tls.ca_pem.clone(), tls.client.clone());
            (tokio::spawn(crate::tls::serve_tls(listener, tls.acceptor, router)), Some(ca), client)
        } else {
            (tokio::spawn(async move { drop(axum::serve(listener, router).await) }), None, None)
        };
        Ok(Self { addr, dir, state, ca_pem, client, task })
    }

    /// The repository URL (`<scheme>://127.0.0.1:<port>/charts/`).
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{PREFIX}", self.addr)
    }

    /// The directory served under [`PREFIX`].
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The PEM of the CA that signed the HTTPS certificate.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The client certificate and key (PEM) the server requires, with `mtls`.
    pub fn client_pem(&self) -> Option<(&str, &str)> {
        self.client.as_ref().map(|(cert, key)| (cert.as_str(), key.as_str()))
    }

    /// The requests answered so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// Writes `data` as the served file `name` (an index of any shape, for
    /// instance).
    pub fn write_file(&self, name: &str, data: &[u8]) -> Result<()> {
        std::fs::write(self.root().join(name), data).with_context(|| format!("writing {name}"))
    }

    /// Packages a chart `name` at `version` with one ConfigMap template,
    /// as `helm package` does, into `<name>-<version>.tgz`; returns the
    /// archive's bytes.
    pub fn add_chart(&self, name: &str, version: &str) -> Result<Vec<u8>> {
        let file = |name: &str, data: String| ferry_helm::chart::File { name: name.into(), data: data.into_bytes() };
        let files = vec![
            file(
                "Chart.yaml",
                format!(
                    "apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: \"{version}\"\n\
                     description: A test chart <{name}> & more\ntype: application\n"
                ),
            ),
            file("values.yaml", "message: hello\n".into()),
            file(
                "templates/configmap.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  message: {{ .Values.message }}\n"
                    .into(),
            ),
        ];
        let chart = ferry_helm::chart::load::load_files(files).context("loading the test chart")?;
        let archive = ferry_helm::archive::write::package(&chart, 1_700_000_000).context("packaging the test chart")?;
        self.write_file(&ferry_helm::archive::write::archive_name(&chart), &archive)?;
        Ok(archive)
    }

    /// Writes `index.yaml` for the archives in the directory, as
    /// `helm repo index` does (each chart's metadata, its digest, a URL
    /// relative to the repository, versions newest first, keys sorted), and
    /// returns its bytes.
    pub fn write_index(&self) -> Result<Vec<u8>> {
        type Versions = Vec<(Option<ferry_semver::Version>, serde_json::Value)>;
        let mut entries: std::collections::BTreeMap<String, Versions> = Default::default();
        let mut archives: Vec<PathBuf> = std::fs::read_dir(self.root())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
            .collect();
        archives.sort();
        for (n, path) in archives.iter().enumerate() {
            let data = std::fs::read(path)?;
            let chart =
                ferry_helm::chart::load::load_archive(&data).with_context(|| format!("loading {}", path.display()))?;
            let md = &chart.metadata;
            let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            let mut entry = serde_json::json!({
                "apiVersion": md.api_version,
                "name": md.name,
                "version": md.version,
                "urls": [file_name],
                "digest": hex::encode(sha2::Sha256::digest(&data)),
                "created": format!("2024-01-01T00:00:{:02}.{:09}Z", n % 60, n + 1),
            });
            for (key, value) in
                [("appVersion", &md.app_version), ("description", &md.description), ("type", &md.chart_type)]
            {
                if !value.is_empty() {
                    entry[key] = value.clone().into();
                }
            }
            entries.entry(md.name.clone()).or_default().push((md.version.parse().ok(), entry));
        }
        let entries: serde_json::Map<String, serde_json::Value> = entries
            .into_iter()
            .map(|(name, mut versions)| {
                versions.sort_by(|a, b| b.0.cmp(&a.0));
                (name, versions.into_iter().map(|(_, v)| v).collect())
            })
            .collect();
        let index = serde_json::json!({
            "apiVersion": "v1",
            "entries": entries,
            "generated": "2024-01-01T00:01:00.000000001Z",
        });
        let text = serde_yaml_ng::to_string(&index)?;
        self.write_file("index.yaml", text.as_bytes())?;
        Ok(text.into_bytes())
    }
}

impl Drop for ChartRepo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let uri = request.uri().to_string();
    let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let response = match &state.options.basic_auth {
        Some((user, password))
            if given.as_deref().and_then(|g| g.strip_prefix("Basic "))
                != Some(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")).as_str()) =>
        {
            let mut response = (StatusCode::UNAUTHORIZED, "authentication required").into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"charts\""));
            response
        }
        _ => serve_file(&state.root, request.uri().path()).await,
    };
    if let Ok(mut log) = state.log.lock() {
        log.push(LoggedRequest { uri, authorized: given.is_some(), status: response.status().as_u16() });
    }
    response
}

async fn serve_file(root: &Path, path: &str) -> Response {
    let Some(relative) = path.strip_prefix(PREFIX) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let relative = Path::new(relative);
    if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
        return (StatusCode::BAD_REQUEST, "bad path").into_response();
    }
    match tokio::fs::read(root.join(relative)).await {
        Ok(data) => {
            let kind = if path.ends_with(".tgz") { "application/gzip" } else { "application/x-yaml" };
            ([(header::CONTENT_TYPE, kind)], data).into_response()
        }
        Err(_) => (StatusCode::NOT_FOUND, "404 page not found").into_response(),
    }
}
