//! Signing keys made by the real tools, for signed commits and tags.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};

/// A PGP signing key in its own gpg home.
#[derive(Debug, Clone)]
pub struct PgpKey {
    /// A `gpg` wrapper bound to the key's home, for git's `gpg.program`.
    pub program: PathBuf,
    /// The key's fingerprint, for git's `user.signingkey`.
    pub fingerprint: String,
    /// The armored public key.
    pub public: String,
}

/// An SSH signing key.
#[derive(Debug, Clone)]
pub struct SshKey {
    /// The private key file, for git's `user.signingkey` (with `gpg.format=ssh`).
    pub private: PathBuf,
    /// The public key line.
    pub public: String,
    /// The `SHA256:…` fingerprint.
    pub fingerprint: String,
}

/// Makes a fresh ed25519 PGP signing key for `name` under `dir`.
pub fn pgp_key(dir: &Path, name: &str) -> Result<PgpKey> {
    let home = dir.join(format!("gnupg-{name}"));
    std::fs::create_dir_all(&home)?;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700))?;
    let gpg = |args: &[&str]| -> Result<String> {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--quiet"])
            .args(args)
            .output()
            .context("running gpg")?;
        ensure!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    };
    let uid = format!("{name} <{name}@ferry.invalid>");
    gpg(&["--passphrase", "", "--quick-gen-key", &uid, "ed25519", "sign", "never"])?;
    let listing = gpg(&["--with-colons", "--list-keys", &uid])?;
    let fingerprint = listing
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .context("no fingerprint in gpg's listing")?
        .to_string();
    let public = gpg(&["--armor", "--export", &fingerprint])?;
    let program = dir.join(format!("gpg-{name}.sh"));
    std::fs::write(&program, format!("#!/bin/sh\nexec gpg --homedir {} \"$@\"\n", home.display()))?;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))?;
    Ok(PgpKey { program, fingerprint, public })
}

/// Makes a fresh ed25519 SSH key for `name` under `dir`.
pub fn ssh_key(dir: &Path, name: &str) -> Result<SshKey> {
    let private = dir.join(format!("ssh-{name}"));
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&private)
        .output()
        .context("running ssh-keygen")?;
    ensure!(out.status.success(), "ssh-keygen: {}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(private.with_extension("pub"))?;
    let listed = Command::new("ssh-keygen").arg("-lf").arg(private.with_extension("pub")).output()?;
    let fingerprint = String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .nth(1)
        .context("no fingerprint from ssh-keygen -l")?
        .to_string();
    Ok(SshKey { private, public, fingerprint })
}

impl PgpKey {
    /// The `git -c …` options that sign with this key.
    pub fn git_config(&self) -> Vec<String> {
        vec![
            "-c".into(),
            format!("gpg.program={}", self.program.display()),
            "-c".into(),
            format!("user.signingkey={}", self.fingerprint),
        ]
    }
}

impl SshKey {
    /// The `git -c …` options that sign with this key.
    pub fn git_config(&self) -> Vec<String> {
        vec!["-c".into(), "gpg.format=ssh".into(), "-c".into(), format!("user.signingkey={}", self.private.display())]
    }
}
