//! Registry credentials and the `WWW-Authenticate` challenges they answer.

use std::collections::BTreeMap;

use base64::Engine as _;

/// A user name and password (or token). Debug never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// Why a docker config could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DockerConfigError {
    /// It is no JSON of the docker config shape.
    #[error("invalid docker config: {0}")]
    Json(#[source] serde_json::Error),
    /// An `auth` entry is no base64 `user:password`.
    #[error("invalid 'auth' entry for '{0}'")]
    Auth(String),
}

impl Credentials {
    /// `user:password`, as the CLI's `--creds` takes them (a lone token
    /// goes with an empty user name, as Flux's CLI does).
    pub fn parse(text: &str) -> Self {
        match text.split_once(':') {
            Some((user, password)) => Self { username: user.into(), password: password.into() },
            None => Self { username: String::new(), password: text.into() },
        }
    }

    /// The credentials a `.dockerconfigjson` holds for `registry`
    /// (`host[:port]`): the entry whose key is the host, with or without a
    /// scheme and path, as docker's credential lookup matches it.
    pub fn from_docker_config(config: &[u8], registry: &str) -> Result<Option<Self>, DockerConfigError> {
        #[derive(serde::Deserialize)]
        struct Config {
            #[serde(default)]
            auths: BTreeMap<String, Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            #[serde(default)]
            auth: Option<String>,
            #[serde(default)]
            username: Option<String>,
            #[serde(default)]
            password: Option<String>,
        }
        let config: Config = serde_json::from_slice(config).map_err(DockerConfigError::Json)?;
        let host_of = |key: &str| {
            let key = key.split_once("://").map_or(key, |(_, rest)| rest);
            key.split('/').next().unwrap_or(key).to_string()
        };
        let Some((key, entry)) = config.auths.iter().find(|(key, _)| host_of(key) == registry) else {
            return Ok(None);
        };
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth)
                .ok()
                .and_then(|d| String::from_utf8(d).ok())
                .ok_or_else(|| DockerConfigError::Auth(key.clone()))?;
            let (user, password) = decoded.split_once(':').ok_or_else(|| DockerConfigError::Auth(key.clone()))?;
            return Ok(Some(Self { username: user.into(), password: password.into() }));
        }
        Ok(Some(Self {
            username: entry.username.clone().unwrap_or_default(),
            password: entry.password.clone().unwrap_or_default(),
        }))
    }

    /// The `Authorization` header value of basic auth.
    pub(crate) fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// What a registry's 401 asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// Basic auth.
    Basic,
    /// A token from `realm`, for `service`.
    Bearer {
        /// The token service's URL.
        realm: String,
        /// The `service` parameter.
        service: Option<String>,
    },
}

impl Challenge {
    /// Parses a `WWW-Authenticate` value; `None` for schemes not handled.
    pub(crate) fn parse(header: &str) -> Option<Self> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Self::Basic),
            "bearer" => {
                let params = parse_params(params);
                let realm = params.get("realm")?.clone();
                Some(Self::Bearer { realm, service: params.get("service").cloned() })
            }
            _ => None,
        }
    }
}

/// `key="value", key2=value2`, quotes optional, commas inside quotes kept.
fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { break };
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(key, value.to_string());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        assert_eq!(Challenge::parse(r#"Basic realm="registry""#), Some(Challenge::Basic));
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.io/token",service="registry.io",scope="repository:a:pull,push""#
            ),
            Some(Challenge::Bearer { realm: "https://auth.io/token".into(), service: Some("registry.io".into()) })
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn docker_configs_give_the_registry_credentials() {
        let config = br#"{"auths":{"https://127.0.0.1:5000/v1/":{"auth":"dXNlcjpwYXNz"},"other.io":{"username":"a","password":"b"}}}"#;
        let creds = Credentials::from_docker_config(config, "127.0.0.1:5000").unwrap().unwrap();
        assert_eq!((creds.username.as_str(), creds.password.as_str()), ("user", "pass"));
        let creds = Credentials::from_docker_config(config, "other.io").unwrap().unwrap();
        assert_eq!((creds.username.as_str(), creds.password.as_str()), ("a", "b"));
        assert!(Credentials::from_docker_config(config, "ghcr.io").unwrap().is_none());
        assert!(Credentials::from_docker_config(b"{", "x").is_err());
    }
}
