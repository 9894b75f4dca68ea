//! A GitRepository's Secrets, read into git credentials the way Flux reads
//! them.

use ferry_git::Auth;
use ferry_sdk::secret::Data;

/// Why a Secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A field that must be text is not UTF-8.
    #[error("secret field '{0}' is not valid UTF-8")]
    NotText(String),
    /// Fields that only make sense together are incomplete.
    #[error("{0}")]
    Incomplete(String),
    /// The proxy Secret has no address.
    #[error("invalid proxy secret: 'address' is required")]
    NoProxyAddress,
}

fn text(data: &Data, key: &str) -> Result<Option<String>, Error> {
    data.get(key)
        .map(|value| String::from_utf8(value.clone()).map_err(|_| Error::NotText(key.to_string())))
        .transpose()
        .map(|v| v.filter(|s| !s.is_empty()))
}

fn bytes(data: &Data, key: &str) -> Option<Vec<u8>> {
    data.get(key).cloned().filter(|v| !v.is_empty())
}

/// Credentials from a `spec.secretRef` Secret's data: `username`/`password`
/// (basic auth), `bearerToken`, `ca.crt` (or the older `caFile`),
/// `tls.crt`/`tls.key` (mTLS), and for SSH `identity`, `known_hosts` and
/// `password` (the key's passphrase).
pub fn from_secret(data: &Data, ssh: bool) -> Result<Auth, Error> {
    let mut auth = Auth { ca_pem: bytes(data, "ca.crt").or_else(|| bytes(data, "caFile")), ..Auth::default() };
    auth.cert_pem = bytes(data, "tls.crt");
    auth.key_pem = bytes(data, "tls.key");
    if auth.cert_pem.is_some() != auth.key_pem.is_some() {
        return Err(Error::Incomplete("'tls.crt' and 'tls.key' must both be set for mutual TLS".into()));
    }
    if ssh {
        auth.ssh_identity = bytes(data, "identity");
        auth.ssh_known_hosts = bytes(data, "known_hosts");
        auth.ssh_passphrase = text(data, "password")?;
        if auth.ssh_identity.is_some() && auth.ssh_known_hosts.is_none() {
            return Err(Error::Incomplete("'known_hosts' is required with an SSH 'identity'".into()));
        }
    } else {
        auth.username = text(data, "username")?;
        auth.password = text(data, "password")?;
        auth.bearer_token = text(data, "bearerToken")?;
        if auth.username.is_some() != auth.password.is_some() {
            return Err(Error::Incomplete("'username' and 'password' must both be set for basic auth".into()));
        }
        if auth.username.is_some() && auth.bearer_token.is_some() {
            return Err(Error::Incomplete("basic auth and 'bearerToken' are mutually exclusive".into()));
        }
    }
    Ok(auth)
}

/// The proxy URL from a `spec.proxySecretRef` Secret's data: `address`, with
/// `username` and `password` when given, percent-encoded into the URL's
/// user info as Go's `url.UserPassword` does (a password with `@`, `:` or
/// `/` would otherwise change the proxy's address).
pub fn proxy_from_secret(data: &Data) -> Result<String, Error> {
    let address = text(data, "address")?.ok_or(Error::NoProxyAddress)?;
    let Some(user) = text(data, "username")? else { return Ok(address) };
    let password = text(data, "password")?.unwrap_or_default();
    let userinfo = format!("{}:{}", percent_encode(&user), percent_encode(&password));
    match address.split_once("://") {
        Some((scheme, rest)) => Ok(format!("{scheme}://{userinfo}@{rest}")),
        None => Ok(format!("http://{userinfo}@{address}")),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> Data {
        pairs.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn reads_flux_secret_fields() {
        let auth = from_secret(&data(&[("username", "git"), ("password", "pw"), ("ca.crt", "PEM")]), false).unwrap();
        assert_eq!((auth.username.as_deref(), auth.password.as_deref()), (Some("git"), Some("pw")));
        assert_eq!(auth.ca_pem.as_deref(), Some(&b"PEM"[..]));
        let auth = from_secret(&data(&[("bearerToken", "t")]), false).unwrap();
        assert_eq!(auth.bearer_token.as_deref(), Some("t"));
        let auth =
            from_secret(&data(&[("identity", "KEY"), ("known_hosts", "host"), ("password", "phrase")]), true).unwrap();
        assert_eq!(auth.ssh_passphrase.as_deref(), Some("phrase"));
        assert!(auth.username.is_none() && auth.ssh_identity.is_some());
        let legacy = from_secret(&data(&[("caFile", "OLD")]), false).unwrap();
        assert_eq!(legacy.ca_pem.as_deref(), Some(&b"OLD"[..]));
    }

    #[test]
    fn incomplete_secrets_are_errors() {
        assert!(from_secret(&data(&[("username", "git")]), false).is_err());
        assert!(from_secret(&data(&[("tls.crt", "c")]), false).is_err());
        assert!(from_secret(&data(&[("identity", "k")]), true).is_err());
        assert!(from_secret(&data(&[("username", "a"), ("password", "b"), ("bearerToken", "c")]), false).is_err());
        let mut bad = data(&[]);
        bad.insert("username".into(), vec![0xff, 0xfe]);
        bad.insert("password".into(), b"x".to_vec());
        assert!(matches!(from_secret(&bad, false), Err(Error::NotText(field)) if field == "username"));
    }

    #[test]
    fn proxy_urls() {
        assert_eq!(proxy_from_secret(&data(&[("address", "http://proxy:3128")])).unwrap(), "http://proxy:3128");
        assert_eq!(
            proxy_from_secret(&data(&[("address", "http://proxy:3128"), ("username", "u"), ("password", "p")]))
                .unwrap(),
            "http://u:p@proxy:3128"
        );
        assert_eq!(
            proxy_from_secret(&data(&[("address", "proxy:3128"), ("username", "dom\\me"), ("password", "p@ss:w/rd")]))
                .unwrap(),
            "http://dom%5Cme:p%40ss%3Aw%2Frd@proxy:3128"
        );
        assert_eq!(proxy_from_secret(&data(&[])), Err(Error::NoProxyAddress));
    }
}
