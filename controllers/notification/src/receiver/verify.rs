//! Checks that a webhook call comes from who the Receiver's type says, as
//! Flux's receiver does: HMAC signatures and tokens compared in constant
//! time, and the `events` filter. Pure: headers and body in, verdict out.

use ferry_api_notification::receiver_types as types;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256, Sha512};

/// The receiver types Ferry verifies; the others are refused by the reconciler.
pub const SUPPORTED: &[&str] = &[
    types::GENERIC,
    types::GENERIC_HMAC,
    types::GITHUB,
    types::GITLAB,
    types::BITBUCKET,
    types::HARBOR,
    types::QUAY,
    types::DOCKERHUB,
    types::NEXUS,
    types::ACR,
];

/// Why a call was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The signature or token does not match: the caller is not who it says.
    #[error("{0}")]
    Unauthorized(String),
    /// The call is authentic but not acceptable (event not in `events`,
    /// undecodable payload).
    #[error("{0}")]
    Rejected(String),
}

/// Verifies a call of a Receiver of type `kind` with `token`, allowing only
/// `events` (all when empty).
pub fn verify(kind: &str, token: &str, events: &[String], headers: &HeaderMap, body: &[u8]) -> Result<(), Error> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    match kind {
        types::GENERIC => Ok(()),
        types::GENERIC_HMAC => validate_signature(header("X-Signature"), body, token.as_bytes())
            .map_err(|e| Error::Unauthorized(format!("unable to validate HMAC signature: {e}"))),
        types::GITHUB => {
            let signature = match header("X-Hub-Signature-256") {
                "" => header("X-Hub-Signature"),
                value => value,
            };
            validate_signature(signature, body, token.as_bytes())
                .map_err(|e| Error::Unauthorized(format!("the GitHub signature header is invalid, err: {e}")))?;
            allowed("GitHub", header("X-GitHub-Event"), events)
        }
        types::GITLAB => {
            if !constant_time_eq(header("X-Gitlab-Token").as_bytes(), token.as_bytes()) {
                return Err(Error::Unauthorized(
                    "the X-Gitlab-Token header value does not match the receiver token".into(),
                ));
            }
            allowed("GitLab", header("X-Gitlab-Event"), events)
        }
        types::BITBUCKET => {
            validate_signature(header("X-Hub-Signature"), body, token.as_bytes()).map_err(|e| {
                Error::Unauthorized(format!("the Bitbucket server signature header is invalid, err: {e}"))
            })?;
            allowed("Bitbucket server", header("X-Event-Key"), events)
        }
        types::HARBOR => {
            if !constant_time_eq(header("Authorization").as_bytes(), token.as_bytes()) {
                return Err(Error::Unauthorized(
                    "the Harbor Authorization header value does not match the receiver token".into(),
                ));
            }
            Ok(())
        }
        types::NEXUS => {
            let signature = header("X-Nexus-Webhook-Signature");
            if signature.is_empty() {
                return Err(Error::Unauthorized("the Nexus signature is missing from header".into()));
            }
            let valid = hex::decode(signature).is_ok_and(|sig| {
                let mut mac = <Hmac<sha1::Sha1>>::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
                mac.update(body);
                mac.verify_slice(&sig).is_ok()
            });
            if !valid {
                return Err(Error::Unauthorized("invalid Nexus signature".into()));
            }
            decodes::<serde_json::Value>("Nexus", body)
        }
        // These registries sign nothing: the secret path is the credential, as in Flux.
        types::QUAY | types::DOCKERHUB | types::ACR => decodes::<serde_json::Value>(kind, body),
        other => Err(Error::Rejected(format!("recevier type \"{other}\" not supported"))),
    }
}

fn decodes<T: serde::de::DeserializeOwned>(who: &str, body: &[u8]) -> Result<(), Error> {
    serde_json::from_slice::<T>(body)
        .map(|_| ())
        .map_err(|e| Error::Rejected(format!("cannot decode {who} webhook payload: {e}")))
}

fn allowed(who: &str, event: &str, events: &[String]) -> Result<(), Error> {
    if events.is_empty() || events.iter().any(|e| e.eq_ignore_ascii_case(event)) {
        Ok(())
    } else {
        Err(Error::Rejected(format!("the {who} event \"{event}\" is not authorised")))
    }
}

/// Checks `sha1=<hex>`, `sha256=<hex>` or `sha512=<hex>` over `body` with
/// `key`, in constant time (go-github's `ValidateSignature`).
pub fn validate_signature(signature: &str, body: &[u8], key: &[u8]) -> Result<(), String> {
    let (algorithm, hex_mac) = signature.split_once('=').ok_or("missing signature")?;
    let expected = hex::decode(hex_mac).map_err(|e| format!("error decoding signature {signature:?}: {e}"))?;
    let valid = match algorithm {
        "sha1" => verify_mac::<Hmac<sha1::Sha1>>(key, body, &expected),
        "sha256" => verify_mac::<Hmac<Sha256>>(key, body, &expected),
        "sha512" => verify_mac::<Hmac<Sha512>>(key, body, &expected),
        other => return Err(format!("unknown X-Hub-Signature type prefix {other:?}")),
    };
    if valid { Ok(()) } else { Err("payload signature check failed".into()) }
}

fn verify_mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], body: &[u8], expected: &[u8]) -> bool {
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else { return false };
    mac.update(body);
    mac.verify_slice(expected).is_ok()
}

/// Compares two secrets in time independent of where they differ: both
/// are hashed first, so even their lengths do not show.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(key: &str, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256>>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn github_checks_the_signature_and_the_event() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = headers(&[("X-Hub-Signature-256", &sign("tok", body)), ("X-GitHub-Event", "push")]);
        assert_eq!(verify("github", "tok", &["push".into()], &good, body), Ok(()));
        assert!(matches!(verify("github", "other", &[], &good, body), Err(Error::Unauthorized(_))));
        assert!(matches!(verify("github", "tok", &[], &good, b"tampered"), Err(Error::Unauthorized(_))));
        assert!(matches!(verify("github", "tok", &["ping".into()], &good, body), Err(Error::Rejected(_))));
        assert!(matches!(verify("github", "tok", &[], &HeaderMap::new(), body), Err(Error::Unauthorized(_))));
    }

    #[test]
    fn generic_hmac_gitlab_harbor_nexus() {
        let body = b"{}";
        let hmac = headers(&[("X-Signature", &sign("tok", body))]);
        assert_eq!(verify("generic-hmac", "tok", &[], &hmac, body), Ok(()));
        assert!(verify("generic-hmac", "bad", &[], &hmac, body).is_err());
        let gitlab = headers(&[("X-Gitlab-Token", "tok"), ("X-Gitlab-Event", "Push Hook")]);
        assert_eq!(verify("gitlab", "tok", &["push hook".into()], &gitlab, body), Ok(()));
        assert!(matches!(verify("gitlab", "tok2", &[], &gitlab, body), Err(Error::Unauthorized(_))));
        assert_eq!(verify("harbor", "tok", &[], &headers(&[("Authorization", "tok")]), body), Ok(()));
        assert!(verify("harbor", "tok", &[], &headers(&[("Authorization", "to")]), body).is_err());
        let mut mac = <Hmac<sha1::Sha1>>::new_from_slice(b"tok").unwrap();
        mac.update(body);
        let nexus = headers(&[("X-Nexus-Webhook-Signature", &hex::encode(mac.finalize().into_bytes()))]);
        assert_eq!(verify("nexus", "tok", &[], &nexus, body), Ok(()));
        assert!(verify("quay", "tok", &[], &HeaderMap::new(), b"not json").is_err());
    }
}
