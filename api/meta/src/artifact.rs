use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A tarball (or file) a source controller produced and serves over HTTP for other controllers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Where the file lives, relative to the root of the controller's storage.
    pub path: String,

    /// The HTTP address from which consumers download the file.
    pub url: String,

    /// What the file was made from, in the origin's terms: a Git branch and commit, a chart
    /// version, an OCI tag and digest, ... (for example `main@sha1:<hex>`).
    pub revision: String,

    /// The digest of the file itself, as `<algorithm>:<checksum>`.
    #[schemars(regex(pattern = r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"))]
    pub digest: String,

    /// When the file was last written.
    pub last_update_time: Time,

    /// The size of the file in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,

    /// Facts from the origin that travel with the file, such as OCI annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl Artifact {
    /// Whether both artifacts stand for the same content: same revision and same digest.
    pub fn has_same_content(&self, other: &Artifact) -> bool {
        self.revision == other.revision && self.digest == other.digest
    }
}
