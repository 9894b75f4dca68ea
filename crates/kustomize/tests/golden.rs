//! Golden tests: every directory under `tests/fixtures/` is built and compared with the
//! `expected.yaml` that `kubectl kustomize` (kustomize v5.5.0) printed for it, or, where the
//! fixture has `expected-error.txt`, the build must fail with a message containing that text.
//!
//! `FERRY_REGEN_GOLDEN=1 cargo test -p ferry-kustomize --test golden` rewrites `expected.yaml`
//! from `kubectl kustomize`.

use ferry_kustomize::{BuildOptions, RealFs, build};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixtures directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| ["kustomization.yaml", "kustomization.yml", "Kustomization"].iter().any(|f| p.join(f).is_file()))
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn fixtures_match_kubectl_kustomize() {
    let regen = std::env::var_os("FERRY_REGEN_GOLDEN").is_some();
    let mut failures = Vec::new();
    let dirs = fixtures();
    assert!(dirs.len() >= 20, "expected the fixture set, found {}", dirs.len());
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let error_file = dir.join("expected-error.txt");
        let result = build(&RealFs, dir, &BuildOptions::default());
        if error_file.is_file() {
            let want = std::fs::read_to_string(&error_file).unwrap();
            match result {
                Ok(_) => failures.push(format!("{name}: expected an error containing {want:?}, build succeeded")),
                Err(e) if !e.to_string().contains(want.trim()) => {
                    failures.push(format!("{name}: error {e:?} does not contain {want:?}"))
                }
                Err(_) => {}
            }
            continue;
        }
        let expected_file = dir.join("expected.yaml");
        if regen {
            let out = Command::new("kubectl").arg("kustomize").arg(dir).output().expect("kubectl");
            assert!(out.status.success(), "kubectl kustomize {name} failed: {}", String::from_utf8_lossy(&out.stderr));
            std::fs::write(&expected_file, &out.stdout).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_file).unwrap_or_default();
        match result {
            Ok(got) if got == expected => {}
            Ok(got) => failures.push(format!("{name}: output differs\n--- expected\n{expected}\n--- got\n{got}")),
            Err(e) => failures.push(format!("{name}: build failed: {e}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures failed:\n{}", failures.len(), dirs.len(), failures.join("\n"));
}
