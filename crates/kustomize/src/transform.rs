//! The built-in transformers of one kustomization level, run in kustomize's order.

use crate::config::TransformerConfig;
use crate::context::Ctx;
use crate::resource::{FieldSpec, Resource, Transformation, visit_path};
use crate::types::{Image, Kustomization, Label, Replica};
use crate::{Error, Result, patch};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

pub(crate) fn run_all(
    kust: &Kustomization,
    resources: &mut Vec<Resource>,
    config: &TransformerConfig,
    ctx: &Ctx<'_>,
) -> Result<()> {
    if let Some(list) = kust.patches_strategic_merge.as_ref().filter(|l| !l.is_empty()) {
        patch::strategic_merge_legacy(list, resources, ctx)?;
        record(resources, ctx, "PatchStrategicMergeTransformer");
    }
    for p in kust.patches.iter().flatten() {
        patch::patch_entry(p, resources, ctx)?;
        record(resources, ctx, "PatchTransformer");
    }
    if let Some(ns) = &kust.namespace
        && !ns.is_empty()
    {
        namespace(ns, resources, &config.namespace, false, "defaultOnly")?;
        record(resources, ctx, "NamespaceTransformer");
    }
    let prefix = kust.name_prefix.as_deref().unwrap_or("");
    name_affix(prefix, true, resources, &config.name_prefix);
    if !prefix.is_empty() {
        record(resources, ctx, "PrefixTransformer");
    }
    let suffix = kust.name_suffix.as_deref().unwrap_or("");
    name_affix(suffix, false, resources, &config.name_suffix);
    if !suffix.is_empty() {
        record(resources, ctx, "SuffixTransformer");
    }
    for label in kust.labels.iter().flatten() {
        labels_entry(label, resources, config)?;
        record(resources, ctx, "LabelTransformer");
    }
    if let Some(common) = &kust.common_labels
        && !common.is_empty()
    {
        set_map_entries(common, resources, &config.common_labels)?;
        record(resources, ctx, "LabelTransformer");
    }
    if let Some(ann) = &kust.common_annotations
        && !ann.is_empty()
    {
        set_map_entries(ann, resources, &config.common_annotations)?;
        record(resources, ctx, "AnnotationsTransformer");
    }
    for p in kust.patches_json6902.iter().flatten() {
        patch::json6902_legacy(p, resources, ctx)?;
        record(resources, ctx, "PatchJson6902Transformer");
    }
    for rep in kust.replicas.iter().flatten() {
        replicas(std::slice::from_ref(rep), resources, &config.replicas)?;
        record(resources, ctx, "ReplicaCountTransformer");
    }
    let images: Vec<&Image> = kust.images.iter().flatten().chain(kust.image_tags.iter().flatten()).collect();
    for image in images {
        image_tag(image, resources, &config.images)?;
        record(resources, ctx, "ImageTagTransformer");
    }
    Ok(())
}

/// Notes, for `buildMetadata: [transformerAnnotations]`, that a built-in transformer ran over
/// the resources.
/// Records a transformer configured by a plugin configuration on every resource.
pub(crate) fn record_plugin(resources: &mut [Resource], configured_in: &str, cfg: &Value) {
    let text = |p: &str| cfg.pointer(p).and_then(Value::as_str).map(str::to_string);
    let t = Transformation {
        configured_in: configured_in.to_string(),
        kind: text("/kind").unwrap_or_default(),
        name: text("/metadata/name"),
        namespace: text("/metadata/namespace"),
    };
    for r in resources.iter_mut() {
        r.transformations.push(t.clone());
    }
}

pub(crate) fn record(resources: &mut [Resource], ctx: &Ctx<'_>, kind: &str) {
    for r in resources.iter_mut() {
        r.transformations.push(Transformation {
            configured_in: ctx.kust_file.to_string(),
            kind: kind.to_string(),
            name: None,
            namespace: None,
        });
    }
}

fn applies(fs: &FieldSpec, r: &Resource) -> bool {
    r.gvk().is_selected_by(&fs.gvk)
}

pub(crate) fn namespace(
    ns: &str,
    resources: &mut [Resource],
    specs: &[FieldSpec],
    unset_only: bool,
    subjects_mode: &str,
) -> Result<()> {
    for r in resources.iter_mut() {
        r.store_previous_id();
        let gvk = r.gvk();
        if !gvk.is_cluster_scoped() && (!unset_only || r.namespace().is_empty()) {
            r.set_namespace(ns);
        }
        if (gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding")
            && subjects_mode != "none"
            && let Some(Value::Array(subjects)) = r.obj.get_mut("subjects")
        {
            for s in subjects.iter_mut() {
                if let Some(m) = s.as_object_mut()
                    && (m.get("name").and_then(Value::as_str) == Some("default")
                        || (subjects_mode == "allServiceAccounts"
                            && m.get("kind").and_then(Value::as_str) == Some("ServiceAccount")))
                    && (!unset_only || m.get("namespace").and_then(Value::as_str).unwrap_or("").is_empty())
                {
                    m.insert("namespace".into(), Value::String(ns.to_string()));
                }
            }
        }
        for fs in specs {
            if fs.path == "metadata/namespace" || !applies(fs, r) {
                continue;
            }
            // `metadata/name` is set only on `v1` objects, so that a CRD's kind that happens to
            // be called Namespace keeps its name (kustomize's removeUnneededMetaFieldSpecs).
            if fs.path == "metadata/name" && r.obj.get("apiVersion").and_then(Value::as_str) != Some("v1") {
                continue;
            }
            if (gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding") && fs.path == "subjects" {
                continue;
            }
            let segs = fs.segments();
            visit_path(&mut r.obj, &segs, fs.create, &mut |v| {
                let empty = v.is_null() || v.as_str() == Some("");
                if (v.is_null() || v.is_string()) && (!unset_only || empty) {
                    *v = Value::String(ns.to_string());
                }
                Ok(())
            })?;
        }
    }
    // A namespace change must not make two resources collide.
    let mut seen = std::collections::HashSet::new();
    for a in resources.iter() {
        let id = a.id();
        if !seen.insert((id.gvk.clone(), id.name.clone(), id.effective_namespace().to_string())) {
            return Err(Error::msg(format!("namespace transformation produces ID conflict: {id}")));
        }
    }
    Ok(())
}

fn skip_affix(r: &Resource) -> bool {
    let id = &r.orig_id.gvk;
    id.kind == "CustomResourceDefinition"
        || (id.kind == "APIService" && id.group == "apiregistration.k8s.io")
        || id.kind == "Namespace"
}

pub(crate) fn name_affix(affix: &str, prefix: bool, resources: &mut [Resource], specs: &[FieldSpec]) {
    for r in resources.iter_mut() {
        if skip_affix(r) {
            continue;
        }
        for fs in specs {
            if !r.orig_id.gvk.is_selected_by(&fs.gvk) {
                continue;
            }
            if fs.path == "metadata/name" {
                if prefix {
                    r.prefixes.push(affix.to_string());
                } else {
                    r.suffixes.push(affix.to_string());
                }
                if !affix.is_empty() {
                    r.store_previous_id();
                }
            }
            if affix.is_empty() {
                continue;
            }
            let segs = fs.segments();
            let _ = visit_path(&mut r.obj, &segs, fs.create, &mut |v| {
                if let Value::String(s) = v {
                    *s = if prefix { format!("{affix}{s}") } else { format!("{s}{affix}") };
                }
                Ok(())
            });
        }
    }
}

fn labels_entry(label: &Label, resources: &mut [Resource], config: &TransformerConfig) -> Result<()> {
    let mut specs: Vec<FieldSpec> = label.fields.iter().map(FieldSpec::from_def).collect();
    let mut add = |list: &[FieldSpec]| {
        for fs in list {
            if !specs.contains(fs) {
                specs.push(fs.clone());
            }
        }
    };
    if label.include_selectors {
        add(&config.common_labels);
    } else {
        add(&[FieldSpec::new("", "", "", "metadata/labels", true)]);
        if label.include_templates {
            add(&config.template_labels);
        }
    }
    set_map_entries(&label.pairs, resources, &specs)
}

/// Sets string entries in the maps at the given field specs (labels, selectors, annotations).
pub(crate) fn set_map_entries(
    pairs: &BTreeMap<String, String>,
    resources: &mut [Resource],
    specs: &[FieldSpec],
) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    for r in resources.iter_mut() {
        for fs in specs {
            if !applies(fs, r) {
                continue;
            }
            let segs = fs.segments();
            let id = r.id();
            visit_path(&mut r.obj, &segs, fs.create, &mut |v| {
                if v.is_null() {
                    *v = Value::Object(Map::new());
                }
                match v {
                    Value::Object(m) => {
                        for (k, val) in pairs {
                            m.insert(k.clone(), Value::String(val.clone()));
                        }
                        Ok(())
                    }
                    Value::Array(_) => Ok(()),
                    _ => Err(Error::msg(format!(
                        "considering field '{}' of object {}: wrong node kind: expected MappingNode but got ScalarNode",
                        fs.path, id
                    ))),
                }
            })?;
        }
    }
    Ok(())
}

pub(crate) fn replicas(reps: &[Replica], resources: &mut [Resource], specs: &[FieldSpec]) -> Result<()> {
    for rep in reps {
        let mut found = false;
        for r in resources.iter_mut() {
            if !r.all_ids().iter().chain(std::iter::once(&r.orig_id)).any(|id| id.name == rep.name) {
                continue;
            }
            if !specs.iter().any(|fs| r.orig_id.gvk.is_selected_by(&fs.gvk)) {
                continue;
            }
            found = true;
            for fs in specs {
                if !applies(fs, r) {
                    continue;
                }
                visit_path(&mut r.obj, &fs.segments(), fs.create, &mut |v| {
                    // kustomize keeps the style of the scalar it replaces: a quoted count stays a string.
                    *v = match v {
                        Value::String(_) => Value::String(rep.count.to_string()),
                        _ => Value::Number(rep.count.into()),
                    };
                    Ok(())
                })?;
            }
        }
        if !found {
            let kinds: Vec<String> = specs.iter().map(|f| f.gvk.kind.clone()).collect();
            return Err(Error::msg(format!(
                "resource with name {} does not match a config with the following GVK [{}]",
                rep.name,
                kinds.join(" ")
            )));
        }
    }
    Ok(())
}

/// Splits an image reference into name, tag and digest, as kustomize does.
pub(crate) fn split_image(image: &str) -> (String, String, String) {
    let offset = image.find('/').unwrap_or(0);
    let search = &image[offset..];
    let id = search.find('@');
    let ic = search.find(':');
    match (ic, id) {
        (None, None) => (image.to_string(), String::new(), String::new()),
        (ic, Some(d)) if ic.is_none() || d < ic.unwrap_or(usize::MAX) => {
            let d = d + offset;
            (image[..d].to_string(), String::new(), image[d + 1..].to_string())
        }
        (Some(c), Some(d)) => {
            let (c, d) = (c + offset, d + offset);
            (image[..c].to_string(), image[c + 1..d].to_string(), image[d + 1..].to_string())
        }
        (Some(c), None) => {
            let c = c + offset;
            (image[..c].to_string(), image[c + 1..].to_string(), String::new())
        }
        (None, Some(_)) => (image.to_string(), String::new(), String::new()),
    }
}

fn image_pattern(name: &str) -> Option<regex::Regex> {
    // kustomize v5: an optional tag, then an optional digest.
    regex::Regex::new(&format!("^{name}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$")).ok()
}

fn new_image(value: &str, spec: &Image, pattern: &regex::Regex) -> Option<String> {
    if !pattern.is_match(value) {
        return None;
    }
    let (mut n, mut tag, mut digest) = split_image(value);
    if let Some(nn) = spec.new_name.as_deref().filter(|s| !s.is_empty()) {
        n = nn.to_string();
    }
    let new_tag = spec.new_tag.as_deref().unwrap_or("");
    let new_digest = spec.digest.as_deref().unwrap_or("");
    if !new_tag.is_empty() && !new_digest.is_empty() {
        tag = new_tag.to_string();
        digest = new_digest.to_string();
    } else if !new_tag.is_empty() {
        tag = new_tag.to_string();
        digest.clear();
    } else if !new_digest.is_empty() {
        tag.clear();
        digest = new_digest.to_string();
    }
    if let Some(suffix) = spec.tag_suffix.as_deref().filter(|s| !s.is_empty()) {
        tag.push_str(suffix);
    }
    let mut out = n;
    if !tag.is_empty() {
        out.push(':');
        out.push_str(&tag);
    }
    if !digest.is_empty() {
        out.push('@');
        out.push_str(&digest);
    }
    Some(out)
}

fn update_containers(v: &mut Value, spec: &Image, pattern: &regex::Regex) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if (k == "containers" || k == "initContainers")
                    && let Value::Array(items) = child
                {
                    for item in items.iter_mut() {
                        if let Some(Value::String(img)) = item.get_mut("image")
                            && let Some(n) = new_image(img, spec, pattern)
                        {
                            *img = n;
                        }
                    }
                }
                update_containers(child, spec, pattern);
            }
        }
        Value::Array(items) => {
            for item in items {
                update_containers(item, spec, pattern);
            }
        }
        _ => {}
    }
}

pub(crate) fn image_tag(spec: &Image, resources: &mut [Resource], specs: &[FieldSpec]) -> Result<()> {
    let Some(pattern) = image_pattern(spec.name.as_deref().unwrap_or("")) else {
        return Ok(());
    };
    for r in resources.iter_mut() {
        update_containers(&mut r.obj, spec, &pattern);
        if r.kind() == "CustomResourceDefinition" {
            continue;
        }
        for fs in specs {
            if !applies(fs, r) {
                continue;
            }
            visit_path(&mut r.obj, &fs.segments(), false, &mut |v| {
                if let Value::String(img) = v
                    && let Some(n) = new_image(img, spec, &pattern)
                {
                    *img = n;
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// Applies `buildMetadata` of the top kustomization.
pub(crate) fn build_metadata(resources: &mut [Resource], kust: &Kustomization, _root: &Path) {
    let opts: Vec<&str> = kust.build_metadata.iter().flatten().map(String::as_str).collect();
    for r in resources.iter_mut() {
        if opts.contains(&"originAnnotations")
            && let Some(o) = r.origin.clone()
        {
            let text = match &o.config_kind {
                None => format!("path: {}\n", o.path),
                Some(kind) => {
                    let mut text =
                        format!("configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n", o.path);
                    if let Some(name) = &o.config_name {
                        text.push_str(&format!("  name: {name}\n"));
                    }
                    text
                }
            };
            r.set_annotation("config.kubernetes.io/origin", &text);
        }
        if opts.contains(&"transformerAnnotations") && !r.transformations.is_empty() {
            let mut text = String::new();
            for t in &r.transformations {
                text.push_str(&format!(
                    "- configuredIn: {}\n  configuredBy:\n    apiVersion: builtin\n    kind: {}\n",
                    t.configured_in, t.kind
                ));
                if let Some(name) = &t.name {
                    text.push_str(&format!("    name: {name}\n"));
                }
                if let Some(ns) = &t.namespace {
                    text.push_str(&format!("    namespace: {ns}\n"));
                }
            }
            r.set_annotation("alpha.config.kubernetes.io/transformations", &text);
        }
        if opts.contains(&"managedByLabel") {
            let md = r.metadata_mut();
            let labels = md.entry("labels").or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = labels {
                m.insert("app.kubernetes.io/managed-by".into(), Value::String("kustomize-(devel)".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_images() {
        assert_eq!(split_image("nginx"), ("nginx".into(), "".into(), "".into()));
        assert_eq!(split_image("nginx:1.2"), ("nginx".into(), "1.2".into(), "".into()));
        assert_eq!(split_image("reg:5000/app:v1"), ("reg:5000/app".into(), "v1".into(), "".into()));
        assert_eq!(split_image("app@sha256:abc"), ("app".into(), "".into(), "sha256:abc".into()));
        assert_eq!(split_image("app:v1@sha256:abc"), ("app".into(), "v1".into(), "sha256:abc".into()));
    }

    #[test]
    fn updates_matching_images_only() {
        let spec = Image { name: Some("nginx".into()), new_tag: Some("2".into()), ..Default::default() };
        let p = image_pattern("nginx").unwrap();
        assert_eq!(new_image("nginx:1", &spec, &p).as_deref(), Some("nginx:2"));
        assert_eq!(new_image("nginx-other:1", &spec, &p), None);
    }
}
