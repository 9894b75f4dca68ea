//! One controller identity, two kinds: source-controller runs its real
//! GitRepository reconciler next to a test kind under one manager, as it
//! runs HelmRepository and OCIRepository and will run Bucket. One Lease, one field
//! manager, one event source; metrics and reconciles kept apart by kind.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use ferry_api_source::{Bucket, BucketStatus, GitRepository};
use ferry_sdk::deps::meta::Condition;
use ferry_sdk::events::Severity;
use ferry_sdk::leader;
use ferry_sdk::reconcile::{Context, Runtime, Settings};
use ferry_sdk::{Outcome, ReconcileError, Reconciler};
use ferry_source_controller::{CONTROLLER_NAME, GitOptions};
use ferry_storage::{DigestAlgorithm, Storage};
use ferry_testenv::git::{GitServer, GitServerOptions};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use kube::api::{Api, ListParams, Patch, PatchParams};
use support::{WAIT, git_repository, wait_event};

/// The test kind: a stand-in reconciler for Bucket (Ferry has no Bucket
/// reconciler yet), so that a second kind runs under `source-controller`.
struct StandInBucket;

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl ReconcileError for Never {
    fn reason(&self) -> &str {
        "Never"
    }
}

impl Reconciler for StandInBucket {
    type Object = Bucket;
    type Error = Never;

    async fn reconcile(&self, bucket: &Bucket, status: &mut BucketStatus, ctx: &Context) -> Result<Outcome, Never> {
        let conditions: &mut Vec<Condition> = status.conditions.get_or_insert_with(Vec::new);
        ferry_sdk::conditions::mark_true(conditions, "ArtifactInStorage", "Succeeded", "stand-in", None);
        let message = format!("stand-in reconciled {}", bucket.spec.bucket_name);
        ctx.event(bucket, Severity::Info, "StandIn", &message, &Default::default()).await;
        Ok(Outcome::ready(message).quiet())
    }

    async fn cleanup(&self, _: &Bucket, _: &Context) -> Result<(), Never> {
        Ok(())
    }
}

fn status_managers(fields: &Option<Vec<ManagedFieldsEntry>>) -> Vec<String> {
    fields
        .iter()
        .flatten()
        .filter(|entry| entry.subresource.as_deref() == Some("status"))
        .filter_map(|entry| entry.manager.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn source_controller_runs_two_kinds_under_one_identity() {
    let ns = ferry_testenv::TestNamespace::new("source-manager").await.unwrap();
    ferry_testenv::install_crds(ns.client(), &ferry_testenv::SOURCE_AND_KUSTOMIZE_CRDS).await.unwrap();
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.write("deploy/app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n").unwrap();
    let commit = repo.commit("first").unwrap();

    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let storage =
        Storage::new(dir.path(), format!("127.0.0.1:{port}"), Duration::from_secs(60), 2, DigestAlgorithm::Sha256)
            .unwrap();
    let settings = Settings {
        namespace: Some(ns.name().to_string()),
        min_retry_delay: Duration::from_millis(200),
        max_retry_delay: Duration::from_secs(2),
        ..Settings::new(CONTROLLER_NAME)
    };
    let lease_name = format!("{CONTROLLER_NAME}-leader-election");
    let lease = leader::Config {
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(3),
        retry_period: Duration::from_millis(500),
        ..leader::Config::new(ns.name(), &lease_name)
    };
    let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut runtime = Runtime::new(ns.client(), settings)
        .unwrap()
        .with_metrics_addr(Some(localhost))
        .with_leader_election(Some(lease));
    let metrics = runtime.bind().await.unwrap().metrics.unwrap();
    let storage_addr = Some(([127, 0, 0, 1], port).into());
    ferry_source_controller::add_git_repository(
        runtime.manager(CONTROLLER_NAME),
        storage,
        storage_addr,
        GitOptions::default(),
    )
    .unwrap()
    .add(StandInBucket)
    .start()
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(runtime.wait(async move {
        let _ = stopped.await;
    }));

    let apply = PatchParams::apply("ferry-tests");
    let repos = ns.api::<GitRepository>();
    repos.patch("app", &apply, &Patch::Apply(git_repository("app", &server.url("app"), "main"))).await.unwrap();
    let buckets = ns.api::<Bucket>();
    let bucket = serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket", "metadata": {"name": "data"},
        "spec": {"bucketName": "data", "endpoint": "minio.example:9000", "interval": "10m"},
    });
    buckets.patch("data", &apply, &Patch::Apply(&bucket)).await.unwrap();

    // Both kinds reconciled.
    let git = ferry_testenv::wait_for_condition(&repos, "app", "Ready", "True", WAIT).await.unwrap();
    assert_eq!(git.status.as_ref().unwrap().artifact.as_ref().unwrap().revision, format!("main@sha1:{commit}"));
    let stand_in = ferry_testenv::wait_for_condition(&buckets, "data", "Ready", "True", WAIT).await.unwrap();
    assert_eq!(ferry_testenv::condition_status(&stand_in, "ArtifactInStorage").as_deref(), Some("True"));

    // One field manager on both statuses.
    assert_eq!(status_managers(&git.metadata.managed_fields), [CONTROLLER_NAME]);
    assert_eq!(status_managers(&stand_in.metadata.managed_fields), [CONTROLLER_NAME]);

    // One event source: both kinds' events are reported by source-controller.
    wait_event(&ns, "data", "Normal", "StandIn").await;
    wait_event(&ns, "app", "Normal", "NewArtifact").await;
    let events: Api<k8s_openapi::api::events::v1::Event> = ns.api();
    let reporters: std::collections::BTreeSet<(String, String)> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| {
            let kind = e.regarding.and_then(|r| r.kind).unwrap_or_default();
            (kind, e.reporting_controller.unwrap_or_default())
        })
        .collect();
    assert_eq!(
        reporters,
        [
            ("Bucket".to_string(), CONTROLLER_NAME.to_string()),
            ("GitRepository".to_string(), CONTROLLER_NAME.to_string())
        ]
        .into()
    );

    // Exactly one Lease, the identity's.
    let leases: Api<Lease> = ns.api();
    let names: Vec<String> =
        leases.list(&ListParams::default()).await.unwrap().items.into_iter().filter_map(|l| l.metadata.name).collect();
    assert_eq!(names, std::slice::from_ref(&lease_name));
    let holder = leases.get(&lease_name).await.unwrap().spec.and_then(|s| s.holder_identity);
    assert!(holder.is_some_and(|h| !h.is_empty()));

    // One /metrics, each kind under its own label.
    let http = ferry_sdk::http::client(Duration::from_secs(5)).unwrap();
    let text = http.get(format!("http://{metrics}/metrics")).send().await.unwrap().text().await.unwrap();
    for (kind, controller) in [("GitRepository", "gitrepository"), ("Bucket", "bucket")] {
        assert!(text.contains(&format!("gotk_reconcile_duration_seconds_count{{kind=\"{kind}\"")), "{kind}: {text}");
        assert!(
            text.contains(&format!("ferry_reconcile_total{{kind=\"{kind}\",result=\"success\"}}")),
            "{kind}: {text}"
        );
        assert!(
            text.contains(&format!(
                "controller_runtime_reconcile_total{{controller=\"{controller}\",result=\"requeue_after\"}}"
            )),
            "{controller}: {text}"
        );
        assert!(
            text.contains(&format!("workqueue_depth{{controller=\"{controller}\",name=\"{controller}\"}}")),
            "{text}"
        );
    }

    // Deleting runs each kind's cleanup under the same manager, then it stops and gives the Lease up.
    repos.delete("app", &Default::default()).await.unwrap();
    buckets.delete("data", &Default::default()).await.unwrap();
    let gone = async {
        while repos.get_opt("app").await.unwrap().is_some() || buckets.get_opt("data").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(WAIT, gone).await.expect("finalizers removed by both kinds");
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), task).await.unwrap().unwrap().unwrap();
    let holder = leases.get(&lease_name).await.unwrap().spec.and_then(|s| s.holder_identity);
    assert!(holder.as_deref().is_none_or(str::is_empty), "lease still held by {holder:?}");
}
