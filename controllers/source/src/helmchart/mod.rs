//! HelmChart: the chart a HelmChart asks for, pulled from the index of its
//! HelmRepository (or, later, packaged from a GitRepository or Bucket).
//!
//! This is the start of the kind: the pieces that do not need the cluster,
//! as Flux's `internal/helm/repository` and `internal/helm/chart` have them.
//! The reconciler is not wired yet, so HelmChart objects are still marked
//! `UnsupportedKind` by the controller.
//! - [`remote::chart_version`]: the version of a chart a `spec.version`
//!   selects from a stored index, as Flux's `GetChartVersion`;
//! - [`remote::chart_url`]: where that version is downloaded from, as
//!   Helm's `ResolveReferenceURL`.

pub mod remote;
