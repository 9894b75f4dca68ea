//! Differential test against `helm template` (the Helm of `hack/helm`, from `FERRY_HELM`, which
//! `cargo xtask test` sets) over the public charts in `../shared/charts`, read in place: every
//! Bitnami chart with its defaults and with each values file of tests/values/bitnami, and every
//! Helm test chart. Output must be byte-identical, except:
//!
//! - lines Helm itself renders differently from run to run (random passwords, generated keys and
//!   certificates, checksums of those): Helm runs twice and lines that differ between its runs are
//!   not compared;
//! - the cases in `KNOWN`, each with its reason (see docs/helm.md).
//!
//! Without the corpus or Helm the test says it was not run; under `CI=true` it fails instead.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Cases allowed to differ, with the reason.
const KNOWN: &[(&str, &str)] = &[
    ("bitnami/deepspeed", "genPrivateKey \"rsa\": Ferry's Sprig makes ECDSA and Ed25519 keys only"),
    ("helm-testcharts/signtest-0.1.0.tgz.prov", "Helm names the absolute path and Go's sniffed content type"),
];

fn corpus() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FERRY_SHARED_CHARTS") {
        return Some(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    root.ancestors().map(|a| a.join("shared/charts")).find(|p| p.join("bitnami").is_dir())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

struct Case {
    label: String,
    cwd: PathBuf,
    args: Vec<String>,
}

fn cases(corpus: &Path) -> Vec<Case> {
    let values = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/values/bitnami");
    let mut value_files: Vec<PathBuf> =
        std::fs::read_dir(&values).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    value_files.sort();
    let mut out = Vec::new();
    for group in ["bitnami", "helm-testcharts"] {
        let dir = corpus.join(group);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned())).collect())
            .unwrap_or_default();
        names.sort();
        for name in names {
            out.push(Case { label: format!("{group}/{name}"), cwd: dir.clone(), args: vec![name.clone()] });
            if group == "bitnami" {
                for vf in &value_files {
                    let stem = vf.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                    out.push(Case {
                        label: format!("{group}/{name} -f {stem}"),
                        cwd: dir.clone(),
                        args: vec![name.clone(), "-f".into(), vf.display().to_string()],
                    });
                }
            }
        }
    }
    out
}

/// Compares, skipping lines that differ between Helm's two runs.
fn compare(
    a: &Result<String, String>,
    b: &Result<String, String>,
    ferry: &Result<String, String>,
) -> Result<(), String> {
    match (a, b, ferry) {
        (Ok(a), Ok(b), Ok(f)) => {
            let (la, lb, lf): (Vec<&str>, Vec<&str>, Vec<&str>) =
                (a.lines().collect(), b.lines().collect(), f.lines().collect());
            if la.len() != lf.len() {
                return Err(format!("{} lines from helm, {} from ferry", la.len(), lf.len()));
            }
            let stable = la.len() == lb.len();
            for (i, (x, y)) in la.iter().zip(&lf).enumerate() {
                let random = stable && la[i] != lb[i];
                if x != y && !random {
                    return Err(format!("line {}:\n- {x}\n+ {y}", i + 1));
                }
            }
            if a.ends_with('\n') != f.ends_with('\n') {
                return Err("final newline differs".into());
            }
            Ok(())
        }
        (Err(a), _, Err(f)) if a == f => Ok(()),
        (a, _, f) => Err(format!("helm: {}\nferry: {}", summary(a), summary(f))),
    }
}

fn summary(r: &Result<String, String>) -> String {
    match r {
        Ok(out) => format!("{} bytes of output", out.len()),
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn charts_render_as_helm_does() {
    let Some(corpus) = corpus() else {
        assert!(!in_ci(), "the chart corpus (../shared/charts) is missing");
        eprintln!("differential test not run: no ../shared/charts");
        return;
    };
    let Some(helm) = support::helm_binary() else {
        assert!(!in_ci(), "FERRY_HELM is not set (run through `cargo xtask test`)");
        eprintln!("differential test not run: FERRY_HELM is not set (cargo xtask test sets it)");
        return;
    };
    let all = cases(&corpus);
    let queue = Mutex::new(all.iter());
    let failures = Mutex::new(Vec::new());
    let compared = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let Some(case) = queue.lock().unwrap().next() else { break };
                    let a = support::helm_template(&helm, &case.args, &case.cwd);
                    let b = support::helm_template(&helm, &case.args, &case.cwd);
                    let f = support::ferry_template(&case.args, &case.cwd);
                    *compared.lock().unwrap() += 1;
                    if let Err(diff) = compare(&a, &b, &f) {
                        let chart = case.label.split(" -f ").next().unwrap_or(&case.label);
                        if KNOWN.iter().any(|(k, _)| *k == chart) {
                            continue;
                        }
                        failures.lock().unwrap().push(format!("== {}\n{diff}", case.label));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let compared = compared.into_inner().unwrap();
    eprintln!("{compared} cases compared, {} differ, {} known differences", failures.len(), KNOWN.len());
    assert!(failures.is_empty(), "{} of {compared} cases differ:\n{}", failures.len(), failures.join("\n"));
}
