//! `cargo xtask bench helm`: renders the public chart corpus (`../shared/charts`, read in
//! place) with Ferry's Helm engine and with `helm template` (hack/helm) in the same run, one
//! process per render for both, and reports total wall time and peak memory.
//!
//! Ferry's side is the `template` example of `ferry-helm` in release mode: the same engine
//! and flags as `ferry helm template`, without linking every controller into the binary.

use crate::{gobuild, paths};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Options of `cargo xtask bench helm`.
#[derive(clap::Args)]
pub struct Options {
    /// Passes over the corpus (the best total is kept).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
}

struct Case {
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

fn cases(corpus: &Path) -> Result<Vec<Case>> {
    let values_dir = paths::root().join("crates/helm/tests/values/bitnami");
    let mut values: Vec<PathBuf> = std::fs::read_dir(&values_dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    values.sort();
    let mut out = Vec::new();
    for group in ["bitnami", "helm-testcharts"] {
        let dir = corpus.join(group);
        let mut names: Vec<String> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            out.push(Case { cwd: dir.clone(), chart: name.clone(), values: None });
            if group == "bitnami" {
                for v in &values {
                    out.push(Case { cwd: dir.clone(), chart: name.clone(), values: Some(v.clone()) });
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

/// Runs one render under time(1): wall seconds, peak KiB, success.
fn measure(cmd: &mut Command) -> Result<(f64, u64, bool)> {
    let report = std::env::temp_dir().join(format!("ferry-bench-helm-{}", std::process::id()));
    let started = Instant::now();
    let status = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .with_context(|| format!("running {cmd:?}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    let kb = text.lines().last().unwrap_or_default().trim().parse().unwrap_or(0);
    Ok((seconds, kb, status.success()))
}

fn timed(bin: &Path) -> Command {
    let report = std::env::temp_dir().join(format!("ferry-bench-helm-{}", std::process::id()));
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "%M", "-o"]).arg(report).arg(bin);
    c
}

pub fn run(options: &Options) -> Result<()> {
    if !Path::new("/usr/bin/time").exists() {
        bail!("/usr/bin/time is needed to measure peak memory: apt-get install -y time");
    }
    let corpus = corpus()?;
    let helm = gobuild::helm()?;
    let engine = build_engine()?;
    let cases = cases(&corpus)?;
    println!("corpus: {} renders ({})", cases.len(), corpus.display());
    let mut best: Option<(f64, u64, f64, u64, usize)> = None;
    for _ in 0..options.runs.max(1) {
        let (mut ft, mut fm, mut ht, mut hm, mut both_ok) = (0.0, 0u64, 0.0, 0u64, 0usize);
        for case in &cases {
            let mut f = timed(&engine);
            f.current_dir(&case.cwd).arg(&case.chart);
            let mut h = timed(&helm);
            h.current_dir(&case.cwd).args(["template", &case.chart]);
            if let Some(v) = &case.values {
                f.arg(v);
                h.arg("-f").arg(v);
            }
            let (fs, fk, fok) = measure(&mut f)?;
            let (hs, hk, hok) = measure(&mut h)?;
            ft += fs;
            ht += hs;
            fm = fm.max(fk);
            hm = hm.max(hk);
            if fok && hok {
                both_ok += 1;
            }
        }
        if best.as_ref().is_none_or(|b| ft < b.0) {
            best = Some((ft, fm, ht, hm, both_ok));
        }
    }
    let (ft, fm, ht, hm, ok) = best.context("no runs")?;
    println!("  rendered by both: {ok} of {}", cases.len());
    println!("  ferry: {ft:>8.2} s total  {fm:>8} KiB peak");
    println!("  helm:  {ht:>8.2} s total  {hm:>8} KiB peak");
    println!("summary:");
    println!("  speed-up: {:.1}x (goal >= 5x)", ht / ft.max(1e-6));
    println!("  memory: {:.2}x of helm's peak (goal <= 0.5x)", fm as f64 / hm.max(1) as f64);
    Ok(())
}
