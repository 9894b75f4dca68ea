//! The document tree every format loads into, and sops's walk over it:
//! which leaves are encrypted, their decryption, and the MAC.

use std::collections::{BTreeSet, HashMap};

use regex::Regex;
use sha2::{Digest, Sha512};

use crate::cipher::{self, Failure};
use crate::{Error, Result};

/// A value in a document, typed as sops types it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A comment line (its text after the comment character).
    Comment(String),
    Map(Vec<Item>),
    Seq(Vec<Node>),
}

/// An entry of a mapping: a key and its value, or a comment line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    Pair(String, Node),
    Comment(String),
}

impl Node {
    /// The value under `key` when this is a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(items) => items.iter().find_map(|item| match item {
                Item::Pair(k, v) if k == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_infinite() { if f > 0.0 { "+Inf".into() } else { "-Inf".into() } } else { format!("{f}") }
}

/// Which leaves sops encrypted, from the file's metadata.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    pub unencrypted_suffix: Option<String>,
    pub encrypted_suffix: Option<String>,
    pub unencrypted_regex: Option<Regex>,
    pub encrypted_regex: Option<Regex>,
    /// `encrypted_comment_regex`/`unencrypted_comment_regex`: which leaves
    /// are encrypted depends on comments, which not every loader keeps; an
    /// `ENC[…]`-shaped value is then taken as encrypted.
    pub by_comment: bool,
    pub mac_only_encrypted: bool,
}

impl Rules {
    fn encrypted(&self, path: &[String], leaf: &Node) -> bool {
        if self.by_comment {
            return match leaf {
                Node::Str(s) | Node::Comment(s) => cipher::looks_encrypted(s),
                _ => false,
            };
        }
        let mut encrypted = true;
        if let Some(suffix) = &self.unencrypted_suffix
            && path.iter().any(|p| p.ends_with(suffix.as_str()))
        {
            encrypted = false;
        }
        if let Some(suffix) = &self.encrypted_suffix {
            encrypted = path.iter().any(|p| p.ends_with(suffix.as_str()));
        }
        if let Some(re) = &self.unencrypted_regex
            && path.iter().any(|p| re.is_match(p))
        {
            encrypted = false;
        }
        if let Some(re) = &self.encrypted_regex {
            encrypted = path.iter().any(|p| re.is_match(p));
        }
        encrypted
    }
}

/// The bytes sops hashed when `mac_only_encrypted` is on, before any value.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b, 0x97, 0x5b,
    0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

/// The result of decrypting the documents of one file.
#[derive(Debug)]
pub(crate) struct Decrypted {
    pub branches: Vec<Node>,
    /// The MAC sops would compute over the plaintext (upper-case hex SHA-512).
    pub mac: String,
    /// Every `ENC[…]` string met and what it decrypted to.
    pub plaintexts: HashMap<String, Node>,
    /// The additional data of every branch (where comments can sit).
    pub branch_paths: BTreeSet<String>,
}

/// Walks `branches` as sops does: decrypts the encrypted leaves, keeps the
/// others, and hashes the plaintext values in document order.
pub(crate) fn decrypt(branches: Vec<Node>, key: &[u8; 32], rules: &Rules) -> Result<Decrypted> {
    let mut walk = Walk { key, rules, hash: Sha512::new(), plaintexts: HashMap::new(), branch_paths: BTreeSet::new() };
    if rules.mac_only_encrypted {
        walk.hash.update(MAC_ONLY_ENCRYPTED_INIT);
    }
    let mut out = Vec::with_capacity(branches.len());
    for branch in branches {
        let mut path = Vec::new();
        out.push(walk.value(branch, &mut path)?);
    }
    let mac = walk.hash.finalize().iter().map(|b| format!("{b:02X}")).collect();
    Ok(Decrypted { branches: out, mac, plaintexts: walk.plaintexts, branch_paths: walk.branch_paths })
}

pub(crate) fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

struct Walk<'a> {
    key: &'a [u8; 32],
    rules: &'a Rules,
    hash: Sha512,
    plaintexts: HashMap<String, Node>,
    branch_paths: BTreeSet<String>,
}

impl Walk<'_> {
    fn value(&mut self, node: Node, path: &mut Vec<String>) -> Result<Node> {
        match node {
            Node::Null => Ok(Node::Null),
            Node::Map(items) => {
                self.branch_paths.insert(aad(path));
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(match item {
                        Item::Comment(c) => match self.leaf(Node::Comment(c), path)? {
                            Node::Comment(c) => Item::Comment(c),
                            Node::Str(s) => Item::Comment(s),
                            other => return Err(Error::Malformed(format!("a comment decrypted to {other:?}"))),
                        },
                        Item::Pair(k, v) => {
                            path.push(k);
                            let v = self.value(v, path);
                            let k = path.pop().unwrap_or_default();
                            Item::Pair(k, v?)
                        }
                    });
                }
                Ok(Node::Map(out))
            }
            Node::Seq(items) => {
                self.branch_paths.insert(aad(path));
                items.into_iter().map(|v| self.value(v, path)).collect::<Result<_>>().map(Node::Seq)
            }
            leaf => self.leaf(leaf, path),
        }
    }

    fn leaf(&mut self, leaf: Node, path: &[String]) -> Result<Node> {
        let encrypted = self.rules.encrypted(path, &leaf);
        let value = if encrypted {
            let aad = aad(path);
            match leaf {
                Node::Comment(c) => match cipher::decrypt(&c, self.key, &aad) {
                    // sops keeps a comment it cannot decrypt: older files left them plain.
                    Ok(plain @ Node::Comment(_)) => {
                        self.plaintexts.insert(c, plain.clone());
                        plain
                    }
                    _ => Node::Comment(c),
                },
                Node::Str(s) => match cipher::decrypt(&s, self.key, &aad) {
                    Ok(plain) => {
                        self.plaintexts.insert(s, plain.clone());
                        plain
                    }
                    Err(failure) => return Err(value_error(path, failure)),
                },
                _ => {
                    return Err(Error::Malformed(format!(
                        "the value at '{}' should be encrypted but is not a string",
                        path.join(".")
                    )));
                }
            }
        } else {
            leaf
        };
        if !self.rules.mac_only_encrypted || encrypted {
            match &value {
                Node::Str(s) => self.hash.update(s.as_bytes()),
                Node::Int(i) => self.hash.update(i.to_string().as_bytes()),
                Node::Float(f) => self.hash.update(go_float(*f).as_bytes()),
                Node::Bool(b) => self.hash.update(if *b { b"True" as &[u8] } else { b"False" }),
                _ => {}
            }
        }
        Ok(value)
    }
}

fn value_error(path: &[String], failure: Failure) -> Error {
    let at = path.join(".");
    match failure {
        Failure::Malformed => Error::Malformed(format!("the value at '{at}' is not a sops-encrypted value")),
        Failure::Authentication => Error::Value(format!(
            "could not decrypt the value at '{at}': it was changed, or encrypted for another data key or path"
        )),
        Failure::BadType(kind) => Error::Value(format!("the value at '{at}' is not a valid {kind}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_floats_like_go() {
        assert_eq!(go_float(1e10), "10000000000");
        assert_eq!(go_float(0.25), "0.25");
        assert_eq!(go_float(5432.0), "5432");
        assert_eq!(go_float(f64::INFINITY), "+Inf");
    }

    #[test]
    fn rules_follow_sops_precedence() {
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let leaf = Node::Str("x".into());
        let rules = Rules { unencrypted_suffix: Some("_unencrypted".into()), ..Rules::default() };
        assert!(rules.encrypted(&path(&["a", "b"]), &leaf));
        assert!(!rules.encrypted(&path(&["a_unencrypted", "b"]), &leaf));
        let rules = Rules { encrypted_regex: Some(Regex::new("^data$").unwrap()), ..Rules::default() };
        assert!(rules.encrypted(&path(&["data", "x"]), &leaf));
        assert!(!rules.encrypted(&path(&["metadata", "name"]), &leaf));
        assert_eq!(aad(&path(&[])), ":");
        assert_eq!(aad(&path(&["a", "b"])), "a:b:");
    }
}
