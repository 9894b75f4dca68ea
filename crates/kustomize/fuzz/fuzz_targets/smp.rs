//! Strategic merge patch on arbitrary documents: split the input in two YAML documents
//! (target and patch) and merge them; it must never panic.
#![no_main]

use ferry_kustomize::{smp, yaml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some((a, b)) = text.split_once("\n---\n") else { return };
    let (Ok(target), Ok(patch)) = (yaml::parse_one(a), yaml::parse_one(b)) else { return };
    let _ = smp::merge_object(&target, &patch, &[smp::Schema::builtin()]);
    let _ = smp::merge_untyped(&target, &patch);
});
