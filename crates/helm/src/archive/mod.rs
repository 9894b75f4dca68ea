//! Chart archives (`.tgz`): reading one into memory with Helm's limits and path rules, and
//! writing one as `helm package` does.
//!
//! Reading happens here and not through the SDK's extractor because the engine must open
//! archives nested in charts (`charts/*.tgz`) and cannot depend on the SDK; it never writes to
//! disk, keeps every file in memory under the limits below, and refuses links, devices, absolute
//! paths and `..` (docs/helm.md says more).

pub mod read;
pub mod write;
