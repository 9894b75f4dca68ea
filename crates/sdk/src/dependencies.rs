//! `dependsOn`, as Flux's kustomize- and helm-controller check it: each
//! dependency exists, passes its `readyExpr` when it has one (which then
//! replaces the built-in check), else is Ready at its current generation,
//! plus whatever the kind adds (a Kustomization sharing our source must
//! have applied our revision). A dependency that waits, however indirectly,
//! for the dependent never becomes ready: [`find_cycle`] names the chain so
//! that the condition says so instead of waiting without an end.
//!
//! One implementation for every kind with `dependsOn`; each kind keeps its
//! own words for a missing dependency, as Flux's controllers differ there.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt::Debug;

use ferry_api_meta::{DependencyReference, FluxObject, ReconcileStatus, conditions};
use kube::api::Api;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How many objects the cycle search reads at most.
const CYCLE_SEARCH_LIMIT: usize = 256;

/// A kind with `spec.dependsOn`.
pub trait DependsOn:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + FluxObject
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
{
}

impl<K> DependsOn for K where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + FluxObject
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
{
}

/// How a kind reads and words its dependencies.
pub struct Rules<K> {
    /// `spec.dependsOn`.
    pub depends_on: fn(&K) -> Option<&Vec<DependencyReference>>,
    /// The message for a dependency that cannot be read (`None`: it does
    /// not exist), given its `namespace/name`.
    pub missing: fn(&str, Option<&kube::Error>) -> String,
}

/// Why the dependencies are not ready.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dependency is missing or not ready (Flux's `DependencyNotReady`).
    #[error("{0}")]
    NotReady(String),
    /// A `readyExpr` does not compile or evaluate (Flux's
    /// `InvalidCELExpression`).
    #[error("failed to evaluate dependency {name}: {source}")]
    InvalidCel {
        /// The dependency's name.
        name: String,
        /// The CEL error.
        #[source]
        source: ferry_kstatus::Error,
    },
    /// An object could not be turned into JSON for a `readyExpr`.
    #[error("failed to serialize '{name}' for readyExpr: {source}")]
    Serialize {
        /// The object.
        name: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// `namespace/name` of each dependency of `object`.
fn keys<K: DependsOn>(rules: &Rules<K>, object: &K) -> Vec<(String, String)> {
    let own = object.namespace().unwrap_or_default();
    (rules.depends_on)(object)
        .into_iter()
        .flatten()
        .map(|d| (d.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| own.clone()), d.name.clone()))
        .collect()
}

fn to_json<K: Serialize>(name: &str, object: &K) -> Result<serde_json::Value, Error> {
    serde_json::to_value(object).map_err(|source| Error::Serialize { name: name.to_string(), source })
}

/// Checks `object`'s dependencies by Flux's rules; `also` may refuse a
/// dependency that is Ready by them (with the message it returns), given
/// the dependency and its `namespace/name`. A dependency judged by its
/// `readyExpr` is not passed to `also`, as in Flux.
pub async fn check<K: DependsOn>(
    client: &Client,
    rules: &Rules<K>,
    object: &K,
    also: impl Fn(&K, &str) -> Option<String>,
) -> Result<(), Error> {
    let dependencies = match (rules.depends_on)(object) {
        Some(dependencies) if !dependencies.is_empty() => dependencies,
        _ => return Ok(()),
    };
    let own = object.namespace().unwrap_or_default();
    let mut self_value = None;
    for dependency in dependencies {
        let namespace = dependency.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| own.clone());
        let key = format!("{namespace}/{}", dependency.name);
        let api: Api<K> = Api::namespaced(client.clone(), &namespace);
        let dep = match api.get_opt(&dependency.name).await {
            Ok(Some(dep)) => dep,
            Ok(None) => return Err(Error::NotReady((rules.missing)(&key, None))),
            Err(error) => return Err(Error::NotReady((rules.missing)(&key, Some(&error)))),
        };
        if let Some(expr) = dependency.ready_expr.as_deref().filter(|e| !e.is_empty()) {
            if self_value.is_none() {
                self_value = Some(to_json(&object.name_any(), object)?);
            }
            let dep_value = to_json(&key, &dep)?;
            let self_value = self_value.as_ref().unwrap_or(&serde_json::Value::Null);
            let ready = ferry_kstatus::eval_bool(expr, &[("self", self_value), ("dep", &dep_value)])
                .map_err(|source| Error::InvalidCel { name: dependency.name.clone(), source })?;
            if !ready {
                return Err(Error::NotReady(format!("dependency '{key}' is not ready according to readyExpr eval")));
            }
            continue;
        }
        let status = dep.status();
        let ready = status.is_some_and(|s| {
            s.observed_generation() == dep.meta().generation && conditions::is_true(s.conditions(), conditions::READY)
        });
        if !ready {
            return Err(Error::NotReady(format!("dependency '{key}' is not ready")));
        }
        if let Some(message) = also(&dep, &key) {
            return Err(Error::NotReady(message));
        }
    }
    Ok(())
}

/// A chain of `dependsOn` from `object` back to itself, if there is one, as
/// `namespace/name` keys from `object` to `object`. Reads at most
/// [`CYCLE_SEARCH_LIMIT`] objects; unreadable ones end their branch.
pub async fn find_cycle<K: DependsOn>(client: &Client, rules: &Rules<K>, object: &K) -> Option<Vec<String>> {
    let start = format!("{}/{}", object.namespace().unwrap_or_default(), object.name_any());
    // Depth-first, remembering how each key was reached.
    let mut reached_from: BTreeMap<String, String> = BTreeMap::new();
    let mut stack = keys(rules, object);
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
        let api: Api<K> = Api::namespaced(client.clone(), &namespace);
        let Ok(Some(dependency)) = api.get_opt(&name).await else { continue };
        for (next_namespace, next_name) in keys(rules, &dependency) {
            let next = format!("{next_namespace}/{next_name}");
            if next == start {
                reached_from.insert(start.clone(), key.clone());
                stack.push((next_namespace, next_name));
            } else if let Entry::Vacant(entry) = reached_from.entry(next) {
                entry.insert(key.clone());
                stack.push((next_namespace, next_name));
            }
        }
    }
    None
}

/// [`check`], and when a dependency is not ready, the cycle it belongs to
/// if there is one (`circular dependency detected: a -> b -> a`).
pub async fn check_with_cycles<K: DependsOn>(
    client: &Client,
    rules: &Rules<K>,
    object: &K,
    also: impl Fn(&K, &str) -> Option<String>,
) -> Result<(), Error> {
    match check(client, rules, object, also).await {
        Err(Error::NotReady(message)) => match find_cycle(client, rules, object).await {
            Some(cycle) => Err(Error::NotReady(format!("circular dependency detected: {}", cycle.join(" -> ")))),
            None => Err(Error::NotReady(message)),
        },
        other => other,
    }
}
