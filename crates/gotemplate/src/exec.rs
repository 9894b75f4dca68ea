//! Executes parsed templates with Go's semantics: variable scoping, field
//! chains on maps and objects, `missingkey`, argument checks against function
//! signatures, and errors that name the node Go would name.

use std::sync::Arc;

use crate::ast::{Arg, Branch, Command, Node, Pipe, Tree, Variable};
use crate::error::{Error, ExecError, FuncError, Location};
use crate::func::{Exec, Function, Special};
use crate::gofmt;
use crate::sig::{Signature, Ty};
use crate::stack::{hop_needed, on_new_stack};
use crate::strconv::quote;
use crate::template::{MissingKey, Templates};
use crate::value::{Elem, Map, Value};

/// Go's `maxExecDepth`.
const MAX_EXEC_DEPTH: usize = 100_000;

impl Templates {
    /// Executes the template `name` with `data` as dot and `$`, returning the
    /// output (Go's `ExecuteTemplate`).
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, Error> {
        let Some(tree) = self.lookup(name) else {
            return Err(Error::NoTemplate { name: name.to_string(), set: self.name.to_string() });
        };
        let tree = tree.clone();
        run(self, &tree, data.clone(), 0, 0)
    }

    /// Executes like [`Templates::execute`], appending to `out`; on error, `out`
    /// holds what was written before the failure, as Go's writer would.
    pub fn execute_into(&self, name: &str, data: &Value, out: &mut String) -> Result<(), Error> {
        let Some(tree) = self.lookup(name) else {
            return Err(Error::NoTemplate { name: name.to_string(), set: self.name.to_string() });
        };
        let tree = tree.clone();
        let (written, result) = run_partial(self, &tree, data.clone(), 0, 0);
        out.push_str(&written);
        result
    }
}

fn run(set: &Templates, tree: &Tree, data: Value, depth: usize, nest: usize) -> Result<String, Error> {
    let (out, result) = run_partial(set, tree, data, depth, nest);
    result.map(|()| out)
}

fn run_partial(set: &Templates, tree: &Tree, data: Value, depth: usize, nest: usize) -> (String, Result<(), Error>) {
    let data = if matches!(data, Value::Nil) { Value::Missing } else { data };
    let mut state = State {
        set,
        tree,
        vars: vec![(Arc::from("$"), data.clone(), false)],
        depth,
        out: String::new(),
        at: At::None,
        dot_boxed: false,
        nest,
    };
    let result = match state.walk_list(&data, &tree.root) {
        Ok(()) => Ok(()),
        Err(Stop::Error(e)) => Err(e),
        // The parser only accepts break/continue inside range.
        Err(Stop::Break | Stop::Continue) => Ok(()),
    };
    (state.out, result)
}

/// Why a walk stopped early.
enum Stop {
    Error(Error),
    Break,
    Continue,
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Error(e)
    }
}

type R<T> = Result<T, Stop>;

/// The node Go's `state.at` last recorded: the context of an error.
#[derive(Clone, Copy)]
enum At<'t> {
    None,
    Node(&'t Node),
    Pipe(&'t Pipe),
    Cmd(&'t Command),
    Arg(&'t Arg),
    Var(&'t Variable),
}

/// One execution: Go's `state`.
struct State<'t> {
    set: &'t Templates,
    tree: &'t Tree,
    /// Variables: name, value, and whether Go would hold the value in an
    /// `interface{}` (elements of `[]interface{}` and maps), which error
    /// messages name as `interface {}`.
    vars: Vec<(Arc<str>, Value, bool)>,
    depth: usize,
    out: String,
    at: At<'t>,
    /// Whether dot is such an `interface{}` element (inside `range`).
    dot_boxed: bool,
    /// Recursion depth, to move deep executions onto fresh stacks.
    nest: usize,
}

/// The result of a function-position lookup.
enum Callee<'v> {
    Func(&'v Function),
    Method(Value, Signature),
}

impl<'t> State<'t> {
    fn at(&mut self, at: At<'t>) {
        self.at = at;
    }

    fn error(&self, message: String, cause: Option<FuncError>) -> Stop {
        let (location, context) = match self.at {
            At::None => (None, String::new()),
            at => {
                let (pos, context) = match at {
                    At::Node(n) => (node_pos(n), n.to_string()),
                    At::Pipe(p) => (p.pos, p.to_string()),
                    At::Cmd(c) => (c.pos, c.to_string()),
                    At::Arg(a) => (a.pos(), a.to_string()),
                    At::Var(v) => (v.pos, v.to_string()),
                    At::None => (0, String::new()),
                };
                let (line, col) = self.tree.line_col(pos);
                (Some(Location { parse_name: self.tree.parse_name.to_string(), line, col }), context)
            }
        };
        Stop::Error(Error::Exec(Box::new(ExecError {
            template: self.tree.name.to_string(),
            location,
            context,
            message,
            cause,
        })))
    }

    fn errorf(&self, message: impl Into<String>) -> Stop {
        self.error(message.into(), None)
    }

    fn mark(&self) -> usize {
        self.vars.len()
    }

    fn pop(&mut self, mark: usize) {
        self.vars.truncate(mark);
    }

    fn push(&mut self, name: &Arc<str>, value: Value) {
        self.vars.push((name.clone(), value, false));
    }

    fn set_var(&mut self, name: &str, value: Value) -> R<()> {
        self.set_var_boxed(name, value, false)
    }

    fn set_var_boxed(&mut self, name: &str, value: Value, boxed: bool) -> R<()> {
        for (n, v, b) in self.vars.iter_mut().rev() {
            if &**n == name {
                *v = value;
                *b = boxed;
                return Ok(());
            }
        }
        Err(self.errorf(format!("undefined variable: {name}")))
    }

    fn set_top_var(&mut self, n: usize, value: Value, boxed: bool) {
        let len = self.vars.len();
        if n <= len {
            self.vars[len - n].1 = value;
            self.vars[len - n].2 = boxed;
        }
    }

    fn var_value(&self, name: &str) -> R<(Value, bool)> {
        for (n, v, b) in self.vars.iter().rev() {
            if &**n == name {
                return Ok((v.clone(), *b));
            }
        }
        Err(self.errorf(format!("undefined variable: {name}")))
    }

    /// Runs `f` one level deeper, on a fresh stack when the nesting calls for it.
    fn deeper<T: Send>(&mut self, f: impl FnOnce(&mut Self) -> R<T> + Send) -> R<T> {
        self.nest += 1;
        let r = if hop_needed(self.nest) { on_new_stack(|| f(self)) } else { f(self) };
        self.nest -= 1;
        r
    }

    fn walk_list(&mut self, dot: &Value, nodes: &'t [Node]) -> R<()> {
        self.deeper(|s| {
            for node in nodes {
                s.walk(dot, node)?;
            }
            Ok(())
        })
    }

    fn walk(&mut self, dot: &Value, node: &'t Node) -> R<()> {
        self.at(At::Node(node));
        match node {
            Node::Text { text, .. } => {
                self.out.push_str(text);
                Ok(())
            }
            Node::Comment { .. } => Ok(()),
            Node::Action { pipe, .. } => {
                let val = self.eval_pipeline(dot, Some(pipe))?;
                if pipe.decl.is_empty() {
                    self.at(At::Node(node));
                    if matches!(val, Value::Missing) {
                        self.out.push_str("<no value>");
                    } else {
                        gofmt::write_value(&mut self.out, &val);
                    }
                }
                Ok(())
            }
            Node::If(b) => self.walk_if_or_with(false, dot, b),
            Node::With(b) => self.walk_if_or_with(true, dot, b),
            Node::Range(b) => self.walk_range(dot, node, b),
            Node::Template { name, pipe, .. } => self.walk_template(dot, node, name, pipe.as_ref()),
            Node::Break { .. } => Err(Stop::Break),
            Node::Continue { .. } => Err(Stop::Continue),
        }
    }

    fn walk_if_or_with(&mut self, with: bool, dot: &Value, b: &'t Branch) -> R<()> {
        let mark = self.mark();
        let r = (|| {
            let val = self.eval_pipeline(dot, Some(&b.pipe))?;
            if val.truthy() {
                if with {
                    let boxed = std::mem::replace(&mut self.dot_boxed, false);
                    let r = self.walk_list(&val, &b.list);
                    self.dot_boxed = boxed;
                    r
                } else {
                    self.walk_list(dot, &b.list)
                }
            } else if let Some(e) = &b.else_list {
                self.walk_list(dot, e)
            } else {
                Ok(())
            }
        })();
        self.pop(mark);
        r
    }

    fn walk_range(&mut self, dot: &Value, node: &'t Node, r: &'t Branch) -> R<()> {
        self.at(At::Node(node));
        let outer = self.mark();
        let result = self.walk_range_inner(dot, r);
        self.pop(outer);
        result
    }

    fn range_iteration(&mut self, r: &'t Branch, mark: usize, index: Value, elem: Value, boxed: bool) -> R<bool> {
        let decl = &r.pipe.decl;
        if !decl.is_empty() {
            if r.pipe.is_assign {
                if decl.len() > 1 {
                    self.set_var(&decl[0].ident[0], index.clone())?;
                } else {
                    self.set_var_boxed(&decl[0].ident[0], elem.clone(), boxed)?;
                }
            } else {
                self.set_top_var(1, elem.clone(), boxed);
            }
        }
        if decl.len() > 1 {
            if r.pipe.is_assign {
                self.set_var_boxed(&decl[1].ident[0], elem.clone(), boxed)?;
            } else {
                self.set_top_var(2, index, false);
            }
        }
        let saved = std::mem::replace(&mut self.dot_boxed, boxed);
        let result = self.walk_list(&elem, &r.list);
        self.dot_boxed = saved;
        self.pop(mark);
        match result {
            Ok(()) | Err(Stop::Continue) => Ok(true),
            Err(Stop::Break) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn walk_range_inner(&mut self, dot: &Value, r: &'t Branch) -> R<()> {
        let val = self.eval_pipeline(dot, Some(&r.pipe))?;
        let mark = self.mark();
        match &val {
            Value::Int(n) | Value::Int64(n) => {
                if r.pipe.decl.len() > 1 {
                    return Err(self.errorf(format!(
                        "can't use {} to iterate over more than one variable",
                        gofmt::to_string(&val)
                    )));
                }
                if *n > 0 {
                    let int64 = matches!(val, Value::Int64(_));
                    for i in 0..*n {
                        let elem = if int64 { Value::Int64(i) } else { Value::Int(i) };
                        if !self.range_iteration(r, mark, Value::Missing, elem, false)? {
                            break;
                        }
                    }
                    return Ok(());
                }
            }
            Value::List(items, elem) if !items.is_empty() => {
                let boxed = *elem == Elem::Any;
                for (i, item) in items.iter().enumerate() {
                    if !self.range_iteration(r, mark, Value::Int(i as i64), item.clone(), boxed)? {
                        break;
                    }
                }
                return Ok(());
            }
            Value::Bytes(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    if !self.range_iteration(r, mark, Value::Int(i as i64), Value::Int(*item as i64), false)? {
                        break;
                    }
                }
                return Ok(());
            }
            Value::Map(m) if !m.is_empty() => {
                for (k, v) in m.entries() {
                    if !self.range_iteration(r, mark, Value::from(k), v, true)? {
                        break;
                    }
                }
                return Ok(());
            }
            Value::Object(o) if o.map_len().is_some() => {
                // A map-kind host object (Helm's `engine.files`): its elements
                // are not interfaces, so they are not boxed.
                let entries = o.map_entries().unwrap_or_default();
                if !entries.is_empty() {
                    for (k, v) in entries {
                        if !self.range_iteration(r, mark, Value::from(k), v, false)? {
                            break;
                        }
                    }
                    return Ok(());
                }
            }
            Value::List(..) | Value::Bytes(_) | Value::Map(_) | Value::Missing | Value::Nil => {}
            other => {
                return Err(self.errorf(format!("range can't iterate over {}", gofmt::to_string(other))));
            }
        }
        if let Some(e) = &r.else_list {
            self.walk_list(dot, e)?;
        }
        Ok(())
    }

    fn walk_template(&mut self, dot: &Value, node: &'t Node, name: &str, pipe: Option<&'t Pipe>) -> R<()> {
        self.at(At::Node(node));
        let Some(tree) = self.set.lookup(name) else {
            return Err(self.errorf(format!("template {} not defined", quote(name))));
        };
        if self.depth >= MAX_EXEC_DEPTH {
            return Err(self.errorf(format!("exceeded maximum template depth ({MAX_EXEC_DEPTH})")));
        }
        let tree: &'t Tree = tree;
        let dot = self.eval_pipeline(dot, pipe)?;
        let vars = std::mem::replace(&mut self.vars, vec![(Arc::from("$"), dot.clone(), false)]);
        let saved_tree = std::mem::replace(&mut self.tree, tree);
        let boxed = std::mem::replace(&mut self.dot_boxed, false);
        self.depth += 1;
        let r = self.walk_list(&dot, &tree.root);
        self.depth -= 1;
        self.dot_boxed = boxed;
        self.tree = saved_tree;
        self.vars = vars;
        r
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: Option<&'t Pipe>) -> R<Value> {
        let Some(pipe) = pipe else {
            return Ok(Value::Missing);
        };
        self.deeper(|s| s.eval_pipeline_inner(dot, pipe))
    }

    fn eval_pipeline_inner(&mut self, dot: &Value, pipe: &'t Pipe) -> R<Value> {
        self.at(At::Pipe(pipe));
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            // A nil interface{} result is "no value" from here on, as Go digs
            // into interface values after each command.
            value = Some(if matches!(v, Value::Nil) { Value::Missing } else { v });
        }
        let value = value.unwrap_or_default();
        for var in &pipe.decl {
            if pipe.is_assign {
                self.set_var(&var.ident[0], value.clone())?;
            } else {
                self.push(&var.ident[0], value.clone());
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], final_: &Option<Value>) -> R<()> {
        if args.len() > 1 || final_.is_some() {
            return Err(self.errorf(format!("can't give argument to non-function {}", args[0])));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'t Command, final_: Option<Value>) -> R<Value> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { ident, .. } => {
                self.at(At::Arg(first));
                let boxed = self.dot_boxed;
                return self.eval_field_chain(dot, dot.clone(), boxed, At::Arg(first), ident, &cmd.args, final_);
            }
            Arg::Chain { node, fields, .. } => return self.eval_chain(dot, first, node, fields, &cmd.args, final_),
            Arg::Identifier { name, .. } => {
                return self.eval_function(dot, first, name, At::Cmd(cmd), &cmd.args, final_);
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &final_)?;
                return self.eval_pipeline(dot, Some(p));
            }
            Arg::Variable(v) => return self.eval_variable(dot, v, &cmd.args, final_),
            _ => {}
        }
        self.at(At::Arg(first));
        self.not_a_function(&cmd.args, &final_)?;
        match first {
            Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => Err(self.errorf("nil is not a command")),
            Arg::Number { .. } => self.ideal_constant(first),
            Arg::String { value, .. } => Ok(Value::String(value.clone())),
            _ => Err(self.errorf(format!("can't evaluate command {}", quote(&first.to_string())))),
        }
    }

    fn ideal_constant(&mut self, arg: &'t Arg) -> R<Value> {
        self.at(At::Arg(arg));
        let Arg::Number { number, .. } = arg else {
            return Ok(Value::Missing);
        };
        let text = &number.text;
        let is_hex_int = (text.starts_with("0x") || text.starts_with("0X")) && !text.contains(['p', 'P']);
        let is_rune = text.starts_with('\'');
        if number.is_complex {
            return Err(self.errorf(format!("can't handle complex constant {text}")));
        }
        if number.is_float && !is_hex_int && !is_rune && text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Value::Float(number.float));
        }
        if number.is_int {
            return Ok(Value::Int(number.int));
        }
        if number.is_uint {
            return Err(self.errorf(format!("{text} overflows int")));
        }
        Ok(Value::Missing)
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        chain: &'t Arg,
        node: &'t Arg,
        fields: &'t [Arc<str>],
        args: &'t [Arg],
        final_: Option<Value>,
    ) -> R<Value> {
        self.at(At::Arg(chain));
        if let Arg::Nil { .. } = node {
            return Err(self.errorf(format!("indirection through explicit nil in {chain}")));
        }
        let pipe = self.eval_arg(dot, None, node)?;
        self.eval_field_chain(dot, pipe, false, At::Arg(chain), fields, args, final_)
    }

    fn eval_variable(&mut self, dot: &Value, v: &'t Variable, args: &'t [Arg], final_: Option<Value>) -> R<Value> {
        self.at(At::Var(v));
        let (value, boxed) = self.var_value(&v.ident[0])?;
        if v.ident.len() == 1 {
            self.not_a_function(args, &final_)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, boxed, At::Var(v), &v.ident[1..], args, final_)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut receiver: Value,
        first_boxed: bool,
        node: At<'t>,
        ident: &'t [Arc<str>],
        args: &'t [Arg],
        final_: Option<Value>,
    ) -> R<Value> {
        let n = ident.len();
        for (i, name) in ident[..n - 1].iter().enumerate() {
            receiver = self.eval_field(dot, name, node, &[], None, receiver, i > 0 || first_boxed)?;
        }
        self.eval_field(dot, &ident[n - 1], node, args, final_, receiver, n > 1 || first_boxed)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        node: At<'t>,
        args: &'t [Arg],
        final_: Option<Value>,
        receiver: Value,
        boxed: bool,
    ) -> R<Value> {
        match &receiver {
            Value::Missing => {
                if self.set.missing_key == MissingKey::Error {
                    return Err(self.errorf(format!("nil data; no entry for key {}", quote(name))));
                }
                return Ok(Value::Missing);
            }
            Value::Nil => return Err(self.errorf(format!("nil pointer evaluating interface {{}}.{name}"))),
            _ => {}
        }
        let has_args = args.len() > 1 || final_.is_some();
        match &receiver {
            Value::Object(o) => {
                if let Some(sig) = o.method(name) {
                    return self.eval_call(dot, Callee::Method(receiver.clone(), sig), node, name, args, final_);
                }
                if let Some(v) = o.field(name) {
                    if has_args {
                        return Err(self.errorf(format!("{name} has arguments but cannot be invoked as function")));
                    }
                    return Ok(v);
                }
                if o.map_len().is_some() {
                    if has_args {
                        return Err(self.errorf(format!("{name} is not a method but has arguments")));
                    }
                    return match o.map_get(name) {
                        Some(v) => Ok(v),
                        None => match self.set.missing_key {
                            MissingKey::Invalid => Ok(Value::Missing),
                            MissingKey::Zero => Ok(o.map_zero()),
                            MissingKey::Error => Err(self.errorf(format!("map has no entry for key {}", quote(name)))),
                        },
                    };
                }
            }
            Value::Map(m) => {
                if has_args {
                    return Err(self.errorf(format!("{name} is not a method but has arguments")));
                }
                return match m.get(name) {
                    Some(v) => Ok(v),
                    None => match self.set.missing_key {
                        MissingKey::Invalid => Ok(Value::Missing),
                        MissingKey::Zero => Ok(Value::Nil),
                        MissingKey::Error => Err(self.errorf(format!("map has no entry for key {}", quote(name)))),
                    },
                };
            }
            _ => {}
        }
        // A receiver taken from a map or slice of interface{} has Go's static
        // type `interface {}`, which Go names here.
        let typ = if boxed { "interface {}" } else { receiver.type_name() };
        Err(self.errorf(format!("can't evaluate field {name} in type {typ}")))
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        ident: &'t Arg,
        name: &str,
        node: At<'t>,
        args: &'t [Arg],
        final_: Option<Value>,
    ) -> R<Value> {
        self.at(At::Arg(ident));
        let set = self.set;
        let Some(f) = set.funcs.get(name) else {
            return Err(self.errorf(format!("{} is not a defined function", quote(name))));
        };
        self.eval_call(dot, Callee::Func(f), node, name, args, final_)
    }

    fn eval_call(
        &mut self,
        dot: &Value,
        callee: Callee<'_>,
        node: At<'t>,
        name: &str,
        args: &'t [Arg],
        final_: Option<Value>,
    ) -> R<Value> {
        let args = if args.is_empty() { args } else { &args[1..] };
        let sig = match &callee {
            Callee::Func(f) => &f.sig,
            Callee::Method(_, sig) => sig,
        };
        let num_in = args.len() + usize::from(final_.is_some());
        let num_fixed = if sig.variadic.is_some() { sig.params.len() } else { args.len() };
        if sig.variadic.is_some() {
            if num_in < num_fixed {
                return Err(self.errorf(format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    sig.params.len(),
                    args.len()
                )));
            }
        } else if num_in != sig.params.len() {
            return Err(self.errorf(format!("wrong number of args for {name}: want {} got {num_in}", sig.params.len())));
        }
        if let Callee::Func(f) = &callee
            && let Some(special) = f.special
        {
            let or = special == Special::Or;
            let mut v = Value::Missing;
            for arg in args {
                v = self.eval_arg(dot, Some(Ty::Reflect), arg)?;
                if v.truthy() == or {
                    return Ok(v);
                }
            }
            if let Some(fin) = final_ {
                v = self.validate_type(fin, Some(Ty::Reflect))?;
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(num_in);
        let mut i = 0;
        while i < num_fixed && i < args.len() {
            argv.push(self.eval_arg(dot, Some(sig.params[i]), &args[i])?);
            i += 1;
        }
        if let Some(tail) = sig.variadic {
            while i < args.len() {
                argv.push(self.eval_arg(dot, Some(tail), &args[i])?);
                i += 1;
            }
        }
        if let Some(fin) = final_ {
            let t = match sig.variadic {
                Some(tail) => {
                    if num_in - 1 < num_fixed {
                        sig.params[num_in - 1]
                    } else {
                        tail
                    }
                }
                None => sig.params[sig.params.len() - 1],
            };
            argv.push(self.validate_type(fin, Some(t))?);
        }
        let result = match callee {
            Callee::Func(f) => {
                let body = f.body.clone();
                body(self, argv)
            }
            Callee::Method(recv, _) => match &recv {
                Value::Object(o) => o.call(name, &argv),
                _ => Err(FuncError::msg("not an object")),
            },
        };
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                self.at(node);
                Err(self.error(format!("error calling {name}: {e}"), Some(e)))
            }
        }
    }

    fn zero(&self, ty: Ty) -> Value {
        match ty {
            Ty::Reflect => Value::Missing,
            Ty::Slice => Value::List(Arc::new(Vec::new()), Elem::Any),
            Ty::Strings => Value::List(Arc::new(Vec::new()), Elem::String),
            Ty::Map(_) => Value::Map(Map::new()),
            _ => Value::Nil,
        }
    }

    fn validate_type(&self, value: Value, ty: Option<Ty>) -> R<Value> {
        let Some(ty) = ty else {
            return Ok(value);
        };
        if let Value::Missing = value {
            if ty.can_be_nil() {
                return Ok(self.zero(ty));
            }
            return Err(self.errorf(format!("invalid value; expected {}", ty.go_name())));
        }
        let ok = match ty {
            Ty::Any | Ty::Reflect => true,
            Ty::String => matches!(value, Value::String(_)),
            Ty::Bool => matches!(value, Value::Bool(_)),
            Ty::Int => matches!(value, Value::Int(_)),
            Ty::Int64 => matches!(value, Value::Int64(_)),
            Ty::Uint32 => false,
            Ty::Float64 => matches!(value, Value::Float(_)),
            Ty::Slice => matches!(value, Value::List(_, Elem::Any)),
            Ty::Strings => matches!(value, Value::List(_, Elem::String)),
            Ty::Map(_) => matches!(value, Value::Map(_)),
            Ty::Object(name) => matches!(&value, Value::Object(o) if o.type_name() == name),
        };
        if ok {
            return Ok(value);
        }
        let got = if matches!(value, Value::Nil) { "interface {}" } else { value.type_name() };
        Err(self.errorf(format!("wrong type for value; expected {}; got {got}", ty.go_name())))
    }

    fn eval_arg(&mut self, dot: &Value, ty: Option<Ty>, n: &'t Arg) -> R<Value> {
        self.at(At::Arg(n));
        match n {
            Arg::Dot { .. } => return self.validate_type(dot.clone(), ty),
            Arg::Nil { .. } => {
                return match ty {
                    Some(t) if t.can_be_nil() => Ok(self.zero(t)),
                    Some(t) => Err(self.errorf(format!("cannot assign nil to {}", t.go_name()))),
                    None => Ok(Value::Missing),
                };
            }
            Arg::Field { ident, .. } => {
                let boxed = self.dot_boxed;
                let v =
                    self.eval_field_chain(dot, dot.clone(), boxed, At::Arg(n), ident, std::slice::from_ref(n), None)?;
                return self.validate_type(v, ty);
            }
            Arg::Variable(v) => {
                let v = self.eval_variable(dot, v, &[], None)?;
                return self.validate_type(v, ty);
            }
            Arg::Pipe(p) => {
                let v = self.eval_pipeline(dot, Some(p))?;
                return self.validate_type(v, ty);
            }
            Arg::Identifier { name, .. } => {
                let v = self.eval_function(dot, n, name, At::Arg(n), &[], None)?;
                return self.validate_type(v, ty);
            }
            Arg::Chain { node, fields, .. } => {
                let v = self.eval_chain(dot, n, node, fields, &[], None)?;
                return self.validate_type(v, ty);
            }
            _ => {}
        }
        let Some(ty) = ty else {
            return self.eval_empty_interface(dot, n);
        };
        match ty {
            Ty::Bool => match n {
                Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
                _ => Err(self.errorf(format!("expected bool; found {n}"))),
            },
            Ty::Float64 => match n {
                Arg::Number { number, .. } if number.is_float => Ok(Value::Float(number.float)),
                _ => Err(self.errorf(format!("expected float; found {n}"))),
            },
            Ty::Int | Ty::Int64 => match n {
                Arg::Number { number, .. } if number.is_int => {
                    Ok(if ty == Ty::Int { Value::Int(number.int) } else { Value::Int64(number.int) })
                }
                _ => Err(self.errorf(format!("expected integer; found {n}"))),
            },
            Ty::Uint32 => match n {
                Arg::Number { number, .. } if number.is_uint => Ok(Value::Int64(number.uint as u32 as i64)),
                _ => Err(self.errorf(format!("expected unsigned integer; found {n}"))),
            },
            Ty::String => match n {
                Arg::String { value, .. } => Ok(Value::String(value.clone())),
                _ => Err(self.errorf(format!("expected string; found {n}"))),
            },
            Ty::Any | Ty::Reflect => self.eval_empty_interface(dot, n),
            _ => Err(self.errorf(format!("can't handle {n} for arg of type {}", ty.go_name()))),
        }
    }

    fn eval_empty_interface(&mut self, dot: &Value, n: &'t Arg) -> R<Value> {
        self.at(At::Arg(n));
        match n {
            Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Number { .. } => self.ideal_constant(n),
            Arg::String { value, .. } => Ok(Value::String(value.clone())),
            _ => Err(self.errorf(format!("can't handle assignment of {n} to empty interface argument"))),
        }
    }
}

fn node_pos(n: &Node) -> usize {
    match n {
        Node::Text { pos, .. }
        | Node::Comment { pos }
        | Node::Action { pos, .. }
        | Node::Template { pos, .. }
        | Node::Break { pos }
        | Node::Continue { pos } => *pos,
        Node::If(b) | Node::Range(b) | Node::With(b) => b.pos,
    }
}

impl Exec for State<'_> {
    fn execute_template(&mut self, name: &str, data: Value) -> Result<String, Error> {
        let Some(tree) = self.set.lookup(name) else {
            return Err(Error::NoTemplate { name: name.to_string(), set: self.set.name.to_string() });
        };
        if self.depth >= MAX_EXEC_DEPTH {
            return Err(Error::Exec(Box::new(ExecError {
                template: name.to_string(),
                location: None,
                context: String::new(),
                message: format!("exceeded maximum template depth ({MAX_EXEC_DEPTH})"),
                cause: None,
            })));
        }
        run(self.set, tree, data, self.depth + 1, self.nest)
    }

    fn execute_text(&mut self, name: &str, text: &str, data: Value) -> Result<String, Error> {
        let mut set = self.set.clone();
        let tree = set.parse_tree(name, text)?;
        run(&set, &tree, data, self.depth + 1, self.nest)
    }

    fn has_template(&self, name: &str) -> bool {
        self.set.contains(name)
    }

    fn template_name(&self) -> &str {
        &self.tree.name
    }

    fn depth(&self) -> usize {
        self.depth
    }
}
