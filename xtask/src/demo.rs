//! `cargo xtask demo`: Ferry's main job end to end on the local control
//! plane. It builds the controllers, starts the control plane, serves a demo
//! application from a local git repository, and watches a GitRepository and
//! two Kustomizations deploy it. With `--once` it verifies and exits.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::{Client, ResourceExt};

use crate::{cluster, paths};

/// The namespace of the demo's Flux objects, where `flux` looks by default.
const NAMESPACE: &str = "flux-system";
/// The demo application, committed into the demo repository.
const APP_DIR: &str = "xtask/demo-app";
/// How long any one step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(180);

fn demo_dir() -> PathBuf {
    paths::root().join(".ferry/demo")
}

/// Runs the demo; with `once`, verifies and exits.
pub fn run(once: bool) -> Result<()> {
    crate::deps::ensure()?;
    let started = Instant::now();
    println!("Ferry demo: GitOps from a local git repository to the local control plane\n");

    let binaries = step("Building source-controller and kustomize-controller", build_controllers)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let owned = step("Starting the local control plane", || runtime.block_on(cluster::up()))?;
    let mut controllers = Vec::new();
    let result = runtime.block_on(demo(&binaries, &mut controllers, once, started));
    for child in &mut controllers {
        stop_child(child);
    }
    if owned {
        cluster::down()?;
    }
    if let Err(error) = &result {
        eprintln!("\nThe demo failed: {error:#}");
        eprintln!("Controller logs: {}", demo_dir().display());
    }
    result
}

async fn demo(binaries: &Binaries, controllers: &mut Vec<Child>, once: bool, started: Instant) -> Result<()> {
    let client = cluster::admin_client().await?;
    let dir = demo_dir();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;

    step_async("Installing the CRDs", install_crds(&client)).await?;

    // The demo repository: a bare repository served over smart HTTP and a
    // working copy whose commits are pushed by a hook.
    let server = step_async("Serving the demo repository over smart HTTP", async {
        let server = ferry_testenv::git::GitServer::start_in(&dir.join("git"), Default::default()).await?;
        create_repository(&dir, &server)?;
        Ok(server)
    })
    .await?;
    let url = server.url("demo-app");

    let storage_port = free_port()?;
    step("Starting source-controller and kustomize-controller", || {
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage)?;
        let storage_addr = format!("127.0.0.1:{storage_port}");
        controllers.push(spawn_controller(
            &binaries.source,
            "source-controller",
            &[
                &format!("--storage-path={}", storage.display()),
                &format!("--storage-addr={storage_addr}"),
                &format!("--storage-adv-addr={storage_addr}"),
                "--metrics-addr=127.0.0.1:0",
                "--health-addr=127.0.0.1:0",
            ],
        )?);
        controllers.push(spawn_controller(
            &binaries.kustomize,
            "kustomize-controller",
            &["--metrics-addr=127.0.0.1:0", "--health-addr=127.0.0.1:0", "--requeue-dependency=5s"],
        )?);
        Ok(())
    })?;

    step_async("Applying a GitRepository and two Kustomizations", apply_objects(&client, &url)).await?;
    let revision = wait_step("GitRepository demo-app: fetching the repository", || {
        let client = client.clone();
        async move { git_repository_revision(&client).await }
    })
    .await?;
    for name in ["staging", "production"] {
        let message = wait_step(&format!("Kustomization {name}: building and applying"), || {
            let client = client.clone();
            async move { kustomization_ready(&client, name).await }
        })
        .await?;
        println!("    {message}");
        let namespace = format!("demo-{name}");
        wait_step(&format!("Deployment {namespace}/web: waiting until Available"), || {
            let client = client.clone();
            let namespace = namespace.clone();
            async move { deployment_available(&client, &namespace).await }
        })
        .await?;
    }

    let kubeconfig = paths::kubeconfig();
    let work = dir.join("demo-app");
    println!();
    println!("Done in {:.0?}. What happened:", started.elapsed());
    println!("  - a Kubernetes control plane started on loopback, with one simulated node (kwok);");
    println!("  - source-controller fetched {url}");
    println!("    and stored revision {revision} as a tarball artifact;");
    println!("  - kustomize-controller built overlays/staging and overlays/production with Ferry's native");
    println!("    kustomize engine and applied them with server-side apply; production waited for staging.");
    println!();
    println!("  kubeconfig: {}", kubeconfig.display());
    println!("  logs:       {}/*.log", dir.display());
    println!();
    println!("Things to try:");
    println!("  1. Edit a file in the demo repository and commit (a hook pushes it):");
    println!("       cd {}", work.display());
    println!("       sed -i 's/count: 3/count: 2/' overlays/production/kustomization.yaml");
    println!("       git commit -am 'two replicas in production'");
    println!("  2. Watch the cluster follow:");
    println!("       kubectl --kubeconfig {} get kustomizations,gitrepositories -n {NAMESPACE}", kubeconfig.display());
    println!(
        "       kubectl --kubeconfig {} get deployments -A -l app.kubernetes.io/part-of=ferry-demo",
        kubeconfig.display()
    );
    println!("  3. Use the ferry CLI on the demo application:");
    println!("       cargo run -q -p ferry-cli -- kustomize build {}/overlays/production", work.display());

    if once {
        println!("\n--once: the demo verified everything and stops now.");
        return Ok(());
    }
    println!("\nPress Ctrl-C to stop everything the demo started.");
    tokio::signal::ctrl_c().await?;
    println!("Stopping.");
    drop(server);
    Ok(())
}

struct Binaries {
    source: PathBuf,
    kustomize: PathBuf,
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| paths::root().join("target"))
}

fn build_controllers() -> Result<Binaries> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(paths::root())
        .args(["build", "--quiet", "--bin", "source-controller", "--bin", "kustomize-controller"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of the controllers failed");
    }
    let debug = target_dir().join("debug");
    Ok(Binaries { source: debug.join("source-controller"), kustomize: debug.join("kustomize-controller") })
}

fn spawn_controller(binary: &Path, name: &str, args: &[&str]) -> Result<Child> {
    let log = std::fs::File::create(demo_dir().join(format!("{name}.log")))?;
    Command::new(binary)
        .args(args)
        .args(["--log-encoding=console", "--watch-all-namespaces=true"])
        .env("KUBECONFIG", paths::kubeconfig())
        .env("RUNTIME_NAMESPACE", NAMESPACE)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

fn stop_child(child: &mut Child) {
    ferry_testenv::process::terminate(child, Duration::from_secs(10));
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn create_repository(dir: &Path, server: &ferry_testenv::git::GitServer) -> Result<()> {
    let bare = server.root().join("demo-app.git");
    let work = dir.join("demo-app");
    let git = |cwd: &Path, args: &[&str]| ferry_testenv::git::git(cwd, args);
    std::fs::create_dir_all(&bare)?;
    git(&bare, &["init", "--bare", "--quiet", "--initial-branch=main"])?;
    git(&bare, &["config", "http.receivepack", "true"])?;
    copy_dir(&paths::root().join(APP_DIR), &work)?;
    git(&work, &["init", "--quiet", "--initial-branch=main"])?;
    git(&work, &["config", "user.name", "Ferry Demo"])?;
    git(&work, &["config", "user.email", "demo@ferry.invalid"])?;
    git(&work, &["remote", "add", "origin", &bare.display().to_string()])?;
    let hook = work.join(".git/hooks/post-commit");
    std::fs::write(&hook, "#!/bin/sh\nexec git push --quiet origin HEAD:refs/heads/main\n")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))?;
    git(&work, &["add", "--all"])?;
    git(&work, &["commit", "--quiet", "-m", "The demo application"])?;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

async fn install_crds(client: &Client) -> Result<()> {
    ferry_testenv::install_crds(client.clone(), &ferry_testenv::SOURCE_AND_KUSTOMIZE_CRDS).await?;
    ferry_testenv::install_crds(client.clone(), &ferry_testenv::HELM_CRDS).await?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}});
    namespaces.patch(NAMESPACE, &PatchParams::apply("ferry-demo"), &Patch::Apply(&namespace)).await?;
    Ok(())
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn git_repositories(client: &Client) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &resource("source.toolkit.fluxcd.io", "v1", "GitRepository", "gitrepositories"),
    )
}

fn kustomizations(client: &Client) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations"),
    )
}

async fn apply_objects(client: &Client, url: &str) -> Result<()> {
    let apply = PatchParams::apply("ferry-demo").force();
    let repository = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "demo-app", "namespace": NAMESPACE},
        "spec": {"url": url, "interval": "10s", "ref": {"branch": "main"}},
    });
    git_repositories(client).patch("demo-app", &apply, &Patch::Apply(&repository)).await?;
    for (name, depends_on) in [("staging", None), ("production", Some("staging"))] {
        let mut spec = serde_json::json!({
            "interval": "1m",
            "path": format!("./overlays/{name}"),
            "prune": true,
            "wait": true,
            "timeout": "2m",
            "sourceRef": {"kind": "GitRepository", "name": "demo-app"},
        });
        if let Some(dependency) = depends_on {
            spec["dependsOn"] = serde_json::json!([{"name": dependency}]);
        }
        let kustomization = serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec,
        });
        kustomizations(client).patch(name, &apply, &Patch::Apply(&kustomization)).await?;
    }
    Ok(())
}

/// `Some(message)` of the Ready condition when its status is `status`.
fn ready(object: &DynamicObject) -> Option<(String, String, String)> {
    let conditions = object.data.pointer("/status/conditions")?.as_array()?;
    let ready = conditions.iter().find(|c| c.get("type").and_then(|t| t.as_str()) == Some("Ready"))?;
    let field = |name: &str| ready.get(name).and_then(|v| v.as_str()).unwrap_or("").to_string();
    Some((field("status"), field("reason"), field("message")))
}

/// What a wait step sees: done (with a result), still waiting (with what it
/// is waiting for), or failed for good.
enum Poll<T> {
    Done(T),
    Waiting(String),
}

async fn git_repository_revision(client: &Client) -> Result<Poll<String>> {
    let repository = git_repositories(client).get("demo-app").await?;
    Ok(match ready(&repository) {
        Some((status, _, _)) if status == "True" => Poll::Done(
            repository.data.pointer("/status/artifact/revision").and_then(|r| r.as_str()).unwrap_or("").to_string(),
        ),
        Some((_, reason, message)) => Poll::Waiting(format!("{reason}: {message}")),
        None => Poll::Waiting("waiting for source-controller".into()),
    })
}

async fn kustomization_ready(client: &Client, name: &str) -> Result<Poll<String>> {
    let kustomization = kustomizations(client).get(name).await?;
    Ok(match ready(&kustomization) {
        Some((status, _, message)) if status == "True" => Poll::Done(message),
        Some((_, reason, message)) => Poll::Waiting(format!("{reason}: {}", message.lines().next().unwrap_or(""))),
        None => Poll::Waiting(format!("waiting for kustomize-controller ({})", kustomization.name_any())),
    })
}

async fn deployment_available(client: &Client, namespace: &str) -> Result<Poll<()>> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let Some(deployment) = deployments.get_opt("web").await? else {
        return Ok(Poll::Waiting("not created yet".into()));
    };
    let status = deployment.status.unwrap_or_default();
    let desired = deployment.spec.and_then(|s| s.replicas).unwrap_or(1);
    let available = status.available_replicas.unwrap_or(0);
    Ok(if available >= desired && status.observed_generation >= deployment.metadata.generation {
        Poll::Done(())
    } else {
        Poll::Waiting(format!("{available}/{desired} replicas available"))
    })
}

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

fn begin(title: &str) {
    if std::io::stdout().is_terminal() {
        print!("  … {title}");
        let _ = std::io::stdout().flush();
    }
}

fn step<T>(title: &str, action: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    begin(title);
    let result = action();
    finish(title, started, result.is_ok());
    result
}

async fn step_async<T>(title: &str, action: impl Future<Output = Result<T>>) -> Result<T> {
    let started = Instant::now();
    begin(title);
    let result = action.await;
    finish(title, started, result.is_ok());
    result
}

/// Ends a step's line: on a terminal it replaces the progress line.
fn finish(title: &str, started: Instant, ok: bool) {
    let mark = if ok { '✓' } else { '✗' };
    let clear = if std::io::stdout().is_terminal() { "\r\x1b[2K" } else { "" };
    println!("{clear}  {mark} {title} ({:.1}s)", started.elapsed().as_secs_f64());
}

/// Polls `check` until done, showing a spinner and what it waits for (a
/// line per change when the output is not a terminal).
async fn wait_step<T, F, Fut>(title: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let started = Instant::now();
    let terminal = std::io::stdout().is_terminal();
    let mut last = String::new();
    let mut frame = 0usize;
    let mut next_check = Instant::now();
    loop {
        if Instant::now() >= next_check {
            next_check = Instant::now() + Duration::from_millis(500);
            match check().await {
                Ok(Poll::Done(value)) => {
                    finish(title, started, true);
                    return Ok(value);
                }
                Ok(Poll::Waiting(what)) => {
                    if !terminal && what != last {
                        println!("  … {title}: {what}");
                    }
                    last = what;
                }
                Err(error) => last = format!("{error:#}"),
            }
        }
        if started.elapsed() > STEP_TIMEOUT {
            finish(title, started, false);
            bail!("{title}: gave up after {STEP_TIMEOUT:?}; last seen: {last}");
        }
        if terminal {
            let spinner = SPINNER[frame % SPINNER.len()];
            let detail: String = last.chars().take(80).collect();
            print!("\r\x1b[2K  {spinner} {title} ({:.0}s) {detail}", started.elapsed().as_secs_f64());
            let _ = std::io::stdout().flush();
        }
        frame += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
