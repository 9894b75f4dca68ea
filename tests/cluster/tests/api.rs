//! The API server is Kubernetes 1.36 and serves CRDs: established, created,
//! listed, watched and patched with server-side apply.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use serde_json::json;

#[tokio::test]
async fn version_is_1_36() {
    let client = ferry_testenv::client().await.unwrap();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
    assert_eq!(version.minor, "36");
    assert!(version.git_version.starts_with("v1.36."), "{}", version.git_version);
}

#[tokio::test]
async fn custom_resources_work_end_to_end() {
    let ns = ferry_testenv::TestNamespace::new("crd").await.unwrap();
    let client = ns.client();
    // A group of this test's own, so that concurrent runs never share a CRD.
    let group = format!("{}.testenv.ferry.dev", ns.name());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {
            "group": group,
            "names": {"kind": "Widget", "listKind": "WidgetList", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "properties": {
                            "size": {"type": "integer", "minimum": 1},
                            "color": {"type": "string"},
                        }},
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    },
                }},
            }],
        },
    }))
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.metadata.name.clone().unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();
    ferry_testenv::wait_for_condition(&crds, &name, "Established", "True", Duration::from_secs(30)).await.unwrap();

    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(&group, "v1", "Widget"));
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns.name(), &resource);

    // A watch opened before the objects exist sees them arrive.
    let version = widgets.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    let mut events = widgets.watch(&WatchParams::default().timeout(60), &version).await.unwrap().boxed();

    let ssa = PatchParams::apply("ferry-testenv");
    for (widget, size) in [("small", 1), ("large", 9)] {
        let object = json!({
            "apiVersion": format!("{group}/v1"),
            "kind": "Widget",
            "metadata": {"name": widget},
            "spec": {"size": size, "color": "blue"},
        });
        widgets.patch(widget, &ssa, &Patch::Apply(&object)).await.unwrap();
    }
    let listed = widgets.list(&ListParams::default()).await.unwrap();
    let mut names: Vec<_> = listed.items.iter().filter_map(|w| w.metadata.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["large", "small"]);

    // Server-side apply by a second manager changes only its field.
    let recolor = json!({
        "apiVersion": format!("{group}/v1"),
        "kind": "Widget",
        "metadata": {"name": "large"},
        "spec": {"color": "red"},
    });
    let patched =
        widgets.patch("large", &PatchParams::apply("second-manager"), &Patch::Apply(&recolor)).await.unwrap_err();
    // Both managers own spec.color now in conflict: SSA reports it unless forced.
    assert!(matches!(patched, kube::Error::Api(ref s) if s.code == 409), "{patched:?}");
    let forced =
        widgets.patch("large", &PatchParams::apply("second-manager").force(), &Patch::Apply(&recolor)).await.unwrap();
    assert_eq!(forced.data["spec"]["color"], "red");
    assert_eq!(forced.data["spec"]["size"], 9);
    let managers: Vec<_> =
        forced.metadata.managed_fields.unwrap_or_default().into_iter().filter_map(|m| m.manager).collect();
    assert!(managers.contains(&"ferry-testenv".to_string()) && managers.contains(&"second-manager".to_string()));

    let mut added = BTreeSet::new();
    while added.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(30), events.try_next()).await.unwrap().unwrap();
        match event {
            Some(WatchEvent::Added(widget)) => {
                added.extend(widget.metadata.name);
            }
            Some(_) => {}
            None => panic!("the watch ended before both widgets were added: {added:?}"),
        }
    }
    assert_eq!(added.into_iter().collect::<Vec<_>>(), ["large", "small"]);

    // Invalid input is rejected by the schema.
    let invalid = json!({
        "apiVersion": format!("{group}/v1"),
        "kind": "Widget",
        "metadata": {"name": "broken"},
        "spec": {"size": 0},
    });
    let err = widgets.patch("broken", &ssa, &Patch::Apply(&invalid)).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 422), "{err:?}");

    crds.delete(&name, &Default::default()).await.unwrap();
    ns.delete(Duration::from_secs(60)).await.unwrap();
}

#[tokio::test]
async fn namespaces_isolate_concurrent_binaries() {
    ferry_cluster_tests::namespace_isolation("api").await.unwrap();
}
