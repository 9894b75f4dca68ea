//! `dependsOn`: a HelmRelease waits until the ones it depends on are Ready
//! at their current generation, or pass their `readyExpr`, as Flux's
//! `checkDependencies`, and names a dependency cycle instead of waiting on
//! it forever (the rules and the cycle search live in
//! [`ferry_sdk::dependencies`], shared with Kustomization).

use ferry_api_helm::HelmRelease;
use ferry_sdk::dependencies;
use ferry_sdk::reconcile::Context;

use super::{Error, HelmReleaseReconciler, Result};

/// How HelmReleases name their dependencies, in Flux's words.
const RULES: dependencies::Rules<HelmRelease> = dependencies::Rules {
    depends_on: |release| release.spec.depends_on.as_ref(),
    missing: |key, error| match error {
        Some(error) => format!("unable to get '{key}' dependency: {error}"),
        None => format!("unable to get '{key}' dependency: not found"),
    },
};

impl HelmReleaseReconciler {
    /// Dependencies: each must exist and be Ready at its generation, or
    /// pass its `readyExpr` (which then replaces the built-in check).
    ///
    /// Conditions: none directly; a dependency not ready waits
    /// (`DependencyNotReady`, naming the cycle when there is one), an
    /// invalid `readyExpr` stalls (`InvalidCELExpression`).
    pub async fn reconcile_dependencies(&self, ctx: &Context, object: &HelmRelease) -> Result<()> {
        let retry = self.options.requeue_dependency;
        dependencies::check_with_cycles(ctx.client(), &RULES, object, |_, _| None).await.map_err(|error| match error {
            dependencies::Error::NotReady(message) => Error::DependencyNotReady { message, retry },
            dependencies::Error::InvalidCel { name, source } => {
                Error::InvalidCel { context: format!("failed to evaluate dependency {name}: "), source }
            }
            dependencies::Error::Serialize { name, source } => Error::Serialize { name, source },
        })
    }
}
