//! The parse tree of a template, with each node's byte position so errors can
//! name line and column, and Go's `String()` of each node, which Go prints as
//! the context of an execution error (`at <.Values.x>`).

use std::fmt::{self, Write};
use std::sync::Arc;

use crate::strconv::quote;

/// A parsed template: one `define` (or the top-level text) of a file.
#[derive(Debug)]
pub struct Tree {
    /// The template's name.
    pub name: Arc<str>,
    /// The name of the text it was parsed from (Go's `ParseName`).
    pub parse_name: Arc<str>,
    /// The whole text it was parsed from, to turn positions into lines.
    pub text: Arc<str>,
    /// The body.
    pub root: Vec<Node>,
}

impl Tree {
    /// Go's `IsEmptyTree`: only whitespace text and comments.
    pub fn is_empty(&self) -> bool {
        is_empty_list(&self.root)
    }

    /// Line (from 1) and byte column (from 0) of a position, as Go's
    /// `ErrorContext` computes them.
    pub fn line_col(&self, pos: usize) -> (usize, usize) {
        let pos = pos.min(self.text.len());
        let before = &self.text.as_bytes()[..pos];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let col = match before.iter().rposition(|&b| b == b'\n') {
            Some(nl) => pos - (nl + 1),
            None => pos,
        };
        (line, col)
    }
}

fn is_empty_list(nodes: &[Node]) -> bool {
    nodes.iter().all(|n| match n {
        Node::Text { text, .. } => text.trim_matches(|c: char| c.is_ascii_whitespace()).is_empty(),
        Node::Comment { .. } => true,
        _ => false,
    })
}

/// A statement of a template body.
#[derive(Debug)]
pub enum Node {
    /// Plain text.
    Text {
        /// Position.
        pos: usize,
        /// The text.
        text: Arc<str>,
    },
    /// A comment (kept so emptiness matches Go).
    Comment {
        /// Position.
        pos: usize,
    },
    /// `{{pipeline}}`
    Action {
        /// Position.
        pos: usize,
        /// The pipeline.
        pipe: Pipe,
    },
    /// `{{if}}`
    If(Branch),
    /// `{{range}}`
    Range(Branch),
    /// `{{with}}`
    With(Branch),
    /// `{{template "name" pipeline}}`
    Template {
        /// Position.
        pos: usize,
        /// The template invoked.
        name: Arc<str>,
        /// The data pipeline.
        pipe: Option<Pipe>,
    },
    /// `{{break}}`
    Break {
        /// Position.
        pos: usize,
    },
    /// `{{continue}}`
    Continue {
        /// Position.
        pos: usize,
    },
}

/// The parts of `if`, `range` and `with`.
#[derive(Debug)]
pub struct Branch {
    /// Position.
    pub pos: usize,
    /// The condition.
    pub pipe: Pipe,
    /// The body.
    pub list: Vec<Node>,
    /// The `else` body (an `else if`/`else with` is a single nested node).
    pub else_list: Option<Vec<Node>>,
}

/// A pipeline with optional variable declarations.
#[derive(Debug)]
pub struct Pipe {
    /// Position.
    pub pos: usize,
    /// `=` rather than `:=`.
    pub is_assign: bool,
    /// Declared or assigned variables, in order.
    pub decl: Vec<Variable>,
    /// The commands, in order.
    pub cmds: Vec<Command>,
}

/// A variable reference with its field chain: `$x.A.B`.
#[derive(Debug)]
pub struct Variable {
    /// Position.
    pub pos: usize,
    /// Variable name (with `$`), then the fields.
    pub ident: Vec<Arc<str>>,
}

/// A command: a function or value with its arguments.
#[derive(Debug)]
pub struct Command {
    /// Position.
    pub pos: usize,
    /// The operands; the first is the function or value.
    pub args: Vec<Arg>,
}

/// A parsed number constant with every interpretation Go computes.
#[derive(Debug, Clone)]
pub struct Number {
    /// The source text.
    pub text: Arc<str>,
    /// Fits an int64.
    pub is_int: bool,
    /// Fits a uint64.
    pub is_uint: bool,
    /// Is a float64.
    pub is_float: bool,
    /// Is complex (not supported by execution).
    pub is_complex: bool,
    /// The int64 value.
    pub int: i64,
    /// The uint64 value.
    pub uint: u64,
    /// The float64 value.
    pub float: f64,
}

/// An operand.
#[derive(Debug)]
pub enum Arg {
    /// `.A.B`
    Field {
        /// Position.
        pos: usize,
        /// The field names.
        ident: Vec<Arc<str>>,
    },
    /// `$x.A`
    Variable(Variable),
    /// `(pipe).A` or `fn.A`: fields of another operand.
    Chain {
        /// Position.
        pos: usize,
        /// The operand.
        node: Box<Arg>,
        /// The field names.
        fields: Vec<Arc<str>>,
    },
    /// A function name.
    Identifier {
        /// Position.
        pos: usize,
        /// The name.
        name: Arc<str>,
    },
    /// `.`
    Dot {
        /// Position.
        pos: usize,
    },
    /// `nil`
    Nil {
        /// Position.
        pos: usize,
    },
    /// `true`/`false`
    Bool {
        /// Position.
        pos: usize,
        /// The value.
        value: bool,
    },
    /// A number.
    Number {
        /// Position.
        pos: usize,
        /// The constant.
        number: Number,
    },
    /// A string constant.
    String {
        /// Position.
        pos: usize,
        /// The source text with its quotes.
        quoted: Arc<str>,
        /// The value.
        value: Arc<str>,
    },
    /// A parenthesised pipeline.
    Pipe(Box<Pipe>),
}

impl Arg {
    /// The node's position.
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Identifier { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Bool { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::String { pos, .. } => *pos,
            Arg::Variable(v) => v.pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in self.ident.iter().enumerate() {
            if i > 0 {
                f.write_char('.')?;
            }
            f.write_str(id)?;
        }
        Ok(())
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { ident, .. } => {
                for id in ident {
                    write!(f, ".{id}")?;
                }
                Ok(())
            }
            Arg::Variable(v) => v.fmt(f),
            Arg::Chain { node, fields, .. } => {
                if let Arg::Pipe(p) = node.as_ref() {
                    write!(f, "({p})")?;
                } else {
                    node.fmt(f)?;
                }
                for field in fields {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
            Arg::Identifier { name, .. } => f.write_str(name),
            Arg::Dot { .. } => f.write_char('.'),
            Arg::Nil { .. } => f.write_str("nil"),
            Arg::Bool { value, .. } => write!(f, "{value}"),
            Arg::Number { number, .. } => f.write_str(&number.text),
            Arg::String { quoted, .. } => f.write_str(quoted),
            Arg::Pipe(p) => p.fmt(f),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            if let Arg::Pipe(p) = arg {
                write!(f, "({p})")?;
            } else {
                arg.fmt(f)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            for (i, v) in self.decl.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                v.fmt(f)?;
            }
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            c.fmt(f)?;
        }
        Ok(())
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, nodes: &[Node]) -> fmt::Result {
    for n in nodes {
        fmt::Display::fmt(n, f)?;
    }
    Ok(())
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Text { text, .. } => f.write_str(text),
            Node::Comment { .. } => f.write_str("{{/* */}}"),
            Node::Action { pipe, .. } => write!(f, "{{{{{pipe}}}}}"),
            Node::If(b) => write_branch(f, "if", b),
            Node::Range(b) => write_branch(f, "range", b),
            Node::With(b) => write_branch(f, "with", b),
            Node::Template { name, pipe, .. } => {
                write!(f, "{{{{template {}", quote(name))?;
                if let Some(p) = pipe {
                    write!(f, " {p}")?;
                }
                f.write_str("}}")
            }
            Node::Break { .. } => f.write_str("{{break}}"),
            Node::Continue { .. } => f.write_str("{{continue}}"),
        }
    }
}

fn write_branch(f: &mut fmt::Formatter<'_>, name: &str, b: &Branch) -> fmt::Result {
    write!(f, "{{{{{name} {}}}}}", b.pipe)?;
    write_list(f, &b.list)?;
    if let Some(e) = &b.else_list {
        f.write_str("{{else}}")?;
        write_list(f, e)?;
    }
    f.write_str("{{end}}")
}
