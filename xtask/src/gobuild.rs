//! Builds the control plane's Go binaries and the peer tools (Helm, the flux
//! CLI, Flux's kustomize-controller) from the modules under `hack/`, caching them outside the checkout keyed
//! by the module's sources.

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

/// The peer tools tests drive: never shipped, only used to check Ferry against them.
#[derive(Debug, Clone)]
pub struct Tools {
    /// Helm v3 (`hack/helm`): lints and renders the charts.
    pub helm: PathBuf,
    /// The flux CLI (`hack/flux`): reads Ferry's objects as Flux's own.
    pub flux: PathBuf,
    /// Flux's kustomize-controller (`hack/flux-kustomize-controller`): runs on Ferry's
    /// source-controller and hands Kustomizations over to Ferry's twin and back.
    pub flux_kustomize_controller: PathBuf,
    /// kustomize (`hack/kustomize`): the truth of the kustomize engine's differential tests.
    pub kustomize: PathBuf,
    /// MinIO (`hack/minio`): the S3 server the Bucket tests read from.
    pub minio: PathBuf,
    /// Go's text/template with Sprig (`hack/gotemplate-oracle`): ferry-gotemplate's tests
    /// compare against it live when it builds; their golden files cover the rest.
    pub gotemplate_oracle: Option<PathBuf>,
}

/// The environment variable through which tests find Helm.
pub const HELM_ENV: &str = "FERRY_HELM";
/// The environment variable through which tests find the flux CLI.
pub const FLUX_ENV: &str = "FERRY_FLUX";
/// The environment variable through which tests find Flux's kustomize-controller.
pub const FLUX_KUSTOMIZE_CONTROLLER_ENV: &str = "FERRY_FLUX_KUSTOMIZE_CONTROLLER";
/// The environment variable through which the kustomize differential tests find kustomize.
pub const KUSTOMIZE_ENV: &str = "FERRY_KUSTOMIZE";

/// The environment variable through which the Bucket tests find MinIO.
pub const MINIO_ENV: &str = "FERRY_MINIO";

/// The environment variable through which ferry-gotemplate's tests find the Go oracle.
pub const GOTEMPLATE_ORACLE_ENV: &str = "FERRY_GOTEMPLATE_ORACLE";

/// Returns the peer tools, building any that are missing.
pub fn tools() -> Result<Tools> {
    Ok(Tools {
        helm: helm()?,
        flux: flux()?,
        flux_kustomize_controller: flux_kustomize_controller()?,
        kustomize: kustomize()?,
        minio: minio()?,
        gotemplate_oracle: gotemplate_oracle().ok(),
    })
}

/// The Go text/template + Sprig oracle from `hack/gotemplate-oracle`.
pub fn gotemplate_oracle() -> Result<PathBuf> {
    let dir = paths::root().join("hack/gotemplate-oracle");
    let out = ensure_module(&dir, "gotemplate-oracle", "-s -w", &[(".", "gotemplate-oracle")])?;
    Ok(out.join("gotemplate-oracle"))
}

/// Helm from `hack/helm`, stamped with its version and the Kubernetes version of its
/// client-go the way Helm's Makefile does (client-go v0.37 → Kubernetes 1.37).
pub fn helm() -> Result<PathBuf> {
    let dir = paths::root().join("hack/helm");
    let version = required_version(&dir, "helm.sh/helm/v3")?;
    let client_go = required_version(&dir, "k8s.io/client-go")?;
    let (major, minor) = major_minor(&client_go)?;
    let kube_major = major.parse::<u32>().with_context(|| format!("client-go version {client_go}"))? + 1;
    let mut ldflags = format!(
        "-s -w -X helm.sh/helm/v3/internal/version.version={version} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    );
    for package in ["helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"] {
        ldflags.push_str(&format!(" -X {package}.k8sVersionMajor={kube_major} -X {package}.k8sVersionMinor={minor}"));
    }
    let out = ensure_module(&dir, "helm", &ldflags, &[("helm.sh/helm/v3/cmd/helm", "helm")])?;
    Ok(out.join("helm"))
}

/// kustomize from `hack/kustomize`: the engine `kubectl kustomize` embeds (kubectl 1.32 runs
/// kustomize v5.5.0), built alone because it is a small build and a CI machine has no kubectl.
pub fn kustomize() -> Result<PathBuf> {
    let dir = paths::root().join("hack/kustomize");
    // Not stamped with its version: `kubectl kustomize` is not either, and the version shows in
    // output (buildMetadata's managedByLabel is `kustomize-(devel)` in both).
    let out = ensure_module(&dir, "kustomize", "-s -w", &[("sigs.k8s.io/kustomize/kustomize/v5", "kustomize")])?;
    Ok(out.join("kustomize"))
}

/// MinIO from `hack/minio` (its module at the pseudo-version the Go proxy serves for `latest`):
/// the S3 server of the Bucket tests, built like the other peers and cached by the module's digest.
pub fn minio() -> Result<PathBuf> {
    let dir = paths::root().join("hack/minio");
    let out = ensure_module(&dir, "minio", "-s -w", &[("github.com/minio/minio", "minio")])?;
    Ok(out.join("minio"))
}

/// What `flux install` would embed: flux2's build generates `cmd/flux/manifests/*.yaml` from
/// Flux's release manifests before compiling, and the module's zip lacks them. Ferry's build
/// embeds this file instead, so `flux install` and `flux bootstrap` do not work with it; every
/// command that reads or writes objects does.
const FLUX_MANIFESTS: &str = "# Built by Ferry's xtask without Flux's install manifests: use Ferry's Helm charts.\n";

/// The flux CLI from `hack/flux`. Its main package embeds generated manifests that the module
/// zip leaves out, so it is built from a copy of the module source with a placeholder for them,
/// wired in by a directory `replace` on top of `hack/flux/go.mod` (whose own replace directive,
/// copied from flux2's go.mod, still applies).
pub fn flux() -> Result<PathBuf> {
    let dir = paths::root().join("hack/flux");
    let module = "github.com/fluxcd/flux2/v2";
    let version = required_version(&dir, module)?;
    let ldflags = format!("-s -w -X main.VERSION={}", version.trim_start_matches('v'));
    let key = module_key(&dir, &format!("{ldflags}\n{FLUX_MANIFESTS}"))?;
    let out = paths::cache_dir().join(format!("flux-{key}"));
    let binary = out.join("flux");
    if binary.is_file() {
        return Ok(binary);
    }
    let _lock = build_lock(&out)?;
    if binary.is_file() {
        return Ok(binary);
    }
    let staging = out.with_extension("partial");
    let _ = fs::remove_dir_all(&staging);
    let src = staging.join("src");
    fs::create_dir_all(&src)?;
    let download = Command::new(go_command())
        .current_dir(&dir)
        .args(["mod", "download", "-json", &format!("{module}@{version}")])
        .output()
        .context("running `go mod download` (is Go installed and on PATH?)")?;
    if !download.status.success() {
        bail!("`go mod download {module}@{version}` failed: {}", String::from_utf8_lossy(&download.stderr));
    }
    let info: serde_json::Value =
        serde_json::from_slice(&download.stdout).context("reading `go mod download -json`")?;
    let module_dir =
        info.get("Dir").and_then(serde_json::Value::as_str).context("`go mod download -json` printed no Dir")?;
    copy_tree(Path::new(module_dir), &src.join("flux2"))?;
    let manifests = src.join("flux2/cmd/flux/manifests");
    fs::create_dir_all(&manifests)?;
    fs::write(manifests.join("ferry.yaml"), FLUX_MANIFESTS)?;
    fs::copy(dir.join("go.sum"), src.join("go.sum"))?;
    let go_mod = fs::read_to_string(dir.join("go.mod"))?;
    fs::write(src.join("go.mod"), format!("{go_mod}\nreplace {module} => ./flux2\n"))?;
    go_build(&src, &ldflags, &format!("{module}/cmd/flux"), &staging.join("flux"), &dir, &out)?;
    fs::remove_dir_all(&src)?;
    let _ = fs::remove_dir_all(&out);
    fs::rename(&staging, &out).with_context(|| format!("moving the flux CLI into {}", out.display()))?;
    Ok(binary)
}

/// Copies a directory tree, leaving every copy writable (the module cache's files are read-only).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::write(&target, fs::read(entry.path())?).with_context(|| format!("writing {}", target.display()))?;
        }
    }
    Ok(())
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
    let _lock = build_lock(&out)?;
    if targets.iter().all(|(_, bin)| out.join(bin).is_file()) {
        return Ok(out);
    }
    let staging = out.with_extension("partial");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    for (package, bin) in targets {
        go_build(dir, ldflags, package, &staging.join(bin), dir, &out)?;
    }
    let _ = fs::remove_dir_all(&out);
    fs::rename(&staging, &out).with_context(|| format!("moving binaries into {}", out.display()))?;
    Ok(out)
}

/// An exclusive lock on `<out>.lock`, held while one process builds `out`: several checkouts
/// (CI, worktrees) share the cache, and two builders in one staging folder delete each
/// other's files. The second waits, then finds the binaries built.
fn build_lock(out: &Path) -> Result<fs::File> {
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent)?;
    }
    let path = out.with_extension("lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.lock().with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

/// `go build -trimpath` of `package` in `cwd` into `output`; `module` and `cache` only name
/// the module and cache folder in the progress lines.
fn go_build(cwd: &Path, ldflags: &str, package: &str, output: &Path, module: &Path, cache: &Path) -> Result<()> {
    let bin = output.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    eprintln!(
        "==> building {bin} from {} (first run only; the result is cached in {})",
        module.strip_prefix(paths::root()).unwrap_or(module).display(),
        cache.display()
    );
    let started = Instant::now();
    let status = Command::new(go_command())
        .current_dir(cwd)
        .args(["build", "-trimpath"])
        .arg(format!("-ldflags={ldflags}"))
        .arg("-o")
        .arg(output)
        .arg(package)
        .status()
        .context("running `go build` (is Go installed and on PATH?)")?;
    if !status.success() {
        bail!("`go build {package}` in {} failed", cwd.display());
    }
    eprintln!("    built {bin} in {:.0?}", started.elapsed());
    Ok(())
}

/// Where Flux's kustomize-controller is built from.
pub const FLUX_KUSTOMIZE_CONTROLLER_DIR: &str = "hack/flux-kustomize-controller";
/// The Go module of Flux's kustomize-controller.
pub const FLUX_KUSTOMIZE_CONTROLLER_MODULE: &str = "github.com/fluxcd/kustomize-controller";

/// Flux's kustomize-controller, built from `hack/flux-kustomize-controller` (a
/// module that requires it and restates its replace directives) when missing,
/// and cached by that module's digest.
pub fn flux_kustomize_controller() -> Result<PathBuf> {
    let dir = paths::root().join(FLUX_KUSTOMIZE_CONTROLLER_DIR);
    let out = ensure_module(
        &dir,
        "flux-kustomize-controller",
        "-s -w",
        &[(FLUX_KUSTOMIZE_CONTROLLER_MODULE, "kustomize-controller")],
    )?;
    Ok(out.join("kustomize-controller"))
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
