//! Values files: YAML read as Helm reads it, then written back as `toYaml` writes it.
#![no_main]

use ferry_helm::yaml::{decode, encode};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(v) = decode::from_str(s, decode::Numbers::Json) {
        let _ = encode::to_string(&v);
    }
});
