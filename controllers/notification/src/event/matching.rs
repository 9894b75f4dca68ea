//! Which Alerts an event goes to, as Flux decides: not suspended, one
//! event source matching the object (kind, namespace, name or `*`, and
//! `matchLabels`), the severity, then the inclusion and exclusion lists.
//!
//! The lists are compiled with Rust's `regex` crate, which, like Go's RE2
//! that Flux uses, runs in time linear in the message: no pattern can
//! backtrack catastrophically, so a hostile Alert cannot stall the server.
//! Compiled programs are capped in size; a pattern over the cap is an
//! invalid pattern.

use std::collections::BTreeMap;

use ferry_api_notification::{Alert, CrossNamespaceObjectReference};
use kube::ResourceExt;

use super::Event;

/// The largest compiled regular expression accepted, in bytes.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Whether an event source selects the event's object.
#[derive(Debug, PartialEq, Eq)]
pub enum SourceMatch<'a> {
    /// It does not.
    No,
    /// It does.
    Yes,
    /// It does if the object's labels match these.
    IfLabels(&'a BTreeMap<String, String>),
}

/// Matches one event source of `alert` against `event`; a source without a
/// namespace means the Alert's.
pub fn source_matches<'a>(alert: &Alert, source: &'a CrossNamespaceObjectReference, event: &Event) -> SourceMatch<'a> {
    let alert_namespace = alert.namespace().unwrap_or_default();
    let namespace = source.namespace.as_deref().filter(|n| !n.is_empty()).unwrap_or(&alert_namespace);
    if event.namespace() != namespace || event.kind() != source.kind {
        return SourceMatch::No;
    }
    let severity = alert.spec.event_severity.as_deref().unwrap_or("info");
    if event.severity != severity && severity != "info" {
        return SourceMatch::No;
    }
    if source.name != "*" && source.name != event.name() {
        return SourceMatch::No;
    }
    match &source.match_labels {
        None => SourceMatch::Yes,
        Some(labels) => SourceMatch::IfLabels(labels),
    }
}

/// Whether `labels` has every pair of `selector`.
pub fn labels_match(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A pattern of an inclusion or exclusion list that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("failed to compile {list} regex: {pattern}")]
pub struct InvalidPattern {
    /// `inclusion` or `exclusion`.
    pub list: &'static str,
    /// The pattern.
    pub pattern: String,
    /// The cause.
    #[source]
    pub source: regex::Error,
}

/// Applies the inclusion and exclusion lists to `message`. Patterns that
/// do not compile are skipped (and returned, for the Alert's warning
/// event), as Flux does.
pub fn message_allowed(alert: &Alert, message: &str) -> (bool, Vec<InvalidPattern>) {
    let mut invalid = Vec::new();
    let mut any = |list: &'static str, patterns: &[String]| {
        patterns.iter().any(|pattern| match regex::RegexBuilder::new(pattern).size_limit(REGEX_SIZE_LIMIT).build() {
            Ok(re) => re.is_match(message),
            Err(source) => {
                invalid.push(InvalidPattern { list, pattern: pattern.clone(), source });
                false
            }
        })
    };
    let inclusion = alert.spec.inclusion_list.as_deref().unwrap_or_default();
    let included = inclusion.is_empty() || any("inclusion", inclusion);
    let exclusion = alert.spec.exclusion_list.as_deref().unwrap_or_default();
    let allowed = included && (exclusion.is_empty() || !any("exclusion", exclusion));
    (allowed, invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api_notification::AlertSpec;

    fn alert(spec: serde_json::Value) -> Alert {
        let mut alert = Alert::new("a", serde_json::from_value::<AlertSpec>(spec).unwrap());
        alert.metadata.namespace = Some("team".into());
        alert
    }

    fn event(kind: &str, name: &str, namespace: &str, severity: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "involvedObject": {"kind": kind, "name": name, "namespace": namespace},
            "severity": severity, "message": "m", "reason": "r"
        }))
        .unwrap()
    }

    #[test]
    fn sources_match_by_kind_name_wildcard_namespace_and_severity() {
        let a = alert(serde_json::json!({"providerRef": {"name": "p"}, "eventSources": [
            {"kind": "GitRepository", "name": "*"},
            {"kind": "Kustomization", "name": "apps", "namespace": "other"},
            {"kind": "HelmRelease", "name": "*", "matchLabels": {"team": "a"}}]}));
        let sources = &a.spec.event_sources;
        assert_eq!(source_matches(&a, &sources[0], &event("GitRepository", "x", "team", "info")), SourceMatch::Yes);
        assert_eq!(source_matches(&a, &sources[0], &event("GitRepository", "x", "other", "info")), SourceMatch::No);
        assert_eq!(
            source_matches(&a, &sources[1], &event("Kustomization", "apps", "other", "error")),
            SourceMatch::Yes
        );
        assert_eq!(source_matches(&a, &sources[1], &event("Kustomization", "web", "other", "info")), SourceMatch::No);
        assert!(matches!(
            source_matches(&a, &sources[2], &event("HelmRelease", "x", "team", "info")),
            SourceMatch::IfLabels(_)
        ));
        let errors_only = alert(serde_json::json!({"providerRef": {"name": "p"}, "eventSeverity": "error",
            "eventSources": [{"kind": "GitRepository", "name": "*"}]}));
        let source = &errors_only.spec.event_sources[0];
        assert_eq!(source_matches(&errors_only, source, &event("GitRepository", "x", "team", "info")), SourceMatch::No);
        assert_eq!(
            source_matches(&errors_only, source, &event("GitRepository", "x", "team", "error")),
            SourceMatch::Yes
        );
        let selector = [("team".to_string(), "a".to_string())].into();
        assert!(labels_match(&selector, &[("team".into(), "a".into()), ("x".into(), "y".into())].into()));
        assert!(!labels_match(&selector, &BTreeMap::new()));
    }

    #[test]
    fn inclusion_and_exclusion_lists_and_hostile_patterns() {
        let a = alert(serde_json::json!({"providerRef": {"name": "p"}, "eventSources": [],
            "inclusionList": [".*succeeded.*", "(unclosed"], "exclusionList": ["^Dependencies"]}));
        let (allowed, invalid) = message_allowed(&a, "reconciliation succeeded");
        assert!(allowed);
        assert_eq!(invalid.len(), 0, "the first pattern matched, the broken one was never compiled");
        let (allowed, invalid) = message_allowed(&a, "failed");
        assert!(!allowed);
        assert_eq!(invalid[0].pattern, "(unclosed");
        assert!(!message_allowed(&a, "Dependencies succeeded").0);
        // A pattern that makes backtracking engines take exponential time runs in linear time here.
        let hostile = alert(serde_json::json!({"providerRef": {"name": "p"}, "eventSources": [],
            "inclusionList": ["^(a+)+$"]}));
        let message = format!("{}!", "a".repeat(100_000));
        assert!(!message_allowed(&hostile, &message).0);
        // A pattern whose program is too large is refused, not built.
        let huge = alert(serde_json::json!({"providerRef": {"name": "p"}, "eventSources": [],
            "inclusionList": ["(\\w{1000}){1000}"]}));
        let (allowed, invalid) = message_allowed(&huge, "x");
        assert!(!allowed && invalid.len() == 1);
    }
}
