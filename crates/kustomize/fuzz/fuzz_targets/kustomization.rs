//! Any bytes as a kustomization.yaml (with a resource file beside it): the build must return
//! Ok or Err, never panic.
#![no_main]

use ferry_kustomize::{BuildOptions, MemFs, build};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut fs = MemFs::new();
    fs.add("/k/kustomization.yaml", data.to_vec());
    fs.add(
        "/k/res.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx\n",
    );
    fs.add("/k/base/kustomization.yaml", "resources:\n- ../res.yaml\n");
    let _ = build(&fs, "/k".as_ref(), &BuildOptions::default());
});
