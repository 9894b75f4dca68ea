//! The `sops` metadata of a file: key groups, the MAC, and the rules that
//! say which values are encrypted.

use regex::Regex;

use crate::tree::{Item, Node, Rules};
use crate::{Error, Result};

/// One master key entry of a key group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MasterKey {
    Age {
        recipient: String,
        enc: String,
    },
    Pgp {
        fingerprint: String,
        enc: String,
    },
    /// A key kind Ferry does not hold keys for (KMS, Vault…): kept for the error message.
    Other {
        kind: &'static str,
        id: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub key_groups: Vec<Vec<MasterKey>>,
    pub shamir_threshold: usize,
    pub last_modified: String,
    pub mac: String,
    pub rules: Rules,
}

fn malformed(what: impl Into<String>) -> Error {
    Error::Malformed(format!("sops metadata: {}", what.into()))
}

fn text(node: &Node, key: &str) -> Option<String> {
    match node.get(key)? {
        Node::Str(s) => Some(s.clone()),
        Node::Int(i) => Some(i.to_string()),
        Node::Float(f) => Some(crate::tree::go_float(*f)),
        Node::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn non_empty(node: &Node, key: &str) -> Option<String> {
    text(node, key).filter(|s| !s.is_empty())
}

/// Whether `node` (a document's `sops` value) looks like sops metadata.
pub(crate) fn is_metadata(node: &Node) -> bool {
    matches!(node, Node::Map(_)) && (node.get("mac").is_some() || node.get("version").is_some())
}

impl Metadata {
    /// Reads the metadata from the `sops` mapping of a YAML/JSON document (or
    /// the unflattened `sops_*` entries of dotenv and INI files).
    pub(crate) fn from_node(node: &Node) -> Result<Self> {
        if !matches!(node, Node::Map(_)) {
            return Err(malformed("'sops' is not a mapping"));
        }
        let last_modified = non_empty(node, "lastmodified").ok_or_else(|| malformed("no 'lastmodified'"))?;
        let mac = text(node, "mac").unwrap_or_default();
        let mut key_groups = Vec::new();
        match node.get("key_groups") {
            Some(Node::Seq(groups)) if !groups.is_empty() => {
                for group in groups {
                    key_groups.push(group_keys(group)?);
                }
            }
            _ => key_groups.push(group_keys(node)?),
        }
        let shamir_threshold = match node.get("shamir_threshold") {
            None | Some(Node::Null) => 0,
            Some(Node::Int(i)) => usize::try_from(*i).map_err(|_| malformed("negative 'shamir_threshold'"))?,
            Some(Node::Str(s)) => {
                s.parse().map_err(|_| malformed(format!("'shamir_threshold' is not a number: {s}")))?
            }
            Some(_) => return Err(malformed("'shamir_threshold' is not a number")),
        };
        let regex = |key: &str| -> Result<Option<Regex>> {
            non_empty(node, key)
                .map(|re| {
                    Regex::new(&re).map_err(|e| malformed(format!("'{key}' is not a valid regular expression: {e}")))
                })
                .transpose()
        };
        let mut rules = Rules {
            unencrypted_suffix: non_empty(node, "unencrypted_suffix"),
            encrypted_suffix: non_empty(node, "encrypted_suffix"),
            unencrypted_regex: regex("unencrypted_regex")?,
            encrypted_regex: regex("encrypted_regex")?,
            by_comment: non_empty(node, "unencrypted_comment_regex").is_some()
                || non_empty(node, "encrypted_comment_regex").is_some(),
            mac_only_encrypted: matches!(node.get("mac_only_encrypted"), Some(Node::Bool(true)))
                || text(node, "mac_only_encrypted").as_deref() == Some("true"),
        };
        let count = [
            rules.unencrypted_suffix.is_some(),
            rules.encrypted_suffix.is_some(),
            rules.unencrypted_regex.is_some(),
            rules.encrypted_regex.is_some(),
            non_empty(node, "unencrypted_comment_regex").is_some(),
            non_empty(node, "encrypted_comment_regex").is_some(),
        ]
        .into_iter()
        .filter(|set| *set)
        .count();
        if count > 1 {
            return Err(malformed(
                "more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, \
                 encrypted_comment_regex and unencrypted_comment_regex is set",
            ));
        }
        if count == 0 {
            rules.unencrypted_suffix = Some("_unencrypted".into());
        }
        Ok(Metadata { key_groups, shamir_threshold, last_modified, mac, rules })
    }

    /// The additional data of the MAC: `lastmodified` as Go's RFC 3339
    /// formatting prints it again (without fractional seconds).
    pub(crate) fn mac_aad(&self) -> String {
        let s = self.last_modified.as_str();
        match (s.find('.'), s.len() >= 19) {
            (Some(dot), true) if dot == 19 => {
                let rest = &s[dot + 1..];
                let zone = rest.trim_start_matches(|c: char| c.is_ascii_digit());
                format!("{}{}", &s[..dot], zone)
            }
            _ => s.to_string(),
        }
    }
}

fn group_keys(group: &Node) -> Result<Vec<MasterKey>> {
    let mut keys = Vec::new();
    let entries = |name: &str| -> Vec<&Node> {
        match group.get(name) {
            Some(Node::Seq(items)) => items.iter().collect(),
            _ => Vec::new(),
        }
    };
    for entry in entries("age") {
        keys.push(MasterKey::Age {
            recipient: text(entry, "recipient").unwrap_or_default(),
            enc: text(entry, "enc").ok_or_else(|| malformed("an age entry has no 'enc'"))?,
        });
    }
    for entry in entries("pgp") {
        keys.push(MasterKey::Pgp {
            fingerprint: text(entry, "fp").unwrap_or_default(),
            enc: text(entry, "enc").ok_or_else(|| malformed("a pgp entry has no 'enc'"))?,
        });
    }
    for (kind, field) in
        [("kms", "arn"), ("gcp_kms", "resource_id"), ("azure_kv", "vault_url"), ("hc_vault", "vault_address")]
    {
        for entry in entries(kind) {
            keys.push(MasterKey::Other { kind, id: text(entry, field).unwrap_or_default() });
        }
    }
    Ok(keys)
}

/// Rebuilds the `sops` mapping from the flattened `sops_*` entries of dotenv
/// and INI files (`age__list_0__map_enc` …), with `\n` turned back into newlines.
pub(crate) fn unflatten(entries: &[(String, String)]) -> Node {
    let mut root = Node::Map(Vec::new());
    for (key, value) in entries {
        let mut tokens = Vec::new();
        let mut rest = key.as_str();
        let first_end = next_separator(rest);
        tokens.push(Token::Key(rest[..first_end].to_string()));
        rest = &rest[first_end..];
        while !rest.is_empty() {
            let (is_list, body) = if let Some(body) = rest.strip_prefix("__map_") {
                (false, body)
            } else if let Some(body) = rest.strip_prefix("__list_") {
                (true, body)
            } else {
                break;
            };
            let end = next_separator(body);
            let name = &body[..end];
            tokens.push(if is_list { Token::Index(name.parse().unwrap_or(0)) } else { Token::Key(name.to_string()) });
            rest = &body[end..];
        }
        insert(&mut root, &tokens, Node::Str(value.replace("\\n", "\n")));
    }
    root
}

fn next_separator(s: &str) -> usize {
    [s.find("__map_"), s.find("__list_")].into_iter().flatten().min().unwrap_or(s.len())
}

enum Token {
    Key(String),
    Index(usize),
}

/// Largest list index the flattened metadata may use (bounds memory on bad input).
const MAX_INDEX: usize = 1024;

fn insert(node: &mut Node, tokens: &[Token], value: Node) {
    let Some((first, rest)) = tokens.split_first() else {
        *node = value;
        return;
    };
    let empty_child = || match rest.first() {
        Some(Token::Index(_)) => Node::Seq(Vec::new()),
        Some(Token::Key(_)) => Node::Map(Vec::new()),
        None => Node::Null,
    };
    match first {
        Token::Key(key) => {
            if !matches!(node, Node::Map(_)) {
                *node = Node::Map(Vec::new());
            }
            if let Node::Map(items) = node {
                let pos = items.iter().position(|i| matches!(i, Item::Pair(k, _) if k == key));
                let pos = pos.unwrap_or_else(|| {
                    items.push(Item::Pair(key.clone(), empty_child()));
                    items.len() - 1
                });
                if let Some(Item::Pair(_, child)) = items.get_mut(pos) {
                    insert(child, rest, value);
                }
            }
        }
        Token::Index(index) => {
            if *index > MAX_INDEX {
                return;
            }
            if !matches!(node, Node::Seq(_)) {
                *node = Node::Seq(Vec::new());
            }
            if let Node::Seq(items) = node {
                while items.len() <= *index {
                    items.push(empty_child());
                }
                insert(&mut items[*index], rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unflattens_dotenv_metadata() {
        let entries = vec![
            ("age__list_0__map_recipient".to_string(), "age1abc".to_string()),
            ("age__list_0__map_enc".to_string(), "line1\\nline2".to_string()),
            ("lastmodified".to_string(), "2024-01-01T00:00:00Z".to_string()),
            ("mac".to_string(), "ENC[...]".to_string()),
            ("mac_only_encrypted".to_string(), "true".to_string()),
            ("shamir_threshold".to_string(), "2".to_string()),
        ];
        let md = Metadata::from_node(&unflatten(&entries)).unwrap();
        assert_eq!(
            md.key_groups,
            vec![vec![MasterKey::Age { recipient: "age1abc".into(), enc: "line1\nline2".into() }]]
        );
        assert!(md.rules.mac_only_encrypted);
        assert_eq!(md.shamir_threshold, 2);
        assert_eq!(md.rules.unencrypted_suffix.as_deref(), Some("_unencrypted"));
    }

    #[test]
    fn mac_aad_drops_fractions() {
        let md = |s: &str| Metadata {
            key_groups: vec![],
            shamir_threshold: 0,
            last_modified: s.into(),
            mac: String::new(),
            rules: Rules::default(),
        };
        assert_eq!(md("2024-01-02T03:04:05Z").mac_aad(), "2024-01-02T03:04:05Z");
        assert_eq!(md("2024-01-02T03:04:05.123456Z").mac_aad(), "2024-01-02T03:04:05Z");
        assert_eq!(md("2024-01-02T03:04:05.5+02:00").mac_aad(), "2024-01-02T03:04:05+02:00");
    }

    #[test]
    fn refuses_two_rules() {
        let node = Node::Map(vec![
            Item::Pair("lastmodified".into(), Node::Str("2024-01-01T00:00:00Z".into())),
            Item::Pair("encrypted_regex".into(), Node::Str("^data$".into())),
            Item::Pair("unencrypted_suffix".into(), Node::Str("_x".into())),
        ]);
        assert!(Metadata::from_node(&node).is_err());
    }
}
