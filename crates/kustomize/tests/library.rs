//! The engine as a library: in-memory trees and many builds at once.

use ferry_kustomize::{BuildOptions, LoadRestrictions, MemFs, Reorder, build, build_resources};
use std::sync::Arc;

fn tree(prefix: &str) -> MemFs {
    let mut fs = MemFs::new();
    fs.add(
        "/app/base/kustomization.yaml",
        "resources:\n- deploy.yaml\nconfigMapGenerator:\n- name: cfg\n  literals:\n  - a=b\n",
    );
    fs.add(
        "/app/base/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        envFrom:\n        - configMapRef:\n            name: cfg\n",
    );
    fs.add("/app/overlay/kustomization.yaml", format!("namePrefix: {prefix}-\nresources:\n- ../base\n"));
    fs
}

#[test]
fn builds_an_in_memory_tree() {
    let out = build(&tree("dev"), "/app/overlay".as_ref(), &BuildOptions::default()).unwrap();
    assert!(out.contains("name: dev-cfg-"), "{out}");
    assert!(out.contains("name: dev-web"), "{out}");
}

#[test]
fn parallel_builds_are_independent() {
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let fs = Arc::new(tree(&format!("t{i}")));
            std::thread::spawn(move || {
                let docs = build_resources(fs.as_ref(), "/app/overlay".as_ref(), &BuildOptions::default()).unwrap();
                (i, docs)
            })
        })
        .collect();
    for h in handles {
        let (i, docs) = h.join().unwrap();
        assert_eq!(docs.len(), 2);
        let name = docs[1]["metadata"]["name"].as_str().unwrap();
        assert_eq!(name, format!("t{i}-web"));
        let cm = docs[0]["metadata"]["name"].as_str().unwrap();
        assert!(cm.starts_with(&format!("t{i}-cfg-")), "{cm}");
    }
}

#[test]
fn load_restrictions_apply_to_files_not_bases() {
    let mut fs = tree("x");
    fs.add("/app/outside.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: o\n");
    fs.add("/app/overlay2/kustomization.yaml", "resources:\n- ../outside.yaml\n");
    let err = build(&fs, "/app/overlay2".as_ref(), &BuildOptions::default()).unwrap_err();
    assert!(err.to_string().contains("is not in or below"), "{err}");
    let ok = build(
        &fs,
        "/app/overlay2".as_ref(),
        &BuildOptions { load_restrictions: LoadRestrictions::None, ..BuildOptions::default() },
    )
    .unwrap();
    assert!(ok.contains("name: o"));
}

#[test]
fn reorder_none_keeps_the_input_order_unless_sort_options_say_otherwise() {
    let mut fs = MemFs::new();
    fs.add("/app/kustomization.yaml", "resources:\n- a.yaml\n- sa.yaml\n");
    fs.add("/app/a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n");
    fs.add("/app/sa.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n");
    fs.add("/sorted/kustomization.yaml", "resources:\n- ../app\nsortOptions:\n  order: legacy\n");
    let kinds = |options: &BuildOptions, dir: &str| -> Vec<String> {
        build_resources(&fs, dir.as_ref(), options)
            .unwrap()
            .iter()
            .map(|doc| doc["kind"].as_str().unwrap().to_string())
            .collect()
    };
    let as_read = BuildOptions { reorder: Reorder::None, ..BuildOptions::default() };
    assert_eq!(kinds(&BuildOptions::default(), "/app"), ["ServiceAccount", "ConfigMap"]);
    assert_eq!(kinds(&as_read, "/app"), ["ConfigMap", "ServiceAccount"]);
    assert_eq!(kinds(&as_read, "/sorted"), ["ServiceAccount", "ConfigMap"]);
}

/// A resolver that serves remote bases from directories of the same tree,
/// recording what it was asked for: the engine side of remote bases, without
/// a network.
struct Remotes {
    known: Vec<(&'static str, &'static str)>,
    asked: std::sync::Mutex<Vec<String>>,
}

impl ferry_kustomize::RemoteResolver for Remotes {
    fn resolve(&self, url: &str) -> Result<std::path::PathBuf, String> {
        self.asked.lock().unwrap().push(url.to_string());
        self.known
            .iter()
            .find(|(known, _)| *known == url)
            .map(|(_, dir)| dir.into())
            .ok_or_else(|| format!("couldn't find remote ref for {url}"))
    }
}

#[test]
fn remote_bases_come_from_the_resolver_and_are_refused_without_one() {
    let mut fs = tree("x");
    fs.add("/cache/remote-1/deploy/kustomization.yaml", "resources:\n- cm.yaml\n");
    fs.add("/cache/remote-1/deploy/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: remote\n");
    fs.add(
        "/app/remote/kustomization.yaml",
        "namePrefix: r-\nresources:\n- ../base\n- https://github.com/org/repo//deploy?ref=v1\n",
    );
    let remotes = Remotes {
        known: vec![("https://github.com/org/repo//deploy?ref=v1", "/cache/remote-1/deploy")],
        asked: Default::default(),
    };
    let objects =
        ferry_kustomize::build_resources_with(&fs, "/app/remote".as_ref(), &BuildOptions::default(), &remotes).unwrap();
    let names: Vec<&str> = objects.iter().filter_map(|o| o["metadata"]["name"].as_str()).collect();
    assert!(names.contains(&"r-remote"), "{names:?}");
    assert!(names.contains(&"r-web"), "{names:?}");
    assert_eq!(*remotes.asked.lock().unwrap(), ["https://github.com/org/repo//deploy?ref=v1"]);

    // The resolver's refusal is the build's error; without a resolver, refused as before.
    fs.add("/app/other/kustomization.yaml", "resources:\n- https://github.com/org/other//x?ref=v1\n");
    let err = ferry_kustomize::build_resources_with(&fs, "/app/other".as_ref(), &BuildOptions::default(), &remotes)
        .unwrap_err()
        .to_string();
    assert!(err.contains("couldn't find remote ref for https://github.com/org/other//x?ref=v1"), "{err}");
    let err = build_resources(&fs, "/app/remote".as_ref(), &BuildOptions::default()).unwrap_err().to_string();
    assert!(err.contains("does not clone or download remote bases"), "{err}");
}
