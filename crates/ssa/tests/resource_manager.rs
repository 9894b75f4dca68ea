//! The resource manager against the real local control plane, one namespace per test.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use ferry_api_meta::{IgnoreRule, Selector};
use ferry_ssa::{Action, ApplyOptions, ChangeSet, DeleteOptions, Error, ObjectRef, Owner, ResourceManager};
use ferry_testenv::TestNamespace;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const OWNER_NAME: &str = "apps";

fn manager(ns: &TestNamespace) -> ResourceManager {
    ResourceManager::new(ns.client(), Owner::kustomize_controller())
}

fn options(ns: &TestNamespace) -> ApplyOptions {
    ApplyOptions {
        labels: Owner::kustomize_controller().labels(OWNER_NAME, ns.name()),
        wait_timeout: Duration::from_secs(60),
        ..ApplyOptions::default()
    }
}

fn object(value: Value) -> DynamicObject {
    serde_json::from_value(value).expect("a valid object")
}

fn config_map(ns: &str, name: &str, data: Value) -> DynamicObject {
    object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}))
}

fn deployment(ns: &str, name: &str, replicas: i64, image: &str) -> DynamicObject {
    object(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]}
            }
        }
    }))
}

fn actions(set: &ChangeSet) -> Vec<(String, Action)> {
    set.entries.iter().map(|e| (e.subject.clone(), e.action)).collect()
}

fn annotate(mut object: DynamicObject, key: &str, value: &str) -> DynamicObject {
    object.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(key.into(), value.into());
    object
}

/// Writes like a person would, with a field manager of their own (an Update operation).
async fn edit<K>(api: &Api<K>, name: &str, manager: &str, patch: Value) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = PatchParams { field_manager: Some(manager.into()), ..PatchParams::default() };
    api.patch(name, &params, &Patch::Merge(&patch)).await?;
    Ok(())
}

fn managers(meta: &kube::api::ObjectMeta) -> Vec<(String, String)> {
    meta.managed_fields
        .iter()
        .flatten()
        .map(|m| (m.manager.clone().unwrap_or_default(), m.operation.clone().unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_unchanged_configure_and_revert_drift() -> Result<()> {
    let ns = TestNamespace::new("ssa-apply").await?;
    let n = ns.name();
    let manager = manager(&ns);
    let opts = options(&ns);
    let secret = object(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": n},
        "stringData": {"password": "hunter2"}
    }));
    let service = object(json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": n},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
    }));
    let set = |data: Value| {
        vec![deployment(n, "web", 2, "nginx:1"), config_map(n, "config", data), secret.clone(), service.clone()]
    };

    let created = manager.apply_all_staged(set(json!({"a": "1"})), &opts).await?;
    assert_eq!(
        actions(&created),
        [
            (format!("ConfigMap/{n}/config"), Action::Created),
            (format!("Secret/{n}/creds"), Action::Created),
            (format!("Service/{n}/web"), Action::Created),
            (format!("Deployment/{n}/web"), Action::Created),
        ]
    );
    assert_eq!(created.to_string().lines().next(), Some(format!("ConfigMap/{n}/config created").as_str()));

    // Defaulted fields (Service, Deployment) and stringData come out unchanged.
    let again = manager.apply_all_staged(set(json!({"a": "1"})), &opts).await?;
    assert!(again.entries.iter().all(|e| e.action == Action::Unchanged), "{again}");
    let secret_live = ns.api::<Secret>().get("creds").await?;
    assert_eq!(secret_live.data.unwrap()["password"].0, b"hunter2");
    let rv = ns.api::<ConfigMap>().get("config").await?.metadata.resource_version;

    let changed = manager.apply_all_staged(set(json!({"a": "2"})), &opts).await?;
    assert_eq!(changed.action_of(&format!("ConfigMap/{n}/config")), Some(Action::Configured));
    assert_eq!(changed.changes().count(), 1, "{changed}");
    let config = ns.api::<ConfigMap>().get("config").await?;
    assert_ne!(config.metadata.resource_version, rv);
    assert_eq!(config.data.unwrap()["a"], "2");
    let labels = config.metadata.labels.unwrap();
    assert_eq!(labels["kustomize.toolkit.fluxcd.io/name"], OWNER_NAME);
    assert_eq!(labels["kustomize.toolkit.fluxcd.io/namespace"], n);

    // Someone changes managed fields by hand: the next apply puts them back.
    edit(&ns.api::<ConfigMap>(), "config", "manual", json!({"data": {"a": "hacked"}})).await?;
    edit(&ns.api::<Deployment>(), "web", "manual", json!({"spec": {"replicas": 5}})).await?;
    let reverted = manager.apply_all_staged(set(json!({"a": "2"})), &opts).await?;
    assert_eq!(reverted.action_of(&format!("ConfigMap/{n}/config")), Some(Action::Configured));
    assert_eq!(reverted.action_of(&format!("Deployment/{n}/web")), Some(Action::Configured));
    assert_eq!(ns.api::<ConfigMap>().get("config").await?.data.unwrap()["a"], "2");
    assert_eq!(ns.api::<Deployment>().get("web").await?.spec.unwrap().replicas, Some(2));

    let live = manager.get(&ObjectRef::new("apps/v1", "Deployment", n, "web")).await?;
    assert_eq!(live.and_then(|d| d.metadata.name).as_deref(), Some("web"));
    assert!(manager.get(&ObjectRef::new("apps/v1", "Deployment", n, "absent")).await?.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn ignore_rules_keep_the_value_a_user_set() -> Result<()> {
    let ns = TestNamespace::new("ssa-ignore").await?;
    let n = ns.name();
    let manager = manager(&ns);
    let mut opts = options(&ns);
    opts.ignore = vec![IgnoreRule {
        paths: vec!["/spec/replicas".into()],
        target: Some(Selector { kind: Some("Deployment".into()), ..Selector::default() }),
    }];
    let deployments = ns.api::<Deployment>();

    let created = manager.apply_all_staged(vec![deployment(n, "web", 2, "nginx:1")], &opts).await?;
    assert_eq!(created.entries[0].action, Action::Created);
    assert_eq!(deployments.get("web").await?.spec.unwrap().replicas, Some(2), "ignore rules skip creation");

    // A person scales with kubectl (a manager Flux takes over) and another tool scales too.
    for (manager_name, replicas) in [("kubectl-edit", 5), ("scaler", 7)] {
        edit(&deployments, "web", manager_name, json!({"spec": {"replicas": replicas}})).await?;
        manager.apply_all_staged(vec![deployment(n, "web", 2, "nginx:1")], &opts).await?;
        assert_eq!(deployments.get("web").await?.spec.unwrap().replicas, Some(replicas), "after {manager_name}");
        let again = manager.apply_all_staged(vec![deployment(n, "web", 2, "nginx:1")], &opts).await?;
        assert_eq!(again.entries[0].action, Action::Unchanged, "only an ignored field differs");
    }

    // Fields not ignored still follow the desired state, and the ignored one stays.
    let changed = manager.apply_all_staged(vec![deployment(n, "web", 2, "nginx:2")], &opts).await?;
    assert_eq!(changed.entries[0].action, Action::Configured);
    let live = deployments.get("web").await?.spec.unwrap();
    assert_eq!(live.replicas, Some(7));
    assert_eq!(live.template.spec.unwrap().containers[0].image.as_deref(), Some("nginx:2"));

    // Rules that do not select the object change nothing.
    opts.ignore[0].target = Some(Selector { kind: Some("StatefulSet".into()), ..Selector::default() });
    let reverted = manager.apply_all_staged(vec![deployment(n, "web", 2, "nginx:2")], &opts).await?;
    assert_eq!(reverted.entries[0].action, Action::Configured);
    assert_eq!(deployments.get("web").await?.spec.unwrap().replicas, Some(2));
    Ok(())
}

fn job(ns: &str, image: &str) -> DynamicObject {
    object(json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": ns},
        "spec": {
            "suspend": true,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": image}]}}
        }
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn immutable_fields_need_force() -> Result<()> {
    let ns = TestNamespace::new("ssa-force").await?;
    let n = ns.name();
    let manager = manager(&ns);
    let mut opts = options(&ns);
    let jobs = ns.api::<Job>();

    manager.apply_all_staged(vec![job(n, "busybox:1")], &opts).await?;
    let uid = jobs.get("migrate").await?.metadata.uid;

    let err = manager
        .apply_all_staged(vec![config_map(n, "sibling", json!({})), job(n, "busybox:2")], &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DryRunFailed { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.starts_with(&format!("Job/{n}/migrate dry-run failed (Invalid): ")), "{message}");
    assert!(message.contains("immutable"), "{message}");
    assert!(ns.api::<ConfigMap>().get_opt("sibling").await?.is_none(), "nothing applied when a dry-run fails");

    // Forced by the annotation on the object.
    let annotated = annotate(job(n, "busybox:2"), "kustomize.toolkit.fluxcd.io/force", "Enabled");
    let forced = manager.apply_all_staged(vec![annotated], &opts).await?;
    assert_eq!(forced.entries[0].action, Action::Created);
    let recreated = jobs.get("migrate").await?;
    assert_ne!(recreated.metadata.uid, uid);
    let image = recreated.spec.unwrap().template.spec.unwrap().containers[0].image.clone();
    assert_eq!(image.as_deref(), Some("busybox:2"));

    // Forced by spec.force.
    opts.force = true;
    let forced = manager.apply_all_staged(vec![job(n, "busybox:3")], &opts).await?;
    assert_eq!(forced.entries[0].action, Action::Created);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn ssa_annotations_if_not_present_ignore_and_reconcile_disabled() -> Result<()> {
    let ns = TestNamespace::new("ssa-policy").await?;
    let n = ns.name();
    let manager = manager(&ns);
    let opts = options(&ns);
    let config_maps = ns.api::<ConfigMap>();
    let ssa = "kustomize.toolkit.fluxcd.io/ssa";
    let objects = |value: &str| {
        vec![
            annotate(config_map(n, "once", json!({"v": value})), ssa, "IfNotPresent"),
            annotate(config_map(n, "never", json!({"v": value})), ssa, "Ignore"),
            annotate(config_map(n, "frozen", json!({"v": value})), "kustomize.toolkit.fluxcd.io/reconcile", "disabled"),
        ]
    };

    let first = manager.apply_all_staged(objects("1"), &opts).await?;
    assert_eq!(
        actions(&first),
        [
            (format!("ConfigMap/{n}/frozen"), Action::Skipped),
            (format!("ConfigMap/{n}/never"), Action::Skipped),
            (format!("ConfigMap/{n}/once"), Action::Created),
        ]
    );
    assert!(config_maps.get_opt("never").await?.is_none());
    assert!(config_maps.get_opt("frozen").await?.is_none());

    let second = manager.apply_all_staged(objects("2"), &opts).await?;
    assert!(second.entries.iter().all(|e| e.action == Action::Skipped), "{second}");
    assert_eq!(config_maps.get("once").await?.data.unwrap()["v"], "1");

    // A live object marked `reconcile: disabled` is left alone too.
    manager.apply_all_staged(vec![config_map(n, "live", json!({"v": "1"}))], &opts).await?;
    edit(&config_maps, "live", "manual", json!({"metadata": {"annotations": {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}}, "data": {"v": "mine"}})).await?;
    let skipped = manager.apply_all_staged(vec![config_map(n, "live", json!({"v": "1"}))], &opts).await?;
    assert_eq!(skipped.entries[0].action, Action::Skipped);
    assert_eq!(config_maps.get("live").await?.data.unwrap()["v"], "mine");
    Ok(())
}

/// Creates a ConfigMap the way `kubectl apply` (client-side) does.
async fn create_with_kubectl(ns: &TestNamespace, name: &str, annotations: Value) -> Result<()> {
    let mut annotations = annotations;
    annotations["kubectl.kubernetes.io/last-applied-configuration"] = json!("{\"data\":{\"a\":\"1\",\"b\":\"2\"}}");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "data": {"a": "1", "b": "2"}
    }))?;
    let params = PostParams { field_manager: Some("kubectl-client-side-apply".into()), ..PostParams::default() };
    ns.api::<ConfigMap>().create(&params, &cm).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_leftovers_are_taken_over_unless_merge() -> Result<()> {
    let ns = TestNamespace::new("ssa-csa").await?;
    let n = ns.name();
    let manager = manager(&ns);
    let opts = options(&ns);
    let config_maps = ns.api::<ConfigMap>();

    create_with_kubectl(&ns, "legacy", json!({})).await?;
    let before = config_maps.get("legacy").await?;
    assert!(managers(&before.metadata).contains(&("kubectl-client-side-apply".into(), "Update".into())));

    // The new revision drops key `b`: once Flux owns kubectl's fields, `b` goes.
    let applied = manager.apply_all_staged(vec![config_map(n, "legacy", json!({"a": "1"}))], &opts).await?;
    assert_eq!(applied.entries[0].action, Action::Configured);
    let after = config_maps.get("legacy").await?;
    let owners = managers(&after.metadata);
    assert!(owners.iter().all(|(m, _)| !m.starts_with("kubectl")), "{owners:?}");
    assert!(owners.contains(&("kustomize-controller".into(), "Apply".into())), "{owners:?}");
    let annotations = after.metadata.annotations.unwrap_or_default();
    assert!(!annotations.contains_key("kubectl.kubernetes.io/last-applied-configuration"), "{annotations:?}");
    assert_eq!(after.data.unwrap(), BTreeMap::from([("a".to_string(), "1".to_string())]));
    let again = manager.apply_all_staged(vec![config_map(n, "legacy", json!({"a": "1"}))], &opts).await?;
    assert_eq!(again.entries[0].action, Action::Unchanged);

    // `ssa: Merge` keeps what kubectl manages.
    create_with_kubectl(&ns, "merged", json!({"kustomize.toolkit.fluxcd.io/ssa": "Merge"})).await?;
    let desired = annotate(config_map(n, "merged", json!({"a": "1"})), "kustomize.toolkit.fluxcd.io/ssa", "Merge");
    manager.apply_all_staged(vec![desired], &opts).await?;
    let merged = config_maps.get("merged").await?;
    assert!(managers(&merged.metadata).contains(&("kubectl-client-side-apply".into(), "Update".into())));
    assert_eq!(merged.data.unwrap().get("b").map(String::as_str), Some("2"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn crd_and_its_custom_resources_in_one_call() -> Result<()> {
    let ns = TestNamespace::new("ssa-crd").await?;
    let n = ns.name();
    let manager = manager(&ns);
    let opts = options(&ns);
    // A group of this test's own, so parallel runs do not share the CRD.
    let group = format!("{n}.ferry.test");
    let crd_name = format!("widgets.{group}");
    let crd = object(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": crd_name},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer", "default": 1}, "color": {"type": "string"}}}}
            }}}]
        }
    }));
    let widget = |color: &str| {
        object(
            json!({"apiVersion": format!("{group}/v1"), "kind": "Widget", "metadata": {"name": "w", "namespace": n}, "spec": {"color": color}}),
        )
    };

    let result = manager.apply_all_staged(vec![widget("red"), crd.clone()], &opts).await;
    let crds: Api<CustomResourceDefinition> = Api::all(ns.client());
    let cleanup = async {
        let refs = [ObjectRef::new("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", &crd_name)];
        manager.delete_all(&refs, &DeleteOptions::new(&Owner::kustomize_controller(), OWNER_NAME, n)).await
    };
    let applied = match result {
        Ok(applied) => applied,
        Err(err) => {
            cleanup.await?;
            return Err(err.into());
        }
    };
    let checks = async {
        assert_eq!(
            actions(&applied),
            [
                (format!("CustomResourceDefinition/{crd_name}"), Action::Created),
                (format!("Widget/{n}/w"), Action::Created)
            ]
        );
        // Defaulted fields of a custom resource come out unchanged.
        let again = manager.apply_all_staged(vec![widget("red"), crd.clone()], &opts).await?;
        assert!(again.entries.iter().all(|e| e.action == Action::Unchanged), "{again}");
        let changed = manager.apply_all_staged(vec![widget("blue"), crd.clone()], &opts).await?;
        assert_eq!(changed.action_of(&format!("Widget/{n}/w")), Some(Action::Configured));
        let live = manager.get(&ObjectRef::new(&format!("{group}/v1"), "Widget", n, "w")).await?.expect("widget");
        assert_eq!(live.data["spec"], json!({"color": "blue", "size": 1}));
        anyhow::Ok(())
    };
    let outcome = checks.await;
    let deleted = cleanup.await?;
    assert_eq!(deleted.entries[0].action, Action::Deleted);
    outcome?;
    assert!(crds.get_opt(&crd_name).await?.is_none_or(|c| c.metadata.deletion_timestamp.is_some()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn namespace_and_its_objects_in_one_call() -> Result<()> {
    let ns = TestNamespace::new("ssa-ns").await?;
    let manager = manager(&ns);
    let opts = options(&ns);
    let child = format!("{}-child", ns.name());
    let namespace = object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": child}}));

    let result =
        manager.apply_all_staged(vec![config_map(&child, "inside", json!({"k": "v"})), namespace], &opts).await;
    let cm = Api::<ConfigMap>::namespaced(ns.client(), &child).get_opt("inside").await;
    let refs = [ObjectRef::new("v1", "Namespace", "", &child)];
    let deleted =
        manager.delete_all(&refs, &DeleteOptions::new(&Owner::kustomize_controller(), OWNER_NAME, ns.name())).await?;
    let applied = result?;
    assert_eq!(
        actions(&applied),
        [(format!("Namespace/{child}"), Action::Created), (format!("ConfigMap/{child}/inside"), Action::Created)]
    );
    assert!(cm?.is_some());
    assert_eq!(deleted.entries[0].action, Action::Deleted);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_kinds_and_invalid_objects_apply_nothing() -> Result<()> {
    let ns = TestNamespace::new("ssa-invalid").await?;
    let n = ns.name();
    let manager = manager(&ns);
    let opts = options(&ns);
    let child = format!("{n}-never");
    let unknown = object(
        json!({"apiVersion": "nowhere.ferry.test/v1", "kind": "Gadget", "metadata": {"name": "g", "namespace": n}}),
    );
    let namespace = object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": child}}));

    let err = manager
        .apply_all_staged(vec![namespace, config_map(n, "config", json!({})), unknown], &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoMatch { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("Gadget/{n}/g dry-run failed: no matches for kind \"Gadget\" in version \"nowhere.ferry.test/v1\"")
    );
    assert!(Api::<Namespace>::all(ns.client()).get_opt(&child).await?.is_none());
    assert!(ns.api::<ConfigMap>().get_opt("config").await?.is_none());

    // An invalid object stops its whole stage before anything is written.
    let mut broken = deployment(n, "web", 1, "nginx:1");
    broken.data["spec"]["selector"] = json!({"matchLabels": {"app": "other"}});
    let err = manager.apply_all_staged(vec![config_map(n, "config", json!({})), broken], &opts).await.unwrap_err();
    assert!(err.to_string().starts_with(&format!("Deployment/{n}/web dry-run failed (Invalid)")), "{err}");
    assert!(ns.api::<ConfigMap>().get_opt("config").await?.is_none());

    let cluster_scoped_without_namespace = config_map("", "config", json!({}));
    let err = manager.apply_all_staged(vec![cluster_scoped_without_namespace], &opts).await.unwrap_err();
    assert_eq!(err.to_string(), "ConfigMap/config namespace not specified");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_all_honours_prune_disabled_and_owner_labels() -> Result<()> {
    let ns = TestNamespace::new("ssa-prune").await?;
    let n = ns.name();
    let manager = manager(&ns);
    let opts = options(&ns);
    let config_maps = ns.api::<ConfigMap>();
    let mut foreign = options(&ns);
    foreign.labels = Owner::kustomize_controller().labels("other", n);

    manager
        .apply_all_staged(
            vec![
                config_map(n, "mine", json!({})),
                annotate(config_map(n, "kept", json!({})), "kustomize.toolkit.fluxcd.io/prune", "disabled"),
            ],
            &opts,
        )
        .await?;
    manager.apply_all_staged(vec![config_map(n, "theirs", json!({}))], &foreign).await?;
    config_maps
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": "unlabelled"}}))?)
        .await?;

    let refs: Vec<ObjectRef> = ["mine", "kept", "theirs", "unlabelled", "gone"]
        .iter()
        .map(|name| ObjectRef::new("v1", "ConfigMap", n, name))
        .collect();
    let deleted = manager.delete_all(&refs, &DeleteOptions::new(&Owner::kustomize_controller(), OWNER_NAME, n)).await?;
    assert_eq!(
        actions(&deleted),
        [
            (format!("ConfigMap/{n}/unlabelled"), Action::Skipped),
            (format!("ConfigMap/{n}/theirs"), Action::Skipped),
            (format!("ConfigMap/{n}/mine"), Action::Deleted),
            (format!("ConfigMap/{n}/kept"), Action::Skipped),
            (format!("ConfigMap/{n}/gone"), Action::Deleted),
        ]
    );
    assert!(config_maps.get_opt("mine").await?.is_none());
    for name in ["kept", "theirs", "unlabelled"] {
        assert!(config_maps.get_opt(name).await?.is_some(), "{name}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_for_termination_waits_for_finalizers() -> Result<()> {
    let ns = TestNamespace::new("ssa-terminate").await?;
    let n = ns.name();
    let manager = manager(&ns);
    let opts = options(&ns);
    let config_maps = ns.api::<ConfigMap>();
    let mut held = config_map(n, "held", json!({}));
    held.metadata.finalizers = Some(vec!["ferry.test/hold".into()]);
    manager.apply_all_staged(vec![held], &opts).await?;

    let refs = [ObjectRef::new("v1", "ConfigMap", n, "held")];
    let deleted = manager.delete_all(&refs, &DeleteOptions::new(&Owner::kustomize_controller(), OWNER_NAME, n)).await?;
    assert_eq!(deleted.entries[0].action, Action::Deleted);
    let err = manager.wait_for_termination(&refs, Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(err.to_string(), format!("timeout waiting for: [ConfigMap/{n}/held status: 'Terminating']"));

    let release = tokio::spawn({
        let config_maps = config_maps.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            edit(&config_maps, "held", "test", json!({"metadata": {"finalizers": null}})).await
        }
    });
    manager.wait_for_termination(&refs, Duration::from_secs(30)).await?;
    release.await??;
    assert!(config_maps.get_opt("held").await?.is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_stage_reports_what_earlier_stages_did() -> Result<()> {
    let ns = TestNamespace::new("ssa-partial").await?;
    let n = ns.name();
    let manager = manager(&ns);
    let opts = options(&ns);
    let child = format!("{n}-child");
    let namespace = object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": child}}));
    let mut broken = deployment(&child, "web", 1, "nginx:1");
    broken.data["spec"]["selector"] = json!({"matchLabels": {"app": "other"}});

    let mut changes = ChangeSet::default();
    let result = manager.apply_all_staged_into(vec![broken, namespace], &opts, &mut changes).await;
    let refs = [ObjectRef::new("v1", "Namespace", "", &child)];
    manager.delete_all(&refs, &DeleteOptions::new(&Owner::kustomize_controller(), OWNER_NAME, n)).await?;
    let err = result.unwrap_err();
    assert!(err.to_string().starts_with(&format!("Deployment/{child}/web dry-run failed (Invalid)")), "{err}");
    assert_eq!(changes.to_string(), format!("Namespace/{child} created"));
    Ok(())
}

/// A Role and a RoleBinding to it, applied by a service account that may
/// manage RBAC but is no cluster-admin: the binding's dry-run passes the
/// escalation check only when the Role already exists, which the custom
/// stage (`--custom-apply-stage-kinds`) guarantees.
#[tokio::test(flavor = "multi_thread")]
async fn custom_stage_kinds_go_before_the_other_resources() -> Result<()> {
    let ns = TestNamespace::new("ssa-custom-stage").await?;
    let name = ns.name();
    // The applier: may manage Roles and RoleBindings and read ConfigMaps here.
    let rbac = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "applier", "namespace": name},
        "rules": [
            {
                "apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
                // Not `bind` or `escalate`: bindings are checked against what the applier holds.
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            },
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]},
        ],
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "applier", "namespace": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "applier"},
        "subjects": [{"kind": "ServiceAccount", "name": "applier", "namespace": name}],
    });
    let admin = manager(&ns);
    admin.apply_all_staged(vec![object(rbac), object(binding)], &options(&ns)).await?;
    let mut config = ferry_testenv::config().await?;
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{name}:applier"));
    let applier = ResourceManager::new(kube::Client::try_from(config)?, Owner::kustomize_controller());

    let desired = |suffix: &str| {
        let role = format!("reader-{suffix}");
        vec![
            object(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": role, "namespace": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": name}],
            })),
            object(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": role, "namespace": name},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
            })),
        ]
    };
    // In one stage, the binding's dry-run meets a Role that does not exist yet.
    let refused = applier.apply_all_staged(desired("a"), &options(&ns)).await;
    let error = refused.expect_err("a binding to a missing Role is an escalation for a non-admin");
    assert!(error.to_string().contains("RoleBinding"), "{error}");

    let staged =
        ApplyOptions { custom_stage_kinds: ["rbac.authorization.k8s.io/Role".to_string()].into(), ..options(&ns) };
    let set = applier.apply_all_staged(desired("b"), &staged).await?;
    assert_eq!(
        actions(&set),
        [(format!("Role/{name}/reader-b"), Action::Created), (format!("RoleBinding/{name}/reader-b"), Action::Created),]
    );
    Ok(())
}
