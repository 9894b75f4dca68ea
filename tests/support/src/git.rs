//! Real git servers for tests: smart HTTP through Debian git's
//! `git http-backend` (optionally behind basic or bearer auth, and TLS), and
//! repositories to commit to.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use ferry_testenv::git::{GitServer, GitServerOptions};
//! let server = GitServer::start(GitServerOptions::default()).await?;
//! let repo = server.create_repo("podinfo")?;
//! repo.write("deploy/app.yaml", "kind: ConfigMap\n")?;
//! let commit = repo.commit("add app")?;
//! let url = server.url("podinfo"); // http://127.0.0.1:PORT/podinfo.git
//! # let _ = (commit, url); Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// How a [`GitServer`] guards and serves its repositories.
#[derive(Debug, Clone, Default)]
pub struct GitServerOptions {
    /// Require HTTP basic auth with this user name and password.
    pub basic_auth: Option<(String, String)>,
    /// Require `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// Serve HTTPS with a certificate signed by a fresh CA
    /// ([`GitServer::ca_pem`]).
    pub tls: bool,
    /// Listen on this loopback port instead of one the system picks (a port
    /// whose digits look like an HTTP status, for instance).
    pub port: Option<u16>,
}

/// One request the server answered: method, path and query, and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The HTTP method.
    pub method: String,
    /// The path and query.
    pub uri: String,
    /// The status sent back.
    pub status: u16,
}

struct ServerState {
    root: PathBuf,
    options: GitServerOptions,
    log: Mutex<Vec<LoggedRequest>>,
}

/// A git smart-HTTP server on a loopback port, stopped when dropped.
pub struct GitServer {
    addr: SocketAddr,
    root: PathBuf,
    _dir: Option<tempfile::TempDir>,
    state: Arc<ServerState>,
    ca_pem: Option<String>,
    task: tokio::task::JoinHandle<()>,
}

impl GitServer {
    /// Starts a server over a fresh directory of repositories.
    pub async fn start(options: GitServerOptions) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("ferry-git-").tempdir()?;
        let root = dir.path().to_path_buf();
        Self::serve(root, Some(dir), options).await
    }

    /// Starts a server over the bare repositories in `root`, which outlives it
    /// (the demo's repository, for instance).
    pub async fn start_in(root: &Path, options: GitServerOptions) -> Result<Self> {
        std::fs::create_dir_all(root)?;
        Self::serve(root.to_path_buf(), None, options).await
    }

    async fn serve(root: PathBuf, dir: Option<tempfile::TempDir>, options: GitServerOptions) -> Result<Self> {
        let tls = options.tls;
        let port = options.port;
        let state = Arc::new(ServerState { root: root.clone(), options, log: Mutex::new(Vec::new()) });
        let router = Router::new().fallback(handle).with_state(state.clone());
        let listener = TcpListener::bind(("127.0.0.1", port.unwrap_or(0))).await?;
        let addr = listener.local_addr()?;
        let (task, ca_pem) = if tls {
            let tls = crate::tls::ServerTls::generate(&["127.0.0.1", "localhost"])?;
            let ca = tls.ca_pem.clone();
            (tokio::spawn(crate::tls::serve_tls(listener, tls.acceptor, router)), Some(ca))
        } else {
            (tokio::spawn(async move { drop(axum::serve(listener, router).await) }), None)
        };
        Ok(Self { addr, root, _dir: dir, state, ca_pem, task })
    }

    /// The URL of repository `name` (`<scheme>://127.0.0.1:<port>/<name>.git`).
    pub fn url(&self, name: &str) -> String {
        let scheme = if self.ca_pem.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/{name}.git", self.addr)
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory holding the bare repositories.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The PEM of the CA that signed the HTTPS certificate.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The requests answered so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// How many fetches (upload-pack POSTs) were served so far.
    pub fn fetch_count(&self) -> usize {
        self.requests().iter().filter(|r| r.method == "POST" && r.uri.ends_with("/git-upload-pack")).count()
    }

    /// Creates bare repository `<name>.git` with default branch `branch`
    /// `main`, and a working clone to commit from.
    pub fn create_repo(&self, name: &str) -> Result<GitRepo> {
        GitRepo::create(&self.root().join(format!("{name}.git")), "main")
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let response = match authorize(&state.options, request.headers()) {
        Err(response) => response,
        Ok(user) => cgi(&state.root, user, request).await.unwrap_or_else(|err| {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("git http-backend failed: {err:#}")).into_response()
        }),
    };
    if let Ok(mut log) = state.log.lock() {
        log.push(LoggedRequest { method, uri, status: response.status().as_u16() });
    }
    response
}

#[allow(clippy::result_large_err)]
fn authorize(options: &GitServerOptions, headers: &HeaderMap) -> Result<Option<String>, Response> {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if let Some((user, password)) = &options.basic_auth {
        let expected = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        if given.strip_prefix("Basic ") != Some(expected.as_str()) {
            let mut response = (StatusCode::UNAUTHORIZED, "authentication required").into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"git\""));
            return Err(response);
        }
        return Ok(Some(user.clone()));
    }
    if let Some(token) = &options.bearer_token {
        if given.strip_prefix("Bearer ") != Some(token.as_str()) {
            return Err((StatusCode::UNAUTHORIZED, "bearer token required").into_response());
        }
        return Ok(Some("token".to_string()));
    }
    Ok(None)
}

/// Runs `git http-backend` as a CGI program for one request.
async fn cgi(root: &Path, user: Option<String>, request: Request) -> Result<Response> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 256 << 20).await?;
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or_default())
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(user) = user {
        command.env("REMOTE_USER", user);
    }
    let mut child = command.spawn().context("starting git http-backend")?;
    let mut stdin = child.stdin.take().context("http-backend stdin")?;
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = child.wait_with_output().await?;
    let _ = writer.await;
    parse_cgi_output(&output.stdout)
}

fn parse_cgi_output(output: &[u8]) -> Result<Response> {
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else { bail!("no CGI headers in http-backend output") };
    let head = String::from_utf8_lossy(&output[..end]);
    let mut builder = Response::builder();
    let mut status = StatusCode::OK;
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("200");
            status = StatusCode::from_bytes(code.as_bytes()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else {
            builder = builder.header(name.trim(), value);
        }
    }
    Ok(builder.status(status).body(Body::from(output[end + sep..].to_vec()))?)
}

/// A bare repository and a working clone that pushes to it.
pub struct GitRepo {
    bare: PathBuf,
    work: tempfile::TempDir,
}

impl GitRepo {
    /// Creates a bare repository at `bare` and a working clone whose pushes
    /// go to `branch`.
    pub fn create(bare: &Path, branch: &str) -> Result<Self> {
        std::fs::create_dir_all(bare)?;
        git(bare, &["init", "--bare", "--quiet", &format!("--initial-branch={branch}")])?;
        git(bare, &["config", "http.receivepack", "true"])?;
        git(bare, &["config", "uploadpack.allowAnySHA1InWant", "true"])?;
        let work = tempfile::Builder::new().prefix("ferry-git-work-").tempdir()?;
        git(work.path(), &["init", "--quiet", &format!("--initial-branch={branch}")])?;
        git(work.path(), &["remote", "add", "origin", &bare.display().to_string()])?;
        Ok(Self { bare: bare.to_path_buf(), work })
    }

    /// The bare repository.
    pub fn bare(&self) -> &Path {
        &self.bare
    }

    /// The working clone.
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    /// Writes a file in the working clone (creating directories).
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) -> Result<()> {
        let full = self.work.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&full, contents).with_context(|| format!("writing {}", full.display()))
    }

    /// Removes a file or directory from the working clone.
    pub fn remove(&self, path: &str) -> Result<()> {
        let full = self.work.path().join(path);
        if full.is_dir() { std::fs::remove_dir_all(&full) } else { std::fs::remove_file(&full) }
            .with_context(|| format!("removing {}", full.display()))
    }

    /// Commits everything and pushes the current branch; returns the commit.
    pub fn commit(&self, message: &str) -> Result<String> {
        self.git(&["add", "--all"])?;
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message])?;
        let branch = self.git(&["rev-parse", "--abbrev-ref", "HEAD"])?;
        self.git(&["push", "--quiet", "--force", "origin", &format!("HEAD:refs/heads/{branch}")])?;
        self.head()
    }

    /// The commit the working clone is on.
    pub fn head(&self) -> Result<String> {
        self.git(&["rev-parse", "HEAD"])
    }

    /// Switches the working clone to `branch`, creating it from the current
    /// commit when new.
    pub fn checkout(&self, branch: &str) -> Result<()> {
        if self.git(&["checkout", "--quiet", branch]).is_err() {
            self.git(&["checkout", "--quiet", "-b", branch])?;
        }
        Ok(())
    }

    /// Tags the current commit (annotated when `message` is given) and
    /// pushes the tag.
    pub fn tag(&self, name: &str, message: Option<&str>) -> Result<()> {
        match message {
            Some(message) => self.git(&["tag", "--annotate", name, "-m", message])?,
            None => self.git(&["tag", name])?,
        };
        self.git(&["push", "--quiet", "--force", "origin", &format!("refs/tags/{name}")])?;
        Ok(())
    }

    /// Pushes the current commit to an arbitrary ref, such as
    /// `refs/pull/1/head`.
    pub fn push_ref(&self, reference: &str) -> Result<()> {
        self.git(&["push", "--quiet", "--force", "origin", &format!("HEAD:{reference}")])?;
        Ok(())
    }

    /// Runs git in the working clone and returns its trimmed stdout.
    pub fn git(&self, args: &[&str]) -> Result<String> {
        git(self.work.path(), args)
    }
}

/// Runs git with a fixed identity and clock-independent settings.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=Ferry Test", "-c", "user.email=test@ferry.invalid", "-c", "commit.gpgsign=false"])
        .args(["-c", "tag.gpgsign=false", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        // The environment may pin a CA bundle; tests choose theirs by config.
        .env_remove("GIT_SSL_CAINFO")
        .output()
        .context("running git (is it installed?)")?;
    if !output.status.success() {
        bail!("git {} failed in {}: {}", args.join(" "), dir.display(), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clone(url: &str, config: &[&str]) -> Result<tempfile::TempDir> {
        let dir = tempfile::tempdir()?;
        let mut args: Vec<&str> = config.iter().flat_map(|c| ["-c", *c]).collect();
        args.extend(["clone", "--quiet", url, "."]);
        git(dir.path(), &args)?;
        Ok(dir)
    }

    #[tokio::test]
    async fn serves_clones_over_smart_http() {
        let server = GitServer::start(GitServerOptions::default()).await.unwrap();
        let repo = server.create_repo("app").unwrap();
        repo.write("deploy/app.yaml", "kind: ConfigMap\n").unwrap();
        let first = repo.commit("first").unwrap();
        repo.tag("v1.0.0", Some("release")).unwrap();
        let url = server.url("app");
        let cloned = tokio::task::spawn_blocking(move || clone(&url, &[])).await.unwrap().unwrap();
        assert_eq!(std::fs::read_to_string(cloned.path().join("deploy/app.yaml")).unwrap(), "kind: ConfigMap\n");
        assert_eq!(git(cloned.path(), &["rev-parse", "HEAD"]).unwrap(), first);
        assert_eq!(git(cloned.path(), &["tag"]).unwrap(), "v1.0.0");
        assert!(server.fetch_count() >= 1);
        assert!(server.requests().iter().all(|r| r.status == 200), "{:?}", server.requests());
    }

    #[tokio::test]
    async fn basic_auth_is_enforced() {
        let options =
            GitServerOptions { basic_auth: Some(("git".into(), "s3cret".into())), ..GitServerOptions::default() };
        let server = GitServer::start(options).await.unwrap();
        let repo = server.create_repo("private").unwrap();
        repo.write("a.txt", "a").unwrap();
        repo.commit("a").unwrap();
        let anonymous = server.url("private");
        let denied = tokio::task::spawn_blocking(move || clone(&anonymous, &[])).await.unwrap();
        assert!(denied.is_err());
        let with_password = server.url("private").replace("http://", "http://git:s3cret@");
        let cloned = tokio::task::spawn_blocking(move || clone(&with_password, &[])).await.unwrap().unwrap();
        assert!(cloned.path().join("a.txt").exists());
        assert!(server.requests().iter().any(|r| r.status == 401));
    }

    #[tokio::test]
    async fn serves_https_with_its_own_ca() {
        let server = GitServer::start(GitServerOptions { tls: true, ..GitServerOptions::default() }).await.unwrap();
        let repo = server.create_repo("secure").unwrap();
        repo.write("a.txt", "a").unwrap();
        repo.commit("a").unwrap();
        let ca_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca_file.path(), server.ca_pem().unwrap()).unwrap();
        let url = server.url("secure");
        assert!(url.starts_with("https://"));
        let ca = ca_file.path().display().to_string();
        let untrusted = url.clone();
        let refused = tokio::task::spawn_blocking(move || clone(&untrusted, &[])).await.unwrap();
        assert!(refused.is_err(), "an unknown CA is refused");
        let cloned = tokio::task::spawn_blocking(move || clone(&url, &[&format!("http.sslCAInfo={ca}")]))
            .await
            .unwrap()
            .unwrap();
        assert!(cloned.path().join("a.txt").exists());
    }
}
