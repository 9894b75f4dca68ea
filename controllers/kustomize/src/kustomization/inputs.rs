//! The build step and what it reads from the cluster: the client that will
//! apply (the controller's, an impersonated service account, or a remote
//! cluster's), SOPS keys and postBuild variables.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_api_kustomize::{Kustomization, SubstituteKind, SubstituteStrategy};
use ferry_sdk::artifact::Tree;
use ferry_sdk::reconcile::Context;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use kube::{Client, ResourceExt};

use super::build::{self, Substitution};
use super::generate::Overlay;
use super::source::Fetched;
use super::{Error, KustomizationReconciler, Result};

/// What the build produced, for the apply step.
pub struct Built {
    /// The objects, as JSON.
    pub objects: Vec<serde_json::Value>,
    /// The digest of the build, the history key.
    pub digest: String,
    /// The client that applies.
    pub client: Client,
    /// The history metadata (`revision`, `originRevision`).
    pub history: BTreeMap<String, String>,
}

impl KustomizationReconciler {
    /// Build: the client that applies, the decryption keys and the
    /// postBuild variables read from the cluster, then the pure build
    /// ([`build::run`]) off the async runtime.
    ///
    /// Conditions: none directly; failures are `BuildFailed`, or
    /// `ReconciliationFailed` for a client that cannot be built and for
    /// encrypted data without decryption (where Flux finds it, at apply).
    pub async fn reconcile_build(
        &self,
        ctx: &Context,
        object: &Kustomization,
        source: &Fetched,
        tree: Arc<Tree>,
    ) -> Result<Built> {
        let namespace = object.namespace().unwrap_or_default();
        let client = self.target_client(object).await?;
        let keys = self.decryption_keys(ctx.client(), object, &namespace).await?;
        let substitution = self.substitution(ctx.client(), object, &namespace).await?;
        let input = build::Input {
            tree,
            path: object.spec.path.clone().unwrap_or_default(),
            overlay: Overlay::from_spec(&object.spec),
            keys,
            substitution,
        };
        let built = tokio::task::spawn_blocking(move || build::run(&input))
            .await
            .map_err(|source| Error::BuildTask { source })?
            .map_err(|error| match error {
                build::Error::EncryptedWithoutDecryption(_) => Error::Encrypted(error),
                other => Error::BuildFailed(other),
            })?;
        let mut history = BTreeMap::from([("revision".to_string(), source.revision.clone())]);
        if let Some(origin) = &source.origin_revision {
            history.insert("originRevision".to_string(), origin.clone());
        }
        Ok(Built { objects: built.objects, digest: built.digest, client, history })
    }

    /// The client that applies: the controller's own, a remote cluster's
    /// from `spec.kubeConfig`, acting as `spec.serviceAccountName` on it.
    pub(super) async fn target_client(&self, object: &Kustomization) -> Result<Client> {
        let options = super::target::TargetOptions {
            default_service_account: self.options.default_service_account.clone(),
            default_kubeconfig_service_account: self.options.default_kubeconfig_service_account.clone(),
            object_level_workload_identity: self.options.object_level_workload_identity,
            allow_kubeconfig_exec: self.options.allow_kubeconfig_exec,
            allow_kubeconfig_insecure_tls: self.options.allow_kubeconfig_insecure_tls,
        };
        super::target::client(&self.factory, object, &options).await.map_err(Error::Target)
    }

    async fn decryption_keys(
        &self,
        client: &Client,
        object: &Kustomization,
        namespace: &str,
    ) -> Result<Option<ferry_sops::KeyRing>> {
        let Some(decryption) = &object.spec.decryption else { return Ok(None) };
        let mut data = BTreeMap::new();
        if let Some(secret_ref) = &decryption.secret_ref {
            let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
            let secret = api.get(&secret_ref.name).await.map_err(|e| {
                Error::BuildInput(format!(
                    "cannot get {} decryption Secret '{namespace}/{}': {e}",
                    "SOPS", secret_ref.name
                ))
            })?;
            for (key, value) in secret.data.unwrap_or_default() {
                data.insert(key, value.0);
            }
            for (key, value) in secret.string_data.unwrap_or_default() {
                data.insert(key, value.into_bytes());
            }
        }
        // The controller's fallback age keys, read with its own identity.
        if let Some((runtime_namespace, name)) = &self.options.sops_age_secret {
            let api: Api<Secret> = Api::namespaced(
                self.factory.client().map_err(|source| Error::ClientFailed { source })?,
                runtime_namespace,
            );
            match api.get_opt(name).await {
                Ok(Some(secret)) => {
                    for (key, value) in secret.data.unwrap_or_default() {
                        if key.ends_with(".agekey") {
                            data.entry(format!("sops-age-secret.{key}")).or_insert(value.0);
                        }
                    }
                }
                Ok(None) => {
                    tracing::warn!(secret = %format!("{runtime_namespace}/{name}"), "the --sops-age-secret Secret does not exist")
                }
                Err(error) => {
                    return Err(Error::BuildInput(format!(
                        "cannot get SOPS age Secret '{runtime_namespace}/{name}': {error}"
                    )));
                }
            }
        }
        ferry_sops::KeyRing::from_secret_data(&data)
            .map(Some)
            .map_err(|e| Error::BuildInput(format!("failed to import decryption keys: {e}")))
    }

    /// The postBuild variables: ConfigMaps and Secrets in order, then the
    /// inline ones; newlines are dropped from values, as Flux does.
    async fn substitution(
        &self,
        client: &Client,
        object: &Kustomization,
        namespace: &str,
    ) -> Result<Option<Substitution>> {
        let Some(post_build) = &object.spec.post_build else { return Ok(None) };
        let mut vars = BTreeMap::new();
        for reference in post_build.substitute_from.as_deref().unwrap_or_default() {
            let optional = reference.optional.unwrap_or(false);
            match reference.kind {
                SubstituteKind::ConfigMap => {
                    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
                    match api.get_opt(&reference.name).await {
                        Ok(Some(map)) => {
                            for (key, value) in map.data.unwrap_or_default() {
                                vars.insert(key, value.replace('\n', ""));
                            }
                        }
                        Ok(None) if optional => {}
                        Ok(None) => {
                            return Err(Error::BuildInput(format!(
                                "substitute from 'ConfigMap/{}' error: configmaps \"{}\" not found",
                                reference.name, reference.name
                            )));
                        }
                        Err(e) => {
                            return Err(Error::BuildInput(format!(
                                "substitute from 'ConfigMap/{}' error: {e}",
                                reference.name
                            )));
                        }
                    }
                }
                SubstituteKind::Secret => {
                    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
                    match api.get_opt(&reference.name).await {
                        Ok(Some(secret)) => {
                            for (key, value) in secret.data.unwrap_or_default() {
                                vars.insert(key, String::from_utf8_lossy(&value.0).replace('\n', ""));
                            }
                        }
                        Ok(None) if optional => {}
                        Ok(None) => {
                            return Err(Error::BuildInput(format!(
                                "substitute from 'Secret/{}' error: secrets \"{}\" not found",
                                reference.name, reference.name
                            )));
                        }
                        Err(e) => {
                            return Err(Error::BuildInput(format!(
                                "substitute from 'Secret/{}' error: {e}",
                                reference.name
                            )));
                        }
                    }
                }
            }
        }
        for (key, value) in post_build.substitute.clone().unwrap_or_default() {
            vars.insert(key, value.replace('\n', ""));
        }
        // kustomize-controller v1.9: without any variable the manifests are
        // left as written, unless `substituteStrategy: Always`.
        let always = post_build.substitute_strategy == Some(SubstituteStrategy::Always);
        if vars.is_empty() && !always {
            return Ok(None);
        }
        Ok(Some(Substitution { vars, strict: self.options.strict_substitutions }))
    }
}
