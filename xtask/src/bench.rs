//! `cargo xtask bench kustomize`: `ferry kustomize build` against `kubectl kustomize` on the
//! same generated overlay, in the same run. Wall time and peak memory come from `/usr/bin/time`.

use crate::paths;
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Options of `cargo xtask bench kustomize`.
#[derive(clap::Args)]
pub struct Options {
    /// Deployments (and as many Services) in the base input.
    #[arg(long, default_value_t = 1000)]
    pub size: usize,
    /// Timed runs of `ferry` per input (the best is kept).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Timed runs of `kubectl kustomize` per input (the best is kept).
    #[arg(long, default_value_t = 1)]
    pub kubectl_runs: usize,
}

struct Sample {
    seconds: f64,
    max_rss_kb: u64,
}

pub fn run(options: &Options) -> Result<()> {
    ensure_time()?;
    let ferry = build_ferry()?;
    let work = std::env::temp_dir().join(format!("ferry-bench-kustomize-{}", std::process::id()));
    let sizes = [options.size, options.size * 2];
    let mut results = Vec::new();
    for &n in &sizes {
        let dir = work.join(format!("n{n}"));
        generate(&dir, n)?;
        let overlay = dir.join("overlay");
        println!("input: {n} Deployments + {n} Services ({})", overlay.display());
        let ferry_out = output(Command::new(&ferry).args(["kustomize", "build"]).arg(&overlay))?;
        let kubectl_out = output(Command::new("kubectl").arg("kustomize").arg(&overlay))?;
        let same = same_documents(&ferry_out, &kubectl_out);
        println!("  outputs: {}", if same { "same documents in the same order" } else { "DIFFERENT" });
        let f = best(&ferry, &["kustomize", "build"], &overlay, options.runs)?;
        let k = best(Path::new("kubectl"), &["kustomize"], &overlay, options.kubectl_runs)?;
        println!("  ferry:   {:>8.3} s  {:>8} KiB peak", f.seconds, f.max_rss_kb);
        println!("  kubectl: {:>8.3} s  {:>8} KiB peak", k.seconds, k.max_rss_kb);
        println!(
            "  ferry is {:.1}x faster, uses {:.2}x the memory",
            k.seconds / f.seconds.max(1e-4),
            f.max_rss_kb as f64 / k.max_rss_kb.max(1) as f64
        );
        results.push((n, f, k, same));
    }
    let (n1, f1, k1, _) = &results[0];
    let (n2, f2, k2, _) = &results[1];
    let mut report = String::new();
    writeln!(report, "\nsummary ({n1} -> {n2} of each kind):")?;
    writeln!(report, "  speed-up at {n1}: {:.1}x (goal >= 20x)", k1.seconds / f1.seconds.max(1e-4))?;
    writeln!(
        report,
        "  memory at {n1}: {:.2}x of kubectl's peak (goal <= 0.5x)",
        f1.max_rss_kb as f64 / k1.max_rss_kb.max(1) as f64
    )?;
    writeln!(report, "  ferry growth for 2x input: {:.2}x time (goal <= 2.2x)", f2.seconds / f1.seconds.max(1e-4))?;
    writeln!(report, "  kubectl growth for 2x input: {:.2}x time", k2.seconds / k1.seconds.max(1e-4))?;
    print!("{report}");
    if std::env::var_os("FERRY_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    if results.iter().any(|r| !r.3) {
        bail!("ferry and kubectl printed different documents");
    }
    Ok(())
}

fn ensure_time() -> Result<()> {
    if Path::new("/usr/bin/time").exists() {
        return Ok(());
    }
    println!("installing GNU time (apt-get install -y time)...");
    let ok = Command::new("apt-get").args(["install", "-y", "time"]).status().map(|s| s.success()).unwrap_or(false);
    if !ok || !Path::new("/usr/bin/time").exists() {
        bail!("/usr/bin/time is needed to measure peak memory: apt-get install -y time");
    }
    Ok(())
}

fn build_ferry() -> Result<PathBuf> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "-p", "ferry-cli"])
        .current_dir(paths::root())
        .status()?;
    if !status.success() {
        bail!("building ferry failed");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| paths::root().join("target"));
    let bin = target.join("release/ferry");
    if !bin.is_file() {
        bail!("{} was not built", bin.display());
    }
    Ok(bin)
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn best(bin: &Path, args: &[&str], dir: &Path, runs: usize) -> Result<Sample> {
    let mut best: Option<Sample> = None;
    let report = std::env::temp_dir().join(format!("ferry-bench-time-{}", std::process::id()));
    for _ in 0..runs.max(1) {
        // Wall time from here (the 10 ms resolution of time(1) is too coarse
        // for sub-second builds); time(1) only reports the peak memory.
        let started = std::time::Instant::now();
        let status = Command::new("/usr/bin/time")
            .args(["-f", "%e %M", "-o"])
            .arg(&report)
            .arg(bin)
            .args(args)
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            bail!("{} failed on {}", bin.display(), dir.display());
        }
        let text = std::fs::read_to_string(&report)?;
        let line = text.lines().last().unwrap_or_default();
        let mut parts = line.split_whitespace();
        let seconds = started.elapsed().as_secs_f64();
        let _coarse: f64 = parts.next().unwrap_or("0").parse()?;
        let max_rss_kb: u64 = parts.next().unwrap_or("0").parse()?;
        let s = Sample { seconds, max_rss_kb };
        best = Some(match best {
            Some(b) if b.seconds <= s.seconds => {
                Sample { seconds: b.seconds, max_rss_kb: b.max_rss_kb.max(s.max_rss_kb) }
            }
            Some(b) => Sample { seconds: s.seconds, max_rss_kb: b.max_rss_kb.max(s.max_rss_kb) },
            None => s,
        });
    }
    let _ = std::fs::remove_file(&report);
    best.context("no runs")
}

/// Compares two YAML streams document by document (as parsed values).
fn same_documents(a: &str, b: &str) -> bool {
    let docs = |s: &str| ferry_kustomize::yaml::parse_documents(s).ok();
    match (docs(a), docs(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Writes the benchmark input: a base of `n` Deployments and `n` Services, and an overlay with
/// namePrefix, namespace, labels, annotations, images, a strategic-merge patch on every
/// Deployment, a JSON patch on every Service and a generated ConfigMap.
fn generate(dir: &Path, n: usize) -> Result<()> {
    let base = dir.join("base");
    let overlay = dir.join("overlay");
    std::fs::create_dir_all(&base)?;
    std::fs::create_dir_all(&overlay)?;
    let mut deployments = String::new();
    let mut services = String::new();
    for i in 0..n {
        write!(
            deployments,
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels:\n    app: app-{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: app-{i}\n  template:\n    metadata:\n      labels:\n        app: app-{i}\n    spec:\n      containers:\n      - name: app\n        image: example.com/app:1.0.{i}\n        ports:\n        - containerPort: 8080\n        envFrom:\n        - configMapRef:\n            name: settings\n        resources:\n          requests:\n            cpu: 10m\n            memory: 16Mi\n"
        )?;
        write!(
            services,
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\nspec:\n  selector:\n    app: app-{i}\n  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n"
        )?;
    }
    std::fs::write(base.join("deployments.yaml"), deployments)?;
    std::fs::write(base.join("services.yaml"), services)?;
    std::fs::write(base.join("kustomization.yaml"), "resources:\n- deployments.yaml\n- services.yaml\n")?;
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: bench\nnamePrefix: prod-\n\
labels:\n- pairs:\n    env: prod\n  includeSelectors: false\n  includeTemplates: true\n\
commonAnnotations:\n  owner: bench\n\
images:\n- name: example.com/app\n  newName: registry.example.com/app\n  newTag: \"2.0\"\n\
resources:\n- ../base\n\
configMapGenerator:\n- name: settings\n  literals:\n  - LOG_LEVEL=info\n  - FEATURE_X=true\n\
patches:\n- target:\n    kind: Deployment\n  path: deployment-patch.yaml\n- target:\n    kind: Service\n  path: service-patch.yaml\n",
    )?;
    std::fs::write(
        overlay.join("deployment-patch.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: app\n        env:\n        - name: MODE\n          value: production\n",
    )?;
    std::fs::write(
        overlay.join("service-patch.yaml"),
        "- op: add\n  path: /spec/ports/-\n  value:\n    name: metrics\n    port: 9090\n    targetPort: 9090\n",
    )?;
    Ok(())
}
