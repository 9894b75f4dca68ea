//! The charts under the real Helm: they lint, render what each value selects,
//! and the umbrella chart's manifests apply to the local control plane, where
//! the controllers' Pods run under kwok in a namespace that enforces the
//! restricted Pod Security Standard.

use std::time::Duration;

use ferry_charts_tests::{Helm, apply, find, kind, name, names_of, workspace_root};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

/// The CRD names `cargo xtask codegen` generates for an API group, from `charts/crds/`.
fn generated_crds(group: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace_root().join("charts/crds"))
        .unwrap()
        .filter_map(|entry| {
            let file = entry.unwrap().file_name().to_string_lossy().into_owned();
            let (file_group, plural) = file.strip_suffix(".yaml")?.split_once('_')?;
            (file_group == group).then(|| format!("{plural}.{group}"))
        })
        .collect();
    names.sort();
    names
}

fn args(objects: &[Value], deployment: &str) -> Vec<String> {
    let deployment = find(objects, "Deployment", deployment).unwrap_or_else(|| panic!("no Deployment {deployment}"));
    deployment
        .pointer("/spec/template/spec/containers/0/args")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_chart_lints_with_default_values_and_each_controller_switched_off() {
    let helm = Helm::new().unwrap();
    for chart in ["source-controller", "kustomize-controller", "ferry"] {
        let output = helm.lint(chart, &[]).unwrap();
        assert!(output.contains("1 chart(s) linted, 0 chart(s) failed"), "{output}");
        helm.lint(chart, &["serviceMonitor.enabled=true", "global.notificationController.enabled=false"]).unwrap();
    }
    for sets in [
        &["sourceController.enabled=false"][..],
        &["kustomizeController.enabled=false"],
        &["sourceController.enabled=false", "kustomizeController.enabled=false"],
        &["sourceController.serviceMonitor.enabled=true", "kustomizeController.rbac.clusterAdmin=false"],
    ] {
        helm.lint("ferry", sets).unwrap();
    }
}

#[test]
fn umbrella_chart_installs_the_controllers_it_is_asked_for_with_their_crds() {
    let helm = Helm::new().unwrap();
    let source_crds = generated_crds("source.toolkit.fluxcd.io");
    let kustomize_crds = generated_crds("kustomize.toolkit.fluxcd.io");
    let helm_crds = generated_crds("helm.toolkit.fluxcd.io");
    assert!(source_crds.contains(&"gitrepositories.source.toolkit.fluxcd.io".to_string()), "{source_crds:?}");
    assert_eq!(kustomize_crds, vec!["kustomizations.kustomize.toolkit.fluxcd.io".to_string()]);
    assert_eq!(helm_crds, vec!["helmreleases.helm.toolkit.fluxcd.io".to_string()]);

    let all = helm.template("ferry", "ferry", "flux-system", &[]).unwrap();
    assert_eq!(names_of(&all, "Deployment"), vec!["helm-controller", "kustomize-controller", "source-controller"]);
    let mut every: Vec<String> = source_crds.iter().chain(&kustomize_crds).chain(&helm_crds).cloned().collect();
    every.sort();
    assert_eq!(names_of(&all, "CustomResourceDefinition"), every);
    assert_eq!(names_of(&all, "ServiceAccount"), vec!["helm-controller", "kustomize-controller", "source-controller"]);
    assert_eq!(names_of(&all, "Service"), vec!["source-controller"]);

    let source_only = helm
        .template(
            "ferry",
            "ferry",
            "flux-system",
            &["kustomizeController.enabled=false", "helmController.enabled=false"],
        )
        .unwrap();
    assert_eq!(names_of(&source_only, "Deployment"), vec!["source-controller"]);
    assert_eq!(names_of(&source_only, "CustomResourceDefinition"), source_crds);

    let kustomize_only = helm
        .template("ferry", "ferry", "flux-system", &["sourceController.enabled=false", "helmController.enabled=false"])
        .unwrap();
    assert_eq!(names_of(&kustomize_only, "Deployment"), vec!["kustomize-controller"]);
    assert_eq!(names_of(&kustomize_only, "CustomResourceDefinition"), kustomize_crds);
    assert!(names_of(&kustomize_only, "Service").is_empty());

    let helm_only = helm
        .template(
            "ferry",
            "ferry",
            "flux-system",
            &["sourceController.enabled=false", "kustomizeController.enabled=false"],
        )
        .unwrap();
    assert_eq!(names_of(&helm_only, "Deployment"), vec!["helm-controller"]);
    assert_eq!(names_of(&helm_only, "CustomResourceDefinition"), helm_crds);

    let none = helm
        .template(
            "ferry",
            "ferry",
            "flux-system",
            &["sourceController.enabled=false", "kustomizeController.enabled=false", "helmController.enabled=false"],
        )
        .unwrap();
    assert!(none.is_empty(), "{none:#?}");

    // The per-controller charts carry the same CRDs on their own.
    let source = helm.template("source-controller", "sc", "flux-system", &[]).unwrap();
    assert_eq!(names_of(&source, "CustomResourceDefinition"), source_crds);
    let kustomize = helm.template("kustomize-controller", "kc", "flux-system", &[]).unwrap();
    assert_eq!(names_of(&kustomize, "CustomResourceDefinition"), kustomize_crds);
    let helm_controller = helm.template("helm-controller", "hc", "flux-system", &[]).unwrap();
    assert_eq!(names_of(&helm_controller, "CustomResourceDefinition"), helm_crds);
}

#[test]
fn controllers_get_flux_flags_and_the_events_address() {
    let helm = Helm::new().unwrap();
    let objects = helm.template("ferry", "ferry", "gitops", &[]).unwrap();
    let events = "--events-addr=http://notification-controller.gitops.svc.cluster.local./".to_string();
    let source = args(&objects, "source-controller");
    for expected in [
        events.as_str(),
        "--watch-all-namespaces=true",
        "--log-level=info",
        "--log-encoding=json",
        "--enable-leader-election",
        "--metrics-addr=:8080",
        "--health-addr=:9440",
        "--storage-path=/data",
        "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local.",
    ] {
        assert!(source.contains(&expected.to_string()), "source-controller args {source:?} lack {expected}");
    }
    let kustomize = args(&objects, "kustomize-controller");
    for expected in [events.as_str(), "--enable-leader-election", "--concurrent=4", "--log-encoding=json"] {
        assert!(kustomize.contains(&expected.to_string()), "kustomize-controller args {kustomize:?} lack {expected}");
    }

    let deployment = find(&objects, "Deployment", "source-controller").unwrap();
    let pod = deployment.pointer("/spec/template/spec").unwrap();
    assert_eq!(pod["containers"][0]["image"], "ghcr.io/ferry-gitops/source-controller:0.1.0");
    assert_eq!(pod["containers"][0]["env"][0]["name"], "RUNTIME_NAMESPACE");
    assert_eq!(pod["containers"][0]["env"][0]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace");
    assert_eq!(pod["containers"][0]["readinessProbe"]["httpGet"], json!({"path": "/readyz", "port": "healthz"}));
    assert_eq!(pod["containers"][0]["livenessProbe"]["httpGet"], json!({"path": "/healthz", "port": "healthz"}));
    let security = &pod["containers"][0]["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    let mounts: Vec<&str> = pod["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, vec!["/data", "/tmp"]);
    let service = find(&objects, "Service", "source-controller").unwrap();
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}])
    );

    let silent = helm.template("ferry", "ferry", "gitops", &["global.notificationController.enabled=false"]).unwrap();
    for deployment in ["source-controller", "kustomize-controller"] {
        assert!(args(&silent, deployment).contains(&"--events-addr=".to_string()));
    }
    let elsewhere = helm
        .template("ferry", "ferry", "gitops", &["global.notificationController.address=http://events.example:9090/"])
        .unwrap();
    assert!(
        args(&elsewhere, "kustomize-controller").contains(&"--events-addr=http://events.example:9090/".to_string())
    );
    let standalone =
        helm.template("source-controller", "sc", "gitops", &["notificationController.enabled=false"]).unwrap();
    assert!(args(&standalone, "source-controller").contains(&"--events-addr=".to_string()));

    let single = helm
        .template(
            "ferry",
            "ferry",
            "gitops",
            &["sourceController.leaderElection.enabled=false", "sourceController.image.tag=dev"],
        )
        .unwrap();
    assert!(!args(&single, "source-controller").contains(&"--enable-leader-election".to_string()));
    assert!(find(&single, "Role", "source-controller-leader-election").is_none());
    assert!(find(&single, "Role", "kustomize-controller-leader-election").is_some());
    let image = &find(&single, "Deployment", "source-controller").unwrap()["spec"]["template"]["spec"]["containers"][0]
        ["image"];
    assert_eq!(image, "ghcr.io/ferry-gitops/source-controller:dev");
}

#[test]
fn kustomize_controller_binds_cluster_admin_unless_told_not_to() {
    let helm = Helm::new().unwrap();
    let admin_bindings = |objects: &[Value]| -> Vec<String> {
        objects
            .iter()
            .filter(|o| kind(o) == "ClusterRoleBinding" && o["roleRef"]["name"] == "cluster-admin")
            .map(|o| name(o).to_string())
            .collect()
    };
    // Both appliers (kustomize- and helm-controller) are cluster admins by
    // default, as Flux's; each can be narrowed on its own.
    let default = helm.template("ferry", "ferry", "gitops", &[]).unwrap();
    assert_eq!(
        admin_bindings(&default),
        vec!["helm-controller-gitops-cluster-admin", "kustomize-controller-gitops-cluster-admin"]
    );
    let narrow = helm
        .template(
            "ferry",
            "ferry",
            "gitops",
            &["kustomizeController.rbac.clusterAdmin=false", "kustomizeController.defaultServiceAccount=deployer"],
        )
        .unwrap();
    assert_eq!(admin_bindings(&narrow), vec!["helm-controller-gitops-cluster-admin"]);
    let narrower = helm
        .template(
            "ferry",
            "ferry",
            "gitops",
            &["kustomizeController.rbac.clusterAdmin=false", "helmController.rbac.clusterAdmin=false"],
        )
        .unwrap();
    assert!(admin_bindings(&narrower).is_empty());
    assert!(args(&narrow, "kustomize-controller").contains(&"--default-service-account=deployer".to_string()));
    let role = find(&narrow, "ClusterRole", "kustomize-controller-gitops").unwrap();
    let impersonates = role["rules"].as_array().unwrap().iter().any(|rule| {
        rule["resources"] == json!(["serviceaccounts"])
            && rule["verbs"].as_array().unwrap().contains(&json!("impersonate"))
    });
    assert!(impersonates, "{role:#}");
    // source-controller never gets more than reads on Secrets.
    let source_role = find(&default, "ClusterRole", "source-controller-gitops").unwrap();
    for rule in source_role["rules"].as_array().unwrap() {
        if rule["resources"].as_array().unwrap().contains(&json!("secrets")) {
            assert_eq!(rule["verbs"], json!(["get", "list", "watch"]));
        }
    }
}

#[test]
fn service_monitors_are_optional() {
    let helm = Helm::new().unwrap();
    let default = helm.template("ferry", "ferry", "gitops", &[]).unwrap();
    assert!(names_of(&default, "ServiceMonitor").is_empty());
    let monitored = helm
        .template(
            "ferry",
            "ferry",
            "gitops",
            &["sourceController.serviceMonitor.enabled=true", "kustomizeController.serviceMonitor.enabled=true"],
        )
        .unwrap();
    assert_eq!(names_of(&monitored, "ServiceMonitor"), vec!["kustomize-controller", "source-controller"]);
    let monitor = find(&monitored, "ServiceMonitor", "source-controller").unwrap();
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "http-prom");
    let metrics = find(&monitored, "Service", "source-controller-metrics").unwrap();
    assert_eq!(metrics["spec"]["ports"][0]["targetPort"], "http-prom");
}

#[tokio::test(flavor = "multi_thread")]
async fn umbrella_chart_applies_and_its_controllers_run() {
    let helm = Helm::new().unwrap();
    let ns = ferry_testenv::TestNamespace::new("charts").await.unwrap();
    let client = ns.client();
    // The restricted Pod Security Standard: Pods that break it are refused by the API server.
    let labels = json!({"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }}});
    Api::<Namespace>::all(client.clone())
        .patch(ns.name(), &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .unwrap();

    let objects = helm.template("ferry", ns.name(), ns.name(), &[]).unwrap();
    let applied = apply(&client, ns.name(), &objects).await.unwrap();
    let outcome = async {
        let deployments = ns.api::<Deployment>();
        for deployment in ["source-controller", "kustomize-controller"] {
            ferry_testenv::wait_for_deployment_available(&deployments, deployment, Duration::from_secs(120)).await?;
            let pods = ns
                .api::<Pod>()
                .list(&ListParams::default().labels(&format!("app.kubernetes.io/name={deployment}")))
                .await?;
            anyhow::ensure!(pods.items.len() == 1, "{deployment}: {} Pods", pods.items.len());
            let phase = pods.items[0].status.as_ref().and_then(|s| s.phase.clone());
            anyhow::ensure!(phase.as_deref() == Some("Running"), "{deployment} Pod is {phase:?}");
        }
        let service = ns.api::<Service>().get("source-controller").await?;
        let port = service.spec.and_then(|s| s.ports).and_then(|p| p.into_iter().next()).map(|p| (p.port, p.name));
        anyhow::ensure!(port == Some((80, Some("http".to_string()))), "artifact Service port {port:?}");
        Ok(())
    }
    .await;

    // Cluster-scoped objects outlive the namespace: remove them (CRDs stay, other tests share them).
    for object in applied.iter().filter(|a| a.namespace.is_none() && a.resource.kind != "CustomResourceDefinition") {
        object.delete(&client).await.unwrap();
    }
    outcome.unwrap();
    ns.delete(Duration::from_secs(90)).await.unwrap();
}
