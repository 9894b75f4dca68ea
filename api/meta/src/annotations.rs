//! Annotation and label keys that Flux's controllers read and write, kept as Flux spells them.

/// Set to any new value to ask for a reconciliation outside the schedule; the controller
/// copies the value it handled into `status.lastHandledReconcileAt`.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// Set together with [`REQUESTED_AT`] to ask a HelmRelease for a one-off forced upgrade.
pub const FORCE_AT: &str = "reconcile.fluxcd.io/forceAt";

/// Set together with [`REQUESTED_AT`] to reset a HelmRelease's failure counters.
pub const RESET_AT: &str = "reconcile.fluxcd.io/resetAt";

/// On an applied object: `disabled` stops the controller from changing it after creation.
pub const RECONCILE: &str = "kustomize.toolkit.fluxcd.io/reconcile";

/// On an applied object: `disabled` keeps it out of garbage collection.
pub const PRUNE: &str = "kustomize.toolkit.fluxcd.io/prune";

/// On an applied object: `enabled` recreates it when an immutable field changes.
pub const FORCE: &str = "kustomize.toolkit.fluxcd.io/force";

/// On an applied object: `Merge`, `IfNotPresent` or `Ignore`, the server-side apply policy.
pub const SSA: &str = "kustomize.toolkit.fluxcd.io/ssa";

/// The [`SSA`] value that applies the object without taking over fields other managers set
/// (kubectl's leftovers are kept).
pub const SSA_MERGE: &str = "Merge";

/// The [`SSA`] value that creates the object when absent and never changes it afterwards.
pub const SSA_IF_NOT_PRESENT: &str = "IfNotPresent";

/// The [`SSA`] value that leaves the object out of apply altogether.
pub const SSA_IGNORE: &str = "Ignore";

/// On an object or a Kustomization: `disabled` turns off post-build variable substitution.
pub const SUBSTITUTE: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// The value that turns a behaviour off (for [`RECONCILE`], [`PRUNE`], [`SUBSTITUTE`]).
pub const DISABLED_VALUE: &str = "disabled";

/// The value that turns a behaviour on (for [`RECONCILE`], [`FORCE`]).
pub const ENABLED_VALUE: &str = "enabled";

/// Label on a Secret or ConfigMap: with value [`WATCH_ENABLED`] the controllers reconcile the
/// objects that reference it as soon as it changes.
pub const WATCH_LABEL: &str = "reconcile.fluxcd.io/watch";

/// The value of [`WATCH_LABEL`] that turns watching on.
pub const WATCH_ENABLED: &str = "Enabled";

/// Label the kustomize controller puts on every object it applies: the Kustomization's name.
pub const KUSTOMIZE_NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";

/// Label the kustomize controller puts on every object it applies: the Kustomization's namespace.
pub const KUSTOMIZE_NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";

/// Label the helm controller puts on every object it installs: the HelmRelease's name.
pub const HELM_NAME_LABEL: &str = "helm.toolkit.fluxcd.io/name";

/// Label the helm controller puts on every object it installs: the HelmRelease's namespace.
pub const HELM_NAMESPACE_LABEL: &str = "helm.toolkit.fluxcd.io/namespace";
