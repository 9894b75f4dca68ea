//! Go's text/template parser: builds the trees of one text (the top-level
//! template and every `define`/`block` in it) with Go's checks and messages.

use std::collections::HashMap;
use std::sync::Arc;

use crate::ast::{Arg, Branch, Command, Node, Number, Pipe, Tree, Variable};
use crate::error::Error;
use crate::lexer::{Kind, Token, lex};
use crate::strconv::{Unquoted, parse_go_float, parse_go_int, parse_go_uint, quote, unquote, unquote_char};

/// Go's `maxStackDepth` for parenthesised pipelines.
const MAX_STACK_DEPTH: usize = 10000;

/// Parses `text` under `name`; returns the trees it defines (the top-level one
/// under `name` first), or Go's parse error.
pub fn parse(name: &str, text: &str, has_function: &dyn Fn(&str) -> bool) -> Result<Vec<Tree>, Error> {
    let tokens = lex(text);
    let text: Arc<str> = Arc::from(text);
    let name: Arc<str> = Arc::from(name);
    let mut p = Parser {
        tokens,
        idx: 0,
        furthest: 0,
        parse_name: name.clone(),
        text: text.clone(),
        vars: vec!["$".into()],
        range_depth: 0,
        action_line: 0,
        stack_depth: 0,
        has_function,
        trees: Vec::new(),
        index: HashMap::new(),
    };
    let root = p.parse_top()?;
    p.add(Tree { name, parse_name: p.parse_name.clone(), text, root })?;
    // Go's top-level tree is added last; report it first for callers.
    let mut trees = p.trees;
    if let Some(last) = trees.pop() {
        trees.insert(0, last);
    }
    Ok(trees)
}

/// What `textOrAction` yields: a node, or the `{{end}}`/`{{else}}` closing a list.
enum Item {
    Node(Node),
    End,
    Else,
}

impl Item {
    fn describe(&self) -> String {
        match self {
            Item::Node(n) => n.to_string(),
            Item::End => "{{end}}".into(),
            Item::Else => "{{else}}".into(),
        }
    }
}

type PResult<T> = Result<T, Error>;

struct Parser<'a, 'f> {
    tokens: Vec<Token<'a>>,
    idx: usize,
    furthest: usize,
    parse_name: Arc<str>,
    text: Arc<str>,
    vars: Vec<String>,
    range_depth: usize,
    action_line: usize,
    stack_depth: usize,
    has_function: &'f dyn Fn(&str) -> bool,
    trees: Vec<Tree>,
    index: HashMap<Arc<str>, usize>,
}

impl<'a> Parser<'a, '_> {
    fn errorf(&self, message: impl Into<String>) -> Error {
        let line = self.tokens.get(self.furthest).map(|t| t.line).unwrap_or(1);
        Error::Parse { name: self.parse_name.to_string(), line, message: message.into() }
    }

    fn next(&mut self) -> Token<'a> {
        let last = self.tokens.len() - 1;
        let i = self.idx.min(last);
        self.idx = i + 1;
        self.furthest = self.furthest.max(i);
        self.tokens[i].clone()
    }

    fn peek(&mut self) -> Token<'a> {
        let t = self.next();
        self.backup_to(&t);
        t
    }

    /// Moves back so that `t` (returned recently) is the next token.
    fn backup_to(&mut self, t: &Token<'a>) {
        let lo = self.idx.saturating_sub(8);
        let hi = self.idx.min(self.tokens.len());
        if let Some(i) = (lo..hi).rev().find(|&i| self.tokens[i].pos == t.pos && self.tokens[i].kind == t.kind) {
            self.idx = i;
        }
    }

    fn next_non_space(&mut self) -> Token<'a> {
        loop {
            let t = self.next();
            if t.kind != Kind::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token<'a> {
        let t = self.next_non_space();
        self.backup_to(&t);
        t
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Token<'a>> {
        let t = self.next_non_space();
        if t.kind != kind {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn unexpected(&self, token: &Token<'a>, context: &str) -> Error {
        if let Kind::Error(msg) = &token.kind {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(" in action started at {}:{}", self.parse_name, self.action_line);
                if msg.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format!("{msg}{extra}"));
        }
        self.errorf(format!("unexpected {token} in {context}"))
    }

    fn add(&mut self, tree: Tree) -> PResult<()> {
        if let Some(&i) = self.index.get(&tree.name) {
            if self.trees[i].is_empty() {
                self.trees[i] = tree;
                return Ok(());
            }
            if !tree.is_empty() {
                return Err(self.errorf(format!("template: multiple definition of template {}", quote(&tree.name))));
            }
            return Ok(());
        }
        self.index.insert(tree.name.clone(), self.trees.len());
        self.trees.push(tree);
        Ok(())
    }

    fn parse_top(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let delim = self.next();
                if self.next_non_space().kind == Kind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.backup_to(&delim);
            }
            match self.text_or_action()? {
                Item::Node(n) => root.push(n),
                other => return Err(self.errorf(format!("unexpected {}", other.describe()))),
            }
        }
        Ok(root)
    }

    /// Parses a nested tree (define or block body) with fresh variables.
    fn with_fresh_scope<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        let vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let range_depth = std::mem::replace(&mut self.range_depth, 0);
        let r = f(self);
        self.vars = vars;
        self.range_depth = range_depth;
        r
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let t = self.next_non_space();
        if t.kind != Kind::String && t.kind != Kind::RawString {
            return Err(self.unexpected(&t, CONTEXT));
        }
        let name = unquote(t.val).map_err(|e| self.errorf(e))?;
        self.expect(Kind::RightDelim, CONTEXT)?;
        let (root, end) = self.with_fresh_scope(|p| p.item_list())?;
        if !matches!(end, Item::End) {
            return Err(self.errorf(format!("unexpected {} in {CONTEXT}", end.describe())));
        }
        let tree = Tree { name: Arc::from(name), parse_name: self.parse_name.clone(), text: self.text.clone(), root };
        self.add(tree)
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Item)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                end => return Ok((list, end)),
            }
        }
        Err(self.errorf("unexpected EOF"))
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Text => Ok(Item::Node(Node::Text { pos: t.pos, text: Arc::from(t.val) })),
            Kind::LeftDelim => {
                self.action_line = t.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            Kind::Comment => Ok(Item::Node(Node::Comment { pos: t.pos })),
            _ => Err(self.unexpected(&t, "input")),
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Block => return self.block_control(),
            Kind::Break | Kind::Continue => return self.break_control(&t),
            Kind::Else => return self.else_control(),
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Item::End);
            }
            Kind::If => return Ok(Item::Node(Node::If(self.parse_control("if")?))),
            Kind::Range => return Ok(Item::Node(Node::Range(self.parse_control("range")?))),
            Kind::Template => return self.template_control(),
            Kind::With => return Ok(Item::Node(Node::With(self.parse_control("with")?))),
            _ => {}
        }
        self.backup_to(&t);
        let t = self.peek();
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Item::Node(Node::Action { pos: t.pos, pipe }))
    }

    fn break_control(&mut self, kw: &Token<'a>) -> PResult<Item> {
        let name = if kw.kind == Kind::Break { "{{break}}" } else { "{{continue}}" };
        let t = self.next_non_space();
        if t.kind != Kind::RightDelim {
            return Err(self.unexpected(&t, name));
        }
        if self.range_depth == 0 {
            return Err(self.errorf(format!("{name} outside {{{{range}}}}")));
        }
        Ok(Item::Node(if kw.kind == Kind::Break {
            Node::Break { pos: kw.pos }
        } else {
            Node::Continue { pos: kw.pos }
        }))
    }

    fn else_control(&mut self) -> PResult<Item> {
        let peek = self.peek_non_space();
        if peek.kind == Kind::If || peek.kind == Kind::With {
            return Ok(Item::Else);
        }
        self.expect(Kind::RightDelim, "else")?;
        Ok(Item::Else)
    }

    fn parse_control(&mut self, context: &str) -> PResult<Branch> {
        let mark = self.vars.len();
        let r = self.parse_control_inner(context);
        self.vars.truncate(mark);
        r
    }

    fn parse_control_inner(&mut self, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, next) = r?;
        let mut else_list = None;
        match next {
            Item::End => {}
            Item::Else => {
                if context == "if" && self.peek().kind == Kind::If {
                    self.next();
                    else_list = Some(vec![Node::If(self.parse_control("if")?)]);
                } else if context == "with" && self.peek().kind == Kind::With {
                    self.next();
                    else_list = Some(vec![Node::With(self.parse_control("with")?)]);
                } else {
                    let (l, next) = self.item_list()?;
                    if !matches!(next, Item::End) {
                        return Err(self.errorf(format!("expected end; found {}", next.describe())));
                    }
                    else_list = Some(l);
                }
            }
            Item::Node(_) => unreachable_node(),
        }
        Ok(Branch { pos: pipe.pos, pipe, list, else_list })
    }

    fn template_name(&mut self, t: &Token<'a>, context: &str) -> PResult<String> {
        match t.kind {
            Kind::String | Kind::RawString => unquote(t.val).map_err(|e| self.errorf(e)),
            _ => Err(self.unexpected(t, context)),
        }
    }

    fn block_control(&mut self) -> PResult<Item> {
        const CONTEXT: &str = "block clause";
        let t = self.next_non_space();
        let name = self.template_name(&t, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Kind::RightDelim)?;
        let (root, end) = self.with_fresh_scope(|p| p.item_list())?;
        if !matches!(end, Item::End) {
            return Err(self.errorf(format!("unexpected {} in {CONTEXT}", end.describe())));
        }
        let name: Arc<str> = Arc::from(name);
        self.add(Tree { name: name.clone(), parse_name: self.parse_name.clone(), text: self.text.clone(), root })?;
        Ok(Item::Node(Node::Template { pos: t.pos, name, pipe: Some(pipe) }))
    }

    fn template_control(&mut self) -> PResult<Item> {
        const CONTEXT: &str = "template clause";
        let t = self.next_non_space();
        let name = self.template_name(&t, CONTEXT)?;
        let mut pipe = None;
        let n = self.next_non_space();
        if n.kind != Kind::RightDelim {
            self.backup_to(&n);
            pipe = Some(self.pipeline(CONTEXT, Kind::RightDelim)?);
        }
        Ok(Item::Node(Node::Template { pos: t.pos, name: Arc::from(name), pipe }))
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe { pos: start.pos, is_assign: false, decl: Vec::new(), cmds: Vec::new() };
        'decls: loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                break;
            }
            self.next();
            let after = self.peek();
            let next = self.peek_non_space();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(new_variable(v.pos, v.val));
                    self.vars.push(v.val.to_string());
                }
                Kind::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(new_variable(v.pos, v.val));
                    self.vars.push(v.val.to_string());
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => continue 'decls,
                            _ => return Err(self.errorf("range can only initialize variables")),
                        }
                    }
                    return Err(self.errorf(format!("too many declarations in {context}")));
                }
                _ if after.kind == Kind::Space => {
                    self.backup_to(&v);
                }
                _ => {
                    self.backup_to(&v);
                }
            }
            break;
        }
        loop {
            let t = self.next_non_space();
            if t.kind == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match t.kind {
                Kind::Bool
                | Kind::CharConstant
                | Kind::Complex
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup_to(&t);
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first(),
                Some(Arg::Bool { .. } | Arg::Dot { .. } | Arg::Nil { .. } | Arg::Number { .. } | Arg::String { .. })
            ) {
                return Err(self.errorf(format!("non executable command in pipeline stage {}", i + 1)));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let start = self.peek_non_space();
        let mut cmd = Command { pos: start.pos, args: Vec::new() };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let t = self.next();
            match t.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup_to(&t),
                Kind::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf("empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut fields: Vec<Arc<str>> = Vec::new();
        while self.peek().kind == Kind::Field {
            let t = self.next();
            fields.push(Arc::from(&t.val[1..]));
        }
        Ok(Some(match node {
            Arg::Field { mut ident, .. } => {
                ident.extend(fields);
                Arg::Field { pos: chain_pos, ident }
            }
            Arg::Variable(mut v) => {
                v.ident.extend(fields);
                v.pos = chain_pos;
                Arg::Variable(v)
            }
            Arg::Bool { .. } | Arg::String { .. } | Arg::Number { .. } | Arg::Nil { .. } | Arg::Dot { .. } => {
                return Err(self.errorf(format!("unexpected . after term {}", quote(&node.to_string()))));
            }
            other => Arg::Chain { pos: chain_pos, node: Box::new(other), fields },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        Ok(Some(match t.kind {
            Kind::Identifier => {
                if !(self.has_function)(t.val) {
                    return Err(self.errorf(format!("function {} not defined", quote(t.val))));
                }
                Arg::Identifier { pos: t.pos, name: Arc::from(t.val) }
            }
            Kind::Dot => Arg::Dot { pos: t.pos },
            Kind::Nil => Arg::Nil { pos: t.pos },
            Kind::Variable => {
                let v = new_variable(t.pos, t.val);
                if !self.vars.iter().any(|name| **name == *v.ident[0]) {
                    return Err(self.errorf(format!("undefined variable {}", quote(&v.ident[0]))));
                }
                Arg::Variable(v)
            }
            Kind::Field => Arg::Field { pos: t.pos, ident: t.val[1..].split('.').map(Arc::from).collect() },
            Kind::Bool => Arg::Bool { pos: t.pos, value: t.val == "true" },
            Kind::CharConstant | Kind::Complex | Kind::Number => {
                let number = new_number(t.val, &t.kind).map_err(|e| self.errorf(e))?;
                Arg::Number { pos: t.pos, number }
            }
            Kind::LeftParen => {
                if self.stack_depth >= MAX_STACK_DEPTH {
                    return Err(self.errorf("max expression depth exceeded"));
                }
                self.stack_depth += 1;
                let r = self.pipeline("parenthesized pipeline", Kind::RightParen);
                self.stack_depth -= 1;
                Arg::Pipe(Box::new(r?))
            }
            Kind::String | Kind::RawString => {
                let s = unquote(t.val).map_err(|e| self.errorf(e))?;
                Arg::String { pos: t.pos, quoted: Arc::from(t.val), value: Arc::from(s) }
            }
            _ => {
                self.backup_to(&t);
                return Ok(None);
            }
        }))
    }
}

fn unreachable_node() {}

fn new_variable(pos: usize, text: &str) -> Variable {
    Variable { pos, ident: text.split('.').map(Arc::from).collect() }
}

/// Go's `newNumber`: every interpretation of a number constant.
fn new_number(text: &str, kind: &Kind) -> Result<Number, String> {
    let mut n = Number {
        text: Arc::from(text),
        is_int: false,
        is_uint: false,
        is_float: false,
        is_complex: false,
        int: 0,
        uint: 0,
        float: 0.0,
    };
    match kind {
        Kind::CharConstant => {
            let (c, tail) = unquote_char(&text[1..], '\'').map_err(|e| e.to_string())?;
            if tail != "'" {
                return Err(format!("malformed character constant: {text}"));
            }
            let v = match c {
                Unquoted::Char(c) => c as u32,
                Unquoted::Byte(b) => b as u32,
            };
            n.int = v as i64;
            n.is_int = true;
            n.uint = v as u64;
            n.is_uint = true;
            n.float = v as f64;
            n.is_float = true;
            return Ok(n);
        }
        Kind::Complex => {
            n.is_complex = true;
            return Ok(n);
        }
        _ => {}
    }
    if let Some(imag) = text.strip_suffix('i')
        && parse_go_float(imag).is_some()
    {
        n.is_complex = true;
        return Ok(n);
    }
    let u = parse_go_uint(text);
    if let Some(u) = u {
        n.is_uint = true;
        n.uint = u;
    }
    if let Some(i) = parse_go_int(text) {
        n.is_int = true;
        n.int = i;
        if i == 0 {
            n.is_uint = true;
            n.uint = u.unwrap_or(0);
        }
    }
    if n.is_int {
        n.is_float = true;
        n.float = n.int as f64;
    } else if n.is_uint {
        n.is_float = true;
        n.float = n.uint as f64;
    } else if let Some(f) = parse_go_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", quote(text)));
        }
        n.is_float = true;
        n.float = f;
        if !n.is_int && (f as i64) as f64 == f && f.fract() == 0.0 && f.abs() < 9.2e18 {
            n.is_int = true;
            n.int = f as i64;
        }
        if !n.is_uint && f >= 0.0 && (f as u64) as f64 == f && f < 1.8e19 {
            n.is_uint = true;
            n.uint = f as u64;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!("illegal number syntax: {}", quote(text)));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Vec<Tree>, Error> {
        parse("t", text, &|name| matches!(name, "printf" | "len" | "eq"))
    }

    #[test]
    fn defines_and_errors() {
        let trees = p(r#"a{{define "x"}}X{{end}}b"#).unwrap();
        assert_eq!(trees.len(), 2);
        assert_eq!(&*trees[0].name, "t");
        assert_eq!(&*trees[1].name, "x");
        assert_eq!(p("{{nope}}").unwrap_err().to_string(), r#"template: t:1: function "nope" not defined"#);
        assert_eq!(p("{{if .}}").unwrap_err().to_string(), "template: t:1: unexpected EOF");
        assert_eq!(p("\n{{end}}").unwrap_err().to_string(), "template: t:2: unexpected {{end}}");
        assert_eq!(p("{{$x}}").unwrap_err().to_string(), r#"template: t:1: undefined variable "$x""#);
        assert_eq!(p("{{break}}").unwrap_err().to_string(), "template: t:1: {{break}} outside {{range}}");
    }

    #[test]
    fn numbers() {
        let n = new_number("0x1F", &Kind::Number).unwrap();
        assert!(n.is_int && n.int == 31);
        let n = new_number("1.0", &Kind::Number).unwrap();
        assert!(n.is_int && n.is_float);
        let n = new_number("1e3", &Kind::Number).unwrap();
        assert_eq!(n.int, 1000);
        assert!(new_number("99999999999999999999", &Kind::Number).is_err());
    }
}
