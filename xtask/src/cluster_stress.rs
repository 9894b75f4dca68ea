//! `cargo xtask cluster stress`: consecutive `up`/`down` cycles of the local
//! control plane while a cargo build keeps both cores and the page cache busy,
//! the conditions under which `up` used to fail.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::{cluster, gobuild, paths};

/// How many cycles, under which load.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Consecutive up/down cycles.
    #[arg(long, default_value_t = 30)]
    pub cycles: usize,
    /// Run without the background build (a quiet-machine baseline).
    #[arg(long)]
    pub no_load: bool,
    /// The package the background build compiles, from scratch, again and again.
    #[arg(long, default_value = "ferry-git")]
    pub load_package: String,
}

/// Runs the cycles; fails when any cycle failed. The logs of a failed cycle
/// are kept in `.ferry/stress/cycle-<n>/`.
pub fn run(options: &Options) -> Result<()> {
    if cluster::is_running()? {
        bail!("a local cluster is already running in this checkout: stop it first (`cargo xtask cluster down`)");
    }
    // Built once before the clock starts, so that no cycle measures a Go build.
    gobuild::ensure()?;
    let failures_dir = paths::root().join(".ferry").join("stress");
    if failures_dir.exists() {
        fs::remove_dir_all(&failures_dir).with_context(|| format!("removing {}", failures_dir.display()))?;
    }
    let load = if options.no_load { None } else { Some(Load::start(&options.load_package)?) };
    let runtime = tokio::runtime::Runtime::new()?;
    let mut failed = Vec::new();
    let mut times = Vec::new();
    for cycle in 1..=options.cycles {
        let started = Instant::now();
        let outcome = runtime.block_on(cluster::up()).and_then(|_| runtime.block_on(cluster::admin_client()).map(drop));
        let up_time = started.elapsed();
        if let Err(err) = &outcome {
            let kept = failures_dir.join(format!("cycle-{cycle}"));
            keep_logs(&kept);
            eprintln!(
                "cycle {cycle}/{}: FAILED after {up_time:.1?}: {err:#}\n  logs kept in {}",
                options.cycles,
                kept.display()
            );
            failed.push(cycle);
        }
        let down = cluster::down();
        if let Err(err) = &down {
            eprintln!("cycle {cycle}/{}: down FAILED: {err:#}", options.cycles);
            if !failed.contains(&cycle) {
                failed.push(cycle);
            }
        }
        if outcome.is_ok() && down.is_ok() {
            times.push(up_time.as_secs_f64());
            println!(
                "cycle {cycle}/{}: up in {up_time:.1?}, down ok; load average {}{}",
                options.cycles,
                load_average(),
                load.as_ref().map(|l| format!(", background builds finished: {}", l.finished())).unwrap_or_default()
            );
        }
    }
    let builds = load.map(Load::stop).transpose()?;
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(0.0);
    let slowest = times.last().copied().unwrap_or(0.0);
    println!(
        "{} of {} cycles passed{}; up took median {median:.1} s, slowest {slowest:.1} s",
        options.cycles - failed.len(),
        options.cycles,
        builds
            .map(|n| format!(" with a background build of {} ({n} builds finished)", options.load_package))
            .unwrap_or_default(),
    );
    if !failed.is_empty() {
        bail!("cycles {failed:?} failed; logs in {}", failures_dir.display());
    }
    Ok(())
}

fn keep_logs(to: &Path) {
    let from = paths::cluster_dir();
    let _ = fs::create_dir_all(to);
    if let Ok(entries) = fs::read_dir(&from) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log" || e == "json") {
                let _ = fs::copy(&path, to.join(entry.file_name()));
            }
        }
    }
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// A cargo build of one package from scratch, without a compiler cache,
/// restarted whenever it finishes: many short-lived processes on both cores.
struct Load {
    stop: Arc<AtomicBool>,
    finished: Arc<AtomicUsize>,
    thread: JoinHandle<Result<usize>>,
}

impl Load {
    fn start(package: &str) -> Result<Self> {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| paths::root().join("target"))
            .join("stress-load");
        let stop = Arc::new(AtomicBool::new(false));
        let finished = Arc::new(AtomicUsize::new(0));
        let name = package.to_string();
        let thread = {
            let (stop, finished, package) = (stop.clone(), finished.clone(), name);
            std::thread::spawn(move || -> Result<usize> {
                while !stop.load(Ordering::Relaxed) {
                    let _ = fs::remove_dir_all(&target);
                    let mut child = build(&package, &target)?;
                    let status = loop {
                        if stop.load(Ordering::Relaxed) {
                            // The build runs in a process group of its own, ours alone.
                            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
                            let _ = child.wait();
                            let _ = fs::remove_dir_all(&target);
                            return Ok(finished.load(Ordering::Relaxed));
                        }
                        if let Some(status) = child.try_wait()? {
                            break status;
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    };
                    if !status.success() {
                        bail!("the background build of {package} failed ({status})");
                    }
                    finished.fetch_add(1, Ordering::Relaxed);
                }
                let _ = fs::remove_dir_all(&target);
                Ok(finished.load(Ordering::Relaxed))
            })
        };
        println!("Background load: `cargo build -p {package}` from scratch, in a loop, on 2 jobs, no sccache");
        // Give it a moment to fill both cores before the first cycle.
        std::thread::sleep(Duration::from_secs(5));
        Ok(Self { stop, finished, thread })
    }

    fn finished(&self) -> usize {
        self.finished.load(Ordering::Relaxed)
    }

    /// Stops the build; returns how many builds finished, or why the load failed.
    fn stop(self) -> Result<usize> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().map_err(|_| anyhow::anyhow!("the load thread panicked"))?
    }
}

fn build(package: &str, target: &Path) -> Result<Child> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .args(["build", "--quiet", "-p", package, "--jobs", "2"])
        .arg("--target-dir")
        .arg(target)
        .env_remove("RUSTC_WRAPPER")
        .env("CARGO_INCREMENTAL", "0")
        .current_dir(paths::root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting the background build")
}
