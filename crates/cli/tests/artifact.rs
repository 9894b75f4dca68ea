//! `ferry push artifact` / `ferry pull artifact` against a real registry,
//! and with Flux's CLI on the other end (`$FERRY_FLUX`, which `cargo xtask
//! test` sets).

use std::path::Path;
use std::process::Command;

use ferry_testenv::registry::{Registry, RegistryOptions};

fn ferry(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ferry")).args(args).output().unwrap()
}

fn flux() -> std::path::PathBuf {
    std::env::var_os("FERRY_FLUX")
        .expect("FERRY_FLUX is not set: run `cargo xtask test`, or export FERRY_FLUX=$(cargo xtask tools flux)")
        .into()
}

fn content(dir: &Path) {
    std::fs::create_dir_all(dir.join("apps")).unwrap();
    std::fs::write(dir.join("apps/cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n").unwrap();
    std::fs::write(dir.join("README.md"), "hello\n").unwrap();
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn pushes_are_reproducible_and_pull_back_the_same_files() {
    let registry = Registry::start(RegistryOptions::default()).await.unwrap();
    let src = tempfile::tempdir().unwrap();
    content(src.path());
    let url = format!("oci://{}/app:v1", registry.host());
    let push = |tag_url: &str| {
        let out = ferry(&[
            "push",
            "artifact",
            tag_url,
            "--path",
            src.path().to_str().unwrap(),
            "--source",
            "https://example.com/app",
            "--revision",
            "main@sha1:0123",
            "--reproducible",
            "-o",
            "json",
        ]);
        ok(&out);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["digest"].as_str().unwrap().to_string()
    };
    let first = push(&url);
    let second = push(&format!("oci://{}/app:v2", registry.host()));
    assert_eq!(first, second, "the same content pushed twice has one digest");

    let out_dir = tempfile::tempdir().unwrap();
    ok(&ferry(&["pull", "artifact", &url, "--output", out_dir.path().to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(out_dir.path().join("README.md")).unwrap(), "hello\n");
    assert!(out_dir.path().join("apps/cm.yaml").is_file());

    let missing = ferry(&["pull", "artifact", &format!("oci://{}/app:nope", registry.host()), "-o", "/tmp/x"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("manifest unknown"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

#[tokio::test]
async fn flux_pulls_what_ferry_pushed_and_ferry_pulls_what_flux_pushed() {
    let registry = Registry::start(RegistryOptions {
        basic_auth: Some(("flux".into(), "pw".into())),
        tls: false,
        token_auth: false,
    })
    .await
    .unwrap();
    let src = tempfile::tempdir().unwrap();
    content(src.path());
    let ferry_url = format!("oci://{}/by-ferry:v1", registry.host());
    ok(&ferry(&[
        "push",
        "artifact",
        &ferry_url,
        "--path",
        src.path().to_str().unwrap(),
        "--source",
        "s",
        "--revision",
        "r",
        "--creds",
        "flux:pw",
        "--insecure-registry",
    ]));
    let out_dir = tempfile::tempdir().unwrap();
    ok(&Command::new(flux())
        .args([
            "pull",
            "artifact",
            &ferry_url,
            "--output",
            out_dir.path().to_str().unwrap(),
            "--creds",
            "flux:pw",
            "--insecure-registry",
        ])
        .output()
        .unwrap());
    assert_eq!(std::fs::read_to_string(out_dir.path().join("README.md")).unwrap(), "hello\n");

    let flux_url = format!("oci://{}/by-flux:v1", registry.host());
    ok(&Command::new(flux())
        .args([
            "push",
            "artifact",
            &flux_url,
            "--path",
            src.path().to_str().unwrap(),
            "--source",
            "s",
            "--revision",
            "r",
            "--creds",
            "flux:pw",
            "--insecure-registry",
        ])
        .output()
        .unwrap());
    let out_dir = tempfile::tempdir().unwrap();
    ok(&ferry(&["pull", "artifact", &flux_url, "--output", out_dir.path().to_str().unwrap(), "--creds", "flux:pw"]));
    assert_eq!(
        std::fs::read_to_string(out_dir.path().join("apps/cm.yaml")).unwrap().lines().next(),
        Some("apiVersion: v1")
    );

    let denied = ferry(&["pull", "artifact", &flux_url, "-o", out_dir.path().to_str().unwrap(), "--creds", "flux:bad"]);
    assert_eq!(denied.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("unauthorized"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
}
