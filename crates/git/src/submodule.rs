//! Submodules: each gitlink of a checked-out tree is fetched from the URL
//! `.gitmodules` gives it, at the commit the tree records, with the
//! superproject's credentials, and written into its directory; recursively,
//! as deep as go-git (and so Flux) goes.

use std::path::Path;
use std::time::Instant;

use crate::export::{self, Gitlink};
use crate::{Auth, Error, Result};

/// How deep submodules of submodules are followed (go-git's default).
pub(crate) const MAX_DEPTH: usize = 10;

/// A submodule as `.gitmodules` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Module {
    /// The path in the superproject's tree.
    pub path: String,
    /// The URL, as written (maybe relative to the superproject's).
    pub url: String,
}

/// Reads the `submodule.<name>.path` and `.url` pairs of a `.gitmodules` file.
pub(crate) fn parse_gitmodules(bytes: &[u8]) -> Result<Vec<Module>> {
    let invalid = |message: String| Error::CheckoutFailed { commit: ".gitmodules".into(), message };
    let file = gix::config::File::from_bytes_no_includes(
        bytes,
        gix::config::file::Metadata::api(),
        gix::config::file::init::Options::default(),
    )
    .map_err(|e| invalid(format!("invalid .gitmodules: {e}")))?;
    let mut modules = Vec::new();
    if let Some(sections) = file.sections_by_name("submodule") {
        for section in sections {
            let (Some(path), Some(url)) = (section.value("path"), section.value("url")) else { continue };
            let path = path.to_string().trim_matches('/').to_string();
            modules.push(Module { path, url: url.to_string() });
        }
    }
    Ok(modules)
}

/// The URL a submodule is fetched from: relative URLs (`./x`, `../x`) are
/// resolved against the superproject's, as git does. Only http(s) and ssh
/// (including `user@host:path`) are accepted: a hostile `.gitmodules` must
/// not make the controller read local files or run transports' helpers.
pub(crate) fn resolve_url(parent: &str, url: &str) -> Result<String> {
    let refuse = |reason: &str| Error::InvalidUrl { url: url.to_string(), reason: reason.to_string() };
    let resolved = if url.starts_with("./") || url.starts_with("../") {
        let mut base = parent.trim_end_matches('/').to_string();
        let mut rest = url;
        loop {
            if let Some(r) = rest.strip_prefix("./") {
                rest = r;
            } else if let Some(r) = rest.strip_prefix("../") {
                rest = r;
                let scheme_end = base.find("://").map_or(0, |i| i + 3);
                match base.rfind('/') {
                    Some(i) if i >= scheme_end => base.truncate(i),
                    _ => return Err(refuse("the relative URL climbs above the superproject's host")),
                }
            } else {
                break;
            }
        }
        format!("{base}/{rest}")
    } else {
        url.to_string()
    };
    let scp_like = !resolved.contains("://")
        && resolved.split_once(':').is_some_and(|(host, _)| host.contains('@') && !host.contains('/'));
    let allowed = ["http://", "https://", "ssh://"].iter().any(|scheme| resolved.starts_with(scheme)) || scp_like;
    if !allowed || resolved.starts_with("-") {
        return Err(refuse("submodule URLs must be http, https or ssh"));
    }
    Ok(resolved)
}

/// Fetches and writes every gitlink of a superproject checked out at `dir`
/// from `url`, then theirs, down to [`MAX_DEPTH`].
pub(crate) fn checkout_all(
    url: &str,
    auth: &Auth,
    gitmodules: Option<&[u8]>,
    gitlinks: &[Gitlink],
    dir: &Path,
    deadline: Option<Instant>,
    depth: usize,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::CheckoutFailed {
            commit: gitlinks.first().map(|g| g.commit.clone()).unwrap_or_default(),
            message: format!("submodules nest deeper than {MAX_DEPTH} levels"),
        });
    }
    let modules = gitmodules.map(parse_gitmodules).transpose()?.unwrap_or_default();
    for link in gitlinks {
        let Some(module) = modules.iter().find(|m| m.path == link.path) else {
            return Err(Error::CheckoutFailed {
                commit: link.commit.clone(),
                message: format!("no URL in .gitmodules for submodule path '{}'", link.path),
            });
        };
        let sub_url = resolve_url(url, &module.url)?;
        let target = dir.join(&link.path);
        // A fetch of the bare commit at depth 1 works with servers that allow
        // any reachable object to be asked for (protocol v2 does); otherwise
        // fetch the whole history and find the commit in it.
        let fetched =
            match crate::fetch(&sub_url, auth, &format!("+{}:{}", link.commit, crate::FETCHED), true, deadline) {
                Ok(fetched) => fetched,
                Err(Error::AuthenticationFailed { url, message }) => {
                    return Err(Error::AuthenticationFailed { url, message });
                }
                Err(_) => {
                    crate::fetch(&sub_url, auth, "+refs/*:refs/ferry/all/*", false, deadline).map_err(|e| match e {
                        Error::FetchFailed { url, message } => {
                            Error::FetchFailed { url, message: format!("submodule '{}': {message}", link.path) }
                        }
                        other => other,
                    })?
                }
            };
        let (_scratch, repo) = fetched;
        let (_, nested) = export::commit_to_dir(&repo, &link.commit, &target, &[])?;
        if !nested.is_empty() {
            let nested_modules = export::gitmodules(&repo, &link.commit)?;
            checkout_all(&sub_url, auth, nested_modules.as_deref(), &nested, &target, deadline, depth + 1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gitmodules() {
        let text =
            b"[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = ../lib.git\n[submodule \"x\"]\n\turl = https://h/x\n";
        let modules = parse_gitmodules(text).unwrap();
        assert_eq!(modules, [Module { path: "vendor/lib".into(), url: "../lib.git".into() }]);
        assert!(parse_gitmodules(b"[submodule \"a\"\n").is_err());
    }

    #[test]
    fn resolves_relative_urls_and_refuses_local_ones() {
        let parent = "https://git.example.com/org/app.git";
        assert_eq!(resolve_url(parent, "../lib.git").unwrap(), "https://git.example.com/org/lib.git");
        assert_eq!(resolve_url(parent, "./lib.git").unwrap(), "https://git.example.com/org/app.git/lib.git");
        assert_eq!(resolve_url(parent, "../../other/lib").unwrap(), "https://git.example.com/other/lib");
        assert!(resolve_url(parent, "../../../../x").is_err());
        assert_eq!(resolve_url(parent, "ssh://git@h/x.git").unwrap(), "ssh://git@h/x.git");
        assert_eq!(resolve_url(parent, "git@github.com:org/x.git").unwrap(), "git@github.com:org/x.git");
        for local in ["/etc", "file:///etc", "ext::sh -c id", "lib", "C:/x", "-oProxyCommand=x"] {
            assert!(resolve_url(parent, local).is_err(), "{local}");
        }
    }
}
