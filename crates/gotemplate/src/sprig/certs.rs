//! Sprig's certificate generators (`genCA`, `genSelfSignedCert`,
//! `genSignedCert`, their `WithKey` forms, `genPrivateKey`). Output is random
//! in Helm too; Ferry's keys are ECDSA P-256 in PKCS#8 PEM where Sprig makes
//! RSA-2048 in PKCS#1, which consumers of these PEMs accept alike.

use std::any::Any;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use super::strval;
use crate::error::FuncError;
use crate::func::{FuncMap, Function};
use crate::sig::Ty;
use crate::value::{Object, Value};

/// Sprig's `certificate` struct: `.Cert` and `.Key` as PEM.
#[derive(Debug)]
struct Certificate {
    cert: String,
    key: String,
}

const CERT: Ty = Ty::Object("sprig.certificate");

impl Object for Certificate {
    fn type_name(&self) -> &str {
        "sprig.certificate"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(Value::string(&self.cert)),
            "Key" => Some(Value::string(&self.key)),
            _ => None,
        }
    }

    fn display(&self) -> String {
        format!("{{{} {}}}", self.cert, self.key)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn err(e: impl std::fmt::Display) -> FuncError {
    FuncError::msg(format!("error generating certificate: {e}"))
}

fn params(cn: &str, ips: &Value, dns: &Value, days: i64, ca: bool) -> Result<CertificateParams, FuncError> {
    let mut names = Vec::new();
    for list in [ips, dns] {
        if let Value::List(items, _) = list {
            names.extend(items.iter().filter(|v| !v.is_nil()).map(strval));
        }
    }
    let mut p = CertificateParams::new(names).map_err(err)?;
    p.distinguished_name.push(DnType::CommonName, cn);
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now;
    p.not_after = now + time::Duration::days(days);
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages =
            vec![KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyCertSign];
    } else {
        p.key_usages = vec![KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages =
            vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    }
    Ok(p)
}

fn key(pem: Option<&Value>) -> Result<KeyPair, FuncError> {
    match pem {
        Some(v) => KeyPair::from_pem(v.as_str().unwrap_or_default())
            .map_err(|e| FuncError::msg(format!("error parsing private key: {e}"))),
        None => KeyPair::generate().map_err(err),
    }
}

fn self_signed(p: CertificateParams, key: KeyPair) -> Result<Value, FuncError> {
    let cert = p.self_signed(&key).map_err(err)?;
    Ok(Value::Object(Arc::new(Certificate { cert: cert.pem(), key: key.serialize_pem() })))
}

fn signed(p: CertificateParams, key: KeyPair, ca: &Value) -> Result<Value, FuncError> {
    let Some(ca) = (match ca {
        Value::Object(o) => o.as_any().downcast_ref::<Certificate>(),
        _ => None,
    }) else {
        return Err(FuncError::msg("error generating certificate: the CA is not a certificate"));
    };
    let ca_key = KeyPair::from_pem(&ca.key).map_err(err)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert, ca_key).map_err(err)?;
    let cert = p.signed_by(&key, &issuer).map_err(err)?;
    Ok(Value::Object(Arc::new(Certificate { cert: cert.pem(), key: key.serialize_pem() })))
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// Sprig's `buildCustomCert`: a certificate object from base64 PEMs, checked
/// to parse.
fn build_custom(b64cert: &str, b64key: &str) -> Result<Value, FuncError> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let cert = b64.decode(b64cert).map_err(|_| FuncError::msg("unable to decode base64 certificate"))?;
    let key = b64.decode(b64key).map_err(|_| FuncError::msg("unable to decode base64 private key"))?;
    let cert = String::from_utf8(cert).map_err(|_| FuncError::msg("unable to decode certificate"))?;
    let key = String::from_utf8(key).map_err(|_| FuncError::msg("unable to decode base64 private key"))?;
    let parsed_key = KeyPair::from_pem(&key).map_err(|e| FuncError::msg(format!("error parsing private key: {e}")))?;
    Issuer::from_ca_cert_pem(&cert, parsed_key)
        .map_err(|e| FuncError::msg(format!("error parsing certificate: decodedCert.Bytes: {e}")))?;
    Ok(Value::Object(Arc::new(Certificate { cert, key })))
}

pub(super) fn register(m: &mut FuncMap) {
    m.insert("buildCustomCert", Function::fixed(&[Ty::String, Ty::String], |a| build_custom(s(&a[0]), s(&a[1]))));
    use Ty::{Int, Slice, String as Str};
    let none = Value::Nil;
    m.insert(
        "genCA",
        Function::fixed(&[Str, Int], move |a| {
            self_signed(params(s(&a[0]), &Value::Nil, &Value::Nil, int(&a[1]), true)?, key(None)?)
        }),
    );
    m.insert(
        "genCAWithKey",
        Function::fixed(&[Str, Int, Str], move |a| {
            self_signed(params(s(&a[0]), &Value::Nil, &Value::Nil, int(&a[1]), true)?, key(Some(&a[2]))?)
        }),
    );
    m.insert(
        "genSelfSignedCert",
        Function::fixed(&[Str, Slice, Slice, Int], move |a| {
            self_signed(params(s(&a[0]), &a[1], &a[2], int(&a[3]), false)?, key(None)?)
        }),
    );
    m.insert(
        "genSelfSignedCertWithKey",
        Function::fixed(&[Str, Slice, Slice, Int, Str], move |a| {
            self_signed(params(s(&a[0]), &a[1], &a[2], int(&a[3]), false)?, key(Some(&a[4]))?)
        }),
    );
    m.insert(
        "genSignedCert",
        Function::fixed(&[Str, Slice, Slice, Int, CERT], move |a| {
            signed(params(s(&a[0]), &a[1], &a[2], int(&a[3]), false)?, key(None)?, &a[4])
        }),
    );
    m.insert(
        "genSignedCertWithKey",
        Function::fixed(&[Str, Slice, Slice, Int, CERT, Str], move |a| {
            signed(params(s(&a[0]), &a[1], &a[2], int(&a[3]), false)?, key(Some(&a[5]))?, &a[4])
        }),
    );
    m.insert(
        "genPrivateKey",
        Function::fixed(&[Str], move |a| {
            let _ = &none;
            match s(&a[0]) {
                "ecdsa" | "" => Ok(Value::from(KeyPair::generate().map_err(err)?.serialize_pem())),
                "ed25519" => Ok(Value::from(KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(err)?.serialize_pem())),
                other => Err(FuncError::msg(format!(
                    "genPrivateKey: {other} keys are not supported by Ferry (ecdsa, ed25519 are)"
                ))),
            }
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_signs_a_certificate() {
        let ca = self_signed(params("ca", &Value::Nil, &Value::Nil, 365, true).unwrap(), key(None).unwrap()).unwrap();
        let dns = Value::list(vec![Value::string("svc.ns.svc")]);
        let ips = Value::list(vec![Value::string("10.0.0.1")]);
        let leaf = signed(params("svc", &ips, &dns, 30, false).unwrap(), key(None).unwrap(), &ca).unwrap();
        let Value::Object(o) = leaf else { panic!("not an object") };
        let b64 = |v: Value| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap())
        };
        let Value::Object(c) = &ca else { panic!("not an object") };
        let rebuilt = build_custom(&b64(c.field("Cert").unwrap()), &b64(c.field("Key").unwrap())).unwrap();
        assert!(signed(params("x", &Value::Nil, &Value::Nil, 1, false).unwrap(), key(None).unwrap(), &rebuilt).is_ok());
        assert!(build_custom("!!", "").is_err());
        let cert = o.field("Cert").unwrap();
        assert!(cert.as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(o.field("Key").unwrap().as_str().unwrap().contains("PRIVATE KEY"));
    }
}
