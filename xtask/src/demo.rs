//! `cargo xtask demo`: Ferry's main job end to end on the local control
//! plane. Until the controllers land, it brings up the control plane and says
//! how to use it.

use std::time::Duration;

use anyhow::{Result, bail};
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;

use crate::{cluster, paths};

/// Runs the demo; with `once`, verifies and exits.
pub fn run(once: bool) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let owned = runtime.block_on(cluster::up())?;
    let result = runtime.block_on(async {
        let client = cluster::admin_client().await?;
        let version = client.apiserver_version().await?;
        let nodes: Api<Node> = Api::all(client.clone());
        let node = nodes.get(cluster::NODE_NAME).await?;
        let ready = node
            .status
            .and_then(|s| s.conditions)
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if !ready {
            bail!("the simulated node {} is not Ready", cluster::NODE_NAME);
        }
        let kubeconfig = paths::kubeconfig();
        println!();
        println!("Ferry demo");
        println!("  A Kubernetes {} control plane runs on loopback, with one simulated node.", version.git_version);
        println!("  kubeconfig: {}", kubeconfig.display());
        println!();
        println!("  Try:");
        println!("    kubectl --kubeconfig {} get nodes", kubeconfig.display());
        println!("    kubectl --kubeconfig {} create deployment web --image=nginx --replicas=2", kubeconfig.display());
        println!();
        println!("  Built so far: source-controller (GitRepository, docs/source-controller.md) and the native");
        println!("  kustomize engine (`cargo run -p ferry-cli -- kustomize build DIR`). The kustomize-controller");
        println!("  comes next; this demo will then deploy an app from Git end to end.");
        if once {
            return Ok(());
        }
        println!();
        println!("  Press Ctrl-C to stop.");
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            }
        }
    });
    if owned {
        cluster::down()?;
    }
    result
}
