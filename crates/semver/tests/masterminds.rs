//! Golden cases: every constraint of `hack/semver-oracle/constraints.txt`
//! checked against every version of `versions.txt` by the Go module Flux uses
//! (regenerate with `hack/semver-oracle/generate.sh`). Ferry must agree on
//! every one, including which inputs are rejected.

use ferry_semver::{Constraints, Version};

#[test]
fn agrees_with_masterminds_semver() {
    let golden = include_str!("masterminds.tsv");
    let mut disagreements = Vec::new();
    let mut count = 0;
    for line in golden.lines() {
        let mut fields = line.split('\t');
        let (Some(constraint), Some(version), Some(expected)) = (fields.next(), fields.next(), fields.next()) else {
            panic!("malformed golden line {line:?}");
        };
        count += 1;
        let actual = match constraint.parse::<Constraints>() {
            Err(_) => "bad-constraint".to_string(),
            Ok(c) => match version.parse::<Version>() {
                Err(_) => "bad-version".to_string(),
                Ok(v) => c.matches(&v).to_string(),
            },
        };
        if actual != expected {
            disagreements.push(format!("{constraint:?} vs {version:?}: expected {expected}, got {actual}"));
        }
    }
    assert!(count > 4000, "the golden file has only {count} cases");
    assert!(disagreements.is_empty(), "{} disagreements:\n{}", disagreements.len(), disagreements.join("\n"));
}
