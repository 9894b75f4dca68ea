//! Notation verification (`verify.provider: notation`) of OCIRepositories
//! and OCI HelmCharts on the local control plane: signatures made here as
//! the Notary Project signature specification describes them (a JWS
//! envelope in flattened JSON, an ES256 signature by a code signing
//! certificate of a CA made here, stored in a signature manifest found
//! through the referrers tag schema of a real docker-registry), checked
//! against the trust policy and certificates of a Secret.

mod support;

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use ferry_api_source::{HelmChart, OCIRepository};
use ferry_oci::{Client, ClientOptions, Descriptor, Manifest, Repository, media_type};
use ferry_testenv::TestNamespace;
use ferry_testenv::registry::{Registry, RegistryOptions};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use sha2::Digest as _;
use support::{
    apply_secret, apply_source, condition, install_crd, start_controller, wait_condition as wait, wait_until,
};

/// A CA and a code signing certificate it issued, with the signer's key.
struct Signer {
    ca_pem: String,
    chain: Vec<Vec<u8>>,
    key: EcdsaKeyPair,
}

impl Signer {
    /// A CA `ca` and a leaf with subject `C=US, ST=WA, O=<org>, CN=signer`.
    fn new(ca: &str, org: &str) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(DnType::CountryName, "US");
        ca_params.distinguished_name.push(DnType::OrganizationName, ca);
        ca_params.distinguished_name.push(DnType::CommonName, ca);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CountryName, "US");
        params.distinguished_name.push(DnType::StateOrProvinceName, "WA");
        params.distinguished_name.push(DnType::OrganizationName, org);
        params.distinguished_name.push(DnType::CommonName, "signer");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        let leaf = params.signed_by(&leaf_key, &issuer).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &leaf_key.serialize_der(), &rng).unwrap();
        Self { ca_pem: ca_cert.pem(), chain: vec![leaf.der().to_vec(), ca_cert.der().to_vec()], key }
    }

    /// A JWS envelope signing `target` under the `notary.x509` scheme, as
    /// the JWS envelope specification lays it out.
    fn envelope(&self, target: &Descriptor) -> Vec<u8> {
        let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload = serde_json::json!({"targetArtifact": {
            "mediaType": target.media_type, "digest": target.digest, "size": target.size,
        }});
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let protected = serde_json::json!({
            "alg": "ES256",
            "cty": "application/vnd.cncf.notary.payload.v1+json",
            "io.cncf.notary.signingScheme": "notary.x509",
            "io.cncf.notary.signingTime": ferry_oci::notation::rfc3339(now),
            "crit": ["io.cncf.notary.signingScheme"],
        });
        let protected = b64url.encode(serde_json::to_vec(&protected).unwrap());
        let payload = b64url.encode(serde_json::to_vec(&payload).unwrap());
        let input = format!("{protected}.{payload}");
        let signature = self.key.sign(&ring::rand::SystemRandom::new(), input.as_bytes()).unwrap();
        serde_json::to_vec(&serde_json::json!({
            "payload": payload,
            "protected": protected,
            "header": {
                "x5c": self.chain.iter().map(|c| b64.encode(c)).collect::<Vec<_>>(),
                "io.cncf.notary.signingAgent": "ferry-tests",
            },
            "signature": b64url.encode(signature.as_ref()),
        }))
        .unwrap()
    }

    /// Signs the manifest `digest` of the repository of `client`.
    async fn sign(&self, client: &Client, digest: &str) {
        let (_, body, _) = client.manifest_bytes(digest).await.unwrap();
        let target = Descriptor {
            media_type: media_type::OCI_MANIFEST.into(),
            digest: digest.into(),
            size: body.len() as u64,
            annotations: None,
        };
        let thumbprints: Vec<String> = self.chain.iter().map(|c| hex::encode_upper(sha2::Sha256::digest(c))).collect();
        let annotations = BTreeMap::from([(
            ferry_oci::notation::THUMBPRINT_ANNOTATION.to_string(),
            serde_json::to_string(&thumbprints).unwrap(),
        )]);
        let envelope = self.envelope(&target);
        ferry_oci::notation::push_signature(
            client,
            &target,
            envelope,
            ferry_oci::notation::JWS_MEDIA_TYPE,
            annotations,
        )
        .await
        .unwrap();
    }
}

/// Pushes an artifact with one gzipped tarball layer (its content `tag`)
/// under `tag`; returns its digest.
async fn push_artifact(client: &Client, tag: &str) -> String {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()));
    let mut header = tar::Header::new_gnu();
    header.set_size(tag.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "version.txt", tag.as_bytes()).unwrap();
    let layer = Bytes::from(tar.into_inner().unwrap().finish().unwrap());
    let metadata = ferry_oci::flux::Metadata {
        source: "https://github.com/org/app".into(),
        revision: tag.into(),
        created: String::new(),
    };
    ferry_oci::flux::push(client, tag, layer, &metadata).await.unwrap()
}

/// Pushes a chart as Helm stores it; returns its digest.
async fn push_chart(client: &Client, version: &str) -> String {
    let file = |path: &str, data: &str| ferry_helm::chart::File { name: path.into(), data: data.as_bytes().to_vec() };
    let files = vec![
        file("Chart.yaml", &format!("apiVersion: v2\nname: app\nversion: {version}\n")),
        file("values.yaml", "replicas: 1\n"),
    ];
    let chart = ferry_helm::chart::load::load_files(files).unwrap();
    let archive = Bytes::from(ferry_helm::archive::write::package(&chart, 1_700_000_000).unwrap());
    let config = Bytes::from(format!(r#"{{"name":"app","version":"{version}","apiVersion":"v2"}}"#));
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        config: Descriptor {
            media_type: ferry_source_controller::helmchart::oci::CHART_CONFIG_MEDIA_TYPE.into(),
            digest: client.push_blob(config.clone()).await.unwrap(),
            size: config.len() as u64,
            annotations: None,
        },
        layers: vec![Descriptor {
            media_type: ferry_source_controller::helmchart::oci::CHART_LAYER_MEDIA_TYPE.into(),
            digest: client.push_blob(archive.clone()).await.unwrap(),
            size: archive.len() as u64,
            annotations: None,
        }],
        annotations: None,
    };
    let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    client.push_manifest(version, bytes, media_type::OCI_MANIFEST).await.unwrap()
}

fn client(registry: &Registry, path: &str) -> Client {
    Client::new(Repository::parse(&format!("{}/{path}", registry.host())).unwrap(), ClientOptions::default()).unwrap()
}

/// A trust policy for the two test repositories at `level`, trusting `identity`.
fn trust_policy(registry: &Registry, level: &str, identity: &str) -> String {
    serde_json::json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": "ferry",
            "registryScopes": [format!("{}/org/app", registry.host()), format!("{}/charts/app", registry.host())],
            "signatureVerification": {"level": level},
            "trustStores": ["ca:ferry"],
            "trustedIdentities": [identity],
        }],
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn notation_signatures_are_verified_against_the_trust_policy() {
    let ns = TestNamespace::new("notation").await.unwrap();
    install_crd(ns.client()).await;
    let registry = Registry::start(RegistryOptions::default()).await.unwrap();
    let signer = Signer::new("Ferry Test CA", "Ferry Test");
    let app = client(&registry, "org/app");
    let signed = push_artifact(&app, "v1.0.0").await;
    signer.sign(&app, &signed).await;
    push_artifact(&app, "v2.0.0").await;
    let charts = client(&registry, "charts/app");
    let chart = push_chart(&charts, "1.0.0").await;
    signer.sign(&charts, &chart).await;
    let controller = start_controller(ns.client(), ns.name()).await;

    let trusted = "x509.subject: C=US, ST=WA, O=Ferry Test";
    let secret = |policy: String, ca: &str| serde_json::json!({"trustpolicy.json": policy, "ca.crt": ca});
    apply_secret(&ns, "notation", secret(trust_policy(&registry, "strict", trusted), &signer.ca_pem)).await;
    let url = format!("oci://{}/org/app", registry.host());
    let verify = |secret: &str| serde_json::json!({"provider": "notation", "secretRef": {"name": secret}});
    let repos = ns.api::<OCIRepository>();

    // A signature of the CA's signer for the tag: verified.
    apply_source(
        &ns,
        "OCIRepository",
        "signed",
        serde_json::json!({"url": url, "ref": {"tag": "v1.0.0"}, "verify": verify("notation")}),
    )
    .await;
    let verified = wait(&repos, "signed", "SourceVerified", "True", "Succeeded").await;
    assert_eq!(
        condition(&verified, "SourceVerified").unwrap().2,
        format!("verified signature of revision v1.0.0@{signed}")
    );
    wait(&repos, "signed", "Ready", "True", "Succeeded").await;

    // An unsigned tag is refused.
    apply_source(
        &ns,
        "OCIRepository",
        "unsigned",
        serde_json::json!({"url": url, "ref": {"tag": "v2.0.0"}, "verify": verify("notation")}),
    )
    .await;
    let unsigned = wait(&repos, "unsigned", "SourceVerified", "False", "VerificationError").await;
    let message = condition(&unsigned, "SourceVerified").unwrap().2;
    assert!(
        message
            .starts_with("failed to verify the signature using provider 'notation': no signature is associated with"),
        "{message}"
    );
    assert!(unsigned.status.unwrap().artifact.is_none());

    // Another identity, or another CA: refused by a strict policy.
    let other = "x509.subject: C=US, ST=WA, O=Someone Else";
    apply_secret(&ns, "identity", secret(trust_policy(&registry, "strict", other), &signer.ca_pem)).await;
    apply_source(
        &ns,
        "OCIRepository",
        "identity",
        serde_json::json!({"url": url, "ref": {"tag": "v1.0.0"}, "verify": verify("identity")}),
    )
    .await;
    let refused = wait(&repos, "identity", "SourceVerified", "False", "VerificationError").await;
    let message = condition(&refused, "SourceVerified").unwrap().2;
    assert!(message.contains("signature verification failed for all the signatures associated with"), "{message}");
    assert!(message.contains("authenticity validation failed: signing certificate from the digital signature does not match the X.509 trusted identities"), "{message}");
    let stranger = Signer::new("Other CA", "Ferry Test");
    apply_secret(&ns, "other-ca", secret(trust_policy(&registry, "strict", trusted), &stranger.ca_pem)).await;
    apply_source(
        &ns,
        "OCIRepository",
        "other-ca",
        serde_json::json!({"url": url, "ref": {"tag": "v1.0.0"}, "verify": verify("other-ca")}),
    )
    .await;
    let refused = wait(&repos, "other-ca", "SourceVerified", "False", "VerificationError").await;
    let message = condition(&refused, "SourceVerified").unwrap().2;
    assert!(message.contains("does not contain any trusted certificate"), "{message}");

    // An audit policy only logs the untrusted identity: stored, not verified.
    apply_secret(&ns, "audit", secret(trust_policy(&registry, "audit", other), &signer.ca_pem)).await;
    apply_source(
        &ns,
        "OCIRepository",
        "audit",
        serde_json::json!({"url": url, "ref": {"tag": "v1.0.0"}, "verify": verify("audit")}),
    )
    .await;
    let unverified = |o: &OCIRepository| condition(o, "SourceVerified").is_none();
    let audited = wait_until(&repos, "audit", "Ready", "True", "Succeeded", unverified).await;
    assert!(audited.status.unwrap().artifact.is_some());

    // A Secret without a trust policy, and one without certificates.
    apply_secret(&ns, "no-policy", serde_json::json!({"ca.crt": signer.ca_pem})).await;
    apply_source(
        &ns,
        "OCIRepository",
        "no-policy",
        serde_json::json!({"url": url, "ref": {"tag": "v1.0.0"}, "verify": verify("no-policy")}),
    )
    .await;
    let refused = wait(&repos, "no-policy", "SourceVerified", "False", "VerificationError").await;
    assert_eq!(
        condition(&refused, "SourceVerified").unwrap().2,
        format!(
            "failed to verify the signature using provider 'notation': 'trustpolicy.json' not found in secret '{}/no-policy'",
            ns.name()
        )
    );
    apply_secret(&ns, "no-certs", serde_json::json!({"trustpolicy.json": trust_policy(&registry, "strict", trusted)}))
        .await;
    apply_source(
        &ns,
        "OCIRepository",
        "no-certs",
        serde_json::json!({"url": url, "ref": {"tag": "v1.0.0"}, "verify": verify("no-certs")}),
    )
    .await;
    let refused = wait(&repos, "no-certs", "SourceVerified", "False", "VerificationError").await;
    assert!(
        condition(&refused, "SourceVerified")
            .unwrap()
            .2
            .ends_with(&format!("no certificates found in secret '{}/no-certs'", ns.name()))
    );

    // An OCI chart signed the same way.
    apply_source(
        &ns,
        "HelmRepository",
        "charts",
        serde_json::json!({"url": format!("oci://{}/charts", registry.host()), "type": "oci"}),
    )
    .await;
    let source = serde_json::json!({"kind": "HelmRepository", "name": "charts"});
    let helmcharts = ns.api::<HelmChart>();
    apply_source(
        &ns,
        "HelmChart",
        "chart",
        serde_json::json!({"chart": "app", "version": "1.0.0", "sourceRef": source, "verify": verify("notation")}),
    )
    .await;
    let verified = wait(&helmcharts, "chart", "SourceVerified", "True", "Succeeded").await;
    assert_eq!(condition(&verified, "SourceVerified").unwrap().2, "verified signature of version 1.0.0");
    wait(&helmcharts, "chart", "Ready", "True", "ChartPullSucceeded").await;
    apply_source(
        &ns,
        "HelmChart",
        "chart-identity",
        serde_json::json!({"chart": "app", "version": "1.0.0", "sourceRef": source, "verify": verify("identity")}),
    )
    .await;
    let refused = wait(&helmcharts, "chart-identity", "BuildFailed", "True", "ChartVerificationError").await;
    let message = condition(&refused, "BuildFailed").unwrap().2;
    let prefix = format!(
        "chart verification error: failed to verify oci://{}/charts/app:1.0.0: signature verification failed",
        registry.host()
    );
    assert!(message.starts_with(&prefix), "{message}");
    assert_eq!(condition(&refused, "SourceVerified").unwrap().0, "False");
    apply_source(
        &ns,
        "HelmChart",
        "chart-audit",
        serde_json::json!({"chart": "app", "version": "1.0.0", "sourceRef": source, "verify": verify("audit")}),
    )
    .await;
    let unverified = |o: &HelmChart| condition(o, "SourceVerified").is_none();
    let audited = wait_until(&helmcharts, "chart-audit", "Ready", "True", "ChartPullSucceeded", unverified).await;
    assert_eq!(audited.status.unwrap().artifact.unwrap().revision, "1.0.0");
    controller.stop().await;
}

#[test]
fn envelopes_are_checked_for_integrity_before_trust() {
    use ferry_oci::notation::{Level, Outcome, TrustPolicyDocument, verify_envelope};
    let signer = Signer::new("Ferry Test CA", "Ferry Test");
    let target = Descriptor {
        media_type: media_type::OCI_MANIFEST.into(),
        digest: format!("sha256:{}", "a".repeat(64)),
        size: 123,
        annotations: None,
    };
    let policy = TrustPolicyDocument::parse(
        br#"{"version":"1.0","trustPolicies":[{"name":"p","registryScopes":["*"],"signatureVerification":{"level":"strict"},"trustStores":["ca:a"],"trustedIdentities":["x509.subject: C=US, ST=WA, O=Ferry Test, CN=signer"]}]}"#,
    )
    .unwrap();
    let statement = &policy.trust_policies[0];
    let level = Level::of(&statement.signature_verification).unwrap();
    let trusted = vec![signer.chain[1].clone()];
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let envelope = signer.envelope(&target);
    let check = |bytes: &[u8], kind: &str, target: &Descriptor| {
        verify_envelope(statement, &level, &trusted, kind, bytes, target, now)
    };
    assert_eq!(check(&envelope, ferry_oci::notation::JWS_MEDIA_TYPE, &target), Ok(Outcome::Verified));

    // Another artifact than the one signed.
    let mut other = target.clone();
    other.size = 124;
    assert!(
        check(&envelope, ferry_oci::notation::JWS_MEDIA_TYPE, &other)
            .unwrap_err()
            .starts_with("integrity validation failed: the signature is for")
    );
    // A payload changed after signing.
    let mut tampered: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
    let forged = serde_json::json!({"targetArtifact": {"mediaType": other.media_type, "digest": other.digest, "size": other.size}});
    tampered["payload"] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string()).into();
    let tampered = serde_json::to_vec(&tampered).unwrap();
    let error = check(&tampered, ferry_oci::notation::JWS_MEDIA_TYPE, &other).unwrap_err();
    assert!(error.contains("signature is invalid"), "{error}");
    // COSE envelopes are refused by name.
    let error = check(&envelope, ferry_oci::notation::COSE_MEDIA_TYPE, &target).unwrap_err();
    assert!(error.contains("COSE signature envelopes are not supported by Ferry"), "{error}");
    // Expired at a strict level; logged at a permissive one.
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut expiring: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
    let protected = serde_json::json!({
        "alg": "ES256", "cty": "application/vnd.cncf.notary.payload.v1+json",
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": ferry_oci::notation::rfc3339(now - 7200),
        "io.cncf.notary.expiry": ferry_oci::notation::rfc3339(now - 3600),
        "crit": ["io.cncf.notary.signingScheme", "io.cncf.notary.expiry"],
    });
    let protected = b64url.encode(protected.to_string());
    let input = format!("{protected}.{}", expiring["payload"].as_str().unwrap());
    let signature = signer.key.sign(&ring::rand::SystemRandom::new(), input.as_bytes()).unwrap();
    expiring["protected"] = protected.into();
    expiring["signature"] = b64url.encode(signature.as_ref()).into();
    let expiring = serde_json::to_vec(&expiring).unwrap();
    let error = check(&expiring, ferry_oci::notation::JWS_MEDIA_TYPE, &target).unwrap_err();
    assert!(error.starts_with("expiry validation failed: digital signature has expired on"), "{error}");
    let permissive = Level::of(&serde_json::from_str(r#"{"level":"permissive"}"#).unwrap()).unwrap();
    assert_eq!(
        verify_envelope(statement, &permissive, &trusted, ferry_oci::notation::JWS_MEDIA_TYPE, &expiring, &target, now),
        Ok(Outcome::Verified)
    );
}
