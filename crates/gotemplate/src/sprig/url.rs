//! Sprig's `urlParse` and `urlJoin`: the parts of Go's `net/url` they use.

use crate::error::FuncError;
use crate::func::{FuncMap, Function};
use crate::sig::Ty;
use crate::value::{MapEntries, Value};

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && s.is_char_boundary(i + 3)
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `url.Parse`, reduced to the fields Sprig returns.
fn parse(v: &str) -> MapEntries {
    let mut rest = v;
    let mut fragment = String::new();
    if let Some(i) = rest.find('#') {
        fragment = unescape(&rest[i + 1..]);
        rest = &rest[..i];
    }
    let mut scheme = String::new();
    if let Some(i) = rest.find(':') {
        let cand = &rest[..i];
        if !cand.is_empty()
            && cand.as_bytes()[0].is_ascii_alphabetic()
            && cand.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            scheme = cand.to_ascii_lowercase();
            rest = &rest[i + 1..];
        }
    }
    let mut query = String::new();
    if let Some(i) = rest.find('?') {
        query = rest[i + 1..].to_string();
        rest = &rest[..i];
    }
    let (mut host, mut userinfo, mut opaque, mut path) = (String::new(), String::new(), String::new(), String::new());
    if !scheme.is_empty() && !rest.starts_with('/') {
        opaque = rest.to_string();
    } else if let Some(auth_rest) = rest.strip_prefix("//") {
        let end = auth_rest.find('/').unwrap_or(auth_rest.len());
        let authority = &auth_rest[..end];
        path = unescape(&auth_rest[end..]);
        match authority.rfind('@') {
            Some(i) => {
                userinfo = authority[..i].to_string();
                host = authority[i + 1..].to_string();
            }
            None => host = authority.to_string(),
        }
    } else {
        path = unescape(rest);
    }
    let hostname = if host.starts_with('[') {
        host.trim_start_matches('[').split(']').next().unwrap_or_default().to_string()
    } else {
        host.split(':').next().unwrap_or_default().to_string()
    };
    let mut m = MapEntries::new();
    for (k, v) in [
        ("scheme", scheme),
        ("host", host),
        ("hostname", hostname),
        ("path", path),
        ("query", query),
        ("opaque", opaque),
        ("fragment", fragment),
        ("userinfo", userinfo),
    ] {
        m.insert(k.to_string(), Value::from(v));
    }
    m
}

fn get(d: &Value, key: &str) -> Result<String, FuncError> {
    let Value::Map(m) = d else { return Ok(String::new()) };
    match m.get(key) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.to_string()),
        Some(other) => Err(FuncError::msg(format!(
            "unable to parse {key} key, must be of type string, but {} found",
            other.kind_name()
        ))),
    }
}

fn escape_path(p: &str) -> String {
    let mut out = String::new();
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/:@&=+$!*'(),;".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Go's `url.URL.String()` over Sprig's dict.
fn join(d: &Value) -> Result<String, FuncError> {
    let (scheme, host, path, query, opaque, fragment, userinfo) = (
        get(d, "scheme")?,
        get(d, "host")?,
        get(d, "path")?,
        get(d, "query")?,
        get(d, "opaque")?,
        get(d, "fragment")?,
        get(d, "userinfo")?,
    );
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        if !scheme.is_empty() || !host.is_empty() || !userinfo.is_empty() {
            if !host.is_empty() || !path.is_empty() || !userinfo.is_empty() {
                out.push_str("//");
            }
            if !userinfo.is_empty() {
                out.push_str(&userinfo);
                out.push('@');
            }
            out.push_str(&host);
        }
        let ep = escape_path(&path);
        if !ep.is_empty() && !ep.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        out.push_str(&ep);
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&escape_path(&fragment));
    }
    Ok(out)
}

pub(super) fn register(m: &mut FuncMap) {
    m.insert("urlParse", Function::fixed(&[Ty::String], |a| Ok(Value::map(parse(a[0].as_str().unwrap_or_default())))));
    m.insert("urlJoin", Function::fixed(&[Ty::Map("map[string]interface {}")], |a| join(&a[0]).map(Value::from)));
}
