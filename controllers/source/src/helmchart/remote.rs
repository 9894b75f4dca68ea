//! Choosing a chart version from a HelmRepository's index and finding where
//! to download it, as Flux's `ChartRepository.GetChartVersion` and Helm's
//! `ResolveReferenceURL` do.

use ferry_semver::{Constraints, Version};
use url::Url;

use crate::helmrepository::index::{ChartVersion, IndexFile};

/// Why no version of the chart is selected, in Helm's and Flux's words
/// (Flux's `ErrReference`: a spec problem, reason `InvalidChartReference`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The index has no chart of that name.
    #[error("no chart name found")]
    NoChartName,
    /// The chart has no versions.
    #[error("no chart version found")]
    NoChartVersion,
    /// `spec.version` is no SemVer range.
    #[error("improper constraint: {0}")]
    InvalidConstraint(String),
    /// No version satisfies `spec.version`.
    #[error("no '{name}' chart with version matching '{version}' found")]
    NoMatch {
        /// The chart.
        name: String,
        /// `spec.version`.
        version: String,
    },
    /// The version's URL (or the repository's) does not parse.
    #[error("failed to parse {url} as URL: {source}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// Why.
        source: url::ParseError,
    },
    /// The version lists no URL to download it from.
    #[error("chart '{0}' has no downloadable URLs")]
    NoUrl(String),
}

/// fluxcd/pkg's `version.ParseVersion`: Masterminds' loose parsing, but
/// only with all three parts (`v2025.02.03-rc.1` is fine, `1.2` is not).
pub(crate) fn parse_version(text: &str) -> Option<Version> {
    if text.splitn(3, '.').count() != 3 {
        return None;
    }
    text.parse().ok()
}

/// The version of chart `name` that `version` selects: an exact match of
/// the version string first, else the highest version in the SemVer range
/// (`*` or empty: the latest stable), versions equal in SemVer (differing
/// in build metadata) ordered by their `created` time, newest first.
pub fn chart_version<'i>(index: &'i IndexFile, name: &str, version: &str) -> Result<&'i ChartVersion, Error> {
    let entries = index.entries.as_ref().and_then(|e| e.get(name)).ok_or(Error::NoChartName)?;
    let versions: Vec<&ChartVersion> = entries.iter().flatten().flatten().collect();
    if versions.is_empty() {
        return Err(Error::NoChartVersion);
    }
    if !version.is_empty()
        && let Some(exact) = versions.iter().find(|cv| cv.version() == version)
    {
        return Ok(exact);
    }
    let range = if version.is_empty() { "*" } else { version };
    let constraint: Constraints =
        range.parse().map_err(|e: ferry_semver::Error| Error::InvalidConstraint(e.to_string()))?;
    let mut best: Option<(Version, i128, &ChartVersion)> = None;
    for cv in versions {
        let Some(parsed) = parse_version(cv.version()) else { continue };
        if !constraint.matches(&parsed) {
            continue;
        }
        let created = cv.created.as_deref().and_then(instant).unwrap_or(i128::MIN);
        let better = match &best {
            None => true,
            Some((v, c, _)) => parsed > *v || (parsed == *v && created > *c),
        };
        if better {
            best = Some((parsed, created, cv));
        }
    }
    best.map(|(_, _, cv)| cv).ok_or_else(|| Error::NoMatch { name: name.to_string(), version: version.to_string() })
}

/// Where to download `cv` from: its first URL, resolved against the
/// repository URL (with a trailing slash) when relative, the repository's
/// query kept, as Helm's `ResolveReferenceURL` does.
pub fn chart_url(repository: &str, cv: &ChartVersion) -> Result<Url, Error> {
    let name = cv.metadata.as_ref().map_or("", |m| m.name.as_str());
    let reference = cv.urls.iter().flatten().next().ok_or_else(|| Error::NoUrl(name.to_string()))?;
    fn invalid(url: &str) -> impl Fn(url::ParseError) -> Error + '_ {
        move |source| Error::InvalidUrl { url: url.to_string(), source }
    }
    match Url::parse(reference) {
        Ok(absolute) => return Ok(absolute),
        Err(url::ParseError::RelativeUrlWithoutBase) => {}
        Err(source) => return Err(invalid(reference)(source)),
    }
    let mut base = Url::parse(repository).map_err(invalid(repository))?;
    let path = format!("{}/", base.path().trim_end_matches('/'));
    base.set_path(&path);
    let query = base.query().map(str::to_string);
    let mut resolved = base.join(reference).map_err(invalid(reference))?;
    resolved.set_query(query.as_deref());
    Ok(resolved)
}

/// An RFC 3339 time (as the index normalised it) as nanoseconds since the
/// epoch, for ordering.
fn instant(text: &str) -> Option<i128> {
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    let mut nanos: i64 = 0;
    if let Some(after) = rest.strip_prefix('.') {
        let n = after.bytes().take_while(u8::is_ascii_digit).count();
        let digits = &after[..n.min(9)];
        nanos = format!("{digits:0<9}").parse().ok()?;
        rest = &after[n..];
    }
    let offset = match rest {
        "Z" => 0,
        _ => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (rest.get(1..3)?.parse::<i64>().ok()? * 3600 + rest.get(4..6)?.parse::<i64>().ok()? * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if mo <= 2 { (y - 1, mo + 9) } else { (y, mo - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + h * 3600 + mi * 60 + s - offset;
    Some(i128::from(seconds) * 1_000_000_000 + i128::from(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helmrepository::index;

    fn index() -> IndexFile {
        index::load(
            br#"
apiVersion: v1
entries:
  app:
  - {name: app, version: 1.0.0, urls: [app-1.0.0.tgz]}
  - {name: app, version: 1.1.0, urls: ["https://cdn.example.com/app-1.1.0.tgz"]}
  - {name: app, version: 2.0.0-rc.1, urls: [sub/app-2.0.0-rc.1.tgz]}
  - {name: app, version: "1.2", urls: [app-1.2.tgz]}
  - {name: app, version: 1.1.1+old, created: "2024-01-01T00:00:00Z", urls: [old.tgz]}
  - {name: app, version: 1.1.1+new, created: "2024-01-01T01:00:00+02:00", urls: [new.tgz]}
  - {name: app, version: 1.1.1+newest, created: "2024-01-01T00:30:00Z", urls: [newest.tgz]}
  empty: []
"#,
        )
        .unwrap()
    }

    fn pick(version: &str) -> Result<String, Error> {
        chart_version(&index(), "app", version).map(|cv| cv.version().to_string())
    }

    #[test]
    fn versions_are_chosen_as_flux_chooses_them() {
        // The latest stable, build metadata ties broken by creation time:
        // 01:00+02:00 is 23:00Z the day before, so "newest" wins.
        assert_eq!(pick("").unwrap(), "1.1.1+newest");
        assert_eq!(pick("*").unwrap(), "1.1.1+newest");
        assert_eq!(pick("~1.0").unwrap(), "1.0.0");
        assert_eq!(pick(">=2.0.0-0").unwrap(), "2.0.0-rc.1");
        // An exact string match first, even where ParseVersion refuses it.
        assert_eq!(pick("1.2").unwrap(), "1.2");
        assert_eq!(pick("1.1.1+old").unwrap(), "1.1.1+old");
        assert_eq!(pick("3.x").unwrap_err().to_string(), "no 'app' chart with version matching '3.x' found");
        assert!(matches!(pick("not a range"), Err(Error::InvalidConstraint(_))));
        assert_eq!(chart_version(&index(), "nope", "").unwrap_err(), Error::NoChartName);
        assert_eq!(chart_version(&index(), "empty", "").unwrap_err(), Error::NoChartVersion);
    }

    #[test]
    fn chart_urls_resolve_against_the_repository() {
        let index = index();
        let url = |version: &str, repository: &str| {
            chart_url(repository, chart_version(&index, "app", version).unwrap()).unwrap().to_string()
        };
        assert_eq!(url("1.0.0", "https://h/charts"), "https://h/charts/app-1.0.0.tgz");
        assert_eq!(url("1.0.0", "https://h/charts/"), "https://h/charts/app-1.0.0.tgz");
        assert_eq!(url("1.0.0", "https://h/charts?token=x"), "https://h/charts/app-1.0.0.tgz?token=x");
        assert_eq!(url("2.0.0-rc.1", "https://h/"), "https://h/sub/app-2.0.0-rc.1.tgz");
        assert_eq!(url("1.1.0", "https://h/charts"), "https://cdn.example.com/app-1.1.0.tgz");
    }

    #[test]
    fn times_order_across_offsets() {
        assert_eq!(instant("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(instant("1970-01-01T01:00:00+01:00"), Some(0));
        assert!(instant("2024-01-01T00:00:00.5Z") > instant("2024-01-01T00:00:00Z"));
    }
}
