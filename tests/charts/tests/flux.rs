//! The real flux CLI, built from `hack/flux`, reads Ferry's CRDs as Flux's own.

use std::process::Command;
use std::time::Duration;

use ferry_charts_tests::{FLUX_ENV, Helm, apply, required_go_version, run, tool};
use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::json;

#[test]
fn flux_cli_reports_the_version_hack_pins() {
    let flux = tool(FLUX_ENV).unwrap();
    let version = required_go_version("flux", "github.com/fluxcd/flux2/v2").unwrap();
    let output = run(Command::new(flux).args(["version", "--client"])).unwrap();
    assert_eq!(output.trim(), format!("flux: {version}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn flux_get_sources_git_lists_a_ready_git_repository() {
    let flux = tool(FLUX_ENV).unwrap();
    let kubeconfig = ferry_testenv::kubeconfig_path().unwrap();
    let ns = ferry_testenv::TestNamespace::new("flux-cli").await.unwrap();
    let client = ns.client();

    // The GitRepository CRD as the source-controller chart installs it.
    let helm = Helm::new().unwrap();
    let crds: Vec<_> = helm
        .template("source-controller", "sc", ns.name(), &[])
        .unwrap()
        .into_iter()
        .filter(|o| ferry_charts_tests::name(o) == "gitrepositories.source.toolkit.fluxcd.io")
        .collect();
    assert_eq!(crds.len(), 1);
    apply(&client, ns.name(), &crds).await.unwrap();

    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository"));
    let repos: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns.name(), &resource);
    let repo: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "podinfo"},
        "spec": {"interval": "5m", "url": "https://github.com/stefanprodan/podinfo", "ref": {"branch": "master"}},
    }))
    .unwrap();
    let created = repos.create(&PostParams::default(), &repo).await.unwrap();
    let revision = "master@sha1:b3b00fe35424a45d373bf4c7214178bc36fd7872";
    let message = format!("stored artifact for revision '{revision}'");
    let status = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "status": {
            "observedGeneration": created.metadata.generation,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Succeeded",
                    "message": message,
                    "observedGeneration": created.metadata.generation,
                    "lastTransitionTime": "2025-01-01T00:00:00Z",
                },
            ],
            "artifact": {
                "path": "gitrepository/podinfo/podinfo/b3b00fe35424a45d373bf4c7214178bc36fd7872.tar.gz",
                "url": "http://source-controller.flux-system.svc.cluster.local./gitrepository/podinfo/podinfo/b3b00fe35424a45d373bf4c7214178bc36fd7872.tar.gz",
                "revision": revision,
                "digest": "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
                "lastUpdateTime": "2025-01-01T00:00:00Z",
            },
        },
    });
    repos
        .patch_status("podinfo", &PatchParams::apply(ferry_charts_tests::FIELD_MANAGER).force(), &Patch::Apply(&status))
        .await
        .unwrap();

    let output =
        run(Command::new(&flux).args(["get", "sources", "git", "-n", ns.name(), "--kubeconfig"]).arg(&kubeconfig))
            .unwrap();
    let mut lines = output.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header, vec!["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"], "{output}");
    let row = lines.find(|line| line.starts_with("podinfo")).unwrap_or_else(|| panic!("no podinfo row in:\n{output}"));
    // flux shortens the digest of a revision to 8 characters, in the message too.
    let short = "master@sha1:b3b00fe3";
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&columns[..4], &["podinfo", short, "False", "True"], "{output}");
    assert!(row.trim_end().ends_with(&format!("stored artifact for revision '{short}'")), "{output}");

    ns.delete(Duration::from_secs(90)).await.unwrap();
}
