//! `cargo xtask test`: lints, then every test of the workspace against the
//! local control plane, which it starts when none runs and always stops.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::{cluster, deps, gobuild, paths};

/// The environment variable through which tests find the control plane.
pub const KUBECONFIG_ENV: &str = paths::KUBECONFIG_ENV;

/// What to run.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Skip `cargo fmt --check` and clippy.
    #[arg(long)]
    pub no_lint: bool,
    /// Only test these packages (default: the whole workspace).
    #[arg(short, long = "package")]
    pub packages: Vec<String>,
    /// How many test binaries run at the same time.
    #[arg(long, env = "FERRY_TEST_JOBS", default_value_t = 2)]
    pub jobs: usize,
    /// Passed to every test binary (a name filter, `--nocapture`, ...).
    #[arg(last = true)]
    pub test_args: Vec<String>,
}

/// A test executable that cargo built.
#[derive(Debug, Clone)]
struct TestBinary {
    package: String,
    target: String,
    kind: String,
    executable: PathBuf,
    manifest_dir: PathBuf,
}

/// The totals of cargo's `test result:` lines.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Tally {
    fn add_output(&mut self, output: &str) {
        for line in output.lines() {
            let Some(rest) = line.trim().strip_prefix("test result: ") else {
                continue;
            };
            for part in rest.split(';') {
                let mut words = part.split_whitespace().rev();
                let (Some(label), Some(count)) = (words.next(), words.next()) else {
                    continue;
                };
                let Ok(count) = count.parse::<u64>() else {
                    continue;
                };
                match label {
                    "passed" => self.passed += count,
                    "failed" => self.failed += count,
                    "ignored" => self.ignored += count,
                    _ => {}
                }
            }
        }
    }
}

/// Runs the suite; fails when any step or test failed.
pub fn run(options: Options) -> Result<()> {
    let started = Instant::now();
    let mut failures: Vec<String> = Vec::new();
    let scope = scope_args(&options.packages);

    if !options.no_lint {
        step(&mut failures, "cargo fmt --check", cargo(&["fmt", "--all", "--", "--check"]));
        let mut clippy = vec!["clippy"];
        clippy.extend(scope.iter().map(String::as_str));
        clippy.extend(["--all-targets", "--", "-D", "warnings"]);
        step(&mut failures, "cargo clippy", cargo(&clippy));
        eprintln!("==> cargo xtask codegen --check");
        step(&mut failures, "cargo xtask codegen --check", codegen_check());
    }

    deps::ensure()?;
    let tools = gobuild::tools()?;
    eprintln!("==> building the tests");
    let binaries = build_tests(&scope)?;

    let runtime = tokio::runtime::Runtime::new()?;
    let owned = !cluster::is_running()?;
    if owned {
        eprintln!("==> starting the local control plane");
        runtime.block_on(cluster::up())?;
        stop_cluster_on_ctrl_c();
    } else {
        eprintln!("==> using the local control plane that is already running");
    }

    if !options.no_lint {
        eprintln!("==> cargo xtask codegen --check (strategic-merge-patch table)");
        let smp = runtime.block_on(crate::smp_table::run(true));
        if let Err(err) = &smp {
            eprintln!("{err:#}");
        }
        step(&mut failures, "cargo xtask codegen --check (smp table)", smp.map(|()| true));
    }

    let mut tally = Tally::default();
    let outcome = run_binaries(&binaries, &options, &tools, &mut tally)
        .and_then(|failed| {
            failures.extend(failed);
            run_doctests(&scope, &options, &mut tally)
        })
        .map(|doc_ok| {
            if !doc_ok {
                failures.push("doctests".to_string());
            }
        });
    if outcome.is_ok() && options.packages.is_empty() {
        // The demo is part of the suite: what a newcomer runs must work.
        eprintln!("==> cargo xtask demo --once");
        match crate::demo::run(true) {
            Ok(()) => tally.passed += 1,
            Err(err) => {
                eprintln!("{err:#}");
                tally.failed += 1;
                failures.push("cargo xtask demo --once".to_string());
            }
        }
    }

    if owned {
        eprintln!("==> stopping the local control plane");
        if let Err(err) = cluster::down() {
            failures.push(format!("stopping the cluster: {err:#}"));
        }
    }
    outcome?;

    eprintln!("==> finished in {:.0?}", started.elapsed());
    if !failures.is_empty() {
        eprintln!("failed:");
        for failure in &failures {
            eprintln!("  - {failure}");
        }
    }
    println!("{} passed, {} failed, {} skipped", tally.passed, tally.failed, tally.ignored);
    if failures.is_empty() && tally.failed == 0 { Ok(()) } else { bail!("the test suite failed") }
}

fn scope_args(packages: &[String]) -> Vec<String> {
    if packages.is_empty() {
        vec!["--workspace".to_string()]
    } else {
        packages.iter().flat_map(|p| ["--package".to_string(), p.clone()]).collect()
    }
}

fn cargo(args: &[&str]) -> Result<bool> {
    eprintln!("==> cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO")).current_dir(paths::root()).args(args).status()?;
    Ok(status.success())
}

fn codegen_check() -> Result<bool> {
    match crate::codegen::run(true) {
        Ok(()) => Ok(true),
        Err(err) => {
            eprintln!("{err:#}");
            Ok(false)
        }
    }
}

fn step(failures: &mut Vec<String>, name: &str, outcome: Result<bool>) {
    match outcome {
        Ok(true) => {}
        Ok(false) => failures.push(name.to_string()),
        Err(err) => failures.push(format!("{name}: {err:#}")),
    }
}

#[derive(Deserialize)]
struct Message {
    reason: String,
    package_id: Option<String>,
    manifest_path: Option<PathBuf>,
    target: Option<Target>,
    profile: Option<Profile>,
    executable: Option<PathBuf>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

#[derive(Deserialize)]
struct Profile {
    test: bool,
}

fn build_tests(scope: &[String]) -> Result<Vec<TestBinary>> {
    let mut child = Command::new(env!("CARGO"))
        .current_dir(paths::root())
        .args(["test", "--no-run", "--message-format=json-render-diagnostics"])
        .args(scope)
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let mut binaries = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let Ok(message) = serde_json::from_str::<Message>(&line) else {
            continue;
        };
        if message.reason != "compiler-artifact" || !message.profile.is_some_and(|p| p.test) {
            continue;
        }
        let (Some(executable), Some(target), Some(manifest)) =
            (message.executable, message.target, message.manifest_path)
        else {
            continue;
        };
        let package = message.package_id.as_deref().map(package_name).unwrap_or_default();
        binaries.push(TestBinary {
            package,
            target: target.name,
            kind: target.kind.join(","),
            executable,
            manifest_dir: manifest.parent().map(PathBuf::from).unwrap_or_default(),
        });
    }
    if !child.wait()?.success() {
        bail!("building the tests failed");
    }
    binaries.sort_by(|a, b| (&a.package, &a.target).cmp(&(&b.package, &b.target)));
    Ok(binaries)
}

/// The package name in a cargo package id such as
/// `path+file:///work/x/tests/support#ferry-testenv@0.1.0`.
fn package_name(id: &str) -> String {
    let tail = id.rsplit_once('#').map_or(id, |(_, tail)| tail);
    let name = tail.split_once('@').map_or(tail, |(name, _)| name);
    // `…/xtask#0.1.0`: the name is the last path segment.
    if name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return id.split('#').next().and_then(|p| p.rsplit('/').next()).unwrap_or(name).to_string();
    }
    name.to_string()
}

/// Runs the binaries, `jobs` at a time. Returns the names of those that failed.
fn run_binaries(
    binaries: &[TestBinary],
    options: &Options,
    tools: &gobuild::Tools,
    tally: &mut Tally,
) -> Result<Vec<String>> {
    let queue = Mutex::new(binaries.iter());
    let results: Mutex<(Tally, Vec<String>)> = Mutex::new((Tally::default(), Vec::new()));
    let kubeconfig = paths::kubeconfig();
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.next());
                    let Some(binary) = next else { break };
                    let label = format!("{} {} ({})", binary.package, binary.target, binary.kind);
                    let started = Instant::now();
                    let output = Command::new(&binary.executable)
                        .current_dir(&binary.manifest_dir)
                        .env(KUBECONFIG_ENV, &kubeconfig)
                        .env(gobuild::HELM_ENV, &tools.helm)
                        .env(gobuild::FLUX_ENV, &tools.flux)
                        .env(gobuild::FLUX_KUSTOMIZE_CONTROLLER_ENV, &tools.flux_kustomize_controller)
                        .env(gobuild::KUSTOMIZE_ENV, &tools.kustomize)
                        .env(gobuild::MINIO_ENV, &tools.minio)
                        .envs(tools.gotemplate_oracle.iter().map(|o| (gobuild::GOTEMPLATE_ORACLE_ENV, o)))
                        .env("CARGO_MANIFEST_DIR", &binary.manifest_dir)
                        .env("CARGO_PKG_NAME", &binary.package)
                        .args(&options.test_args)
                        .output();
                    let Ok(mut results) = results.lock() else {
                        break;
                    };
                    eprintln!("     Running {label} [{:.1?}]", started.elapsed());
                    match output {
                        Ok(output) => {
                            let stdout = String::from_utf8_lossy(&output.stdout);
                            let stderr = String::from_utf8_lossy(&output.stderr);
                            print!("{stdout}");
                            eprint!("{stderr}");
                            results.0.add_output(&stdout);
                            if !output.status.success() {
                                results.1.push(label);
                            }
                        }
                        Err(err) => results.1.push(format!("{label}: {err}")),
                    }
                }
            });
        }
    });
    let (sub, failed) = results.into_inner().map_err(|_| anyhow::anyhow!("a test runner thread panicked"))?;
    tally.passed += sub.passed;
    tally.failed += sub.failed;
    tally.ignored += sub.ignored;
    Ok(failed)
}

fn run_doctests(scope: &[String], options: &Options, tally: &mut Tally) -> Result<bool> {
    eprintln!("==> doctests");
    let output = Command::new(env!("CARGO"))
        .current_dir(paths::root())
        .args(["test", "--doc"])
        .args(scope)
        .arg("--")
        .args(&options.test_args)
        .env(KUBECONFIG_ENV, paths::kubeconfig())
        .stderr(Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    tally.add_output(&stdout);
    // `cargo test --doc` fails when the scope has no library; that is no failure.
    Ok(output.status.success() || !stdout.contains("test result:") && tally.failed == 0)
}

fn stop_cluster_on_ctrl_c() {
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
            eprintln!("\ninterrupted: stopping the local control plane");
            let _ = cluster::down();
            std::process::exit(130);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_reads_cargo_result_lines() {
        let mut tally = Tally::default();
        tally.add_output(
            "running 3 tests\ntest a ... ok\n\ntest result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n",
        );
        tally.add_output("test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out\n");
        assert_eq!((tally.passed, tally.failed, tally.ignored), (4, 2, 1));
    }

    #[test]
    fn package_names_from_ids() {
        assert_eq!(package_name("path+file:///w/tests/support#ferry-testenv@0.1.0"), "ferry-testenv");
        assert_eq!(package_name("path+file:///w/xtask#0.1.0"), "xtask");
    }
}
