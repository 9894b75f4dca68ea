//! The local control plane's certificates: one CA, the API server's serving
//! certificate, a client certificate per component, and the service-account
//! signing key.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};

/// A client identity: the file stem, the user name (CN) and its group (O).
pub struct Identity {
    pub stem: &'static str,
    pub user: &'static str,
    pub group: Option<&'static str>,
}

/// The identities the control plane's components and the admin use.
pub const IDENTITIES: &[Identity] = &[
    Identity { stem: "admin", user: "ferry-admin", group: Some("system:masters") },
    Identity { stem: "controller-manager", user: "system:kube-controller-manager", group: None },
    Identity { stem: "scheduler", user: "system:kube-scheduler", group: None },
    Identity { stem: "kwok", user: "ferry-kwok", group: Some("system:masters") },
];

/// Writes `ca.crt`, `apiserver.{crt,key}`, `<identity>.{crt,key}` and
/// `sa.{key,pub}` into `dir`.
pub fn generate(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::CommonName, "ferry-local-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    write(dir, "ca.crt", &ca_cert.pem())?;
    write(dir, "ca.key", &ca_key.serialize_pem())?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut serving = CertificateParams::new(vec![
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        "kubernetes.default.svc.cluster.local".to_string(),
    ])?;
    serving.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
    serving.subject_alt_names.push(SanType::IpAddress([10, 96, 0, 1].into()));
    serving.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    serving.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = serving.signed_by(&key, &issuer)?;
    write(dir, "apiserver.crt", &cert.pem())?;
    write(dir, "apiserver.key", &key.serialize_pem())?;

    for identity in IDENTITIES {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, identity.user);
        if let Some(group) = identity.group {
            params.distinguished_name.push(DnType::OrganizationName, group);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        write(dir, &format!("{}.crt", identity.stem), &cert.pem())?;
        write(dir, &format!("{}.key", identity.stem), &key.serialize_pem())?;
    }

    let sa = KeyPair::generate()?;
    write(dir, "sa.key", &sa.serialize_pem())?;
    write(dir, "sa.pub", &sa.public_key_pem())?;
    Ok(())
}

fn write(dir: &Path, name: &str, contents: &str) -> Result<()> {
    let path = dir.join(name);
    fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))
}
