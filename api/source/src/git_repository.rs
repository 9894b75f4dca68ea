use ferry_api_meta::{Artifact, Condition, DURATION_PATTERN, LocalObjectReference, SHORT_DURATION_PATTERN};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Fetches a Git repository at a branch, tag, semver range or commit and serves its content as
/// an artifact.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "GitRepository",
    plural = "gitrepositories",
    namespaced,
    status = "GitRepositoryStatus",
    shortname = "gitrepo",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Status", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].message"#),
    doc = "GitRepository fetches a Git repository and serves a revision of it as an artifact."
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.serviceAccountName) || (has(self.provider) && (self.provider == 'azure' || self.provider == 'aws'))",
    "message": "serviceAccountName can only be set when provider is 'azure' or 'aws'",
}]))]
pub struct GitRepositorySpec {
    /// The repository address: `http://`, `https://` or `ssh://`.
    #[schemars(regex(pattern = r"^(http|https|ssh)://.*$"))]
    pub url: String,

    /// A Secret with the credentials: `username`/`password`, `bearerToken`, or
    /// `identity`/`known_hosts` for SSH, and TLS files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,

    /// Who authenticates to the Git host: `generic` uses the secret; `aws`, `azure` and
    /// `github` use that platform's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<GitProvider>,

    /// The ServiceAccount whose workload identity authenticates, for the `azure` and `aws`
    /// providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,

    /// How often to look for a new revision.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: String,

    /// How long one Git operation may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SHORT_DURATION_PATTERN), extend("default" = "60s"))]
    pub timeout: Option<String>,

    /// The revision to check out and watch; the `master` branch when unset (as in Flux, not the
    /// remote's default branch).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<GitRepositoryRef>,

    /// How to verify the commit or tag signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<GitRepositoryVerification>,

    /// A Secret with the `address`, and optionally `username` and `password`, of a proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,

    /// Paths to leave out of the artifact, in `.gitignore` syntax; replaces the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,

    /// When true, nothing is fetched until it is set back to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,

    /// Whether to clone Git submodules too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurse_submodules: Option<bool>,

    /// Other GitRepositories whose artifacts are copied into this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<GitRepositoryInclude>>,

    /// Directories to check out alone, instead of the whole tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_checkout: Option<Vec<String>>,
}

/// Who authenticates to a Git host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(transform = ferry_api_meta::drop_description)]
pub enum GitProvider {
    /// Credentials from `secretRef`.
    #[default]
    Generic,
    /// AWS CodeCommit with the pod's AWS identity.
    Aws,
    /// Azure DevOps with the pod's Azure workload identity.
    Azure,
    /// GitHub with a GitHub App whose credentials are in `secretRef`.
    Github,
}

/// The Git revision to check out. The most specific one set wins: commit, name, semver, tag,
/// branch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GitRepositoryRef {
    /// A branch name; `master` when no other field is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,

    /// A tag name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,

    /// A semver range; the highest matching tag is checked out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,

    /// A full reference name, such as `refs/heads/main` or `refs/pull/42/head`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// A commit SHA; with `branch`, that branch is fetched and the commit must be in its history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// How to verify Git signatures with OpenPGP keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryVerification {
    /// What must be signed: `HEAD` (the commit, also spelt `head`), `Tag`, or `TagAndHEAD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "HEAD", "enum" = ["head", "HEAD", "Tag", "TagAndHEAD"]))]
    pub mode: Option<String>,

    /// A Secret whose values are the trusted public keys.
    pub secret_ref: LocalObjectReference,
}

/// Another GitRepository whose artifact is copied into this one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryInclude {
    /// The GitRepository to include, in the same namespace.
    pub repository: LocalObjectReference,

    /// The directory of the included artifact to copy; the root when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_path: Option<String>,

    /// Where to copy it in this artifact; the included repository's name when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_path: Option<String>,
}

/// What the controller last observed and produced for a GitRepository.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("default" = {"observedGeneration": -1}))]
pub struct GitRepositoryStatus {
    /// The generation of the spec the controller last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The conditions: Ready, Reconciling, Stalled, ArtifactInStorage, FetchFailed, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,

    /// The artifact of the last successful fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,

    /// The artifacts of the included repositories, in the order of `spec.include`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub included_artifacts: Option<Vec<Artifact>>,

    /// The `spec.ignore` that produced the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_ignore: Option<String>,

    /// The `spec.recurseSubmodules` that produced the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_recurse_submodules: Option<bool>,

    /// The `spec.include` that produced the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_include: Option<Vec<GitRepositoryInclude>>,

    /// The `spec.sparseCheckout` that produced the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_sparse_checkout: Option<Vec<String>>,

    /// The verification mode that the artifact's revision passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_verification_mode: Option<String>,

    /// The last `reconcile.fluxcd.io/requestedAt` value handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

ferry_api_meta::impl_reconcile_status!(GitRepositoryStatus);
ferry_api_meta::impl_flux_object!(GitRepository, GitRepositoryStatus, suspend);

/// The event reason of a GitRepository (or any source) that stored a new artifact.
pub const NEW_ARTIFACT_REASON: &str = "NewArtifact";
/// `IncludeUnavailable` reason: an included GitRepository does not exist.
pub const INCLUDE_NOT_FOUND_REASON: &str = "NotFound";
/// `IncludeUnavailable` reason: an included GitRepository has no artifact yet.
pub const INCLUDE_NO_ARTIFACT_REASON: &str = "NoArtifact";
/// `StorageOperationFailed` reason: an include's `toPath` cannot be placed.
pub const INCLUDE_ILLEGAL_PATH_REASON: &str = "IllegalPath";
/// `StorageOperationFailed` reason: copying an included artifact failed.
pub const INCLUDE_COPY_FAILURE_REASON: &str = "CopyFailure";
/// `ArtifactOutdated` reason: the included artifacts changed.
pub const INCLUDE_CHANGE_REASON: &str = "IncludeChange";
/// `ArtifactOutdated` reason: the remote has a new revision.
pub const NEW_REVISION_REASON: &str = "NewRevision";
/// Ready reason: `spec.provider` cannot be used as configured.
pub const INVALID_PROVIDER_CONFIGURATION_REASON: &str = "InvalidProviderConfiguration";
/// `SourceVerified` reason: the commit's signature did not verify.
pub const INVALID_COMMIT_SIGNATURE_REASON: &str = "InvalidCommitSignature";
/// `SourceVerified` reason: the tag's signature did not verify.
pub const INVALID_TAG_SIGNATURE_REASON: &str = "InvalidTagSignature";
/// `SourceVerified` reason: the tag to verify is not signed.
pub const INVALID_GIT_OBJECT_REASON: &str = "InvalidGitObject";
/// `SourceVerified` reason: a tag mode was asked for a ref that is no tag.
pub const INVALID_VERIFICATION_MODE_REASON: &str = "InvalidVerificationMode";
