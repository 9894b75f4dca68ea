//! Errors worded as Go's text/template words them, because Helm prints them
//! (and parses them: `execution error at (NAME:LINE:COL): ...`).

use crate::strconv::quote;

/// A parse or execution error of a template.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text does not parse: `template: NAME:LINE: message`.
    #[error("template: {name}:{line}: {message}")]
    Parse {
        /// The name the text was parsed under (the file, for Helm).
        name: String,
        /// The 1-based line of the offending token.
        line: usize,
        /// Go's message.
        message: String,
    },
    /// Executing failed.
    #[error(transparent)]
    Exec(#[from] Box<ExecError>),
    /// `ExecuteTemplate` with a name the set does not hold.
    #[error("template: no template {} associated with template {}", quote(.name), quote(.set))]
    NoTemplate {
        /// The template asked for.
        name: String,
        /// The name of the set (Go's receiving template).
        set: String,
    },
}

/// Where a node is: the name its text was parsed under, its 1-based line, and
/// its 0-based byte column, as Go's `ErrorContext` gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The parse name (the file for Helm, even inside a `define`).
    pub parse_name: String,
    /// 1-based line.
    pub line: usize,
    /// Byte offset in the line, from 0.
    pub col: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.parse_name, self.line, self.col)
    }
}

/// An execution error with Go's context.
#[derive(Debug)]
pub struct ExecError {
    /// The template being executed (a `define` name, or the file).
    pub template: String,
    /// Where, when Go knows the node.
    pub location: Option<Location>,
    /// The node's text, as Go prints it between `<` and `>`.
    pub context: String,
    /// Go's message after the context (`error calling fail: boom`).
    pub message: String,
    /// The function's error when a function call failed.
    pub cause: Option<FuncError>,
}

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Some(location) => write!(
                f,
                "template: {location}: executing {} at <{}>: {}",
                quote(&self.template),
                self.context,
                self.message
            ),
            None => write!(f, "template: {}: {}", self.template, self.message),
        }
    }
}

impl std::error::Error for ExecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_ref().map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl Error {
    /// The execution error, when this is one.
    pub fn exec(&self) -> Option<&ExecError> {
        match self {
            Error::Exec(e) => Some(e),
            _ => None,
        }
    }
}

/// The error a template function returns (Go's second result).
#[derive(Debug, thiserror::Error)]
pub enum FuncError {
    /// A plain message, as `errors.New` makes.
    #[error("{0}")]
    Message(String),
    /// A nested template failed (Helm's `include` and `tpl`); printed as Go
    /// prints the wrapped error.
    #[error("{prefix}{source}")]
    Template {
        /// Text Go puts before the nested error (Helm's `tpl` wraps it).
        prefix: String,
        /// The nested error.
        #[source]
        source: Box<Error>,
    },
}

impl FuncError {
    /// A plain message.
    pub fn msg(message: impl Into<String>) -> Self {
        FuncError::Message(message.into())
    }
}
