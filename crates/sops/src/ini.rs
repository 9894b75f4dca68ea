//! INI files as sops (through go-ini) reads them: sections of `key = value`
//! strings, keys before any section in `DEFAULT`, `;`/`#` comments, the
//! metadata flattened into a `[sops]` section.

use crate::tree::{Item, Node};
use crate::{Error, Result};

const DEFAULT: &str = "DEFAULT";

/// The sections (without `[sops]`) and the flattened metadata.
pub(crate) fn load(data: &[u8]) -> Result<(Node, Vec<(String, String)>)> {
    let text = std::str::from_utf8(data).map_err(|_| Error::Parse("INI: not UTF-8".into()))?;
    let mut sections: Vec<(String, Vec<Item>)> = vec![(DEFAULT.to_string(), Vec::new())];
    let mut pending = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix(';').or_else(|| line.strip_prefix('#')) {
            pending.push(Item::Comment(comment.trim_start_matches([';', '#', ' ']).to_string()));
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .ok_or_else(|| Error::Parse(format!("INI: line {}: unclosed section header", n + 1)))?
                .trim()
                .to_string();
            let items = std::mem::take(&mut pending);
            match sections.iter_mut().find(|(s, _)| *s == name) {
                Some((_, existing)) => existing.extend(items),
                None => sections.push((name, items)),
            }
            continue;
        }
        let split = line.find(['=', ':']).ok_or_else(|| Error::Parse(format!("INI: line {}: no '='", n + 1)))?;
        let key = line[..split].trim().to_string();
        let value = unquote(line[split + 1..].trim()).to_string();
        if let Some((_, items)) = sections.last_mut() {
            items.append(&mut pending);
            items.push(Item::Pair(key, Node::Str(value)));
        }
    }
    if let Some((_, items)) = sections.last_mut() {
        items.append(&mut pending);
    }
    let mut metadata = Vec::new();
    let mut branch = Vec::new();
    for (name, items) in sections {
        if name == "sops" {
            for item in items {
                if let Item::Pair(k, Node::Str(v)) = item {
                    metadata.push((k, v));
                }
            }
        } else {
            branch.push(Item::Pair(name, Node::Map(items)));
        }
    }
    Ok((Node::Map(branch), metadata))
}

fn unquote(value: &str) -> &str {
    for quote in ["\"\"\"", "`", "\""] {
        if value.len() >= 2 * quote.len()
            && let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

pub(crate) fn emit(node: &Node) -> Result<Vec<u8>> {
    let Node::Map(sections) = node else {
        return Err(Error::Parse("INI: not a list of sections".into()));
    };
    let mut out = String::new();
    for section in sections {
        let Item::Pair(name, Node::Map(items)) = section else {
            continue;
        };
        if name == DEFAULT && items.is_empty() {
            continue;
        }
        let mut items = items.iter().peekable();
        // Comments before the first key were above the section header.
        while let Some(Item::Comment(c)) = items.peek() {
            out.push_str(&format!("; {c}\n"));
            items.next();
        }
        if name != DEFAULT {
            out.push_str(&format!("[{name}]\n"));
        }
        for item in items {
            match item {
                Item::Comment(c) => out.push_str(&format!("; {c}\n")),
                Item::Pair(k, Node::Str(v)) => out.push_str(&format!("{k} = {}\n", quote(v))),
                Item::Pair(k, _) => return Err(Error::Parse(format!("INI: the value of {k} is not a string"))),
            }
        }
        out.push('\n');
    }
    Ok(out.into_bytes())
}

fn quote(value: &str) -> String {
    if value.contains(['\n', ';', '#']) || value != value.trim() {
        format!("\"\"\"{value}\"\"\"")
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_comments_and_metadata() {
        let text = "; head\n[a]\nx = 1\n# about y\ny = 2\n\n[sops]\nmac = m\n";
        let (node, md) = load(text.as_bytes()).unwrap();
        assert_eq!(md, vec![("mac".to_string(), "m".to_string())]);
        let out = String::from_utf8(emit(&node).unwrap()).unwrap();
        assert_eq!(out, "; head\n[a]\nx = 1\n; about y\ny = 2\n\n");
        assert!(load(b"[a\n").is_err());
    }
}
