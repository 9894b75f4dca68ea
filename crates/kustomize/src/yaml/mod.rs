//! YAML in and out, with kustomize's conventions.
//!
//! Documents are read into `serde_json::Value`, resolving plain scalars the way Go's yaml.v3
//! does when kustomize turns its nodes into JSON (so `yes` stays a string, `0777` is octal and
//! dates stay strings). Output follows the encoder kustomize prints with: map keys in Go yaml.v2's
//! order, two-space indent, sequences not indented under their key, strings quoted only when a
//! plain scalar would read back as something else.

mod emit;
mod parse;

pub(crate) use emit::plain_resolves_to_string;
pub use emit::{format_number, sorted_keys, to_yaml, to_yaml_stream};
pub use parse::{
    Error, has_control_character, parse_documents, parse_documents_yaml11, parse_one, parse_one_yaml11,
    parse_resources, resolve_plain,
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_scalars_like_yaml_v3() {
        let v = parse_one("a: yes\nb: 010\nc: 0x1F\nd: 1.5\ne: ~\nf: '1'\ng: 2021-01-01\nh: 1_000\n").unwrap();
        assert_eq!(
            v,
            json!({"a": "yes", "b": 8, "c": 31, "d": 1.5, "e": null, "f": "1", "g": "2021-01-01T00:00:00Z", "h": 1000})
        );
    }

    #[test]
    fn emits_like_kustomize() {
        let v = json!({"kind": "A", "apiVersion": "v1", "data": {"y": "on", "b": "1", "c": "x: y", "d": "a\nb\n", "e": ""},
            "list": [{"name": "n", "v": 1}, "s"], "empty": {}, "none": null});
        let out = to_yaml(&v);
        assert_eq!(
            out,
            "apiVersion: v1\ndata:\n  b: \"1\"\n  c: 'x: y'\n  d: |\n    a\n    b\n  e: \"\"\n  \"y\": \"on\"\nempty: {}\nkind: A\nlist:\n- name: \"n\"\n  v: 1\n- s\nnone: null\n"
        );
    }

    #[test]
    fn sorts_keys_naturally() {
        let v = json!({"a10": 1, "a9": 2, "B": 3, "a": 4, "-x": 5});
        let m = v.as_object().unwrap();
        let keys: Vec<&str> = sorted_keys(m).into_iter().map(|s| s.as_str()).collect();
        assert_eq!(keys, vec!["-x", "B", "a", "a9", "a10"]);
    }

    #[test]
    fn rejects_deep_nesting() {
        let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse_one(&deep).is_err());
    }

    #[test]
    fn rejects_alias_bombs() {
        let mut doc = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let refs = vec![format!("*l{}", i - 1); 10].join(", ");
            doc.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
        }
        assert!(parse_one(&doc).is_err());
    }

    #[test]
    fn rejects_duplicate_keys() {
        assert!(parse_one("a: 1\na: 2\n").is_err());
    }
}
