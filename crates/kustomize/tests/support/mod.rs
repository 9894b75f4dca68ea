//! What the golden and differential tests share: where the cases are, how one is built by
//! Ferry, and the kustomize they are compared with.
//!
//! A case is a directory holding the input tree. It builds the directory itself, or the
//! directory named in its `build-dir` file (cases from kustomize's krusty tests build a
//! subdirectory next to its bases). A `load-restrictor-none` file asks for kustomize's
//! `--load-restrictor LoadRestrictionsNone`. The expected result is `expected.yaml`, or
//! `expected-error.txt` with text the error must contain.

#![allow(dead_code)]

use ferry_kustomize::{BuildOptions, LoadRestrictions, RealFs, build};
use std::path::{Path, PathBuf};
use std::process::Command;

const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The case directories of one suite directory, sorted by name.
pub fn cases(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("cases directory {}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("build-dir").is_file() || KUSTOMIZATION_FILES.iter().any(|f| p.join(f).is_file()))
        .collect();
    dirs.sort();
    dirs
}

/// The suite directories under tests/: the hand-made fixtures and the krusty cases.
pub fn suite(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(name)
}

/// The directory a case builds.
pub fn build_dir(case: &Path) -> PathBuf {
    match std::fs::read_to_string(case.join("build-dir")) {
        Ok(rel) => case.join(rel.trim()),
        Err(_) => case.to_path_buf(),
    }
}

/// Whether a case asks for `--load-restrictor LoadRestrictionsNone`.
pub fn load_restrictor_none(case: &Path) -> bool {
    case.join("load-restrictor-none").is_file()
}

/// Ferry's build of a case: its output, its error message, or `PANIC`.
pub fn ferry(case: &Path) -> Result<String, String> {
    let mut options = BuildOptions::default();
    if load_restrictor_none(case) {
        options.load_restrictions = LoadRestrictions::None;
    }
    let dir = build_dir(case);
    // A panic is a failure of its own kind: catch it so one case cannot hide the others.
    match std::panic::catch_unwind(move || build(&RealFs, &dir, &options)) {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("PANIC".to_string()),
    }
}

/// The kustomize every case is compared with: v5.5.0, the engine of `kubectl kustomize` 1.32.
pub enum Truth {
    /// A kustomize binary: `cargo xtask test` builds one from hack/kustomize and names it in
    /// `FERRY_KUSTOMIZE`; otherwise `kustomize` from PATH.
    Kustomize(PathBuf),
    /// `kubectl kustomize` from PATH.
    Kubectl,
}

/// The environment variable `cargo xtask test` sets to the kustomize it built.
pub const KUSTOMIZE_ENV: &str = "FERRY_KUSTOMIZE";

fn runs(program: &Path, args: &[&str]) -> bool {
    Command::new(program).args(args).output().map(|o| o.status.success()).unwrap_or(false)
}

impl Truth {
    /// Finds the truth, and fails the test when there is none: a differential test that
    /// quietly skips itself is how CI ended up never running it.
    pub fn find() -> Truth {
        if let Some(path) = std::env::var_os(KUSTOMIZE_ENV) {
            let path = PathBuf::from(path);
            assert!(runs(&path, &["version"]), "{KUSTOMIZE_ENV}={} does not run", path.display());
            return Truth::Kustomize(path);
        }
        if runs(Path::new("kustomize"), &["version"]) {
            return Truth::Kustomize(PathBuf::from("kustomize"));
        }
        if runs(Path::new("kubectl"), &["version", "--client"]) {
            return Truth::Kubectl;
        }
        panic!(
            "no kustomize to compare with: run `cargo xtask test -p ferry-kustomize` (it builds kustomize v5.5.0 from \
             hack/kustomize), or set {KUSTOMIZE_ENV}=$(cargo xtask tools kustomize), or put kubectl 1.32 on PATH"
        );
    }

    /// What the truth is, for messages.
    pub fn name(&self) -> String {
        match self {
            Truth::Kustomize(path) => format!("kustomize ({})", path.display()),
            Truth::Kubectl => "kubectl kustomize".to_string(),
        }
    }

    /// The truth's build of a case: its output or its error message.
    pub fn build(&self, case: &Path) -> Result<String, String> {
        let mut cmd = match self {
            Truth::Kustomize(path) => {
                let mut c = Command::new(path);
                c.arg("build");
                c
            }
            Truth::Kubectl => {
                let mut c = Command::new("kubectl");
                c.arg("kustomize");
                c
            }
        };
        cmd.arg(build_dir(case));
        if load_restrictor_none(case) {
            cmd.args(["--load-restrictor", "LoadRestrictionsNone"]);
        }
        let out = cmd.output().expect("run kustomize");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}
