//! The cluster a Kustomization applies to and the identity it applies as,
//! chosen as Flux's runtime/client impersonator chooses them:
//!
//! - `kubeConfig.secretRef`: the kubeconfig in the Secret;
//! - `kubeConfig.configMapRef`: a cluster reached with workload identity,
//!   described by the ConfigMap (`provider`, `address`, `ca.crt`,
//!   `audiences`, `serviceAccountName`, `cluster`). The `generic` provider
//!   (a Kubernetes service account token) works; the cloud providers (`aws`,
//!   `azure`, `gcp`) need their token services and are refused with a
//!   Stalled condition, never replaced by the local cluster;
//! - otherwise the controller's own cluster;
//!
//! and in every case `spec.serviceAccountName` (or
//! `--default-service-account`) is impersonated on that cluster.

use ferry_api_kustomize::Kustomization;
use ferry_api_meta::KubeConfigReference;
use ferry_sdk::client::ClientFactory;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::{Client, Config};

/// The ConfigMap key naming the provider.
pub const KEY_PROVIDER: &str = "provider";
/// The ConfigMap key with the cloud's cluster resource name.
pub const KEY_CLUSTER: &str = "cluster";
/// The ConfigMap key with the API server address.
pub const KEY_ADDRESS: &str = "address";
/// The ConfigMap key with the API server's CA certificate (PEM).
pub const KEY_CA: &str = "ca.crt";
/// The ConfigMap key with the token audiences, one a line.
pub const KEY_AUDIENCES: &str = "audiences";
/// The ConfigMap key naming the service account whose token is used.
pub const KEY_SERVICE_ACCOUNT: &str = "serviceAccountName";

/// The provider that uses Kubernetes service account tokens.
pub const GENERIC: &str = "generic";

/// Flux's feature gate for tokens of service accounts named by objects.
pub const OBJECT_LEVEL_WORKLOAD_IDENTITY: &str = "ObjectLevelWorkloadIdentity";

/// The token file of the pod's own service account.
pub const POD_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Why no client for the target could be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `spec.kubeConfig` names neither a Secret nor a ConfigMap.
    #[error("invalid .spec.kubeConfig, neither .spec.kubeConfig.configMapRef nor .spec.kubeConfig.secretRef is set")]
    NoReference,
    /// The ConfigMap of `kubeConfig.configMapRef` could not be read.
    #[error("failed to get configmap {name}: {source}")]
    ConfigMapUnavailable {
        /// `namespace/name`.
        name: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A cloud provider: its token service is out of this controller's reach.
    #[error(
        "provider '{0}' of .spec.kubeConfig.configMapRef is not supported by this Ferry version: \
         it needs the cloud's token service (use provider 'generic' or .spec.kubeConfig.secretRef)"
    )]
    UnsupportedProvider(String),
    /// A provider Flux does not know either.
    #[error("provider '{0}' not implemented")]
    UnknownProvider(String),
    /// A service account token for an object needs the gate.
    #[error("{OBJECT_LEVEL_WORKLOAD_IDENTITY} feature gate is not enabled")]
    FeatureGateDisabled,
    /// The `address` is missing or not https.
    #[error("{0}")]
    InvalidAddress(String),
    /// The service account whose token is asked for could not be read.
    #[error("failed to get service account '{name}': {source}")]
    ServiceAccountUnavailable {
        /// `namespace/name`.
        name: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The controller runs outside a pod and has no service account token.
    #[error("failed to read service account token file {POD_TOKEN_FILE}: {0}")]
    NoPodToken(#[source] std::io::Error),
    /// The pod's token does not name a service account.
    #[error("invalid subject in service account token: {0}")]
    InvalidPodToken(String),
    /// The TokenRequest was refused.
    #[error("failed to create kubernetes token for service account '{name}': {source}")]
    TokenFailed {
        /// `namespace/name`.
        name: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The kubeconfig made of the ConfigMap does not parse.
    #[error("invalid cluster configuration: {0}")]
    InvalidKubeconfig(#[source] serde_json::Error),
    /// The configuration made of the ConfigMap is not valid.
    #[error("invalid cluster configuration: {0}")]
    InvalidConfig(#[source] kube::config::KubeconfigError),
    /// The client could not be built.
    #[error(transparent)]
    Client(#[from] ferry_sdk::client::Error),
}

impl Error {
    /// Whether retrying cannot help until the spec or the controller's
    /// flags change.
    pub fn is_stalled(&self) -> bool {
        matches!(
            self,
            Self::NoReference | Self::UnsupportedProvider(_) | Self::UnknownProvider(_) | Self::FeatureGateDisabled
        )
    }
}

/// How the controller's flags shape the target client.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// `--default-service-account`.
    pub default_service_account: Option<String>,
    /// `--default-kubeconfig-service-account`: the account whose token the
    /// `generic` provider uses when the ConfigMap names none.
    pub default_kubeconfig_service_account: Option<String>,
    /// The ObjectLevelWorkloadIdentity gate.
    pub object_level_workload_identity: bool,
    /// `--insecure-kubeconfig-exec`.
    pub allow_kubeconfig_exec: bool,
    /// `--insecure-kubeconfig-tls`.
    pub allow_kubeconfig_insecure_tls: bool,
}

/// The client that applies for `object`: its cluster and its identity.
pub async fn client(factory: &ClientFactory, object: &Kustomization, options: &TargetOptions) -> Result<Client, Error> {
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let account = object
        .spec
        .service_account_name
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| options.default_service_account.clone());
    let config = match &object.spec.kube_config {
        None => {
            return Ok(match account {
                Some(account) => factory.impersonating(&namespace, &account)?,
                None => factory.client()?,
            });
        }
        Some(reference) => remote_config(factory, reference, &namespace, options).await?,
    };
    let config = match account {
        Some(account) => ferry_sdk::client::impersonate(config, &namespace, &account)?,
        None => config,
    };
    Ok(factory.build(config)?)
}

async fn remote_config(
    factory: &ClientFactory,
    reference: &KubeConfigReference,
    namespace: &str,
    options: &TargetOptions,
) -> Result<Config, Error> {
    if let Some(secret) = &reference.secret_ref {
        return Ok(factory
            .kubeconfig_secret_config(
                namespace,
                &secret.name,
                secret.key.as_deref(),
                options.allow_kubeconfig_exec,
                options.allow_kubeconfig_insecure_tls,
            )
            .await?);
    }
    let Some(config_map) = &reference.config_map_ref else { return Err(Error::NoReference) };
    let own = factory.client()?;
    let name = format!("{namespace}/{}", config_map.name);
    let data = Api::<ConfigMap>::namespaced(own.clone(), namespace)
        .get(&config_map.name)
        .await
        .map_err(|source| Error::ConfigMapUnavailable { name, source })?
        .data
        .unwrap_or_default();
    let provider = data.get(KEY_PROVIDER).map(String::as_str).unwrap_or_default();
    match provider {
        GENERIC => {}
        "aws" | "azure" | "gcp" => return Err(Error::UnsupportedProvider(provider.to_string())),
        other => return Err(Error::UnknownProvider(other.to_string())),
    }
    let address = cluster_address(data.get(KEY_ADDRESS).map(String::as_str).unwrap_or_default())?;
    let audiences: Vec<String> = match data.get(KEY_AUDIENCES) {
        Some(lines) => lines.lines().map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect(),
        // The cluster address is the generic provider's default audience.
        None => vec![address.clone()],
    };
    let account = data
        .get(KEY_SERVICE_ACCOUNT)
        .cloned()
        .filter(|s| !s.is_empty())
        .or_else(|| options.default_kubeconfig_service_account.clone());
    let token = match account {
        Some(account) => {
            if !options.object_level_workload_identity {
                return Err(Error::FeatureGateDisabled);
            }
            let accounts: Api<ServiceAccount> = Api::namespaced(own, namespace);
            let name = format!("{namespace}/{account}");
            accounts
                .get(&account)
                .await
                .map_err(|source| Error::ServiceAccountUnavailable { name: name.clone(), source })?;
            request_token(&accounts, &account, &name, audiences).await?
        }
        None => {
            // The controller's own account, named by the pod's token.
            let (pod_namespace, pod_account) = pod_service_account()?;
            let accounts: Api<ServiceAccount> = Api::namespaced(own, &pod_namespace);
            request_token(&accounts, &pod_account, &format!("{pod_namespace}/{pod_account}"), audiences).await?
        }
    };
    config_for(&address, data.get(KEY_CA).map(String::as_str), &token).await
}

async fn request_token(
    accounts: &Api<ServiceAccount>,
    account: &str,
    name: &str,
    audiences: Vec<String>,
) -> Result<String, Error> {
    let request = TokenRequest {
        spec: Some(TokenRequestSpec { audiences: Some(audiences), ..Default::default() }),
        ..Default::default()
    };
    let issued = accounts
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .map_err(|source| Error::TokenFailed { name: name.to_string(), source })?;
    Ok(issued.status.and_then(|s| s.token).unwrap_or_default())
}

/// The address as Flux's `ParseClusterAddress` accepts it: https only,
/// `https://` added when no scheme is given, port 443 when none is.
pub fn cluster_address(address: &str) -> Result<String, Error> {
    if address.is_empty() {
        return Err(Error::InvalidAddress(
            "cluster address is required to create a REST config: the ConfigMap has no 'address'".into(),
        ));
    }
    let full = if address.starts_with("http") { address.to_string() } else { format!("https://{address}") };
    let Some(rest) = full.strip_prefix("https://") else {
        return Err(Error::InvalidAddress(format!(
            "the Kubernetes API server address '{address}' must use https scheme"
        )));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default().to_lowercase();
    if host.is_empty() {
        return Err(Error::InvalidAddress(format!("failed to parse Kubernetes API server address '{address}'")));
    }
    let has_port = host.rsplit_once(':').is_some_and(|(_, port)| !port.contains(']') && !port.is_empty());
    Ok(if has_port { format!("https://{host}") } else { format!("https://{host}:443") })
}

/// The namespace and name in the pod's service account token subject
/// (`system:serviceaccount:<namespace>:<name>`).
fn pod_service_account() -> Result<(String, String), Error> {
    let token = std::fs::read_to_string(POD_TOKEN_FILE).map_err(Error::NoPodToken)?;
    let claims = token.split('.').nth(1).ok_or_else(|| Error::InvalidPodToken("not a JWT".into()))?;
    use base64::Engine as _;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims.trim_end_matches('='))
        .map_err(|e| Error::InvalidPodToken(e.to_string()))?;
    let claims: serde_json::Value =
        serde_json::from_slice(&claims).map_err(|e| Error::InvalidPodToken(e.to_string()))?;
    let subject = claims["sub"].as_str().unwrap_or_default();
    match subject.split(':').collect::<Vec<_>>().as_slice() {
        ["system", "serviceaccount", namespace, name] => Ok((namespace.to_string(), name.to_string())),
        _ => Err(Error::InvalidPodToken(subject.to_string())),
    }
}

/// A configuration for `address`, trusting `ca` (PEM) when given, with a
/// bearer token.
async fn config_for(address: &str, ca: Option<&str>, token: &str) -> Result<Config, Error> {
    use base64::Engine as _;
    let mut cluster = serde_json::json!({"server": address});
    if let Some(ca) = ca.filter(|ca| !ca.trim().is_empty()) {
        cluster["certificate-authority-data"] = base64::engine::general_purpose::STANDARD.encode(ca).into();
    }
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "target", "cluster": cluster}],
        "users": [{"name": "target", "user": {"token": token}}],
        "contexts": [{"name": "target", "context": {"cluster": "target", "user": "target"}}],
        "current-context": "target",
    });
    let kubeconfig: kube::config::Kubeconfig = serde_json::from_value(kubeconfig).map_err(Error::InvalidKubeconfig)?;
    Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(Error::InvalidConfig)
}
