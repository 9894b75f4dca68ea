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
