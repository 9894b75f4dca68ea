//! What the end-to-end tests of the `ferry` binary share: `ferry controllers
//! run` started against the test cluster with its servers on free loopback
//! ports, and stopped the way a kubelet stops it.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `ferry controllers run`.
pub struct Controllers {
    child: Option<Child>,
    /// The artifact storage directory.
    pub storage: TempDir,
    /// The metrics server's port.
    pub metrics_port: u16,
    /// The health server's port.
    pub health_port: u16,
}

impl Controllers {
    /// Starts every controller, watching only `namespace`, with `extra` flags.
    pub fn start(namespace: &str, extra: &[&str]) -> Self {
        let storage = tempfile::tempdir().unwrap();
        let (storage_port, metrics_port, health_port) = (free_port(), free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args(["controllers", "run", "--watch-all-namespaces=false"])
            .args(extra)
            .arg(format!("--runtime-namespace={namespace}"))
            .arg(format!("--storage-path={}", storage.path().display()))
            .arg(format!("--storage-addr=127.0.0.1:{storage_port}"))
            .arg(format!("--storage-adv-addr=127.0.0.1:{storage_port}"))
            .arg(format!("--metrics-addr=127.0.0.1:{metrics_port}"))
            .arg(format!("--health-addr=127.0.0.1:{health_port}"))
            .arg("--log-encoding=console")
            .env("KUBECONFIG", ferry_testenv::kubeconfig_path().unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Self { child: Some(child), storage, metrics_port, health_port }
    }

    /// Sends SIGTERM and asserts that the process exits cleanly.
    pub async fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
            .unwrap();
        let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
        assert!(status.success(), "{status}");
    }
}

impl Drop for Controllers {
    /// A test that failed before [`Controllers::stop`] leaves no process behind.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
