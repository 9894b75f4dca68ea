//! HelmRelease end to end on the local control plane: a chart served by a
//! real chart repository, a HelmRepository and the HelmChart the release
//! creates served by Ferry's source-controller, both controllers
//! in-process, and the release read back by the `helm` CLI of hack/helm.

use std::time::Duration;

use ferry_api_helm::HelmRelease;
use ferry_helm_controller::{CONTROLLER_NAME, Options};
use ferry_sdk::reconcile::{Runtime, Settings};
use ferry_storage::{DigestAlgorithm, Storage};
use ferry_testenv::TestNamespace;
use ferry_testenv::helmrepo::{ChartRepo, ChartRepoOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

const WAIT: Duration = Duration::from_secs(90);

/// source-controller and helm-controller for one namespace, and a chart repository.
struct Env {
    ns: TestNamespace,
    charts: ChartRepo,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _storage: tempfile::TempDir,
}

impl Env {
    async fn start(prefix: &str) -> Self {
        let ns = TestNamespace::new(prefix).await.unwrap();
        ferry_testenv::install_crds(ns.client(), &ferry_testenv::SOURCE_AND_KUSTOMIZE_CRDS).await.unwrap();
        ferry_testenv::install_crds(ns.client(), &ferry_testenv::HELM_CRDS).await.unwrap();
        let charts = ChartRepo::start(ChartRepoOptions::default()).await.unwrap();
        let settings = |name: &str| Settings {
            namespace: Some(ns.name().to_string()),
            min_retry_delay: Duration::from_millis(200),
            max_retry_delay: Duration::from_secs(2),
            ..Settings::new(name)
        };
        let storage_dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let storage = Storage::new(
            storage_dir.path(),
            format!("127.0.0.1:{port}"),
            Duration::from_secs(60),
            2,
            DigestAlgorithm::Sha256,
        )
        .unwrap();
        let (source_stop, source_stopped) = tokio::sync::oneshot::channel::<()>();
        let source_runtime = Runtime::new(ns.client(), settings(ferry_source_controller::CONTROLLER_NAME)).unwrap();
        let source = tokio::spawn(ferry_source_controller::run(
            source_runtime,
            storage,
            Some(([127, 0, 0, 1], port).into()),
            async move {
                let _ = source_stopped.await;
            },
        ));
        let config = ferry_testenv::config().await.unwrap();
        let factory = ferry_sdk::client::ClientFactory::new(config, 50.0, 300);
        let (helm_stop, helm_stopped) = tokio::sync::oneshot::channel::<()>();
        let helm_runtime = Runtime::new(ns.client(), settings(CONTROLLER_NAME)).unwrap();
        let options = Options { requeue_dependency: Duration::from_secs(2), ..Options::default() };
        let helm = tokio::spawn(ferry_helm_controller::run(helm_runtime, factory, options, async move {
            let _ = helm_stopped.await;
        }));
        Self { ns, charts, stops: vec![source_stop, helm_stop], tasks: vec![source, helm], _storage: storage_dir }
    }

    fn name(&self) -> &str {
        self.ns.name()
    }

    /// Packages chart `app` at `version` with `templates`, and re-indexes.
    fn add_chart(&self, version: &str, templates: &[(&str, &str)]) {
        let file =
            |name: &str, data: &str| ferry_helm::chart::File { name: name.into(), data: data.as_bytes().to_vec() };
        let mut files = vec![
            file("Chart.yaml", &format!("apiVersion: v2\nname: app\nversion: {version}\nappVersion: \"1.0\"\n")),
            file("values.yaml", "message: hello\nextra: none\n"),
        ];
        files.extend(templates.iter().map(|(name, data)| file(name, data)));
        let chart = ferry_helm::chart::load::load_files(files).unwrap();
        let archive = ferry_helm::archive::write::package(&chart, 1_700_000_000).unwrap();
        self.charts.write_file(&ferry_helm::archive::write::archive_name(&chart), &archive).unwrap();
        self.charts.write_index().unwrap();
    }

    async fn apply(&self, api_version: &str, kind: &str, name: &str, spec: serde_json::Value) {
        let resource = kube::api::ApiResource::from_gvk(&kube::api::GroupVersionKind::gvk(
            api_version.split('/').next().unwrap(),
            api_version.split('/').nth(1).unwrap(),
            kind,
        ));
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(self.ns.client(), self.name(), &resource);
        let object =
            serde_json::json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": spec});
        api.patch(name, &PatchParams::apply("ferry-tests").force(), &Patch::Apply(object)).await.unwrap();
    }

    async fn helm_repository(&self) {
        self.apply(
            "source.toolkit.fluxcd.io/v1",
            "HelmRepository",
            "charts",
            serde_json::json!({
                "url": self.charts.url(), "interval": "1m",
            }),
        )
        .await;
    }

    /// A HelmRelease of chart `app` from the repository, `spec` merged over it.
    async fn helm_release(&self, name: &str, spec: serde_json::Value) {
        let mut full = serde_json::json!({
            "interval": "1m",
            "timeout": "30s",
            "chart": {"spec": {"chart": "app", "interval": "2s", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
        });
        for (key, value) in spec.as_object().unwrap() {
            full[key] = value.clone();
        }
        self.apply("helm.toolkit.fluxcd.io/v2", "HelmRelease", name, full).await;
    }

    fn releases(&self) -> Api<HelmRelease> {
        self.ns.api()
    }

    /// Runs the `helm` CLI of hack/helm against the test cluster.
    fn helm(&self, args: &[&str]) -> String {
        let helm = std::env::var("FERRY_HELM").expect("FERRY_HELM names hack/helm's binary (cargo xtask test sets it)");
        let output = std::process::Command::new(helm)
            .args(args)
            .args(["--namespace", self.name()])
            .env("KUBECONFIG", ferry_testenv::kubeconfig_path().unwrap())
            .env("HELM_CACHE_HOME", std::env::temp_dir().join("ferry-helm-cache"))
            .env("HELM_CONFIG_HOME", std::env::temp_dir().join("ferry-helm-config"))
            .output()
            .unwrap();
        assert!(output.status.success(), "helm {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    async fn stop(mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for task in self.tasks.drain(..) {
            tokio::time::timeout(Duration::from_secs(30), task).await.unwrap().unwrap().unwrap();
        }
        let Env { ns, .. } = self;
        ns.delete(Duration::from_secs(60)).await.unwrap();
    }
}

fn condition(object: &HelmRelease, type_: &str) -> Option<(String, String, String)> {
    let c = object.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)?;
    Some((c.status.to_string(), c.reason.clone(), c.message.clone()))
}

/// Waits until `type_` has `status` and `reason` at the object's generation.
async fn wait_condition(api: &Api<HelmRelease>, name: &str, type_: &str, status: &str, reason: &str) -> HelmRelease {
    let result = ferry_testenv::wait_for(api, name, WAIT, |o: &HelmRelease| {
        let observed = o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation;
        observed && condition(o, type_).is_some_and(|(s, why, _)| s == status && why == reason)
    })
    .await;
    match result {
        Ok(object) => object,
        Err(err) => {
            let now = api.get(name).await.ok().and_then(|o| o.status);
            panic!("{name}: {type_} never became {status}/{reason}: {err}; last: {now:#?}");
        }
    }
}

/// Waits until the object is gone (its finalizer done).
async fn wait_gone(api: &Api<HelmRelease>, name: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while api.get_opt(name).await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "{name} was not deleted: {:#?}", api.get(name).await.ok());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

const CONFIG_MAP: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  message: {{ .Values.message | quote }}\n  extra: {{ .Values.extra | quote }}\n  revision: {{ .Release.Revision | quote }}\n";

/// A hook with each delete policy Helm knows, weighted so the order shows.
const HOOKS: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-kept\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n    helm.sh/hook-weight: \"-5\"\ndata:\n  revision: {{ .Release.Revision | quote }}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-deleted\n  annotations:\n    helm.sh/hook: post-install,post-upgrade\n    helm.sh/hook-delete-policy: hook-succeeded\n";

#[tokio::test(flavor = "multi_thread")]
async fn installs_upgrades_and_uninstalls_a_release_that_helm_reads() {
    let env = Env::start("hr-install").await;
    env.add_chart("1.0.0", &[("templates/cm.yaml", CONFIG_MAP), ("templates/hooks.yaml", HOOKS)]);
    env.helm_repository().await;
    let ns = env.name().to_string();
    // values: the chart's, a ConfigMap's key at a path, a missing optional Secret, then inline.
    let config_maps: Api<ConfigMap> = env.ns.api();
    let values_cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "values"},
        "data": {"extra": "from-configmap"}});
    config_maps.patch("values", &PatchParams::apply("ferry-tests"), &Patch::Apply(values_cm)).await.unwrap();
    env.helm_release(
        "web",
        serde_json::json!({
            "values": {"message": "first"},
            "valuesFrom": [
                {"kind": "ConfigMap", "name": "values", "valuesKey": "extra", "targetPath": "extra"},
                {"kind": "Secret", "name": "missing", "optional": true},
            ],
        }),
    )
    .await;

    let api = env.releases();
    let object = wait_condition(&api, "web", "Ready", "True", "InstallSucceeded").await;
    let status = object.status.clone().unwrap();
    let (_, _, message) = condition(&object, "Released").unwrap();
    assert_eq!(message, format!("Helm install succeeded for release {ns}/web.v1 with chart app@1.0.0"));
    assert_eq!(status.helm_chart.as_deref(), Some(format!("{ns}/{ns}-web").as_str()));
    assert_eq!(status.storage_namespace.as_deref(), Some(ns.as_str()));
    assert_eq!(status.last_attempted_revision.as_deref(), Some("1.0.0"));
    assert_eq!(status.last_attempted_release_action.as_deref(), Some("install"));
    let history = status.history.clone().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].version, history[0].status.as_str()), (1, "deployed"));
    assert_eq!((history[0].chart_name.as_str(), history[0].chart_version.as_str()), ("app", "1.0.0"));
    assert_eq!(Some(&history[0].config_digest), status.last_attempted_config_digest.as_ref());
    assert!(history[0].digest.starts_with("sha256:"));

    // The objects, with the values merged in Flux's order; the hooks by their policies.
    let cm = config_maps.get("web").await.unwrap();
    let data = cm.data.clone().unwrap();
    assert_eq!((data["message"].as_str(), data["extra"].as_str()), ("first", "from-configmap"));
    assert_eq!(cm.metadata.annotations.unwrap()["meta.helm.sh/release-name"], "web");
    assert_eq!(cm.metadata.labels.unwrap()["helm.toolkit.fluxcd.io/name"], "web");
    assert!(config_maps.get_opt("web-kept").await.unwrap().is_some(), "before-hook-creation hooks stay");
    assert!(config_maps.get_opt("web-deleted").await.unwrap().is_none(), "hook-succeeded hooks are deleted");

    // Helm's own storage, read by Helm itself.
    let secrets: Api<Secret> = env.ns.api();
    let stored = secrets.get("sh.helm.release.v1.web.v1").await.unwrap();
    assert_eq!(stored.type_.as_deref(), Some("helm.sh/release.v1"));
    let labels = stored.metadata.labels.unwrap();
    assert_eq!(
        (labels["owner"].as_str(), labels["name"].as_str(), labels["status"].as_str(), labels["version"].as_str()),
        ("helm", "web", "deployed", "1")
    );
    let list: serde_json::Value = serde_json::from_str(&env.helm(&["list", "-o", "json"])).unwrap();
    assert_eq!(list[0]["name"], "web");
    assert_eq!(list[0]["status"], "deployed");
    assert_eq!(list[0]["chart"], "app-1.0.0");
    assert_eq!(list[0]["revision"], "1");
    let values: serde_json::Value = serde_json::from_str(&env.helm(&["get", "values", "web", "-o", "json"])).unwrap();
    assert_eq!(values, serde_json::json!({"message": "first", "extra": "from-configmap"}));

    // A values change upgrades: revision 2, the first superseded.
    env.helm_release("web", serde_json::json!({"values": {"message": "second"}})).await;
    let object = wait_condition(&api, "web", "Ready", "True", "UpgradeSucceeded").await;
    let (_, _, message) = condition(&object, "Released").unwrap();
    assert_eq!(message, format!("Helm upgrade succeeded for release {ns}/web.v2 with chart app@1.0.0"));
    let history = object.status.clone().unwrap().history.unwrap();
    assert_eq!(
        history.iter().map(|s| (s.version, s.status.as_str())).collect::<Vec<_>>(),
        vec![(2, "deployed"), (1, "superseded")]
    );
    let data = config_maps.get("web").await.unwrap().data.unwrap();
    assert_eq!((data["message"].as_str(), data["extra"].as_str(), data["revision"].as_str()), ("second", "none", "2"));
    let hooks = config_maps.get("web-kept").await.unwrap().data.unwrap();
    assert_eq!(hooks["revision"], "2", "the pre-upgrade hook ran again");
    let history: serde_json::Value = serde_json::from_str(&env.helm(&["history", "web", "-o", "json"])).unwrap();
    let rows: Vec<(i64, String, String)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["revision"].as_i64().unwrap(),
                r["status"].as_str().unwrap().into(),
                r["description"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![(1, "superseded".into(), "Install complete".into()), (2, "deployed".into(), "Upgrade complete".into())]
    );
    let values: serde_json::Value = serde_json::from_str(&env.helm(&["get", "values", "web", "-o", "json"])).unwrap();
    assert_eq!(values, serde_json::json!({"message": "second"}));

    // Deleting the HelmRelease uninstalls: objects, release records and the HelmChart go.
    api.delete("web", &DeleteParams::default()).await.unwrap();
    wait_gone(&api, "web").await;
    assert!(config_maps.get_opt("web").await.unwrap().is_none());
    let records = secrets.list(&ListParams::default().labels("owner=helm,name=web")).await.unwrap();
    assert!(records.items.is_empty(), "release records left: {:?}", records.items.len());
    let charts: Api<ferry_api_source::HelmChart> = env.ns.api();
    assert!(charts.get_opt(&format!("{ns}-web")).await.unwrap().is_none());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_install_is_install_failed_and_refused_fields_stall() {
    let env = Env::start("hr-fail").await;
    // The API server refuses a ConfigMap whose data is a list.
    env.add_chart(
        "1.0.0",
        &[("templates/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  - 1\n")],
    );
    env.helm_repository().await;
    let ns = env.name().to_string();
    env.helm_release("bad", serde_json::json!({})).await;
    let api = env.releases();
    let object = wait_condition(&api, "bad", "Released", "False", "InstallFailed").await;
    let (_, _, message) = condition(&object, "Released").unwrap();
    assert!(
        message.starts_with(&format!("Helm install failed for release {ns}/bad with chart app@1.0.0: ")),
        "{message}"
    );
    let object = wait_condition(&api, "bad", "Ready", "False", "InstallFailed").await;
    let status = object.status.unwrap();
    assert_eq!(status.install_failures, Some(1));
    assert_eq!(status.history.unwrap()[0].status, "failed");
    let secrets: Api<Secret> = env.ns.api();
    let stored = secrets.get("sh.helm.release.v1.bad.v1").await.unwrap();
    assert_eq!(stored.metadata.labels.unwrap()["status"], "failed");
    let history: serde_json::Value = serde_json::from_str(&env.helm(&["history", "bad", "-o", "json"])).unwrap();
    assert_eq!(history[0]["status"], "failed");
    assert!(history[0]["description"].as_str().unwrap().starts_with("Release \"bad\" failed: "), "{history}");

    // A field this version does not implement is refused, never ignored.
    env.helm_release("drift", serde_json::json!({"driftDetection": {"mode": "enabled"}})).await;
    let object = wait_condition(&api, "drift", "Stalled", "True", "UnsupportedSpec").await;
    let (_, _, message) = condition(&object, "Ready").unwrap();
    assert!(message.contains("spec.driftDetection.mode"), "{message}");

    // A missing dependency waits in Flux's words; a cycle is named.
    env.helm_release("lonely", serde_json::json!({"dependsOn": [{"name": "nobody"}]})).await;
    // (A waiting release does not record its generation as observed.)
    let waiting =
        |o: &HelmRelease| condition(o, "Ready").is_some_and(|(s, why, _)| s == "False" && why == "DependencyNotReady");
    let object = ferry_testenv::wait_for(&api, "lonely", WAIT, waiting).await.unwrap();
    assert_eq!(condition(&object, "Ready").unwrap().2, format!("unable to get '{ns}/nobody' dependency: not found"));
    env.helm_release("cycle-a", serde_json::json!({"dependsOn": [{"name": "cycle-b"}]})).await;
    env.helm_release("cycle-b", serde_json::json!({"dependsOn": [{"name": "cycle-a"}]})).await;
    let object = ferry_testenv::wait_for(&api, "cycle-a", WAIT, waiting).await.unwrap();
    let expected = format!("circular dependency detected: {ns}/cycle-a -> {ns}/cycle-b -> {ns}/cycle-a");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut message = condition(&object, "Ready").unwrap().2;
    while message != expected && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        message = condition(&api.get("cycle-a").await.unwrap(), "Ready").unwrap().2;
    }
    assert_eq!(message, expected);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_whose_install_fails_is_uninstalled_after_its_retries() {
    let env = Env::start("hr-remediate").await;
    env.add_chart(
        "1.0.0",
        &[("templates/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  - 1\n")],
    );
    env.helm_repository().await;
    env.helm_release(
        "retry",
        serde_json::json!({
            "install": {"remediation": {"retries": 1, "remediateLastFailure": true}},
        }),
    )
    .await;
    let api = env.releases();
    // Install, uninstall remediation, install again, the last failure remediated too: stalled.
    let object = wait_condition(&api, "retry", "Stalled", "True", "InstallFailed").await;
    let status = object.status.clone().unwrap();
    assert_eq!(status.install_failures, Some(2));
    let (remediated, reason, _) = condition(&object, "Remediated").unwrap();
    assert_eq!((remediated.as_str(), reason.as_str()), ("True", "UninstallSucceeded"));
    let secrets: Api<Secret> = env.ns.api();
    let records = secrets.list(&ListParams::default().labels("owner=helm,name=retry")).await.unwrap();
    assert!(records.items.is_empty(), "the failed release is uninstalled");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_upgrade_is_rolled_back() {
    let env = Env::start("hr-rollback").await;
    env.add_chart("1.0.0", &[("templates/cm.yaml", CONFIG_MAP)]);
    env.helm_repository().await;
    let ns = env.name().to_string();
    env.helm_release(
        "web",
        serde_json::json!({
            "chart": {"spec": {"chart": "app", "version": "1.0.0", "interval": "2s",
                               "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
            "upgrade": {"remediation": {"retries": 1}},
        }),
    )
    .await;
    let api = env.releases();
    wait_condition(&api, "web", "Ready", "True", "InstallSucceeded").await;

    // Version 2.0.0 adds an object the API server refuses: the upgrade fails and is rolled back.
    env.add_chart(
        "2.0.0",
        &[
            ("templates/cm.yaml", CONFIG_MAP),
            ("templates/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n  - 1\n"),
        ],
    );
    env.helm_release(
        "web",
        serde_json::json!({
            "chart": {"spec": {"chart": "app", "version": "2.0.0", "interval": "2s",
                               "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
            "upgrade": {"remediation": {"retries": 1}},
        }),
    )
    .await;
    let object = ferry_testenv::wait_for(&api, "web", WAIT, |o: &HelmRelease| {
        condition(o, "Remediated").is_some_and(|(s, r, _)| s == "True" && r == "RollbackSucceeded")
    })
    .await
    .unwrap();
    let (_, _, message) = condition(&object, "Remediated").unwrap();
    assert_eq!(message, format!("Helm rollback to previous release {ns}/web.v1 with chart app@1.0.0 succeeded"));
    // The retries run out: one more upgrade fails, the last failure is rolled back too, and it stalls.
    let object = wait_condition(&api, "web", "Stalled", "True", "UpgradeFailed").await;
    assert_eq!(object.status.unwrap().upgrade_failures, Some(2));
    // Storage tells the story as `helm history` would.
    let history: serde_json::Value = serde_json::from_str(&env.helm(&["history", "web", "-o", "json"])).unwrap();
    let rows: Vec<(String, String, String)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let description: String = r["description"].as_str().unwrap().chars().take(18).collect();
            (r["status"].as_str().unwrap().into(), r["chart"].as_str().unwrap().into(), description)
        })
        .collect();
    let row =
        |status: &str, chart: &str, description: &str| (status.to_string(), chart.to_string(), description.to_string());
    assert_eq!(
        rows,
        vec![
            row("superseded", "app-1.0.0", "Install complete"),
            row("failed", "app-2.0.0", "Upgrade \"web\" fail"),
            row("superseded", "app-1.0.0", "Rollback to 1"),
            row("failed", "app-2.0.0", "Upgrade \"web\" fail"),
            row("deployed", "app-1.0.0", "Rollback to 3"),
        ]
    );
    let config_maps: Api<ConfigMap> = env.ns.api();
    assert!(config_maps.get_opt("bad").await.unwrap().is_none());
    assert_eq!(config_maps.get("web").await.unwrap().data.unwrap()["revision"], "1");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_made_by_helm_install_is_taken_over_and_upgraded() {
    let env = Env::start("hr-adopt").await;
    env.add_chart("1.0.0", &[("templates/cm.yaml", CONFIG_MAP)]);
    env.helm_repository().await;
    let archive = env.charts.root().join("app-1.0.0.tgz");
    env.helm(&["install", "web", archive.to_str().unwrap(), "--set", "message=from-helm"]);
    let config_maps: Api<ConfigMap> = env.ns.api();
    assert_eq!(config_maps.get("web").await.unwrap().data.unwrap()["message"], "from-helm");

    env.helm_release("web", serde_json::json!({"values": {"message": "from-ferry"}})).await;
    let api = env.releases();
    let object = wait_condition(&api, "web", "Ready", "True", "UpgradeSucceeded").await;
    let history = object.status.unwrap().history.unwrap();
    assert_eq!((history[0].version, history[0].status.as_str()), (2, "deployed"));
    assert_eq!(config_maps.get("web").await.unwrap().data.unwrap()["message"], "from-ferry");
    let rows: serde_json::Value = serde_json::from_str(&env.helm(&["history", "web", "-o", "json"])).unwrap();
    assert_eq!(rows[0]["status"], "superseded");
    assert_eq!(rows[1]["status"], "deployed");
    assert_eq!(rows[1]["description"], "Upgrade complete");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tests_run_after_install_and_are_recorded() {
    let env = Env::start("hr-test").await;
    let test_hook = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-test\n  annotations:\n    helm.sh/hook: test\ndata:\n  ok: \"true\"\n";
    env.add_chart("1.0.0", &[("templates/cm.yaml", CONFIG_MAP), ("templates/tests/t.yaml", test_hook)]);
    env.helm_repository().await;
    let ns = env.name().to_string();
    env.helm_release("web", serde_json::json!({"test": {"enable": true}})).await;
    let api = env.releases();
    let object = wait_condition(&api, "web", "Ready", "True", "TestSucceeded").await;
    let (_, _, message) = condition(&object, "TestSuccess").unwrap();
    assert_eq!(
        message,
        format!("Helm test succeeded for release {ns}/web.v1 with chart app@1.0.0: 1 test hook completed successfully")
    );
    let history = object.status.unwrap().history.unwrap();
    let hooks = history[0].test_hooks.clone().unwrap();
    assert_eq!(hooks["web-test"].phase.as_deref(), Some("Succeeded"));
    assert!(hooks["web-test"].last_completed.is_some());
    // Helm sees the test run in its storage too.
    let status = env.helm(&["status", "web", "-o", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["hooks"][0]["last_run"]["phase"], "Succeeded");
    env.stop().await;
}
