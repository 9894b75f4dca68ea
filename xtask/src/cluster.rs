//! `cargo xtask cluster up|down|status`: a real Kubernetes control plane on
//! loopback, built from upstream Go modules, with kwok playing the kubelet.

use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use kube::Client;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::{gobuild, paths, pki};

/// The simulated Node that every cluster starts with.
pub const NODE_NAME: &str = "kwok-node-0";

/// One process of the control plane.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Component {
    pub name: String,
    pub pid: i32,
    pub binary: PathBuf,
}

/// What `up` leaves behind so that `down` and `status` can find it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub server: String,
    pub components: Vec<Component>,
}

impl Component {
    /// True while the process runs and is still the binary we started (a
    /// recycled pid after a reboot is not ours).
    fn alive(&self) -> bool {
        let proc_dir = PathBuf::from(format!("/proc/{}", self.pid));
        let Ok(stat) = fs::read_to_string(proc_dir.join("stat")) else {
            return false;
        };
        // The state is the first field after the parenthesised command name.
        let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if zombie {
            return false;
        }
        let cmdline = fs::read(proc_dir.join("cmdline")).unwrap_or_default();
        let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        argv0 == self.binary.as_os_str().as_encoded_bytes()
    }
}

fn state_path() -> PathBuf {
    paths::cluster_dir().join("state.json")
}

/// Reads the state of the running cluster, if `up` left one.
pub fn load_state() -> Result<Option<State>> {
    match fs::read(state_path()) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).context("reading the cluster state")?)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// True when a cluster started by `up` is running now.
pub fn is_running() -> Result<bool> {
    Ok(load_state()?.is_some_and(|state| state.components.iter().all(Component::alive)))
}

/// Starts the control plane. Returns `false` when one was already running.
pub async fn up() -> Result<bool> {
    if let Some(state) = load_state()? {
        if state.components.iter().all(Component::alive) {
            println!("A local cluster is already running at {}.", state.server);
            println!("  kubeconfig: {}", paths::kubeconfig().display());
            println!("  stop it with `cargo xtask cluster down`.");
            return Ok(false);
        }
        println!("Cleaning up a local cluster that is no longer running...");
        stop(&state);
    }
    let dir = paths::cluster_dir();
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    fs::create_dir_all(&dir)?;

    let bins = gobuild::ensure()?;
    let started = Instant::now();
    let mut state = State { server: String::new(), components: Vec::new() };
    match start(&dir, &bins, &mut state).await {
        Ok(()) => {
            println!("Local control plane ready in {:.1?}: {}", started.elapsed(), state.server);
            println!("  kubeconfig: {}", paths::kubeconfig().display());
            println!("  logs:       {}/<component>.log", dir.display());
            Ok(true)
        }
        Err(err) => {
            stop(&state);
            let _ = fs::remove_file(state_path());
            Err(err.context(format!("starting the local control plane (logs in {})", dir.display())))
        }
    }
}

async fn start(dir: &Path, bins: &gobuild::Binaries, state: &mut State) -> Result<()> {
    let pki_dir = dir.join("pki");
    pki::generate(&pki_dir)?;
    let [etcd_client, etcd_peer, api, kcm, sched, kwok] = free_ports()?;
    let server = format!("https://127.0.0.1:{api}");
    state.server = server.clone();
    let pki = |name: &str| pki_dir.join(name).display().to_string();

    for identity in pki::IDENTITIES {
        let path = if identity.stem == "admin" {
            paths::kubeconfig()
        } else {
            dir.join(format!("{}.kubeconfig", identity.stem))
        };
        write_kubeconfig(&path, &server, &pki_dir, identity.stem)?;
    }
    let kubeconfig_of = |stem: &str| dir.join(format!("{stem}.kubeconfig")).display().to_string();

    let etcd_url = format!("http://127.0.0.1:{etcd_client}");
    let peer_url = format!("http://127.0.0.1:{etcd_peer}");
    spawn(
        dir,
        state,
        "etcd",
        &bins.etcd,
        &[
            "--name=ferry".into(),
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=ferry={peer_url}"),
            "--unsafe-no-fsync=true".into(),
            "--quota-backend-bytes=8589934592".into(),
            "--log-level=warn".into(),
        ],
    )?;
    wait_for_etcd(etcd_client, state).await?;

    spawn(
        dir,
        state,
        "kube-apiserver",
        &bins.kube_apiserver,
        &[
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={api}"),
            format!("--cert-dir={}", dir.join("apiserver").display()),
            format!("--tls-cert-file={}", pki("apiserver.crt")),
            format!("--tls-private-key-file={}", pki("apiserver.key")),
            format!("--client-ca-file={}", pki("ca.crt")),
            format!("--service-account-key-file={}", pki("sa.pub")),
            format!("--service-account-signing-key-file={}", pki("sa.key")),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            "--service-cluster-ip-range=10.96.0.0/16".into(),
            "--authorization-mode=Node,RBAC".into(),
            "--allow-privileged=true".into(),
            "--endpoint-reconciler-type=none".into(),
        ],
    )?;
    let client = admin_client().await?;
    wait_for_readyz(&client, state).await?;

    let common = |stem: &str, port: u16| -> Vec<String> {
        vec![
            format!("--kubeconfig={}", kubeconfig_of(stem)),
            format!("--authentication-kubeconfig={}", kubeconfig_of(stem)),
            format!("--authorization-kubeconfig={}", kubeconfig_of(stem)),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            "--leader-elect=false".into(),
        ]
    };
    let mut kcm_args = common("controller-manager", kcm);
    kcm_args.extend([
        "--use-service-account-credentials=true".into(),
        format!("--service-account-private-key-file={}", pki("sa.key")),
        format!("--root-ca-file={}", pki("ca.crt")),
        format!("--cluster-signing-cert-file={}", pki("ca.crt")),
        format!("--cluster-signing-key-file={}", pki("ca.key")),
        "--controllers=*".into(),
    ]);
    spawn(dir, state, "kube-controller-manager", &bins.kube_controller_manager, &kcm_args)?;
    spawn(dir, state, "kube-scheduler", &bins.kube_scheduler, &common("scheduler", sched))?;
    spawn(
        dir,
        state,
        "kwok",
        &bins.kwok,
        &[
            format!("--kubeconfig={}", kubeconfig_of("kwok")),
            format!("--config={}", paths::root().join("hack/kwok/stages.yaml").display()),
            "--manage-all-nodes=false".into(),
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".into(),
            "--cidr=10.244.0.0/16".into(),
            "--node-ip=10.240.0.1".into(),
            format!("--server-address=127.0.0.1:{kwok}"),
        ],
    )?;
    save_state(state)?;

    create_node(&client).await?;
    wait_until(state, "the simulated Node to become Ready", Duration::from_secs(60), || {
        let nodes: Api<Node> = Api::all(client.clone());
        async move {
            let node = nodes.get_opt(NODE_NAME).await.ok().flatten();
            node.and_then(|n| n.status?.conditions)
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        }
    })
    .await?;
    wait_until(state, "the default ServiceAccount", Duration::from_secs(60), || {
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        async move { accounts.get_opt("default").await.ok().flatten().is_some() }
    })
    .await?;
    Ok(())
}

/// Stops every process of the cluster and removes its state.
pub fn down() -> Result<()> {
    let Some(state) = load_state()? else {
        println!("No local cluster is running (nothing in {}).", paths::cluster_dir().display());
        return Ok(());
    };
    stop(&state);
    let dir = paths::cluster_dir();
    fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    println!("Local cluster at {} stopped and its state removed.", state.server);
    Ok(())
}

/// Prints what runs and where.
pub async fn status() -> Result<()> {
    let Some(state) = load_state()? else {
        println!("No local cluster is running. Start one with `cargo xtask cluster up`.");
        return Ok(());
    };
    println!("Local cluster at {}", state.server);
    for component in &state.components {
        let health = if component.alive() { "running" } else { "NOT RUNNING" };
        println!("  {:<24} pid {:<8} {health}", component.name, component.pid);
    }
    println!("  kubeconfig: {}", paths::kubeconfig().display());
    if state.components.iter().all(Component::alive) {
        let client = admin_client().await?;
        let version = client.apiserver_version().await?;
        println!("  version:    {}", version.git_version);
    }
    Ok(())
}

/// A client for the cluster's admin.
pub async fn admin_client() -> Result<Client> {
    let kubeconfig = Kubeconfig::read_from(paths::kubeconfig())?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

fn stop(state: &State) {
    for component in state.components.iter().rev() {
        if !component.alive() {
            continue;
        }
        let pid = Pid::from_raw(component.pid);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while component.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if component.alive() {
            let _ = kill(pid, Signal::SIGKILL);
            while component.alive() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn save_state(state: &State) -> Result<()> {
    fs::write(state_path(), serde_json::to_vec_pretty(state)?).context("writing the cluster state")
}

fn spawn(dir: &Path, state: &mut State, name: &str, binary: &Path, args: &[String]) -> Result<()> {
    let log = File::create(dir.join(format!("{name}.log")))?;
    let child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // A group of its own: the cluster outlives this command and a Ctrl-C
        // in the terminal that started it.
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    state.components.push(Component {
        name: name.to_string(),
        pid: i32::try_from(child.id()).context("pid out of range")?,
        binary: binary.to_path_buf(),
    });
    save_state(state)
}

/// Loopback ports that were free a moment ago, all distinct.
fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let listeners = (0..N).map(|_| TcpListener::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>()?;
    let ports = listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<Result<Vec<_>, _>>()?;
    ports.try_into().map_err(|_| anyhow!("could not pick {N} ports"))
}

fn write_kubeconfig(path: &Path, server: &str, pki_dir: &Path, stem: &str) -> Result<()> {
    let read = |name: String| -> Result<String> {
        Ok(BASE64.encode(fs::read(pki_dir.join(&name)).with_context(|| format!("reading {name}"))?))
    };
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: ferry-local\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {stem}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: ferry-local\n  context:\n    cluster: ferry-local\n    user: {stem}\ncurrent-context: ferry-local\n",
        ca = read("ca.crt".into())?,
        cert = read(format!("{stem}.crt"))?,
        key = read(format!("{stem}.key"))?,
    );
    fs::write(path, yaml).with_context(|| format!("writing {}", path.display()))
}

async fn wait_for_etcd(port: u16, state: &State) -> Result<()> {
    wait_until(state, "etcd to accept connections", Duration::from_secs(30), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await
}

async fn wait_for_readyz(client: &Client, state: &State) -> Result<()> {
    wait_until(state, "kube-apiserver /readyz", Duration::from_secs(120), || async {
        let request = http::Request::get("/readyz").body(Vec::new());
        match request {
            Ok(request) => client.request_text(request).await.is_ok_and(|body| body.trim() == "ok"),
            Err(_) => false,
        }
    })
    .await
}

/// Polls `check` until it holds, failing early if a component died.
async fn wait_until<F, Fut>(state: &State, what: &str, timeout: Duration, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    println!("  waiting for {what}...");
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return Ok(());
        }
        if let Some(dead) = state.components.iter().find(|c| !c.alive()) {
            bail!("{} exited while waiting for {what}:\n{}", dead.name, log_tail(&dead.name));
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn log_tail(name: &str) -> String {
    let log = fs::read_to_string(paths::cluster_dir().join(format!("{name}.log"))).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

async fn create_node(client: &Client) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "node.alpha.kubernetes.io/ttl": "0",
            },
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
            },
        },
    }))?;
    nodes.create(&PostParams::default(), &node).await.context("creating the simulated Node")?;
    Ok(())
}
