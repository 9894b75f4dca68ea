//! Resolving a GitRepository's `spec.ref` against a remote's refs.

use ferry_semver::Constraints;

use crate::{Error, Result};

/// A GitRepository `spec.ref`. When several fields are set, Flux takes the
/// first of commit, name, semver, tag, branch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitRef {
    /// A branch name (`main`).
    pub branch: Option<String>,
    /// A tag name (`v1.0.0`).
    pub tag: Option<String>,
    /// A semver range over the tags (`>=1.0.0 <2.0.0`).
    pub semver: Option<String>,
    /// A full reference name (`refs/pull/1/head`, `refs/heads/main`).
    pub name: Option<String>,
    /// A commit hash; `branch` then names where it lives, for the revision.
    pub commit: Option<String>,
}

/// A ref the remote advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRef {
    /// The full name (`refs/heads/main`, `HEAD`).
    pub name: String,
    /// What the ref points to (an annotated tag object for such tags).
    pub target: String,
    /// For annotated tags, the commit the tag points to.
    pub peeled: Option<String>,
}

impl RemoteRef {
    /// The commit this ref ends at.
    pub fn commit(&self) -> &str {
        self.peeled.as_deref().unwrap_or(&self.target)
    }
}

/// A reference resolved to a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The full ref to fetch, or `None` to fetch the commit by hash.
    pub reference: Option<String>,
    /// The commit (full hex hash).
    pub commit: String,
    /// The annotated tag object the ref points to, if any.
    pub tag_object: Option<String>,
    /// The artifact revision as Flux writes it: `main@sha1:<hash>`,
    /// `v1.0.0@sha1:<hash>`, `refs/pull/1/head@sha1:<hash>` or `sha1:<hash>`.
    pub revision: String,
    /// `ref.commit` with `ref.branch`: the commit must be in the branch's
    /// history. As Flux clones that branch and then looks the commit up in
    /// it, the checkout fetches the branch's whole history (`reference`) and
    /// refuses a commit that is not on it.
    pub on_branch: bool,
}

pub(crate) fn remote_ref(r: &gix::protocol::handshake::Ref) -> Option<RemoteRef> {
    use gix::protocol::handshake::Ref;
    match r {
        Ref::Direct { full_ref_name, object } => {
            Some(RemoteRef { name: full_ref_name.to_string(), target: object.to_string(), peeled: None })
        }
        Ref::Peeled { full_ref_name, tag, object } => Some(RemoteRef {
            name: full_ref_name.to_string(),
            target: tag.to_string(),
            peeled: Some(object.to_string()),
        }),
        Ref::Symbolic { full_ref_name, tag, object, .. } => Some(RemoteRef {
            name: full_ref_name.to_string(),
            target: tag.map_or_else(|| object.to_string(), |t| t.to_string()),
            peeled: tag.map(|_| object.to_string()),
        }),
        Ref::Unborn { .. } => None,
    }
}

fn tag_object(found: &RemoteRef) -> Option<String> {
    found.peeled.as_ref().map(|_| found.target.clone())
}

fn find<'a>(refs: &'a [RemoteRef], name: &str) -> Option<&'a RemoteRef> {
    refs.iter().find(|r| r.name == name)
}

/// Resolves `reference` against the remote's `refs` with Flux's precedence.
pub fn resolve(refs: &[RemoteRef], reference: &GitRef) -> Result<Resolved> {
    let non_empty = |s: &Option<String>| s.as_deref().filter(|v| !v.is_empty()).map(str::to_string);
    if let Some(commit) = non_empty(&reference.commit) {
        if commit.len() < 40 || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::RefNotFound(format!("commit {commit:?} is not a full SHA-1 hash")));
        }
        let commit = commit.to_ascii_lowercase();
        return Ok(match non_empty(&reference.branch) {
            Some(branch) => {
                let name = format!("refs/heads/{branch}");
                if find(refs, &name).is_none() {
                    return Err(Error::RefNotFound(format!("couldn't find remote ref \"{name}\"")));
                }
                Resolved {
                    reference: Some(name),
                    revision: format!("{branch}@sha1:{commit}"),
                    commit,
                    tag_object: None,
                    on_branch: true,
                }
            }
            None => Resolved {
                reference: None,
                revision: format!("sha1:{commit}"),
                commit,
                tag_object: None,
                on_branch: false,
            },
        });
    }
    if let Some(name) = non_empty(&reference.name) {
        let found = find(refs, &name).ok_or_else(|| Error::RefNotFound(format!("unable to resolve ref '{name}'")))?;
        return Ok(Resolved {
            reference: Some(name.clone()),
            commit: found.commit().to_string(),
            revision: format!("{name}@sha1:{}", found.commit()),
            tag_object: tag_object(found),
            on_branch: false,
        });
    }
    if let Some(range) = non_empty(&reference.semver) {
        let constraints: Constraints = range
            .parse()
            .map_err(|e: ferry_semver::Error| Error::InvalidSemver { range: range.clone(), message: e.to_string() })?;
        let tags: Vec<&str> = refs.iter().filter_map(|r| r.name.strip_prefix("refs/tags/")).collect();
        let (tag, _) = constraints
            .latest(tags.iter().copied())
            .ok_or_else(|| Error::RefNotFound(format!("no match found for semver: {range}")))?;
        let name = format!("refs/tags/{tag}");
        let found = find(refs, &name).ok_or_else(|| Error::RefNotFound(format!("unable to resolve tag '{tag}'")))?;
        return Ok(Resolved {
            reference: Some(name),
            commit: found.commit().to_string(),
            revision: format!("{tag}@sha1:{}", found.commit()),
            tag_object: tag_object(found),
            on_branch: false,
        });
    }
    if let Some(tag) = non_empty(&reference.tag) {
        let name = format!("refs/tags/{tag}");
        let found =
            find(refs, &name).ok_or_else(|| Error::RefNotFound(format!("couldn't find remote ref \"{name}\"")))?;
        return Ok(Resolved {
            reference: Some(name),
            commit: found.commit().to_string(),
            revision: format!("{tag}@sha1:{}", found.commit()),
            tag_object: tag_object(found),
            on_branch: false,
        });
    }
    let branch = non_empty(&reference.branch).unwrap_or_else(|| "master".to_string());
    let name = format!("refs/heads/{branch}");
    let found = find(refs, &name).ok_or_else(|| Error::RefNotFound(format!("couldn't find remote ref \"{name}\"")))?;
    Ok(Resolved {
        reference: Some(name),
        commit: found.commit().to_string(),
        revision: format!("{branch}@sha1:{}", found.commit()),
        tag_object: None,
        on_branch: false,
    })
}

/// Checks that `commit` is in the history of the fetched branch tip
/// `fetched` (`ref.commit` with `ref.branch`), as Flux's clone of the
/// branch followed by a lookup of the commit does.
pub(crate) fn ensure_on_branch(repo: &gix::Repository, fetched: &str, resolved: &Resolved) -> Result<()> {
    let failed = |message: String| Error::CheckoutFailed { commit: resolved.commit.clone(), message };
    let branch = resolved.reference.as_deref().unwrap_or_default();
    let wanted = gix::ObjectId::from_hex(resolved.commit.as_bytes()).map_err(|e| failed(e.to_string()))?;
    let tip = repo
        .find_reference(fetched)
        .map_err(|e| failed(e.to_string()))?
        .peel_to_id()
        .map_err(|e| failed(e.to_string()))?
        .detach();
    let walk = repo.rev_walk([tip]).all().map_err(|e| failed(e.to_string()))?;
    for info in walk {
        if info.map_err(|e| failed(e.to_string()))?.id == wanted {
            return Ok(());
        }
    }
    let short = branch.strip_prefix("refs/heads/").unwrap_or(branch);
    Err(failed(format!("unable to resolve commit object: the commit is not on branch '{short}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs() -> Vec<RemoteRef> {
        let r = |name: &str, target: &str, peeled: Option<&str>| RemoteRef {
            name: name.into(),
            target: target.repeat(40),
            peeled: peeled.map(|p| p.repeat(40)),
        };
        vec![
            r("HEAD", "a", None),
            r("refs/heads/main", "a", None),
            r("refs/heads/master", "b", None),
            r("refs/tags/v1.0.0", "c", None),
            r("refs/tags/v1.2.0", "d", Some("e")),
            r("refs/tags/v2.0.0-rc.1", "f", None),
            r("refs/tags/not-semver", "9", None),
            r("refs/pull/1/head", "8", None),
        ]
    }

    fn get(reference: GitRef) -> Result<Resolved> {
        resolve(&refs(), &reference)
    }

    #[test]
    fn precedence_commit_name_semver_tag_branch() {
        let all = GitRef {
            branch: Some("main".into()),
            tag: Some("v1.0.0".into()),
            semver: Some("1.x".into()),
            name: Some("refs/pull/1/head".into()),
            commit: Some("7".repeat(40)),
        };
        let pinned = get(all.clone()).unwrap();
        assert_eq!(pinned.revision, format!("main@sha1:{}", "7".repeat(40)));
        assert_eq!((pinned.reference.as_deref(), pinned.on_branch), (Some("refs/heads/main"), true));
        let elsewhere = GitRef { branch: Some("nope".into()), ..all.clone() };
        assert!(matches!(get(elsewhere), Err(Error::RefNotFound(_))), "the branch must exist, as Flux clones it");
        let no_commit = GitRef { commit: None, ..all.clone() };
        assert_eq!(get(no_commit.clone()).unwrap().revision, format!("refs/pull/1/head@sha1:{}", "8".repeat(40)));
        let no_name = GitRef { name: None, ..no_commit };
        let semver = get(no_name.clone()).unwrap();
        assert_eq!(semver.revision, format!("v1.2.0@sha1:{}", "e".repeat(40)), "annotated tags peel to the commit");
        assert_eq!(semver.reference.as_deref(), Some("refs/tags/v1.2.0"));
        assert_eq!(semver.tag_object, Some("d".repeat(40)));
        let no_semver = GitRef { semver: None, ..no_name };
        assert_eq!(get(no_semver.clone()).unwrap().revision, format!("v1.0.0@sha1:{}", "c".repeat(40)));
        let branch_only = GitRef { tag: None, ..no_semver };
        assert_eq!(get(branch_only).unwrap().revision, format!("main@sha1:{}", "a".repeat(40)));
        assert_eq!(get(GitRef::default()).unwrap().revision, format!("master@sha1:{}", "b".repeat(40)));
    }

    #[test]
    fn commits_without_branch_and_bad_input() {
        let bare = get(GitRef { commit: Some("A".repeat(40)), ..GitRef::default() }).unwrap();
        assert_eq!((bare.reference, bare.revision), (None, format!("sha1:{}", "a".repeat(40))));
        assert!(get(GitRef { commit: Some("abc".into()), ..GitRef::default() }).is_err());
        assert!(matches!(get(GitRef { branch: Some("nope".into()), ..GitRef::default() }), Err(Error::RefNotFound(_))));
        assert!(matches!(get(GitRef { tag: Some("v9".into()), ..GitRef::default() }), Err(Error::RefNotFound(_))));
        assert!(matches!(get(GitRef { semver: Some(">=3".into()), ..GitRef::default() }), Err(Error::RefNotFound(_))));
        assert!(matches!(
            get(GitRef { semver: Some("not a range".into()), ..GitRef::default() }),
            Err(Error::InvalidSemver { .. })
        ));
        let pre = get(GitRef { semver: Some(">=2.0.0-0".into()), ..GitRef::default() }).unwrap();
        assert!(pre.revision.starts_with("v2.0.0-rc.1@sha1:"));
    }
}
