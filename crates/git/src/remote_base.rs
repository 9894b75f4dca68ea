//! Kustomize remote bases: a git repository named in a kustomization's
//! `resources` (`https://github.com/org/repo//deploy?ref=v1`), parsed with the
//! grammar kustomize accepts (its `api/internal/git/repospec.go`) and fetched
//! shallow, at one ref, into a directory, as Flux's kustomize-controller does
//! unless `--no-remote-bases=true`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Auth, CheckoutOptions, Error, RemoteRef, Resolved, Result};

/// How long a remote base's git commands may take when the URL gives no
/// `?timeout=`: kustomize's own default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(27);

/// A remote base, split the way kustomize splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    /// What git clones: scheme, user and host, then the repository path
    /// (`https://github.com/org/repo`, `git@github.com:org/repo`,
    /// `ssh://git@host/org/repo.git`).
    pub clone_url: String,
    /// The kustomization root inside the repository, `/`-separated, empty
    /// for the repository's root.
    pub path: String,
    /// `?ref=` (or `?version=`): a branch, tag, full ref name or commit;
    /// `None` for the remote's `HEAD`.
    pub reference: Option<String>,
    /// `?timeout=`: whole seconds or a Go duration (`90s`, `1m30s`).
    pub timeout: Duration,
    /// `?submodules=`: check submodules out too (kustomize's default: yes).
    pub submodules: bool,
}

/// A fetched remote base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedBase {
    /// The kustomization root: the checkout directory joined with the spec's path.
    pub root: PathBuf,
    /// The commit checked out.
    pub commit: String,
}

/// Parses `spec` as kustomize parses a git remote base. Anything else (a
/// local path, a plain file URL) is an [`Error::InvalidUrl`], which is how a
/// caller tells remote bases from other entries, as kustomize does.
pub fn parse_repo_spec(spec: &str) -> Result<RepoSpec> {
    let invalid = |reason: &str| Error::InvalidUrl { url: spec.to_string(), reason: reason.to_string() };
    if spec.starts_with('/') {
        return Err(invalid("looks like an absolute path"));
    }
    let (rest, query) = spec.split_once('?').unwrap_or((spec, ""));
    let (reference, timeout, submodules) = parse_query(query);
    let (host, rest) = split_host(rest).map_err(invalid)?;
    let segments = if host.starts_with(FILE) { None } else { Some(2) };
    let (repo_path, path) = split_path(rest, segments).ok_or_else(|| invalid("failed to parse repo path segment"))?;
    if repo_path.is_empty() {
        return Err(invalid("failed to parse repo path segment"));
    }
    let path = path.trim_start_matches('/').to_string();
    if exits_repo(&path) {
        return Err(invalid("the path leaves the repository"));
    }
    Ok(RepoSpec { clone_url: format!("{host}{repo_path}"), path, reference, timeout, submodules })
}

const FILE: &str = "file://";
const SCHEMES: [&str; 4] = ["ssh://", "https://", "http://", FILE];

/// Splits the scheme, user and host (`https://host/`, `git@host:`) from the
/// path that follows.
fn split_host(spec: &str) -> Result<(String, &str), &'static str> {
    // go-getter's forced git protocol: kustomize strips it.
    let spec = strip_prefix_ignore_case(spec, "git::").unwrap_or(spec);
    let (scheme, rest) =
        SCHEMES.iter().find_map(|s| strip_prefix_ignore_case(spec, s).map(|rest| (*s, rest))).unwrap_or(("", spec));
    // A user: a letter, then letters, digits and dashes, then `@`.
    let user_len = rest
        .find('@')
        .filter(|&at| {
            let user = &rest[..at];
            user.starts_with(|c: char| c.is_ascii_alphabetic())
                && user.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map_or(0, |at| at + 1);
    let (user, rest) = rest.split_at(user_len);
    let lower = rest.to_ascii_lowercase();
    let github = lower.starts_with("github.com/") || lower.starts_with("github.com:");
    // scp-like syntax (`user@host:path`) needs no scheme and a user, or GitHub.
    let scp = scheme.is_empty() && (!user.is_empty() || github);
    if scheme.is_empty() && !scp {
        return Err("failed to parse scheme");
    }
    if scheme == FILE {
        return Ok((format!("{scheme}{user}"), rest));
    }
    let slash = rest.find('/');
    let separator = match (scp, rest.find(':')) {
        (true, Some(colon)) if colon > 0 && slash.is_none_or(|s| colon < s) => Some(colon),
        _ => slash,
    };
    let (mut host, rest) = match separator {
        Some(i) => (rest[..=i].to_string(), &rest[i + 1..]),
        None => (rest.to_string(), ""),
    };
    let (mut scheme, mut user) = (scheme.to_string(), user.to_string());
    if github {
        // GitHub is normalised: ssh as `git@github.com:`, anything else https.
        if scheme.starts_with("ssh://") || !user.is_empty() {
            scheme.clear();
            host = "github.com:".into();
        } else {
            (scheme, user) = ("https://".into(), String::new());
            host = "github.com/".into();
        }
    }
    if host.is_empty() {
        return Err("failed to parse host segment");
    }
    Ok((format!("{scheme}{user}{host}"), rest))
}

/// Splits the repository path from the kustomization path: at an explicit
/// marker (`_git/<repo>`, `//`, `.git`), else after `segments` segments
/// (org/repo), or all of it for `file://`.
fn split_path(rest: &str, segments: Option<usize>) -> Option<(String, String)> {
    if let Some(i) = rest.find("_git/") {
        let after = &rest[i + "_git/".len()..];
        let (repo, path) = after.split_once('/').unwrap_or((after, ""));
        return Some((format!("{}{repo}", &rest[..i + "_git/".len()]), path.to_string()));
    }
    if let Some(i) = rest.find("//") {
        return Some((rest[..i].to_string(), rest[i + 2..].to_string()));
    }
    if let Some(i) = rest.find(".git") {
        let end = i + ".git".len();
        return Some((rest[..end].to_string(), rest[end..].to_string()));
    }
    let Some(count) = segments else { return Some((rest.to_string(), String::new())) };
    let parts: Vec<&str> = rest.split('/').collect();
    (parts.len() >= count).then(|| (parts[..count].join("/"), parts[count..].join("/")))
}

fn exits_repo(path: &str) -> bool {
    let mut depth = 0usize;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if depth == 0 => return true,
            ".." => depth -= 1,
            _ => depth += 1,
        }
    }
    false
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len() && s.is_char_boundary(prefix.len()) && s[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &s[prefix.len()..])
}

/// `ref` (or `version`), `timeout` and `submodules` from the query; a query
/// that does not parse gives the defaults, as in kustomize.
fn parse_query(query: &str) -> (Option<String>, Duration, bool) {
    let defaults = (None, DEFAULT_TIMEOUT, true);
    let Some(pairs) = query_pairs(query) else { return defaults };
    let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let reference = get("ref").or_else(|| get("version")).map(str::to_string);
    let timeout = get("timeout")
        .and_then(|v| match v.parse::<u64>() {
            Ok(seconds) if seconds > 0 => Some(Duration::from_secs(seconds)),
            _ => go_duration(v).filter(|d| !d.is_zero()),
        })
        .unwrap_or(DEFAULT_TIMEOUT);
    let submodules = get("submodules").and_then(go_bool).unwrap_or(true);
    (reference, timeout, submodules)
}

/// `application/x-www-form-urlencoded` pairs; `None` on a bad escape or a
/// `;`, which Go's `url.ParseQuery` refuses.
fn query_pairs(query: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        if part.contains(';') {
            return None;
        }
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((unescape(key)?, unescape(value)?));
    }
    Some(pairs)
}

fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A Go duration (`1h2m3.5s`, `300ms`), as `time.ParseDuration` reads it.
fn go_duration(s: &str) -> Option<Duration> {
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() || rest.starts_with('-') {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Fetches the remote base `spec` at its ref, shallow, into `dir` (empty or
/// missing), within the earlier of `deadline` and the spec's own timeout.
/// `file://` bases are refused: they would read the controller's own disk.
pub fn fetch_remote_base(spec: &RepoSpec, auth: &Auth, dir: &Path, deadline: Option<Instant>) -> Result<FetchedBase> {
    if spec.clone_url.get(..FILE.len()).is_some_and(|s| s.eq_ignore_ascii_case(FILE)) {
        return Err(Error::InvalidUrl {
            url: spec.clone_url.clone(),
            reason: "file:// remote bases are refused: they would read the controller's own filesystem".into(),
        });
    }
    let own = Instant::now() + spec.timeout;
    let deadline = Some(deadline.map_or(own, |d| d.min(own)));
    let url = spec.clone_url.as_str();
    let refs = crate::list_refs_until(url, auth, deadline)?;
    let resolved = resolve(&refs, spec.reference.as_deref())?;
    let options = CheckoutOptions { deadline, recurse_submodules: spec.submodules, ..CheckoutOptions::default() };
    let commit = crate::checkout(url, auth, &resolved, dir, &options)?;
    Ok(FetchedBase { root: dir.join(&spec.path), commit: commit.hash })
}

/// What `git fetch origin <ref>` would fetch: the first remote ref the name
/// matches in git's lookup order (as given, `refs/`, `refs/tags/`,
/// `refs/heads/`), else a full commit hash; `HEAD` when unset.
fn resolve(refs: &[RemoteRef], reference: Option<&str>) -> Result<Resolved> {
    let wanted = reference.unwrap_or("HEAD");
    let candidates =
        [wanted.to_string(), format!("refs/{wanted}"), format!("refs/tags/{wanted}"), format!("refs/heads/{wanted}")];
    if let Some(found) = candidates.iter().find_map(|name| refs.iter().find(|r| &r.name == name)) {
        return Ok(Resolved {
            reference: Some(found.name.clone()),
            commit: found.commit().to_string(),
            tag_object: found.peeled.as_ref().map(|_| found.target.clone()),
            revision: format!("{wanted}@sha1:{}", found.commit()),
            on_branch: false,
        });
    }
    if wanted.len() == 40 && wanted.chars().all(|c| c.is_ascii_hexdigit()) {
        let commit = wanted.to_ascii_lowercase();
        return Ok(Resolved {
            reference: None,
            revision: format!("sha1:{commit}"),
            commit,
            tag_object: None,
            on_branch: false,
        });
    }
    Err(Error::RefNotFound(format!("couldn't find remote ref {wanted:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(spec: &str) -> (String, String, Option<String>) {
        let s = parse_repo_spec(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
        (s.clone_url, s.path, s.reference)
    }

    fn ok(spec: &str, clone: &str, path: &str, reference: Option<&str>) {
        assert_eq!(parsed(spec), (clone.to_string(), path.to_string(), reference.map(str::to_string)), "{spec}");
    }

    #[test]
    fn kustomize_repo_spec_forms() {
        ok("https://github.com/org/repo//deploy/base?ref=v1", "https://github.com/org/repo", "deploy/base", Some("v1"));
        ok("https://github.com/org/repo/deploy/base?ref=v1", "https://github.com/org/repo", "deploy/base", Some("v1"));
        ok("github.com/org/repo/deploy?ref=main", "https://github.com/org/repo", "deploy", Some("main"));
        ok("git::https://gitlab.com/org/repo.git//app?ref=v2", "https://gitlab.com/org/repo.git", "app", Some("v2"));
        ok("git::https://gitlab.com/org/repo//app", "https://gitlab.com/org/repo", "app", None);
        ok("ssh://git@host.example/org/repo.git//path", "ssh://git@host.example/org/repo.git", "path", None);
        ok("git@github.com:org/repo.git/path?version=v3", "git@github.com:org/repo.git", "path", Some("v3"));
        ok("ssh://git@github.com/org/repo", "git@github.com:org/repo", "", None);
        ok("git@gitlab.example:group/sub/repo.git//x", "git@gitlab.example:group/sub/repo.git", "x", None);
        ok(
            "https://user@dev.azure.com/org/project/_git/repo/path/to/root?ref=main",
            "https://user@dev.azure.com/org/project/_git/repo",
            "path/to/root",
            Some("main"),
        );
        ok(
            "http://127.0.0.1:40123/app.git//deploy?ref=v1.0.0",
            "http://127.0.0.1:40123/app.git",
            "deploy",
            Some("v1.0.0"),
        );
        ok("HTTPS://Example.com/org/repo", "https://Example.com/org/repo", "", None);
        ok("file:///srv/git/repo//deploy", "file:///srv/git/repo", "deploy", None);
        // ref wins over version; a bad query gives the defaults.
        ok("https://h.example/o/r?version=a&ref=b", "https://h.example/o/r", "", Some("b"));
        ok("https://h.example/o/r?ref=%zz", "https://h.example/o/r", "", None);
    }

    #[test]
    fn query_options() {
        let spec = parse_repo_spec("https://h.example/o/r?timeout=90&submodules=false").unwrap();
        assert_eq!((spec.timeout, spec.submodules), (Duration::from_secs(90), false));
        let spec = parse_repo_spec("https://h.example/o/r?timeout=1m30s").unwrap();
        assert_eq!(spec.timeout, Duration::from_secs(90));
        let spec = parse_repo_spec("https://h.example/o/r?timeout=soon&submodules=maybe").unwrap();
        assert_eq!((spec.timeout, spec.submodules), (DEFAULT_TIMEOUT, true));
    }

    #[test]
    fn what_is_not_a_remote_base() {
        for spec in [
            "/abs/path",
            "deploy/base",
            "../base",
            "host.example/org/repo",
            "https://host.example",
            "https://host.example/org",
            "https://h.example/o/r//../../etc",
            "ftp://h.example/o/r",
        ] {
            assert!(matches!(parse_repo_spec(spec), Err(Error::InvalidUrl { .. })), "{spec}");
        }
    }

    #[test]
    fn refs_resolve_as_git_fetch_does() {
        let r = |name: &str, c: &str| RemoteRef { name: name.into(), target: c.repeat(40), peeled: None };
        let refs = [r("HEAD", "a"), r("refs/heads/main", "a"), r("refs/heads/v1", "b"), r("refs/tags/v1", "c")];
        assert_eq!(resolve(&refs, None).unwrap().commit, "a".repeat(40));
        assert_eq!(resolve(&refs, Some("v1")).unwrap().reference.as_deref(), Some("refs/tags/v1"), "tags first");
        assert_eq!(resolve(&refs, Some("heads/v1")).unwrap().commit, "b".repeat(40));
        assert_eq!(resolve(&refs, Some(&"D".repeat(40))).unwrap().reference, None);
        assert!(matches!(resolve(&refs, Some("nope")), Err(Error::RefNotFound(_))));
    }
}
