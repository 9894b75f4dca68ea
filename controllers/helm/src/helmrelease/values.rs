//! The release values, composed as Flux's `ChartValuesFromReferences`:
//! every `valuesFrom` entry in order (a whole YAML document merged in, or
//! one value set at `targetPath` as with `--set`), then `spec.values` merged
//! over the result; and their digest (`lastAttemptedConfigDigest`).

use std::collections::BTreeMap;

use ferry_api_helm::{HelmRelease, ValuesReference};
use ferry_helm::values::options::merge_maps;
use ferry_helm::values::strvals;
use ferry_helm::yaml::decode::{self, Numbers};
use ferry_helm::{Map, Value};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::{Client, ResourceExt};
use sha2::Digest as _;

/// The data of a ConfigMap or Secret, by key.
type Data = BTreeMap<String, Vec<u8>>;

/// The key read when `valuesKey` is unset.
pub const DEFAULT_VALUES_KEY: &str = "values.yaml";

/// Why the values could not be composed (Flux's `ValuesError`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist.
    #[error("could not find {kind} '{namespace}/{name}'")]
    NotFound {
        /// `ConfigMap` or `Secret`.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The object has no such key.
    #[error("missing key '{key}' in {kind} '{namespace}/{name}'")]
    KeyNotFound {
        /// `ConfigMap` or `Secret`.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The key.
        key: String,
    },
    /// Neither a ConfigMap nor a Secret.
    #[error("unsupported values reference kind '{kind}' for '{namespace}/{name}'")]
    UnsupportedKind {
        /// The kind.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// Reading the ConfigMap failed.
    #[error("could not read ConfigMap '{namespace}/{name}': {source}")]
    ConfigMap {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The refusal.
        #[source]
        source: kube::Error,
    },
    /// Reading the Secret failed.
    #[error("could not read Secret: {0}")]
    Secret(#[source] ferry_sdk::secret::Error),
    /// The data is not a YAML map.
    #[error("unable to read values from key '{key}' in {kind} '{namespace}/{name}': {message}")]
    Read {
        /// `ConfigMap` or `Secret`.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The key.
        key: String,
        /// Why.
        message: String,
    },
    /// The value could not be set at `targetPath`.
    #[error(
        "unable to merge value from key '{key}' in {kind} '{namespace}/{name}' into target path '{path}': {source}"
    )]
    Merge {
        /// `ConfigMap` or `Secret`.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The key.
        key: String,
        /// The path.
        path: String,
        /// The parser's refusal.
        #[source]
        source: strvals::Error,
    },
}

/// The inline `spec.values`, as Go reads JSON into a map (numbers become floats).
pub fn inline_values(object: &HelmRelease) -> Map {
    match object.spec.values.as_ref().map(Value::from_json) {
        Some(Value::Map(map)) => map,
        _ => Map::new(),
    }
}

/// Composes the values of `object` from its references and `spec.values`.
pub async fn compose(client: &Client, object: &HelmRelease) -> Result<Map, Error> {
    let namespace = object.namespace().unwrap_or_default();
    let inline = inline_values(object);
    let mut result = Map::new();
    // One read per object, as Flux caches them within a composition.
    let mut read: BTreeMap<(String, String), Option<Data>> = BTreeMap::new();
    for reference in object.spec.values_from.iter().flatten() {
        let optional = reference.optional.unwrap_or(false);
        let cache_key = (reference.kind.clone(), reference.name.clone());
        if !read.contains_key(&cache_key) {
            let data = fetch(client, &namespace, reference).await?;
            read.insert(cache_key.clone(), data);
        }
        let describe = |key: &str| (reference.kind.clone(), namespace.clone(), reference.name.clone(), key.to_string());
        let Some(data) = read.get(&cache_key).and_then(Option::as_ref) else {
            if optional {
                tracing::info!(kind = %reference.kind, name = %reference.name, "optional values reference not found");
                continue;
            }
            return Err(Error::NotFound {
                kind: reference.kind.clone(),
                namespace: namespace.clone(),
                name: reference.name.clone(),
            });
        };
        let key = reference.values_key.clone().filter(|k| !k.is_empty()).unwrap_or(DEFAULT_VALUES_KEY.to_string());
        let Some(bytes) = data.get(&key) else {
            if optional {
                tracing::info!(kind = %reference.kind, name = %reference.name, %key, "optional values key not found");
                continue;
            }
            let (kind, namespace, name, key) = describe(&key);
            return Err(Error::KeyNotFound { kind, namespace, name, key });
        };
        let text = String::from_utf8_lossy(bytes).into_owned();
        if let Some(path) = reference.target_path.as_deref().filter(|p| !p.is_empty()) {
            // As Flux: the inline values are merged in before the value is set.
            result = merge_maps(result, inline.clone());
            set_path(&mut result, path, &text, reference.literal.unwrap_or(false)).map_err(|source| {
                let (kind, namespace, name, key) = describe(&key);
                Error::Merge { kind, namespace, name, key, path: path.to_string(), source }
            })?;
            continue;
        }
        let values = read_values(&text).map_err(|message| {
            let (kind, namespace, name, key) = describe(&key);
            Error::Read { kind, namespace, name, key, message }
        })?;
        result = merge_maps(result, values);
    }
    Ok(merge_maps(result, inline))
}

/// The data of the referenced object, or `None` when it does not exist.
async fn fetch(client: &Client, namespace: &str, reference: &ValuesReference) -> Result<Option<Data>, Error> {
    match reference.kind.as_str() {
        "Secret" => ferry_sdk::secret::read_opt(client, namespace, &reference.name).await.map_err(Error::Secret),
        "ConfigMap" => {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
            let config_map = api.get_opt(&reference.name).await.map_err(|source| Error::ConfigMap {
                namespace: namespace.to_string(),
                name: reference.name.clone(),
                source,
            })?;
            Ok(config_map.map(|cm| {
                let mut data: BTreeMap<String, Vec<u8>> =
                    cm.data.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
                for (k, v) in cm.binary_data.unwrap_or_default() {
                    data.entry(k).or_insert(v.0);
                }
                data
            }))
        }
        other => Err(Error::UnsupportedKind {
            kind: other.to_string(),
            namespace: namespace.to_string(),
            name: reference.name.clone(),
        }),
    }
}

/// Helm's `ReadValues`: a YAML map (empty text is an empty map).
fn read_values(text: &str) -> Result<Map, String> {
    match decode::from_str(text, Numbers::Json).map_err(|e| e.to_string())? {
        Value::Map(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(format!(
            "error unmarshaling JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            other.go_type()
        )),
    }
}

/// Flux's `ReplacePathValue` and `ReplacePathLiteralValue`: the value set at
/// `path` with `--set` rules (quoted values as strings), or literally.
fn set_path(values: &mut Map, path: &str, value: &str, literal: bool) -> Result<(), strvals::Error> {
    if literal {
        let mut escaped = String::with_capacity(value.len());
        for c in value.chars() {
            if matches!(c, '\\' | ',' | '[' | ']' | '{' | '}') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        return strvals::parse_into_string(&format!("{path}={escaped}"), values);
    }
    let quoted = |q: char| value.len() >= 2 && value.starts_with(q) && value.ends_with(q);
    if quoted('\'') || quoted('"') {
        let trimmed = value.trim_matches(|c| c == '\'' || c == '"');
        return strvals::parse_into_string(&format!("{path}={trimmed}"), values);
    }
    strvals::parse_into(&format!("{path}={value}"), values)
}

/// Flux's `DigestValues`: sha256 of the values as YAML with sorted keys;
/// empty values digest the empty input.
pub fn digest(values: &Map) -> String {
    let mut hasher = sha2::Sha256::new();
    if !values.is_empty()
        && let Ok(yaml) = ferry_helm::yaml::encode::to_string(&Value::Map(values.clone()))
    {
        hasher.update(yaml.as_bytes());
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_paths_follow_fluxs_rules() {
        let mut values = Map::new();
        set_path(&mut values, "a.b", "3", false).unwrap();
        set_path(&mut values, "a.c", "'007'", false).unwrap();
        set_path(&mut values, "a.d", "x,y", true).unwrap();
        assert_eq!(
            ferry_helm::render::json::marshal(&Value::Map(values)).unwrap(),
            r#"{"a":{"b":3,"c":"007","d":"x,y"}}"#
        );
    }

    #[test]
    fn digests_are_of_sorted_yaml() {
        // sha256 of nothing, as Flux digests empty values.
        assert_eq!(digest(&Map::new()), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let values = read_values("b: 1\na: x\n").unwrap();
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"a: x\nb: 1\n");
        assert_eq!(digest(&values), format!("sha256:{}", hex::encode(hasher.finalize())));
        assert!(read_values("- a").is_err());
    }
}
