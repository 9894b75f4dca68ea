//! What Flux records of a release in `status.history`: a snapshot with the
//! digest of the release as observed (`release.Observation`, test hooks left
//! out, encoded as Go's `json.Encoder` writes the struct), the digest of its
//! values, its chart and status.
//!
//! The digest is computed from the stored record, so a release changed in
//! storage behind the controller's back (by `helm rollback`, say) no longer
//! matches the latest snapshot and is treated as unmanaged, as Flux does.

use std::collections::BTreeMap;

use ferry_api_helm::{ReleaseSnapshot, TestHookStatus};
use ferry_api_meta::Time;
use ferry_helm::render::json::write_string;
use serde_json::Value;
use sha2::Digest as _;

use super::record::{Hook, Info, Release};

/// The snapshot API version Flux writes.
pub const SNAPSHOT_API_VERSION: &str = "helm.toolkit.fluxcd.io/v2";

/// A JSON object written field by field in the order given, leaving out
/// `None` (Go's `omitempty`), each value already encoded.
fn object(fields: Vec<(&str, Option<String>)>) -> String {
    let mut out = String::from("{");
    for (key, value) in fields {
        let Some(value) = value else { continue };
        if out.len() > 1 {
            out.push(',');
        }
        write_string(key, &mut out);
        out.push(':');
        out.push_str(&value);
    }
    out.push('}');
    out
}

fn string(s: &str) -> String {
    let mut out = String::new();
    write_string(s, &mut out);
    out
}

fn nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| string(s))
}

/// Any JSON value as Go re-encodes it after decoding into `any`: sorted
/// keys, numbers as float64, HTML characters escaped.
fn any(value: &Value) -> String {
    ferry_helm::render::json::marshal(&ferry_helm::Value::from_json(value)).unwrap_or_else(|_| "null".into())
}

fn strings(list: &[String]) -> String {
    format!("[{}]", list.iter().map(|s| string(s)).collect::<Vec<_>>().join(","))
}

/// `time.Time` re-encoded: as stored (Helm writes RFC 3339 with nanoseconds).
fn time(value: &Option<String>) -> Option<String> {
    value.as_deref().map(string)
}

fn info_json(info: &Info) -> String {
    let rollback = info.other.get("rollback_revision").filter(|v| v.as_i64().unwrap_or(0) != 0).map(any);
    let resources = info.other.get("resources").filter(|v| !v.is_null()).map(any);
    object(vec![
        ("first_deployed", time(&info.first_deployed)),
        ("last_deployed", time(&info.last_deployed)),
        ("deleted", time(&info.deleted)),
        ("description", nonempty(&info.description)),
        ("status", nonempty(&info.status)),
        ("rollback_revision", rollback),
        ("notes", nonempty(&info.notes)),
        ("resources", resources),
    ])
}

fn metadata_json(md: Option<&serde_json::Map<String, Value>>) -> String {
    let empty = serde_json::Map::new();
    let md = md.unwrap_or(&empty);
    let s = |key: &str| md.get(key).and_then(Value::as_str).and_then(nonempty);
    let list = |key: &str| md.get(key).filter(|v| v.as_array().is_some_and(|a| !a.is_empty())).map(any);
    let maintainers = md.get("maintainers").and_then(Value::as_array).filter(|a| !a.is_empty()).map(|list| {
        let items: Vec<String> = list
            .iter()
            .map(|m| {
                let f = |key: &str| m.get(key).and_then(Value::as_str).and_then(nonempty);
                object(vec![("name", f("name")), ("email", f("email")), ("url", f("url"))])
            })
            .collect();
        format!("[{}]", items.join(","))
    });
    let dependencies = md.get("dependencies").and_then(Value::as_array).filter(|a| !a.is_empty()).map(|list| {
        let items: Vec<String> = list
            .iter()
            .map(|d| {
                let f = |key: &str| d.get(key).and_then(Value::as_str).and_then(nonempty);
                let plain = |key: &str| Some(string(d.get(key).and_then(Value::as_str).unwrap_or_default()));
                let l = |key: &str| d.get(key).filter(|v| v.as_array().is_some_and(|a| !a.is_empty())).map(any);
                object(vec![
                    ("name", plain("name")),
                    ("version", f("version")),
                    ("repository", plain("repository")),
                    ("condition", f("condition")),
                    ("tags", l("tags")),
                    ("enabled", d.get("enabled").filter(|v| v.as_bool() == Some(true)).map(any)),
                    ("import-values", l("import-values")),
                    ("alias", f("alias")),
                ])
            })
            .collect();
        format!("[{}]", items.join(","))
    });
    object(vec![
        ("name", s("name")),
        ("home", s("home")),
        ("sources", list("sources")),
        ("version", s("version")),
        ("description", s("description")),
        ("keywords", list("keywords")),
        ("maintainers", maintainers),
        ("icon", s("icon")),
        ("apiVersion", s("apiVersion")),
        ("condition", s("condition")),
        ("tags", s("tags")),
        ("appVersion", s("appVersion")),
        ("deprecated", md.get("deprecated").filter(|v| v.as_bool() == Some(true)).map(any)),
        ("annotations", md.get("annotations").filter(|v| v.as_object().is_some_and(|o| !o.is_empty())).map(any)),
        ("kubeVersion", s("kubeVersion")),
        ("dependencies", dependencies),
        ("type", s("type")),
    ])
}

fn hook_json(hook: &Hook) -> String {
    let last_run = object(vec![
        ("started_at", time(&hook.last_run.started_at)),
        ("completed_at", time(&hook.last_run.completed_at)),
        ("phase", Some(string(&hook.last_run.phase))),
    ]);
    object(vec![
        ("name", nonempty(&hook.name)),
        ("kind", nonempty(&hook.kind)),
        ("path", nonempty(&hook.path)),
        ("manifest", nonempty(&hook.manifest)),
        ("events", (!hook.events.is_empty()).then(|| strings(&hook.events))),
        ("last_run", Some(last_run)),
        ("weight", (hook.weight != 0).then(|| hook.weight.to_string())),
        ("delete_policies", (!hook.delete_policies.is_empty()).then(|| strings(&hook.delete_policies))),
        ("output_log_policies", hook.other.get("output_log_policies").filter(|v| !v.is_null()).map(any)),
    ])
}

/// Flux's `Observation` of `release` as `json.Encoder` writes it (with its
/// trailing newline), test hooks left out.
pub fn observation_json(release: &Release, oci_digest: Option<&str>) -> String {
    let config =
        if release.config.is_empty() { "null".to_string() } else { any(&Value::Object(release.config.clone())) };
    let hooks: Vec<String> = release.hooks.iter().filter(|h| !h.runs_on("test")).map(hook_json).collect();
    let hooks = if hooks.is_empty() { "null".to_string() } else { format!("[{}]", hooks.join(",")) };
    let mut out = object(vec![
        ("name", Some(string(&release.name))),
        ("version", Some(release.version.to_string())),
        ("info", Some(info_json(&release.info.clone().unwrap_or_default()))),
        ("chartMetadata", Some(metadata_json(release.chart_metadata()))),
        ("config", Some(config)),
        ("manifest", Some(string(&release.manifest))),
        ("hooks", Some(hooks)),
        ("namespace", Some(string(&release.namespace))),
        ("ociDigest", oci_digest.and_then(nonempty)),
    ]);
    out.push('\n');
    out
}

/// `sha256:<hex>` of `data`.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// The digest of the release as observed, the snapshot's `digest`.
pub fn release_digest(release: &Release, oci_digest: Option<&str>) -> String {
    sha256(observation_json(release, oci_digest).as_bytes())
}

fn parse_time(value: &Option<String>) -> Option<Time> {
    value.as_deref().and_then(|s| s.parse::<k8s_openapi::jiff::Timestamp>().ok()).map(Time)
}

/// The snapshot of `release`, as Flux's `ObservedToSnapshot`.
pub fn snapshot(release: &Release, action: &str, oci_digest: Option<&str>) -> ReleaseSnapshot {
    let info = release.info.clone().unwrap_or_default();
    let config = ferry_helm::Value::from_json(&Value::Object(release.config.clone()));
    let config = match config {
        ferry_helm::Value::Map(map) => map,
        _ => Default::default(),
    };
    let epoch = Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    ReleaseSnapshot {
        api_version: Some(SNAPSHOT_API_VERSION.to_string()),
        digest: release_digest(release, oci_digest),
        name: release.name.clone(),
        namespace: release.namespace.clone(),
        version: release.version,
        status: info.status.clone(),
        chart_name: release.chart_field("name").to_string(),
        chart_version: release.chart_field("version").to_string(),
        app_version: Some(release.chart_field("appVersion").to_string()).filter(|s| !s.is_empty()),
        config_digest: super::values::digest(&config),
        first_deployed: parse_time(&info.first_deployed).unwrap_or_else(|| epoch.clone()),
        last_deployed: parse_time(&info.last_deployed).unwrap_or(epoch),
        deleted: parse_time(&info.deleted),
        test_hooks: None,
        oci_digest: oci_digest.map(str::to_string).filter(|s| !s.is_empty()),
        action: Some(action.to_string()).filter(|s| !s.is_empty()),
    }
}

/// The test hooks of `release` that the filters select, with their last
/// run, as Flux's `TestHooksFromRelease`.
pub fn test_hooks(release: &Release, filters: &[ferry_api_helm::TestFilter]) -> BTreeMap<String, TestHookStatus> {
    release
        .test_hooks()
        .filter(|h| test_selected(&h.name, filters))
        .map(|h| {
            let status = TestHookStatus {
                last_started: parse_time(&h.last_run.started_at),
                last_completed: parse_time(&h.last_run.completed_at),
                phase: Some(h.last_run.phase.clone()).filter(|p| !p.is_empty()),
            };
            (h.name.clone(), status)
        })
        .collect()
}

/// Flux's test filter: excluded names never run; when any name is
/// included, only the included ones run.
pub fn test_selected(name: &str, filters: &[ferry_api_helm::TestFilter]) -> bool {
    let mut has_include = false;
    let mut included = false;
    for filter in filters {
        if filter.exclude.unwrap_or(false) {
            if filter.name == name {
                return false;
            }
            continue;
        }
        has_include = true;
        included |= filter.name == name;
    }
    !has_include || included
}

/// `namespace/name.v<version>`, Flux's `FullReleaseName`.
pub fn full_name(snapshot: &ReleaseSnapshot) -> String {
    format!("{}/{}.v{}", snapshot.namespace, snapshot.name, snapshot.version)
}

/// `chart@version`, Flux's `VersionedChartName`.
pub fn versioned_chart(snapshot: &ReleaseSnapshot) -> String {
    format!("{}@{}", snapshot.chart_name, snapshot.chart_version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helmrelease::record::HookExecution;

    #[test]
    fn observations_are_encoded_as_go_does() {
        let release = Release {
            name: "web".into(),
            version: 2,
            namespace: "apps".into(),
            info: Some(Info {
                first_deployed: Some("2026-01-01T00:00:00Z".into()),
                last_deployed: Some("2026-01-02T00:00:00.5Z".into()),
                status: "deployed".into(),
                description: "Upgrade complete".into(),
                ..Info::default()
            }),
            chart: Some(serde_json::json!({"metadata": {"name": "c", "version": "1.0.0", "apiVersion": "v2"}})),
            config: serde_json::json!({"b": 1, "a": "<x>"}).as_object().unwrap().clone(),
            manifest: "kind: A\n".into(),
            hooks: vec![
                Hook { name: "t".into(), events: vec!["test".into()], ..Hook::default() },
                Hook {
                    name: "h".into(),
                    kind: "Job".into(),
                    events: vec!["pre-install".into()],
                    weight: -1,
                    last_run: HookExecution { phase: "Succeeded".into(), ..Default::default() },
                    ..Hook::default()
                },
            ],
            ..Release::default()
        };
        assert_eq!(
            observation_json(&release, None),
            concat!(
                r#"{"name":"web","version":2,"info":{"first_deployed":"2026-01-01T00:00:00Z","#,
                r#""last_deployed":"2026-01-02T00:00:00.5Z","description":"Upgrade complete","status":"deployed"},"#,
                r#""chartMetadata":{"name":"c","version":"1.0.0","apiVersion":"v2"},"#,
                r#""config":{"a":"\u003cx\u003e","b":1},"manifest":"kind: A\n","#,
                r#""hooks":[{"name":"h","kind":"Job","events":["pre-install"],"last_run":{"phase":"Succeeded"},"weight":-1}],"#,
                r#""namespace":"apps"}"#,
                "\n"
            )
        );
        let snapshot = snapshot(&release, "upgrade", None);
        assert_eq!(full_name(&snapshot), "apps/web.v2");
        assert_eq!(versioned_chart(&snapshot), "c@1.0.0");
        assert!(snapshot.digest.starts_with("sha256:"));
    }

    #[test]
    fn test_filters_include_and_exclude() {
        let f = |name: &str, exclude: bool| ferry_api_helm::TestFilter { name: name.into(), exclude: Some(exclude) };
        assert!(test_selected("a", &[]));
        assert!(!test_selected("a", &[f("a", true)]));
        assert!(test_selected("a", &[f("a", false)]));
        assert!(!test_selected("b", &[f("a", false)]));
        assert!(test_selected("b", &[f("a", true)]));
    }
}
