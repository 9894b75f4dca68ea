//! Verifying the signatures of commits and tags against trusted keys, as
//! GitRepository `spec.verify` asks: PGP keys (`*.asc` entries of the
//! Secret) and SSH keys (`*.sshpub` entries, one `authorized_keys` line each).

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::types::KeyDetails;

/// Keys trusted to sign, read from the verification Secret.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    pgp: Vec<SignedPublicKey>,
    ssh: Vec<ssh_key::PublicKey>,
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The Secret holds no usable key.
    #[error("no trusted keys: the Secret needs '*.asc' (PGP) or '*.sshpub' (SSH) entries")]
    NoKeys,
    /// A key entry does not parse.
    #[error("invalid key in '{entry}': {message}")]
    InvalidKey {
        /// The Secret entry.
        entry: String,
        /// Why.
        message: String,
    },
    /// The object is not signed.
    #[error("{0} is not signed")]
    Unsigned(String),
    /// The signature does not parse.
    #[error("invalid signature on {object}: {message}")]
    InvalidSignature {
        /// The commit or tag.
        object: String,
        /// Why.
        message: String,
    },
    /// No trusted key verifies the signature.
    #[error("signature of {0} could not be verified with any trusted key")]
    Untrusted(String),
}

impl TrustedKeys {
    /// Reads the keys of a Secret's data: entries named `*.asc` hold armored
    /// PGP public keys (one or many), `*.sshpub` ones `authorized_keys` lines.
    /// Other entries are ignored.
    pub fn from_secret_data<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<Self, VerifyError> {
        let mut keys = Self::default();
        for (name, data) in entries {
            let invalid = |message: String| VerifyError::InvalidKey { entry: name.to_string(), message };
            if name.ends_with(".asc") {
                let parsed = SignedPublicKey::from_armor_many(data).map_err(|e| invalid(e.to_string()))?.0;
                for key in parsed {
                    keys.pgp.push(key.map_err(|e| invalid(e.to_string()))?);
                }
            } else if name.ends_with(".sshpub") {
                let text = String::from_utf8_lossy(data);
                for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                    keys.ssh.push(ssh_key::PublicKey::from_openssh(line).map_err(|e| invalid(e.to_string()))?);
                }
            }
        }
        if keys.pgp.is_empty() && keys.ssh.is_empty() {
            return Err(VerifyError::NoKeys);
        }
        Ok(keys)
    }

    /// Checks `signature` (armored PGP or SSH) over `payload`; returns the
    /// key that made it as Flux names it: the primary key's ID (16 upper-case
    /// hex digits) for PGP, the `SHA256:` fingerprint for SSH.
    pub fn verify(&self, object: &str, payload: &[u8], signature: Option<&str>) -> Result<String, VerifyError> {
        let Some(signature) = signature.filter(|s| !s.trim().is_empty()) else {
            return Err(VerifyError::Unsigned(object.to_string()));
        };
        let invalid = |message: String| VerifyError::InvalidSignature { object: object.to_string(), message };
        if signature.contains("-----BEGIN SSH SIGNATURE-----") {
            let sig = ssh_key::SshSig::from_pem(signature.trim()).map_err(|e| invalid(e.to_string()))?;
            for key in &self.ssh {
                if key.verify("git", payload, &sig).is_ok() {
                    return Ok(key.fingerprint(ssh_key::HashAlg::Sha256).to_string());
                }
            }
            return Err(VerifyError::Untrusted(object.to_string()));
        }
        let (sig, _) = DetachedSignature::from_string(signature.trim()).map_err(|e| invalid(e.to_string()))?;
        for key in &self.pgp {
            let id = hex_upper(key.primary_key.legacy_key_id().as_ref());
            if sig.verify(&key.primary_key, payload).is_ok()
                || key.public_subkeys.iter().any(|subkey| sig.verify(&subkey.key, payload).is_ok())
            {
                return Ok(id);
            }
        }
        Err(VerifyError::Untrusted(object.to_string()))
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
