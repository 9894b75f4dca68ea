//! Differential test against the real `kubectl kustomize`: every case directory is built with
//! both engines and the outputs must be the same bytes, and a case kustomize refuses must be
//! refused by Ferry too (with a message, never a panic).
//!
//! It runs only where `kubectl` is on PATH (it is skipped otherwise; the golden test checks the
//! committed fixtures without kubectl). The cases are the golden fixtures, or the case
//! directories under `FERRY_KUSTOMIZE_CASES` (a directory of case directories):
//!
//! ```text
//! cargo test -p ferry-kustomize --test differential -- --nocapture
//! FERRY_KUSTOMIZE_CASES=/tmp/cases cargo test -p ferry-kustomize --test differential -- --nocapture
//! ```
//!
//! With `FERRY_KUSTOMIZE_PROMOTE=/path/to/fixtures`, cases that agree are copied there as golden
//! fixtures (with `expected.yaml`, or `expected-error.txt` holding the first line of Ferry's error).

use ferry_kustomize::{BuildOptions, LoadRestrictions, RealFs, build};
use std::path::{Path, PathBuf};
use std::process::Command;

const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

fn kubectl_available() -> bool {
    Command::new("kubectl").args(["version", "--client"]).output().map(|o| o.status.success()).unwrap_or(false)
}

fn cases(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("cases directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| KUSTOMIZATION_FILES.iter().any(|f| p.join(f).is_file()))
        .collect();
    dirs.sort();
    dirs
}

/// A case may ask for kustomize's `--load-restrictor LoadRestrictionsNone` with a file `load-restrictor-none`.
fn load_restrictor_none(dir: &Path) -> bool {
    dir.join("load-restrictor-none").is_file()
}

fn kubectl_kustomize(dir: &Path) -> Result<String, String> {
    let mut cmd = Command::new("kubectl");
    cmd.arg("kustomize").arg(dir);
    if load_restrictor_none(dir) {
        cmd.args(["--load-restrictor", "LoadRestrictionsNone"]);
    }
    let out = cmd.output().expect("run kubectl");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn ferry_kustomize(dir: &Path) -> Result<String, String> {
    let mut options = BuildOptions::default();
    if load_restrictor_none(dir) {
        options.load_restrictions = LoadRestrictions::None;
    }
    let dir = dir.to_path_buf();
    // A panic is a failure of its own kind: catch it so one case cannot hide the others.
    match std::panic::catch_unwind(move || build(&RealFs, &dir, &options)) {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("PANIC".to_string()),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn cases_match_kubectl_kustomize() {
    if !kubectl_available() {
        eprintln!("kubectl is not on PATH: differential test skipped");
        return;
    }
    let root = std::env::var_os("FERRY_KUSTOMIZE_CASES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"));
    let promote = std::env::var_os("FERRY_KUSTOMIZE_PROMOTE").map(PathBuf::from);
    let dirs = cases(&root);
    assert!(!dirs.is_empty(), "no case directories under {}", root.display());
    let mut failures = Vec::new();
    let mut agree = 0;
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let verdict = match (kubectl_kustomize(dir), ferry_kustomize(dir)) {
            (Ok(want), Ok(got)) if want == got => Ok(Ok(want)),
            (Ok(want), Ok(got)) => Err(format!("{name}: output differs\n--- kubectl\n{want}\n--- ferry\n{got}")),
            (Ok(_), Err(e)) => Err(format!("{name}: kubectl succeeded, ferry failed: {e}")),
            (Err(e), Ok(_)) => Err(format!("{name}: kubectl failed ({}), ferry succeeded", e.trim())),
            (Err(_), Err(e)) if e == "PANIC" => Err(format!("{name}: ferry panicked")),
            (Err(_), Err(e)) => Ok(Err(e)),
        };
        match verdict {
            Ok(result) => {
                agree += 1;
                if let Some(fixtures) = &promote {
                    let target = fixtures.join(&name);
                    if !target.exists() {
                        copy_dir(dir, &target);
                        match result {
                            Ok(out) => std::fs::write(target.join("expected.yaml"), out).unwrap(),
                            Err(e) => {
                                let first = e.lines().next().unwrap_or_default().to_string();
                                std::fs::write(target.join("expected-error.txt"), first).unwrap()
                            }
                        }
                    }
                }
            }
            Err(failure) => failures.push(failure),
        }
    }
    eprintln!("differential: {agree} of {} cases agree with kubectl kustomize", dirs.len());
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), dirs.len(), failures.join("\n\n"));
}
