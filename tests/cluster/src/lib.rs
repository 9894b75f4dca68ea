//! Integration tests of the local control plane: it is a real Kubernetes
//! 1.36 that runs workloads. The tests live in `tests/` and run under
//! `cargo xtask test`.
//!
//! Shared by both test binaries: a check that objects made by concurrent
//! tests stay in their own namespace.

use std::time::Duration;

use anyhow::{Result, ensure};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ListParams, ObjectMeta, PostParams};

/// Creates a few ConfigMaps with fixed names in a fresh namespace, then
/// checks, a while later, that the namespace holds exactly those: another
/// binary doing the same at the same time must not show through.
pub async fn namespace_isolation(binary: &str) -> Result<()> {
    let ns = ferry_testenv::TestNamespace::new(&format!("isolation-{binary}")).await?;
    let config_maps = ns.api::<ConfigMap>();
    for i in 0..5 {
        let cm = ConfigMap {
            metadata: ObjectMeta { name: Some(format!("shared-name-{i}")), ..ObjectMeta::default() },
            data: Some([("binary".to_string(), binary.to_string())].into()),
            ..ConfigMap::default()
        };
        config_maps.create(&PostParams::default(), &cm).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = config_maps.list(&ListParams::default()).await?;
    let ours: Vec<_> =
        listed.items.iter().filter(|cm| cm.metadata.name.as_deref() != Some("kube-root-ca.crt")).collect();
    ensure!(ours.len() == 5, "expected 5 ConfigMaps in {}, found {}", ns.name(), ours.len());
    for cm in ours {
        let owner = cm.data.as_ref().and_then(|d| d.get("binary")).map(String::as_str);
        ensure!(owner == Some(binary), "ConfigMap {:?} belongs to {owner:?}", cm.metadata.name);
    }
    ns.delete(Duration::from_secs(60)).await
}
