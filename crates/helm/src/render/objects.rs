//! The host objects templates reach: `.Files` (Helm's `engine.files`) and `.Capabilities`.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_gotemplate::{FuncError, Object, Signature, Ty, Value};

use super::convert::{base64, strings};
use crate::value::{Map as ValueMap, Value as HelmValue};

/// A chart's non-template files, with Helm's methods (`Get`, `GetBytes`, `Glob`, `Lines`,
/// `AsConfig`, `AsSecrets`).
#[derive(Debug, Clone, Default)]
pub struct Files {
    files: Arc<BTreeMap<String, Arc<[u8]>>>,
}

impl Files {
    /// Files from a chart's `files`.
    pub fn new(files: &[crate::chart::File]) -> Files {
        Files { files: Arc::new(files.iter().map(|f| (f.name.clone(), Arc::from(f.data.as_slice()))).collect()) }
    }

    /// The files, by path.
    pub fn entries(&self) -> impl Iterator<Item = (&String, &Arc<[u8]>)> {
        self.files.iter()
    }

    fn get_bytes(&self, name: &str) -> Arc<[u8]> {
        self.files.get(name).cloned().unwrap_or_else(|| Arc::from(&[][..]))
    }

    fn glob(&self, pattern: &str) -> Files {
        let p: Vec<char> = pattern.chars().collect();
        let valid = glob_valid(&p);
        let files = self
            .files
            .iter()
            .filter(|(name, _)| {
                let n: Vec<char> = name.chars().collect();
                if valid { glob_match(&p, &n) } else { true }
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Files { files: Arc::new(files) }
    }

    fn as_map(&self, encode: impl Fn(&[u8]) -> String) -> String {
        let mut m = ValueMap::new();
        for (k, v) in self.files.iter() {
            let base = k.rsplit('/').next().unwrap_or(k);
            m.insert(base.to_string(), HelmValue::String(encode(v)));
        }
        crate::yaml::encode::to_string(&HelmValue::Map(m))
            .map(|s| s.trim_end_matches('\n').to_string())
            .unwrap_or_default()
    }
}

impl Object for Files {
    fn type_name(&self) -> &str {
        "engine.files"
    }

    fn kind(&self) -> &str {
        "map"
    }

    fn method(&self, name: &str) -> Option<Signature> {
        match name {
            "Get" | "GetBytes" | "Glob" | "Lines" => Some(Signature::fixed(&[Ty::String])),
            "AsConfig" | "AsSecrets" => Some(Signature::fixed(&[])),
            _ => None,
        }
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, FuncError> {
        let arg = || args.first().and_then(Value::as_str).unwrap_or("").to_string();
        Ok(match name {
            "Get" => Value::string(String::from_utf8_lossy(&self.get_bytes(&arg()))),
            "GetBytes" => Value::Bytes(self.get_bytes(&arg())),
            "Glob" => Value::Object(Arc::new(self.glob(&arg()))),
            "Lines" => {
                let data = self.get_bytes(&arg());
                if data.is_empty() {
                    return Ok(strings(&[]));
                }
                let s = String::from_utf8_lossy(&data);
                let s = s.strip_suffix('\n').unwrap_or(&s);
                strings(&s.split('\n').map(str::to_string).collect::<Vec<_>>())
            }
            "AsConfig" => Value::string(self.as_map(|d| String::from_utf8_lossy(d).into_owned())),
            "AsSecrets" => Value::string(self.as_map(base64)),
            other => return Err(FuncError::msg(format!("can't call method {other}"))),
        })
    }

    fn map_entries(&self) -> Option<Vec<(String, Value)>> {
        Some(self.files.iter().map(|(k, v)| (k.clone(), Value::Bytes(v.clone()))).collect())
    }

    fn map_len(&self) -> Option<usize> {
        Some(self.files.len())
    }

    fn map_get(&self, key: &str) -> Option<Value> {
        self.files.get(key).map(|v| Value::Bytes(v.clone()))
    }

    fn map_zero(&self) -> Value {
        Value::Bytes(Arc::from(&[][..]))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn glob_valid(p: &[char]) -> bool {
    let mut depth = 0i32;
    let mut in_class = false;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => i += 1,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class => depth += 1,
            '}' if !in_class => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    depth == 0 && !in_class
}

/// `gobwas/glob` with `/` as separator: `*` within a segment, `**` across, `?`, `[a-z]`,
/// `[!a-z]`, `{a,b}` and `\` escapes.
fn glob_match(p: &[char], n: &[char]) -> bool {
    if p.is_empty() {
        return n.is_empty();
    }
    match p[0] {
        '*' => {
            let super_star = p.get(1) == Some(&'*');
            let rest = if super_star { &p[2..] } else { &p[1..] };
            for k in 0..=n.len() {
                if k > 0 && !super_star && n[k - 1] == '/' {
                    break;
                }
                if glob_match(rest, &n[k..]) {
                    return true;
                }
            }
            false
        }
        '?' => !n.is_empty() && n[0] != '/' && glob_match(&p[1..], &n[1..]),
        '[' => {
            let Some(end) = p.iter().position(|&c| c == ']') else { return false };
            if n.is_empty() {
                return false;
            }
            let class = &p[1..end];
            let (negated, class) = match class.first() {
                Some('!') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut matched = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    if class[i] <= n[0] && n[0] <= class[i + 2] {
                        matched = true;
                    }
                    i += 3;
                } else {
                    if class[i] == n[0] {
                        matched = true;
                    }
                    i += 1;
                }
            }
            matched != negated && glob_match(&p[end + 1..], &n[1..])
        }
        '{' => {
            // Find the matching close brace and split alternatives at top-level commas.
            let mut depth = 0;
            let mut close = None;
            let mut splits = Vec::new();
            for (i, &c) in p.iter().enumerate() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            close = Some(i);
                            break;
                        }
                    }
                    ',' if depth == 1 => splits.push(i),
                    _ => {}
                }
            }
            let Some(close) = close else { return false };
            let mut bounds = vec![0];
            bounds.extend(splits.iter().copied());
            bounds.push(close);
            for w in bounds.windows(2) {
                let alt = &p[w[0] + 1..w[1]];
                let mut candidate: Vec<char> = alt.to_vec();
                candidate.extend_from_slice(&p[close + 1..]);
                if glob_match(&candidate, n) {
                    return true;
                }
            }
            false
        }
        '\\' if p.len() > 1 => !n.is_empty() && n[0] == p[1] && glob_match(&p[2..], &n[1..]),
        c => !n.is_empty() && n[0] == c && glob_match(&p[1..], &n[1..]),
    }
}

/// A Go struct with fixed fields, printed as Go's `%v` prints it.
#[derive(Debug)]
pub struct Struct {
    type_name: &'static str,
    fields: BTreeMap<&'static str, Value>,
    display: String,
}

impl Object for Struct {
    fn type_name(&self) -> &str {
        self.type_name
    }

    fn field(&self, name: &str) -> Option<Value> {
        self.fields.get(name).cloned()
    }

    fn display(&self) -> String {
        self.display.clone()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `.Capabilities.APIVersions`: a `[]string` with a `Has` method.
#[derive(Debug)]
pub struct VersionSet(pub Vec<String>);

impl Object for VersionSet {
    fn type_name(&self) -> &str {
        "chartutil.VersionSet"
    }

    fn kind(&self) -> &str {
        "slice"
    }

    fn method(&self, name: &str) -> Option<Signature> {
        (name == "Has").then(|| Signature::fixed(&[Ty::String]))
    }

    fn call(&self, name: &str, args: &[Value]) -> Result<Value, FuncError> {
        match name {
            "Has" => {
                let want = args.first().and_then(Value::as_str).unwrap_or("");
                Ok(Value::Bool(self.0.iter().any(|v| v == want)))
            }
            other => Err(FuncError::msg(format!("can't call method {other}"))),
        }
    }

    fn display(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// What `.Capabilities` holds.
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// The Kubernetes version, `v1.x.y` (possibly with a suffix).
    pub kube_version: String,
    /// API group versions and `group/version/Kind`s the cluster serves.
    pub api_versions: Vec<String>,
    /// Helm's version (`v3.x.y`).
    pub helm_version: String,
    /// Helm's Go version, as `.Capabilities.HelmVersion.GoVersion` prints it.
    pub go_version: String,
}

impl Capabilities {
    /// The object templates see.
    pub fn to_template(&self) -> Value {
        let v = self.kube_version.trim_start_matches('v');
        let mut parts = v.splitn(3, '.');
        let major = parts.next().unwrap_or("").to_string();
        let minor = parts.next().unwrap_or("").to_string();
        let kube = Struct {
            type_name: "chartutil.KubeVersion",
            fields: BTreeMap::from([
                ("Version", Value::string(&self.kube_version)),
                ("Major", Value::string(&major)),
                ("Minor", Value::string(&minor)),
                ("GitVersion", Value::string(&self.kube_version)),
                ("String", Value::string(&self.kube_version)),
            ]),
            display: self.kube_version.clone(),
        };
        let helm = Struct {
            type_name: "version.BuildInfo",
            fields: BTreeMap::from([
                ("Version", Value::string(&self.helm_version)),
                ("GitCommit", Value::string("")),
                ("GitTreeState", Value::string("clean")),
                ("GoVersion", Value::string(&self.go_version)),
            ]),
            display: format!("{{{}  clean {}}}", self.helm_version, self.go_version),
        };
        let caps = Struct {
            type_name: "*chartutil.Capabilities",
            fields: BTreeMap::from([
                ("KubeVersion", Value::Object(Arc::new(kube))),
                ("APIVersions", Value::Object(Arc::new(VersionSet(self.api_versions.clone())))),
                ("HelmVersion", Value::Object(Arc::new(helm))),
            ]),
            display: String::new(),
        };
        Value::Object(Arc::new(caps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        glob_match(&p.chars().collect::<Vec<_>>(), &n.chars().collect::<Vec<_>>())
    }

    #[test]
    fn gobwas_globs() {
        assert!(m("files/*", "files/a.txt"));
        assert!(!m("files/*", "files/d/a.txt"));
        assert!(m("files/**", "files/d/a.txt"));
        assert!(m("**.yaml", "a/b/c.yaml"));
        assert!(m("{a,b}/*.txt", "b/x.txt"));
        assert!(m("[!x]?", "ab"));
    }
}
