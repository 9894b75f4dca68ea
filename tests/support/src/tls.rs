//! TLS for test servers: a fresh CA and a serving certificate, and a loop
//! that serves an axum router over rustls.

use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A serving identity signed by a fresh CA.
pub struct ServerTls {
    /// The CA certificate clients should trust.
    pub ca_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving key (PKCS#8).
    pub key_pem: String,
    /// An acceptor presenting the serving certificate.
    pub acceptor: TlsAcceptor,
    /// A client certificate signed by the same CA, and its key (PKCS#8),
    /// for servers that require one ([`ServerTls::generate_mtls`]).
    pub client: Option<(String, String)>,
}

impl ServerTls {
    /// Generates a CA and a certificate for `names` (DNS names or IPs).
    pub fn generate(names: &[&str]) -> Result<Self> {
        Self::build(names, false)
    }

    /// As [`ServerTls::generate`], with a client certificate from the same CA
    /// that the acceptor requires of every client (mutual TLS).
    pub fn generate_mtls(names: &[&str]) -> Result<Self> {
        Self::build(names, true)
    }

    fn build(names: &[&str], mutual: bool) -> Result<Self> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name.push(DnType::CommonName, "ferry-test-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let mut params = CertificateParams::new(Vec::<String>::new())?;
        for name in names {
            match name.parse::<std::net::IpAddr>() {
                Ok(ip) => params.subject_alt_names.push(SanType::IpAddress(ip)),
                Err(_) => params.subject_alt_names.push(SanType::DnsName((*name).try_into()?)),
            }
        }
        params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("localhost"));
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;

        let client = if mutual {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.distinguished_name.push(DnType::CommonName, "ferry-test-client");
            let client_key = KeyPair::generate()?;
            let client_cert = params.signed_by(&client_key, &issuer)?;
            Some((client_cert.pem(), client_key.serialize_pem()))
        } else {
            None
        };

        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS versions")?;
        let builder = if mutual {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from(ca_cert.der().to_vec())).context("client CA")?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .context("client verifier")?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder.with_single_cert(chain, private).context("serving certificate")?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
            client,
        })
    }
}

/// Serves `router` over TLS on `listener` until the task is dropped.
pub async fn serve_tls(listener: TcpListener, acceptor: TlsAcceptor, router: Router) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else { return };
            let service = TowerToHyperService::new(router);
            let _ = Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(tls), service).await;
        });
    }
}
