//! `dependsOn`: a Kustomization waits until the ones it depends on are
//! ready, by Flux's rules, and names a dependency cycle instead of waiting
//! on it forever (the rules and the cycle search live in
//! [`ferry_sdk::dependencies`], shared with HelmRelease).

use ferry_api_kustomize::Kustomization;
use ferry_sdk::dependencies;
use ferry_sdk::reconcile::Context;

use super::source::{self, Fetched};
use super::{Error, KustomizationReconciler, Result};

/// How Kustomizations name their dependencies, in Flux's words.
const RULES: dependencies::Rules<Kustomization> = dependencies::Rules {
    depends_on: |k| k.spec.depends_on.as_ref(),
    missing: |key, error| match error {
        Some(error) => format!("dependency '{key}' not found: {error}"),
        None => format!("dependency '{key}' not found"),
    },
};

impl KustomizationReconciler {
    /// Flux's dependency rules ([`dependencies::check`]): each dependency
    /// exists, passes its `readyExpr` if any (which then replaces the
    /// built-in check), is Ready at its current generation and, when it
    /// shares our source, has applied the same revision. A dependency that
    /// waits, however indirectly, for this one is named as a cycle.
    ///
    /// Conditions: none directly; a dependency that is not ready waits
    /// (`DependencyNotReady`), an invalid `readyExpr` stalls
    /// (`InvalidCELExpression`).
    pub async fn reconcile_dependencies(&self, ctx: &Context, object: &Kustomization, source: &Fetched) -> Result<()> {
        let revision = source.revision.as_str();
        let same_revision = |dep: &Kustomization, key: &str| {
            let same_source = dep.spec.source_ref.name == object.spec.source_ref.name
                && dep.spec.source_ref.kind == object.spec.source_ref.kind
                && source::source_namespace(dep) == source::source_namespace(object);
            let applied = dep.status.as_ref().and_then(|s| s.last_applied_revision.as_deref());
            (same_source && applied != Some(revision)).then(|| format!("dependency '{key}' revision is not up to date"))
        };
        let retry = self.options.requeue_dependency;
        dependencies::check_with_cycles(ctx.client(), &RULES, object, same_revision).await.map_err(
            |error| match error {
                dependencies::Error::NotReady(message) => Error::DependencyNotReady { message, retry },
                dependencies::Error::InvalidCel { name, source } => {
                    Error::InvalidCel { context: format!("failed to evaluate dependency {name}: "), source }
                }
                dependencies::Error::Serialize { name, source } => Error::Serialize { name, source },
            },
        )
    }
}
