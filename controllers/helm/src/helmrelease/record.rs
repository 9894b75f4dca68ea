//! Helm's release record (`pkg/release/v1`): what `helm list`, `helm history`
//! and `helm get` read from storage, and what Flux's helm-controller
//! observes.
//!
//! Fields this controller never looks at are kept as they were read
//! (`other`), so that rewriting a record that Helm 3 or Helm 4 wrote (to mark
//! it superseded) loses nothing, and a record written here carries only the
//! fields both Helm generations know.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Release statuses (`pkg/release/common.Status`).
pub mod status {
    /// The release is live.
    pub const DEPLOYED: &str = "deployed";
    /// An older release replaced by a newer one.
    pub const SUPERSEDED: &str = "superseded";
    /// The release's action failed.
    pub const FAILED: &str = "failed";
    /// Uninstalled with its history kept.
    pub const UNINSTALLED: &str = "uninstalled";
    /// An uninstall is under way.
    pub const UNINSTALLING: &str = "uninstalling";
    /// An install is under way.
    pub const PENDING_INSTALL: &str = "pending-install";
    /// An upgrade is under way.
    pub const PENDING_UPGRADE: &str = "pending-upgrade";
    /// A rollback is under way.
    pub const PENDING_ROLLBACK: &str = "pending-rollback";

    /// Whether an action holds the release (Helm's `IsPending`).
    pub fn is_pending(status: &str) -> bool {
        matches!(status, PENDING_INSTALL | PENDING_UPGRADE | PENDING_ROLLBACK)
    }
}

/// Why a stored record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The record is not base64.
    #[error("decoding release record: {0}")]
    Base64(#[source] base64::DecodeError),
    /// The gzip stream is broken.
    #[error("decompressing release record: {0}")]
    Gzip(#[source] std::io::Error),
    /// The JSON does not hold a release.
    #[error("reading release record: {0}")]
    Json(#[source] serde_json::Error),
}

/// `null` read as the default, as Go leaves a nil map or slice.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A time Helm 4 may write as `""`: read as absent.
fn optional_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.filter(|s| !s.is_empty()))
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// One release revision as Helm stores it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// The release name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Status and times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<Info>,
    /// The root chart (metadata, templates, values, files), as Helm's JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<Value>,
    /// The user-supplied values.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Map::is_empty")]
    pub config: Map<String, Value>,
    /// The rendered non-hook manifests.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    /// The hooks and how they last ran.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Hook>,
    /// The revision.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: i64,
    /// The release namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Fields of newer Helm versions (Helm 4's `apply_method`), kept as read.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A release's status and times (`release.Info`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Info {
    /// When the first revision was deployed (RFC 3339).
    #[serde(default, deserialize_with = "optional_time", skip_serializing_if = "Option::is_none")]
    pub first_deployed: Option<String>,
    /// When this revision was deployed.
    #[serde(default, deserialize_with = "optional_time", skip_serializing_if = "Option::is_none")]
    pub last_deployed: Option<String>,
    /// When it was uninstalled.
    #[serde(default, deserialize_with = "optional_time", skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
    /// What happened, in Helm's words (`Install complete`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The status (see [`status`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// The rendered NOTES.txt.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// Fields of newer Helm versions (Helm 4's `rollback_revision`), kept as read.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A hook of a release and its last run (`release.Hook`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    /// `metadata.name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The template it came from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// The document.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    /// The events it runs on.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// Its last run.
    #[serde(default)]
    pub last_run: HookExecution,
    /// `helm.sh/hook-weight`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight: i64,
    /// `helm.sh/hook-delete-policy` entries.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub delete_policies: Vec<String>,
    /// Fields of other Helm versions (`output_log_policies`), kept as read.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Hook {
    /// Whether the hook runs on `event`.
    pub fn runs_on(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

/// When and how a hook last ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookExecution {
    /// When it started.
    #[serde(default, deserialize_with = "optional_time", skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it completed.
    #[serde(default, deserialize_with = "optional_time", skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// `Unknown`, `Running`, `Succeeded` or `Failed` (empty when it never ran).
    #[serde(default)]
    pub phase: String,
}

impl Release {
    /// The status, or empty.
    pub fn status(&self) -> &str {
        self.info.as_ref().map(|i| i.status.as_str()).unwrap_or_default()
    }

    /// Sets status and description, as Helm's `SetStatus`.
    pub fn set_status(&mut self, status: &str, description: impl Into<String>) {
        let info = self.info.get_or_insert_with(Default::default);
        info.status = status.to_string();
        info.description = description.into();
    }

    /// The chart's metadata, if recorded.
    pub fn chart_metadata(&self) -> Option<&Map<String, Value>> {
        self.chart.as_ref()?.get("metadata")?.as_object()
    }

    /// A field of the chart's metadata (`name`, `version`, `appVersion`).
    pub fn chart_field(&self, key: &str) -> &str {
        self.chart_metadata().and_then(|m| m.get(key)).and_then(Value::as_str).unwrap_or_default()
    }

    /// The Secret (and ConfigMap) key Helm stores this revision under.
    pub fn storage_key(&self) -> String {
        storage_key(&self.name, self.version)
    }

    /// The test hooks of this revision.
    pub fn test_hooks(&self) -> impl Iterator<Item = &Hook> {
        self.hooks.iter().filter(|h| h.runs_on("test"))
    }
}

/// `sh.helm.release.v1.<name>.v<version>`.
pub fn storage_key(name: &str, version: i64) -> String {
    format!("sh.helm.release.v1.{name}.v{version}")
}

/// Encodes a release as Helm's storage does: JSON, gzip at best compression,
/// base64 (the Secret's data then base64-encodes it once more).
pub fn encode(release: &Release) -> Result<String, Error> {
    let json = serde_json::to_vec(release).map_err(Error::Json)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json).map_err(Error::Gzip)?;
    let bytes = gz.finish().map_err(Error::Gzip)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Decodes what [`encode`] (or Helm) wrote; plain JSON without gzip is
/// accepted, as Helm accepts it.
pub fn decode(data: &[u8]) -> Result<Release, Error> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim_ascii()).map_err(Error::Base64)?;
    let json = if bytes.starts_with(&[0x1f, 0x8b, 0x08]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice()).read_to_end(&mut out).map_err(Error::Gzip)?;
        out
    } else {
        bytes
    };
    serde_json::from_slice(&json).map_err(Error::Json)
}

/// The chart as Helm records it in a release: the root chart's metadata,
/// lock, templates, values, schema and files (subcharts are not recorded).
pub fn chart_json(chart: &ferry_helm::chart::Chart) -> Value {
    let b64 = |data: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(data));
    let files = |files: &[ferry_helm::chart::File]| {
        Value::Array(
            files.iter().map(|f| serde_json::json!({"name": f.name, "data": b64(&f.data)})).collect::<Vec<_>>(),
        )
    };
    serde_json::json!({
        "metadata": metadata_json(&chart.metadata),
        "lock": chart.lock.as_ref().map(ferry_helm::Value::to_json).unwrap_or(Value::Null),
        "templates": files(&chart.templates),
        "values": ferry_helm::Value::Map(chart.values.clone()).to_json(),
        "schema": chart.schema.as_deref().map(b64).unwrap_or(Value::Null),
        "files": files(&chart.files),
    })
}

/// Chart.yaml as Helm's `chart.Metadata` marshals it (empty fields left out).
pub fn metadata_json(md: &ferry_helm::chart::Metadata) -> Value {
    let mut m = Map::new();
    let put_str = |m: &mut Map<String, Value>, key: &str, value: &str| {
        if !value.is_empty() {
            m.insert(key.into(), Value::String(value.into()));
        }
    };
    put_str(&mut m, "name", &md.name);
    put_str(&mut m, "home", &md.home);
    if !md.sources.is_empty() {
        m.insert("sources".into(), md.sources.clone().into());
    }
    put_str(&mut m, "version", &md.version);
    put_str(&mut m, "description", &md.description);
    if !md.keywords.is_empty() {
        m.insert("keywords".into(), md.keywords.clone().into());
    }
    if !md.maintainers.is_empty() {
        let list = md
            .maintainers
            .iter()
            .map(|mt| {
                let mut o = Map::new();
                put_str(&mut o, "name", &mt.name);
                put_str(&mut o, "email", &mt.email);
                put_str(&mut o, "url", &mt.url);
                Value::Object(o)
            })
            .collect::<Vec<_>>();
        m.insert("maintainers".into(), Value::Array(list));
    }
    put_str(&mut m, "icon", &md.icon);
    put_str(&mut m, "apiVersion", &md.api_version);
    put_str(&mut m, "condition", &md.condition);
    put_str(&mut m, "tags", &md.tags);
    put_str(&mut m, "appVersion", &md.app_version);
    if md.deprecated {
        m.insert("deprecated".into(), Value::Bool(true));
    }
    if !md.annotations.is_empty() {
        m.insert("annotations".into(), serde_json::to_value(&md.annotations).unwrap_or(Value::Null));
    }
    put_str(&mut m, "kubeVersion", &md.kube_version);
    if !md.dependencies.is_empty() {
        let list = md
            .dependencies
            .iter()
            .map(|d| {
                let mut o = Map::new();
                o.insert("name".into(), Value::String(d.name.clone()));
                put_str(&mut o, "version", &d.version);
                o.insert("repository".into(), Value::String(d.repository.clone()));
                put_str(&mut o, "condition", &d.condition);
                if !d.tags.is_empty() {
                    o.insert("tags".into(), d.tags.clone().into());
                }
                if d.enabled {
                    o.insert("enabled".into(), Value::Bool(true));
                }
                if !d.import_values.is_empty() {
                    o.insert(
                        "import-values".into(),
                        Value::Array(d.import_values.iter().map(ferry_helm::Value::to_json).collect()),
                    );
                }
                put_str(&mut o, "alias", &d.alias);
                Value::Object(o)
            })
            .collect::<Vec<_>>();
        m.insert("dependencies".into(), Value::Array(list));
    }
    put_str(&mut m, "type", &md.chart_type);
    Value::Object(m)
}

/// The labels Helm's Secret driver puts on a record (besides `createdAt`
/// and `modifiedAt`).
pub fn labels(release: &Release) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("name".to_string(), release.name.clone()),
        ("owner".to_string(), "helm".to_string()),
        ("status".to_string(), release.status().to_string()),
        ("version".to_string(), release.version.to_string()),
    ])
}

/// Now, as Helm writes times (RFC 3339 with nanoseconds, trailing zeros cut).
pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_keep_unknown_fields() {
        let json = serde_json::json!({
            "name": "web",
            "info": {"first_deployed": "2026-01-01T00:00:00Z", "last_deployed": "", "status": "deployed",
                     "description": "Install complete", "rollback_revision": 2},
            "chart": {"metadata": {"name": "podinfo", "version": "6.5.0"}},
            "config": null,
            "manifest": "---\n# Source: a\nkind: ConfigMap\n",
            "hooks": [{"name": "t", "events": ["test"], "last_run": {"started_at": "", "phase": ""}}],
            "version": 3,
            "namespace": "apps",
            "apply_method": "ssa",
        });
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(json.to_string().as_bytes()).unwrap();
        let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        let release = decode(data.as_bytes()).unwrap();
        assert_eq!(release.status(), status::DEPLOYED);
        assert_eq!(release.chart_field("version"), "6.5.0");
        assert_eq!(release.info.as_ref().unwrap().last_deployed, None);
        assert_eq!(release.test_hooks().count(), 1);
        assert_eq!(release.storage_key(), "sh.helm.release.v1.web.v3");
        let again = decode(encode(&release).unwrap().as_bytes()).unwrap();
        assert_eq!(again, release);
        assert_eq!(again.other.get("apply_method"), Some(&Value::String("ssa".into())));
        assert_eq!(again.info.unwrap().other.get("rollback_revision"), Some(&Value::from(2)));
        // Plain JSON, as old Helm versions wrote, is read too.
        let plain = base64::engine::general_purpose::STANDARD.encode(json.to_string());
        assert_eq!(decode(plain.as_bytes()).unwrap().version, 3);
    }

    #[test]
    fn metadata_is_marshalled_as_helm_does() {
        let md = ferry_helm::chart::Metadata {
            name: "c".into(),
            version: "1.0.0".into(),
            api_version: "v2".into(),
            app_version: "2".into(),
            ..Default::default()
        };
        assert_eq!(
            metadata_json(&md),
            serde_json::json!({"name": "c", "version": "1.0.0", "apiVersion": "v2", "appVersion": "2"})
        );
    }
}
