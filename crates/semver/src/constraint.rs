//! Version constraints: comparisons joined by AND (spaces, commas) and OR
//! (`||`), with wildcards, tilde, caret and hyphen ranges.

use std::fmt;
use std::str::FromStr;

use crate::version::{Version, compare_prerelease, split_raw};
use crate::{Error, Result};

/// The comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `=` or no operator: equal, or a tilde range when the version has a
    /// wildcard or missing part.
    Equal,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    Tilde,
    Caret,
}

/// Operator spellings, longest first so that `>=` wins over `>`.
const OPERATORS: &[(&str, Op)] = &[
    ("!=", Op::NotEqual),
    (">=", Op::GreaterEqual),
    ("=>", Op::GreaterEqual),
    ("<=", Op::LessEqual),
    ("=<", Op::LessEqual),
    ("~>", Op::Tilde),
    ("=", Op::Equal),
    (">", Op::Greater),
    ("<", Op::Less),
    ("~", Op::Tilde),
    ("^", Op::Caret),
];

/// One comparison, such as `>= 1.2.x`.
#[derive(Debug, Clone)]
struct Comparison {
    op: Op,
    /// The version with wildcards and missing parts replaced by 0.
    version: Version,
    /// Some part was a wildcard or missing.
    dirty: bool,
    /// The minor part (and so the patch) was a wildcard or missing.
    minor_dirty: bool,
    /// The patch part was a wildcard or missing.
    patch_dirty: bool,
}

/// A set of constraints: any OR-group whose comparisons all hold matches.
#[derive(Debug, Clone)]
pub struct Constraints {
    groups: Vec<Group>,
    text: String,
}

#[derive(Debug, Clone)]
struct Group {
    comparisons: Vec<Comparison>,
    /// Some comparison names a prerelease, so prereleases may match.
    includes_prerelease: bool,
}

fn is_wildcard(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

impl Comparison {
    fn parse(op_text: &str, op: Op, text: &str) -> Result<Self> {
        let improper = || Error::InvalidConstraint(format!("{op_text}{text}"));
        let raw = split_raw(text, |c| c.is_ascii_digit() || matches!(c, 'x' | 'X' | '*')).ok_or_else(improper)?;
        let pre = raw.pre.map(|p| format!("-{p}")).unwrap_or_default();
        let part = |i: usize| raw.parts.get(i).copied().filter(|p| !is_wildcard(p));
        let (normalized, dirty, minor_dirty, patch_dirty) = match (part(0), part(1), part(2)) {
            (None, _, _) => (format!("0.0.0{pre}"), true, false, false),
            (Some(major), None, _) => (format!("{major}.0.0{pre}"), true, true, false),
            (Some(major), Some(minor), None) => (format!("{major}.{minor}.0{pre}"), true, false, true),
            (Some(_), Some(_), Some(_)) => (text.trim_start_matches('v').to_string(), false, false, false),
        };
        let version: Version = normalized.parse().map_err(|_| improper())?;
        Ok(Self { op, version, dirty, minor_dirty, patch_dirty })
    }

    fn check(&self, v: &Version, include_prerelease: bool) -> bool {
        if v.is_prerelease() && !include_prerelease {
            return false;
        }
        let c = &self.version;
        match self.op {
            Op::Equal => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    v == c
                }
            }
            Op::NotEqual => {
                if self.dirty {
                    if c.major() != v.major() {
                        return true;
                    }
                    if self.minor_dirty {
                        return false;
                    }
                    if c.minor() != v.minor() {
                        return true;
                    }
                    if self.patch_dirty {
                        return (v.is_prerelease() || c.is_prerelease())
                            && compare_prerelease(v.prerelease(), c.prerelease()).is_ne();
                    }
                }
                v != c
            }
            Op::Greater => {
                if !self.dirty {
                    return v > c;
                }
                if v.major() != c.major() {
                    return v.major() > c.major();
                }
                if self.minor_dirty {
                    return false;
                }
                if self.patch_dirty {
                    return v.minor() > c.minor();
                }
                v > c
            }
            Op::Less => v < c,
            Op::GreaterEqual => v >= c,
            Op::LessEqual => {
                if !self.dirty {
                    return v <= c;
                }
                !(v.major() > c.major() || (v.major() == c.major() && v.minor() > c.minor() && !self.minor_dirty))
            }
            Op::Tilde => self.tilde(v),
            Op::Caret => self.caret(v),
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.version;
        if v < c {
            return false;
        }
        // `~*`: anything from 0.0.0 up (`~0` keeps major 0).
        if c.major() == 0 && c.minor() == 0 && c.patch() == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        v.major() == c.major() && (self.minor_dirty || v.minor() == c.minor())
    }

    fn caret(&self, v: &Version) -> bool {
        let c = &self.version;
        if v < c {
            return false;
        }
        if c.major() > 0 || self.minor_dirty {
            return v.major() == c.major();
        }
        if v.major() > 0 {
            return false;
        }
        if c.minor() > 0 || self.patch_dirty {
            return v.minor() == c.minor();
        }
        if v.minor() > 0 {
            return false;
        }
        v.patch() == c.patch()
    }
}

/// Splits an OR-group into comparisons: each an optional operator, optional
/// spaces, then a version; comparisons are separated by spaces or a comma.
fn parse_group(group: &str) -> Result<Group> {
    let improper = || Error::InvalidConstraint(group.to_string());
    let mut comparisons = Vec::new();
    let mut rest = group.trim_start();
    let mut first = true;
    while !rest.is_empty() {
        if !first {
            // A separator is required between comparisons.
            let trimmed = rest.trim_start();
            let had_space = trimmed.len() < rest.len();
            rest = trimmed;
            if let Some(after) = rest.strip_prefix(',') {
                rest = after.trim_start();
            } else if !had_space {
                return Err(improper());
            }
            if rest.is_empty() {
                return Err(improper());
            }
        }
        first = false;
        let (op_text, op) =
            OPERATORS.iter().find(|(text, _)| rest.starts_with(text)).map_or(("", Op::Equal), |(t, op)| (*t, *op));
        rest = rest[op_text.len()..].trim_start();
        let end = rest.find(|c: char| c.is_whitespace() || c == ',').unwrap_or(rest.len());
        let (version, tail) = rest.split_at(end);
        if version.is_empty() {
            return Err(improper());
        }
        comparisons.push(Comparison::parse(op_text, op, version)?);
        rest = tail;
        if rest.trim().is_empty() {
            break;
        }
    }
    if comparisons.is_empty() {
        return Err(improper());
    }
    let includes_prerelease = comparisons.iter().any(|c| c.version.is_prerelease());
    Ok(Group { comparisons, includes_prerelease })
}

/// Rewrites hyphen ranges `A - B` (spaces required) into `>= A, <= B`.
fn rewrite_hyphen_ranges(text: &str) -> String {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let looks_like_version =
        |t: &str| !t.is_empty() && !t.starts_with(|c: char| "=!<>~^,|".contains(c)) && !t.ends_with(',') && t != "-";
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if i + 2 < tokens.len()
            && tokens[i + 1] == "-"
            && looks_like_version(tokens[i])
            && looks_like_version(tokens[i + 2])
            && !out.last().is_some_and(|prev| OPERATORS.iter().any(|(op, _)| prev == op))
        {
            out.push(format!(">= {}, <= {}", tokens[i], tokens[i + 2]));
            i += 3;
        } else {
            out.push(tokens[i].to_string());
            i += 1;
        }
    }
    out.join(" ")
}

impl FromStr for Constraints {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let rewritten = rewrite_hyphen_ranges(text);
        let groups = rewritten.split("||").map(parse_group).collect::<Result<Vec<_>>>()?;
        Ok(Self { groups, text: text.to_string() })
    }
}

impl Constraints {
    /// True when `version` satisfies some OR-group.
    pub fn matches(&self, version: &Version) -> bool {
        self.groups.iter().any(|group| group.comparisons.iter().all(|c| c.check(version, group.includes_prerelease)))
    }

    /// The highest of `candidates` (tags, chart or image versions) that
    /// parses as a version and satisfies the constraints, with its parsed
    /// form. Candidates that are not versions are skipped. Among equal
    /// versions (`v1.0.0` and `1.0.0`) the first one wins.
    pub fn latest<'a, I>(&self, candidates: I) -> Option<(&'a str, Version)>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut best: Option<(&'a str, Version)> = None;
        for candidate in candidates {
            let Ok(version) = candidate.parse::<Version>() else { continue };
            if !self.matches(&version) {
                continue;
            }
            if best.as_ref().is_none_or(|(_, current)| version > *current) {
                best = Some((candidate, version));
            }
        }
        best
    }
}

impl fmt::Display for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(constraint: &str, version: &str) -> bool {
        let c: Constraints = constraint.parse().unwrap_or_else(|e| panic!("{constraint}: {e}"));
        let v: Version = version.parse().unwrap_or_else(|e| panic!("{version}: {e}"));
        c.matches(&v)
    }

    #[test]
    fn basic_comparisons() {
        let cases = [
            ("1.2.3", "1.2.3", true),
            ("=1.2.3", "1.2.4", false),
            ("!=4.1", "5.1.0", true),
            ("!=4.1", "4.1.0", false),
            ("!=4.1", "4.2.0", true),
            ("!=4.x", "4.2.0", false),
            ("!=4.1.x", "4.1.9", false),
            ("!=4.1.x", "4.2.0", true),
            (">1.1", "4.1.0", true),
            (">1.1", "1.1.0", false),
            (">1.1", "1.1.1", false),
            (">1.1", "1.2.0", true),
            (">1.1.0", "1.1.1", true),
            (">1.x", "1.5.0", false),
            (">1.x", "2.0.0", true),
            ("<1.1", "1.0.9", true),
            ("<1.1", "1.1.0", false),
            ("<1.1.x", "1.1.0", false),
            (">=1.1", "1.1.0", true),
            ("=>1.1", "1.0.0", false),
            ("<=1.1", "1.1.0", true),
            ("<=1.1", "1.1.9", true),
            ("<=1.1", "1.2.0", false),
            ("=<1.1.0", "1.1.1", false),
            ("<=2.x", "2.9.9", true),
            ("<=2.x", "3.0.0", false),
            ("*", "0.0.1", true),
            ("x", "100.0.0", true),
            ("1.x", "1.9.0", true),
            ("1.x", "2.0.0", false),
            ("1.2.x", "1.2.9", true),
            ("1.2.x", "1.3.0", false),
            ("1.2", "1.2.7", true),
            ("1", "1.7.0", true),
            ("v1.2.3", "1.2.3", true),
        ];
        for (c, v, want) in cases {
            assert_eq!(check(c, v), want, "{v} in {c}");
        }
    }

    #[test]
    fn tilde_and_caret() {
        let cases = [
            ("~1.2.3", "1.2.4", true),
            ("~1.2.3", "1.3.0", false),
            ("~1.2.3", "1.2.2", false),
            ("~1", "1.9.0", true),
            ("~1", "2.0.0", false),
            ("~2.3", "2.3.9", true),
            ("~2.3", "2.4.0", false),
            ("~1.x", "1.4.0", true),
            ("~>1.2", "1.2.5", true),
            ("~0", "5.0.0", false),
            ("~0", "0.5.0", true),
            ("~*", "5.0.0", true),
            ("^1.2.3", "1.9.9", true),
            ("^1.2.3", "2.0.0", false),
            ("^1.2.3", "1.2.2", false),
            ("^1.2.x", "1.3.0", true),
            ("^2.x", "2.9.0", true),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.2", "0.2.0", true),
            ("^0.0.3", "0.0.3", true),
            ("^0.0.3", "0.0.4", false),
            ("^0.0", "0.0.9", true),
            ("^0.0", "0.1.0", false),
            ("^0", "0.9.9", true),
            ("^0", "1.0.0", false),
        ];
        for (c, v, want) in cases {
            assert_eq!(check(c, v), want, "{v} in {c}");
        }
    }

    #[test]
    fn and_or_and_ranges() {
        let cases = [
            (">=1.0.0 <2.0.0", "1.5.0", true),
            (">=1.0.0 <2.0.0", "2.0.0", false),
            (">=1.0.0, <2.0.0", "1.0.0", true),
            (">= 1.0.0 , < 2.0.0", "1.9.9", true),
            (">=1.1 <2 !=1.4.5", "1.4.5", false),
            ("<1 || >=3", "0.5.0", true),
            ("<1 || >=3", "2.0.0", false),
            ("<1 || >=3", "3.1.0", true),
            ("1.2 - 1.4.5", "1.3.0", true),
            ("1.2 - 1.4.5", "1.4.6", false),
            ("1.2 - 1.4.5", "1.1.9", false),
            ("2.3.4 - 4.5", "4.5.9", true),
            ("2.3.4 - 4.5", "4.6.0", false),
            ("1.2 - 1.4 || 3.x", "3.2.0", true),
        ];
        for (c, v, want) in cases {
            assert_eq!(check(c, v), want, "{v} in {c}");
        }
    }

    #[test]
    fn prereleases_need_an_opt_in_per_group() {
        assert!(!check(">=1.2.3", "1.2.4-beta.1"));
        assert!(check(">=1.2.3-0", "1.2.4-beta.1"));
        assert!(check(">=1.2.3-0", "3.0.0-rc.1"), "any version's prerelease once opted in");
        assert!(!check("<1 || >=2.0.0-0", "0.5.0-alpha"), "the group <1 has no prerelease");
        assert!(check("<1 || >=2.0.0-0", "2.1.0-alpha"));
        assert!(check("1.2.3-beta.2", "1.2.3-beta.2"));
        assert!(!check("<1.2.3-beta.2", "1.2.3-beta.11"));
        assert!(check("!=1.2.x-beta", "1.2.3-alpha"));
        assert!(!check("!=1.2.x-beta", "1.2.3-beta"));
        assert!(check("^1.0.0-0", "1.5.0-rc.1"));
    }

    #[test]
    fn rejects_improper_constraints() {
        for bad in [
            "",
            "   ",
            ">=",
            ">= ",
            "1.2.3.4",
            ">=1.0.0<2.0.0",
            "~~1",
            "=>=1",
            "latest",
            ">=1.0.0 ||",
            "|| 1",
            "1.2.3-",
            "1.x.3-01",
            "^a.b",
            ">=1.0.0,",
            "01.2.3-01",
        ] {
            assert!(bad.parse::<Constraints>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn latest_picks_the_highest_match() {
        let c: Constraints = "~1.2".parse().unwrap();
        let tags = ["1.2.0", "v1.2.7", "1.3.0", "1.2.8-rc.1", "release", "1.2.5"];
        assert_eq!(c.latest(tags).map(|(t, v)| (t, v.to_string())), Some(("v1.2.7", "1.2.7".to_string())));
        let none: Constraints = ">=9".parse().unwrap();
        assert!(none.latest(tags).is_none());
        let same: Constraints = "*".parse().unwrap();
        assert_eq!(same.latest(["v1.0.0", "1.0.0"]).map(|(t, _)| t), Some("v1.0.0"));
    }
}
