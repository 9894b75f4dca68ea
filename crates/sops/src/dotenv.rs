//! dotenv files as sops reads and writes them: `KEY=value` lines (`\n`
//! escapes newlines), `#` comments, metadata in `sops_*` entries.

use crate::tree::{Item, Node};
use crate::{Error, Result};

/// The file's entries (without the metadata) and its flattened metadata.
pub(crate) fn load(data: &[u8]) -> Result<(Node, Vec<(String, String)>)> {
    let text = std::str::from_utf8(data).map_err(|_| Error::Parse("dotenv: not UTF-8".into()))?;
    let mut items = Vec::new();
    let mut metadata = Vec::new();
    for line in text.split('\n') {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            items.push(Item::Comment(comment.to_string()));
            continue;
        }
        let (key, value) =
            line.split_once('=').ok_or_else(|| Error::Parse(format!("dotenv: invalid line {:?}", short(line))))?;
        let value = value.replace("\\n", "\n");
        match key.strip_prefix("sops_") {
            Some(name) => metadata.push((name.to_string(), value)),
            None => items.push(Item::Pair(key.to_string(), Node::Str(value))),
        }
    }
    Ok((Node::Map(items), metadata))
}

fn short(line: &str) -> String {
    line.chars().take(40).collect()
}

pub(crate) fn emit(node: &Node) -> Result<Vec<u8>> {
    let mut out = String::new();
    let Node::Map(items) = node else {
        return Err(Error::Parse("dotenv: not a flat list of entries".into()));
    };
    for item in items {
        match item {
            Item::Comment(c) => {
                out.push('#');
                out.push_str(c);
            }
            Item::Pair(k, Node::Str(v)) => {
                out.push_str(k);
                out.push('=');
                out.push_str(&v.replace('\n', "\\n"));
            }
            Item::Pair(k, _) => return Err(Error::Parse(format!("dotenv: the value of {k} is not a string"))),
        }
        out.push('\n');
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let text = "#c\nA=1\nB=x\\ny\nsops_mac=m\n";
        let (node, md) = load(text.as_bytes()).unwrap();
        assert_eq!(md, vec![("mac".to_string(), "m".to_string())]);
        assert_eq!(String::from_utf8(emit(&node).unwrap()).unwrap(), "#c\nA=1\nB=x\\ny\n");
        assert!(load(b"novalue\n").is_err());
    }
}
