//! `cargo xtask cluster up|down|status`: a real Kubernetes control plane on
//! loopback, built from upstream Go modules, with kwok playing the kubelet.

use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
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
    /// When the process started, in clock ticks after boot (field 22 of
    /// `/proc/<pid>/stat`). With the pid and the boot id it names one process
    /// for good: pids wrap (pid_max is 32768 on small machines) and every
    /// checkout's etcd runs the same cached binary, so neither the pid nor the
    /// command line tells our etcd from another checkout's. `None` in states
    /// written before this field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
    pub binary: PathBuf,
}

/// What `up` leaves behind so that `down` and `status` can find it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub server: String,
    /// The kernel's boot id when the state was written: start times count from
    /// boot, so after a reboot no process of the state is alive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    pub components: Vec<Component>,
}

/// The processes this very command spawned, by pid, with their start time.
/// While we hold a `Child` unreaped its pid cannot be recycled, and waiting on
/// it is the only exact answer to "has it exited, and how".
static SPAWNED: Mutex<Vec<(i32, u64, Child)>> = Mutex::new(Vec::new());

/// What this command knows of a process it spawned.
enum Ownership {
    Running,
    /// Exited, with its status when waiting for it worked.
    Exited(Option<ExitStatus>),
}

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProcStat {
    /// The one-letter state: `R`, `S`, `D`, `Z` (zombie), `X` (dead)...
    state: char,
    start_time: u64,
}

fn proc_stat(pid: i32) -> Option<ProcStat> {
    parse_proc_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Parses `/proc/<pid>/stat`; the command name in parentheses may hold
/// spaces and parentheses, so fields are counted after the last `)`.
fn parse_proc_stat(stat: &str) -> Option<ProcStat> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 is the state; the start time is field 22.
    let start_time = fields.nth(22 - 4)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

fn boot_id() -> Option<String> {
    fs::read_to_string("/proc/sys/kernel/random/boot_id").ok().map(|id| id.trim().to_string())
}

impl Component {
    /// True while the process we started runs.
    ///
    /// A process this command spawned is asked directly (`try_wait`). Any
    /// other is identified by pid and start time, never by its command line:
    /// `/proc/<pid>/cmdline` is empty while `execve` is still loading the
    /// binary, a window that `spawn` returning does not close and that a
    /// loaded machine stretches, and which made `up` kill healthy components.
    fn alive(&self) -> bool {
        if let Some(own) = self.own_exit() {
            return matches!(own, Ownership::Running);
        }
        let Some(stat) = proc_stat(self.pid) else {
            return false;
        };
        if matches!(stat.state, 'Z' | 'X' | 'x') {
            return false;
        }
        match self.start_time {
            Some(start_time) => stat.start_time == start_time,
            // A state from before start times were recorded: the old argv0
            // check, sound for long-running processes, so that such a cluster
            // can still be stopped.
            None => {
                let cmdline = fs::read(format!("/proc/{}/cmdline", self.pid)).unwrap_or_default();
                let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
                argv0 == self.binary.as_os_str().as_encoded_bytes()
            }
        }
    }

    /// When this command spawned the process: whether it still runs, or how it
    /// ended. `None` for processes of another command.
    fn own_exit(&self) -> Option<Ownership> {
        let start_time = self.start_time?;
        let mut spawned = SPAWNED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (_, _, child) = spawned.iter_mut().find(|(pid, start, _)| *pid == self.pid && *start == start_time)?;
        Some(match child.try_wait() {
            Ok(None) => Ownership::Running,
            Ok(Some(status)) => Ownership::Exited(Some(status)),
            // waitpid failing means the child is gone for us.
            Err(_) => Ownership::Exited(None),
        })
    }

    /// How the process ended, when this command spawned it and knows.
    fn exit_description(&self) -> String {
        match self.own_exit() {
            Some(Ownership::Exited(Some(status))) => format!(" ({status})"),
            _ => String::new(),
        }
    }

    /// Sends `signal` if the process is still the one we started.
    fn signal(&self, signal: Signal) {
        if self.alive() {
            let _ = kill(Pid::from_raw(self.pid), signal);
        }
    }

    /// Forgets the `Child` of a process that exited (reaping it).
    fn forget(&self) {
        let mut spawned = SPAWNED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        spawned.retain_mut(|(pid, _, child)| *pid != self.pid || matches!(child.try_wait(), Ok(None)));
    }
}

impl State {
    /// True when every component runs (and the machine has not rebooted since).
    fn all_alive(&self) -> bool {
        self.same_boot() && self.components.iter().all(Component::alive)
    }

    fn same_boot(&self) -> bool {
        match (&self.boot_id, boot_id()) {
            (Some(then), Some(now)) => *then == now,
            _ => true,
        }
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
    Ok(load_state()?.is_some_and(|state| state.all_alive()))
}

/// Starts the control plane. Returns `false` when one was already running.
pub async fn up() -> Result<bool> {
    if let Some(state) = load_state()? {
        if state.all_alive() {
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
    let mut state = State { server: String::new(), boot_id: boot_id(), components: Vec::new() };
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
    if state.all_alive() {
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

/// Stops the components in reverse order: SIGTERM, then SIGKILL after 10 s.
/// Only processes that are still the ones we started are signalled, so a
/// stale state never kills a process that took over one of its pids.
fn stop(state: &State) {
    if !state.same_boot() {
        return;
    }
    for component in state.components.iter().rev() {
        if !component.alive() {
            component.forget();
            continue;
        }
        component.signal(Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while component.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if component.alive() {
            component.signal(Signal::SIGKILL);
            while component.alive() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        component.forget();
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
    let pid = i32::try_from(child.id()).context("pid out of range")?;
    // Read while the child is ours and unreaped, so the pid is still its own.
    let start_time = proc_stat(pid).map(|stat| stat.start_time).with_context(|| format!("reading /proc/{pid}/stat"))?;
    SPAWNED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((pid, start_time, child));
    state.components.push(Component {
        name: name.to_string(),
        pid,
        start_time: Some(start_time),
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
            bail!(
                "{} exited{} while waiting for {what}:\n{}",
                dead.name,
                dead.exit_description(),
                log_tail(&dead.name)
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_state_and_start_time_from_proc_stat() {
        let stat = "4242 (kube (api) server) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 12 0 987654 1000 200 18446744073709551615";
        assert_eq!(parse_proc_stat(stat), Some(ProcStat { state: 'S', start_time: 987654 }));
        assert_eq!(parse_proc_stat("garbage"), None);
        let me = proc_stat(i32::try_from(std::process::id()).unwrap()).unwrap();
        assert!(me.start_time > 0 && matches!(me.state, 'R' | 'S'), "{me:?}");
    }

    /// Right after `spawn` returns, `/proc/<pid>/cmdline` is often still empty
    /// (exec has not finished loading the binary): what made `up` declare
    /// healthy components dead. The start time is there from the fork on.
    #[test]
    fn a_process_is_alive_from_the_moment_spawn_returns() {
        let sleep = PathBuf::from("/bin/sleep");
        for _ in 0..200 {
            let mut child = Command::new(&sleep).arg("30").stdin(Stdio::null()).spawn().unwrap();
            let pid = i32::try_from(child.id()).unwrap();
            let start_time = proc_stat(pid).unwrap().start_time;
            let component =
                Component { name: "sleep".into(), pid, start_time: Some(start_time), binary: sleep.clone() };
            assert!(component.alive(), "judged dead right after spawn");
            // The same pid with another start time is another process.
            let other = Component { start_time: Some(start_time + 1), ..component.clone() };
            assert!(!other.alive());
            child.kill().unwrap();
            child.wait().unwrap();
            assert!(!component.alive(), "reaped, so gone");
        }
    }
}
