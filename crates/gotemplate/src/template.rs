//! A set of named templates sharing one function map and options: Go's
//! `*template.Template` with its associated templates. Parse once, execute
//! many times; cloning is cheap (Helm's `tpl` clones the set per call).

use std::collections::HashMap;
use std::sync::Arc;

use crate::ast::Tree;
use crate::builtins;
use crate::error::Error;
use crate::func::FuncMap;
use crate::parser;
use crate::stack::with_big_stack;

/// What a field lookup on a map does when the key is absent: Go's
/// `missingkey` option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// `missingkey=default`/`invalid`: the result is "no value".
    #[default]
    Invalid,
    /// `missingkey=zero`: the map element type's zero value (a nil
    /// `interface{}`), as Helm renders; a field of it is then an error.
    Zero,
    /// `missingkey=error`: execution stops (Helm's strict and lint modes).
    Error,
}

/// A set of named templates: parse texts into it, execute by name.
#[derive(Clone, Debug)]
pub struct Templates {
    pub(crate) name: Arc<str>,
    pub(crate) trees: Arc<HashMap<Arc<str>, Arc<Tree>>>,
    pub(crate) funcs: Arc<FuncMap>,
    pub(crate) missing_key: MissingKey,
}

impl Templates {
    /// An empty set named `name` (Helm's is `gotpl`; Go names the receiving
    /// template in "no template associated with" errors) with Go's builtins.
    pub fn new(name: &str) -> Self {
        Templates {
            name: Arc::from(name),
            trees: Arc::default(),
            funcs: Arc::new(builtins::funcs()),
            missing_key: MissingKey::default(),
        }
    }

    /// Adds functions (Go's `Funcs`); they shadow builtins of the same name.
    /// Call before parsing: the parser rejects unknown function names.
    pub fn add_funcs(&mut self, funcs: FuncMap) -> &mut Self {
        Arc::make_mut(&mut self.funcs).extend(funcs);
        self
    }

    /// Sets the `missingkey` option.
    pub fn missing_key(&mut self, missing_key: MissingKey) -> &mut Self {
        self.missing_key = missing_key;
        self
    }

    /// The set's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Parses `text` under `name`, adding it and every `define`/`block` it
    /// holds. As Go's `Template.Parse`: a later definition replaces an earlier
    /// one of the same name, unless it is empty (only whitespace and comments).
    pub fn parse(&mut self, name: &str, text: &str) -> Result<(), Error> {
        self.parse_tree(name, text).map(|_| ())
    }

    /// Parses like [`Templates::parse`] and returns the top-level tree of the
    /// text (the one to execute even when an empty text did not replace an
    /// existing template of that name).
    pub(crate) fn parse_tree(&mut self, name: &str, text: &str) -> Result<Arc<Tree>, Error> {
        let funcs = self.funcs.clone();
        let trees = with_big_stack(|| parser::parse(name, text, &|f| funcs.contains(f)))?;
        let trees_map = Arc::make_mut(&mut self.trees);
        let mut top = None;
        for tree in trees {
            let tree = Arc::new(tree);
            if top.is_none() {
                top = Some(tree.clone());
            }
            let keep_old = tree.is_empty() && trees_map.contains_key(&tree.name);
            if !keep_old {
                trees_map.insert(tree.name.clone(), tree);
            }
        }
        top.ok_or_else(|| Error::Parse { name: name.to_string(), line: 1, message: "no template".into() })
    }

    /// Whether the set holds a template named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// The names of the templates, unordered.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.trees.keys().map(|k| &**k)
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<&Arc<Tree>> {
        self.trees.get(name)
    }
}
