//! The credentials a HelmRepository's Secrets describe, read as Flux's
//! `runtime/secrets` reads them: basic auth from `secretRef`
//! (`username` and `password`, both or neither), TLS from `certSecretRef`
//! (`ca.crt`, `tls.crt`, `tls.key`, or the legacy `caFile`, `certFile`,
//! `keyFile`), and, deprecated, TLS from `secretRef` when there is no
//! `certSecretRef`. A user CA extends the system roots, as Flux's
//! `WithSystemCertPool` does.

use ferry_sdk::secret::Data;

/// What is wrong with a Secret's keys, in Flux's words.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One of `username`/`password` without the other.
    #[error("secret '{secret}': malformed basic auth - has '{present}' but missing '{missing}'")]
    MalformedBasicAuth {
        /// `<namespace>/<name>`.
        secret: String,
        /// The key given.
        present: &'static str,
        /// The key missing.
        missing: &'static str,
    },
    /// A certificate without its key, or the reverse.
    #[error("secret '{secret}' contains '{present}' but missing '{missing}'")]
    HalfPair {
        /// `<namespace>/<name>`.
        secret: String,
        /// The key given.
        present: &'static str,
        /// The key missing.
        missing: &'static str,
    },
    /// A `certSecretRef` with neither a CA nor a client certificate.
    #[error("secret '{secret}' must contain either 'ca.crt' or both 'tls.crt' and 'tls.key'")]
    NoTls {
        /// `<namespace>/<name>`.
        secret: String,
    },
    /// `ca.crt` holds no PEM certificate.
    #[error("secret '{secret}': failed to parse CA certificate: {source}")]
    InvalidCa {
        /// `<namespace>/<name>`.
        secret: String,
        /// The parser's error.
        source: reqwest::Error,
    },
    /// `ca.crt` holds no certificate at all.
    #[error("secret '{secret}': failed to parse CA certificate: no PEM certificate found")]
    NoCa {
        /// `<namespace>/<name>`.
        secret: String,
    },
    /// `tls.crt` and `tls.key` are no usable pair.
    #[error("secret '{secret}': invalid TLS certificate and key pair: {source}")]
    InvalidPair {
        /// `<namespace>/<name>`.
        secret: String,
        /// The parser's error.
        source: reqwest::Error,
    },
}

/// TLS settings: roots added to the system's, and a client identity.
#[derive(Clone, Default)]
pub struct Tls {
    /// Extra trusted roots.
    pub roots: Vec<reqwest::Certificate>,
    /// The client certificate and key (mTLS).
    pub identity: Option<reqwest::Identity>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("roots", &self.roots.len()).field("identity", &self.identity.is_some()).finish()
    }
}

/// Basic-auth credentials. Debug never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Basic {
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: String,
}

impl std::fmt::Debug for Basic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Basic").field("username", &self.username).finish_non_exhaustive()
    }
}

fn text(data: &Data, key: &str) -> Option<String> {
    data.get(key).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The value of `key`, else of its legacy name (Flux reads both).
fn key_or_legacy<'d>(data: &'d Data, key: &str, legacy: &str) -> Option<&'d [u8]> {
    data.get(key).or_else(|| data.get(legacy)).map(Vec::as_slice)
}

/// Basic auth from a `secretRef`: `None` when neither key is there.
pub fn basic_from_secret(secret: &str, data: &Data) -> Result<Option<Basic>, Error> {
    match (text(data, "username"), text(data, "password")) {
        (None, None) => Ok(None),
        (Some(_), None) => {
            Err(Error::MalformedBasicAuth { secret: secret.into(), present: "username", missing: "password" })
        }
        (None, Some(_)) => {
            Err(Error::MalformedBasicAuth { secret: secret.into(), present: "password", missing: "username" })
        }
        (Some(username), Some(password)) => Ok(Some(Basic { username, password })),
    }
}

/// TLS from a Secret. For a `certSecretRef` (`required`) a Secret without
/// TLS keys or with half a pair is an error; for a `secretRef` those are
/// ignored (`None`), as Flux ignores them there, but unparsable PEM is not.
pub fn tls_from_secret(secret: &str, data: &Data, required: bool) -> Result<Option<Tls>, Error> {
    let ca = key_or_legacy(data, "ca.crt", "caFile").filter(|v| !v.is_empty());
    let cert = key_or_legacy(data, "tls.crt", "certFile").filter(|v| !v.is_empty());
    let key = key_or_legacy(data, "tls.key", "keyFile").filter(|v| !v.is_empty());
    let shape_error = match (cert, key, ca) {
        (Some(_), None, _) => Some(Error::HalfPair { secret: secret.into(), present: "tls.crt", missing: "tls.key" }),
        (None, Some(_), _) => Some(Error::HalfPair { secret: secret.into(), present: "tls.key", missing: "tls.crt" }),
        (None, None, None) => Some(Error::NoTls { secret: secret.into() }),
        _ => None,
    };
    if let Some(error) = shape_error {
        return if required { Err(error) } else { Ok(None) };
    }
    let mut tls = Tls::default();
    if let Some(ca) = ca {
        tls.roots = reqwest::Certificate::from_pem_bundle(ca)
            .map_err(|source| Error::InvalidCa { secret: secret.into(), source })?;
        if tls.roots.is_empty() {
            return Err(Error::NoCa { secret: secret.into() });
        }
    }
    if let (Some(cert), Some(key)) = (cert, key) {
        let mut pem = cert.to_vec();
        pem.push(b'\n');
        pem.extend_from_slice(key);
        tls.identity = Some(
            reqwest::Identity::from_pem(&pem).map_err(|source| Error::InvalidPair { secret: secret.into(), source })?,
        );
    }
    Ok(Some(tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> Data {
        pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn basic_auth_needs_both_keys() {
        assert!(basic_from_secret("ns/s", &data(&[])).unwrap().is_none());
        let basic = basic_from_secret("ns/s", &data(&[("username", "u"), ("password", "p")])).unwrap().unwrap();
        assert_eq!((basic.username.as_str(), basic.password.as_str()), ("u", "p"));
        let error = basic_from_secret("ns/s", &data(&[("username", "u")])).unwrap_err();
        assert_eq!(error.to_string(), "secret 'ns/s': malformed basic auth - has 'username' but missing 'password'");
    }

    #[test]
    fn tls_keys_are_checked_where_they_are_required() {
        let error = tls_from_secret("ns/s", &data(&[]), true).unwrap_err();
        assert_eq!(error.to_string(), "secret 'ns/s' must contain either 'ca.crt' or both 'tls.crt' and 'tls.key'");
        assert!(tls_from_secret("ns/s", &data(&[("username", "u")]), false).unwrap().is_none());
        let error = tls_from_secret("ns/s", &data(&[("tls.crt", "x")]), true).unwrap_err();
        assert_eq!(error.to_string(), "secret 'ns/s' contains 'tls.crt' but missing 'tls.key'");
        assert!(tls_from_secret("ns/s", &data(&[("ca.crt", "not pem")]), true).is_err());
    }
}
