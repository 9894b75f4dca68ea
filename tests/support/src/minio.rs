//! A real S3 server for tests: MinIO, built from its Go module under
//! `hack/minio` (`cargo xtask test` builds it and names it in
//! `$FERRY_MINIO`), on a loopback port over a temporary directory, with
//! root credentials and optionally TLS from a fresh CA.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use ferry_testenv::minio::{Minio, MinioOptions};
//! let minio = Minio::start(MinioOptions::default()).await?;
//! minio.make_bucket("podinfo").await?;
//! minio.put("podinfo", "deploy/app.yaml", b"kind: ConfigMap\n").await?;
//! let endpoint = minio.endpoint(); // 127.0.0.1:PORT, as a Bucket's spec.endpoint
//! # let _ = endpoint; Ok(()) }
//! ```

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::process::{free_port, terminate};

/// The environment variable that names the MinIO binary.
pub const MINIO_ENV: &str = "FERRY_MINIO";

/// The root user of every test server (Flux's `accesskey`).
pub const ROOT_USER: &str = "ferry-minio";
/// The root password of every test server (Flux's `secretkey`).
pub const ROOT_PASSWORD: &str = "ferry-minio-secret";

/// How a [`Minio`] serves.
#[derive(Debug, Clone, Copy, Default)]
pub struct MinioOptions {
    /// Serve HTTPS with a certificate for `127.0.0.1` and `localhost`
    /// signed by a fresh CA ([`Minio::ca_pem`]).
    pub tls: bool,
}

/// A MinIO process, stopped when dropped.
pub struct Minio {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    ca_pem: Option<String>,
    admin: ferry_s3::Client,
}

/// The MinIO binary from `$FERRY_MINIO`.
pub fn binary() -> Result<PathBuf> {
    let path = std::env::var_os(MINIO_ENV).with_context(|| {
        format!(
            "{MINIO_ENV} is not set: run `cargo xtask test`, which builds MinIO from hack/minio, or \
             `export {MINIO_ENV}=$(cargo xtask tools minio)`"
        )
    })?;
    let path = PathBuf::from(path);
    if !path.is_file() {
        bail!("{MINIO_ENV}={} is no file: `cargo xtask tools minio` prints the right path", path.display());
    }
    Ok(path)
}

impl Minio {
    /// Starts MinIO on a free loopback port over an empty data directory.
    pub async fn start(options: MinioOptions) -> Result<Self> {
        let binary = binary()?;
        let dir = tempfile::Builder::new().prefix("ferry-minio-").tempdir()?;
        let data = dir.path().join("data");
        let certs = dir.path().join("certs");
        std::fs::create_dir_all(&data)?;
        std::fs::create_dir_all(certs.join("CAs"))?;
        let port = free_port()?;
        let console = free_port()?;
        let mut ca_pem = None;
        if options.tls {
            let tls = crate::tls::ServerTls::generate(&["127.0.0.1", "localhost"])?;
            std::fs::write(certs.join("public.crt"), &tls.cert_pem)?;
            std::fs::write(certs.join("private.key"), &tls.key_pem)?;
            ca_pem = Some(tls.ca_pem);
        }
        let log = std::fs::File::create(dir.path().join("minio.log"))?;
        let mut command = Command::new(&binary);
        command
            .arg("server")
            .arg("--quiet")
            .arg("--address")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--console-address")
            .arg(format!("127.0.0.1:{console}"))
            .arg("--certs-dir")
            .arg(&certs)
            .arg(&data)
            .env("MINIO_ROOT_USER", ROOT_USER)
            .env("MINIO_ROOT_PASSWORD", ROOT_PASSWORD)
            .env("MINIO_BROWSER", "off")
            .env("MINIO_UPDATE", "off")
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = command.spawn().context("starting minio")?;
        let admin = admin_client(port, ca_pem.as_deref())?;
        let mut minio = Self { child, port, dir, ca_pem, admin };
        minio.wait_until_ready().await?;
        Ok(minio)
    }

    async fn wait_until_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // Ready once it answers S3 requests (a missing bucket is an answer).
            if self.admin.bucket_exists("ferry-readiness").await.is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("minio exited with {status}: {}", self.log());
            }
            if Instant::now() > deadline {
                bail!("minio did not answer on port {} within 60s: {}", self.port, self.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `127.0.0.1:<port>`, as a Bucket's `spec.endpoint`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The PEM of the CA that signed the HTTPS certificate, with `tls`.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// A client with the root credentials.
    pub fn admin(&self) -> &ferry_s3::Client {
        &self.admin
    }

    /// Creates `bucket`.
    pub async fn make_bucket(&self, bucket: &str) -> Result<()> {
        self.admin.make_bucket(bucket).await.with_context(|| format!("creating bucket {bucket}"))
    }

    /// Writes object `key` of `bucket`; returns its ETag (quotes trimmed).
    pub async fn put(&self, bucket: &str, key: &str, body: &[u8]) -> Result<String> {
        self.admin.put_object(bucket, key, body.to_vec()).await.with_context(|| format!("writing {bucket}/{key}"))
    }

    /// Deletes object `key` of `bucket`.
    pub async fn remove(&self, bucket: &str, key: &str) -> Result<()> {
        self.admin.remove_object(bucket, key).await.with_context(|| format!("deleting {bucket}/{key}"))
    }

    /// What the server logged so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("minio.log")).unwrap_or_default()
    }
}

impl Drop for Minio {
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(5));
    }
}

/// A client of the server on `port` with the root credentials.
fn admin_client(port: u16, ca_pem: Option<&str>) -> Result<ferry_s3::Client> {
    let mut options = ferry_s3::ClientOptions {
        endpoint: format!("127.0.0.1:{port}"),
        secure: ca_pem.is_some(),
        credentials: Some(ferry_s3::Credentials {
            access_key: ROOT_USER.into(),
            secret_key: ROOT_PASSWORD.into(),
            session_token: None,
        }),
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    if let Some(ca) = ca_pem {
        options.roots = reqwest::Certificate::from_pem_bundle(ca.as_bytes())?;
    }
    Ok(ferry_s3::Client::new(options)?)
}
