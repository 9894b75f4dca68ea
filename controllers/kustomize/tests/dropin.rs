//! Where a Flux user dropping Ferry in would be surprised (issue 13), each
//! checked on the local control plane with source-controller and
//! kustomize-controller in-process: `kubeConfig.configMapRef`,
//! `serviceAccountName` with `kubeConfig.secretRef`, postBuild substitution
//! as kustomize-controller v1.9 runs it, remote bases and
//! `--no-remote-bases`, and the ExternalArtifact gate.

use std::time::Duration;

use ferry_api_kustomize::Kustomization;
use ferry_kustomize_controller::Options;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::DeleteParams;

const WAIT: Duration = Duration::from_secs(90);

/// The audience the local control plane accepts in service account tokens
/// (its `--service-account-issuer`, which `--api-audiences` defaults to).
const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

mod support;

use support::Env;

impl Env {
    fn commit_files(&self, files: &[(&str, &str)]) -> String {
        self.commit(files, &[], "files")
    }

    async fn config_map(&self, name: &str, data: serde_json::Value) {
        self.apply::<ConfigMap>(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data,
        }))
        .await;
    }

    async fn secret(&self, name: &str, data: serde_json::Value) {
        self.apply::<Secret>(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data,
        }))
        .await;
    }

    /// A service account allowed everything on ConfigMaps in the test
    /// namespace, and nothing else.
    async fn config_map_editor(&self, name: &str) {
        self.apply::<k8s_openapi::api::core::v1::ServiceAccount>(serde_json::json!({
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name},
        }))
        .await;
        self.apply::<k8s_openapi::api::rbac::v1::Role>(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}],
        }))
        .await;
        self.apply::<k8s_openapi::api::rbac::v1::RoleBinding>(serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": self.name()}],
        }))
        .await;
    }

    async fn config_map_data(&self, name: &str) -> Option<std::collections::BTreeMap<String, String>> {
        self.ns.api::<ConfigMap>().get_opt(name).await.unwrap().map(|c| c.data.unwrap_or_default())
    }

    /// Waits until the Kustomization applied `commit` and is Ready.
    async fn wait_applied(&self, name: &str, commit: &str) -> Kustomization {
        let suffix = format!("@sha1:{commit}");
        self.wait(name, |k| {
            condition(k, "Ready").is_some_and(|c| c.status.to_string() == "True")
                && k.status
                    .as_ref()
                    .and_then(|s| s.last_applied_revision.as_deref())
                    .is_some_and(|r| r.ends_with(&suffix))
        })
        .await
    }

    /// Waits until Ready is False with `reason`.
    async fn wait_failed(&self, name: &str, reason: &str) -> Kustomization {
        self.wait(name, |k| {
            condition(k, "Ready").is_some_and(|c| c.status.to_string() == "False" && c.reason == reason)
        })
        .await
    }

    async fn wait(&self, name: &str, predicate: impl Fn(&Kustomization) -> bool) -> Kustomization {
        match ferry_testenv::wait_for(&self.kustomizations(), name, WAIT, |k: &Kustomization| predicate(k)).await {
            Ok(k) => k,
            Err(error) => {
                let now = self.kustomizations().get_opt(name).await.ok().flatten();
                panic!("{name}: {error}; last status: {:#?}", now.and_then(|k| k.status));
            }
        }
    }
}

fn condition(k: &Kustomization, type_: &str) -> Option<ferry_api_meta::Condition> {
    k.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_).cloned()
}

fn is_stalled(k: &Kustomization) -> bool {
    condition(k, "Stalled").is_some_and(|c| c.status.to_string() == "True")
}

fn config_map_yaml(name: &str, data: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: NAMESPACE\ndata:\n{data}")
}

/// The local control plane's address and CA, as a kubeconfig names them.
fn api_server() -> (String, String) {
    let path = ferry_testenv::kubeconfig_path().unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(path).unwrap();
    let cluster = kubeconfig.clusters[0].cluster.clone().unwrap();
    let ca = cluster.certificate_authority_data.unwrap();
    use base64::Engine as _;
    let ca = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(ca).unwrap()).unwrap();
    (cluster.server.unwrap(), ca)
}

/// Item 1: `kubeConfig.configMapRef` names a cluster reached with workload
/// identity. Cloud providers cannot work offline: the Kustomization stalls
/// and nothing is applied, nor pruned, on the controller's own cluster.
#[tokio::test(flavor = "multi_thread")]
async fn kube_config_map_ref_never_applies_or_prunes_locally() {
    let env = Env::start_with("kc-cmref", Options::default()).await;
    let commit = env.commit_files(&[
        ("cloud/config.yaml", &config_map_yaml("cloud", "  where: cloud\n")),
        ("local/config.yaml", &config_map_yaml("local", "  where: local\n")),
    ]);
    env.git_repository().await;
    env.config_map("eks", serde_json::json!({"provider": "aws", "cluster": "arn:aws:eks:eu-west-1:1:cluster/prod"}))
        .await;
    env.kustomization("cloud", serde_json::json!({"path": "./cloud", "kubeConfig": {"configMapRef": {"name": "eks"}}}))
        .await;
    let stalled = env.wait("cloud", is_stalled).await;
    let ready = condition(&stalled, "Ready").unwrap();
    assert_eq!(ready.status.to_string(), "False", "{ready:?}");
    assert!(ready.message.contains("aws"), "{ready:?}");
    assert!(env.config_map_data("cloud").await.is_none(), "applied to the local cluster");

    // A ConfigMap that does not exist is an error retried, as in Flux.
    env.kustomization(
        "missing",
        serde_json::json!({"path": "./cloud", "kubeConfig": {"configMapRef": {"name": "nowhere"}}}),
    )
    .await;
    let failed = env.wait_failed("missing", "ReconciliationFailed").await;
    let message = condition(&failed, "Ready").unwrap().message;
    assert!(message.contains(&format!("failed to get configmap {}/nowhere", env.name())), "{message}");
    assert!(env.config_map_data("cloud").await.is_none(), "applied to the local cluster");

    // The generic provider with a service account needs the
    // ObjectLevelWorkloadIdentity gate, off by default as in Flux.
    env.config_map_editor("deployer").await;
    let (address, ca) = api_server();
    env.config_map(
        "generic",
        serde_json::json!({"provider": "generic", "address": address, "ca.crt": ca,
            "serviceAccountName": "deployer", "audiences": API_AUDIENCE}),
    )
    .await;
    env.kustomization(
        "gated",
        serde_json::json!({"path": "./cloud", "kubeConfig": {"configMapRef": {"name": "generic"}}}),
    )
    .await;
    let gated = env.wait("gated", is_stalled).await;
    let message = condition(&gated, "Ready").unwrap().message;
    assert!(message.contains("ObjectLevelWorkloadIdentity"), "{message}");
    assert!(env.config_map_data("cloud").await.is_none(), "applied to the local cluster");

    // Applied locally first, then pointed at a cluster Ferry cannot reach:
    // nothing more is applied, and deleting it prunes nothing here.
    env.kustomization("moved", serde_json::json!({"path": "./local"})).await;
    env.wait_applied("moved", &commit).await;
    env.kustomization("moved", serde_json::json!({"path": "./local", "kubeConfig": {"configMapRef": {"name": "eks"}}}))
        .await;
    env.wait("moved", is_stalled).await;
    env.kustomizations().delete("moved", &DeleteParams::default()).await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while env.kustomizations().get_opt("moved").await.unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "the Kustomization was not finalized");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(env.config_map_data("local").await.is_some(), "pruned on the local cluster");
    env.stop().await;
}

/// Item 1, the provider that works offline: `generic` with a service
/// account, behind the ObjectLevelWorkloadIdentity gate, applies with that
/// account's token (audiences as the ConfigMap says) to `address`.
#[tokio::test(flavor = "multi_thread")]
async fn kube_config_map_ref_generic_provider_acts_as_its_service_account() {
    let env =
        Env::start_with("kc-cmgeneric", Options { object_level_workload_identity: true, ..Options::default() }).await;
    let commit = env.commit_files(&[
        ("config/config.yaml", &config_map_yaml("remote", "  where: remote\n")),
        (
            "secret/secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: NAMESPACE\nstringData:\n  k: v\n",
        ),
    ]);
    env.git_repository().await;
    env.config_map_editor("deployer").await;
    let (address, ca) = api_server();
    env.config_map(
        "generic",
        serde_json::json!({"provider": "generic", "address": address, "ca.crt": ca,
            "serviceAccountName": "deployer", "audiences": API_AUDIENCE}),
    )
    .await;
    let kube_config = serde_json::json!({"configMapRef": {"name": "generic"}});
    env.kustomization("config", serde_json::json!({"path": "./config", "kubeConfig": kube_config})).await;
    env.wait_applied("config", &commit).await;
    assert_eq!(env.config_map_data("remote").await.unwrap()["where"], "remote");

    // The token is the service account's: a Secret is beyond its rights.
    env.kustomization("secret", serde_json::json!({"path": "./secret", "kubeConfig": kube_config})).await;
    let denied = env.wait_failed("secret", "ReconciliationFailed").await;
    let message = condition(&denied, "Ready").unwrap().message;
    assert!(message.contains(&format!("system:serviceaccount:{}:deployer", env.name())), "{message}");
    assert!(env.ns.api::<Secret>().get_opt("s").await.unwrap().is_none());
    env.stop().await;
}

/// Item 2: with `kubeConfig.secretRef`, `serviceAccountName` is impersonated
/// on the cluster the kubeconfig reaches (here the same control plane,
/// through a second kubeconfig), so Ferry is refused where Flux would be.
#[tokio::test(flavor = "multi_thread")]
async fn service_account_is_impersonated_on_the_kubeconfig_cluster() {
    let env = Env::start_with("kc-remote-sa", Options::default()).await;
    let commit = env.commit_files(&[
        ("config/config.yaml", &config_map_yaml("remote", "  where: remote\n")),
        (
            "secret/secret.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: NAMESPACE\nstringData:\n  k: v\n",
        ),
    ]);
    env.git_repository().await;
    let kubeconfig = std::fs::read_to_string(ferry_testenv::kubeconfig_path().unwrap()).unwrap();
    env.secret("remote-cluster", serde_json::json!({"value": kubeconfig})).await;
    env.config_map_editor("deployer").await;
    let remote = |path: &str| {
        serde_json::json!({"path": path, "serviceAccountName": "deployer",
            "kubeConfig": {"secretRef": {"name": "remote-cluster"}}})
    };

    // Within the account's rights: applied.
    env.kustomization("config", remote("./config")).await;
    env.wait_applied("config", &commit).await;
    assert!(env.config_map_data("remote").await.is_some());

    // Beyond them: refused, naming the impersonated account.
    env.kustomization("secret", remote("./secret")).await;
    let denied = env.wait_failed("secret", "ReconciliationFailed").await;
    let message = condition(&denied, "Ready").unwrap().message;
    assert!(message.contains("forbidden"), "{message}");
    assert!(message.contains(&format!("system:serviceaccount:{}:deployer", env.name())), "{message}");
    assert!(env.ns.api::<Secret>().get_opt("s").await.unwrap().is_none());
    env.stop().await;
}

const VARS_YAML: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: vars
  namespace: NAMESPACE
data:
  region: \"${region:=eu}\"
  zone: \"${zone}\"
";

/// Item 5: postBuild as kustomize-controller v1.9 runs it: no substitution
/// at all when no variable is defined (the default `WithVariables`
/// strategy), always with `substituteStrategy: Always`.
#[tokio::test(flavor = "multi_thread")]
async fn post_build_substitutes_only_with_variables_unless_always() {
    let env = Env::start_with("kc-postbuild", Options::default()).await;
    let commit = env.commit_files(&[("vars.yaml", VARS_YAML)]);
    env.git_repository().await;
    let optional_missing = serde_json::json!([{"kind": "ConfigMap", "name": "absent", "optional": true}]);
    let cases = [
        // No variable defined: the manifest is applied as written.
        ("none", serde_json::json!({"substituteFrom": optional_missing}), "${region:=eu}", "${zone}"),
        ("empty", serde_json::json!({"substitute": {}}), "${region:=eu}", "${zone}"),
        // Always: substituted even without variables.
        ("always", serde_json::json!({"substituteStrategy": "Always"}), "eu", ""),
        // A variable defined: substituted, unset ones empty.
        ("some", serde_json::json!({"substitute": {"zone": "a"}}), "eu", "a"),
    ];
    for (name, post_build, _, _) in &cases {
        let spec = serde_json::json!({"path": "./", "namePrefix": format!("{name}-"), "postBuild": post_build});
        env.kustomization(name, spec).await;
    }
    for (name, _, region, zone) in &cases {
        env.wait_applied(name, &commit).await;
        let data = env.config_map_data(&format!("{name}-vars")).await.unwrap();
        assert_eq!((data["region"].as_str(), data["zone"].as_str()), (*region, *zone), "{name}");
    }
    env.stop().await;
}

/// Item 5, strict mode (the StrictPostBuildSubstitutions gate): an unset
/// variable without default fails the build, but only when substitution
/// runs at all.
#[tokio::test(flavor = "multi_thread")]
async fn strict_post_build_fails_on_unset_variables_only_when_substituting() {
    let env = Env::start_with("kc-strict", Options { strict_substitutions: true, ..Options::default() }).await;
    let commit = env.commit_files(&[("vars.yaml", VARS_YAML)]);
    env.git_repository().await;
    env.kustomization(
        "strict",
        serde_json::json!({"path": "./", "namePrefix": "strict-", "postBuild": {"substitute": {"other": "x"}}}),
    )
    .await;
    env.kustomization(
        "skipped",
        serde_json::json!({"path": "./", "namePrefix": "skipped-", "postBuild": {"substitute": {}}}),
    )
    .await;
    env.kustomization(
        "always",
        serde_json::json!({"path": "./", "namePrefix": "always-", "postBuild": {"substituteStrategy": "Always"}}),
    )
    .await;
    let failed = env.wait_failed("strict", "BuildFailed").await;
    let message = condition(&failed, "Ready").unwrap().message;
    assert!(message.contains("zone"), "{message}");
    let failed = env.wait_failed("always", "BuildFailed").await;
    assert!(condition(&failed, "Ready").unwrap().message.contains("zone"));
    env.wait_applied("skipped", &commit).await;
    assert_eq!(env.config_map_data("skipped-vars").await.unwrap()["zone"], "${zone}");
    env.stop().await;
}

/// Item 10: ExternalArtifact sources are behind a feature gate that is off
/// by default, as in Flux.
#[tokio::test(flavor = "multi_thread")]
async fn external_artifacts_are_refused_unless_the_gate_is_on() {
    use clap::Parser as _;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        runtime: ferry_sdk::flags::RuntimeFlags,
        #[command(flatten)]
        kustomize: ferry_kustomize_controller::KustomizeFlags,
    }
    let cli = Cli::try_parse_from(["kustomize-controller"]).unwrap();
    let options = cli.kustomize.options(&cli.runtime, "flux-system").unwrap();
    assert!(!options.allow_external_artifact);
    assert!(!Options::default().allow_external_artifact);
    let env = Env::start_with("kc-extart", options).await;
    env.kustomization(
        "external",
        serde_json::json!({"path": "./", "sourceRef": {"kind": "ExternalArtifact", "name": "made-elsewhere"}}),
    )
    .await;
    let denied = env.wait_failed("external", "AccessDenied").await;
    let message = condition(&denied, "Ready").unwrap().message;
    assert_eq!(
        message,
        format!(
            "can't access 'ExternalArtifact/{}/made-elsewhere', ExternalArtifact feature gate is disabled",
            env.name()
        )
    );
    assert!(is_stalled(&denied));
    let cli = Cli::try_parse_from(["kustomize-controller", "--feature-gates=ExternalArtifact=true"]).unwrap();
    assert!(cli.kustomize.options(&cli.runtime, "flux-system").unwrap().allow_external_artifact);
    env.stop().await;
}

/// `decryption.serviceAccountName` (a cloud KMS identity) needs the
/// ObjectLevelWorkloadIdentity gate, as in Flux: without it the
/// Kustomization stalls instead of ignoring the field.
#[tokio::test(flavor = "multi_thread")]
async fn decryption_service_account_needs_the_workload_identity_gate() {
    let env = Env::start_with("kc-kmssa", Options::default()).await;
    env.commit_files(&[("config.yaml", &config_map_yaml("kms", "  a: b\n"))]);
    env.git_repository().await;
    env.kustomization(
        "kms",
        serde_json::json!({"path": "./", "decryption": {"provider": "sops", "serviceAccountName": "kms"}}),
    )
    .await;
    let stalled = env.wait_failed("kms", "FeatureGateDisabled").await;
    assert_eq!(
        condition(&stalled, "Ready").unwrap().message,
        "to use spec.decryption.serviceAccountName for decryption authentication please enable the \
         ObjectLevelWorkloadIdentity feature gate in the controller"
    );
    assert!(is_stalled(&stalled));
    assert!(env.config_map_data("kms").await.is_none());
    env.stop().await;
}

/// Item 9: a remote base (a git repository in `resources`) is fetched from
/// the git server as Flux fetches it, and `--no-remote-bases=true` refuses
/// it with BuildFailed.
#[tokio::test(flavor = "multi_thread")]
async fn remote_bases_are_fetched_unless_the_flag_refuses_them() {
    for refuse in [false, true] {
        let prefix = if refuse { "kc-no-remote" } else { "kc-remote-base" };
        let env = Env::start_with(prefix, Options { no_remote_bases: refuse, ..Options::default() }).await;
        let bases = env.server.create_repo("bases").unwrap();
        let remote_cm = config_map_yaml("from-remote", "  where: remote-base\n").replace("NAMESPACE", env.name());
        bases.write("deploy/kustomization.yaml", "resources:\n- cm.yaml\n").unwrap();
        bases.write("deploy/cm.yaml", remote_cm).unwrap();
        bases.commit("base").unwrap();
        let remote = format!("{}//deploy?ref=main", env.server.url("bases"));
        let app = format!("namePrefix: app-\nresources:\n- {remote}\n- local.yaml\n");
        let commit = env.commit_files(&[
            ("app/kustomization.yaml", &app),
            ("app/local.yaml", &config_map_yaml("local", "  where: artifact\n")),
        ]);
        env.git_repository().await;
        env.kustomization("app", serde_json::json!({"path": "./app"})).await;
        if refuse {
            let failed = env.wait_failed("app", "BuildFailed").await;
            let message = condition(&failed, "Ready").unwrap().message;
            assert!(message.contains("--no-remote-bases"), "{message}");
            assert!(env.config_map_data("app-local").await.is_none(), "nothing applied");
        } else {
            env.wait_applied("app", &commit).await;
            assert_eq!(env.config_map_data("app-from-remote").await.unwrap()["where"], "remote-base");
            assert_eq!(env.config_map_data("app-local").await.unwrap()["where"], "artifact");
        }
        env.stop().await;
    }
}
