//! Normalising desired objects so that what the API server stores compares equal to them, and
//! the drift check between a live object and its dry-run, as Flux does both.

use base64::Engine as _;
use serde_json::{Map, Value};

/// Rewrites a desired object the way Flux's `normalize` does before applying:
/// Secret `stringData` moves into `data` (base64), container and Service ports get the
/// default `TCP` protocol, `metadata.creationTimestamp` and (except on CRDs) `status` go.
pub fn normalize(object: &mut Value) {
    let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let Some(root) = object.as_object_mut() else { return };
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "Secret") => normalize_secret(root),
        ("v1", "Pod") => default_pod_ports(root.get_mut("spec")),
        ("v1", "Service") => default_ports(root.get_mut("spec").and_then(|s| s.get_mut("ports"))),
        ("apps/v1", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") | ("batch/v1", "Job") => {
            default_pod_ports(pointer_mut(root, &["spec", "template", "spec"]))
        }
        ("batch/v1", "CronJob") => {
            default_pod_ports(pointer_mut(root, &["spec", "jobTemplate", "spec", "template", "spec"]))
        }
        _ => {}
    }
    if let Some(Value::Object(metadata)) = root.get_mut("metadata") {
        metadata.remove("creationTimestamp");
    }
    let crd = kind == "CustomResourceDefinition" && api_version.starts_with("apiextensions.k8s.io/");
    if !crd {
        root.remove("status");
    }
}

fn pointer_mut<'a>(root: &'a mut Map<String, Value>, path: &[&str]) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    let mut current = root.get_mut(*first)?;
    for segment in rest {
        current = current.get_mut(*segment)?;
    }
    Some(current)
}

fn normalize_secret(root: &mut Map<String, Value>) {
    let Some(Value::Object(string_data)) = root.remove("stringData") else { return };
    let data = root.entry("data").or_insert_with(|| Value::Object(Map::new()));
    if !data.is_object() {
        *data = Value::Object(Map::new());
    }
    if let Value::Object(data) = data {
        for (key, value) in string_data {
            let text = match value {
                Value::String(text) => text,
                other => other.to_string(),
            };
            data.insert(key, Value::String(base64::engine::general_purpose::STANDARD.encode(text)));
        }
    }
}

fn default_pod_ports(pod_spec: Option<&mut Value>) {
    let Some(pod_spec) = pod_spec else { return };
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(containers)) = pod_spec.get_mut(list) {
            for container in containers {
                default_ports(container.get_mut("ports"));
            }
        }
    }
}

fn default_ports(ports: Option<&mut Value>) {
    let Some(Value::Array(ports)) = ports else { return };
    for port in ports {
        if let Value::Object(port) = port {
            let missing = port.get("protocol").and_then(Value::as_str).is_none_or(str::is_empty);
            if missing {
                port.insert("protocol".into(), Value::String("TCP".into()));
            }
        }
    }
}

/// Whether the dry-run result differs from the live object where it matters: labels,
/// annotations, and everything outside `metadata` and `status`.
pub(crate) fn has_drifted(live: &Value, dry_run: &Value) -> bool {
    let meta = |object: &Value, key: &str| -> Value {
        let value = object.get("metadata").and_then(|m| m.get(key)).cloned().unwrap_or(Value::Null);
        match value {
            Value::Object(map) if map.is_empty() => Value::Null,
            other => other,
        }
    };
    if meta(live, "labels") != meta(dry_run, "labels") || meta(live, "annotations") != meta(dry_run, "annotations") {
        return true;
    }
    strip_for_diff(live) != strip_for_diff(dry_run)
}

fn strip_for_diff(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Value::Object(map) = &mut copy {
        map.remove("metadata");
        map.remove("status");
    }
    copy
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_string_data_moves_to_data() {
        let mut secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "creationTimestamp": null},
            "data": {"a": "YQ=="},
            "stringData": {"b": "bee"}
        });
        normalize(&mut secret);
        assert_eq!(
            secret,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "s"},
                "data": {"a": "YQ==", "b": "YmVl"}
            })
        );
    }

    #[test]
    fn ports_get_the_default_protocol_and_status_goes() {
        let mut deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]}]}}},
            "status": {"replicas": 1}
        });
        normalize(&mut deployment);
        let ports = &deployment["spec"]["template"]["spec"]["containers"][0]["ports"];
        assert_eq!(ports, &json!([{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}]));
        assert!(deployment.get("status").is_none());

        let mut service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}});
        normalize(&mut service);
        assert_eq!(service["spec"]["ports"][0]["protocol"], "TCP");

        let mut crd =
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "status": {}});
        normalize(&mut crd);
        assert!(crd.get("status").is_some());
    }

    #[test]
    fn drift_ignores_server_metadata_and_status() {
        let live = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "resourceVersion": "1", "managedFields": [], "labels": {"a": "b"}},
            "data": {"k": "v"}, "status": {"x": 1}
        });
        let mut dry_run = live.clone();
        dry_run["metadata"]["resourceVersion"] = json!("2");
        dry_run["status"] = json!({"x": 2});
        assert!(!has_drifted(&live, &dry_run));
        dry_run["data"]["k"] = json!("w");
        assert!(has_drifted(&live, &dry_run));
        let mut relabelled = live.clone();
        relabelled["metadata"]["labels"]["a"] = json!("c");
        assert!(has_drifted(&live, &relabelled));
    }
}
