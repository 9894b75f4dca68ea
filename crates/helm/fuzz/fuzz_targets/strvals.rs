//! Helm's `--set` parsers (every flavour) on arbitrary input: errors are fine, panics are not.
#![no_main]

use ferry_helm::values::strvals;
use ferry_helm::Map;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let mut m = Map::new();
    let _ = strvals::parse_into(s, &mut m);
    let _ = strvals::parse_into_string(s, &mut Map::new());
    let _ = strvals::parse_json(s, &mut Map::new());
    let _ = strvals::parse_literal_into(s, &mut Map::new());
    let _ = strvals::parse_into_file(s, &mut Map::new(), &mut |p| Ok(ferry_helm::Value::String(p.to_string())));
    // What parsed must also print as YAML.
    let _ = ferry_helm::yaml::encode::to_string(&ferry_helm::Value::Map(m));
});
