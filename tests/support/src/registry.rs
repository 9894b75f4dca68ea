//! A real OCI registry for tests: Debian's `docker-registry` (CNCF
//! distribution 2.8) on a loopback port, with its storage and config in a
//! temporary directory, optionally behind htpasswd basic auth (bcrypt, made
//! by Sprig's `htpasswd` as Helm charts make it) or bearer tokens from a
//! token service ([`crate::token`]), and TLS from a fresh CA.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use ferry_testenv::registry::{Registry, RegistryOptions};
//! let registry = Registry::start(RegistryOptions { basic_auth: Some(("u".into(), "p".into())), tls: true, token_auth: false }).await?;
//! let host = registry.host(); // 127.0.0.1:PORT
//! let ca = registry.ca_pem(); // Some(PEM) with `tls`
//! # let _ = (host, ca); Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::{free_port, terminate};

/// Where Debian's docker-registry package installs the registry.
pub const REGISTRY: &str = "/usr/bin/docker-registry";

/// How a [`Registry`] guards itself.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Require HTTP basic auth with this user name and password.
    pub basic_auth: Option<(String, String)>,
    /// Serve HTTPS with a certificate for `127.0.0.1` and `localhost` signed
    /// by a fresh CA ([`Registry::ca_pem`]).
    pub tls: bool,
    /// Require bearer tokens from a token service ([`crate::token`]) that
    /// grants them for `basic_auth`'s user name and password (which then
    /// do not guard the registry itself).
    pub token_auth: bool,
}

/// A registry process, stopped when dropped.
pub struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    ca_pem: Option<String>,
    token: Option<crate::token::TokenService>,
}

impl Registry {
    /// Starts the registry on a free loopback port over an empty storage.
    pub async fn start(options: RegistryOptions) -> Result<Self> {
        if !Path::new(REGISTRY).exists() {
            bail!("{REGISTRY} is missing: install docker-registry (`cargo xtask test` does)");
        }
        let dir = tempfile::Builder::new().prefix("ferry-registry-").tempdir()?;
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::create_dir_all(dir.path().join("storage"))?;
        let port = free_port()?;
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: ferry-test-secret\n",
            storage = path("storage"),
        );
        let mut ca_pem = None;
        if options.tls {
            let tls = crate::tls::ServerTls::generate(&["127.0.0.1", "localhost"])?;
            std::fs::write(path("tls.crt"), &tls.cert_pem)?;
            std::fs::write(path("tls.key"), &tls.key_pem)?;
            config.push_str(&format!("  tls:\n    certificate: {}\n    key: {}\n", path("tls.crt"), path("tls.key")));
            ca_pem = Some(tls.ca_pem);
        }
        let mut token = None;
        if options.token_auth {
            let (user, password) = options.basic_auth.clone().unwrap_or_default();
            let service = crate::token::TokenService::start(user, password).await?;
            std::fs::write(path("token.crt"), service.certificate_pem())?;
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                service.realm(),
                crate::token::SERVICE,
                crate::token::ISSUER,
                path("token.crt"),
            ));
            token = Some(service);
        } else if let Some((user, password)) = &options.basic_auth {
            std::fs::write(path("htpasswd"), format!("{}\n", htpasswd(user, password)?))?;
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: ferry-test\n    path: {}\n", path("htpasswd")));
        }
        std::fs::write(path("config.yml"), config)?;
        let log = std::fs::File::create(path("registry.log"))?;
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(path("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting docker-registry")?;
        let mut registry = Self { child, port, dir, ca_pem, token };
        registry.wait_until_listening().await?;
        Ok(registry)
    }

    async fn wait_until_listening(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("docker-registry exited with {status}: {}", self.log());
            }
            if Instant::now() > deadline {
                bail!("docker-registry did not listen on port {} within 20s", self.port);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `127.0.0.1:<port>`, the registry's host in image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The address the registry listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The PEM of the CA that signed the HTTPS certificate, with `tls`.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The tokens the token service granted so far (with `token_auth`).
    pub fn tokens_granted(&self) -> usize {
        self.token.as_ref().map_or(0, crate::token::TokenService::granted)
    }

    /// What the registry logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(5));
    }
}

/// An htpasswd line with a bcrypt hash, as Sprig's `htpasswd` writes it.
fn htpasswd(user: &str, password: &str) -> Result<String> {
    use ferry_gotemplate::{Templates, Value, sprig};
    let mut set = Templates::new("htpasswd");
    set.add_funcs(sprig::funcs());
    set.parse("line", "{{ htpasswd .user .password }}")?;
    let data = Value::from_json(&serde_json::json!({"user": user, "password": password}));
    Ok(set.execute("line", &data)?)
}
