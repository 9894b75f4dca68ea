//! The engine as a library: in-memory trees and many builds at once.

use ferry_kustomize::{BuildOptions, LoadRestrictions, MemFs, build, build_resources};
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
    let ok = build(&fs, "/app/overlay2".as_ref(), &BuildOptions { load_restrictions: LoadRestrictions::None }).unwrap();
    assert!(ok.contains("name: o"));
}
