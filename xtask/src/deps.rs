//! System packages the tests need, installed from Debian's archive when
//! missing (CI and fresh machines start without them).

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

/// A program the tests run, and the Debian package that ships it.
const PACKAGES: &[(&str, &str)] = &[
    ("/usr/bin/git", "git"),
    ("/usr/lib/git-core/git-http-backend", "git"),
    ("/usr/sbin/sshd", "openssh-server"),
    ("/usr/bin/ssh-keygen", "openssh-client"),
    ("/usr/bin/gpg", "gnupg"),
    ("/usr/bin/time", "time"),
    ("/usr/bin/docker-registry", "docker-registry"),
];

/// Installs the packages whose programs are missing.
pub fn ensure() -> Result<()> {
    let mut missing: Vec<&str> =
        PACKAGES.iter().filter(|(program, _)| !Path::new(program).exists()).map(|(_, package)| *package).collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        bail!("the tests need these Debian packages: {} (install them with apt-get as root)", missing.join(" "));
    }
    eprintln!("==> installing {}", missing.join(" "));
    let apt = |args: &[&str]| -> Result<()> {
        let status = Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").status()?;
        if !status.success() {
            bail!("apt-get {} failed", args.join(" "));
        }
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(&missing);
    apt(&install)?;
    if missing.contains(&"docker-registry") {
        stop_registry_service();
    }
    Ok(())
}

/// docker-registry's package enables a system service on port 5000: the
/// tests start their own registries per test, so the service is stopped and
/// disabled (where systemd runs; elsewhere policy-rc.d kept it from starting).
fn stop_registry_service() {
    for args in [&["disable", "--now", "docker-registry"][..], &["stop", "docker-registry"][..]] {
        let _ = Command::new("systemctl").args(args).status();
    }
    let _ = Command::new("service").args(["docker-registry", "stop"]).status();
}
