//! Chart archives (`.tgz`): reading one into memory with Helm's limits and path rules, and
//! writing one as `helm package` does.
//!
//! Reading goes through [`ferry_archive`], the workspace's one tar reader (the engine opens
//! archives nested in charts, `charts/*.tgz`, and cannot depend on the SDK); it never writes to
//! disk, keeps every file in memory under Helm's limits, and refuses links, devices, absolute
//! paths and `..` (docs/helm.md says more).

pub mod read;
pub mod write;
