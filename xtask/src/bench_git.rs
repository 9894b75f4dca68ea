//! `cargo xtask bench git`: what source-controller does for a GitRepository
//! (list refs, fetch the branch at depth 1, write the tree, pack a tar.gz)
//! against `git clone --depth 1` plus `tar czf`, on the same large generated
//! repository served by `git http-backend`, in the same run.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{deps, paths};

/// Options of `cargo xtask bench git`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Files in the repository's tree.
    #[arg(long, default_value_t = 10_000)]
    pub files: usize,
    /// Commits of history (each after the first changes 20 files).
    #[arg(long, default_value_t = 2_000)]
    pub commits: usize,
    /// Timed runs of each side (the fastest is kept, and the largest peak).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

struct Sample {
    seconds: f64,
    cpu_seconds: f64,
    max_rss_kb: u64,
}

/// Runs the benchmark and prints the ratios.
pub fn run(options: &Options) -> Result<()> {
    deps::ensure()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let server = runtime.block_on(ferry_testenv::git::GitServer::start(Default::default()))?;
    let bare = server.root().join("bench.git");
    eprintln!("==> generating {} files with {} commits of history", options.files, options.commits);
    generate(&bare, options.files, options.commits)?;
    let url = server.url("bench");
    let tool = build_fetch_archive()?;
    let work = tempfile::Builder::new().prefix("ferry-bench-git-").tempdir()?;

    let mut ferry: Option<Sample> = None;
    let mut git: Option<Sample> = None;
    for run in 0..options.runs.max(1) {
        let storage = work.path().join(format!("storage-{run}"));
        let sample = timed(Command::new(&tool).arg(&url).arg("main").arg(&storage))?;
        ferry = Some(keep_best(ferry, sample));
        let clone = work.path().join(format!("clone-{run}"));
        let tarball = work.path().join(format!("git-{run}.tar.gz"));
        let script = format!(
            "git clone --quiet --depth 1 --single-branch --branch main {url} {dir} && tar czf {tar} -C {dir} --exclude=.git .",
            dir = clone.display(),
            tar = tarball.display()
        );
        let sample = timed(Command::new("sh").args(["-c", &script]))?;
        git = Some(keep_best(git, sample));
    }
    let (Some(ferry), Some(git)) = (ferry, git) else { bail!("no runs") };

    // Both artifacts hold the same files.
    let ours = tar_files(&first_tarball(&work.path().join("storage-0"))?)?;
    let theirs = tar_files(&work.path().join("git-0.tar.gz"))?;
    let same = ours == theirs;

    let mut report = String::new();
    writeln!(report, "repository: {} files, {} commits, served by git http-backend", options.files, options.commits)?;
    writeln!(
        report,
        "  ferry (list refs + fetch + tree + tar.gz): {:>7.3} s  {:>7.3} s CPU  {:>8} KiB peak",
        ferry.seconds, ferry.cpu_seconds, ferry.max_rss_kb
    )?;
    writeln!(
        report,
        "  git clone --depth 1 + tar czf:             {:>7.3} s  {:>7.3} s CPU  {:>8} KiB peak",
        git.seconds, git.cpu_seconds, git.max_rss_kb
    )?;
    writeln!(report, "  time ratio ferry/git:   {:.2}x (goal <= 1.2x)", ferry.seconds / git.seconds.max(1e-4))?;
    // CPU time (user + system of the client side) does not depend on what else
    // the machine runs: on a shared machine it is the steadier of the two.
    writeln!(report, "  CPU ratio ferry/git:    {:.2}x", ferry.cpu_seconds / git.cpu_seconds.max(1e-4))?;
    writeln!(report, "  memory ratio ferry/git: {:.2}x", ferry.max_rss_kb as f64 / git.max_rss_kb.max(1) as f64)?;
    writeln!(report, "  artifacts: {}", if same { "the same files" } else { "DIFFERENT files" })?;
    print!("{report}");
    if !same {
        bail!("ferry packed {} files, git {}", ours.len(), theirs.len());
    }
    Ok(())
}

fn keep_best(best: Option<Sample>, sample: Sample) -> Sample {
    match best {
        None => sample,
        Some(b) => Sample {
            seconds: b.seconds.min(sample.seconds),
            cpu_seconds: b.cpu_seconds.min(sample.cpu_seconds),
            max_rss_kb: b.max_rss_kb.max(sample.max_rss_kb),
        },
    }
}

fn timed(command: &mut Command) -> Result<Sample> {
    let report = tempfile::NamedTempFile::new()?;
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%e %M %U %S", "-o"])
        .arg(report.path())
        .arg(&program)
        .args(&args)
        .env_remove("GIT_SSL_CAINFO")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    if !output.status.success() {
        bail!("{} failed: {}", program.to_string_lossy(), String::from_utf8_lossy(&output.stderr));
    }
    let text = std::fs::read_to_string(report.path())?;
    let mut parts = text.lines().last().unwrap_or_default().split_whitespace();
    let seconds = parts.next().unwrap_or("0").parse()?;
    let max_rss_kb = parts.next().unwrap_or("0").parse()?;
    let user: f64 = parts.next().unwrap_or("0").parse()?;
    let system: f64 = parts.next().unwrap_or("0").parse()?;
    Ok(Sample { seconds, cpu_seconds: user + system, max_rss_kb })
}

fn build_fetch_archive() -> Result<PathBuf> {
    eprintln!("==> building the ferry side (release)");
    let status = Command::new(env!("CARGO"))
        .current_dir(paths::root())
        .args(["build", "--release", "--quiet", "-p", "ferry-git", "--example", "fetch_archive"])
        .status()?;
    if !status.success() {
        bail!("building fetch_archive failed");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| paths::root().join("target"));
    Ok(target.join("release/examples/fetch_archive"))
}

/// Writes a bare repository with `files` files and `commits` commits through
/// `git fast-import`.
fn generate(bare: &Path, files: usize, commits: usize) -> Result<()> {
    ferry_testenv::git::git(
        bare.parent().context("bare path")?,
        &["init", "--quiet", "--bare", "--initial-branch=main", &bare.display().to_string()],
    )?;
    let mut child = Command::new("git")
        .current_dir(bare)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .context("running git fast-import")?;
    let mut stdin = std::io::BufWriter::new(child.stdin.take().context("fast-import stdin")?);
    let path = |i: usize| format!("apps/team-{:02}/svc-{:03}/manifest-{i:05}.yaml", i % 50, (i / 50) % 200);
    let content = |i: usize, rev: usize| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: team-{:02}\ndata:\n  revision: \"{rev}\"\n  payload: \"{}\"\n",
            i % 50,
            "x".repeat(120)
        )
    };
    for commit in 0..commits.max(1) {
        let message = format!("commit {commit}");
        writeln!(stdin, "commit refs/heads/main\nmark :{}", commit + 1)?;
        writeln!(stdin, "committer Bench <bench@ferry.invalid> {} +0000", 1_700_000_000 + commit * 60)?;
        writeln!(stdin, "data {}\n{message}", message.len())?;
        if commit > 0 {
            writeln!(stdin, "from :{commit}")?;
        }
        let changed: Vec<usize> = if commit == 0 {
            (0..files).collect()
        } else {
            (0..20).map(|k| (commit * 7919 + k * 104_729) % files).collect()
        };
        for i in changed {
            let body = content(i, commit);
            writeln!(stdin, "M 100644 inline {}\ndata {}\n{body}", path(i), body.len())?;
        }
        writeln!(stdin)?;
    }
    stdin.flush()?;
    drop(stdin);
    if !child.wait()?.success() {
        bail!("git fast-import failed");
    }
    Ok(())
}

fn first_tarball(storage: &Path) -> Result<PathBuf> {
    let dir = storage.join("gitrepository/default/bench");
    std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "gz"))
        .with_context(|| format!("no artifact in {}", dir.display()))
}

/// The regular files in a tarball, as sorted relative paths.
fn tar_files(tarball: &Path) -> Result<Vec<String>> {
    let output = Command::new("tar").args(["tzvf"]).arg(tarball).output()?;
    if !output.status.success() {
        bail!("tar tzvf {} failed", tarball.display());
    }
    let mut files: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches("./").to_string())
        .collect();
    files.sort();
    Ok(files)
}
