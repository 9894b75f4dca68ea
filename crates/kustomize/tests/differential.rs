//! Differential test against the real kustomize (v5.5.0, the engine of `kubectl kustomize`
//! 1.32): every case directory is built with both engines and the outputs must be the same
//! bytes, and a case kustomize refuses must be refused by Ferry too (with a message, never a
//! panic).
//!
//! The truth is the kustomize `cargo xtask test` builds from hack/kustomize (named in
//! `FERRY_KUSTOMIZE`), else `kustomize` or `kubectl` from PATH; with none of them the test
//! fails rather than skip. Two suites:
//!
//! - the hand-made fixtures (tests/fixtures), or the case directories under
//!   `FERRY_KUSTOMIZE_CASES`, which must all agree;
//! - the cases derived from kustomize's own krusty tests (tests/krusty, written by
//!   hack/krusty-extract), whose share of agreement is printed; the ones that differ are listed
//!   with the reason in tests/krusty/known-differences.txt and docs/kustomize.md, and any other
//!   difference fails.
//!
//! ```text
//! cargo xtask test -p ferry-kustomize --no-lint -- --nocapture
//! FERRY_KUSTOMIZE_CASES=/tmp/cases cargo test -p ferry-kustomize --test differential -- --nocapture
//! ```
//!
//! With `FERRY_KUSTOMIZE_PROMOTE=/path/to/fixtures`, cases that agree are copied there as golden
//! fixtures (with `expected.yaml`, or `expected-error.txt` holding the first line of Ferry's error).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::Truth;

/// How one case went: agreed (on an output or on an error), or differed (with the story).
type Verdict = Result<Result<String, String>, String>;

fn compare(truth: &Truth, dir: &Path) -> Verdict {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    match (truth.build(dir), support::ferry(dir)) {
        (Ok(want), Ok(got)) if want == got => Ok(Ok(want)),
        (Ok(want), Ok(got)) => Err(format!("{name}: output differs\n--- kustomize\n{want}\n--- ferry\n{got}")),
        (Ok(_), Err(e)) => Err(format!("{name}: kustomize succeeded, ferry failed: {e}")),
        (Err(e), Ok(_)) => Err(format!("{name}: kustomize failed ({}), ferry succeeded", e.trim())),
        (Err(_), Err(e)) if e == "PANIC" => Err(format!("{name}: ferry panicked")),
        (Err(_), Err(e)) => Ok(Err(e)),
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

/// Writes the expected result of an agreeing case next to its input. An error message that
/// names files by absolute path keeps only its longest stretch without the case's path, so the
/// expectation holds in any checkout.
fn record(target: &Path, result: &Result<String, String>) {
    match result {
        Ok(out) => std::fs::write(target.join("expected.yaml"), out).unwrap(),
        Err(e) => {
            let first = e.lines().next().unwrap_or_default();
            let case = target.canonicalize().unwrap_or_else(|_| target.to_path_buf());
            let kept = first
                .split(case.to_string_lossy().as_ref())
                .max_by_key(|piece| piece.len())
                .unwrap_or(first)
                .to_string();
            std::fs::write(target.join("expected-error.txt"), kept).unwrap()
        }
    }
}

#[test]
fn cases_match_kustomize() {
    let truth = Truth::find();
    let root =
        std::env::var_os("FERRY_KUSTOMIZE_CASES").map(PathBuf::from).unwrap_or_else(|| support::suite("fixtures"));
    let promote = std::env::var_os("FERRY_KUSTOMIZE_PROMOTE").map(PathBuf::from);
    let dirs = support::cases(&root);
    assert!(!dirs.is_empty(), "no case directories under {}", root.display());
    let mut failures = Vec::new();
    let mut agree = 0;
    for dir in &dirs {
        match compare(&truth, dir) {
            Ok(result) => {
                agree += 1;
                if let Some(fixtures) = &promote {
                    let target = fixtures.join(dir.file_name().unwrap());
                    if !target.exists() {
                        copy_dir(dir, &target);
                        record(&target, &result);
                    }
                }
            }
            Err(failure) => failures.push(failure),
        }
    }
    eprintln!("differential: {agree} of {} cases agree with {}", dirs.len(), truth.name());
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), dirs.len(), failures.join("\n\n"));
}

/// `case-name  reason` lines; `#` starts a comment.
fn known_differences(root: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root.join("known-differences.txt")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((name, reason)) => (name.to_string(), reason.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

#[test]
fn krusty_suite_agreement() {
    let truth = Truth::find();
    let root = support::suite("krusty");
    let known = known_differences(&root);
    let dirs = support::cases(&root);
    assert!(dirs.len() >= 100, "expected the krusty cases under {}, found {}", root.display(), dirs.len());
    // FERRY_KRUSTY_RECORD=1 writes expected.yaml / expected-error.txt for every agreeing case
    // (after a refresh by hack/krusty-extract).
    let record_all = std::env::var_os("FERRY_KRUSTY_RECORD").is_some();
    let (mut agree, mut errors) = (0, 0);
    let mut unexpected = Vec::new();
    let mut stale = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        match compare(&truth, dir) {
            Ok(result) => {
                agree += 1;
                errors += usize::from(result.is_err());
                if record_all {
                    record(dir, &result);
                }
                if known.contains_key(&name) {
                    stale.push(name);
                }
            }
            Err(failure) if !known.contains_key(&name) => unexpected.push(failure),
            Err(_) => {}
        }
    }
    eprintln!(
        "krusty: {agree} of {} cases agree with {} ({:.1}%; {errors} of them on an error); {} known differences",
        dirs.len(),
        truth.name(),
        100.0 * agree as f64 / dirs.len() as f64,
        dirs.len() - agree,
    );
    assert!(
        unexpected.is_empty(),
        "{} krusty cases differ and are not in known-differences.txt:\n{}",
        unexpected.len(),
        unexpected.join("\n\n")
    );
    assert!(stale.is_empty(), "these krusty cases agree now; remove them from known-differences.txt: {stale:?}");
}
