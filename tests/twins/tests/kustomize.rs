//! Each kustomize-controller replaces the other alone: Flux's real
//! kustomize-controller applies from Ferry's source-controller, and the
//! Kustomizations one of them reconciled are taken over by the other without
//! recreating, re-owning or forgetting what was applied.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use ferry_api_kustomize::Kustomization;
use ferry_twins_tests::{APPLY_MANAGER, STATUS_MANAGER, Twins, WAIT, inventory, managers, ready};
use k8s_openapi::api::core::v1::{ConfigMap, Event, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Resource, ResourceExt};

fn config_map(name: &str, color: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  color: {color}\n")
}

fn service_account(name: &str) -> String {
    format!("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n")
}

/// The uid of every object of the app that exists now, by `<kind>/<name>`.
async fn uids(twins: &Twins) -> Result<BTreeMap<String, String>> {
    let mut uids = BTreeMap::new();
    for map in twins.api::<ConfigMap>().list(&Default::default()).await? {
        if map.labels().contains_key("kustomize.toolkit.fluxcd.io/name") {
            uids.insert(format!("ConfigMap/{}", map.name_any()), map.uid().unwrap_or_default());
        }
    }
    for account in twins.api::<ServiceAccount>().list(&Default::default()).await? {
        if account.labels().contains_key("kustomize.toolkit.fluxcd.io/name") {
            uids.insert(format!("ServiceAccount/{}", account.name_any()), account.uid().unwrap_or_default());
        }
    }
    Ok(uids)
}

/// Waits until `name` is gone (pruned objects may pass through Terminating).
async fn wait_gone<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    let deadline = std::time::Instant::now() + WAIT;
    while api.get_opt(name).await?.is_some() {
        anyhow::ensure!(std::time::Instant::now() < deadline, "{name} was not pruned within {WAIT:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Deletes the Kustomization while a controller runs (it removes the
/// finalizer after pruning) and waits until it is gone.
async fn delete_kustomization(twins: &Twins, name: &str) -> Result<()> {
    let api = twins.api::<Kustomization>();
    api.delete(name, &DeleteParams::default()).await?;
    wait_gone(&api, name).await.context("deleting the Kustomization")
}

/// The `ReconciliationSucceeded` Events of the Kustomization `app` for `revision`.
async fn succeeded_events(twins: &Twins, revision: &str) -> Result<Vec<Event>> {
    let events: Api<Event> = twins.api();
    let list = events.list(&ListParams::default().fields("involvedObject.name=app")).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|event| event.reason.as_deref() == Some("ReconciliationSucceeded"))
        .filter(|event| {
            event
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kustomize.toolkit.fluxcd.io/revision"))
                .map(String::as_str)
                == Some(revision)
        })
        .collect())
}

/// The first commit of both scenarios: two ConfigMaps and a ServiceAccount.
fn commit_first(twins: &Twins) -> String {
    twins
        .commit(
            &[
                ("deploy/a.yaml", &config_map("a", "blue")),
                ("deploy/b.yaml", &config_map("b", "blue")),
                ("deploy/c.yaml", &service_account("c")),
            ],
            &[],
            "first",
        )
        .unwrap()
}

fn expected_inventory(ns: &str, objects: &[(&str, &str)]) -> Vec<String> {
    let mut ids: Vec<String> = objects.iter().map(|(kind, name)| format!("{ns}_{name}__{kind}/v1")).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn flux_kustomize_controller_applies_from_ferry_source_controller() {
    let twins = Twins::start("twin-flux-on-ferry").await.unwrap();
    let ns = twins.name().to_string();
    let first = commit_first(&twins);
    let repo = twins.git_repository(&first).await.unwrap();
    let artifact = repo.status.and_then(|s| s.artifact).expect("an artifact");
    assert_eq!(artifact.revision, format!("main@sha1:{first}"));
    assert!(artifact.digest.starts_with("sha256:"), "{artifact:?}");

    let mut flux = twins.start_flux_kustomize().await.unwrap();
    twins.kustomization("app", "./deploy").await.unwrap();
    let applied = twins.wait_applied("app", &first, None, &mut || flux.check_alive()).await;
    let applied = applied.unwrap_or_else(|err| panic!("{err:#}\nFlux's log:\n{}", flux.log_tail(40)));

    // What Flux reports about a revision that Ferry's source-controller served.
    let condition = ready(&applied).unwrap();
    assert_eq!(condition.reason, "ReconciliationSucceeded");
    assert_eq!(condition.message, format!("Applied revision: main@sha1:{first}"));
    let status = applied.status.as_ref().unwrap();
    assert_eq!(status.last_applied_revision.as_deref(), Some(artifact.revision.as_str()));
    assert_eq!(status.last_attempted_revision.as_deref(), Some(artifact.revision.as_str()));
    assert_eq!(
        inventory(&applied),
        expected_inventory(&ns, &[("ConfigMap", "a"), ("ConfigMap", "b"), ("ServiceAccount", "c")])
    );
    let a = twins.api::<ConfigMap>().get("a").await.unwrap();
    assert_eq!(a.data.as_ref().and_then(|d| d.get("color")).map(String::as_str), Some("blue"));
    assert_eq!(a.labels().get("kustomize.toolkit.fluxcd.io/name").map(String::as_str), Some("app"));
    assert_eq!(a.labels().get("kustomize.toolkit.fluxcd.io/namespace"), Some(&ns));
    twins.api::<ServiceAccount>().get("c").await.unwrap();

    // A new commit is applied and a removed file is pruned.
    let second = twins.commit(&[("deploy/a.yaml", &config_map("a", "green"))], &["deploy/b.yaml"], "second").unwrap();
    let applied = twins.wait_applied("app", &second, None, &mut || flux.check_alive()).await;
    let applied = applied.unwrap_or_else(|err| panic!("{err:#}\nFlux's log:\n{}", flux.log_tail(40)));
    assert_eq!(ready(&applied).unwrap().message, format!("Applied revision: main@sha1:{second}"));
    assert_eq!(inventory(&applied), expected_inventory(&ns, &[("ConfigMap", "a"), ("ServiceAccount", "c")]));
    wait_gone(&twins.api::<ConfigMap>(), "b").await.unwrap();
    let a = twins.api::<ConfigMap>().get("a").await.unwrap();
    assert_eq!(a.data.as_ref().and_then(|d| d.get("color")).map(String::as_str), Some("green"));

    delete_kustomization(&twins, "app").await.unwrap();
    flux.stop();
    twins.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn kustomizations_pass_from_flux_to_ferry_and_back() {
    let twins = Twins::start("twin-handover").await.unwrap();
    let ns = twins.name().to_string();
    let config_maps = twins.api::<ConfigMap>();
    let first = commit_first(&twins);
    twins.git_repository(&first).await.unwrap();

    // Flux's kustomize-controller reconciles the Kustomization first.
    let mut flux = twins.start_flux_kustomize().await.unwrap();
    twins.kustomization("app", "./deploy").await.unwrap();
    let by_flux = twins.wait_applied("app", &first, None, &mut || flux.check_alive()).await;
    let by_flux = by_flux.unwrap_or_else(|err| panic!("{err:#}\nFlux's log:\n{}", flux.log_tail(40)));
    flux.stop();
    let flux_inventory = inventory(&by_flux);
    assert_eq!(
        flux_inventory,
        expected_inventory(&ns, &[("ConfigMap", "a"), ("ConfigMap", "b"), ("ServiceAccount", "c")])
    );
    let uids_by_flux = uids(&twins).await.unwrap();
    assert_eq!(uids_by_flux.len(), 3, "{uids_by_flux:?}");
    let a_by_flux = config_maps.get("a").await.unwrap();
    assert_eq!(managers(&a_by_flux.metadata), vec![(APPLY_MANAGER.to_string(), "Apply".to_string(), String::new())]);
    let status_managers_by_flux = managers(&by_flux.metadata);
    assert!(
        status_managers_by_flux.contains(&(STATUS_MANAGER.to_string(), "Update".to_string(), "status".to_string())),
        "{status_managers_by_flux:?}"
    );

    // Ferry's takes over: same inventory, same objects, same owner.
    let mut ferry = twins.start_ferry_kustomize().await.unwrap();
    let token = twins.request_reconcile("app").await.unwrap();
    let by_ferry = twins.wait_applied("app", &first, Some(&token), &mut || ferry.check_alive()).await.unwrap();
    assert_eq!(inventory(&by_ferry), flux_inventory);
    assert_eq!(ready(&by_ferry).unwrap().message, ready(&by_flux).unwrap().message);
    assert_eq!(uids(&twins).await.unwrap(), uids_by_flux, "Ferry recreated objects Flux had applied");
    let a_by_ferry = config_maps.get("a").await.unwrap();
    assert_eq!(managers(&a_by_ferry.metadata), managers(&a_by_flux.metadata));
    let status_managers_by_ferry = managers(&by_ferry.metadata);
    let status_writers: Vec<&(String, String, String)> =
        status_managers_by_ferry.iter().filter(|(_, _, subresource)| subresource == "status").collect();
    assert!(
        status_writers.iter().all(|(manager, _, _)| manager == STATUS_MANAGER),
        "the status has a second writer: {status_managers_by_ferry:?}"
    );
    assert_eq!(by_ferry.finalizers(), by_flux.finalizers());
    // Both announce the reconcile alike, for `flux events` and notification-controller.
    let events = succeeded_events(&twins, &format!("main@sha1:{first}")).await.unwrap();
    assert!(events.len() >= 2, "one ReconciliationSucceeded event from each controller: {events:#?}");
    for event in &events {
        assert_eq!(event.reporting_component.as_deref(), Some("kustomize-controller"), "{event:#?}");
        assert_eq!(event.source.as_ref().and_then(|s| s.component.as_deref()), Some("kustomize-controller"));
        assert!(event.count.is_some() && event.last_timestamp.is_some(), "{event:#?}");
        let message = event.message.as_deref().unwrap_or_default();
        assert!(
            message.starts_with("Reconciliation finished in ") && message.ends_with(", next run in 10m0s"),
            "{event:#?}"
        );
        let annotations = event.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(annotations.get("kustomize.toolkit.fluxcd.io/commit_status").map(String::as_str), Some("update"));
    }
    // The same build gives the same digest: Ferry counts on in Flux's snapshot of the revision.
    let history = |k: &Kustomization| k.status.as_ref().and_then(|s| s.history.clone()).unwrap_or_default();
    let (flux_history, ferry_history) = (history(&by_flux), history(&by_ferry));
    assert_eq!(flux_history.len(), 1, "{flux_history:?}");
    assert_eq!(ferry_history.len(), 1, "Ferry's build digest differs from Flux's: {ferry_history:#?}");
    assert_eq!(ferry_history[0].digest, flux_history[0].digest);
    assert_eq!(ferry_history[0].first_reconciled, flux_history[0].first_reconciled);
    assert_eq!(ferry_history[0].total_reconciliations, flux_history[0].total_reconciliations + 1);

    // A removed file: Ferry prunes the object Flux created, from Flux's inventory.
    let second = twins.commit(&[], &["deploy/c.yaml"], "second").unwrap();
    let by_ferry = twins.wait_applied("app", &second, None, &mut || ferry.check_alive()).await.unwrap();
    assert_eq!(inventory(&by_ferry), expected_inventory(&ns, &[("ConfigMap", "a"), ("ConfigMap", "b")]));
    wait_gone(&twins.api::<ServiceAccount>(), "c").await.unwrap();
    ferry.stop().await.unwrap();

    // And back to Flux: it reads Ferry's status and inventory as its own.
    let mut flux = twins.start_flux_kustomize().await.unwrap();
    let token = twins.request_reconcile("app").await.unwrap();
    let again = twins.wait_applied("app", &second, Some(&token), &mut || flux.check_alive()).await;
    let again = again.unwrap_or_else(|err| panic!("{err:#}\nFlux's log:\n{}", flux.log_tail(40)));
    assert_eq!(inventory(&again), inventory(&by_ferry));
    let (ferry_history, flux_history) = (history(&by_ferry), history(&again));
    assert_eq!(flux_history.len(), ferry_history.len(), "Flux's build digest differs from Ferry's: {flux_history:#?}");
    assert_eq!(flux_history[0].digest, ferry_history[0].digest);
    assert!(flux_history[0].total_reconciliations > ferry_history[0].total_reconciliations);
    let third = twins.commit(&[("deploy/a.yaml", &config_map("a", "green"))], &["deploy/b.yaml"], "third").unwrap();
    let by_flux = twins.wait_applied("app", &third, None, &mut || flux.check_alive()).await;
    let by_flux = by_flux.unwrap_or_else(|err| panic!("{err:#}\nFlux's log:\n{}", flux.log_tail(40)));
    assert_eq!(inventory(&by_flux), expected_inventory(&ns, &[("ConfigMap", "a")]));
    wait_gone(&config_maps, "b").await.unwrap();
    let a = config_maps.get("a").await.unwrap();
    assert_eq!(a.uid(), a_by_flux.uid(), "Flux recreated an object Ferry had kept");
    assert_eq!(a.data.as_ref().and_then(|d| d.get("color")).map(String::as_str), Some("green"));
    assert_eq!(managers(&a.metadata), managers(&a_by_flux.metadata));
    let flux_log = flux.log();
    assert!(!flux_log.contains("conflict"), "Flux's log reports a conflict:\n{flux_log}");

    delete_kustomization(&twins, "app").await.unwrap();
    flux.stop();
    twins.stop().await.unwrap();
}
