//! kustomize-controller end to end on the local control plane: a real git
//! server, source-controller and kustomize-controller in-process, and the
//! objects they apply checked in the cluster.

use std::time::Duration;

use ferry_api_kustomize::Kustomization;
use ferry_kustomize_controller::Options;
use ferry_testenv::TestNamespace;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret, Service};
use kube::api::{Api, ListParams, Patch, PatchParams};

const WAIT: Duration = Duration::from_secs(90);

mod support;

use support::Env;

impl Env {
    async fn request_reconcile(&self, name: &str, token: &str) {
        let request = serde_json::json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
        self.kustomizations().patch(name, &PatchParams::default(), &Patch::Merge(&request)).await.unwrap();
    }

    /// Waits until the Kustomization applied `commit` and is Ready.
    async fn wait_applied(&self, name: &str, commit: &str) -> Kustomization {
        let suffix = format!("@sha1:{commit}");
        ferry_testenv::wait_for(&self.kustomizations(), name, WAIT, |k: &Kustomization| {
            ready_reason(k).as_deref() == Some("ReconciliationSucceeded")
                && k.status
                    .as_ref()
                    .and_then(|s| s.last_applied_revision.as_deref())
                    .is_some_and(|r| r.ends_with(&suffix))
        })
        .await
        .unwrap()
    }

    /// Waits until the Kustomization tried `commit` and failed with `reason`.
    async fn wait_failed(&self, name: &str, commit: &str, reason: &str) -> Kustomization {
        let suffix = format!("@sha1:{commit}");
        ferry_testenv::wait_for(&self.kustomizations(), name, WAIT, |k: &Kustomization| {
            ready_reason(k).as_deref() == Some(reason)
                && (reason == "DependencyNotReady"
                    || k.status
                        .as_ref()
                        .and_then(|s| s.last_attempted_revision.as_deref())
                        .is_some_and(|r| r.ends_with(&suffix)))
                && ferry_testenv::condition_status(k, "Ready").as_deref() == Some("False")
        })
        .await
        .unwrap()
    }

    async fn events(&self, name: &str) -> Vec<Event> {
        let events: Api<Event> = self.ns.api();
        let list = events.list(&ListParams::default().fields(&format!("involvedObject.name={name}"))).await.unwrap();
        list.items
    }
}

fn ready(k: &Kustomization) -> Option<ferry_api_meta::Condition> {
    k.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready").cloned()
}

fn ready_reason(k: &Kustomization) -> Option<String> {
    ready(k).map(|c| c.reason)
}

fn inventory_ids(k: &Kustomization) -> Vec<String> {
    let mut ids: Vec<String> = k
        .status
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .map(|i| i.entries.iter().map(|e| format!("{}/{}", e.id, e.v)).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

const APP_KUSTOMIZATION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- namespace.yaml
- crd.yaml
- widget.yaml
- deployment.yaml
- service.yaml
- hpa.yaml
- settings.yaml
configMapGenerator:
- name: web-config
  namespace: NAMESPACE
  literals:
  - color=blue
";

const NAMESPACE_YAML: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: NAMESPACE-extra\n";

const CRD_YAML: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.NAMESPACE.ferry.test
spec:
  group: NAMESPACE.ferry.test
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
";

const WIDGET_YAML: &str = "\
apiVersion: NAMESPACE.ferry.test/v1
kind: Widget
metadata:
  name: gear
  namespace: NAMESPACE
spec:
  teeth: 12
";

const DEPLOYMENT_YAML: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NAMESPACE
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        envFrom:
        - configMapRef:
            name: web-config
";

const SERVICE_YAML: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: NAMESPACE
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
";

const HPA_YAML: &str = "\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  namespace: NAMESPACE
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 80}
";

const SETTINGS_YAML: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: NAMESPACE
data:
  mode: strict
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: tunable
  namespace: NAMESPACE
data:
  level: \"1\"
";

#[tokio::test(flavor = "multi_thread")]
async fn a_realistic_app_becomes_ready_follows_git_handles_drift_and_is_pruned() {
    let env = Env::start("kc-app").await;
    let ns = env.name().to_string();
    let first = env.commit(
        &[
            ("deploy/kustomization.yaml", APP_KUSTOMIZATION),
            ("deploy/namespace.yaml", NAMESPACE_YAML),
            ("deploy/crd.yaml", CRD_YAML),
            ("deploy/widget.yaml", WIDGET_YAML),
            ("deploy/deployment.yaml", DEPLOYMENT_YAML),
            ("deploy/service.yaml", SERVICE_YAML),
            ("deploy/hpa.yaml", HPA_YAML),
            ("deploy/settings.yaml", SETTINGS_YAML),
        ],
        &[],
        "app",
    );
    env.git_repository().await;
    env.kustomization(
        "app",
        serde_json::json!({
            "path": "./deploy",
            "wait": true,
            "timeout": "60s",
            "ignore": [{"paths": ["/data/level"], "target": {"kind": "ConfigMap", "name": "tunable"}}],
        }),
    )
    .await;

    // Ready, healthy, and the inventory is exactly what was applied.
    let applied = env.wait_applied("app", &first).await;
    let condition = ready(&applied).unwrap();
    assert_eq!(condition.message, format!("Applied revision: main@sha1:{first}"));
    assert_eq!(ferry_testenv::condition_status(&applied, "Healthy").as_deref(), Some("True"));
    let deployments: Api<Deployment> = env.ns.api();
    ferry_testenv::wait_for_deployment_available(&deployments, "web", WAIT).await.unwrap();
    let generated: Vec<String> = env
        .ns
        .api::<ConfigMap>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .filter(|name| name.starts_with("web-config-"))
        .collect();
    assert_eq!(generated.len(), 1, "{generated:?}");
    let config_name = generated[0].clone();
    let mut expected = vec![
        format!("_{ns}-extra__Namespace/v1"),
        format!("_widgets.{ns}.ferry.test_apiextensions.k8s.io_CustomResourceDefinition/v1"),
        format!("{ns}_gear_{ns}.ferry.test_Widget/v1"),
        format!("{ns}_web_apps_Deployment/v1"),
        format!("{ns}_web__Service/v1"),
        format!("{ns}_web_autoscaling_HorizontalPodAutoscaler/v2"),
        format!("{ns}_settings__ConfigMap/v1"),
        format!("{ns}_tunable__ConfigMap/v1"),
        format!("{ns}_{config_name}__ConfigMap/v1"),
    ];
    expected.sort();
    assert_eq!(inventory_ids(&applied), expected);
    let labels = deployments.get("web").await.unwrap().metadata.labels.unwrap();
    assert_eq!(labels.get("kustomize.toolkit.fluxcd.io/name").map(String::as_str), Some("app"));
    assert_eq!(labels.get("kustomize.toolkit.fluxcd.io/namespace"), Some(&ns));
    let events = env.events("app").await;
    assert!(
        events
            .iter()
            .any(|e| e.message.as_deref().is_some_and(|m| m.contains("Deployment/") && m.contains("/web created"))),
        "{events:#?}"
    );

    // Drift: a managed field edited by hand is reverted; an ignored one is kept.
    let configmaps: Api<ConfigMap> = env.ns.api();
    // As `kubectl edit` does: an update under the field manager kubectl-edit.
    let by_hand = PatchParams { field_manager: Some("kubectl-edit".into()), ..PatchParams::default() };
    configmaps.patch("settings", &by_hand, &Patch::Merge(serde_json::json!({"data": {"mode": "lax"}}))).await.unwrap();
    configmaps.patch("tunable", &by_hand, &Patch::Merge(serde_json::json!({"data": {"level": "9"}}))).await.unwrap();
    env.request_reconcile("app", "drift-1").await;
    ferry_testenv::wait_for(&configmaps, "settings", WAIT, |cm: &ConfigMap| {
        cm.data.as_ref().and_then(|d| d.get("mode")).map(String::as_str) == Some("strict")
    })
    .await
    .unwrap();
    ferry_testenv::wait_for(&env.kustomizations(), "app", WAIT, |k: &Kustomization| {
        k.status.as_ref().and_then(|s| s.last_handled_reconcile_at.as_deref()) == Some("drift-1")
    })
    .await
    .unwrap();
    let tunable = configmaps.get("tunable").await.unwrap();
    let level = tunable.data.as_ref().and_then(|d| d.get("level")).map(String::as_str);
    assert_eq!(level, Some("9"), "{tunable:#?}");

    // A commit that changes a value is applied; a removed file is pruned.
    let second = env.commit(
        &[(
            "deploy/kustomization.yaml",
            &APP_KUSTOMIZATION.replace("color=blue", "color=green").replace("- service.yaml\n", ""),
        )],
        &["deploy/service.yaml"],
        "green, no service",
    );
    env.wait_applied("app", &second).await;
    let services: Api<Service> = env.ns.api();
    assert!(services.get_opt("web").await.unwrap().is_none(), "the Service was not pruned");
    assert!(configmaps.get_opt(&config_name).await.unwrap().is_none(), "the old generated ConfigMap was not pruned");
    let deployment = deployments.get("web").await.unwrap();
    let env_from =
        serde_json::to_value(&deployment.spec.unwrap().template.spec.unwrap().containers[0].env_from).unwrap();
    let new_name = env_from[0]["configMapRef"]["name"].as_str().unwrap().to_string();
    assert_ne!(new_name, config_name);
    let new_config = configmaps.get(&new_name).await.unwrap();
    assert_eq!(new_config.data.unwrap().get("color").map(String::as_str), Some("green"));

    // Deleting the Kustomization prunes everything, cluster-scoped objects included.
    env.kustomizations().delete("app", &Default::default()).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(env.ns.client());
    let deadline = std::time::Instant::now() + WAIT;
    while env.kustomizations().get_opt("app").await.unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "the Kustomization was not finalized");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(deployments.get_opt("web").await.unwrap().is_none());
    let extra = namespaces.get_opt(&format!("{ns}-extra")).await.unwrap();
    assert!(extra.is_none_or(|n| n.metadata.deletion_timestamp.is_some()), "the extra namespace was not deleted");
    env.stop().await;
}

const SIMPLE_KUSTOMIZATION: &str = "\
resources:
- config.yaml
";

const CONFIG_YAML: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: config
  namespace: NAMESPACE
data:
  version: \"VERSION\"
";

fn config(version: &str) -> String {
    CONFIG_YAML.replace("VERSION", version)
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_commits_are_held_off_and_the_next_good_commit_recovers() {
    let env = Env::start("kc-broken").await;
    let good = env.commit(&[("kustomization.yaml", SIMPLE_KUSTOMIZATION), ("config.yaml", &config("1"))], &[], "good");
    env.git_repository().await;
    env.kustomization("app", serde_json::json!({"path": "./", "timeout": "6s"})).await;
    env.wait_applied("app", &good).await;
    let configmaps: Api<ConfigMap> = env.ns.api();
    let version =
        || async { configmaps.get("config").await.unwrap().data.unwrap().get("version").cloned().unwrap_or_default() };
    assert_eq!(version().await, "1");

    // Invalid YAML.
    let invalid =
        env.commit(&[("config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n")], &[], "invalid");
    let failed = env.wait_failed("app", &invalid, "BuildFailed").await;
    let message = ready(&failed).unwrap().message;
    assert!(message.contains("config.yaml"), "{message}");
    assert!(failed.status.as_ref().unwrap().last_applied_revision.as_deref().unwrap().ends_with(&good));
    assert_eq!(version().await, "1");

    // A patch that fails.
    let patch_fails = env.commit(
        &[
            ("config.yaml", &config("2")),
            (
                "kustomization.yaml",
                "resources:\n- config.yaml\npatches:\n- target: {kind: ConfigMap, name: config}\n  patch: |\n    - op: replace\n      path: /data/missing/deep\n      value: x\n",
            ),
        ],
        &[],
        "patch fails",
    );
    let failed = env.wait_failed("app", &patch_fails, "BuildFailed").await;
    assert!(failed.status.as_ref().unwrap().last_attempted_revision.as_deref().unwrap().ends_with(&patch_fails));
    assert_eq!(version().await, "1");

    // An unknown kind: nothing is applied.
    let unknown = env.commit(
        &[
            ("kustomization.yaml", "resources:\n- config.yaml\n- gadget.yaml\n"),
            (
                "gadget.yaml",
                "apiVersion: nowhere.ferry.test/v1\nkind: Gadget\nmetadata:\n  name: g\n  namespace: NAMESPACE\n",
            ),
        ],
        &[],
        "unknown kind",
    );
    let failed = env.wait_failed("app", &unknown, "ReconciliationFailed").await;
    let message = ready(&failed).unwrap().message;
    assert!(message.contains("Gadget"), "{message}");
    assert_eq!(version().await, "1");

    // A failing health check: the new state is applied but not accepted.
    let unhealthy = env.commit(
        &[
            ("kustomization.yaml", "resources:\n- config.yaml\n- stuck.yaml\n"),
            (
                "stuck.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: stuck\n  namespace: NAMESPACE\nspec:\n  selector:\n    matchLabels: {app: stuck}\n  template:\n    metadata:\n      labels: {app: stuck}\n    spec:\n      nodeSelector: {no-such-node: \"true\"}\n      containers:\n      - name: c\n        image: nginx\n",
            ),
        ],
        &["gadget.yaml"],
        "unhealthy",
    );
    env.kustomization("app", serde_json::json!({"path": "./", "timeout": "6s", "wait": true})).await;
    // While it waits, the status says so, as Flux's does.
    let running = format!("Running health checks for revision main@sha1:{unhealthy} with a timeout of 6s");
    let waiting = ferry_testenv::wait_for(&env.kustomizations(), "app", WAIT, |k: &Kustomization| {
        k.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Reconciling" && c.message == running))
    })
    .await
    .unwrap();
    assert_eq!(ferry_testenv::condition_status(&waiting, "Healthy").as_deref(), Some("Unknown"));
    assert_eq!(ready_reason(&waiting).as_deref(), Some("Progressing"));
    let failed = env.wait_failed("app", &unhealthy, "HealthCheckFailed").await;
    let message = ready(&failed).unwrap().message;
    assert!(message.contains("Deployment/") && message.contains("stuck"), "{message}");
    assert_eq!(ferry_testenv::condition_status(&failed, "Healthy").as_deref(), Some("False"));
    assert!(failed.status.as_ref().unwrap().last_applied_revision.as_deref().unwrap().ends_with(&good));

    // The next good commit recovers.
    let recovered = env.commit(
        &[("kustomization.yaml", SIMPLE_KUSTOMIZATION), ("config.yaml", &config("3"))],
        &["stuck.yaml"],
        "fixed",
    );
    env.wait_applied("app", &recovered).await;
    assert_eq!(version().await, "3");
    let warnings: Vec<Event> =
        env.events("app").await.into_iter().filter(|e| e.type_.as_deref() == Some("Warning")).collect();
    for reason in ["BuildFailed", "ReconciliationFailed", "HealthCheckFailed"] {
        assert!(warnings.iter().any(|e| e.reason.as_deref() == Some(reason)), "no {reason} warning in {warnings:#?}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn depends_on_orders_kustomizations_and_impersonation_denies() {
    let env = Env::start("kc-order").await;
    let commit = env.commit(
        &[
            ("first/config.yaml", &config("first")),
            ("second/config.yaml", &config("second").replace("name: config", "name: second")),
            (
                "secret/secret.yaml",
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: NAMESPACE\nstringData:\n  k: v\n",
            ),
            ("remote/config.yaml", &config("remote").replace("name: config", "name: remote")),
        ],
        &[],
        "two apps",
    );
    env.git_repository().await;
    // The dependent first: it waits for a dependency that does not exist yet.
    env.kustomization("second", serde_json::json!({"path": "./second", "dependsOn": [{"name": "first"}]})).await;
    let waiting = env.wait_failed("second", &commit, "DependencyNotReady").await;
    assert!(ready(&waiting).unwrap().message.contains("first"), "{:?}", ready(&waiting));
    assert!(env.ns.api::<ConfigMap>().get_opt("second").await.unwrap().is_none());
    env.kustomization("first", serde_json::json!({"path": "./first"})).await;
    let first = env.wait_applied("first", &commit).await;
    let second = env.wait_applied("second", &commit).await;
    let first_ready = ready(&first).unwrap().last_transition_time.0;
    let second_ready = ready(&second).unwrap().last_transition_time.0;
    assert!(first_ready <= second_ready);

    // A cycle (a -> b -> c -> a) is named as one, on each member; nothing is applied.
    let ns = env.name().to_string();
    for (name, dependency) in [("cycle-a", "cycle-b"), ("cycle-b", "cycle-c"), ("cycle-c", "cycle-a")] {
        let depends_on = serde_json::json!([{"name": dependency, "namespace": ns}]);
        env.kustomization(
            name,
            serde_json::json!({"path": "./first", "namePrefix": format!("{name}-"), "dependsOn": depends_on}),
        )
        .await;
    }
    // Until all three exist it is an ordinary wait; then the cycle is seen.
    let stuck = ferry_testenv::wait_for(&env.kustomizations(), "cycle-a", WAIT, |k: &Kustomization| {
        ready(k).is_some_and(|r| r.reason == "DependencyNotReady" && r.message.starts_with("circular"))
    })
    .await
    .unwrap();
    let message = ready(&stuck).unwrap().message;
    assert_eq!(
        message,
        format!("circular dependency detected: {ns}/cycle-a -> {ns}/cycle-b -> {ns}/cycle-c -> {ns}/cycle-a"),
    );
    assert!(env.ns.api::<ConfigMap>().get_opt("cycle-a-config").await.unwrap().is_none());

    // A service account that may only read is denied.
    let sa = serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}});
    let sas: Api<k8s_openapi::api::core::v1::ServiceAccount> = env.ns.api();
    sas.patch("reader", &PatchParams::apply("ferry-tests"), &Patch::Apply(&sa)).await.unwrap();
    env.kustomization("limited", serde_json::json!({"path": "./secret", "serviceAccountName": "reader"})).await;
    let denied = env.wait_failed("limited", &commit, "ReconciliationFailed").await;
    let message = ready(&denied).unwrap().message;
    assert!(message.contains("forbidden"), "{message}");
    assert!(message.contains("system:serviceaccount:") && message.contains(":reader"), "{message}");
    assert!(env.ns.api::<Secret>().get_opt("s").await.unwrap().is_none());

    // spec.kubeConfig: applied with the kubeconfig in a Secret (this cluster, as another client).
    let kubeconfig = std::fs::read_to_string(ferry_testenv::kubeconfig_path().unwrap()).unwrap();
    key_secret(&env, "remote-cluster", "value", &kubeconfig).await;
    env.kustomization(
        "remote",
        serde_json::json!({"path": "./remote", "kubeConfig": {"secretRef": {"name": "remote-cluster"}}}),
    )
    .await;
    env.wait_applied("remote", &commit).await;
    assert!(env.ns.api::<ConfigMap>().get_opt("remote").await.unwrap().is_some());
    env.stop().await;
}

/// The real `flux` CLI (built under hack/flux by `cargo xtask test`, which
/// passes its path in `FERRY_FLUX`) lists what Ferry's controllers made.
#[tokio::test(flavor = "multi_thread")]
async fn the_flux_cli_sees_ready_objects_with_their_revisions() {
    let flux = std::env::var_os("FERRY_FLUX")
        .expect("FERRY_FLUX is not set: run `cargo xtask test`, or export FERRY_FLUX=$(cargo xtask tools flux)");
    let env = Env::start("kc-flux-cli").await;
    let commit = env.commit(&[("config.yaml", &config("1"))], &[], "one");
    env.git_repository().await;
    env.kustomization("app", serde_json::json!({"path": "./"})).await;
    env.wait_applied("app", &commit).await;
    let kubeconfig = ferry_testenv::kubeconfig_path().unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(&flux)
            .args(args)
            .args(["--namespace", env.name(), "--kubeconfig"])
            .arg(&kubeconfig)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "flux {args:?}: {stdout}{stderr}");
        (stdout, stderr)
    };
    // flux prints revisions with the hash cut to 8 characters.
    let revision = format!("main@sha1:{}", &commit[..8]);
    for (args, name) in [(&["get", "kustomizations"][..], "app"), (&["get", "sources", "git"][..], "app")] {
        let (out, _) = run(args);
        let row = out.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_else(|| panic!("{out}"));
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert!(fields.iter().any(|f| f.starts_with(&revision)), "flux {args:?}: {out}");
        assert!(fields.contains(&"True"), "flux {args:?}: {out}");
        assert!(fields.contains(&"False"), "not suspended: flux {args:?}: {out}");
    }
    // `flux events` lists the controllers' Kubernetes Events for the object.
    let (out, _) = run(&["events", "--for", "Kustomization/app"]);
    let finished = |l: &&str| {
        l.contains("Normal") && l.contains("ReconciliationSucceeded") && l.contains("Reconciliation finished in ")
    };
    assert!(out.lines().any(|l| finished(&l) && l.contains("next run in 1m0s")), "{out}");
    // Waiting for the source's first artifact is not an event, as in Flux.
    assert!(!out.contains("ArtifactFailed"), "{out}");
    // `flux tree` walks the inventory.
    let (out, _) = run(&["tree", "kustomization", "app"]);
    assert!(out.contains("Kustomization/") && out.contains("ConfigMap/"), "{out}");
    // The CLI's day-2 commands: they annotate, patch and wait on our status.
    let (_, out) = run(&["reconcile", "kustomization", "app", "--with-source", "--timeout", "1m"]);
    assert!(out.contains("applied revision"), "{out}");
    run(&["suspend", "kustomization", "app"]);
    let (out, _) = run(&["get", "kustomizations"]);
    // Columns: NAME REVISION SUSPENDED READY MESSAGE.
    let suspended =
        |l: &str| l.split_whitespace().collect::<Vec<_>>().get(..3).is_some_and(|f| f[0] == "app" && f[2] == "True");
    assert!(out.lines().any(suspended), "suspended: {out}");
    let (_, out) = run(&["resume", "kustomization", "app", "--timeout", "1m"]);
    assert!(out.contains("applied revision"), "{out}");
    let (_, out) = run(&["reconcile", "source", "git", "app", "--timeout", "1m"]);
    assert!(out.contains("fetched revision"), "{out}");
    let (out, _) = run(&["events", "--for", "GitRepository/app"]);
    assert!(out.lines().any(|l| l.contains("Normal") && l.contains("NewArtifact")), "{out}");
    env.stop().await;
}

const SOPS_SECRET: &str = include_str!("../../../crates/sops/tests/data/enc/secret.yaml");
const SOPS_REGEX: &str = include_str!("../../../crates/sops/tests/data/enc/encrypted-regex.yaml");
const SOPS_OTHER_KEY: &str = include_str!("../../../crates/sops/tests/data/enc/other-key.yaml");
const SOPS_ENV: &str = include_str!("../../../crates/sops/tests/data/enc/app.env");
const AGE_KEY: &str = include_str!("../../../crates/sops/tests/data/keys/age.agekey");
const PGP_KEY: &str = include_str!("../../../crates/sops/tests/data/keys/rsa.asc");

async fn key_secret(env: &Env, name: &str, key: &str, value: &str) {
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {key: value},
    });
    env.ns.api::<Secret>().patch(name, &PatchParams::apply("ferry-tests"), &Patch::Apply(&secret)).await.unwrap();
}

fn secret_value(secret: &Secret, key: &str) -> String {
    String::from_utf8(secret.data.as_ref().unwrap().get(key).unwrap().0.clone()).unwrap()
}

/// Secrets encrypted by the real sops (age and PGP) end up decrypted in the
/// cluster, encrypted generator inputs too; a wrong key is a clear failure.
#[tokio::test(flavor = "multi_thread")]
async fn sops_encrypted_secrets_are_decrypted_with_age_and_pgp_keys() {
    // --sops-age-secret: age keys for every Kustomization that asks for decryption.
    let fallback = TestNamespace::new("kc-sops-fallback").await.unwrap();
    let fallback_key = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "fallback-age"},
        "stringData": {"fallback.agekey": AGE_KEY},
    });
    let secrets_there: Api<Secret> = fallback.api();
    secrets_there
        .patch("fallback-age", &PatchParams::apply("ferry-tests"), &Patch::Apply(&fallback_key))
        .await
        .unwrap();
    let options =
        Options { sops_age_secret: Some((fallback.name().to_string(), "fallback-age".into())), ..Options::default() };
    let env = Env::start_with("kc-sops", options).await;
    let commit = env.commit(
        &[
            ("fallback/secret.yaml", SOPS_SECRET),
            ("age/secret.yaml", SOPS_SECRET),
            ("age/app.env", SOPS_ENV),
            (
                "age/kustomization.yaml",
                "resources: [secret.yaml]\nsecretGenerator:\n- name: app-env\n  envs: [app.env]\n",
            ),
            ("pgp/secret.yaml", SOPS_SECRET),
            ("regex/secret.yaml", SOPS_REGEX),
            ("wrong/secret.yaml", SOPS_OTHER_KEY),
        ],
        &[],
        "encrypted",
    );
    key_secret(&env, "sops-age", "identity.agekey", AGE_KEY).await;
    key_secret(&env, "sops-pgp", "private.asc", PGP_KEY).await;
    env.git_repository().await;
    let decryption = |secret: &str| serde_json::json!({"provider": "sops", "secretRef": {"name": secret}});
    let ns = env.name().to_string();
    env.kustomization(
        "age",
        serde_json::json!({"path": "./age", "targetNamespace": ns, "decryption": decryption("sops-age")}),
    )
    .await;
    env.kustomization(
        "pgp",
        serde_json::json!({"path": "./pgp", "targetNamespace": ns, "nameSuffix": "-pgp", "decryption": decryption("sops-pgp")}),
    )
    .await;
    env.kustomization(
        "wrong",
        serde_json::json!({"path": "./wrong", "targetNamespace": ns, "decryption": decryption("sops-age")}),
    )
    .await;
    env.kustomization("none", serde_json::json!({"path": "./regex", "targetNamespace": ns, "nameSuffix": "-none"}))
        .await;
    env.kustomization(
        "fallback",
        serde_json::json!({"path": "./fallback", "targetNamespace": ns, "nameSuffix": "-fallback", "decryption": {"provider": "sops"}}),
    )
    .await;

    env.wait_applied("age", &commit).await;
    env.wait_applied("pgp", &commit).await;
    env.wait_applied("fallback", &commit).await;
    let secrets: Api<Secret> = env.ns.api();
    for name in ["db-credentials", "db-credentials-pgp", "db-credentials-fallback"] {
        let secret = secrets.get(name).await.unwrap();
        assert_eq!(secret_value(&secret, "username"), "admin", "{name}");
        assert_eq!(secret_value(&secret, "password"), "hunter2 with spaces: and # signs", "{name}");
        assert!(secret_value(&secret, "config.yaml").contains("postgres://db:5432/app"), "{name}");
        assert!(secret.metadata.annotations.unwrap_or_default().keys().all(|k| !k.contains("sops")));
    }
    let generated = secrets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|s| s.metadata.name.as_deref().is_some_and(|n| n.starts_with("app-env-")))
        .expect("the generated Secret");
    assert_eq!(secret_value(&generated, "DB_PASSWORD"), "p@ss=word");

    let wrong = env.wait_failed("wrong", &commit, "BuildFailed").await;
    let message = ready(&wrong).unwrap().message;
    assert!(message.contains("decryption failed") && message.contains("secret.yaml"), "{message}");
    let none = env.wait_failed("none", &commit, "ReconciliationFailed").await;
    let message = ready(&none).unwrap().message;
    assert!(message.contains("is SOPS encrypted, configuring decryption is required"), "{message}");
    env.stop().await;
}

const GIZMO_CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.NAMESPACE.ferry.test
spec:
  group: NAMESPACE.ferry.test
  names: {kind: Gizmo, plural: gizmos, singular: gizmo, listKind: GizmoList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
";

fn gizmo(phase: &str) -> String {
    // The status of applied objects is dropped (as Flux does): the checks read spec.
    format!(
        "apiVersion: NAMESPACE.ferry.test/v1\nkind: Gizmo\nmetadata:\n  name: g\n  namespace: NAMESPACE\nspec:\n  phase: {phase}\n"
    )
}

/// healthCheckExprs decide the health of a custom kind, readyExpr decides a
/// dependency, and deletionPolicy Orphan leaves the objects behind.
#[tokio::test(flavor = "multi_thread")]
async fn cel_health_checks_ready_exprs_and_orphaning() {
    let env = Env::start("kc-cel").await;
    let ns = env.name().to_string();
    let broken = env.commit(
        &[("crd/crd.yaml", GIZMO_CRD), ("gizmo/gizmo.yaml", &gizmo("Broken")), ("after/config.yaml", &config("after"))],
        &[],
        "broken gizmo",
    );
    env.git_repository().await;
    env.kustomization("crd", serde_json::json!({"path": "./crd"})).await;
    env.wait_applied("crd", &broken).await;
    let gizmo_spec = serde_json::json!({
        "path": "./gizmo",
        "timeout": "5s",
        "healthChecks": [{"apiVersion": format!("{ns}.ferry.test/v1"), "kind": "Gizmo", "name": "g", "namespace": ns}],
        "healthCheckExprs": [{
            "apiVersion": format!("{ns}.ferry.test/v1"),
            "kind": "Gizmo",
            "current": "spec.phase == 'Ready'",
            "failed": "spec.phase == 'Broken'",
        }],
    });
    env.kustomization("gizmo", gizmo_spec.clone()).await;
    let failed = env.wait_failed("gizmo", &broken, "HealthCheckFailed").await;
    let message = ready(&failed).unwrap().message;
    assert!(message.contains("Gizmo/") && message.contains("Failed"), "{message}");

    // The dependent waits on a readyExpr over its dependency.
    env.kustomization(
        "after",
        serde_json::json!({
            "path": "./after",
            "deletionPolicy": "Orphan",
            "dependsOn": [{"name": "gizmo", "readyExpr": "dep.status.conditions.exists(c, c.type == 'Healthy' && c.status == 'True') && self.metadata.name == 'after'"}],
        }),
    )
    .await;
    let waiting = env.wait_failed("after", &broken, "DependencyNotReady").await;
    assert!(ready(&waiting).unwrap().message.contains("readyExpr"), "{:?}", ready(&waiting));

    let fixed = env.commit(&[("gizmo/gizmo.yaml", &gizmo("Ready"))], &[], "ready gizmo");
    env.wait_applied("gizmo", &fixed).await;
    env.wait_applied("after", &fixed).await;

    // An invalid expression stalls with InvalidCELExpression.
    let mut invalid = gizmo_spec;
    invalid["healthCheckExprs"][0]["current"] = serde_json::json!("spec.phase ==");
    env.kustomization("gizmo", invalid).await;
    let stalled =
        ferry_testenv::wait_for_condition(&env.kustomizations(), "gizmo", "Stalled", "True", WAIT).await.unwrap();
    assert_eq!(ready_reason(&stalled).as_deref(), Some("InvalidCELExpression"));

    // Orphan: deleting the Kustomization leaves its objects.
    env.kustomizations().delete("after", &Default::default()).await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while env.kustomizations().get_opt("after").await.unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "not finalized");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(env.ns.api::<ConfigMap>().get_opt("config").await.unwrap().is_some(), "Orphan deleted the ConfigMap");
    for name in ["gizmo", "crd"] {
        env.kustomizations().delete(name, &Default::default()).await.unwrap();
    }
    env.stop().await;
}
