use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Points to an object in the same namespace by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct LocalObjectReference {
    /// The name of the object.
    pub name: String,
}

/// Points to an object by name, in the given namespace or else the referrer's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct NamespacedObjectReference {
    /// The name of the object.
    pub name: String,

    /// The namespace of the object; empty means the referrer's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Points to an object of any kind by kind and name, optionally in another namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedObjectKindReference {
    /// The API version of the object; empty means the version the server prefers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,

    /// The kind of the object.
    pub kind: String,

    /// The name of the object.
    pub name: String,

    /// The namespace of the object; empty means the referrer's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Points to one key of a Secret in the referrer's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct SecretKeyReference {
    /// The name of the Secret.
    pub name: String,

    /// The key in the Secret's data; each API documents the key it reads when this is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Where a controller finds the credentials of a remote cluster to act on instead of its own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.configMapRef) || has(self.secretRef)",
     "message": "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified"},
    {"rule": "!has(self.configMapRef) || !has(self.secretRef)",
     "message": "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified"},
]))]
pub struct KubeConfigReference {
    /// A ConfigMap that describes how to reach the cluster with workload identity (`provider`,
    /// `cluster`, `address`, `ca.crt`, `audiences`, `serviceAccountName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<LocalObjectReference>,

    /// A Secret that holds a kubeconfig file, under `value` or `value.yaml` unless a key is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyReference>,
}
