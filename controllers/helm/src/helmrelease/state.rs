//! The state of a release against the HelmRelease, as Flux's
//! `DetermineReleaseState` decides it: what storage holds, whether this
//! object made it (its digest matches the latest snapshot), whether chart
//! and values still match, whether it was tested.

use ferry_api_helm::{HelmRelease, ReleaseSnapshot};
use ferry_helm::Map;
use ferry_helm::chart::Chart;

use super::observation;
use super::record::{Release, status};

/// What the release needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Nothing (or only an uninstalled release) in storage: install.
    Absent(String),
    /// An action holds the release (`pending-*`): unlock it.
    Locked(String),
    /// A release this object did not make (or that changed behind it): upgrade.
    Unmanaged(String),
    /// The last release failed: remediate or retry.
    Failed(String),
    /// Chart or values changed: upgrade.
    OutOfSync(String),
    /// Tests are enabled and have not run on the release: test.
    Untested,
    /// Nothing to do.
    InSync,
}

/// Flux's `HasBeenTested`: test hooks recorded, all succeeded or one failed.
pub fn has_been_tested(snapshot: &ReleaseSnapshot) -> bool {
    let Some(hooks) = &snapshot.test_hooks else { return false };
    if hooks.is_empty() {
        return true;
    }
    if hooks.values().any(|h| h.phase.as_deref() == Some("Failed")) {
        return true;
    }
    hooks.values().all(|h| h.phase.as_deref() == Some("Succeeded"))
}

/// Whether a test of the snapshot failed.
pub fn has_failed_test(snapshot: &ReleaseSnapshot) -> bool {
    snapshot.test_hooks.as_ref().is_some_and(|h| h.values().any(|t| t.phase.as_deref() == Some("Failed")))
}

/// Decides the state of `last` (the newest revision in storage) for
/// `object`, whose status history is `history`, given the chart and values.
pub fn determine(
    object: &HelmRelease,
    history: &[ReleaseSnapshot],
    last: Option<&Release>,
    chart: &Chart,
    values: &Map,
    ignore_test_failures: bool,
) -> State {
    let Some(last) = last else { return State::Absent("no release in storage for object".into()) };
    let release_status = last.status();
    if status::is_pending(release_status) {
        return State::Locked(format!("release with status '{release_status}'"));
    }
    let Some(current) = history.first() else {
        if release_status == status::UNINSTALLED {
            return State::Absent("found uninstalled release in storage".into());
        }
        return State::Unmanaged("found existing release in storage".into());
    };
    if current.api_version.as_deref() == Some(observation::SNAPSHOT_API_VERSION) {
        if current.name != last.name || current.namespace != last.namespace || current.version != last.version {
            return State::Unmanaged("release not observed to be made for object".into());
        }
        if observation::release_digest(last, current.oci_digest.as_deref()) != current.digest {
            return State::Unmanaged("release digest verification error".into());
        }
    }
    match release_status {
        status::FAILED => State::Failed(String::new()),
        status::UNINSTALLED => State::Absent("found uninstalled release in storage".into()),
        status::DEPLOYED => {
            if last.chart_field("name") != chart.metadata.name || last.chart_field("version") != chart.metadata.version
            {
                return State::OutOfSync("release chart changed".into());
            }
            if super::values::digest(values) != current.config_digest {
                return State::OutOfSync("release config digest verification error".into());
            }
            if object.spec.test.as_ref().and_then(|t| t.enable).unwrap_or(false) {
                if !has_been_tested(current) {
                    return State::Untested;
                }
                if !ignore_test_failures && has_failed_test(current) {
                    return State::Failed("release has test in failed phase".into());
                }
            }
            State::InSync
        }
        other => State::Failed(format!("unable to determine state for release with status '{other}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_api_helm::TestHookStatus;

    fn snapshot(hooks: Option<&[&str]>) -> ReleaseSnapshot {
        ReleaseSnapshot {
            api_version: None,
            digest: String::new(),
            name: "a".into(),
            namespace: "n".into(),
            version: 1,
            status: "deployed".into(),
            chart_name: "c".into(),
            chart_version: "1".into(),
            app_version: None,
            config_digest: String::new(),
            first_deployed: ferry_api_meta::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            last_deployed: ferry_api_meta::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            deleted: None,
            test_hooks: hooks.map(|h| {
                h.iter()
                    .enumerate()
                    .map(|(i, p)| (i.to_string(), TestHookStatus { phase: Some(p.to_string()), ..Default::default() }))
                    .collect()
            }),
            oci_digest: None,
            action: None,
        }
    }

    #[test]
    fn tested_as_flux_counts_it() {
        assert!(!has_been_tested(&snapshot(None)));
        assert!(has_been_tested(&snapshot(Some(&[]))));
        assert!(has_been_tested(&snapshot(Some(&["Succeeded", "Failed"]))));
        assert!(!has_been_tested(&snapshot(Some(&["Succeeded", "Running"]))));
        assert!(has_failed_test(&snapshot(Some(&["Failed"]))));
    }

    #[test]
    fn absent_and_unmanaged() {
        let object = HelmRelease::new("a", Default::default());
        let chart = Chart::default();
        assert!(matches!(determine(&object, &[], None, &chart, &Map::new(), false), State::Absent(_)));
        let mut release = Release { name: "a".into(), version: 1, ..Default::default() };
        release.set_status(status::DEPLOYED, "");
        assert!(matches!(determine(&object, &[], Some(&release), &chart, &Map::new(), false), State::Unmanaged(_)));
        release.set_status(status::PENDING_UPGRADE, "");
        assert!(matches!(determine(&object, &[], Some(&release), &chart, &Map::new(), false), State::Locked(_)));
    }
}
