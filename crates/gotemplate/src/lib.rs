//! Go's `text/template` and the Sprig function library, as Helm uses them.
//!
//! Helm charts are Go templates: Ferry renders them natively, so this crate
//! reproduces Go's semantics where charts can observe them — parsing and
//! whitespace trimming, variable scoping, `missingkey`, truthiness and
//! comparisons, `fmt` printing (`map[a:1]`, `1e+06`), and the wording of
//! errors, which Helm prints to users. It has no Kubernetes or Helm knowledge:
//! `ferry-helm` adds Helm's own functions (`include`, `tpl`, `toYaml`...)
//! through [`FuncMap`], whose functions get an [`Exec`] handle on the running
//! execution.
//!
//! Texts are parsed once into a [`Templates`] set and executed many times;
//! values are [`Value`]s sharing their contents, so execution does not copy
//! data.
//!
//! ```
//! use ferry_gotemplate::{MissingKey, Templates, Value, sprig};
//!
//! let mut set = Templates::new("gotpl");
//! set.add_funcs(sprig::funcs()).missing_key(MissingKey::Zero);
//! set.parse("_helpers.tpl", r#"{{ define "item" }}{{ .k }}={{ .v | quote }}{{ end }}"#)?;
//! set.parse("cm.yaml", "{{ range $k, $v := .items }}{{ template \"item\" (dict \"k\" $k \"v\" $v) }} {{ end }}")?;
//! let data = Value::from_json(&serde_json::json!({"items": {"b": 2, "a": "x"}}));
//! // Maps range in key order; JSON numbers are float64 as in Helm.
//! assert_eq!(set.execute("cm.yaml", &data)?, r#"a="x" b="2" "#);
//! # Ok::<(), ferry_gotemplate::Error>(())
//! ```
//!
//! # Checked against Go
//!
//! `tests/cases/*.txt` holds template cases (actions, errors, printing, every
//! deterministic Sprig function); `tests/golden/*.jsonl` holds what Go's
//! text/template with Sprig v3.3 (as Helm registers it) printed for them,
//! recorded by `hack/gotemplate-oracle/generate.sh`. `tests/oracle.rs` compares
//! byte for byte, error messages included, offline; with
//! `FERRY_GOTEMPLATE_ORACLE` pointing at the oracle binary it compares live.
//!
//! # Where Ferry differs from Go, and why
//!
//! - Go strings may hold invalid UTF-8 (`trunc` cutting a character, `b64dec`
//!   of binary data); Rust strings cannot, so each invalid byte becomes
//!   U+FFFD, as Go's own `range` and JSON encoder see it.
//! - `typeOf`/`%T` know `int`, `int64`, `float64`, `string`, `bool`,
//!   `[]interface {}`, `[]string`, `[]int`, `map[string]interface {}` and host
//!   objects' names; maps Sprig types as `map[string]string` (`split`) report
//!   `map[string]interface {}`.
//! - Time zones: no zone database, so `dateInZone`, `htmlDateInZone` and
//!   `Local` use UTC (as Helm in a container without TZ data does).
//! - Generated keys (`genCA`, `genSelfSignedCert`, `genSignedCert`,
//!   `genPrivateKey`) are ECDSA P-256 in PKCS#8 where Sprig makes RSA-2048 in
//!   PKCS#1; their output is random in Helm too.
//! - `call` has no function values to call, as Helm's data has none.
#![deny(missing_docs)]

mod ast;
mod builtins;
mod error;
mod exec;
mod func;
mod gofmt;
mod lexer;
mod parser;
mod sig;
pub mod sprig;
mod stack;
mod strconv;
mod template;
mod value;

pub use error::{Error, ExecError, FuncError, Location};
pub use func::{Exec, FuncBody, FuncMap, Function};
pub use sig::{Signature, Ty};
pub use template::{MissingKey, Templates};
pub use value::{Elem, Map, MapEntries, Object, Value};

/// Go's `fmt` as templates use it, for host functions that print values the
/// way Go does (Helm's `toString`-like conversions, error messages).
pub mod fmt {
    pub use crate::gofmt::{sprint, sprintf, sprintln, to_string, write_value};
    pub use crate::strconv::{format_float, quote};
}
