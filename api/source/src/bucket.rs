use ferry_api_meta::{Artifact, Condition, DURATION_PATTERN, LocalObjectReference, SHORT_DURATION_PATTERN};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Downloads the objects of an S3-compatible, GCS or Azure Blob bucket and serves them as an
/// artifact.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "Bucket",
    plural = "buckets",
    namespaced,
    status = "BucketStatus",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".spec.endpoint"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Status", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].message"#),
    doc = "Bucket downloads the objects of a storage bucket and serves them as an artifact."
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.provider == 'aws' || self.provider == 'generic' || !has(self.sts)",
     "message": "STS configuration is only supported for the 'aws' and 'generic' Bucket providers"},
    {"rule": "self.provider != 'aws' || !has(self.sts) || self.sts.provider == 'aws'",
     "message": "'aws' is the only supported STS provider for the 'aws' Bucket provider"},
    {"rule": "self.provider != 'generic' || !has(self.sts) || self.sts.provider == 'ldap'",
     "message": "'ldap' is the only supported STS provider for the 'generic' Bucket provider"},
    {"rule": "!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.secretRef)",
     "message": "spec.sts.secretRef is not required for the 'aws' STS provider"},
    {"rule": "!has(self.sts) || self.sts.provider != 'aws' || !has(self.sts.certSecretRef)",
     "message": "spec.sts.certSecretRef is not required for the 'aws' STS provider"},
    {"rule": "self.provider != 'generic' || !has(self.serviceAccountName)",
     "message": "ServiceAccountName is not supported for the 'generic' Bucket provider"},
    {"rule": "!has(self.secretRef) || !has(self.serviceAccountName)",
     "message": "cannot set both .spec.secretRef and .spec.serviceAccountName"},
]))]
pub struct BucketSpec {
    /// The storage service: `generic` (any S3 API), `aws`, `gcp` or `azure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "generic"))]
    pub provider: Option<BucketProvider>,

    /// The name of the bucket.
    pub bucket_name: String,

    /// The host (and port) of the storage service, without scheme.
    pub endpoint: String,

    /// A security token service that issues temporary credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts: Option<BucketSts>,

    /// Whether to use plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,

    /// The region of the bucket, for S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,

    /// Only objects whose key starts with this are downloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,

    /// A Secret with the access keys (`accesskey`/`secretkey`, or the provider's own keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,

    /// A ServiceAccount whose workload identity authenticates, for the cloud providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,

    /// A Secret with `ca.crt`, and optionally `tls.crt` and `tls.key`, for TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,

    /// A Secret with the `address`, and optionally `username` and `password`, of a proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,

    /// How often to look for changed objects.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: String,

    /// How long one storage operation may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SHORT_DURATION_PATTERN), extend("default" = "60s"))]
    pub timeout: Option<String>,

    /// Paths to leave out of the artifact, in `.gitignore` syntax; replaces the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,

    /// When true, nothing is downloaded until it is set back to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
}

/// The storage service of a bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = ferry_api_meta::drop_description)]
pub enum BucketProvider {
    /// Any service with the S3 API.
    #[default]
    Generic,
    /// Amazon S3.
    Aws,
    /// Google Cloud Storage.
    Gcp,
    /// Azure Blob Storage.
    Azure,
}

/// A security token service for temporary bucket credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BucketSts {
    /// The kind of service: `aws` (for the aws provider) or `ldap` (for generic).
    pub provider: StsProvider,

    /// The address of the service.
    #[schemars(regex(pattern = r"^(http|https)://.*$"))]
    pub endpoint: String,

    /// A Secret with the `username` and `password`, for `ldap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,

    /// A Secret with `ca.crt`, and optionally `tls.crt` and `tls.key`, for TLS to the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
}

/// The kind of security token service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StsProvider {
    /// AWS STS.
    #[default]
    Aws,
    /// An STS that authenticates with LDAP, such as MinIO's.
    Ldap,
}

/// What the controller last observed and produced for a Bucket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("default" = {"observedGeneration": -1}))]
pub struct BucketStatus {
    /// The generation of the spec the controller last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The conditions: Ready, Reconciling, Stalled, ArtifactInStorage, FetchFailed, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,

    /// Where the artifact is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,

    /// The artifact of the last download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,

    /// The `spec.ignore` that produced the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_ignore: Option<String>,

    /// The last `reconcile.fluxcd.io/requestedAt` value handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

ferry_api_meta::impl_reconcile_status!(BucketStatus);
ferry_api_meta::impl_flux_object!(Bucket, BucketStatus, suspend);

/// The reason of `FetchFailed` when talking to the bucket failed (existence
/// check, listing, download), as Flux's.
pub const BUCKET_OPERATION_FAILED_REASON: &str = "BucketOperationFailed";

/// The reason of `FetchFailed` for an STS configuration that cannot be
/// used, as Flux's.
pub const INVALID_STS_CONFIGURATION_REASON: &str = "InvalidSTSConfiguration";
