//! Builds the control plane's Go binaries from the modules under `hack/`,
//! caching them outside the checkout keyed by the module's sources.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::paths;

/// Paths of the control plane's binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
    pub kube_scheduler: PathBuf,
    pub kwok: PathBuf,
}

/// Returns the binaries, building any that are missing.
pub fn ensure() -> Result<Binaries> {
    let root = paths::root();
    let kube_dir = root.join("hack/kube");
    let version = required_version(&kube_dir, "k8s.io/kubernetes")?;
    let (major, minor) = major_minor(&version)?;
    let mut ldflags = String::from("-s -w");
    for package in ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"] {
        ldflags.push_str(&format!(
            " -X {package}.gitVersion={version} -X {package}.gitMajor={major} -X {package}.gitMinor={minor} -X {package}.gitTreeState=clean -X {package}.buildDate=1970-01-01T00:00:00Z"
        ));
    }
    let kube = ensure_module(
        &kube_dir,
        "kube",
        &ldflags,
        &[
            ("./cmd/etcd", "etcd"),
            ("./cmd/kube-apiserver", "kube-apiserver"),
            ("./cmd/kube-controller-manager", "kube-controller-manager"),
            ("./cmd/kube-scheduler", "kube-scheduler"),
        ],
    )?;
    let kwok = ensure_module(&root.join("hack/kwok"), "kwok", "-s -w", &[("sigs.k8s.io/kwok/cmd/kwok", "kwok")])?;
    Ok(Binaries {
        etcd: kube.join("etcd"),
        kube_apiserver: kube.join("kube-apiserver"),
        kube_controller_manager: kube.join("kube-controller-manager"),
        kube_scheduler: kube.join("kube-scheduler"),
        kwok: kwok.join("kwok"),
    })
}

/// `go` from PATH, else the usual install location (some shells leave it off PATH).
fn go_command() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join("go").is_file()))
        .unwrap_or(false);
    let fallback = PathBuf::from("/usr/local/go/bin/go");
    if !on_path && fallback.is_file() { fallback } else { PathBuf::from("go") }
}

/// The version of `module` that the go.mod in `dir` requires.
pub(crate) fn required_version(dir: &Path, module: &str) -> Result<String> {
    let go_mod = fs::read_to_string(dir.join("go.mod"))?;
    go_mod
        .lines()
        .map(str::trim)
        .map(|line| line.strip_prefix("require ").unwrap_or(line))
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(module)).then(|| words.next().map(str::to_string)).flatten()
        })
        .with_context(|| format!("{}/go.mod does not require {module}", dir.display()))
}

/// `v1.36.3` → (`1`, `36`).
fn major_minor(version: &str) -> Result<(String, String)> {
    let mut parts = version.trim_start_matches('v').split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => Ok((major.to_string(), minor.to_string())),
        _ => bail!("unexpected version {version}"),
    }
}

/// A digest of everything that decides a module's build output: go.mod,
/// go.sum, the module's own Go files and the linker flags.
fn module_key(dir: &Path, ldflags: &str) -> Result<String> {
    let mut files = vec![dir.join("go.mod"), dir.join("go.sum")];
    collect_go_files(dir, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    hasher.update(ldflags.as_bytes());
    for file in &files {
        let rel = file.strip_prefix(dir).unwrap_or(file);
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(fs::read(file).with_context(|| format!("reading {}", file.display()))?);
        hasher.update([0]);
    }
    Ok(hex::encode(&hasher.finalize()[..8]))
}

fn collect_go_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_go_files(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "go") {
            out.push(path);
        }
    }
    Ok(())
}

pub(crate) fn ensure_module(dir: &Path, prefix: &str, ldflags: &str, targets: &[(&str, &str)]) -> Result<PathBuf> {
    let out = paths::cache_dir().join(format!("{prefix}-{}", module_key(dir, ldflags)?));
    if targets.iter().all(|(_, bin)| out.join(bin).is_file()) {
        return Ok(out);
    }
    let staging = out.with_extension("partial");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    for (package, bin) in targets {
        eprintln!(
            "==> building {bin} from {} (first run only; the result is cached in {})",
            dir.strip_prefix(paths::root()).unwrap_or(dir).display(),
            out.display()
        );
        let started = Instant::now();
        let status = Command::new(go_command())
            .current_dir(dir)
            .args(["build", "-trimpath"])
            .arg(format!("-ldflags={ldflags}"))
            .arg("-o")
            .arg(staging.join(bin))
            .arg(package)
            .status()
            .context("running `go build` (is Go installed and on PATH?)")?;
        if !status.success() {
            bail!("`go build {package}` in {} failed", dir.display());
        }
        eprintln!("    built {bin} in {:.0?}", started.elapsed());
    }
    let _ = fs::remove_dir_all(&out);
    fs::rename(&staging, &out).with_context(|| format!("moving binaries into {}", out.display()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_required_versions() {
        let dir = std::env::temp_dir().join(format!("xtask-gomod-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("go.mod"),
            "module x\n\nrequire k8s.io/kubernetes v1.36.3\n\nrequire (\n\tgo.etcd.io/bbolt v1.4.3 // indirect\n)\n",
        )
        .unwrap();
        assert_eq!(required_version(&dir, "k8s.io/kubernetes").unwrap(), "v1.36.3");
        assert_eq!(required_version(&dir, "go.etcd.io/bbolt").unwrap(), "v1.4.3");
        assert!(required_version(&dir, "k8s.io/api").is_err());
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(major_minor("v1.36.3").unwrap(), ("1".into(), "36".into()));
        assert!(major_minor("garbage").is_err());
    }
}
