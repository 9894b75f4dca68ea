//! JSON files (and sops's binary envelope, a JSON object whose `data` is the
//! file): parsed in key order, numbers as float64 as sops reads them.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};

use crate::tree::{Item, Node, go_float};
use crate::{Error, Result};

/// How deep JSON may nest before the input is refused.
const MAX_DEPTH: usize = 256;

struct Ordered(Node);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor).map(Ordered)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> std::result::Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Node, E> {
        Ok(Node::Float(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Node, E> {
        Ok(Node::Float(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(Ordered(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some((k, Ordered(v))) = map.next_entry::<String, Ordered>()? {
            items.push(Item::Pair(k, v));
        }
        Ok(Node::Map(items))
    }
}

/// Parses a JSON object; returns it without its `sops` entry, and that entry.
pub(crate) fn load(data: &[u8]) -> Result<(Node, Option<Node>)> {
    // serde_json refuses nesting deeper than 128 by itself; this keeps the
    // bound explicit should that default change.
    let node = serde_json::from_slice::<Ordered>(data).map_err(|e| Error::Parse(format!("JSON: {e}")))?.0;
    if depth(&node) > MAX_DEPTH {
        return Err(Error::Parse(format!("JSON: nested deeper than {MAX_DEPTH} levels")));
    }
    let Node::Map(mut items) = node else {
        return Err(Error::Parse("JSON: the document is not an object".into()));
    };
    let metadata =
        items.iter().position(|i| matches!(i, Item::Pair(k, _) if k == "sops")).and_then(|index| {
            match items.remove(index) {
                Item::Pair(_, v) => Some(v),
                Item::Comment(_) => None,
            }
        });
    Ok((Node::Map(items), metadata))
}

fn depth(node: &Node) -> usize {
    match node {
        Node::Map(items) => {
            1 + items.iter().map(|i| if let Item::Pair(_, v) = i { depth(v) } else { 0 }).max().unwrap_or(0)
        }
        Node::Seq(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Writes a JSON document indented with tabs, as sops does; comments are dropped.
pub(crate) fn emit(node: &Node) -> Vec<u8> {
    let mut out = String::new();
    write(node, 0, &mut out);
    out.push('\n');
    out.into_bytes()
}

fn write(node: &Node, level: usize, out: &mut String) {
    let indent = |out: &mut String, level: usize| out.extend(std::iter::repeat_n('\t', level));
    match node {
        Node::Null | Node::Comment(_) => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Int(i) => out.push_str(&i.to_string()),
        Node::Float(f) if f.is_finite() => out.push_str(&go_float(*f)),
        Node::Float(_) => out.push_str("null"),
        Node::Str(s) => out.push_str(&serde_json::Value::from(s.as_str()).to_string()),
        Node::Seq(items) => {
            let items: Vec<&Node> = items.iter().filter(|n| !matches!(n, Node::Comment(_))).collect();
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(out, level + 1);
                write(item, level + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            indent(out, level);
            out.push(']');
        }
        Node::Map(items) => {
            let pairs: Vec<(&String, &Node)> = items
                .iter()
                .filter_map(|i| match i {
                    Item::Pair(k, v) => Some((k, v)),
                    Item::Comment(_) => None,
                })
                .collect();
            if pairs.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push_str("{\n");
            for (i, (k, v)) in pairs.iter().enumerate() {
                indent(out, level + 1);
                out.push_str(&serde_json::Value::from(k.as_str()).to_string());
                out.push_str(": ");
                write(v, level + 1, out);
                out.push_str(if i + 1 < pairs.len() { ",\n" } else { "\n" });
            }
            indent(out, level);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_round_trips() {
        let (node, md) = load(br#"{"z": 1, "a": [true, null, "x"], "sops": {"mac": "m"}, "m": {}}"#).unwrap();
        assert!(md.is_some());
        let text = String::from_utf8(emit(&node)).unwrap();
        assert_eq!(text, "{\n\t\"z\": 1,\n\t\"a\": [\n\t\ttrue,\n\t\tnull,\n\t\t\"x\"\n\t],\n\t\"m\": {}\n}\n");
        assert!(load(b"[1]").is_err());
        assert!(load(b"{").is_err());
    }
}
