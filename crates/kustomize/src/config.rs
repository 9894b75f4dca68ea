//! Transformer configuration: which fields each built-in transformer touches, kustomize's defaults
//! plus whatever `configurations` files add.

use crate::resource::{FieldSpec, Gvk};
use crate::types::FieldSpecDef;
use crate::{Error, Result};
use serde::Deserialize;

/// A referenced kind and the fields of other kinds that refer to it by name.
#[derive(Debug, Clone, Default)]
pub struct NameBackRef {
    pub gvk: Gvk,
    pub referrers: Vec<FieldSpec>,
}

/// The field specs of every built-in transformer.
#[derive(Debug, Clone, Default)]
pub struct TransformerConfig {
    pub name_prefix: Vec<FieldSpec>,
    pub name_suffix: Vec<FieldSpec>,
    pub namespace: Vec<FieldSpec>,
    pub common_labels: Vec<FieldSpec>,
    pub template_labels: Vec<FieldSpec>,
    pub common_annotations: Vec<FieldSpec>,
    pub images: Vec<FieldSpec>,
    pub replicas: Vec<FieldSpec>,
    pub name_reference: Vec<NameBackRef>,
    pub var_reference: Vec<FieldSpec>,
}

const METADATA_LABELS: &[(&str, &str, &str, &str)] = &[
    ("metadata/labels", "", "", ""),
    ("spec/template/metadata/labels", "", "v1", "ReplicationController"),
    ("spec/template/metadata/labels", "", "", "Deployment"),
    ("spec/template/metadata/labels", "", "", "ReplicaSet"),
    ("spec/template/metadata/labels", "", "", "DaemonSet"),
    ("spec/template/metadata/labels", "apps", "", "StatefulSet"),
    ("spec/volumeClaimTemplates[]/metadata/labels", "apps", "", "StatefulSet"),
    ("spec/template/metadata/labels", "batch", "", "Job"),
    ("spec/jobTemplate/metadata/labels", "batch", "", "CronJob"),
    ("spec/jobTemplate/spec/template/metadata/labels", "batch", "", "CronJob"),
];

/// Selector fields for `commonLabels` (path, group, version, kind, create).
const SELECTOR_LABELS: &[(&str, &str, &str, &str, bool)] = &[
    ("spec/selector", "", "v1", "Service", true),
    ("spec/selector", "", "v1", "ReplicationController", true),
    ("spec/selector/matchLabels", "", "", "Deployment", true),
    (
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "apps",
        "",
        "Deployment",
        false,
    ),
    (
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "apps",
        "",
        "Deployment",
        false,
    ),
    (
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "apps",
        "",
        "Deployment",
        false,
    ),
    (
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "apps",
        "",
        "Deployment",
        false,
    ),
    ("spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels", "apps", "", "Deployment", false),
    ("spec/selector/matchLabels", "", "", "ReplicaSet", true),
    ("spec/selector/matchLabels", "", "", "DaemonSet", true),
    ("spec/selector/matchLabels", "apps", "", "StatefulSet", true),
    ("spec/volumeClaimTemplates[]/metadata/labels", "apps", "", "StatefulSet", true),
    (
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "apps",
        "",
        "StatefulSet",
        false,
    ),
    (
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "apps",
        "",
        "StatefulSet",
        false,
    ),
    (
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "apps",
        "",
        "StatefulSet",
        false,
    ),
    (
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "apps",
        "",
        "StatefulSet",
        false,
    ),
    ("spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels", "apps", "", "StatefulSet", false),
    ("spec/selector/matchLabels", "batch", "", "Job", false),
    ("spec/jobTemplate/spec/selector/matchLabels", "batch", "", "CronJob", false),
    ("spec/selector/matchLabels", "policy", "", "PodDisruptionBudget", false),
    ("spec/podSelector/matchLabels", "networking.k8s.io", "", "NetworkPolicy", false),
    ("spec/ingress/from/podSelector/matchLabels", "networking.k8s.io", "", "NetworkPolicy", false),
    ("spec/egress/to/podSelector/matchLabels", "networking.k8s.io", "", "NetworkPolicy", false),
];

const COMMON_ANNOTATIONS: &[(&str, &str, &str, &str)] = &[
    ("metadata/annotations", "", "", ""),
    ("spec/template/metadata/annotations", "", "v1", "ReplicationController"),
    ("spec/template/metadata/annotations", "", "", "Deployment"),
    ("spec/template/metadata/annotations", "", "", "ReplicaSet"),
    ("spec/template/metadata/annotations", "", "", "DaemonSet"),
    ("spec/template/metadata/annotations", "", "", "StatefulSet"),
    ("spec/template/metadata/annotations", "batch", "", "Job"),
    ("spec/jobTemplate/metadata/annotations", "batch", "", "CronJob"),
    ("spec/jobTemplate/spec/template/metadata/annotations", "batch", "", "CronJob"),
];

const NAMEREFERENCE: &str = include_str!("tables/namereference.txt");
const VARREFERENCE: &str = include_str!("tables/varreference.txt");

fn dash(s: &str) -> &str {
    if s == "-" { "" } else { s }
}

impl TransformerConfig {
    /// kustomize's built-in configuration.
    pub fn builtin() -> Self {
        let md_labels: Vec<FieldSpec> =
            METADATA_LABELS.iter().map(|(p, g, v, k)| FieldSpec::new(g, v, k, p, true)).collect();
        let mut common_labels: Vec<FieldSpec> =
            SELECTOR_LABELS.iter().map(|(p, g, v, k, c)| FieldSpec::new(g, v, k, p, *c)).collect();
        common_labels.extend(md_labels.iter().cloned());
        let mut name_reference: Vec<NameBackRef> = Vec::new();
        for line in NAMEREFERENCE.lines() {
            if let Some(target) = line.strip_prefix("> ") {
                let parts: Vec<&str> = target.split_whitespace().collect();
                let group = dash(parts.get(1).copied().unwrap_or("-"));
                // The upstream table writes IngressClass's group as "networking.k8s.io/v1".
                name_reference.push(NameBackRef {
                    gvk: Gvk {
                        group: group.to_string(),
                        version: dash(parts.get(2).copied().unwrap_or("-")).to_string(),
                        kind: parts[0].to_string(),
                    },
                    referrers: Vec::new(),
                });
            } else if let Some(last) = name_reference.last_mut() {
                let p: Vec<&str> = line.split_whitespace().collect();
                if p.len() == 4 {
                    last.referrers.push(FieldSpec::new(dash(p[2]), dash(p[3]), dash(p[1]), p[0], false));
                }
            }
        }
        let var_reference = VARREFERENCE
            .lines()
            .filter_map(|line| {
                let p: Vec<&str> = line.split_whitespace().collect();
                (p.len() == 5).then(|| FieldSpec::new(dash(p[2]), dash(p[3]), dash(p[1]), p[0], false))
            })
            .collect();
        TransformerConfig {
            name_prefix: vec![FieldSpec::new("", "", "", "metadata/name", false)],
            name_suffix: vec![FieldSpec::new("", "", "", "metadata/name", false)],
            namespace: vec![
                FieldSpec::new("", "", "Namespace", "metadata/name", true),
                FieldSpec::new("apiregistration.k8s.io", "", "APIService", "spec/service/namespace", true),
                FieldSpec::new(
                    "apiextensions.k8s.io",
                    "",
                    "CustomResourceDefinition",
                    "spec/conversion/webhook/clientConfig/service/namespace",
                    false,
                ),
            ],
            common_labels,
            template_labels: md_labels,
            common_annotations: COMMON_ANNOTATIONS
                .iter()
                .map(|(p, g, v, k)| FieldSpec::new(g, v, k, p, true))
                .collect(),
            images: vec![
                FieldSpec::new("", "", "", "spec/containers[]/image", true),
                FieldSpec::new("", "", "", "spec/initContainers[]/image", true),
                FieldSpec::new("", "", "", "spec/template/spec/containers[]/image", true),
                FieldSpec::new("", "", "", "spec/template/spec/initContainers[]/image", true),
            ],
            replicas: ["Deployment", "ReplicationController", "ReplicaSet", "StatefulSet"]
                .iter()
                .map(|k| FieldSpec::new("", "", k, "spec/replicas", true))
                .collect(),
            name_reference,
            var_reference,
        }
    }

    /// Adds the field specs of a `configurations` file.
    pub fn merge_file(&mut self, text: &str, file: &str) -> Result<()> {
        let value = crate::yaml::parse_one(text).map_err(|e| Error::in_file(file, e.to_string()))?;
        if value.is_null() {
            return Ok(());
        }
        let file_cfg: FileConfig =
            serde_json::from_value(value).map_err(|e| Error::in_file(file, format!("invalid configuration: {e}")))?;
        self.merge(file_cfg);
        Ok(())
    }

    fn merge(&mut self, f: FileConfig) {
        fn add(dst: &mut Vec<FieldSpec>, src: Vec<FieldSpecDef>) {
            for d in src {
                let fs = FieldSpec::from_def(&d);
                if !dst.contains(&fs) {
                    dst.push(fs);
                }
            }
        }
        add(&mut self.name_prefix, f.name_prefix);
        add(&mut self.name_suffix, f.name_suffix);
        add(&mut self.namespace, f.namespace);
        add(&mut self.common_labels, f.common_labels);
        add(&mut self.template_labels, f.template_labels);
        add(&mut self.common_annotations, f.common_annotations);
        add(&mut self.images, f.images);
        add(&mut self.replicas, f.replicas);
        add(&mut self.var_reference, f.var_reference);
        for nb in f.name_reference {
            let gvk = Gvk { group: nb.group, version: nb.version, kind: nb.kind };
            let referrers: Vec<FieldSpec> = nb.field_specs.iter().map(FieldSpec::from_def).collect();
            if let Some(existing) = self.name_reference.iter_mut().find(|b| b.gvk == gvk) {
                for r in referrers {
                    if !existing.referrers.contains(&r) {
                        existing.referrers.push(r);
                    }
                }
            } else {
                self.name_reference.push(NameBackRef { gvk, referrers });
            }
        }
    }
}

impl TransformerConfig {
    /// Adds what a `crds` file declares: an OpenAPI definitions map (type name to
    /// `{Schema: ...}`) whose properties may carry `x-kubernetes-object-ref-kind` (with
    /// `-api-version`, `-name-key`), `x-kubernetes-label-selector` or `x-kubernetes-identity`.
    pub fn merge_crd_file(&mut self, text: &str, file: &str) -> Result<()> {
        let value = crate::yaml::parse_one(text).map_err(|e| Error::in_file(file, e.to_string()))?;
        let Some(defs) = value.as_object() else {
            return Err(Error::in_file(file, "a crds file must be a map of OpenAPI definitions"));
        };
        for (name, def) in defs {
            let props = def.pointer("/Schema/properties").and_then(serde_json::Value::as_object);
            let Some(props) = props else { continue };
            if !(props.contains_key("kind") && props.contains_key("apiVersion") && props.contains_key("metadata")) {
                continue;
            }
            let kind = name.rsplit('.').next().unwrap_or(name).to_string();
            let gvk = Gvk { kind, ..Gvk::default() };
            self.load_crd_type(defs, name, &gvk, &mut Vec::new(), 0);
        }
        Ok(())
    }

    fn load_crd_type(
        &mut self,
        defs: &serde_json::Map<String, serde_json::Value>,
        type_name: &str,
        gvk: &Gvk,
        path: &mut Vec<String>,
        depth: usize,
    ) {
        if depth > 32 {
            return;
        }
        let Some(props) = defs.get(type_name).and_then(|d| d.pointer("/Schema/properties")).and_then(|p| p.as_object())
        else {
            return;
        };
        for (prop, p) in props {
            path.push(prop.clone());
            let fs = |extra: Option<&str>| {
                let mut segs = path.clone();
                if let Some(e) = extra {
                    segs.push(e.to_string());
                }
                FieldSpec { gvk: gvk.clone(), path: segs.join("/"), create: false }
            };
            if p.get("x-kubernetes-label-selector").and_then(|v| v.as_str()).is_some() {
                self.common_labels.push(fs(None));
            }
            if p.get("x-kubernetes-identity").and_then(|v| v.as_str()).is_some() {
                self.name_prefix.push(fs(None));
            }
            if let (Some(version), Some(kind)) = (
                p.get("x-kubernetes-object-ref-api-version").and_then(|v| v.as_str()),
                p.get("x-kubernetes-object-ref-kind").and_then(|v| v.as_str()),
            ) {
                let key = p.get("x-kubernetes-object-ref-name-key").and_then(|v| v.as_str()).unwrap_or("name");
                let target = Gvk { group: String::new(), version: version.to_string(), kind: kind.to_string() };
                let referrer = fs(Some(key));
                match self.name_reference.iter_mut().find(|b| b.gvk == target) {
                    Some(b) => b.referrers.push(referrer),
                    None => self.name_reference.push(NameBackRef { gvk: target, referrers: vec![referrer] }),
                }
            }
            if let Some(r) = p.get("$ref").and_then(|v| v.as_str()) {
                let r = r.trim_start_matches("#/definitions/").to_string();
                self.load_crd_type(defs, &r, gvk, path, depth + 1);
            }
            path.pop();
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    name_prefix: Vec<FieldSpecDef>,
    #[serde(default)]
    name_suffix: Vec<FieldSpecDef>,
    #[serde(default)]
    namespace: Vec<FieldSpecDef>,
    #[serde(default)]
    common_labels: Vec<FieldSpecDef>,
    #[serde(default)]
    template_labels: Vec<FieldSpecDef>,
    #[serde(default)]
    common_annotations: Vec<FieldSpecDef>,
    #[serde(default)]
    images: Vec<FieldSpecDef>,
    #[serde(default)]
    replicas: Vec<FieldSpecDef>,
    #[serde(default)]
    name_reference: Vec<NameBackRefDef>,
    #[serde(default)]
    var_reference: Vec<FieldSpecDef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameBackRefDef {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    field_specs: Vec<FieldSpecDef>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_tables_load() {
        let c = TransformerConfig::builtin();
        assert!(c.name_reference.iter().any(|b| b.gvk.kind == "ConfigMap" && b.referrers.len() > 40));
        assert!(c.var_reference.iter().any(|f| f.path == "spec/ports/targetPort"));
    }
}
