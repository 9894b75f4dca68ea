//! `cargo xtask bench helm`: renders the public chart corpus (`../shared/charts`, read in
//! place) with Ferry's Helm engine and with `helm template` (hack/helm) in the same run, one
//! process per render for both, and reports total wall time and peak memory.
//!
//! Ferry's side is the `template` example of `ferry-helm` in release mode: the same engine
//! and flags as `ferry helm template`, without linking every controller into the binary.
//!
//! Fairness: both tools get the same chart path and values file, write to /dev/null, and are
//! measured the same way: wall time of the whole process, its CPU time (user + system, from
//! `getrusage`; it depends less on what else the machine runs) and its peak resident set (from
//! `/usr/bin/time`, which also counts a few milliseconds of its own start in the wall time of
//! both tools). Which tool goes first alternates from render to render, so neither always finds the
//! chart's files cold in the page cache. Each pass's ratios are computed from that pass's
//! figures only; the summary is the median pass.

use crate::{gobuild, paths};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Options of `cargo xtask bench helm`.
#[derive(clap::Args)]
pub struct Options {
    /// Passes over the corpus (each reports its own ratios; the summary is the median pass).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// How many of the slowest Ferry renders of the last pass to list.
    #[arg(long, default_value_t = 3)]
    pub slowest: usize,
}

struct Case {
    label: String,
    cwd: PathBuf,
    chart: String,
    values: Option<PathBuf>,
}

fn corpus() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("FERRY_SHARED_CHARTS") {
        return Ok(PathBuf::from(p));
    }
    paths::root()
        .ancestors()
        .map(|a| a.join("shared/charts"))
        .find(|p| p.join("bitnami").is_dir())
        .context("../shared/charts not found (set FERRY_SHARED_CHARTS)")
}

/// The renders of the differential test (crates/helm/tests/differential.rs): every Bitnami
/// chart with its defaults and with each values file, every Helm test chart (directories and
/// archives).
fn cases(corpus: &Path) -> Result<Vec<Case>> {
    let values_dir = paths::root().join("crates/helm/tests/values/bitnami");
    let mut values: Vec<PathBuf> = std::fs::read_dir(&values_dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    values.sort();
    let mut out = Vec::new();
    for group in ["bitnami", "helm-testcharts"] {
        let dir = corpus.join(group);
        let mut names: Vec<String> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                e.path().is_dir() || name.ends_with(".tgz") || name.ends_with(".tar.gz")
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let label = format!("{group}/{name}");
            out.push(Case { label: label.clone(), cwd: dir.clone(), chart: name.clone(), values: None });
            if group == "bitnami" {
                for v in &values {
                    let stem = v.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                    out.push(Case {
                        label: format!("{label} -f {stem}"),
                        cwd: dir.clone(),
                        chart: name.clone(),
                        values: Some(v.clone()),
                    });
                }
            }
        }
    }
    Ok(out)
}

fn build_engine() -> Result<PathBuf> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "-p", "ferry-helm", "--example", "template"])
        .current_dir(paths::root())
        .status()?;
    if !status.success() {
        bail!("building ferry-helm's template example failed");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| paths::root().join("target"));
    Ok(target.join("release/examples/template"))
}

/// One process: wall seconds, CPU seconds (user + system), peak KiB, success.
struct Sample {
    seconds: f64,
    cpu: f64,
    kib: u64,
    ok: bool,
}

/// Runs `bin args...` in `cwd` under time(1).
fn measure(bin: &Path, args: &[&std::ffi::OsStr], cwd: &Path) -> Result<Sample> {
    let report = std::env::temp_dir().join(format!("ferry-bench-helm-{}", std::process::id()));
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M", "-o"]).arg(&report).arg(bin).args(args).current_dir(cwd);
    let cpu_before = children_cpu()?;
    let started = Instant::now();
    let status = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running {cmd:?}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = children_cpu()? - cpu_before;
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    let kib = text.lines().last().unwrap_or_default().trim().parse().unwrap_or(0);
    Ok(Sample { seconds, cpu, kib, ok: status.success() })
}

/// User + system CPU seconds of every child waited for so far, in microseconds' resolution
/// (time(1) prints CPU time in hundredths, too coarse for a 3 ms render).
fn children_cpu() -> Result<f64> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context("getrusage")?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(secs(usage.user_time()) + secs(usage.system_time()))
}

/// The totals of one pass over the corpus.
struct Pass {
    ferry_s: f64,
    helm_s: f64,
    ferry_cpu: f64,
    helm_cpu: f64,
    ferry_peak: u64,
    helm_peak: u64,
    ferry_mean_kib: f64,
    helm_mean_kib: f64,
    /// Renders where one tool succeeded and the other failed.
    disagree: Vec<String>,
    /// Ferry's wall time per render.
    ferry_times: Vec<(f64, String)>,
}

impl Pass {
    fn speedup(&self) -> f64 {
        self.helm_s / self.ferry_s.max(1e-6)
    }

    fn cpu_speedup(&self) -> f64 {
        self.helm_cpu / self.ferry_cpu.max(1e-6)
    }

    fn memory(&self) -> f64 {
        self.ferry_peak as f64 / self.helm_peak.max(1) as f64
    }
}

fn pass(cases: &[Case], engine: &Path, helm: &Path, n: usize) -> Result<Pass> {
    let mut p = Pass {
        ferry_s: 0.0,
        helm_s: 0.0,
        ferry_cpu: 0.0,
        helm_cpu: 0.0,
        ferry_peak: 0,
        helm_peak: 0,
        ferry_mean_kib: 0.0,
        helm_mean_kib: 0.0,
        disagree: Vec::new(),
        ferry_times: Vec::new(),
    };
    for (i, case) in cases.iter().enumerate() {
        let chart = std::ffi::OsStr::new(&case.chart);
        let mut ferry_args = vec![chart];
        let mut helm_args = vec![std::ffi::OsStr::new("template"), chart];
        if let Some(v) = &case.values {
            ferry_args.push(v.as_os_str());
            helm_args.push(std::ffi::OsStr::new("-f"));
            helm_args.push(v.as_os_str());
        }
        let (f, h) = if (i + n).is_multiple_of(2) {
            let f = measure(engine, &ferry_args, &case.cwd)?;
            (f, measure(helm, &helm_args, &case.cwd)?)
        } else {
            let h = measure(helm, &helm_args, &case.cwd)?;
            (measure(engine, &ferry_args, &case.cwd)?, h)
        };
        p.ferry_s += f.seconds;
        p.helm_s += h.seconds;
        p.ferry_cpu += f.cpu;
        p.helm_cpu += h.cpu;
        p.ferry_peak = p.ferry_peak.max(f.kib);
        p.helm_peak = p.helm_peak.max(h.kib);
        p.ferry_mean_kib += f.kib as f64 / cases.len() as f64;
        p.helm_mean_kib += h.kib as f64 / cases.len() as f64;
        if f.ok != h.ok {
            p.disagree.push(format!("{} (ferry {}, helm {})", case.label, ok_word(f.ok), ok_word(h.ok)));
        }
        p.ferry_times.push((f.seconds, case.label.clone()));
    }
    Ok(p)
}

fn ok_word(ok: bool) -> &'static str {
    if ok { "rendered" } else { "failed" }
}

pub fn run(options: &Options) -> Result<()> {
    if !Path::new("/usr/bin/time").exists() {
        bail!("/usr/bin/time is needed to measure peak memory: apt-get install -y time");
    }
    let corpus = corpus()?;
    let helm = gobuild::helm()?;
    let engine = build_engine()?;
    let cases = cases(&corpus)?;
    println!("corpus: {} renders ({}), one process each", cases.len(), corpus.display());
    let empty = (0..20).map(|_| measure(Path::new("/bin/true"), &[], &corpus)).collect::<Result<Vec<_>>>()?;
    let overhead = empty.iter().map(|s| s.seconds).sum::<f64>() / empty.len() as f64;
    println!(
        "  starting a process under time(1) (/bin/true): {:.1} ms, {:.2} s over the corpus, in both tools' wall time",
        overhead * 1e3,
        overhead * cases.len() as f64
    );
    let mut passes = Vec::new();
    for n in 0..options.runs.max(1) {
        let p = pass(&cases, &engine, &helm, n)?;
        println!(
            "  pass {}: ferry {:>6.2} s wall, {:>6.2} s CPU, peak {:>6} KiB (mean {:>6.0}) | helm {:>6.2} s wall, {:>6.2} s CPU, peak {:>6} KiB (mean {:>6.0}) | {:.1}x faster ({:.1}x in CPU), {:.2}x the peak memory",
            n + 1,
            p.ferry_s,
            p.ferry_cpu,
            p.ferry_peak,
            p.ferry_mean_kib,
            p.helm_s,
            p.helm_cpu,
            p.helm_peak,
            p.helm_mean_kib,
            p.speedup(),
            p.cpu_speedup(),
            p.memory()
        );
        passes.push(p);
    }
    let last = passes.last().context("no passes")?;
    if last.disagree.is_empty() {
        println!("  both tools rendered or both failed every chart");
    } else {
        println!("  renders where only one tool succeeded:");
        for d in &last.disagree {
            println!("    {d}");
        }
    }
    let mut slow = last.ferry_times.clone();
    slow.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (s, label) in slow.iter().take(options.slowest) {
        println!("  slowest ferry render: {s:.3} s {label}");
    }
    passes.sort_by(|a, b| a.speedup().total_cmp(&b.speedup()));
    let median = &passes[passes.len() / 2];
    let worst = &passes[0];
    println!("summary (median of {} passes):", passes.len());
    println!(
        "  speed-up: {:.1}x in wall time (worst pass {:.1}x; goal >= 5x), {:.1}x in CPU time",
        median.speedup(),
        worst.speedup(),
        median.cpu_speedup()
    );
    println!(
        "  memory: {:.2}x of helm's peak ({} KiB against {} KiB; goal <= 0.5x)",
        median.memory(),
        median.ferry_peak,
        median.helm_peak
    );
    Ok(())
}
