//! User values as Helm's CLI merges them (`pkg/cli/values`): `-f` files merged in order, then
//! every `--set-json`, `--set`, `--set-string`, `--set-file`, `--set-literal` in that order.

use super::strvals;
use crate::value::{Map, Value};
use crate::yaml::decode::{self, Numbers};

/// The value flags of `helm template`.
#[derive(Debug, Clone, Default)]
pub struct ValueOptions {
    /// `-f/--values`: file contents with the name they were given under.
    pub value_files: Vec<(String, String)>,
    /// `--set-json`.
    pub json_values: Vec<String>,
    /// `--set`.
    pub values: Vec<String>,
    /// `--set-string`.
    pub string_values: Vec<String>,
    /// `--set-file`: the expressions; file contents come from the reader.
    pub file_values: Vec<String>,
    /// `--set-literal`.
    pub literal_values: Vec<String>,
}

/// User values Helm would refuse, with Helm's message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A values file is not YAML or not a map.
    #[error("failed to parse {name}: {message}")]
    File {
        /// The file's name.
        name: String,
        /// Why.
        message: String,
    },
    /// `--set-json`.
    #[error("failed parsing --set-json data {0}")]
    Json(String),
    /// `--set`, `--set-string`, `--set-file`, `--set-literal`.
    #[error("failed parsing --{flag} data: {source}")]
    Set {
        /// The flag.
        flag: &'static str,
        /// Why.
        #[source]
        source: strvals::Error,
    },
}

/// Helm's `mergeMaps`: maps merge key by key, anything else replaces.
pub fn merge_maps(a: Map, b: Map) -> Map {
    let mut out = a;
    for (k, v) in b {
        match (out.remove(&k), v) {
            (Some(Value::Map(existing)), Value::Map(new)) => {
                out.insert(k, Value::Map(merge_maps(existing, new)));
            }
            (_, v) => {
                out.insert(k, v);
            }
        }
    }
    out
}

impl ValueOptions {
    /// Merges everything into one map; `read_file` reads `--set-file` paths.
    pub fn merge(&self, read_file: &mut dyn FnMut(&str) -> Result<String, String>) -> Result<Map, Error> {
        let mut base = Map::new();
        for (name, text) in &self.value_files {
            let current = match decode::from_str(text, Numbers::Json) {
                Ok(Value::Map(m)) => m,
                Ok(Value::Null) => Map::new(),
                Ok(_) => {
                    return Err(Error::File {
                        name: name.clone(),
                        message: "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}".into(),
                    });
                }
                Err(e) => {
                    return Err(Error::File {
                        name: name.clone(),
                        message: format!("error converting YAML to JSON: {e}"),
                    });
                }
            };
            base = merge_maps(base, current);
        }
        for v in &self.json_values {
            strvals::parse_json(v, &mut base).map_err(|_| Error::Json(v.clone()))?;
        }
        for v in &self.values {
            strvals::parse_into(v, &mut base).map_err(|source| Error::Set { flag: "set", source })?;
        }
        for v in &self.string_values {
            strvals::parse_into_string(v, &mut base).map_err(|source| Error::Set { flag: "set-string", source })?;
        }
        for v in &self.file_values {
            let mut reader = |path: &str| read_file(path).map(Value::String).map_err(strvals::Error);
            strvals::parse_into_file(v, &mut base, &mut reader)
                .map_err(|source| Error::Set { flag: "set-file", source })?;
        }
        for v in &self.literal_values {
            strvals::parse_literal_into(v, &mut base).map_err(|source| Error::Set { flag: "set-literal", source })?;
        }
        Ok(base)
    }
}
