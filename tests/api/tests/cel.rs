//! One test per CEL rule (`x-kubernetes-validations`) of the CRDs: a valid example changed
//! to break exactly that rule is rejected by the API server with Flux's message.
//!
//! The tests run on a multi-threaded runtime: `TestNamespace` deletes its namespace on drop by
//! blocking the test's thread, which deadlocks a single-threaded runtime when a test fails.

use ferry_api_helm::HelmRelease;
use ferry_api_image::ImagePolicy;
use ferry_api_kustomize::Kustomization;
use ferry_api_notification::{Provider, Receiver};
use ferry_api_source::{Bucket, GitRepository, HelmChart};
use ferry_api_tests::assert_rejected;
use ferry_testenv::TestNamespace;
use serde_json::{Value, json};

fn spec(object: &mut Value) -> &mut serde_json::Map<String, Value> {
    object["spec"].as_object_mut().unwrap()
}

// source.toolkit.fluxcd.io: GitRepository

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_repository_service_account_needs_a_cloud_provider() {
    let ns = TestNamespace::new("cel-git").await.unwrap();
    assert_rejected::<GitRepository>(
        &ns,
        "gitrepository.yaml",
        |o| {
            spec(o).insert("serviceAccountName".into(), json!("git-reader"));
        },
        "serviceAccountName can only be set when provider is 'azure' or 'aws'",
    )
    .await
    .unwrap();
}

// source.toolkit.fluxcd.io: HelmChart

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_chart_verify_needs_a_helm_repository() {
    let ns = TestNamespace::new("cel-chart").await.unwrap();
    assert_rejected::<HelmChart>(
        &ns,
        "helmchart.yaml",
        |o| {
            o["spec"]["sourceRef"]["kind"] = json!("GitRepository");
        },
        "spec.verify is only supported when spec.sourceRef.kind is 'HelmRepository'",
    )
    .await
    .unwrap();
}

// source.toolkit.fluxcd.io: Bucket (the example uses the generic provider with an ldap STS)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_sts_only_for_aws_and_generic() {
    let ns = TestNamespace::new("cel-bucket").await.unwrap();
    assert_rejected::<Bucket>(
        &ns,
        "bucket.yaml",
        |o| {
            spec(o).insert("provider".into(), json!("gcp"));
        },
        "STS configuration is only supported for the 'aws' and 'generic' Bucket providers",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_aws_needs_the_aws_sts() {
    let ns = TestNamespace::new("cel-bucket").await.unwrap();
    assert_rejected::<Bucket>(
        &ns,
        "bucket.yaml",
        |o| {
            spec(o).insert("provider".into(), json!("aws"));
            o["spec"]["sts"] = json!({"provider": "ldap", "endpoint": "https://sts.example.com"});
        },
        "'aws' is the only supported STS provider for the 'aws' Bucket provider",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_generic_needs_the_ldap_sts() {
    let ns = TestNamespace::new("cel-bucket").await.unwrap();
    assert_rejected::<Bucket>(
        &ns,
        "bucket.yaml",
        |o| {
            o["spec"]["sts"] = json!({"provider": "aws", "endpoint": "https://sts.amazonaws.com"});
        },
        "'ldap' is the only supported STS provider for the 'generic' Bucket provider",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_aws_sts_takes_no_secret() {
    let ns = TestNamespace::new("cel-bucket").await.unwrap();
    assert_rejected::<Bucket>(
        &ns,
        "bucket.yaml",
        |o| {
            spec(o).insert("provider".into(), json!("aws"));
            spec(o).remove("secretRef");
            o["spec"]["sts"] =
                json!({"provider": "aws", "endpoint": "https://sts.amazonaws.com", "secretRef": {"name": "sts"}});
        },
        "spec.sts.secretRef is not required for the 'aws' STS provider",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_aws_sts_takes_no_certificate() {
    let ns = TestNamespace::new("cel-bucket").await.unwrap();
    assert_rejected::<Bucket>(
        &ns,
        "bucket.yaml",
        |o| {
            spec(o).insert("provider".into(), json!("aws"));
            spec(o).remove("secretRef");
            o["spec"]["sts"] =
                json!({"provider": "aws", "endpoint": "https://sts.amazonaws.com", "certSecretRef": {"name": "ca"}});
        },
        "spec.sts.certSecretRef is not required for the 'aws' STS provider",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_generic_takes_no_service_account() {
    let ns = TestNamespace::new("cel-bucket").await.unwrap();
    assert_rejected::<Bucket>(
        &ns,
        "bucket.yaml",
        |o| {
            spec(o).remove("secretRef");
            spec(o).insert("serviceAccountName".into(), json!("bucket-reader"));
        },
        "ServiceAccountName is not supported for the 'generic' Bucket provider",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_secret_and_service_account_exclude_each_other() {
    let ns = TestNamespace::new("cel-bucket").await.unwrap();
    assert_rejected::<Bucket>(
        &ns,
        "bucket.yaml",
        |o| {
            spec(o).insert("provider".into(), json!("gcp"));
            spec(o).remove("sts");
            spec(o).insert("serviceAccountName".into(), json!("bucket-reader"));
        },
        "cannot set both .spec.secretRef and .spec.serviceAccountName",
    )
    .await
    .unwrap();
}

// kustomize.toolkit.fluxcd.io: Kustomization

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kustomization_kube_config_needs_a_reference() {
    let ns = TestNamespace::new("cel-ks").await.unwrap();
    assert_rejected::<Kustomization>(
        &ns,
        "kustomization.yaml",
        |o| {
            spec(o).insert("kubeConfig".into(), json!({}));
        },
        "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kustomization_kube_config_takes_one_reference() {
    let ns = TestNamespace::new("cel-ks").await.unwrap();
    assert_rejected::<Kustomization>(
        &ns,
        "kustomization.yaml",
        |o| {
            spec(o).insert(
                "kubeConfig".into(),
                json!({"configMapRef": {"name": "prod"}, "secretRef": {"name": "prod-kubeconfig"}}),
            );
        },
        "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified",
    )
    .await
    .unwrap();
}

// helm.toolkit.fluxcd.io: HelmRelease

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_release_needs_chart_or_chart_ref() {
    let ns = TestNamespace::new("cel-hr").await.unwrap();
    assert_rejected::<HelmRelease>(
        &ns,
        "helmrelease.yaml",
        |o| {
            spec(o).insert("chartRef".into(), json!({"kind": "OCIRepository", "name": "podinfo"}));
        },
        "either chart or chartRef must be set",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_release_without_any_chart() {
    let ns = TestNamespace::new("cel-hr").await.unwrap();
    assert_rejected::<HelmRelease>(
        &ns,
        "helmrelease.yaml",
        |o| {
            spec(o).remove("chart");
        },
        "either chart or chartRef must be set",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_release_install_remediation_has_no_retry_interval() {
    let ns = TestNamespace::new("cel-hr").await.unwrap();
    assert_rejected::<HelmRelease>(
        &ns,
        "helmrelease.yaml",
        |o| {
            o["spec"]["install"]["strategy"] = json!({"name": "RemediateOnFailure", "retryInterval": "1m"});
        },
        ".retryInterval cannot be set when .name is 'RemediateOnFailure'",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_release_upgrade_retry_interval_needs_retry() {
    let ns = TestNamespace::new("cel-hr").await.unwrap();
    assert_rejected::<HelmRelease>(
        &ns,
        "helmrelease.yaml",
        |o| {
            o["spec"]["upgrade"]["strategy"]["name"] = json!("RemediateOnFailure");
        },
        ".retryInterval can only be set when .name is 'RetryOnFailure'",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_release_kube_config_needs_a_reference() {
    let ns = TestNamespace::new("cel-hr").await.unwrap();
    assert_rejected::<HelmRelease>(
        &ns,
        "helmrelease.yaml",
        |o| {
            spec(o).insert("kubeConfig".into(), json!({}));
        },
        "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_release_kube_config_takes_one_reference() {
    let ns = TestNamespace::new("cel-hr").await.unwrap();
    assert_rejected::<HelmRelease>(
        &ns,
        "helmrelease.yaml",
        |o| {
            spec(o).insert(
                "kubeConfig".into(),
                json!({"configMapRef": {"name": "prod"}, "secretRef": {"name": "prod-kubeconfig", "key": "value"}}),
            );
        },
        "exactly one of spec.kubeConfig.configMapRef or spec.kubeConfig.secretRef must be specified",
    )
    .await
    .unwrap();
}

// image.toolkit.fluxcd.io: ImagePolicy (the example reflects digests Always, with an interval)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_policy_interval_only_with_always() {
    let ns = TestNamespace::new("cel-imgpol").await.unwrap();
    assert_rejected::<ImagePolicy>(
        &ns,
        "imagepolicy.yaml",
        |o| {
            spec(o).insert("digestReflectionPolicy".into(), json!("IfNotPresent"));
        },
        "spec.interval is only accepted when spec.digestReflectionPolicy is set to 'Always'",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_policy_always_needs_an_interval() {
    let ns = TestNamespace::new("cel-imgpol").await.unwrap();
    assert_rejected::<ImagePolicy>(
        &ns,
        "imagepolicy.yaml",
        |o| {
            spec(o).remove("interval");
        },
        "spec.interval must be set when spec.digestReflectionPolicy is set to 'Always'",
    )
    .await
    .unwrap();
}

// notification.toolkit.fluxcd.io: Provider

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_commit_status_expr_only_for_git_providers() {
    let ns = TestNamespace::new("cel-provider").await.unwrap();
    assert_rejected::<Provider>(
        &ns,
        "provider.yaml",
        |o| {
            spec(o).insert("type".into(), json!("slack"));
        },
        "spec.commitStatusExpr is only supported for the 'github', 'gitlab', 'gitea', 'bitbucketserver', 'bitbucket', 'azuredevops' provider types",
    )
    .await
    .unwrap();
}

// notification.toolkit.fluxcd.io: Receiver

fn oidc_provider() -> Value {
    json!({
        "issuerURL": "https://token.actions.githubusercontent.com",
        "validations": [{"expression": "claims.repository_owner == 'stefanprodan'", "message": "not our org"}],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_generic_oidc_needs_a_provider() {
    let ns = TestNamespace::new("cel-receiver").await.unwrap();
    assert_rejected::<Receiver>(
        &ns,
        "receiver.yaml",
        |o| {
            spec(o).insert("type".into(), json!("generic-oidc"));
            spec(o).remove("secretRef");
        },
        "generic-oidc receivers must define at least one oidcProvider",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_oidc_providers_only_for_generic_oidc() {
    let ns = TestNamespace::new("cel-receiver").await.unwrap();
    assert_rejected::<Receiver>(
        &ns,
        "receiver.yaml",
        |o| {
            spec(o).insert("oidcProviders".into(), json!([oidc_provider()]));
        },
        "oidcProviders can only be set when type is generic-oidc",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_generic_oidc_takes_no_secret() {
    let ns = TestNamespace::new("cel-receiver").await.unwrap();
    assert_rejected::<Receiver>(
        &ns,
        "receiver.yaml",
        |o| {
            spec(o).insert("type".into(), json!("generic-oidc"));
            spec(o).insert("oidcProviders".into(), json!([oidc_provider()]));
        },
        "secretRef cannot be set when type is generic-oidc",
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_needs_a_secret_unless_generic_oidc() {
    let ns = TestNamespace::new("cel-receiver").await.unwrap();
    assert_rejected::<Receiver>(
        &ns,
        "receiver.yaml",
        |o| {
            spec(o).remove("secretRef");
        },
        "secretRef is required when type is not generic-oidc",
    )
    .await
    .unwrap();
}
