//! Sprig's path functions: Go's `path` package (slash-separated), whose
//! results charts print (`base`, `dir`, `clean`, `ext`, `isAbs`).

use crate::func::{FuncMap, Function};
use crate::sig::Ty;
use crate::value::Value;

/// Go's `path.Clean`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Base`.
pub fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let p = p.trim_end_matches('/');
    if p.is_empty() {
        return "/".into();
    }
    p.rsplit('/').next().unwrap_or(p).to_string()
}

/// Go's `path.Dir`.
pub fn dir(p: &str) -> String {
    let i = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    clean(&p[..i])
}

/// Go's `path.Ext`.
pub fn ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return p[i..].to_string();
        }
    }
    String::new()
}

pub(super) fn register(m: &mut FuncMap) {
    let f = |g: fn(&str) -> String| {
        Function::fixed(&[Ty::String], move |a| Ok(Value::from(g(a[0].as_str().unwrap_or_default()))))
    };
    for (name, g) in [("base", base as fn(&str) -> String), ("dir", dir), ("clean", clean), ("ext", ext)] {
        m.insert(name, f(g));
        m.insert(format!("os{}{}", name[..1].to_uppercase(), &name[1..]), f(g));
    }
    let is_abs =
        || Function::fixed(&[Ty::String], |a| Ok(Value::Bool(a[0].as_str().unwrap_or_default().starts_with('/'))));
    m.insert("isAbs", is_abs());
    m.insert("osIsAbs", is_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_as_go() {
        assert_eq!(clean("a/../../b/./c/"), "../b/c");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(base("/a/b/"), "b");
        assert_eq!(dir("a/b/c"), "a/b");
        assert_eq!(dir("c"), ".");
        assert_eq!(ext("a/b.tar.gz"), ".gz");
    }
}
