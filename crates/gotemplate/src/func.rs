//! Template functions: the map a host extends, and the handle on the running
//! execution that functions such as Helm's `include` and `tpl` need.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::error::{Error, FuncError};
use crate::sig::{Signature, Ty};
use crate::value::Value;

/// What a function sees of the execution that calls it.
///
/// Helm's `include` runs a named template of the same set into a string, and
/// `tpl` parses new text into a clone of the set and runs it; both nest inside
/// the current execution (same options, depth counted against Go's limit).
pub trait Exec {
    /// Executes the named template of the running set with `data` as dot and
    /// returns its output.
    fn execute_template(&mut self, name: &str, data: Value) -> Result<String, Error>;

    /// Parses `text` under `name` into a clone of the running set (replacing a
    /// template of that name in the clone only) and executes it with `data`.
    fn execute_text(&mut self, name: &str, text: &str, data: Value) -> Result<String, Error>;

    /// Whether the running set holds a template named `name`.
    fn has_template(&self, name: &str) -> bool;

    /// The name of the template being executed.
    fn template_name(&self) -> &str;

    /// How many template invocations deep this execution is.
    fn depth(&self) -> usize;
}

/// The body of a function: gets the execution handle and the checked arguments.
pub type FuncBody = dyn Fn(&mut dyn Exec, Vec<Value>) -> Result<Value, FuncError> + Send + Sync;

/// Builtins that the executor treats specially (Go's `and`/`or` short-circuit,
/// `call` calls its first argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    And,
    Or,
}

/// A template function: its Go signature and its body.
#[derive(Clone)]
pub struct Function {
    pub(crate) sig: Signature,
    pub(crate) body: Arc<FuncBody>,
    pub(crate) special: Option<Special>,
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Function").field("sig", &self.sig).finish_non_exhaustive()
    }
}

impl Function {
    /// A function with the given signature; the executor checks argument
    /// count and types before calling `body`.
    pub fn new(
        sig: Signature,
        body: impl Fn(&mut dyn Exec, Vec<Value>) -> Result<Value, FuncError> + Send + Sync + 'static,
    ) -> Self {
        Function { sig, body: Arc::new(body), special: None }
    }

    /// A function with fixed parameters that does not need the execution.
    pub fn fixed(params: &[Ty], body: impl Fn(Vec<Value>) -> Result<Value, FuncError> + Send + Sync + 'static) -> Self {
        Function::new(Signature::fixed(params), move |_, args| body(args))
    }

    /// A variadic function that does not need the execution.
    pub fn variadic(
        params: &[Ty],
        tail: Ty,
        body: impl Fn(Vec<Value>) -> Result<Value, FuncError> + Send + Sync + 'static,
    ) -> Self {
        Function::new(Signature::variadic(params, tail), move |_, args| body(args))
    }

    pub(crate) fn special(mut self, special: Special) -> Self {
        self.special = Some(special);
        self
    }

    /// The Go signature.
    pub fn signature(&self) -> &Signature {
        &self.sig
    }

    /// Calls the function directly (arguments unchecked).
    pub fn call(&self, exec: &mut dyn Exec, args: Vec<Value>) -> Result<Value, FuncError> {
        (self.body)(exec, args)
    }
}

/// Functions by name, as Go's `template.FuncMap`.
#[derive(Clone, Debug, Default)]
pub struct FuncMap {
    funcs: HashMap<String, Function>,
}

impl FuncMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `name`.
    pub fn insert(&mut self, name: impl Into<String>, f: Function) {
        self.funcs.insert(name.into(), f);
    }

    /// Removes `name` (Helm drops Sprig's `env` and `expandenv`).
    pub fn remove(&mut self, name: &str) -> Option<Function> {
        self.funcs.remove(name)
    }

    /// The function `name`.
    pub fn get(&self, name: &str) -> Option<&Function> {
        self.funcs.get(name)
    }

    /// Whether `name` is defined.
    pub fn contains(&self, name: &str) -> bool {
        self.funcs.contains_key(name)
    }

    /// Adds every function of `other`, replacing those of the same name.
    pub fn extend(&mut self, other: FuncMap) {
        self.funcs.extend(other.funcs);
    }

    /// The names, unordered.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.funcs.keys().map(String::as_str)
    }
}
