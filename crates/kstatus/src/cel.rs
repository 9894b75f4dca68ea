//! Health checks written in CEL: a Kustomization's `spec.healthCheckExprs`.
//!
//! Each entry names a kind (`apiVersion` and `kind`; the version is ignored, as Flux matches by
//! group and kind) and up to three boolean expressions. As in Flux (RFC-0009):
//!
//! - the expressions see the object's top-level fields as variables: `metadata`, `spec`,
//!   `status`, ... (`status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')`);
//! - an object whose `status.observedGeneration` differs from `metadata.generation` is
//!   InProgress without evaluating anything;
//! - then `inProgress`, `failed` and `current` are evaluated in that order, and the first that is
//!   true gives the status; when none is, the object is InProgress;
//! - an expression that fails (a missing field, a non-boolean result) makes the status Unknown.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use ::cel::{Context, Env, Program};
use ferry_api_meta::CustomHealthCheck;
use serde_json::Value;

use crate::{Health, Status, compute_at, field};

/// Why a health check expression could not be built or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The required `current` expression is empty.
    #[error("expression Current not specified for {kind} ({api_version})")]
    CurrentNotSpecified {
        /// The kind of the health check.
        kind: String,
        /// The API version of the health check.
        api_version: String,
    },

    /// An expression does not parse.
    #[error(
        "failed to parse the expression {which} for {kind}: failed to parse the CEL expression '{expr}': {message}"
    )]
    Parse {
        /// `Current`, `InProgress` or `Failed`.
        which: &'static str,
        /// The kind of the health check.
        kind: String,
        /// The expression.
        expr: String,
        /// What the parser reported.
        message: String,
    },

    /// The `apiVersion` is not `group/version` or `version`.
    #[error("invalid apiVersion '{api_version}' in the health check for {kind}: expected 'group/version' or 'version'")]
    InvalidApiVersion {
        /// The kind of the health check.
        kind: String,
        /// The API version as written.
        api_version: String,
    },

    /// Evaluating an expression failed, e.g. on a field the object does not have.
    #[error("failed to evaluate the CEL expression '{expr}': {message}")]
    Evaluate {
        /// The expression.
        expr: String,
        /// What the interpreter reported.
        message: String,
    },

    /// An expression did not yield a boolean.
    #[error("failed to evaluate CEL expression as boolean: '{expr}'")]
    NotBoolean {
        /// The expression.
        expr: String,
    },

    /// The object's generation fields have unexpected types.
    #[error("{0}")]
    Object(String),
}

/// The CEL environment Flux gives health checks: the standard library and macros (`has`, `all`,
/// `exists`, `exists_one`, `map`, `filter`), plus the strings and encoders extensions.
fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        // The extensions register overloads the standard library does not have: adding them
        // to a fresh environment cannot conflict.
        let _ = env.add_extension(::cel::extensions::strings);
        let _ = env.add_extension(::cel::extensions::encoders);
        Arc::new(env)
    })
    .clone()
}

/// A parsed expression and its source, for messages.
#[derive(Debug)]
struct Expression {
    source: String,
    program: Program,
}

impl Expression {
    fn parse(which: &'static str, kind: &str, source: &str) -> Result<Self, Error> {
        let program = env().compile(source).map_err(|e| Error::Parse {
            which,
            kind: kind.to_owned(),
            expr: source.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Expression { source: source.to_owned(), program })
    }

    fn evaluate(&self, context: &Context<'_, '_>) -> Result<bool, Error> {
        match self.program.execute(context) {
            Ok(::cel::Value::Bool(b)) => Ok(b),
            Ok(_) => Err(Error::NotBoolean { expr: self.source.clone() }),
            Err(e) => Err(Error::Evaluate { expr: self.source.clone(), message: e.to_string() }),
        }
    }
}

/// One `healthCheckExprs` entry, parsed: the health of the objects of one group and kind.
#[derive(Debug)]
pub struct CelHealthCheck {
    api_version: String,
    group: String,
    kind: String,
    current: Expression,
    in_progress: Option<Expression>,
    failed: Option<Expression>,
}

impl CelHealthCheck {
    /// Parses the expressions of `check`. A missing `current`, an expression that does not parse
    /// or a malformed `apiVersion` is an error, for the controller to stall on. A check without
    /// `kind` applies to no object, as in Flux, which matches on group and kind.
    pub fn new(check: &CustomHealthCheck) -> Result<Self, Error> {
        let kind = check.kind.clone().unwrap_or_default();
        let api_version = check.api_version.clone();
        if api_version.matches('/').count() > 1 || api_version.starts_with('/') {
            return Err(Error::InvalidApiVersion { kind, api_version });
        }
        if check.current.trim().is_empty() {
            return Err(Error::CurrentNotSpecified { kind, api_version });
        }
        let optional = |which, expr: &Option<String>| match expr.as_deref() {
            Some(source) if !source.trim().is_empty() => Expression::parse(which, &kind, source).map(Some),
            _ => Ok(None),
        };
        Ok(CelHealthCheck {
            group: field::group_of(&api_version).to_owned(),
            current: Expression::parse("Current", &kind, &check.current)?,
            in_progress: optional("InProgress", &check.in_progress)?,
            failed: optional("Failed", &check.failed)?,
            api_version,
            kind,
        })
    }

    /// The API version the check was written for.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The kind the check applies to.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Whether the check applies to objects of this group and kind (any version).
    pub fn supports(&self, group: &str, kind: &str) -> bool {
        self.group == group && self.kind == kind
    }

    /// Whether the check applies to `obj`, by its `apiVersion` group and `kind`.
    pub fn applies_to(&self, obj: &Value) -> bool {
        self.supports(field::group_of(field::str_or(obj, &["apiVersion"], "")), field::kind(obj))
    }

    /// The health of `obj`: [`Status::Unknown`] with the error as message when an expression
    /// fails, as Flux reports it.
    pub fn evaluate(&self, obj: &Value) -> Health {
        self.try_evaluate(obj).unwrap_or_else(|e| Health::unknown(e.to_string()))
    }

    /// The health of `obj`, or why the expressions could not be evaluated on it.
    pub fn try_evaluate(&self, obj: &Value) -> Result<Health, Error> {
        if let Some(observed) =
            field::nested_i64(obj, &["status", "observedGeneration"]).map_err(|e| Error::Object(e.0))?
            && let Some(generation) =
                field::nested_i64(obj, &["metadata", "generation"]).map_err(|e| Error::Object(e.0))?
            && observed != generation
        {
            return Ok(Health::bare(Status::InProgress));
        }

        let mut context = Context::with_env(env());
        if let Value::Object(fields) = obj {
            for (name, value) in fields {
                context.add_variable_from_value(name.as_str(), to_cel(value));
            }
        }
        let ordered = [
            (self.in_progress.as_ref(), Status::InProgress),
            (self.failed.as_ref(), Status::Failed),
            (Some(&self.current), Status::Current),
        ];
        for (expr, status) in ordered {
            if let Some(expr) = expr
                && expr.evaluate(&context)?
            {
                return Ok(Health::bare(status));
            }
        }
        Ok(Health::bare(Status::InProgress))
    }
}

/// Evaluates the boolean CEL expression `expr` with each of `vars` bound to
/// a JSON value, in the environment health checks use. Flux uses this for
/// `dependsOn[].readyExpr`, with the dependent as `self` and the
/// dependency as `dep`. A parse error, an evaluation error or a non-boolean
/// result is an error.
pub fn eval_bool(expr: &str, vars: &[(&str, &Value)]) -> Result<bool, Error> {
    let expression = Expression::parse("ReadyExpr", "", expr)?;
    let mut context = Context::with_env(env());
    for (name, value) in vars {
        context.add_variable_from_value(*name, to_cel(value));
    }
    expression.evaluate(&context)
}

/// The JSON value as a CEL value: integers are `int` (`uint` only past `i64::MAX`), as
/// Kubernetes' unstructured objects hold them.
fn to_cel(value: &Value) -> ::cel::Value {
    match value {
        Value::Null => ::cel::Value::Null,
        Value::Bool(b) => ::cel::Value::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => ::cel::Value::Int(i),
            (None, Some(u)) => ::cel::Value::UInt(u),
            _ => ::cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => ::cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => ::cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let map: HashMap<String, ::cel::Value> = map.iter().map(|(k, v)| (k.clone(), to_cel(v))).collect();
            ::cel::Value::from(map)
        }
    }
}

/// The health checks of one Kustomization: its `healthCheckExprs` for the kinds they name,
/// kstatus's rules ([`compute`](crate::compute)) for everything else.
#[derive(Debug, Default)]
pub struct HealthChecker {
    checks: Vec<CelHealthCheck>,
}

impl HealthChecker {
    /// Parses every entry; the first error is returned. When two entries name the same group
    /// and kind, the first wins.
    pub fn new(checks: &[CustomHealthCheck]) -> Result<Self, Error> {
        Ok(HealthChecker { checks: checks.iter().map(CelHealthCheck::new).collect::<Result<_, _>>()? })
    }

    /// The custom check that applies to `obj`, if any.
    pub fn check_for(&self, obj: &Value) -> Option<&CelHealthCheck> {
        self.checks.iter().find(|c| c.applies_to(obj))
    }

    /// The health of `obj` now: by its custom check, or kstatus's rules.
    pub fn compute(&self, obj: &Value) -> Health {
        self.compute_at(obj, SystemTime::now())
    }

    /// The health of `obj` with `now` as the clock: by its custom check, or kstatus's rules.
    pub fn compute_at(&self, obj: &Value, now: SystemTime) -> Health {
        match self.check_for(obj) {
            Some(check) => check.evaluate(obj),
            None => compute_at(obj, now),
        }
    }
}

#[cfg(test)]
mod eval_bool_tests {
    use super::*;

    #[test]
    fn binds_variables_and_wants_a_boolean() {
        let dep = serde_json::json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let me = serde_json::json!({"metadata": {"name": "app"}});
        let ready = "dep.status.conditions.filter(c, c.type == 'Ready').all(c, c.status == 'True') && self.metadata.name == 'app'";
        assert!(eval_bool(ready, &[("dep", &dep), ("self", &me)]).unwrap());
        assert!(!eval_bool("self.metadata.name == 'other'", &[("self", &me)]).unwrap());
        assert!(matches!(eval_bool("self.metadata.name", &[("self", &me)]), Err(Error::NotBoolean { .. })));
        assert!(matches!(eval_bool("self.(", &[]), Err(Error::Parse { .. })));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{now, obj};

    fn check(
        api_version: &str,
        kind: &str,
        current: &str,
        in_progress: Option<&str>,
        failed: Option<&str>,
    ) -> CustomHealthCheck {
        CustomHealthCheck {
            api_version: api_version.into(),
            kind: Some(kind.into()),
            current: current.into(),
            in_progress: in_progress.map(Into::into),
            failed: failed.map(Into::into),
        }
    }

    /// `data.current`, `data.inProgress` and `data.failed` as the three expressions.
    fn data_check(current: &str) -> CelHealthCheck {
        CelHealthCheck::new(&check("example.com/v1", "Widget", current, Some("data.inProgress"), Some("data.failed")))
            .unwrap()
    }

    fn data(current: bool, in_progress: bool, failed: bool) -> Value {
        serde_json::json!({"data": {"current": current, "inProgress": in_progress, "failed": failed}})
    }

    #[test]
    fn order_is_in_progress_then_failed_then_current() {
        let c = data_check("data.current");
        for (current, in_progress, failed, want) in [
            (false, false, false, Status::InProgress),
            (true, true, true, Status::InProgress),
            (true, false, true, Status::Failed),
            (true, false, false, Status::Current),
            (false, false, true, Status::Failed),
        ] {
            let got = c.evaluate(&data(current, in_progress, failed));
            assert_eq!(got.status, want, "current={current} inProgress={in_progress} failed={failed}");
            assert!(got.conditions.is_empty());
        }
    }

    #[test]
    fn observed_generation_behind_is_in_progress_without_evaluating() {
        let c = CelHealthCheck::new(&check("example.com/v1", "Widget", "true", None, None)).unwrap();
        let o = obj("metadata: {generation: 2}\nstatus: {observedGeneration: 1}\n");
        assert_eq!(c.evaluate(&o).status, Status::InProgress);
        let o = obj("metadata: {generation: 2}\nstatus: {observedGeneration: 2}\n");
        assert_eq!(c.evaluate(&o).status, Status::Current);
    }

    #[test]
    fn evaluation_errors_are_unknown_with_the_expression() {
        let c = data_check("data.currentt");
        let err = c.try_evaluate(&data(true, false, false)).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("failed to evaluate the CEL expression 'data.currentt': "), "{message}");
        assert!(message.contains("currentt"), "{message}");
        let got = c.evaluate(&data(true, false, false));
        assert_eq!(got.status, Status::Unknown);
        assert_eq!(got.message, message);
    }

    #[test]
    fn non_boolean_results_are_errors() {
        let c = CelHealthCheck::new(&check("example.com/v1", "Widget", "status.phase", None, None)).unwrap();
        let err = c.try_evaluate(&obj("status: {phase: Ready}")).unwrap_err();
        assert_eq!(err.to_string(), "failed to evaluate CEL expression as boolean: 'status.phase'");
    }

    const READY_IN_PROGRESS: &str =
        "has(status.observedGeneration) && metadata.generation != status.observedGeneration";
    const READY_FAILED: &str = "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'False')";
    const READY_CURRENT: &str = "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')";

    #[test]
    fn generic_ready_expressions_on_objects_without_status() {
        let with_in_progress = CelHealthCheck::new(&check(
            "example.com/v1",
            "Widget",
            READY_CURRENT,
            Some(READY_IN_PROGRESS),
            Some(READY_FAILED),
        ))
        .unwrap();
        let without_in_progress =
            CelHealthCheck::new(&check("example.com/v1", "Widget", READY_CURRENT, None, Some(READY_FAILED))).unwrap();

        // No status at all: the expressions fail on the missing field.
        for c in [&with_in_progress, &without_in_progress] {
            assert_eq!(c.evaluate(&obj("{}")).status, Status::Unknown);
            assert_eq!(c.evaluate(&obj("status: {}")).status, Status::Unknown);
        }
        let err = without_in_progress.try_evaluate(&obj("status: {}")).unwrap_err().to_string();
        assert!(err.contains(READY_FAILED), "{err}");

        // Empty conditions: `all` of nothing is true, and failed comes before current.
        for c in [&with_in_progress, &without_in_progress] {
            assert_eq!(c.evaluate(&obj("status: {conditions: []}")).status, Status::Failed);
        }

        // An observed generation behind the generation.
        let o = obj("metadata: {generation: 2}\nstatus: {observedGeneration: 1}");
        assert_eq!(with_in_progress.evaluate(&o).status, Status::InProgress);
        assert_eq!(without_in_progress.evaluate(&o).status, Status::InProgress);
    }

    const CERTIFICATE: &str = r#"
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: app-certificate, namespace: apps, generation: 2}
spec:
  secretName: app-tls-certs
  dnsNames: [app.apps.svc.cluster.local]
  issuerRef: {group: cert-manager.io, kind: ClusterIssuer, name: app-issuer}
status:
  conditions: []
"#;

    fn certificate(conditions: &str) -> Value {
        let mut o = obj(CERTIFICATE);
        o["status"]["conditions"] = obj(conditions);
        o
    }

    #[test]
    fn flux_documented_certificate_check() {
        let c = CelHealthCheck::new(&check(
            "cert-manager.io/v1",
            "Certificate",
            "status.conditions.filter(e, e.type == 'Ready').all(e, e.observedGeneration == metadata.generation && e.status == 'True')",
            Some("status.conditions.filter(e, e.type == 'Issuing').all(e, e.observedGeneration == metadata.generation && e.status == 'True')"),
            Some("status.conditions.filter(e, e.type == 'Ready').all(e, e.observedGeneration == metadata.generation && e.status == 'False')"),
        ))
        .unwrap();
        assert!(c.applies_to(&obj(CERTIFICATE)));

        let issuing = certificate(
            "[{type: Issuing, status: 'True', observedGeneration: 2, reason: Issuing}, {type: Ready, status: 'False', observedGeneration: 2, reason: DoesNotExist}]",
        );
        assert_eq!(c.evaluate(&issuing).status, Status::InProgress);

        let failed = certificate(
            "[{type: Issuing, status: 'False', observedGeneration: 2, reason: Failed}, {type: Ready, status: 'False', observedGeneration: 2, reason: DoesNotExist}]",
        );
        assert_eq!(c.evaluate(&failed).status, Status::Failed);

        let ready = certificate(
            "[{type: Issuing, status: 'False', observedGeneration: 2}, {type: Ready, status: 'True', observedGeneration: 2, reason: Ready}]",
        );
        assert_eq!(c.evaluate(&ready).status, Status::Current);

        // A Ready condition from the previous generation is neither failed nor current.
        let stale = certificate(
            "[{type: Issuing, status: 'False', observedGeneration: 2}, {type: Ready, status: 'True', observedGeneration: 1, reason: Ready}]",
        );
        assert_eq!(c.evaluate(&stale).status, Status::InProgress);

        // `all` over no condition is true, as in CEL everywhere: without an Issuing condition the
        // inProgress expression holds.
        let no_issuing = certificate("[{type: Ready, status: 'True', observedGeneration: 2, reason: Ready}]");
        assert_eq!(c.evaluate(&no_issuing).status, Status::InProgress);
    }

    #[test]
    fn flux_documented_sealed_secret_and_cluster_checks() {
        let sealed = CelHealthCheck::new(&check(
            "bitnami.com/v1alpha1",
            "SealedSecret",
            "status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'True')",
            None,
            Some("status.conditions.filter(e, e.type == 'Synced').all(e, e.status == 'False')"),
        ))
        .unwrap();
        let synced = obj(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: s}\nstatus: {conditions: [{type: Synced, status: 'True'}]}",
        );
        assert_eq!(sealed.evaluate(&synced).status, Status::Current);
        let broken = obj(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: s}\nstatus: {conditions: [{type: Synced, status: 'False', reason: ErrUnsealFailed}]}",
        );
        assert_eq!(sealed.evaluate(&broken).status, Status::Failed);

        let cluster =
            CelHealthCheck::new(&check("cluster.x-k8s.io/v1beta1", "Cluster", READY_CURRENT, None, Some(READY_FAILED)))
                .unwrap();
        let provisioning = obj(
            "apiVersion: cluster.x-k8s.io/v1beta1\nkind: Cluster\nmetadata: {name: c}\nstatus: {conditions: [{type: Ready, status: 'Unknown'}, {type: InfrastructureReady, status: 'False'}]}",
        );
        assert_eq!(cluster.evaluate(&provisioning).status, Status::InProgress);
    }

    #[test]
    fn macros_and_extensions() {
        let o = obj(r#"
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, labels: {tier: Backend}}
spec: {replicas: 3}
status:
  readyReplicas: 3
  endpoints: [a, b, c]
  conditions:
  - {type: Ready, status: "True"}
  - {type: Synced, status: "True"}
"#);
        for expr in [
            "status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')",
            "status.conditions.all(c, c.status == 'True')",
            "status.conditions.exists_one(c, c.type == 'Synced')",
            "status.conditions.map(c, c.type) == ['Ready', 'Synced']",
            "size(status.conditions.filter(c, c.status == 'True')) == 2",
            "has(status.readyReplicas) && status.readyReplicas == spec.replicas",
            "!has(status.failedReplicas)",
            "status.readyReplicas >= 3 && size(status.endpoints) == 3",
            "metadata.labels.tier.lowerAscii() == 'backend'",
            "metadata.name.startsWith('w') && 'b' in status.endpoints",
            "kind == 'Widget' && apiVersion.split('/')[0] == 'example.com'",
            "status.?observedGeneration.orValue(0) == 0",
            "status.?conditions.orValue([]).exists(c, c.type == 'Synced')",
        ] {
            let c = CelHealthCheck::new(&check("example.com/v1", "Widget", expr, None, None)).unwrap();
            assert_eq!(c.try_evaluate(&o).unwrap().status, Status::Current, "{expr}");
        }
    }

    #[test]
    fn construction_errors_name_the_expression() {
        let err = CelHealthCheck::new(&check("example.com/v1", "Widget", "", None, None)).unwrap_err();
        assert_eq!(err.to_string(), "expression Current not specified for Widget (example.com/v1)");

        let err = CelHealthCheck::new(&check("example.com/v1", "Widget", "data.", None, None)).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "failed to parse the expression Current for Widget: failed to parse the CEL expression 'data.': "
            ),
            "{err}"
        );

        let err = CelHealthCheck::new(&check("example.com/v1", "Widget", "true", Some("(("), None)).unwrap_err();
        assert!(err.to_string().starts_with("failed to parse the expression InProgress"), "{err}");

        let err = CelHealthCheck::new(&check("example.com/v1", "Widget", "true", None, Some("a ==="))).unwrap_err();
        assert!(err.to_string().starts_with("failed to parse the expression Failed"), "{err}");

        let err = CelHealthCheck::new(&check("a/b/c", "Widget", "true", None, None)).unwrap_err();
        assert!(matches!(err, Error::InvalidApiVersion { .. }), "{err}");

        // Empty optional expressions are as good as unset.
        let c = CelHealthCheck::new(&check("example.com/v1", "Widget", "true", Some(""), Some("  "))).unwrap();
        assert_eq!(c.evaluate(&obj("{}")).status, Status::Current);
    }

    #[test]
    fn checker_picks_by_group_and_kind_and_falls_back_to_kstatus() {
        let checker = HealthChecker::new(&[
            check("cert-manager.io/v1", "Certificate", "false", None, Some("true")),
            check("cert-manager.io/v1beta1", "Certificate", "true", None, None),
            check("example.com/v1", "Widget", "true", None, None),
        ])
        .unwrap();

        // Any version of the group matches; the first entry wins.
        let cert = obj("apiVersion: cert-manager.io/v1alpha2\nkind: Certificate\nmetadata: {name: c}");
        assert_eq!(checker.check_for(&cert).map(CelHealthCheck::api_version), Some("cert-manager.io/v1"));
        assert_eq!(checker.compute_at(&cert, now()).status, Status::Failed);

        // Same kind, other group: built-in rules.
        let other = obj(
            "apiVersion: other.io/v1\nkind: Certificate\nmetadata: {name: c}\nstatus: {conditions: [{type: Ready, status: 'False', reason: R, message: m}]}",
        );
        assert!(checker.check_for(&other).is_none());
        assert_eq!(checker.compute_at(&other, now()).status, Status::InProgress);

        let deploy = obj(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 2}\nstatus: {replicas: 1}",
        );
        assert_eq!(checker.compute(&deploy).message, "Replicas: 1/2");

        let err = HealthChecker::new(&[check("example.com/v1", "Widget", "(", None, None)]).unwrap_err();
        assert!(matches!(err, Error::Parse { which: "Current", .. }));
        assert!(HealthChecker::default().check_for(&cert).is_none());
    }

    #[test]
    fn checkers_can_be_shared_between_tasks() {
        fn shared<T: Send + Sync + 'static>(_: &T) {}
        let checker = HealthChecker::new(&[check("example.com/v1", "Widget", "true", None, None)]).unwrap();
        shared(&checker);
        let checker = std::sync::Arc::new(checker);
        let widget = obj("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}");
        let handle = std::thread::spawn({
            let checker = checker.clone();
            let widget = widget.clone();
            move || checker.compute(&widget).status
        });
        assert_eq!(handle.join().unwrap(), Status::Current);
        assert_eq!(checker.compute(&widget).status, Status::Current);
    }

    #[test]
    fn a_check_without_kind_applies_to_nothing() {
        let c = CelHealthCheck::new(&CustomHealthCheck {
            api_version: "example.com/v1".into(),
            kind: None,
            current: "true".into(),
            in_progress: None,
            failed: None,
        })
        .unwrap();
        assert!(!c.applies_to(&obj("apiVersion: example.com/v1\nkind: Widget")));
    }

    #[test]
    fn integers_compare_as_kubernetes_ints() {
        let c = CelHealthCheck::new(&check(
            "example.com/v1",
            "Widget",
            "status.replicas == 3 && status.ratio > 0.5",
            None,
            None,
        ))
        .unwrap();
        assert_eq!(c.try_evaluate(&obj("status: {replicas: 3, ratio: 0.75}")).unwrap().status, Status::Current);
    }
}
