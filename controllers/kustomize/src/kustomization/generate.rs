//! The kustomization file Flux writes before a build: one listing the
//! manifests when the path has none, then the Kustomization's own overlays
//! (`targetNamespace`, `namePrefix`/`nameSuffix`, `patches`, `images`,
//! `components`, `buildMetadata`) merged into it.

use std::path::{Path, PathBuf};

use ferry_api_kustomize::{BuildMetadata, KustomizationSpec};
use ferry_api_meta::{Image, Patch};
use ferry_kustomize::FileSystem;
use serde_yaml_ng::{Mapping, Value};

/// The file names kustomize recognises, in its order of preference.
pub const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Why the kustomization file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest of a path without kustomization file is not Kubernetes YAML.
    #[error("failed to decode Kubernetes YAML from {path}: {message}")]
    Decode {
        /// The file, relative to the artifact root.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The existing kustomization file is not a YAML mapping.
    #[error("{path}: {message}")]
    Invalid {
        /// The file, relative to the artifact root.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// What a Kustomization adds to the kustomization file it builds.
#[derive(Debug, Default, Clone)]
pub struct Overlay {
    /// `spec.targetNamespace`.
    pub target_namespace: Option<String>,
    /// `spec.namePrefix`.
    pub name_prefix: Option<String>,
    /// `spec.nameSuffix`.
    pub name_suffix: Option<String>,
    /// `spec.patches`.
    pub patches: Vec<Patch>,
    /// `spec.images`.
    pub images: Vec<Image>,
    /// `spec.components`.
    pub components: Vec<String>,
    /// `spec.ignoreMissingComponents`.
    pub ignore_missing_components: bool,
    /// `spec.buildMetadata`.
    pub build_metadata: Vec<BuildMetadata>,
}

impl Overlay {
    /// The overlay of a Kustomization's spec.
    pub fn from_spec(spec: &KustomizationSpec) -> Self {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        Self {
            target_namespace: non_empty(&spec.target_namespace),
            name_prefix: non_empty(&spec.name_prefix),
            name_suffix: non_empty(&spec.name_suffix),
            patches: spec.patches.clone().unwrap_or_default(),
            images: spec.images.clone().unwrap_or_default(),
            components: spec.components.clone().unwrap_or_default(),
            ignore_missing_components: spec.ignore_missing_components.unwrap_or(false),
            build_metadata: spec.build_metadata.clone().unwrap_or_default(),
        }
    }
}

/// Makes `dir` (inside `root`) buildable with the Kustomization's overlay:
/// the kustomization file it has (or one listing its manifests, when it has
/// none) with the overlay merged in. Returns the file to write and its new
/// text; reads go through `fs`, so this works on disk and in memory alike.
pub fn prepare(fs: &dyn FileSystem, root: &Path, dir: &Path, overlay: &Overlay) -> Result<(PathBuf, String)> {
    let (file, mut mapping) = match existing_file(fs, dir) {
        Some(file) => {
            let display = relative(root, &file);
            let bytes = fs.read(&file).map_err(|source| Error::Io { path: display.clone(), source })?;
            let text = String::from_utf8(bytes)
                .map_err(|e| Error::Invalid { path: display.clone(), message: format!("not UTF-8: {e}") })?;
            let document: Value = if text.trim().is_empty() {
                Value::Mapping(Mapping::new())
            } else {
                serde_yaml_ng::from_str(&text)
                    .map_err(|e| Error::Invalid { path: display.clone(), message: e.to_string() })?
            };
            let Value::Mapping(mapping) = document else {
                return Err(Error::Invalid { path: display, message: "a kustomization must be a YAML mapping".into() });
            };
            (file, mapping)
        }
        None => (dir.join(KUSTOMIZATION_FILES[0]), generate(fs, root, dir)?),
    };
    apply_overlay(&mut mapping, fs, dir, overlay);
    let text = serde_yaml_ng::to_string(&Value::Mapping(mapping))
        .map_err(|e| Error::Invalid { path: relative(root, &file), message: e.to_string() })?;
    Ok((file, text))
}

fn existing_file(fs: &dyn FileSystem, dir: &Path) -> Option<PathBuf> {
    KUSTOMIZATION_FILES.iter().map(|name| dir.join(name)).find(|path| fs.is_file(path))
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

/// A kustomization listing the manifests below `dir`, as Flux generates it:
/// directories holding a kustomization file are listed whole and not
/// descended into, other `.yaml`/`.yml` files must be Kubernetes YAML.
fn generate(fs: &dyn FileSystem, root: &Path, dir: &Path) -> Result<Mapping> {
    let mut resources = Vec::new();
    let mut seen = std::collections::HashSet::new();
    scan(fs, root, dir, dir, &mut resources, &mut seen)?;
    let mut mapping = Mapping::new();
    mapping.insert("apiVersion".into(), "kustomize.config.k8s.io/v1beta1".into());
    mapping.insert("kind".into(), "Kustomization".into());
    mapping.insert("resources".into(), Value::Sequence(resources.into_iter().map(Value::String).collect()));
    Ok(mapping)
}

fn scan(
    fs: &dyn FileSystem,
    root: &Path,
    base: &Path,
    dir: &Path,
    resources: &mut Vec<String>,
    seen: &mut std::collections::HashSet<PathBuf>,
) -> Result<()> {
    // Links may loop: visit each real directory once.
    if let Ok(real) = fs.canonicalize(dir)
        && !seen.insert(real)
    {
        return Ok(());
    }
    let mut entries = fs.read_dir(dir).map_err(|source| Error::Io { path: relative(root, dir), source })?;
    entries.sort();
    for path in entries {
        let local = format!("./{}", path.strip_prefix(base).unwrap_or(&path).display());
        if fs.is_dir(&path) {
            if existing_file(fs, &path).is_some() {
                resources.push(local);
            } else {
                scan(fs, root, base, &path, resources, seen)?;
            }
            continue;
        }
        if !fs.is_file(&path) {
            continue;
        }
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if extension != "yaml" && extension != "yml" {
            continue;
        }
        let bytes = fs.read(&path).map_err(|source| Error::Io { path: relative(root, &path), source })?;
        check_manifests(&bytes).map_err(|message| Error::Decode { path: relative(root, &path), message })?;
        resources.push(local);
    }
    Ok(())
}

/// Every document must be an object with a kind (or empty).
fn check_manifests(bytes: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize_any(document)?;
        match value {
            Value::Null => {}
            Value::Mapping(m) if m.get("kind").is_some_and(|k| k.as_str().is_some_and(|k| !k.is_empty())) => {}
            Value::Mapping(_) => return Err("missing Resource metadata: a document has no kind".into()),
            _ => return Err("a document is not a YAML mapping".into()),
        }
    }
    Ok(())
}

trait DeserializeAny: Sized {
    fn deserialize_any(document: serde_yaml_ng::Deserializer<'_>) -> Result<Self, String>;
}

impl DeserializeAny for Value {
    fn deserialize_any(document: serde_yaml_ng::Deserializer<'_>) -> Result<Self, String> {
        serde::Deserialize::deserialize(document).map_err(|e: serde_yaml_ng::Error| e.to_string())
    }
}

fn apply_overlay(kustomization: &mut Mapping, fs: &dyn FileSystem, dir: &Path, overlay: &Overlay) {
    if let Some(namespace) = &overlay.target_namespace {
        kustomization.insert("namespace".into(), namespace.clone().into());
    }
    if let Some(prefix) = &overlay.name_prefix {
        kustomization.insert("namePrefix".into(), prefix.clone().into());
    }
    if let Some(suffix) = &overlay.name_suffix {
        kustomization.insert("nameSuffix".into(), suffix.clone().into());
    }
    if !overlay.patches.is_empty() {
        let list = sequence(kustomization, "patches");
        for patch in &overlay.patches {
            let mut entry = Mapping::new();
            entry.insert("patch".into(), patch.patch.clone().into());
            if let Some(target) = &patch.target {
                let mut selector = Mapping::new();
                let fields = [
                    ("group", &target.group),
                    ("version", &target.version),
                    ("kind", &target.kind),
                    ("name", &target.name),
                    ("namespace", &target.namespace),
                    ("labelSelector", &target.label_selector),
                    ("annotationSelector", &target.annotation_selector),
                ];
                for (key, value) in fields {
                    if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                        selector.insert(key.into(), value.clone().into());
                    }
                }
                entry.insert("target".into(), Value::Mapping(selector));
            }
            list.push(Value::Mapping(entry));
        }
    }
    if !overlay.images.is_empty() {
        let list = sequence(kustomization, "images");
        for image in &overlay.images {
            let mut entry = Mapping::new();
            entry.insert("name".into(), image.name.clone().into());
            let fields = [("newName", &image.new_name), ("newTag", &image.new_tag), ("digest", &image.digest)];
            for (key, value) in fields {
                if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                    entry.insert(key.into(), value.clone().into());
                }
            }
            let existing = list.iter().position(|candidate| {
                candidate.get("name").and_then(Value::as_str).is_some_and(|name| name == image.name)
            });
            match existing {
                Some(index) => list[index] = Value::Mapping(entry),
                None => list.push(Value::Mapping(entry)),
            }
        }
    }
    let components: Vec<&String> = overlay
        .components
        .iter()
        .filter(|component| {
            let path = dir.join(component.as_str());
            !overlay.ignore_missing_components || fs.is_dir(&path) || fs.is_file(&path)
        })
        .collect();
    if !components.is_empty() {
        let list = sequence(kustomization, "components");
        list.extend(components.into_iter().map(|c| Value::String(c.clone())));
    }
    if !overlay.build_metadata.is_empty() {
        let list = sequence(kustomization, "buildMetadata");
        for option in &overlay.build_metadata {
            let name = Value::String(build_metadata_name(option).to_string());
            if !list.contains(&name) {
                list.push(name);
            }
        }
    }
}

fn build_metadata_name(option: &BuildMetadata) -> &'static str {
    match option {
        BuildMetadata::OriginAnnotations => "originAnnotations",
        BuildMetadata::TransformerAnnotations => "transformerAnnotations",
    }
}

/// The list under `key`, created (or replacing a non-list) when missing.
fn sequence<'a>(mapping: &'a mut Mapping, key: &str) -> &'a mut Vec<Value> {
    let slot = mapping.entry(key.into()).or_insert_with(|| Value::Sequence(Vec::new()));
    if !slot.is_sequence() {
        *slot = Value::Sequence(Vec::new());
    }
    match slot {
        Value::Sequence(list) => list,
        _ => unreachable!("just made a sequence"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api_meta::Selector;
    use ferry_kustomize::RealFs;

    fn write(dir: &Path, path: &str, text: &str) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";

    #[test]
    fn generates_a_kustomization_listing_manifests_and_sub_kustomizations() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("apps");
        write(&dir, "b.yaml", CM);
        write(&dir, "a.yml", CM);
        write(&dir, "notes.txt", "not yaml: [");
        write(&dir, "nested/c.yaml", CM);
        write(&dir, "base/kustomization.yaml", "resources: [x.yaml]\n");
        write(&dir, "base/x.yaml", CM);
        let (file, text) = prepare(&RealFs, root.path(), &dir, &Overlay::default()).unwrap();
        assert_eq!(file, dir.join("kustomization.yaml"));
        let value: Value = serde_yaml_ng::from_str(&text).unwrap();
        let resources: Vec<&str> =
            value["resources"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(resources, ["./a.yml", "./b.yaml", "./base", "./nested/c.yaml"]);
    }

    #[test]
    fn a_non_kubernetes_yaml_file_fails_with_its_path() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "ok.yaml", CM);
        write(root.path(), "values.yaml", "replicas: 2\n");
        let err = prepare(&RealFs, root.path(), root.path(), &Overlay::default()).unwrap_err().to_string();
        assert!(err.starts_with("failed to decode Kubernetes YAML from values.yaml"), "{err}");
        write(root.path(), "values.yaml", "key: [unclosed\n");
        let err = prepare(&RealFs, root.path(), root.path(), &Overlay::default()).unwrap_err().to_string();
        assert!(err.contains("values.yaml"), "{err}");
    }

    #[test]
    fn merges_the_overlay_into_an_existing_kustomization() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "kustomization.yml",
            "resources: [cm.yaml]\nnamespace: old\nimages:\n- name: nginx\n  newTag: '1'\n- name: redis\n  newTag: '6'\npatches:\n- path: p.yaml\n",
        );
        write(root.path(), "comp/kustomization.yaml", "kind: Component\n");
        let overlay = Overlay {
            target_namespace: Some("apps".into()),
            name_prefix: Some("pre-".into()),
            name_suffix: Some("-suf".into()),
            patches: vec![Patch {
                patch: "- op: remove\n  path: /x".into(),
                target: Some(Selector { kind: Some("Deployment".into()), ..Selector::default() }),
            }],
            images: vec![Image { name: "nginx".into(), new_tag: Some("2".into()), ..Image::default() }],
            components: vec!["comp".into(), "missing".into()],
            ignore_missing_components: true,
            build_metadata: vec![BuildMetadata::OriginAnnotations],
        };
        let (file, text) = prepare(&RealFs, root.path(), root.path(), &overlay).unwrap();
        assert!(file.ends_with("kustomization.yml"));
        let value: Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(value["namespace"].as_str(), Some("apps"));
        assert_eq!(value["namePrefix"].as_str(), Some("pre-"));
        assert_eq!(value["nameSuffix"].as_str(), Some("-suf"));
        assert_eq!(value["patches"].as_sequence().unwrap().len(), 2);
        assert_eq!(value["patches"][1]["target"]["kind"].as_str(), Some("Deployment"));
        assert_eq!(value["images"][0]["newTag"].as_str(), Some("2"));
        assert_eq!(value["images"][1]["name"].as_str(), Some("redis"));
        assert_eq!(value["components"].as_sequence().unwrap(), &vec![Value::String("comp".into())]);
        assert_eq!(value["buildMetadata"][0].as_str(), Some("originAnnotations"));
    }

    #[test]
    fn missing_components_are_kept_unless_ignored() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "kustomization.yaml", "resources: []\n");
        let overlay = Overlay { components: vec!["missing".into()], ..Overlay::default() };
        let (_, text) = prepare(&RealFs, root.path(), root.path(), &overlay).unwrap();
        let value: Value = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(value["components"][0].as_str(), Some("missing"));
    }

    #[test]
    fn a_kustomization_that_is_not_a_mapping_is_refused() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "kustomization.yaml", "- a\n- b\n");
        let err = prepare(&RealFs, root.path(), root.path(), &Overlay::default()).unwrap_err().to_string();
        assert!(err.contains("kustomization.yaml"), "{err}");
    }
}
