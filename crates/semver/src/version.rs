//! Semantic versions, parsed loosely and ordered by semver 2.0 precedence.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// A semantic version. Equality and order ignore build metadata, as semver
/// precedence does.
#[derive(Debug, Clone)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    metadata: String,
    original: String,
}

impl Version {
    /// A version from its parts, with no prerelease or metadata.
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self { major, minor, patch, pre: String::new(), metadata: String::new(), original: String::new() }
    }

    /// The major part.
    pub fn major(&self) -> u64 {
        self.major
    }

    /// The minor part (0 when the text had none).
    pub fn minor(&self) -> u64 {
        self.minor
    }

    /// The patch part (0 when the text had none).
    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// The prerelease, without its `-` (empty for a release).
    pub fn prerelease(&self) -> &str {
        &self.pre
    }

    /// The build metadata, without its `+`.
    pub fn metadata(&self) -> &str {
        &self.metadata
    }

    /// The text this version was parsed from (a tag such as `v1.2`), or the
    /// canonical form for a version built with [`Version::new`].
    pub fn original(&self) -> String {
        if self.original.is_empty() { self.to_string() } else { self.original.clone() }
    }

    /// True for a prerelease version.
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

/// The parts of a loosely written version, before interpretation.
pub(crate) struct RawVersion<'a> {
    pub parts: Vec<&'a str>,
    pub pre: Option<&'a str>,
    pub metadata: Option<&'a str>,
}

/// Splits `v?PART(.PART)?(.PART)?(-PRE)?(+META)?`, where a part is made of
/// the characters `part_char` accepts. Returns `None` when the text has
/// another shape.
pub(crate) fn split_raw(text: &str, part_char: fn(char) -> bool) -> Option<RawVersion<'_>> {
    let body = text.strip_prefix('v').unwrap_or(text);
    let (body, metadata) = match body.split_once('+') {
        Some((head, meta)) => (head, Some(meta)),
        None => (body, None),
    };
    let numbers_end = body.find('-').unwrap_or(body.len());
    let (numbers, pre) = (&body[..numbers_end], body.get(numbers_end + 1..).filter(|_| numbers_end < body.len()));
    let parts: Vec<&str> = numbers.split('.').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty() || !p.chars().all(part_char)) {
        return None;
    }
    // Prerelease and metadata must at least be made of identifier characters;
    // their finer rules are checked by the caller.
    let identifier_chars =
        |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if pre.is_some_and(|p| !identifier_chars(p)) || metadata.is_some_and(|m| !identifier_chars(m)) {
        return None;
    }
    Some(RawVersion { parts, pre, metadata })
}

fn validate_prerelease(pre: &str) -> Result<()> {
    for id in pre.split('.') {
        let numeric = !id.is_empty() && id.chars().all(|c| c.is_ascii_digit());
        if id.is_empty()
            || (numeric && id.len() > 1 && id.starts_with('0'))
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Error::InvalidPrerelease(pre.to_string()));
        }
    }
    Ok(())
}

fn validate_metadata(metadata: &str) -> Result<()> {
    if metadata.split('.').any(|id| id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')) {
        return Err(Error::InvalidMetadata(metadata.to_string()));
    }
    Ok(())
}

impl FromStr for Version {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let raw = split_raw(text, |c| c.is_ascii_digit()).ok_or_else(|| Error::InvalidVersion(text.to_string()))?;
        let number = |i: usize| -> Result<u64> {
            raw.parts.get(i).map_or(Ok(0), |p| p.parse().map_err(|_| Error::OutOfRange((*p).to_string())))
        };
        let pre = raw.pre.unwrap_or_default();
        let metadata = raw.metadata.unwrap_or_default();
        if !pre.is_empty() {
            validate_prerelease(pre)?;
        }
        if raw.metadata.is_some() {
            validate_metadata(metadata)?;
        }
        Ok(Self {
            major: number(0)?,
            minor: number(1)?,
            patch: number(2)?,
            pre: pre.to_string(),
            metadata: metadata.to_string(),
            original: text.to_string(),
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

/// Compares two dot-separated prereleases by semver precedence; an empty
/// string sorts before any identifier.
pub(crate) fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(l), Some(r)) => {
                let order = compare_identifier(l, r);
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

fn compare_identifier(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        // Numeric identifiers have lower precedence than alphanumeric ones.
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch).cmp(&(other.major, other.minor, other.patch)).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &other.pre),
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_loose_versions() {
        assert_eq!(v("1").to_string(), "1.0.0");
        assert_eq!(v("v1.2").to_string(), "1.2.0");
        assert_eq!(v("1.2.3-beta.1+build.5").to_string(), "1.2.3-beta.1+build.5");
        assert_eq!(v("01.002.3").to_string(), "1.2.3", "leading zeros in numbers are coerced");
        assert_eq!(v("v1.2").original(), "v1.2");
        assert_eq!(v("1.2.3-x-y-z.--").prerelease(), "x-y-z.--");
    }

    #[test]
    fn rejects_what_is_not_a_version() {
        for bad in [
            "",
            "v",
            "1.",
            ".1",
            "1.2.3.4",
            "a.b.c",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-01",
            "1.2.3-a..b",
            "1.2.3+a..b",
            "1.2.3-ä",
            "latest",
            "1.2.3 ",
            " 1.2.3",
            "V1.2.3",
            "1.2.x",
            "99999999999999999999.0.0",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn orders_by_semver_precedence() {
        let ordered = [
            "1.0.0-0",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("1.0.0+a"), v("1.0.0+b"), "metadata does not count");
        assert_eq!(v("v1.2"), v("1.2.0"));
        assert!(v("1.0.0-BETA") < v("1.0.0-alpha"), "ASCII order");
    }
}
