//! Times staged applies of N objects against the local control plane: the first apply (all
//! created), a second one (all unchanged, dry-run only) and a third with one change.
//!
//! `FERRY_KUBECONFIG=... cargo run -p ferry-ssa --example apply_timing -- 100`

use std::time::Instant;

use ferry_ssa::{ApplyOptions, Owner, ResourceManager};
use kube::api::DynamicObject;
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(100);
    let ns = ferry_testenv::TestNamespace::new("ssa-timing").await?;
    let manager = ResourceManager::new(ns.client(), Owner::kustomize_controller());
    let opts =
        ApplyOptions { labels: Owner::kustomize_controller().labels("timing", ns.name()), ..ApplyOptions::default() };
    let objects = |generation: usize| -> anyhow::Result<Vec<DynamicObject>> {
        (0..count)
            .map(|i| {
                let value = if i == 0 { generation } else { 0 };
                Ok(serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{i}"), "namespace": ns.name()},
                    "data": {"value": value.to_string()}
                }))?)
            })
            .collect()
    };
    for (label, generation) in [("create", 0), ("unchanged", 0), ("one change", 1)] {
        let start = Instant::now();
        let changes = manager.apply_all_staged(objects(generation)?, &opts).await?;
        println!("{label:>10}: {count} objects in {:?} ({} changed)", start.elapsed(), changes.changes().count());
    }
    ns.delete(std::time::Duration::from_secs(60)).await
}
