//! HelmChart end to end on the local control plane: charts pulled from a
//! real chart repository through a HelmRepository's stored index, or
//! packaged from a path in a GitRepository, the controller in-process, and
//! the chart artifact downloaded from the URL it advertises and loaded.

mod support;

use ferry_api_source::{GitRepository, HelmChart, HelmRepository};
use ferry_helm::Value;
use ferry_testenv::TestNamespace;
use ferry_testenv::git::{GitServer, GitServerOptions};
use ferry_testenv::helmrepo::{ChartRepo, ChartRepoOptions};
use support::{
    WAIT, apply_secret, apply_source, condition, download, install_crd, request_reconcile, sha256, start_controller,
    wait_condition, wait_event,
};

/// A chart `app` at `version` with a second values file, packaged as
/// `helm package` packages it into the repository.
fn add_app(charts: &ChartRepo, version: &str) -> Vec<u8> {
    let file = |name: &str, data: &str| ferry_helm::chart::File { name: name.into(), data: data.as_bytes().to_vec() };
    let files = vec![
        file("Chart.yaml", &format!("apiVersion: v2\nname: app\nversion: {version}\n")),
        file("values.yaml", "replicas: 1\nimage:\n  tag: stable\n"),
        file("values-prod.yaml", "replicas: 3\nimage:\n  pullPolicy: Always\n"),
        file("templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"),
    ];
    let chart = ferry_helm::chart::load::load_files(files).unwrap();
    let archive = ferry_helm::archive::write::package(&chart, 1_700_000_000).unwrap();
    charts.write_file(&ferry_helm::archive::write::archive_name(&chart), &archive).unwrap();
    archive
}

/// The artifact of a ready chart, downloaded and checked against its digest.
async fn stored_chart(chart: &HelmChart) -> (ferry_api_meta::Artifact, Vec<u8>) {
    let artifact = chart.status.as_ref().unwrap().artifact.clone().unwrap();
    let bytes = download(&artifact.url).await;
    assert_eq!(sha256(&bytes), artifact.digest);
    assert_eq!(artifact.size, Some(bytes.len() as i64));
    (artifact, bytes)
}

fn revision_of(chart: &HelmChart) -> Option<String> {
    chart.status.as_ref()?.artifact.as_ref().map(|a| a.revision.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn charts_are_pulled_from_a_helm_repository_and_follow_new_versions() {
    let ns = TestNamespace::new("helmchart-repo").await.unwrap();
    install_crd(ns.client()).await;
    let controller = start_controller(ns.client(), ns.name()).await;
    let charts = ChartRepo::start(ChartRepoOptions::default()).await.unwrap();
    add_app(&charts, "1.0.0");
    let latest = add_app(&charts, "1.1.0");
    charts.write_index().unwrap();

    let repos = ns.api::<HelmRepository>();
    apply_source(&ns, "HelmRepository", "charts", serde_json::json!({"url": charts.url()})).await;
    let repo = ferry_testenv::wait_for_condition(&repos, "charts", "Ready", "True", WAIT).await.unwrap();
    let repo_revision = repo.status.unwrap().artifact.unwrap().revision;

    // The latest version, pulled as the repository serves it.
    let api = ns.api::<HelmChart>();
    apply_source(
        &ns,
        "HelmChart",
        "plain",
        serde_json::json!({"chart": "app", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}),
    )
    .await;
    let ready = wait_condition(&api, "plain", "Ready", "True", "ChartPullSucceeded").await;
    let status = ready.status.clone().unwrap();
    assert_eq!(condition(&ready, "Ready").unwrap().2, "pulled 'app' chart with version '1.1.0'");
    assert_eq!(condition(&ready, "ArtifactInStorage").unwrap().1, "ChartPullSucceeded");
    assert_eq!(status.observed_chart_name.as_deref(), Some("app"));
    assert_eq!(status.observed_source_artifact_revision.as_deref(), Some(repo_revision.as_str()));
    let (artifact, bytes) = stored_chart(&ready).await;
    assert_eq!(artifact.revision, "1.1.0");
    assert_eq!(artifact.path, format!("helmchart/{}/plain/app-1.1.0.tgz", ns.name()));
    assert_eq!(bytes, latest);
    let link = status.url.clone().unwrap();
    assert!(link.ends_with(&format!("helmchart/{}/plain/latest.tar.gz", ns.name())), "{link}");
    assert_eq!(download(&link).await, bytes);
    let note = wait_event(&ns, "plain", "Normal", "ChartPullSucceeded").await;
    assert_eq!(note, "pulled 'app' chart with version '1.1.0'");

    // A pinned version with values files merged into values.yaml, a
    // missing one ignored: repackaged, versioned with the generation.
    apply_source(
        &ns,
        "HelmChart",
        "merged",
        serde_json::json!({
            "chart": "app", "version": "~1.0.0", "sourceRef": {"kind": "HelmRepository", "name": "charts"},
            "valuesFiles": ["values.yaml", "values-prod.yaml", "values-missing.yaml"],
            "ignoreMissingValuesFiles": true,
        }),
    )
    .await;
    let merged = wait_condition(&api, "merged", "Ready", "True", "ChartPackageSucceeded").await;
    let generation = merged.metadata.generation.unwrap();
    let version = format!("1.0.0+{generation}");
    assert_eq!(
        condition(&merged, "Ready").unwrap().2,
        format!("packaged 'app' chart with version '{version}' and merged values files [values.yaml values-prod.yaml]")
    );
    let merged_status = merged.status.clone().unwrap();
    assert_eq!(merged_status.observed_values_files, Some(vec!["values.yaml".into(), "values-prod.yaml".into()]));
    let (merged_artifact, bytes) = stored_chart(&merged).await;
    assert_eq!(merged_artifact.revision, version);
    let loaded = ferry_helm::chart::load::load_archive(&bytes).unwrap();
    assert_eq!(loaded.metadata.version, version);
    assert_eq!(loaded.values.get("replicas"), Some(&Value::Float(3.0)));
    let Some(Value::Map(image)) = loaded.values.get("image") else { panic!("{:?}", loaded.values) };
    assert_eq!(image.get("tag"), Some(&Value::String("stable".into())));
    assert_eq!(image.get("pullPolicy"), Some(&Value::String("Always".into())));
    wait_event(&ns, "merged", "Normal", "ChartPackageSucceeded").await;

    // A missing values file that is not ignored stops the build.
    apply_source(
        &ns,
        "HelmChart",
        "strict",
        serde_json::json!({"chart": "app", "sourceRef": {"kind": "HelmRepository", "name": "charts"}, "valuesFiles": ["values-missing.yaml"]}),
    )
    .await;
    let strict = wait_condition(&api, "strict", "BuildFailed", "True", "ValuesFilesError").await;
    assert_eq!(
        condition(&strict, "BuildFailed").unwrap().2,
        "values files merge error: no values file found at path 'values-missing.yaml'"
    );
    wait_condition(&api, "strict", "Stalled", "True", "ValuesFilesError").await;

    // A new version in the repository: the new index reaches the charts
    // that use it at once; the pinned one keeps its artifact.
    add_app(&charts, "1.2.0");
    charts.write_index().unwrap();
    request_reconcile(&repos, "charts", "new-version").await;
    let updated =
        ferry_testenv::wait_for(&api, "plain", WAIT, |c: &HelmChart| revision_of(c).as_deref() == Some("1.2.0"))
            .await
            .unwrap();
    let (_, bytes) = stored_chart(&updated).await;
    assert_eq!(ferry_helm::chart::load::load_archive(&bytes).unwrap().metadata.version, "1.2.0");
    let new_index = repos.get("charts").await.unwrap().status.unwrap().artifact.unwrap().revision;
    let pinned = ferry_testenv::wait_for(&api, "merged", WAIT, |c: &HelmChart| {
        c.status.as_ref().and_then(|s| s.observed_source_artifact_revision.as_deref()) == Some(new_index.as_str())
    })
    .await
    .unwrap();
    let (pinned_artifact, _) = stored_chart(&pinned).await;
    assert_eq!((pinned_artifact.revision, pinned_artifact.digest), (merged_artifact.revision, merged_artifact.digest));

    // Deleting a chart removes its artifacts.
    api.delete("plain", &Default::default()).await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while api.get_opt("plain").await.unwrap().is_some() {
        assert!(std::time::Instant::now() < deadline, "plain was never deleted");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(reqwest::get(&artifact.url).await.unwrap().status(), 404);
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn charts_that_cannot_be_had_say_why() {
    let ns = TestNamespace::new("helmchart-fail").await.unwrap();
    install_crd(ns.client()).await;
    let controller = start_controller(ns.client(), ns.name()).await;
    let options = ChartRepoOptions { basic_auth: Some(("flux".into(), "s3cret".into())), ..Default::default() };
    let charts = ChartRepo::start(options).await.unwrap();
    add_app(&charts, "1.0.0");
    charts.write_index().unwrap();
    apply_secret(&ns, "auth", serde_json::json!({"username": "flux", "password": "s3cret"})).await;
    let repos = ns.api::<HelmRepository>();
    apply_source(
        &ns,
        "HelmRepository",
        "charts",
        serde_json::json!({"url": charts.url(), "secretRef": {"name": "auth"}}),
    )
    .await;
    ferry_testenv::wait_for_condition(&repos, "charts", "Ready", "True", WAIT).await.unwrap();
    let source = serde_json::json!({"kind": "HelmRepository", "name": "charts"});

    // With the repository's credentials the chart is pulled.
    let api = ns.api::<HelmChart>();
    apply_source(&ns, "HelmChart", "good", serde_json::json!({"chart": "app", "sourceRef": source})).await;
    let good = wait_condition(&api, "good", "Ready", "True", "ChartPullSucceeded").await;
    assert_eq!(revision_of(&good).as_deref(), Some("1.0.0"));

    // A version range that matches nothing, and a chart that is not there.
    apply_source(
        &ns,
        "HelmChart",
        "range",
        serde_json::json!({"chart": "app", "version": ">=2.0.0", "sourceRef": source}),
    )
    .await;
    let range = wait_condition(&api, "range", "FetchFailed", "True", "InvalidChartReference").await;
    assert_eq!(
        condition(&range, "FetchFailed").unwrap().2,
        "invalid chart reference: failed to get chart version for remote reference: no 'app' chart with version matching '>=2.0.0' found"
    );
    let range = wait_condition(&api, "range", "Ready", "False", "InvalidChartReference").await;
    assert_eq!(condition(&range, "Stalled").unwrap().0, "True");
    apply_source(&ns, "HelmChart", "missing", serde_json::json!({"chart": "nope", "sourceRef": source})).await;
    let missing = wait_condition(&api, "missing", "FetchFailed", "True", "InvalidChartReference").await;
    assert_eq!(
        condition(&missing, "FetchFailed").unwrap().2,
        "invalid chart reference: failed to get chart version for remote reference: no chart name found"
    );

    // Features Ferry does not support yet are refused.
    apply_source(
        &ns,
        "HelmChart",
        "verify",
        serde_json::json!({"chart": "app", "sourceRef": source, "verify": {"provider": "cosign"}}),
    )
    .await;
    let verify = wait_condition(&api, "verify", "BuildFailed", "True", "ChartVerificationError").await;
    assert_eq!(condition(&verify, "SourceVerified").unwrap().1, "VerificationError");
    assert!(condition(&verify, "BuildFailed").unwrap().2.contains("spec.verify applies to OCI charts only"));

    // Wrong credentials: the repository keeps its stored index, the chart
    // download is refused.
    apply_secret(&ns, "auth", serde_json::json!({"username": "flux", "password": "wrong"})).await;
    request_reconcile(&repos, "charts", "wrong-password").await;
    ferry_testenv::wait_for_condition(&repos, "charts", "Ready", "False", WAIT).await.unwrap();
    apply_source(&ns, "HelmChart", "denied", serde_json::json!({"chart": "app", "sourceRef": source})).await;
    let denied = wait_condition(&api, "denied", "FetchFailed", "True", "AuthenticationFailed").await;
    let message = condition(&denied, "FetchFailed").unwrap().2;
    assert!(message.starts_with("failed to authenticate with the Helm repository: chart pull error:"), "{message}");
    assert!(message.contains("401"), "{message}");
    assert!(charts.requests().iter().any(|r| r.uri.ends_with("app-1.0.0.tgz") && r.authorized && r.status == 401));
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn charts_are_packaged_from_git_per_version_or_per_revision() {
    let ns = TestNamespace::new("helmchart-git").await.unwrap();
    install_crd(ns.client()).await;
    let server = GitServer::start(GitServerOptions::default()).await.unwrap();
    // A chart repository behind basic auth, with its HelmRepository, for a
    // dependency of an umbrella chart.
    let options = ChartRepoOptions { basic_auth: Some(("flux".into(), "s3cret".into())), ..Default::default() };
    let charts = ChartRepo::start(options).await.unwrap();
    charts.add_chart("redis", "18.6.1").unwrap();
    charts.add_chart("redis", "19.0.0").unwrap();
    charts.write_index().unwrap();
    let repo = server.create_repo("app").unwrap();
    repo.write(
        "charts/umbrella/Chart.yaml",
        format!(
            "apiVersion: v2\nname: umbrella\nversion: 2.0.0\ndependencies:\n- name: redis\n  alias: cache\n  version: 18.x\n  repository: {}\n",
            charts.url().trim_end_matches('/')
        ),
    )
    .unwrap();
    repo.write("charts/umbrella/values.yaml", "").unwrap();
    repo.write(
        "charts/app/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 0.3.0\ndependencies:\n- name: lib\n  version: 0.x\n  repository: file://../lib\n",
    )
    .unwrap();
    repo.write("charts/app/values.yaml", "replicas: 1\n").unwrap();
    repo.write("charts/app/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n").unwrap();
    repo.write("charts/lib/Chart.yaml", "apiVersion: v2\nname: lib\nversion: 0.1.0\n").unwrap();
    repo.write("charts/lib/values.yaml", "").unwrap();
    repo.write("envs/prod.yaml", "replicas: 5\n").unwrap();
    let first = repo.commit("first").unwrap();
    let controller = start_controller(ns.client(), ns.name()).await;
    let gits = ns.api::<GitRepository>();
    apply_source(&ns, "GitRepository", "app", serde_json::json!({"url": server.url("app"), "ref": {"branch": "main"}}))
        .await;
    ferry_testenv::wait_for_condition(&gits, "app", "Ready", "True", WAIT).await.unwrap();
    let source = serde_json::json!({"kind": "GitRepository", "name": "app"});

    // Per revision: the commit's short hash in the version.
    let api = ns.api::<HelmChart>();
    apply_source(
        &ns,
        "HelmChart",
        "per-revision",
        serde_json::json!({"chart": "./charts/app", "sourceRef": source, "reconcileStrategy": "Revision"}),
    )
    .await;
    let ready = wait_condition(&api, "per-revision", "Ready", "True", "ChartPackageSucceeded").await;
    let version = format!("0.3.0+{}", &first[..12]);
    assert_eq!(condition(&ready, "Ready").unwrap().2, format!("packaged 'app' chart with version '{version}'"));
    assert_eq!(ready.status.as_ref().unwrap().observed_source_artifact_revision, Some(format!("main@sha1:{first}")));
    let (artifact, bytes) = stored_chart(&ready).await;
    assert_eq!(artifact.path, format!("helmchart/{}/per-revision/app-{version}.tgz", ns.name()));
    let loaded = ferry_helm::chart::load::load_archive(&bytes).unwrap();
    assert_eq!(loaded.metadata.version, version);
    let dependencies: Vec<&str> = loaded.dependencies.iter().map(|d| d.name()).collect();
    assert_eq!(dependencies, ["lib"]);
    wait_event(&ns, "per-revision", "Normal", "ChartPackageSucceeded").await;

    // Per chart version (the default), with values from the source root.
    apply_source(
        &ns,
        "HelmChart",
        "per-version",
        serde_json::json!({"chart": "charts/app", "sourceRef": source, "valuesFiles": ["charts/app/values.yaml", "envs/prod.yaml"]}),
    )
    .await;
    let per_version = wait_condition(&api, "per-version", "Ready", "True", "ChartPackageSucceeded").await;
    let generation = per_version.metadata.generation.unwrap();
    let (versioned, bytes) = stored_chart(&per_version).await;
    assert_eq!(versioned.revision, format!("0.3.0+{generation}"));
    let loaded = ferry_helm::chart::load::load_archive(&bytes).unwrap();
    assert_eq!(loaded.values.get("replicas"), Some(&Value::Float(5.0)));

    // A new commit that leaves the chart's version: a new artifact per
    // revision, the same one per version.
    repo.write("charts/app/templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n").unwrap();
    let second = repo.commit("second").unwrap();
    request_reconcile(&gits, "app", "second").await;
    let next = format!("0.3.0+{}", &second[..12]);
    let moved = ferry_testenv::wait_for(&api, "per-revision", WAIT, |c: &HelmChart| {
        revision_of(c).as_deref() == Some(next.as_str())
    })
    .await
    .unwrap();
    let (_, bytes) = stored_chart(&moved).await;
    let loaded = ferry_helm::chart::load::load_archive(&bytes).unwrap();
    assert!(loaded.templates.iter().any(|t| String::from_utf8_lossy(&t.data).contains("name: y")));
    let kept = ferry_testenv::wait_for(&api, "per-version", WAIT, |c: &HelmChart| {
        c.status.as_ref().and_then(|s| s.observed_source_artifact_revision.as_deref())
            == Some(format!("main@sha1:{second}").as_str())
    })
    .await
    .unwrap();
    let (kept_artifact, _) = stored_chart(&kept).await;
    assert_eq!((kept_artifact.revision, kept_artifact.digest), (versioned.revision, versioned.digest));

    // A dependency from a chart repository, through the HelmRepository of
    // its URL (its credentials, its stored index).
    apply_secret(&ns, "auth", serde_json::json!({"username": "flux", "password": "s3cret"})).await;
    apply_source(
        &ns,
        "HelmRepository",
        "deps",
        serde_json::json!({"url": charts.url(), "secretRef": {"name": "auth"}}),
    )
    .await;
    ferry_testenv::wait_for_condition(&ns.api::<HelmRepository>(), "deps", "Ready", "True", WAIT).await.unwrap();
    apply_source(&ns, "HelmChart", "umbrella", serde_json::json!({"chart": "charts/umbrella", "sourceRef": source}))
        .await;
    let umbrella = wait_condition(&api, "umbrella", "Ready", "True", "ChartPackageSucceeded").await;
    let (_, bytes) = stored_chart(&umbrella).await;
    let loaded = ferry_helm::chart::load::load_archive(&bytes).unwrap();
    let dependencies: Vec<(&str, &str)> =
        loaded.dependencies.iter().map(|d| (d.name(), d.metadata.version.as_str())).collect();
    assert_eq!(dependencies, [("cache", "18.6.1")]);
    assert!(charts.requests().iter().any(|r| r.uri.ends_with("redis-18.6.1.tgz") && r.status == 200));

    // A path with no chart.
    apply_source(&ns, "HelmChart", "nowhere", serde_json::json!({"chart": "charts/none", "sourceRef": source})).await;
    wait_condition(&api, "nowhere", "FetchFailed", "True", "InvalidChartReference").await;
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_go_to_other_hosts_only_with_pass_credentials() {
    let ns = TestNamespace::new("helmchart-pass").await.unwrap();
    install_crd(ns.client()).await;
    let controller = start_controller(ns.client(), ns.name()).await;
    // The index on one server lists a chart hosted on another, behind the
    // same credentials.
    let auth = ChartRepoOptions { basic_auth: Some(("flux".into(), "s3cret".into())), ..Default::default() };
    let index_host = ChartRepo::start(auth.clone()).await.unwrap();
    let chart_host = ChartRepo::start(auth).await.unwrap();
    add_app(&chart_host, "1.0.0");
    let index = format!(
        "apiVersion: v1\nentries:\n  app:\n  - apiVersion: v2\n    name: app\n    version: 1.0.0\n    urls:\n    - {}app-1.0.0.tgz\ngenerated: \"2024-01-01T00:00:00Z\"\n",
        chart_host.url()
    );
    index_host.write_file("index.yaml", index.as_bytes()).unwrap();
    apply_secret(&ns, "auth", serde_json::json!({"username": "flux", "password": "s3cret"})).await;
    let repos = ns.api::<HelmRepository>();
    apply_source(
        &ns,
        "HelmRepository",
        "charts",
        serde_json::json!({"url": index_host.url(), "secretRef": {"name": "auth"}}),
    )
    .await;
    ferry_testenv::wait_for_condition(&repos, "charts", "Ready", "True", WAIT).await.unwrap();

    // Without passCredentials the other host gets none, and refuses.
    let api = ns.api::<HelmChart>();
    let source = serde_json::json!({"kind": "HelmRepository", "name": "charts"});
    apply_source(&ns, "HelmChart", "app", serde_json::json!({"chart": "app", "sourceRef": source})).await;
    wait_condition(&api, "app", "FetchFailed", "True", "AuthenticationFailed").await;
    assert!(chart_host.requests().iter().all(|r| !r.authorized && r.status == 401));

    // With it, they go along, and the chart is pulled.
    apply_source(
        &ns,
        "HelmRepository",
        "charts",
        serde_json::json!({"url": index_host.url(), "secretRef": {"name": "auth"}, "passCredentials": true}),
    )
    .await;
    request_reconcile(&api, "app", "pass").await;
    let ready = wait_condition(&api, "app", "Ready", "True", "ChartPullSucceeded").await;
    assert_eq!(revision_of(&ready).as_deref(), Some("1.0.0"));
    assert!(chart_host.requests().iter().any(|r| r.authorized && r.status == 200));
    controller.stop().await;
}
