//! Golden tests: charts written for Ferry (tests/charts) rendered with `ferry-helm` must match
//! byte for byte what `helm template` printed for them (tests/golden, produced by the Helm of
//! `hack/helm`). With `FERRY_HELM_BLESS=1` and `FERRY_HELM` set, the expected files are
//! rewritten from Helm.

mod support;

use std::path::{Path, PathBuf};

/// Name, then `helm template` arguments (run in tests/charts).
const CASES: &[(&str, &[&str])] = &[
    ("basic", &["basic"]),
    (
        "basic-flags",
        &[
            "golden",
            "basic",
            "--set",
            "replicaCount=5,image.tag=1.0",
            "--set-string",
            "labels.num=123",
            "--set-json",
            "config.list=[1,{\"a\":\"b\"}]",
            "--set-literal",
            "nameOverride=lit,eral",
            "--namespace",
            "prod",
            "--is-upgrade",
            "--include-crds",
            "--skip-tests",
            "--kube-version",
            "v1.30.1",
            "--api-versions",
            "example.com/v1",
        ],
    ),
    ("basic-null-delete", &["basic", "--set", "deleteMe=null,labels.tier=null"]),
    ("basic-show-only", &["basic", "-s", "templates/service.yaml", "-s", "templates/tests/*"]),
    ("basic-no-hooks", &["basic", "--no-hooks"]),
    ("umbrella", &["umbrella"]),
    (
        "umbrella-toggles",
        &[
            "umbrella",
            "--set",
            "frontend.enabled=true,tags.workers=false,backend.enabled=null",
            "--set",
            "global.backendEnabled=false",
        ],
    ),
    ("umbrella-library", &["common-only", "umbrella/charts/common"]),
    ("schema-fail", &["schema-fail"]),
    ("schema-skip", &["schema-fail", "--skip-schema-validation"]),
    ("required-fail", &["required-fail"]),
    ("required-set", &["required-fail", "--set", "name=given"]),
    ("v1chart", &["v1chart"]),
    ("hostobjects", &["hostobjects"]),
    ("hostobjects-no-match", &["hostobjects", "--set", "pattern=files/none/*"]),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn expected_path(name: &str) -> PathBuf {
    root().join("golden").join(format!("{name}.txt"))
}

/// The expected file: `OK\n` + output, or `ERROR\n` + Helm's message.
fn encode(result: &Result<String, String>) -> String {
    match result {
        Ok(out) => format!("OK\n{out}"),
        Err(e) => format!("ERROR\n{e}\n"),
    }
}

#[test]
fn golden_charts_match_helm() {
    let charts = root().join("charts");
    let bless = std::env::var_os("FERRY_HELM_BLESS").is_some();
    let mut failures = Vec::new();
    for (name, args) in CASES {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if bless {
            let helm = support::helm_binary().expect("FERRY_HELM_BLESS needs FERRY_HELM");
            let truth = support::helm_template(&helm, &args, &charts);
            std::fs::write(expected_path(name), encode(&truth)).unwrap();
        }
        let expected = std::fs::read_to_string(expected_path(name))
            .unwrap_or_else(|e| panic!("{}: {e} (bless with FERRY_HELM_BLESS=1)", expected_path(name).display()));
        let got = encode(&support::ferry_template(&args, &charts));
        if got != expected {
            failures.push(format!("== {name}\n--- helm\n{expected}\n--- ferry\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}
