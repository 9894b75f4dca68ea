//! From an extracted artifact to the objects to apply: the kustomization
//! file, SOPS decryption, the native kustomize build, and postBuild
//! variable substitution, as Flux's kustomize-controller does them.
//!
//! Everything here is blocking file and CPU work: run it off the async
//! runtime. Builds share nothing, so any number run at once.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use ferry_api_meta::annotations::{DISABLED_VALUE, SUBSTITUTE};
use ferry_kustomize::{BuildOptions, FileSystem, LoadRestrictions, RemoteResolver, Reorder};
use serde_json::Value;
use sha2::Digest;
use std::sync::Arc;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use super::generate::{self, Overlay};
use ferry_sdk::artifact::Tree;

use super::remote::{GitRemotes, Mounts, Refused};
use super::tree::TreeFs;

/// Why a build failed; every message is Flux's or close to it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `spec.path` is not a directory of the artifact.
    #[error("kustomization path not found: {0}")]
    PathNotFound(String),
    /// Writing the kustomization file failed.
    #[error(transparent)]
    Generate(#[from] generate::Error),
    /// Decrypting a file or a Secret failed.
    #[error("decryption failed for '{name}': {source}")]
    Decryption {
        /// The file or object.
        name: String,
        /// The JSON or SOPS error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The generated kustomization file could not be written over the tree.
    #[error("kustomization path not found: {0}")]
    WriteFailed(#[source] std::io::Error),
    /// A Secret is encrypted but the Kustomization has no decryption.
    #[error("{0} is SOPS encrypted, configuring decryption is required for this secret to be reconciled")]
    EncryptedWithoutDecryption(String),
    /// The kustomize build failed.
    #[error("kustomize build failed: {0}")]
    Kustomize(#[source] ferry_kustomize::Error),
    /// An object lacks apiVersion, kind or name.
    #[error("failed to decode Kubernetes apiVersion, kind and name from: {0}")]
    NotAnObject(String),
    /// Variable substitution failed.
    #[error("post build failed for '{name}': {message}")]
    PostBuild {
        /// The object's name.
        name: String,
        /// What went wrong.
        message: String,
    },
}

/// postBuild variables, already read from the cluster.
#[derive(Debug, Clone, Default)]
pub struct Substitution {
    /// The variables, inline ones winning over those from ConfigMaps and Secrets.
    pub vars: BTreeMap<String, String>,
    /// The StrictPostBuildSubstitutions feature gate.
    pub strict: bool,
}

/// Where builds see the artifact: a path that exists nowhere on disk.
pub const ROOT: &str = "/artifact";

/// Everything a build needs.
pub struct Input {
    /// The unpacked artifact.
    pub tree: Arc<Tree>,
    /// `spec.path`, relative to the root.
    pub path: String,
    /// The Kustomization's overlays.
    pub overlay: Overlay,
    /// The SOPS keys, when `spec.decryption` is set.
    pub keys: Option<ferry_sops::KeyRing>,
    /// The postBuild variables, when `spec.postBuild` is set.
    pub substitution: Option<Substitution>,
    /// Until when remote bases may be fetched; `None` refuses them
    /// (`--no-remote-bases=true`).
    pub remote_bases: Option<std::time::Instant>,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct Built {
    /// The objects, in kustomize's output order.
    pub objects: Vec<Value>,
    /// `sha256:<hex>` of the YAML stream, for the status history.
    pub digest: String,
}

/// Builds `input`.
pub fn run(input: &Input) -> Result<Built, Error> {
    let root = PathBuf::from(ROOT);
    let mounts = Arc::new(Mounts::default());
    let mut fs = TreeFs::new(&root, &input.tree, input.keys.as_ref()).with_remotes(mounts.clone());
    let dir = secure_join(&fs, &root, &input.path)?;
    let (file, text) = generate::prepare(&fs, &root, &dir, &input.overlay)?;
    fs.write(&file, text.into_bytes()).map_err(Error::WriteFailed)?;
    let plain = match &input.substitution {
        Some(_) => plain_scalars_with_vars(&input.tree),
        None => HashSet::new(),
    };
    // Flux's kustomize-controller builds with krusty options that leave the
    // order unset: the resources come out as read unless `sortOptions` says
    // otherwise, and the status history's digest is of that stream.
    let options = BuildOptions { load_restrictions: LoadRestrictions::None, reorder: Reorder::None };
    let remotes: Box<dyn RemoteResolver> = match input.remote_bases {
        Some(deadline) => Box::new(GitRemotes::new(deadline, mounts).map_err(Error::WriteFailed)?),
        None => Box::new(Refused),
    };
    let mut objects =
        ferry_kustomize::build_resources_with(&fs, &dir, &options, remotes.as_ref()).map_err(Error::Kustomize)?;
    for object in objects.iter_mut() {
        let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        let api_version = object.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() || kind.is_empty() || api_version.is_empty() {
            return Err(Error::NotAnObject(object.to_string()));
        }
        if kind == "Secret" && object.get("sops").is_some() {
            match &input.keys {
                Some(keys) => *object = decrypt_object(object, keys, &name)?,
                None => return Err(Error::EncryptedWithoutDecryption(describe(object))),
            }
        }
        if let Some(substitution) = &input.substitution
            && !substitution_disabled(object)
        {
            *object = substitute(object, substitution, &plain)
                .map_err(|message| Error::PostBuild { name: name.clone(), message })?;
        }
    }
    let stream = ferry_kustomize::yaml::to_yaml_stream(&objects);
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(stream.as_bytes())));
    Ok(Built { objects, digest })
}

/// `Kind/namespace/name` (or `Kind/name`), as Flux names objects in messages.
pub fn describe(object: &Value) -> String {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    match object.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(namespace) if !namespace.is_empty() => format!("{kind}/{namespace}/{name}"),
        _ => format!("{kind}/{name}"),
    }
}

/// Joins `path` below `root` (`..` stops at the root), and checks it is a
/// directory of the artifact.
fn secure_join(fs: &TreeFs<'_>, root: &Path, path: &str) -> Result<PathBuf, Error> {
    let mut joined = root.to_path_buf();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => joined.push(part),
            Component::ParentDir => {
                if joined != root {
                    joined.pop();
                }
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    let canonical =
        fs.canonicalize(&joined).map_err(|e| Error::PathNotFound(format!("stat {}: {e}", display_path(path))))?;
    if !fs.is_dir(&canonical) {
        return Err(Error::PathNotFound(format!("{} is not a directory", display_path(path))));
    }
    Ok(canonical)
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "./" } else { path }
}

/// Flux's opt-out: `kustomize.toolkit.fluxcd.io/substitute: disabled` as a
/// label or an annotation.
fn substitution_disabled(object: &Value) -> bool {
    ["labels", "annotations"].iter().any(|field| {
        object
            .pointer(&format!("/metadata/{field}"))
            .and_then(|m| m.get(SUBSTITUTE))
            .and_then(Value::as_str)
            .is_some_and(|v| v == DISABLED_VALUE)
    })
}

/// Whether `name` is a valid variable name (Flux's `^[_[:alpha:]][_[:alpha:][:digit:]]*$`).
pub fn valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Substitutes `${...}` in every key and string of `object`, as Flux does
/// on the object's YAML text: a value that was a plain (unquoted) scalar in
/// the sources is read back as YAML 1.1 (`replicas: ${n}` becomes a number),
/// a quoted one stays a string (`port: "${port}"`). Flux's text keeps the
/// sources' quoting; the engine's objects do not, so `plain` lists the plain
/// scalars with variables found in the sources.
fn substitute(object: &Value, substitution: &Substitution, plain: &HashSet<(String, String)>) -> Result<Value, String> {
    for name in substitution.vars.keys() {
        if !valid_var_name(name) {
            return Err(format!("'{name}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'"));
        }
    }
    let lookup = |name: &str| substitution.vars.get(name).cloned();
    let eval = |text: &str| {
        ferry_envsubst::substitute(text, &lookup, substitution.strict)
            .map_err(|e| format!("variable substitution failed: {e}"))
    };
    walk(object, "", &eval, plain)
}

/// Substitutes below `value`, which sits under the mapping key `key` (the
/// key of the list, for list items).
fn walk(
    value: &Value,
    key: &str,
    eval: &dyn Fn(&str) -> Result<String, String>,
    plain: &HashSet<(String, String)>,
) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) if text.contains('$') => {
            let out = eval(text)?;
            if plain.contains(&(key.to_string(), text.clone())) {
                ferry_kustomize::yaml::parse_one_yaml11(&out).map_err(|e| format!("YAMLToJSON: {e}"))?
            } else {
                Value::String(out)
            }
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| walk(item, key, eval, plain)).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => {
            let mut out = serde_json::Map::with_capacity(map.len());
            for (name, item) in map {
                let value = walk(item, name, eval, plain)?;
                let name = if name.contains('$') { eval(name)? } else { name.clone() };
                out.insert(name, value);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// The plain scalars holding `$` in the YAML files of the artifact, with the
/// mapping key they are the value of (or the key of the list they are in).
fn plain_scalars_with_vars(tree: &Tree) -> HashSet<(String, String)> {
    let mut found = HashSet::new();
    for (path, bytes) in tree.files() {
        let yaml = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e == "yaml" || e == "yml");
        if yaml
            && bytes.contains(&b'$')
            && let Ok(text) = std::str::from_utf8(bytes)
        {
            collect_plain(text, &mut found);
        }
    }
    found
}

enum Frame {
    Map { expect_key: bool, key: String },
    Seq { key: String },
}

fn collect_plain(text: &str, found: &mut HashSet<(String, String)>) {
    let mut frames: Vec<Frame> = Vec::new();
    // The key a new value (scalar or collection) sits under, consuming the
    // mapping's value slot.
    fn value_key(frames: &mut [Frame]) -> String {
        match frames.last_mut() {
            Some(Frame::Map { expect_key, key }) => {
                *expect_key = true;
                key.clone()
            }
            Some(Frame::Seq { key }) => key.clone(),
            None => String::new(),
        }
    }
    let mut parser = Parser::new_from_str(text);
    while let Ok((event, _)) = parser.next_token() {
        match event {
            Event::StreamEnd => break,
            Event::Scalar(value, style, _, _) => {
                if let Some(Frame::Map { expect_key: expect @ true, key }) = frames.last_mut() {
                    *key = value;
                    *expect = false;
                    continue;
                }
                let key = value_key(&mut frames);
                if style == TScalarStyle::Plain && value.contains('$') {
                    found.insert((key, value));
                }
            }
            Event::Alias(_) => {
                if let Some(Frame::Map { expect_key: expect @ true, .. }) = frames.last_mut() {
                    *expect = false;
                } else {
                    value_key(&mut frames);
                }
            }
            Event::MappingStart(..) => {
                let key = value_key(&mut frames);
                frames.push(Frame::Map { expect_key: true, key });
            }
            Event::SequenceStart(..) => {
                let key = value_key(&mut frames);
                frames.push(Frame::Seq { key });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                frames.pop();
            }
            Event::DocumentStart => frames.clear(),
            _ => {}
        }
    }
}

/// Decrypts a Secret that still carries SOPS metadata after the build.
fn decrypt_object(object: &Value, keys: &ferry_sops::KeyRing, name: &str) -> Result<Value, Error> {
    let fail = |source: Box<dyn std::error::Error + Send + Sync>| Error::Decryption { name: name.to_string(), source };
    let json = serde_json::to_vec(object).map_err(|e| fail(e.into()))?;
    let plain = ferry_sops::decrypt(&json, ferry_sops::Format::Json, keys).map_err(|e| fail(e.into()))?;
    serde_json::from_slice(&plain).map_err(|e| fail(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, path: &str, text: &str) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn input(root: &Path, path: &str) -> Input {
        Input {
            tree: Arc::new(Tree::from_dir(root).unwrap()),
            path: path.into(),
            overlay: Overlay::default(),
            keys: None,
            substitution: None,
            remote_bases: None,
        }
    }

    #[test]
    fn builds_a_plain_directory_with_the_overlay() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "app/deploy.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1\n",
        );
        let mut input = input(root.path(), "./app");
        input.overlay.target_namespace = Some("apps".into());
        input.overlay.name_prefix = Some("p-".into());
        let built = run(&input).unwrap();
        assert_eq!(built.objects.len(), 1);
        assert_eq!(describe(&built.objects[0]), "Deployment/apps/p-web");
        assert!(built.digest.starts_with("sha256:") && built.digest.len() == 71);
    }

    #[test]
    fn a_missing_or_escaping_path_is_path_not_found() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "a/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n");
        let err = run(&input(root.path(), "./nope")).unwrap_err().to_string();
        assert!(err.starts_with("kustomization path not found"), "{err}");
        // `..` stops at the root: this is the root itself, which builds.
        assert!(run(&input(root.path(), "../../a")).is_ok());
    }

    #[test]
    fn a_kustomization_cannot_read_outside_the_artifact() {
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.txt", "top secret");
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.path().join("link.txt")).unwrap();
        write(root.path(), "kustomization.yaml", "configMapGenerator:\n- name: leak\n  files: [link.txt]\n");
        let err = run(&input(root.path(), "")).unwrap_err().to_string();
        assert!(err.starts_with("kustomize build failed"), "{err}");
        assert!(!err.contains("top secret"));
    }

    #[test]
    fn substitutes_variables_unless_disabled() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  env: ${env:=dev}\n  region: ${region}\n  n: \"${n}\"\n  port: '${n}'\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled\ndata:\n  x: ${region}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: ${n}\n",
        );
        let mut input = input(root.path(), "");
        input.substitution = Some(Substitution {
            vars: [("region".to_string(), "eu".to_string()), ("n".to_string(), "3".to_string())].into(),
            strict: false,
        });
        let built = run(&input).unwrap();
        let a = &built.objects[0];
        assert_eq!(a["data"]["env"], "dev");
        assert_eq!(a["data"]["region"], "eu");
        assert_eq!(a["data"]["n"], "3");
        assert_eq!(a["data"]["port"], "3");
        assert_eq!(built.objects[1]["data"]["x"], "${region}");
        let deployment = built.objects.iter().find(|o| o["kind"] == "Deployment").unwrap();
        assert_eq!(deployment["spec"]["replicas"], 3);
    }

    #[test]
    fn strict_substitution_fails_on_an_unset_variable() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: ${missing}\n",
        );
        let mut input = input(root.path(), "");
        input.substitution = Some(Substitution { vars: BTreeMap::new(), strict: true });
        let err = run(&input).unwrap_err().to_string();
        assert!(err.starts_with("post build failed for 'a'"), "{err}");
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn an_invalid_variable_name_is_refused() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n");
        let mut input = input(root.path(), "");
        input.substitution = Some(Substitution { vars: [("1bad".to_string(), "x".to_string())].into(), strict: false });
        let err = run(&input).unwrap_err().to_string();
        assert!(err.contains("'1bad' var name is invalid"), "{err}");
    }

    #[test]
    fn an_encrypted_secret_without_decryption_is_refused() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: ENC[AES256_GCM,data:abc=,iv:abc=,tag:abc=,type:str]\nsops:\n  mac: x\n  version: 3.9.0\n",
        );
        let err = run(&input(root.path(), "")).unwrap_err().to_string();
        assert_eq!(
            err,
            "Secret/s is SOPS encrypted, configuring decryption is required for this secret to be reconciled"
        );
    }

    #[test]
    fn invalid_yaml_fails_the_build_with_the_file_name() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "kustomization.yaml", "resources: [bad.yaml]\n");
        write(root.path(), "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n");
        let err = run(&input(root.path(), "")).unwrap_err().to_string();
        assert!(err.starts_with("kustomize build failed") && err.contains("bad.yaml"), "{err}");
    }
}
