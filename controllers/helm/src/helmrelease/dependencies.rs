//! `dependsOn`: a HelmRelease waits until the ones it depends on are Ready
//! at their current generation, or pass their `readyExpr`, as Flux's
//! `checkDependencies`.

use ferry_api_helm::HelmRelease;
use ferry_api_meta::conditions as reasons;
use ferry_sdk::reconcile::Context;
use kube::ResourceExt;
use kube::api::Api;

use super::{Error, HelmReleaseReconciler, Result};

impl HelmReleaseReconciler {
    /// Dependencies: each must exist and be Ready at its generation, or
    /// pass its `readyExpr` (which then replaces the built-in check).
    ///
    /// Conditions: none directly; a dependency not ready waits
    /// (`DependencyNotReady`), an invalid `readyExpr` stalls
    /// (`InvalidCELExpression`).
    pub async fn reconcile_dependencies(&self, ctx: &Context, object: &HelmRelease) -> Result<()> {
        let Some(dependencies) = object.spec.depends_on.as_ref().filter(|d| !d.is_empty()) else { return Ok(()) };
        let retry = self.options.requeue_dependency;
        let not_ready = |message: String| Error::DependencyNotReady { message, retry };
        let own = object.namespace().unwrap_or_default();
        let self_value = serde_json::to_value(object).unwrap_or_default();
        for dependency in dependencies {
            let namespace = dependency.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| own.clone());
            let key = format!("{namespace}/{}", dependency.name);
            let api: Api<HelmRelease> = Api::namespaced(ctx.client().clone(), &namespace);
            let dep = match api.get_opt(&dependency.name).await {
                Ok(Some(dep)) => dep,
                Ok(None) => return Err(not_ready(format!("unable to get '{key}' dependency: not found"))),
                Err(error) => return Err(not_ready(format!("unable to get '{key}' dependency: {error}"))),
            };
            if let Some(expr) = dependency.ready_expr.as_deref().filter(|e| !e.is_empty()) {
                let dep_value = serde_json::to_value(&dep).unwrap_or_default();
                let ready = ferry_kstatus::eval_bool(expr, &[("self", &self_value), ("dep", &dep_value)]).map_err(
                    |source| Error::InvalidCel {
                        context: format!("failed to evaluate dependency {}: ", dependency.name),
                        source,
                    },
                )?;
                if !ready {
                    return Err(not_ready(format!("dependency '{key}' is not ready according to readyExpr eval")));
                }
                continue;
            }
            let status = dep.status.clone().unwrap_or_default();
            let conditions = status.conditions.clone().unwrap_or_default();
            if dep.metadata.generation != status.observed_generation
                || !ferry_api_meta::conditions::is_true(&conditions, reasons::READY)
            {
                return Err(not_ready(format!("dependency '{key}' is not ready")));
            }
        }
        Ok(())
    }
}
