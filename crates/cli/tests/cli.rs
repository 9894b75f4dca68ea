//! The `ferry` binary: output on stdout, errors on stderr with exit code 1.

use std::path::Path;
use std::process::Command;

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kustomize/tests/fixtures")
}

#[test]
fn build_prints_the_stream_kubectl_prints() {
    let dir = fixtures().join("overlay-basic");
    let out = Command::new(env!("CARGO_BIN_EXE_ferry")).args(["kustomize", "build"]).arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected = std::fs::read_to_string(dir.join("expected.yaml")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

#[test]
fn errors_go_to_stderr_with_exit_1() {
    let dir = fixtures().join("error-missing-file");
    let out = Command::new(env!("CARGO_BIN_EXE_ferry")).args(["kustomize", "build"]).arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("nothere.yaml"), "{err}");
}

#[test]
fn load_restrictor_none_allows_files_outside_the_root() {
    let dir = fixtures().join("error-load-restrictor");
    let denied = Command::new(env!("CARGO_BIN_EXE_ferry")).args(["kustomize", "build"]).arg(&dir).output().unwrap();
    assert_eq!(denied.status.code(), Some(1));
    let allowed = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["kustomize", "build", "--load-restrictor", "LoadRestrictionsNone"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(allowed.status.success(), "{}", String::from_utf8_lossy(&allowed.stderr));
    assert!(String::from_utf8(allowed.stdout).unwrap().contains("kind: Service"));
}
