//! Semantic versions and version constraints, with the semantics that Flux
//! relies on for `semver` refs, HelmChart versions and ImagePolicy ranges
//! (those of the Go module `github.com/Masterminds/semver/v3`).
//!
//! - Versions parse loosely: an optional `v`, one to three numeric parts
//!   (`1`, `1.2`, `1.2.3`, leading zeros allowed), an optional prerelease and
//!   build metadata. Comparison follows semver 2.0 and ignores metadata.
//! - Constraints are comparisons joined by spaces or commas (AND) and by `||`
//!   (OR): `=`, `!=`, `>`, `<`, `>=`, `<=` (also `=>`, `=<`), `~`/`~>`
//!   (patch-level changes), `^` (changes that keep the left-most non-zero
//!   part), wildcards `x`, `X`, `*`, and hyphen ranges `1.2 - 1.4.5`.
//! - A prerelease version matches only an OR-group that names a prerelease
//!   itself (`>= 1.2.3-0`).
//!
//! ```
//! use ferry_semver::{Constraints, Version};
//! let range: Constraints = ">=1.0.0 <2.0.0 || ^3.1".parse().unwrap();
//! assert!(range.matches(&"1.4.0".parse::<Version>().unwrap()));
//! assert!(!range.matches(&"2.0.0".parse::<Version>().unwrap()));
//! assert_eq!(range.latest(["v1.2.0", "3.2.1", "3.0.9", "not-a-version"]).map(|(tag, _)| tag), Some("3.2.1"));
//! ```

#![deny(missing_docs)]

mod constraint;
mod version;

pub use constraint::Constraints;
pub use version::Version;

/// Why a version or a constraint could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The version is not a semantic version, even loosely.
    #[error("invalid semantic version {0:?}")]
    InvalidVersion(String),
    /// A numeric part does not fit in 64 bits.
    #[error("version part {0:?} is out of range")]
    OutOfRange(String),
    /// The prerelease has an empty identifier, a bad character, or a numeric
    /// identifier with a leading zero.
    #[error("invalid prerelease {0:?}")]
    InvalidPrerelease(String),
    /// The build metadata has an empty identifier or a bad character.
    #[error("invalid build metadata {0:?}")]
    InvalidMetadata(String),
    /// The constraint is not a list of comparisons.
    #[error("improper constraint: {0}")]
    InvalidConstraint(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
