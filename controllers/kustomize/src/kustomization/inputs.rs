//! The build step and what it reads from the cluster: the client that will
//! apply (the controller's, an impersonated service account, or a remote
//! cluster's), SOPS keys and postBuild variables.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_api_kustomize::{Kustomization, SubstituteKind, SubstituteStrategy};
use ferry_sdk::artifact::Tree;
use ferry_sdk::reconcile::Context;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::{Client, ResourceExt};

use super::build::{self, Substitution};
use super::generate::Overlay;
use super::source::Fetched;
use super::{Error, KustomizationReconciler, Result};

/// Why a build input (decryption keys, postBuild variables) could not be
/// read, worded as kustomize-controller words it; the reason is always
/// `BuildFailed`.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The Kustomization's `decryption.secretRef` could not be read.
    #[error("cannot get SOPS decryption Secret '{}': {source}", .source.secret())]
    DecryptionSecret {
        /// The cause.
        source: ferry_sdk::secret::Error,
    },
    /// The controller's `--sops-age-secret` could not be read.
    #[error("cannot get SOPS age Secret '{}': {source}", .source.secret())]
    AgeSecret {
        /// The cause.
        source: ferry_sdk::secret::Error,
    },
    /// The decryption Secret holds a key that does not parse.
    #[error("failed to import decryption keys: {source}")]
    DecryptionKeys {
        /// The cause.
        source: ferry_sops::Error,
    },
    /// A `postBuild.substituteFrom` Secret is missing (and not optional)
    /// or unreadable.
    #[error("substitute from 'Secret/{name}' error: {source}")]
    SubstituteSecret {
        /// The Secret's name.
        name: String,
        /// The cause.
        source: ferry_sdk::secret::Error,
    },
    /// A `postBuild.substituteFrom` ConfigMap is missing (and not optional).
    #[error("substitute from 'ConfigMap/{name}' error: configmaps \"{name}\" not found")]
    SubstituteConfigMapNotFound {
        /// The ConfigMap's name.
        name: String,
    },
    /// A `postBuild.substituteFrom` ConfigMap could not be read.
    #[error("substitute from 'ConfigMap/{name}' error: {source}")]
    SubstituteConfigMap {
        /// The ConfigMap's name.
        name: String,
        /// The API error.
        source: kube::Error,
    },
}

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
            remote_bases: (!self.options.no_remote_bases)
                .then(|| std::time::Instant::now() + super::timeout_of(object)),
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
            data = ferry_sdk::secret::read(client, namespace, &secret_ref.name)
                .await
                .map_err(|source| Error::BuildInput(InputError::DecryptionSecret { source }))?;
        }
        // The controller's fallback age keys, read with its own identity.
        if let Some((runtime_namespace, name)) = &self.options.sops_age_secret {
            let own = self.factory.client().map_err(|source| Error::ClientFailed { source })?;
            match ferry_sdk::secret::read_opt(&own, runtime_namespace, name).await {
                Ok(Some(secret)) => {
                    for (key, value) in secret {
                        if key.ends_with(".agekey") {
                            data.entry(format!("sops-age-secret.{key}")).or_insert(value);
                        }
                    }
                }
                Ok(None) => {
                    tracing::warn!(secret = %format!("{runtime_namespace}/{name}"), "the --sops-age-secret Secret does not exist")
                }
                Err(source) => return Err(Error::BuildInput(InputError::AgeSecret { source })),
            }
        }
        ferry_sops::KeyRing::from_secret_data(&data)
            .map(Some)
            .map_err(|source| Error::BuildInput(InputError::DecryptionKeys { source }))
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
                            let name = reference.name.clone();
                            return Err(Error::BuildInput(InputError::SubstituteConfigMapNotFound { name }));
                        }
                        Err(source) => {
                            let name = reference.name.clone();
                            return Err(Error::BuildInput(InputError::SubstituteConfigMap { name, source }));
                        }
                    }
                }
                SubstituteKind::Secret => {
                    let read = ferry_sdk::secret::read(client, namespace, &reference.name).await;
                    match read {
                        Ok(secret) => {
                            for (key, value) in secret {
                                vars.insert(key, String::from_utf8_lossy(&value).replace('\n', ""));
                            }
                        }
                        Err(ferry_sdk::secret::Error::NotFound { .. }) if optional => {}
                        Err(source) => {
                            let name = reference.name.clone();
                            return Err(Error::BuildInput(InputError::SubstituteSecret { name, source }));
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
