//! A real OpenSSH server on a loopback port that serves git repositories,
//! with a fresh host key and a client key of its own.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use ferry_testenv::git::{GitServer, GitServerOptions};
//! use ferry_testenv::sshd::SshServer;
//! let http = GitServer::start(GitServerOptions::default()).await?;
//! http.create_repo("app")?;
//! let ssh = SshServer::start().await?;
//! let url = ssh.url(&http.root().join("app.git")); // ssh://root@127.0.0.1:PORT/…/app.git
//! let (identity, known_hosts) = (ssh.identity(), ssh.known_hosts());
//! # let _ = (url, identity, known_hosts); Ok(()) }
//! ```

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Where Debian's openssh-server installs the daemon.
pub const SSHD: &str = "/usr/sbin/sshd";

/// An sshd process, stopped when dropped.
pub struct SshServer {
    child: Child,
    port: u16,
    user: String,
    dir: tempfile::TempDir,
    identity: String,
    public_key: String,
    host_key: String,
}

impl SshServer {
    /// Starts sshd on a free loopback port; it accepts the generated client
    /// key ([`SshServer::identity`]) for the current user.
    pub async fn start() -> Result<Self> {
        if !Path::new(SSHD).exists() {
            bail!("{SSHD} is missing: install openssh-server (`cargo xtask test` does)");
        }
        let dir = tempfile::Builder::new().prefix("ferry-sshd-").tempdir()?;
        let path = |name: &str| dir.path().join(name);
        for (name, comment) in [("host_key", "ferry-test-host"), ("client_key", "ferry-test-client")] {
            run(
                "ssh-keygen",
                &["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", &path(name).display().to_string()],
            )?;
        }
        let public_key = std::fs::read_to_string(path("client_key.pub"))?.trim().to_string();
        std::fs::write(path("authorized_keys"), format!("{public_key}\n"))?;
        // The privilege-separation directory sshd insists on.
        std::fs::create_dir_all("/run/sshd").context("creating /run/sshd")?;
        let port = free_port()?;
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\nAuthorizedKeysFile {keys}\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nAllowTcpForwarding no\n\
             X11Forwarding no\nPermitUserEnvironment no\nLogLevel ERROR\n",
            host = path("host_key").display(),
            pid = path("sshd.pid").display(),
            keys = path("authorized_keys").display(),
        );
        std::fs::write(path("sshd_config"), config)?;
        let log = std::fs::File::create(path("sshd.log"))?;
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(path("sshd_config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting sshd")?;
        let identity = std::fs::read_to_string(path("client_key"))?;
        let host_key = std::fs::read_to_string(path("host_key.pub"))?;
        let host_key = host_key.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let user = current_user()?;
        let mut server = Self { child, port, user, dir, identity, public_key, host_key };
        server.wait_until_listening().await?;
        Ok(server)
    }

    async fn wait_until_listening(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default();
                bail!("sshd exited with {status}: {log}");
            }
            if Instant::now() > deadline {
                bail!("sshd did not listen on port {} within 20s", self.port);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The port sshd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `ssh://` URL of the repository at `path` on this machine.
    pub fn url(&self, path: &Path) -> String {
        format!("ssh://{}@127.0.0.1:{}{}", self.user, self.port, path.display())
    }

    /// The client's private key (OpenSSH format), as a Secret's `identity`.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The client's public key, as a Secret's `identity.pub`.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The `known_hosts` line for this server.
    pub fn known_hosts(&self) -> String {
        format!("[127.0.0.1]:{} {}\n", self.port, self.host_key)
    }

    /// The directory holding the keys, config and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    let output = Command::new(program).args(args).output().with_context(|| format!("running {program}"))?;
    if !output.status.success() {
        bail!("{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn current_user() -> Result<String> {
    let output = Command::new("id").arg("-un").output().context("running id")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::{GitServer, GitServerOptions, git};

    #[tokio::test]
    async fn serves_git_over_ssh_with_its_keys() {
        let http = GitServer::start(GitServerOptions::default()).await.unwrap();
        let repo = http.create_repo("app").unwrap();
        repo.write("app.yaml", "kind: ConfigMap\n").unwrap();
        let commit = repo.commit("first").unwrap();
        let ssh = SshServer::start().await.unwrap();

        let keys = tempfile::tempdir().unwrap();
        let key = keys.path().join("id");
        std::fs::write(&key, ssh.identity()).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        std::fs::write(keys.path().join("known_hosts"), ssh.known_hosts()).unwrap();
        let ssh_command = format!(
            "ssh -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes",
            key.display(),
            keys.path().join("known_hosts").display()
        );
        let url = ssh.url(&http.root().join("app.git"));
        let target = tempfile::tempdir().unwrap();
        let dir = target.path().to_path_buf();
        let cloned = tokio::task::spawn_blocking(move || {
            git(&dir, &["-c", &format!("core.sshCommand={ssh_command}"), "clone", "--quiet", &url, "."])?;
            git(&dir, &["rev-parse", "HEAD"])
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(cloned, commit);

        // An unknown host key is refused.
        let empty = keys.path().join("empty_known_hosts");
        std::fs::write(&empty, "").unwrap();
        let strict = format!(
            "ssh -i {} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
            key.display(),
            empty.display()
        );
        let url = ssh.url(&http.root().join("app.git"));
        let other = tempfile::tempdir().unwrap();
        let dir = other.path().to_path_buf();
        let refused = tokio::task::spawn_blocking(move || {
            git(&dir, &["-c", &format!("core.sshCommand={strict}"), "clone", "--quiet", &url, "."])
        })
        .await
        .unwrap();
        assert!(refused.is_err());
    }
}
