//! `cargo xtask bench fleet`: Ferry's kustomize-controller against Flux's, in
//! the same run. One GitRepository (served by Ferry's source-controller, the
//! same for both) holds N apps; each contender reconciles N Kustomizations from
//! scratch, and the bench reports the time until all are Ready, the
//! controller's peak RSS and the CPU time it used.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::ApiResource;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::gobuild::{
    FLUX_KUSTOMIZE_CONTROLLER_DIR as FLUX_MODULE_DIR, FLUX_KUSTOMIZE_CONTROLLER_MODULE as FLUX_MODULE,
};
use crate::{cluster, deps, gobuild, paths};

/// The CRDs both controllers need (Flux's kustomize-controller watches every source kind).
const CRDS: [&str; 5] = [
    "source.toolkit.fluxcd.io_gitrepositories.yaml",
    "source.toolkit.fluxcd.io_ocirepositories.yaml",
    "source.toolkit.fluxcd.io_buckets.yaml",
    "source.toolkit.fluxcd.io_externalartifacts.yaml",
    "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
];
/// The label that scopes the bench's controllers to the bench's objects
/// (`--watch-label-selector`), so that they leave other users of the shared
/// control plane alone.
const RUN_LABEL: &str = "bench.ferry.dev/fleet";
/// The field manager of the bench's own writes.
const MANAGER: &str = "ferry-bench-fleet";
/// Options of `cargo xtask bench fleet`.
#[derive(Debug, clap::Args)]
pub struct Options {
    /// Kustomizations (each a Deployment, a Service and a ServiceAccount).
    #[arg(long, default_value_t = 200)]
    pub count: usize,
    /// Run one contender only.
    #[arg(long, value_enum)]
    pub only: Option<Contender>,
    /// Rounds of both contenders (the order alternates; medians are reported).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// How long one contender may take to get every Kustomization Ready, in seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
}

/// A kustomize-controller under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Contender {
    /// Ferry's `kustomize-controller` (release build).
    Ferry,
    /// Flux's kustomize-controller, built from `hack/flux-kustomize-controller`.
    Flux,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::Ferry => "ferry",
            Contender::Flux => "flux",
        }
    }
}

/// One contender's measurements in one round.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// From the first apply until every Kustomization is Ready=True.
    seconds: f64,
    /// VmHWM of the controller when all were Ready.
    peak_rss_kib: u64,
    /// The largest VmRSS seen while sampling (every 50 ms).
    sampled_rss_kib: u64,
    /// User + system CPU time of the controller from the first apply on.
    cpu_seconds: f64,
}

/// Runs the benchmark, prints the table and writes `.ferry/bench/fleet.json`.
pub fn run(options: &Options) -> Result<()> {
    if options.count == 0 || options.count > 9999 {
        bail!("--count must be between 1 and 9999");
    }
    deps::ensure()?;
    let contenders: Vec<Contender> = match options.only {
        Some(only) => vec![only],
        None => vec![Contender::Ferry, Contender::Flux],
    };
    let out_dir = paths::root().join(".ferry/bench");
    std::fs::create_dir_all(&out_dir)?;

    let binaries = Binaries::build(&contenders)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let (kubeconfig, owned) = control_plane(&runtime)?;
    let result = runtime.block_on(bench(options, &contenders, &binaries, &kubeconfig, &out_dir));
    if owned {
        cluster::down()?;
    }
    let results = result?;
    report(options, &binaries, &results, &out_dir)
}

/// The control plane to use: `$FERRY_KUBECONFIG` when set, else the
/// checkout's own, started here (and stopped after) when none runs.
fn control_plane(runtime: &tokio::runtime::Runtime) -> Result<(PathBuf, bool)> {
    if let Some(path) = std::env::var_os(paths::KUBECONFIG_ENV) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{} names {}, which does not exist", paths::KUBECONFIG_ENV, path.display());
        }
        eprintln!("==> using the control plane of {}", path.display());
        return Ok((path, false));
    }
    let owned = runtime.block_on(cluster::up())?;
    Ok((paths::kubeconfig(), owned))
}

struct Binaries {
    source: PathBuf,
    ferry: Option<PathBuf>,
    flux: Option<PathBuf>,
    flux_version: String,
}

impl Binaries {
    fn build(contenders: &[Contender]) -> Result<Self> {
        let with_ferry = contenders.contains(&Contender::Ferry);
        let mut bins = vec!["source-controller"];
        if with_ferry {
            bins.push("kustomize-controller");
        }
        eprintln!("==> building {} (release)", bins.join(" and "));
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo.current_dir(paths::root()).args(["build", "--release", "--quiet"]);
        for bin in &bins {
            cargo.args(["--bin", bin]);
        }
        if !cargo.status().context("running cargo build")?.success() {
            bail!("cargo build --release of {} failed", bins.join(", "));
        }
        let release = target_dir().join("release");
        let flux_dir = paths::root().join(FLUX_MODULE_DIR);
        let flux_version = gobuild::required_version(&flux_dir, FLUX_MODULE)?;
        let flux =
            if contenders.contains(&Contender::Flux) { Some(gobuild::flux_kustomize_controller()?) } else { None };
        Ok(Self {
            source: release.join("source-controller"),
            ferry: with_ferry.then(|| release.join("kustomize-controller")),
            flux,
            flux_version,
        })
    }

    fn of(&self, contender: Contender) -> Result<&Path> {
        match contender {
            Contender::Ferry => self.ferry.as_deref(),
            Contender::Flux => self.flux.as_deref(),
        }
        .context("the contender's binary was not built")
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| paths::root().join("target"))
}

async fn client(kubeconfig: &Path) -> Result<Client> {
    let config = Kubeconfig::read_from(kubeconfig).with_context(|| format!("reading {}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(config, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

fn git_repository_resource() -> ApiResource {
    ApiResource {
        group: "source.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        api_version: "source.toolkit.fluxcd.io/v1".into(),
        kind: "GitRepository".into(),
        plural: "gitrepositories".into(),
    }
}

fn kustomization_resource() -> ApiResource {
    ApiResource {
        group: "kustomize.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        plural: "kustomizations".into(),
    }
}

async fn bench(
    options: &Options,
    contenders: &[Contender],
    binaries: &Binaries,
    kubeconfig: &Path,
    out_dir: &Path,
) -> Result<Vec<(Contender, Vec<Sample>)>> {
    let client = client(kubeconfig).await?;
    eprintln!("==> installing the CRDs");
    install_crds(&client).await?;

    let run_id = format!("{:08x}", std::process::id() ^ now_nanos());
    eprintln!("==> generating the repository: {} apps", options.count);
    let server = ferry_testenv::git::GitServer::start(Default::default()).await?;
    let repo = server.create_repo("fleet")?;
    for i in 0..options.count {
        let app = app_name(i);
        repo.write(&format!("apps/{app}/deployment.yaml"), deployment(&app))?;
        repo.write(&format!("apps/{app}/service.yaml"), service(&app))?;
        repo.write(&format!("apps/{app}/serviceaccount.yaml"), service_account(&app))?;
    }
    let commit = repo.commit("fleet")?;

    let source_ns = format!("fleet-source-{run_id}");
    create_namespace(&client, &source_ns).await?;
    let storage = tempfile::Builder::new().prefix("ferry-bench-fleet-storage-").tempdir()?;
    let storage_addr = format!("127.0.0.1:{}", ferry_testenv::process::free_port()?);
    let mut source = Controller::spawn(
        &binaries.source,
        &out_dir.join("fleet-source-controller.log"),
        kubeconfig,
        &run_id,
        &[
            format!("--storage-path={}", storage.path().display()),
            format!("--storage-addr={storage_addr}"),
            format!("--storage-adv-addr={storage_addr}"),
        ],
    )?;
    let outcome: Result<Vec<(Contender, Vec<Sample>)>> = async {
        source.wait_ready(Duration::from_secs(60)).await?;
        eprintln!("==> GitRepository {source_ns}/fleet at {commit}");
        apply_git_repository(&client, &source_ns, &run_id, &server.url("fleet")).await?;
        wait_git_repository(&client, &source_ns, &mut source).await?;
        let mut results: Vec<(Contender, Vec<Sample>)> = contenders.iter().map(|c| (*c, Vec::new())).collect();
        for round in 0..options.runs.max(1) {
            // Alternate the order so neither side always runs on a warmer control plane.
            let order: Vec<usize> =
                if round % 2 == 0 { (0..contenders.len()).collect() } else { (0..contenders.len()).rev().collect() };
            for index in order {
                let contender = contenders[index];
                let sample = measure(
                    options,
                    contender,
                    binaries.of(contender)?,
                    &client,
                    kubeconfig,
                    &run_id,
                    &source_ns,
                    out_dir,
                )
                .await
                .with_context(|| format!("measuring {}", contender.name()))?;
                eprintln!(
                    "    {}: all {} Ready in {:.2} s, peak RSS {:.1} MiB, CPU {:.2} s",
                    contender.name(),
                    options.count,
                    sample.seconds,
                    sample.peak_rss_kib as f64 / 1024.0,
                    sample.cpu_seconds
                );
                results[index].1.push(sample);
            }
        }
        Ok(results)
    }
    .await;
    // The GitRepository's finalizer needs source-controller: delete it first.
    let cleanup = delete_namespace(&client, &source_ns, Duration::from_secs(120)).await;
    source.stop();
    drop(server);
    let results = outcome?;
    cleanup?;
    Ok(results)
}

/// One contender, one round: a fresh namespace, the controller started and
/// ready, N Kustomizations applied, timed until all are Ready; then the
/// controller stops and the namespace goes.
#[allow(clippy::too_many_arguments)]
async fn measure(
    options: &Options,
    contender: Contender,
    binary: &Path,
    client: &Client,
    kubeconfig: &Path,
    run_id: &str,
    source_ns: &str,
    out_dir: &Path,
) -> Result<Sample> {
    let ns = format!("fleet-{}-{run_id}", contender.name());
    eprintln!("==> {}: {} Kustomizations in namespace {ns}", contender.name(), options.count);
    create_namespace(client, &ns).await?;
    let log = out_dir.join(format!("fleet-{}.log", contender.name()));
    let mut controller = Controller::spawn(binary, &log, kubeconfig, run_id, &["--concurrent=4".to_string()])?;
    let outcome: Result<Sample> = async {
        controller.wait_ready(Duration::from_secs(60)).await?;
        let sampler = RssSampler::start(controller.pid());
        let cpu_before = cpu_seconds(controller.pid())?;
        let started = Instant::now();
        apply_kustomizations(client, &ns, source_ns, run_id, options.count).await?;
        wait_all_ready(client, &ns, options.count, Duration::from_secs(options.timeout), &mut controller).await?;
        let seconds = started.elapsed().as_secs_f64();
        let cpu_seconds = cpu_seconds(controller.pid())? - cpu_before;
        let peak_rss_kib = status_kib(controller.pid(), "VmHWM")?;
        let sampled_rss_kib = sampler.stop();
        verify_objects(client, &ns, options.count).await?;
        Ok(Sample { seconds, peak_rss_kib, sampled_rss_kib, cpu_seconds })
    }
    .await;
    controller.stop();
    // With the controller gone nobody would remove the Kustomizations' finalizers.
    let cleanup: Result<()> = async {
        remove_finalizers(client, &ns).await?;
        delete_namespace(client, &ns, Duration::from_secs(300)).await
    }
    .await;
    let sample = outcome.with_context(|| format!("the controller's log is {}", log.display()))?;
    cleanup?;
    Ok(sample)
}

/// A controller process, stopped (SIGTERM, then SIGKILL) when dropped.
struct Controller {
    child: Child,
    name: String,
    log: PathBuf,
    health: SocketAddr,
}

impl Controller {
    fn spawn(binary: &Path, log: &Path, kubeconfig: &Path, run_id: &str, extra: &[String]) -> Result<Self> {
        let [metrics, health] = [ferry_testenv::process::free_port()?, ferry_testenv::process::free_port()?];
        let health = SocketAddr::from(([127, 0, 0, 1], health));
        let file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(binary)
            .args(extra)
            .args([
                "--watch-all-namespaces=true".to_string(),
                format!("--watch-label-selector={RUN_LABEL}={run_id}"),
                format!("--metrics-addr=127.0.0.1:{metrics}"),
                format!("--health-addr={health}"),
                "--log-level=error".to_string(),
            ])
            .env("KUBECONFIG", kubeconfig)
            .env("RUNTIME_NAMESPACE", "flux-system")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let name = binary.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Self { child, name, log: log.to_path_buf(), health })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has exited, with the tail of its log.
    fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            bail!("{} exited ({status}):\n{}", self.name, lines[lines.len().saturating_sub(20)..].join("\n"));
        }
        Ok(())
    }

    /// Waits until `/readyz` on the health address answers 200.
    async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if ferry_testenv::process::http_ok(self.health, "/readyz") {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} was not ready within {timeout:?} (log: {})", self.name, self.log.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn stop(&mut self) {
        ferry_testenv::process::terminate(&mut self.child, Duration::from_secs(10));
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop();
    }
}

fn now_nanos() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or_default()
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_status_kib(&status, field).with_context(|| format!("no {field} in /proc/{pid}/status"))
}

fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// User + system CPU seconds of a process (all its threads).
fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let ticks = parse_stat_ticks(&stat).with_context(|| format!("unexpected /proc/{pid}/stat"))?;
    Ok(ticks as f64 / clock_ticks_per_second() as f64)
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name is in parentheses and may hold spaces: count from after it.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state), so field n is at index n - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|ticks| *ticks > 0)
        .unwrap_or(100)
}

/// Samples VmRSS every 50 ms on a thread of its own and keeps the largest.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                if let Ok(rss) = status_kib(pid, "VmRSS") {
                    peak = peak.max(rss);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            peak
        });
        Self { stop, thread }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

async fn install_crds(client: &Client) -> Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for file in CRDS {
        let path = paths::root().join("charts/crds").join(file);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let crd: CustomResourceDefinition =
            serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let name = crd.name_any();
        crds.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&crd))
            .await
            .with_context(|| format!("applying CRD {name}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let established =
                crds.get(&name).await?.status.and_then(|s| s.conditions).is_some_and(|conditions| {
                    conditions.iter().any(|c| c.type_ == "Established" && c.status == "True")
                });
            if established {
                break;
            }
            if Instant::now() > deadline {
                bail!("CRD {name} was not Established within 30s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let namespace: Namespace = serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { RUN_LABEL: "true" } }
    }))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

async fn delete_namespace(client: &Client, name: &str, timeout: Duration) -> Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match namespaces.delete(name, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(()),
        Err(err) => return Err(err).with_context(|| format!("deleting namespace {name}")),
    }
    let deadline = Instant::now() + timeout;
    while namespaces.get_opt(name).await?.is_some() {
        if Instant::now() > deadline {
            bail!("namespace {name} was not gone within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

async fn remove_finalizers(client: &Client, ns: &str) -> Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &kustomization_resource());
    let patch = Patch::Merge(json!({ "metadata": { "finalizers": null } }));
    for object in api.list(&ListParams::default()).await? {
        if object.finalizers().is_empty() {
            continue;
        }
        match api.patch(&object.name_any(), &PatchParams::default(), &patch).await {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

async fn apply_git_repository(client: &Client, ns: &str, run_id: &str, url: &str) -> Result<()> {
    let resource = git_repository_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    let object = json!({
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": { "name": "fleet", "namespace": ns, "labels": { RUN_LABEL: run_id } },
        "spec": { "interval": "10m", "url": url, "ref": { "branch": "main" } },
    });
    api.patch("fleet", &PatchParams::apply(MANAGER), &Patch::Apply(&object)).await?;
    Ok(())
}

async fn wait_git_repository(client: &Client, ns: &str, source: &mut Controller) -> Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &git_repository_resource());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        source.check_alive()?;
        if let Some(object) = api.get_opt("fleet").await? {
            match ready(&object) {
                Some((true, _)) => return Ok(()),
                Some((false, message)) if Instant::now() > deadline => {
                    bail!("GitRepository {ns}/fleet is not Ready: {message}")
                }
                _ => {}
            }
        }
        if Instant::now() > deadline {
            bail!("GitRepository {ns}/fleet has no Ready condition after 120s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The Ready condition of an object: whether it is True, and its message.
fn ready(object: &DynamicObject) -> Option<(bool, String)> {
    let conditions = object.data.get("status")?.get("conditions")?.as_array()?;
    let ready = conditions.iter().find(|c| c.get("type").and_then(|t| t.as_str()) == Some("Ready"))?;
    let status = ready.get("status").and_then(|s| s.as_str()) == Some("True");
    let message = ready.get("message").and_then(|m| m.as_str()).unwrap_or_default().to_string();
    Some((status, message))
}

fn app_name(i: usize) -> String {
    format!("app-{i:04}")
}

fn kustomization(ns: &str, source_ns: &str, run_id: &str, app: &str) -> serde_json::Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": { "name": app, "namespace": ns, "labels": { RUN_LABEL: run_id } },
        "spec": {
            "interval": "10m",
            "retryInterval": "30s",
            "timeout": "5m",
            "path": format!("./apps/{app}"),
            "prune": true,
            "wait": false,
            "targetNamespace": ns,
            "sourceRef": { "kind": "GitRepository", "name": "fleet", "namespace": source_ns },
        },
    })
}

/// Creates the Kustomizations, 16 requests at a time.
async fn apply_kustomizations(client: &Client, ns: &str, source_ns: &str, run_id: &str, count: usize) -> Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &kustomization_resource());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        if tasks.len() >= 16
            && let Some(done) = tasks.join_next().await
        {
            done??;
        }
        let api = api.clone();
        let app = app_name(i);
        let object = kustomization(ns, source_ns, run_id, &app);
        tasks.spawn(async move {
            api.patch(&app, &PatchParams::apply(MANAGER), &Patch::Apply(&object))
                .await
                .with_context(|| format!("applying Kustomization {app}"))
                .map(|_| ())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn wait_all_ready(
    client: &Client,
    ns: &str,
    count: usize,
    timeout: Duration,
    controller: &mut Controller,
) -> Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &kustomization_resource());
    let deadline = Instant::now() + timeout;
    loop {
        controller.check_alive()?;
        let list = api.list(&ListParams::default()).await?;
        let not_ready: Vec<(String, String)> = list
            .items
            .iter()
            .filter_map(|object| match ready(object) {
                Some((true, _)) => None,
                Some((false, message)) => Some((object.name_any(), message)),
                None => Some((object.name_any(), "no Ready condition yet".to_string())),
            })
            .collect();
        if list.items.len() == count && not_ready.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let mut text = format!("{} of {count} Kustomizations not Ready after {timeout:?}", not_ready.len());
            for (name, message) in not_ready.iter().take(5) {
                let _ = write!(text, "\n  {name}: {message}");
            }
            bail!(text);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Checks, outside the timing, that Ready meant applied: every app's
/// Deployment, Service and ServiceAccount is in the namespace.
async fn verify_objects(client: &Client, ns: &str, count: usize) -> Result<()> {
    let params = ListParams::default().labels("app");
    let deployments = Api::<Deployment>::namespaced(client.clone(), ns).list_metadata(&params).await?.items.len();
    let services = Api::<Service>::namespaced(client.clone(), ns).list_metadata(&params).await?.items.len();
    let accounts = Api::<ServiceAccount>::namespaced(client.clone(), ns).list_metadata(&params).await?.items.len();
    if (deployments, services, accounts) != (count, count, count) {
        bail!(
            "all Kustomizations are Ready but {ns} holds {deployments} Deployments, {services} Services and \
             {accounts} ServiceAccounts of the apps (expected {count} each)"
        );
    }
    Ok(())
}

fn deployment(app: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\n  labels:\n    app: {app}\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {app}\n  template:\n    metadata:\n      labels:\n        app: {app}\n    spec:\n      serviceAccountName: {app}\n      containers:\n      - name: app\n        image: registry.example.com/{app}:1.0.0\n        ports:\n        - name: http\n          containerPort: 8080\n        resources:\n          requests:\n            cpu: 10m\n            memory: 16Mi\n"
    )
}

fn service(app: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {app}\n  labels:\n    app: {app}\nspec:\n  selector:\n    app: {app}\n  ports:\n  - name: http\n    port: 80\n    targetPort: http\n"
    )
}

fn service_account(app: &str) -> String {
    format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {app}\n  labels:\n    app: {app}\n")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

struct Summary {
    seconds: f64,
    peak_rss_kib: f64,
    cpu_seconds: f64,
}

fn summarize(samples: &[Sample]) -> Summary {
    Summary {
        seconds: median(samples.iter().map(|s| s.seconds).collect()),
        peak_rss_kib: median(samples.iter().map(|s| s.peak_rss_kib as f64).collect()),
        cpu_seconds: median(samples.iter().map(|s| s.cpu_seconds).collect()),
    }
}

fn report(options: &Options, binaries: &Binaries, results: &[(Contender, Vec<Sample>)], out_dir: &Path) -> Result<()> {
    let mut table = String::new();
    writeln!(
        table,
        "\nfleet: {} Kustomizations (a Deployment, a Service and a ServiceAccount each) from one GitRepository, \
         {} round(s), medians",
        options.count,
        options.runs.max(1)
    )?;
    writeln!(table, "  {:<34} {:>14} {:>14} {:>12}", "contender", "all Ready", "peak RSS", "CPU")?;
    let summaries: Vec<(Contender, Summary)> = results.iter().map(|(c, s)| (*c, summarize(s))).collect();
    for (contender, summary) in &summaries {
        let label = match contender {
            Contender::Ferry => "ferry kustomize-controller".to_string(),
            Contender::Flux => format!("flux kustomize-controller {}", binaries.flux_version),
        };
        writeln!(
            table,
            "  {label:<34} {:>12.2} s {:>10.1} MiB {:>10.2} s",
            summary.seconds,
            summary.peak_rss_kib / 1024.0,
            summary.cpu_seconds
        )?;
    }
    let ferry = summaries.iter().find(|(c, _)| *c == Contender::Ferry).map(|(_, s)| s);
    let flux = summaries.iter().find(|(c, _)| *c == Contender::Flux).map(|(_, s)| s);
    let ratios = match (ferry, flux) {
        (Some(ferry), Some(flux)) => {
            let ratio = |a: f64, b: f64| a / b.max(1e-9);
            let ratios = (
                ratio(ferry.seconds, flux.seconds),
                ratio(ferry.peak_rss_kib, flux.peak_rss_kib),
                ratio(ferry.cpu_seconds, flux.cpu_seconds),
            );
            writeln!(table, "  {:<34} {:>13.2}x {:>13.2}x {:>11.2}x", "ferry/flux", ratios.0, ratios.1, ratios.2)?;
            Some(ratios)
        }
        _ => None,
    };
    print!("{table}");

    let runs: Vec<serde_json::Value> = results
        .iter()
        .map(|(contender, samples)| {
            json!({
                "contender": contender.name(),
                "samples": samples.iter().map(|s| json!({
                    "seconds_to_all_ready": s.seconds,
                    "peak_rss_kib": s.peak_rss_kib,
                    "sampled_peak_rss_kib": s.sampled_rss_kib,
                    "cpu_seconds": s.cpu_seconds,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let document = json!({
        "benchmark": "fleet",
        "count": options.count,
        "rounds": options.runs.max(1),
        "flux_kustomize_controller": binaries.flux_version,
        "ferry_commit": git_head(),
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default(),
        "results": runs,
        "ratios_ferry_over_flux": ratios.map(|(time, rss, cpu)| json!({
            "seconds_to_all_ready": time,
            "peak_rss": rss,
            "cpu_seconds": cpu,
        })),
    });
    let path = out_dir.join("fleet.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&document)?)?;
    println!("  numbers written to {}", path.display());
    Ok(())
}

fn git_head() -> Option<String> {
    let out = Command::new("git").current_dir(paths::root()).args(["rev-parse", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_fields() {
        let status = "Name:\tkustomize-contr\nVmPeak:\t  812345 kB\nVmHWM:\t   45678 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(45678));
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(40000));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        let stat = "1234 (kustomize controller) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat_ticks(stat), Some(325));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
    }

    #[test]
    fn kustomizations_point_at_their_app() {
        let object = kustomization("fleet-ferry-1", "fleet-source-1", "1", "app-0007");
        assert_eq!(object["spec"]["path"], "./apps/app-0007");
        assert_eq!(object["spec"]["targetNamespace"], "fleet-ferry-1");
        assert_eq!(object["spec"]["sourceRef"]["namespace"], "fleet-source-1");
        assert_eq!(object["metadata"]["labels"][RUN_LABEL], "1");
        let docs = [deployment("app-0007"), service("app-0007"), service_account("app-0007")];
        for doc in docs {
            let value: serde_json::Value = serde_yaml_ng::from_str(&doc).unwrap();
            assert_eq!(value["metadata"]["name"], "app-0007");
        }
    }
}
