//! Spec fields this controller does not implement yet. A HelmRelease that
//! asks for one stalls with `UnsupportedSpec` and a message naming the
//! field, instead of being released without it (docs/helm-controller.md
//! lists them).

use ferry_api_helm::HelmRelease;

use super::{Error, Result};

/// Refuses `object` when it asks for an unimplemented feature.
pub fn check(object: &HelmRelease) -> Result<()> {
    let spec = &object.spec;
    let mut refused: Vec<&str> = Vec::new();
    if spec.kube_config.is_some() {
        refused.push("spec.kubeConfig (remote clusters)");
    }
    if spec.post_renderers.as_ref().is_some_and(|p| !p.is_empty()) {
        refused.push("spec.postRenderers");
    }
    if spec.common_metadata.is_some() {
        refused.push("spec.commonMetadata");
    }
    if let Some(mode) = spec.drift_detection.as_ref().and_then(|d| d.mode.as_deref())
        && mode != "disabled"
    {
        refused.push("spec.driftDetection.mode (only 'disabled')");
    }
    if spec.wait_strategy.as_ref().is_some_and(|w| w.name == "legacy") {
        refused.push("spec.waitStrategy.name 'legacy' (Ferry waits with kstatus, 'poller')");
    }
    if spec.chart_ref.as_ref().is_some_and(|r| r.kind == "ExternalArtifact") {
        refused.push("spec.chartRef.kind ExternalArtifact");
    }
    if let Some(install) = &spec.install {
        if install.disable_openapi_validation == Some(true) {
            refused.push("spec.install.disableOpenAPIValidation (the API server always validates server-side applies)");
        }
        if install.disable_take_ownership == Some(true) {
            refused.push("spec.install.disableTakeOwnership");
        }
        if install.server_side_apply == Some(false) {
            refused.push("spec.install.serverSideApply: false (Ferry applies server-side)");
        }
    }
    if let Some(upgrade) = &spec.upgrade {
        if upgrade.disable_openapi_validation == Some(true) {
            refused.push("spec.upgrade.disableOpenAPIValidation (the API server always validates server-side applies)");
        }
        if upgrade.disable_take_ownership == Some(true) {
            refused.push("spec.upgrade.disableTakeOwnership");
        }
        if upgrade.server_side_apply.as_deref() == Some("disabled") {
            refused.push("spec.upgrade.serverSideApply: disabled (Ferry applies server-side)");
        }
        if upgrade.chart_name_change_strategy.as_deref() == Some("InPlaceUpdate") {
            refused.push("spec.upgrade.chartNameChangeStrategy: InPlaceUpdate");
        }
    }
    if spec.rollback.as_ref().and_then(|r| r.server_side_apply.as_deref()) == Some("disabled") {
        refused.push("spec.rollback.serverSideApply: disabled (Ferry applies server-side)");
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(Error::Unsupported(format!("not supported by this Ferry version: {}", refused.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unimplemented_fields_are_named() {
        let mut object = HelmRelease::new("a", Default::default());
        assert!(check(&object).is_ok());
        object.spec.post_renderers = Some(vec![Default::default()]);
        object.spec.drift_detection =
            Some(ferry_api_helm::DriftDetection { mode: Some("enabled".into()), ignore: None });
        let message = check(&object).unwrap_err().to_string();
        assert!(message.contains("spec.postRenderers") && message.contains("spec.driftDetection.mode"), "{message}");
    }
}
