//! The grammar of Flux's envsubst (a fork of drone/envsubst): text with `${...}` expressions.
//!
//! Only the braced form is an expression: `$var` is text. `$$` is an escaped `$` anywhere in the
//! text (so `$${var}` is the literal `${var}`); inside the pattern and replacement of
//! `${var/pattern/replacement}`, `\/` and `\\` escape `/` and `\` as well.
//!
//! The scanner and parser follow the upstream ones token for token, so that the same inputs are
//! accepted, rejected, and split the same way.

use crate::{Error, ParseErrorKind};

/// Expressions nested deeper than this are refused, so that parsing and evaluating stay within
/// the stack whatever the input.
pub(crate) const MAX_DEPTH: usize = 64;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// Literal text.
    Text(String),
    /// A `${...}` expression.
    Func(Func),
}

/// A `${...}` expression: the operator, the variable and the operator's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Func {
    /// The operator as written: empty for `${var}`, `:-`, `=`, `^^`, `//`, `#`, ...
    pub(crate) name: String,
    /// The variable name.
    pub(crate) param: String,
    /// The arguments: defaults, patterns, replacements, offsets. Each may hold expressions.
    pub(crate) args: Vec<Node>,
}

/// Which characters a token accepts, given the byte length of the token with the character.
#[derive(Clone, Copy)]
enum Accept {
    Rune,
    Ident,
    Colon,
    OneHash,
    NotClosing,
    HashFunc,
    PercentFunc,
    DefaultFunc,
    ReplaceFunc,
    OneEqual,
    OneColon,
    RejectColonClose,
    Slash,
    NotSlash,
    CasingFunc,
}

impl Accept {
    fn accepts(self, r: char, i: usize) -> bool {
        match self {
            Accept::Rune => true,
            Accept::Ident => r.is_alphabetic() || r.is_numeric() || r == '_',
            Accept::Colon => r == ':',
            Accept::OneHash => r == '#' && i == 1,
            Accept::NotClosing => r != '}',
            Accept::HashFunc => r == '#' && i < 3,
            Accept::PercentFunc => r == '%' && i < 3,
            Accept::DefaultFunc => (i == 1 && r == ':') || (i == 2 && matches!(r, '=' | '-' | '?' | '+')),
            Accept::ReplaceFunc => (i == 1 && r == '/') || (i == 2 && matches!(r, '/' | '#' | '%')),
            Accept::OneEqual => i == 1 && r == '=',
            Accept::OneColon => i == 1 && r == ':',
            Accept::RejectColonClose => r != ':' && r != '}',
            Accept::Slash => r == '/',
            Accept::NotSlash => r != '/',
            Accept::CasingFunc => (r == ',' || r == '^') && i < 3,
        }
    }
}

/// Which tokens the scanner recognizes.
#[derive(Clone, Copy, Default)]
struct Mode {
    ident: bool,
    lbrack: bool,
    rbrack: bool,
    escape: bool,
}

const IDENT: Mode = Mode { ident: true, lbrack: false, rbrack: false, escape: false };
const RBRACK: Mode = Mode { ident: false, lbrack: false, rbrack: true, escape: false };

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Illegal,
    Eof,
    Ident(String),
    Lbrack,
    Rbrack,
}

struct Scanner<'a> {
    buf: &'a str,
    pos: usize,
    mode: Mode,
    accept: Accept,
    /// Whether `\` escapes `/` and `\` (inside expressions); `$$` is an escape everywhere.
    escape_backslash: bool,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.buf[self.pos..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut chars = self.buf[self.pos..].chars();
        chars.next();
        chars.next()
    }

    fn read(&mut self) -> Option<char> {
        let r = self.peek()?;
        self.pos += r.len_utf8();
        Some(r)
    }

    /// Whether `r`, just read, opens an expression: `$` followed by `{`.
    fn at_lbrack(&self, r: char) -> bool {
        self.mode.lbrack && r == '$' && self.peek() == Some('{')
    }

    /// Whether `r`, just read, escapes the next character.
    fn at_escape(&self, r: char) -> bool {
        if !self.mode.escape {
            return false;
        }
        match r {
            '$' => self.peek() == Some('$'),
            '\\' => self.escape_backslash && matches!(self.peek(), Some('/' | '\\')),
            _ => false,
        }
    }

    fn scan(&mut self) -> Token {
        let Some(r) = self.read() else {
            return Token::Eof;
        };
        if self.at_lbrack(r) {
            self.pos += 1;
            return Token::Lbrack;
        }
        if self.mode.rbrack && r == '}' {
            return Token::Rbrack;
        }
        if self.mode.ident
            && let Some(text) = self.scan_ident(r)
        {
            return Token::Ident(text);
        }
        Token::Illegal
    }

    /// The text token starting with `r`: accepted characters up to the next expression or the
    /// first refused one. Escaped characters are taken as they are, without asking `accept`.
    fn scan_ident(&mut self, r: char) -> Option<String> {
        let mut text = String::new();
        if self.at_escape(r) {
            text.extend(self.read());
        } else if self.accept.accepts(r, r.len_utf8()) {
            text.push(r);
        } else {
            return None;
        }
        loop {
            let start = self.pos;
            let Some(r) = self.read() else { break };
            if self.at_lbrack(r) {
                self.pos = start;
                break;
            }
            if self.at_escape(r) {
                text.extend(self.read());
                continue;
            }
            if !self.accept.accepts(r, text.len() + r.len_utf8()) {
                self.pos = start;
                break;
            }
            text.push(r);
        }
        Some(text)
    }
}

/// Parses `input` into a list of text and expression nodes.
pub(crate) fn parse(input: &str) -> Result<Vec<Node>> {
    let mut parser = Parser {
        input,
        s: Scanner { buf: input, pos: 0, mode: Mode::default(), accept: Accept::Rune, escape_backslash: false },
        open: Vec::new(),
    };
    parser.parse_any()
}

struct Parser<'a> {
    input: &'a str,
    s: Scanner<'a>,
    /// Byte offsets of the `${` of the expressions being parsed, innermost last.
    open: Vec<usize>,
}

type Result<T> = std::result::Result<T, Error>;

impl Parser<'_> {
    fn error(&self, kind: ParseErrorKind) -> Error {
        let offset = self.open.last().copied().unwrap_or(self.s.pos);
        Error::parse(kind, self.input, offset)
    }

    fn parse_any(&mut self) -> Result<Vec<Node>> {
        let mut nodes = Vec::new();
        loop {
            self.s.accept = Accept::Rune;
            self.s.mode = Mode { ident: true, lbrack: true, rbrack: false, escape: true };
            self.s.escape_backslash = false;
            match self.s.scan() {
                Token::Ident(text) => nodes.push(Node::Text(text)),
                Token::Eof => return Ok(nodes),
                Token::Lbrack => nodes.push(self.parse_func()?),
                Token::Rbrack | Token::Illegal => return Err(self.error(ParseErrorKind::BadSubstitution)),
            }
        }
    }

    /// Parses an expression whose `${` was just read.
    fn parse_func(&mut self) -> Result<Node> {
        self.open.push(self.s.pos - 2);
        if self.open.len() > MAX_DEPTH {
            return Err(self.error(ParseErrorKind::TooDeep));
        }
        let node = self.parse_func_body()?;
        self.open.pop();
        Ok(Node::Func(node))
    }

    fn parse_func_body(&mut self) -> Result<Func> {
        self.s.escape_backslash = true;
        if self.s.peek() == Some('#') {
            return self.parse_len();
        }
        self.s.accept = Accept::Ident;
        self.s.mode = IDENT;
        let Token::Ident(name) = self.s.scan() else {
            return Err(self.error(ParseErrorKind::VariableName));
        };
        match self.s.peek() {
            Some(':') => return self.parse_default_or_substr(name),
            Some('=') => return self.parse_default(name),
            Some(',' | '^') => return self.parse_casing(name),
            Some('/') => return self.parse_replace(name),
            Some('#') => return self.parse_remove(name, Accept::HashFunc),
            Some('%') => return self.parse_remove(name, Accept::PercentFunc),
            _ => {}
        }
        self.s.mode = RBRACK;
        match self.s.scan() {
            Token::Rbrack => Ok(Func { name: String::new(), param: name, args: Vec::new() }),
            _ => Err(self.error(ParseErrorKind::MissingClosingBrace)),
        }
    }

    /// One argument: an expression or a run of accepted text.
    fn parse_param(&mut self, accept: Accept, mode: Mode) -> Result<Node> {
        self.s.accept = accept;
        self.s.mode = Mode { lbrack: true, ..mode };
        match self.s.scan() {
            Token::Lbrack => self.parse_func(),
            Token::Ident(text) => Ok(Node::Text(text)),
            _ => Err(self.error(ParseErrorKind::FuncSubstitution)),
        }
    }

    /// The operator token: the accepted characters at the current position.
    fn operator(&mut self, accept: Accept, error: ParseErrorKind) -> Result<String> {
        self.s.accept = accept;
        self.s.mode = IDENT;
        match self.s.scan() {
            Token::Ident(op) => Ok(op),
            _ => Err(self.error(error)),
        }
    }

    fn consume_rbrack(&mut self) -> Result<()> {
        self.s.mode = RBRACK;
        match self.s.scan() {
            Token::Rbrack => Ok(()),
            _ => Err(self.error(ParseErrorKind::BadSubstitution)),
        }
    }

    /// `${var:offset}`, `${var:offset:length}`, or a default (`:-`, `:=`, `:?`, `:+`).
    fn parse_default_or_substr(&mut self, name: String) -> Result<Func> {
        if matches!(self.s.peek2(), Some('=' | '-' | '?' | '+')) {
            return self.parse_default(name);
        }
        let op = self.operator(Accept::OneColon, ParseErrorKind::BadSubstitution)?;
        let mut func = Func { name: op, param: name, args: Vec::new() };
        func.args.push(self.parse_param(Accept::RejectColonClose, IDENT)?);
        self.s.accept = Accept::Colon;
        self.s.mode = Mode { ident: true, rbrack: true, ..Mode::default() };
        match self.s.scan() {
            Token::Rbrack => return Ok(func),
            Token::Ident(_) => {}
            _ => return Err(self.error(ParseErrorKind::BadSubstitution)),
        }
        func.args.push(self.parse_param(Accept::NotClosing, IDENT)?);
        self.consume_rbrack()?;
        Ok(func)
    }

    /// `${var#pattern}`, `${var##pattern}`, `${var%pattern}`, `${var%%pattern}`.
    fn parse_remove(&mut self, name: String, accept: Accept) -> Result<Func> {
        let op = self.operator(accept, ParseErrorKind::BadSubstitution)?;
        let arg = self.parse_param(Accept::NotClosing, IDENT)?;
        self.consume_rbrack()?;
        Ok(Func { name: op, param: name, args: vec![arg] })
    }

    /// `${var/pattern/replacement}`, `${var//...}`, `${var/#...}`, `${var/%...}`.
    fn parse_replace(&mut self, name: String) -> Result<Func> {
        let op = self.operator(Accept::ReplaceFunc, ParseErrorKind::BadSubstitution)?;
        let mut func = Func { name: op, param: name, args: Vec::new() };
        let escaping = Mode { escape: true, ..IDENT };
        if self.s.peek() == Some('/') {
            // An empty pattern, as in `${var/#/prefix}`.
            func.args.push(Node::Text(String::new()));
        } else {
            func.args.push(self.parse_param(Accept::NotSlash, escaping)?);
        }
        self.operator(Accept::Slash, ParseErrorKind::BadSubstitution)?;
        if self.s.peek() == Some('}') {
            self.consume_rbrack()?;
            return Ok(func);
        }
        func.args.push(self.parse_param(Accept::NotClosing, escaping)?);
        self.consume_rbrack()?;
        Ok(func)
    }

    /// `${var=default}`, `${var:=default}`, `${var:-default}`, `${var:?default}`, `${var:+default}`:
    /// the default is any mix of text and expressions.
    fn parse_default(&mut self, name: String) -> Result<Func> {
        let accept = if self.s.peek() == Some('=') { Accept::OneEqual } else { Accept::DefaultFunc };
        let op = self.operator(accept, ParseErrorKind::DefaultFunction)?;
        let mut func = Func { name: op, param: name, args: Vec::new() };
        loop {
            if self.s.peek() == Some('}') {
                self.consume_rbrack()?;
                return Ok(func);
            }
            func.args.push(self.parse_param(Accept::NotClosing, IDENT)?);
        }
    }

    /// `${var^}`, `${var^^}`, `${var,}`, `${var,,}`.
    fn parse_casing(&mut self, name: String) -> Result<Func> {
        let op = self.operator(Accept::CasingFunc, ParseErrorKind::BadSubstitution)?;
        self.consume_rbrack()?;
        Ok(Func { name: op, param: name, args: Vec::new() })
    }

    /// `${#var}`.
    fn parse_len(&mut self) -> Result<Func> {
        let op = self.operator(Accept::OneHash, ParseErrorKind::BadSubstitution)?;
        let param = self.operator(Accept::Ident, ParseErrorKind::BadSubstitution)?;
        self.consume_rbrack()?;
        Ok(Func { name: op, param, args: Vec::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Node {
        Node::Text(s.into())
    }

    fn func(name: &str, param: &str, args: Vec<Node>) -> Node {
        Node::Func(Func { name: name.into(), param: param.into(), args })
    }

    #[test]
    fn parses_the_upstream_shapes() {
        let cases: Vec<(&str, Vec<Node>)> = vec![
            ("", vec![]),
            ("text", vec![text("text")]),
            ("$var and $", vec![text("$var and $")]),
            ("${var}", vec![func("", "var", vec![])]),
            ("a ${b} c", vec![text("a "), func("", "b", vec![]), text(" c")]),
            ("${#var}", vec![func("#", "var", vec![])]),
            (
                "${var^}${var^^}${var,}${var,,}",
                vec![
                    func("^", "var", vec![]),
                    func("^^", "var", vec![]),
                    func(",", "var", vec![]),
                    func(",,", "var", vec![]),
                ],
            ),
            ("${var:1}", vec![func(":", "var", vec![text("1")])]),
            ("${var:1:2}", vec![func(":", "var", vec![text("1"), text("2")])]),
            ("${var:-a${b}c}", vec![func(":-", "var", vec![text("a"), func("", "b", vec![]), text("c")])]),
            ("${var=x}", vec![func("=", "var", vec![text("x")])]),
            ("${var:=}", vec![func(":=", "var", vec![])]),
            ("${var#*.}", vec![func("#", "var", vec![text("*.")])]),
            ("${var%%.*}", vec![func("%%", "var", vec![text(".*")])]),
            ("${var/a/b}", vec![func("/", "var", vec![text("a"), text("b")])]),
            ("${var//a/}", vec![func("//", "var", vec![text("a")])]),
            ("${var/#/p}", vec![func("/#", "var", vec![text(""), text("p")])]),
            (r"${var/\//-}", vec![func("/", "var", vec![text("/"), text("-")])]),
            ("$${var}", vec![text("${var}")]),
            ("$$$${x}", vec![text("$${x}")]),
            ("$$${x}", vec![text("$"), func("", "x", vec![])]),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn rejects_malformed_expressions() {
        for (input, kind) in [
            ("${", ParseErrorKind::VariableName),
            ("${}", ParseErrorKind::VariableName),
            ("${:-x}", ParseErrorKind::VariableName),
            ("${ var}", ParseErrorKind::VariableName),
            ("${var", ParseErrorKind::MissingClosingBrace),
            ("${var-default}", ParseErrorKind::MissingClosingBrace),
            ("${var x}", ParseErrorKind::MissingClosingBrace),
            ("${var:}", ParseErrorKind::FuncSubstitution),
            ("${var:-x", ParseErrorKind::FuncSubstitution),
            ("${var#}", ParseErrorKind::FuncSubstitution),
            ("${var/a}", ParseErrorKind::BadSubstitution),
            ("${var^x}", ParseErrorKind::BadSubstitution),
            ("${#}", ParseErrorKind::BadSubstitution),
            ("${#var", ParseErrorKind::BadSubstitution),
        ] {
            match parse(input) {
                Err(Error::Parse { kind: got, .. }) => assert_eq!(got, kind, "{input}"),
                other => panic!("{input}: expected {kind:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let input = "${a:-".repeat(MAX_DEPTH + 1) + &"}".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse(&input), Err(Error::Parse { kind: ParseErrorKind::TooDeep, .. })));
        let input = "${a:-".repeat(MAX_DEPTH) + "x" + &"}".repeat(MAX_DEPTH);
        assert!(parse(&input).is_ok());
    }
}
