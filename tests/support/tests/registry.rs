//! The test registry starts, guards itself with basic auth and serves TLS.

use ferry_testenv::registry::{Registry, RegistryOptions};

#[tokio::test]
async fn registry_answers_the_v2_api_with_and_without_auth() {
    let open = Registry::start(RegistryOptions::default()).await.unwrap();
    assert!(ferry_testenv::process::http_ok(open.addr(), "/v2/"), "{}", open.log());

    let guarded = Registry::start(RegistryOptions {
        basic_auth: Some(("user".into(), "pass".into())),
        tls: false,
        token_auth: false,
    })
    .await
    .unwrap();
    assert!(!ferry_testenv::process::http_ok(guarded.addr(), "/v2/"), "an anonymous request was let in");
}
