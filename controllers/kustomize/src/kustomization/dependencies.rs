//! `dependsOn`: a Kustomization waits until the ones it depends on are
//! ready, by Flux's rules, and names a dependency cycle instead of waiting
//! on it forever.

use std::collections::BTreeMap;

use ferry_api_kustomize::Kustomization;
use ferry_api_meta::conditions as reasons;
use ferry_sdk::reconcile::Context;
use kube::api::Api;
use kube::{Client, ResourceExt};

use super::source::{self, Fetched};
use super::{Error, KustomizationReconciler, Result};

impl KustomizationReconciler {
    /// Flux's dependency rules: each dependency exists, passes its
    /// `readyExpr` if any (which then replaces the built-in check), is
    /// Ready at its current generation and, when it shares our source, has
    /// applied the same revision.
    ///
    /// Conditions: none directly; a dependency that is not ready waits
    /// (`DependencyNotReady`), an invalid `readyExpr` stalls
    /// (`InvalidCELExpression`).
    pub async fn reconcile_dependencies(&self, ctx: &Context, object: &Kustomization, source: &Fetched) -> Result<()> {
        let (client, revision) = (ctx.client(), source.revision.as_str());
        match self.check_dependencies_ready(client, object, revision).await {
            // A dependency that waits, however indirectly, for this one never
            // becomes ready: say so instead of waiting without an end.
            Err(Error::DependencyNotReady { retry, message }) => match find_cycle(client, object).await {
                Some(cycle) => Err(Error::DependencyNotReady {
                    message: format!("circular dependency detected: {}", cycle.join(" -> ")),
                    retry,
                }),
                None => Err(Error::DependencyNotReady { retry, message }),
            },
            other => other,
        }
    }

    async fn check_dependencies_ready(&self, client: &Client, object: &Kustomization, revision: &str) -> Result<()> {
        let Some(dependencies) = object.spec.depends_on.as_ref().filter(|d| !d.is_empty()) else {
            return Ok(());
        };
        let retry = self.options.requeue_dependency;
        let not_ready = |message: String| Error::DependencyNotReady { message, retry };
        let own_namespace = object.namespace().unwrap_or_default();
        let serialize = |name: String, value: Result<serde_json::Value, serde_json::Error>| {
            value.map_err(|source| Error::Serialize { name, source })
        };
        let self_value = serialize(object.name_any(), serde_json::to_value(object))?;
        for dependency in dependencies {
            let namespace =
                dependency.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| own_namespace.clone());
            let key = format!("{namespace}/{}", dependency.name);
            let api: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
            let dep = api
                .get_opt(&dependency.name)
                .await
                .map_err(|e| not_ready(format!("dependency '{key}' not found: {e}")))?;
            let Some(dep) = dep else {
                return Err(not_ready(format!("dependency '{key}' not found")));
            };
            if let Some(expr) = dependency.ready_expr.as_deref().filter(|e| !e.is_empty()) {
                let dep_value = serialize(key.clone(), serde_json::to_value(&dep))?;
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
            let dep_status = dep.status.clone().unwrap_or_default();
            let conds = dep_status.conditions.clone().unwrap_or_default();
            if conds.is_empty() || dep.metadata.generation != dep_status.observed_generation {
                return Err(not_ready(format!("dependency '{key}' is not ready")));
            }
            if !ferry_api_meta::conditions::is_true(&conds, reasons::READY) {
                return Err(not_ready(format!("dependency '{key}' is not ready")));
            }
            let same_source = dep.spec.source_ref.name == object.spec.source_ref.name
                && dep.spec.source_ref.kind == object.spec.source_ref.kind
                && source::source_namespace(&dep) == source::source_namespace(object);
            if same_source && dep_status.last_applied_revision.as_deref() != Some(revision) {
                return Err(not_ready(format!("dependency '{key}' revision is not up to date")));
            }
        }
        Ok(())
    }
}

/// How many Kustomizations the cycle search reads at most.
const CYCLE_SEARCH_LIMIT: usize = 256;

/// `namespace/name` of each dependency of `object`.
fn dependency_keys(object: &Kustomization) -> Vec<(String, String)> {
    let own = object.namespace().unwrap_or_default();
    object
        .spec
        .depends_on
        .iter()
        .flatten()
        .map(|d| (d.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| own.clone()), d.name.clone()))
        .collect()
}

/// A chain of `dependsOn` from `object` back to itself, if there is one, as
/// `namespace/name` keys from `object` to `object`.
async fn find_cycle(client: &Client, object: &Kustomization) -> Option<Vec<String>> {
    let start = format!("{}/{}", object.namespace().unwrap_or_default(), object.name_any());
    // Depth-first, remembering how each key was reached.
    let mut reached_from: BTreeMap<String, String> = BTreeMap::new();
    let mut stack: Vec<(String, String)> = dependency_keys(object);
    for (namespace, name) in &stack {
        reached_from.entry(format!("{namespace}/{name}")).or_insert_with(|| start.clone());
    }
    let mut read = 0;
    while let Some((namespace, name)) = stack.pop() {
        let key = format!("{namespace}/{name}");
        if key == start {
            let mut chain = vec![start.clone()];
            let mut at = reached_from.get(&start).cloned();
            while let Some(previous) = at {
                chain.push(previous.clone());
                if previous == start {
                    break;
                }
                at = reached_from.get(&previous).cloned();
            }
            chain.reverse();
            return Some(chain);
        }
        read += 1;
        if read > CYCLE_SEARCH_LIMIT {
            return None;
        }
        let api: Api<Kustomization> = Api::namespaced(client.clone(), &namespace);
        let Ok(Some(dependency)) = api.get_opt(&name).await else { continue };
        for (next_namespace, next_name) in dependency_keys(&dependency) {
            let next = format!("{next_namespace}/{next_name}");
            if next == start {
                reached_from.insert(start.clone(), key.clone());
                stack.push((next_namespace, next_name));
            } else if let std::collections::btree_map::Entry::Vacant(entry) = reached_from.entry(next) {
                entry.insert(key.clone());
                stack.push((next_namespace, next_name));
            }
        }
    }
    None
}
