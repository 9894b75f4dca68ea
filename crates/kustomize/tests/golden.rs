//! Golden tests: every directory under `tests/fixtures/`, and every krusty case under
//! `tests/krusty/` on which Ferry and kustomize agree, is built and compared with the
//! `expected.yaml` that kustomize v5.5.0 (`kubectl kustomize` 1.32) printed for it, or, where the
//! case has `expected-error.txt`, the build must fail with a message containing that text. It
//! needs no kustomize, so it runs anywhere.
//!
//! `FERRY_REGEN_GOLDEN=1 cargo test -p ferry-kustomize --test golden` rewrites `expected.yaml`
//! from kustomize (see tests/support for which one).

mod support;

use std::path::PathBuf;
use support::Truth;

/// The golden cases: the hand-made fixtures, and the krusty cases on which Ferry and kustomize
/// agree (those with an expected result).
fn fixtures() -> Vec<PathBuf> {
    let mut dirs = support::cases(&support::suite("fixtures"));
    dirs.extend(
        support::cases(&support::suite("krusty"))
            .into_iter()
            .filter(|d| d.join("expected.yaml").is_file() || d.join("expected-error.txt").is_file()),
    );
    dirs
}

#[test]
fn fixtures_match_kubectl_kustomize() {
    let regen = std::env::var_os("FERRY_REGEN_GOLDEN").is_some().then(Truth::find);
    let mut failures = Vec::new();
    let dirs = fixtures();
    assert!(dirs.len() >= 20, "expected the fixture set, found {}", dirs.len());
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let error_file = dir.join("expected-error.txt");
        let result = support::ferry(dir);
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
        if let Some(truth) = &regen {
            let out = truth.build(dir).unwrap_or_else(|e| panic!("{} failed on {name}: {e}", truth.name()));
            std::fs::write(&expected_file, out).unwrap();
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
