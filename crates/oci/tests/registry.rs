//! The client against a real registry (distribution 2.8): push and pull a
//! Flux artifact, list tags, basic auth, bearer tokens from a token
//! service the registry trusts, TLS with the registry's CA.

use bytes::Bytes;
use ferry_oci::flux::{self, Metadata};
use ferry_oci::{Client, ClientOptions, Credentials, Repository};
use ferry_testenv::registry::{Registry, RegistryOptions};

fn client(registry: &Registry, path: &str, options: ClientOptions) -> Client {
    Client::new(Repository::parse(&format!("{}/{path}", registry.host())).unwrap(), options).unwrap()
}

#[tokio::test]
async fn a_flux_artifact_round_trips_over_plain_http() {
    let registry = Registry::start(RegistryOptions::default()).await.unwrap();
    let client = client(&registry, "org/app", ClientOptions::default());
    let metadata = Metadata { source: "https://example.com/app".into(), revision: "v1".into(), created: String::new() };
    let layer = Bytes::from_static(b"not really a tarball");
    let digest = flux::push(&client, "v1.0.0", layer.clone(), &metadata).await.unwrap();
    flux::push(&client, "v1.1.0", layer.clone(), &metadata).await.unwrap();

    let pulled = client.manifest("v1.0.0").await.unwrap();
    assert_eq!(pulled.digest, digest);
    assert_eq!(Metadata::of(&pulled.manifest), metadata);
    assert_eq!(pulled.manifest.layers[0].media_type, flux::CONTENT_MEDIA_TYPE);
    assert_eq!(client.blob(&pulled.manifest.layers[0].digest, 1 << 20).await.unwrap(), layer.to_vec());
    assert_eq!(client.manifest(&digest).await.unwrap().digest, digest);

    let mut tags = client.tags().await.unwrap();
    tags.sort();
    assert_eq!(tags, ["v1.0.0", "v1.1.0"]);
    let missing = client.manifest("v9").await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    let too_small = client.blob(&pulled.manifest.layers[0].digest, 4).await.unwrap_err();
    assert!(matches!(too_small, ferry_oci::Error::TooLarge { .. }), "{too_small}");
}

#[tokio::test]
async fn basic_auth_over_tls_with_the_registry_ca() {
    let registry = Registry::start(RegistryOptions {
        basic_auth: Some(("flux".into(), "s3cret".into())),
        tls: true,
        token_auth: false,
    })
    .await
    .unwrap();
    let ca = reqwest::Certificate::from_pem(registry.ca_pem().unwrap().as_bytes()).unwrap();
    let good = ClientOptions {
        credentials: Some(Credentials { username: "flux".into(), password: "s3cret".into() }),
        roots: vec![ca.clone()],
        ..Default::default()
    };
    let client = client(&registry, "app", good);
    let metadata = Metadata { source: "s".into(), revision: "r".into(), created: "2026-01-01T00:00:00Z".into() };
    let digest = flux::push(&client, "latest", Bytes::from_static(b"content"), &metadata).await.unwrap();
    assert_eq!(client.manifest("latest").await.unwrap().digest, digest);

    let wrong = ClientOptions {
        credentials: Some(Credentials { username: "flux".into(), password: "wrong".into() }),
        roots: vec![ca.clone()],
        ..Default::default()
    };
    let error = client_for(&registry, wrong).manifest("latest").await.unwrap_err();
    assert!(error.is_unauthorized(), "{error}");
    let anonymous = ClientOptions { roots: vec![ca], ..Default::default() };
    let error = client_for(&registry, anonymous).manifest("latest").await.unwrap_err();
    assert!(error.is_unauthorized(), "{error}");

    // Without the CA the certificate is not trusted, and plain HTTP gets no answer from a TLS port.
    let untrusted = ClientOptions {
        credentials: Some(Credentials { username: "flux".into(), password: "s3cret".into() }),
        ..Default::default()
    };
    let error = client_for(&registry, untrusted).manifest("latest").await.unwrap_err();
    assert!(matches!(error, ferry_oci::Error::Request { .. }), "{error}");
}

fn client_for(registry: &Registry, options: ClientOptions) -> Client {
    client(registry, "app", options)
}

#[tokio::test]
async fn bearer_tokens_come_from_the_token_service_the_registry_names() {
    let options = RegistryOptions { basic_auth: Some(("flux".into(), "t0ken".into())), tls: false, token_auth: true };
    let registry = Registry::start(options).await.unwrap();
    let good = ClientOptions {
        credentials: Some(Credentials { username: "flux".into(), password: "t0ken".into() }),
        ..Default::default()
    };
    let client = client(&registry, "org/app", good);
    let metadata = Metadata::default();
    let digest = flux::push(&client, "v1", Bytes::from_static(b"layer"), &metadata)
        .await
        .unwrap_or_else(|e| panic!("{e}: {}", registry.log()));
    assert_eq!(client.manifest("v1").await.unwrap().digest, digest);
    assert_eq!(client.tags().await.unwrap(), ["v1"]);
    assert!(registry.tokens_granted() >= 2, "a push token and a pull token");

    let wrong = ClientOptions {
        credentials: Some(Credentials { username: "flux".into(), password: "nope".into() }),
        ..Default::default()
    };
    let error = self::client(&registry, "org/app", wrong).manifest("v1").await.unwrap_err();
    assert!(error.is_unauthorized(), "{error}");
}

#[tokio::test]
async fn an_index_resolves_to_its_linux_amd64_manifest_under_the_index_digest() {
    let registry = Registry::start(RegistryOptions::default()).await.unwrap();
    let client = client(&registry, "multi", ClientOptions::default());
    let arm = Metadata { revision: "arm".into(), ..Default::default() };
    let amd = Metadata { revision: "amd".into(), ..Default::default() };
    let arm_digest = flux::push(&client, "arm", Bytes::from_static(b"arm layer"), &arm).await.unwrap();
    let amd_digest = flux::push(&client, "amd", Bytes::from_static(b"amd layer"), &amd).await.unwrap();
    let size = |tag: &str| {
        let client = &client;
        let tag = tag.to_string();
        async move { serde_json::to_vec(&client.manifest(&tag).await.unwrap().manifest).unwrap().len() }
    };
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": ferry_oci::media_type::OCI_INDEX,
        "manifests": [
            {"mediaType": ferry_oci::media_type::OCI_MANIFEST, "digest": arm_digest, "size": size("arm").await,
             "platform": {"architecture": "arm64", "os": "linux"}},
            {"mediaType": ferry_oci::media_type::OCI_MANIFEST, "digest": amd_digest, "size": size("amd").await,
             "platform": {"architecture": "amd64", "os": "linux"}},
        ],
    });
    let bytes = Bytes::from(serde_json::to_vec(&index).unwrap());
    let index_digest = client.push_manifest("multi", bytes, ferry_oci::media_type::OCI_INDEX).await.unwrap();
    let pulled = client.manifest("multi").await.unwrap();
    assert_eq!(pulled.digest, index_digest);
    assert_eq!(Metadata::of(&pulled.manifest).revision, "amd");
}

#[tokio::test]
async fn cosign_signatures_verify_with_the_signing_key_only() {
    use ferry_oci::cosign::{self, PublicKey};
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    let registry = Registry::start(RegistryOptions::default()).await.unwrap();
    let client = client(&registry, "signed", ClientOptions::default());
    let digest = flux::push(&client, "v1", Bytes::from_static(b"layer"), &Metadata::default()).await.unwrap();
    assert!(!cosign::verify(&client, &digest, &[]).await.unwrap(), "no signature yet");

    let key = rcgen::KeyPair::generate().unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    let rng = ring::rand::SystemRandom::new();
    let signer = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der(), &rng).unwrap();
    let payload = cosign::payload(&format!("{}/signed", registry.host()), &digest);
    let signature = signer.sign(&rng, &payload).unwrap();
    cosign::push_signature(&client, &digest, payload, signature.as_ref()).await.unwrap();

    let public = PublicKey::from_pem(key.public_key_pem().as_bytes()).unwrap();
    let wrong = PublicKey::from_pem(other.public_key_pem().as_bytes()).unwrap();
    assert!(cosign::verify(&client, &digest, std::slice::from_ref(&public)).await.unwrap());
    assert!(!cosign::verify(&client, &digest, &[wrong]).await.unwrap());
    // A signature names one digest: another image is not covered by it.
    let second = flux::push(&client, "v2", Bytes::from_static(b"other"), &Metadata::default()).await.unwrap();
    assert!(!cosign::verify(&client, &second, &[public]).await.unwrap());
    assert!(PublicKey::from_pem(b"not a key").is_err());
}
