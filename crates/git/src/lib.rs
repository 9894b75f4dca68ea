//! Git for GitRepository sources, on gix.
//!
//! - [`list_refs`] asks a remote which refs it has (no objects move), so a
//!   controller can resolve its reference and skip the clone when the
//!   commit is the one it already packed.
//! - [`resolve`] picks the commit a Flux `ref` names, with Flux's precedence:
//!   commit > name > semver > tag > branch (default branch `master`).
//! - [`checkout`] fetches just that commit (depth 1 for refs) into a scratch
//!   repository and writes its tree into a directory.
//! - [`parse_repo_spec`] and [`fetch_remote_base`] read and fetch kustomize
//!   remote bases (`https://host/org/repo//path?ref=v1` and kustomize's other
//!   forms).
//!
//! Deadlines: [`list_refs_until`] and [`CheckoutOptions::deadline`] share one
//! instant, enforced inside the operation (HTTP request timeouts, ssh killed
//! by `timeout(1)`, the transfer interrupted), so a reconcile takes at most
//! its `spec.timeout` and nothing keeps running after it gives up.
//!
//! Authentication: HTTP basic (user/password), bearer tokens, a custom CA
//! and client certificates over HTTPS; SSH keys with `known_hosts` (run
//! through the `ssh` program, with host keys checked strictly).
//!
//! Every call blocks: run it off the async runtime.

#![deny(missing_docs)]

mod auth;
mod export;
mod reference;
pub mod remote_base;
mod submodule;
mod verify;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

pub use auth::Auth;
pub use reference::{GitRef, RemoteRef, Resolved, resolve};
pub use remote_base::{FetchedBase, RepoSpec, fetch_remote_base, parse_repo_spec};
pub use verify::{TrustedKeys, VerifyError};

/// What went wrong talking to a remote or reading a repository.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL cannot be used.
    #[error("invalid git URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The credentials are unusable (a malformed key or certificate).
    #[error("invalid credentials: {0}")]
    InvalidAuth(String),
    /// The remote refused the credentials.
    #[error("authentication failed for {url}: {message}")]
    AuthenticationFailed {
        /// The remote.
        url: String,
        /// What the transport said.
        message: String,
    },
    /// Listing or fetching from the remote failed.
    #[error("failed to fetch from {url}: {message}")]
    FetchFailed {
        /// The remote.
        url: String,
        /// What the transport said.
        message: String,
    },
    /// The reference names nothing on the remote.
    #[error("{0}")]
    RefNotFound(String),
    /// The semver range does not parse.
    #[error("invalid semver range {range:?}: {message}")]
    InvalidSemver {
        /// The range.
        range: String,
        /// Why.
        message: String,
    },
    /// The fetched objects are unreadable or hostile.
    #[error("failed to check out {commit}: {message}")]
    CheckoutFailed {
        /// The commit.
        commit: String,
        /// Why.
        message: String,
    },
    /// The operation ran past its deadline (`spec.timeout`) and was stopped.
    #[error("timed out talking to {url}: the deadline passed ({late:?} ago): {message}")]
    Timeout {
        /// The remote.
        url: String,
        /// How long after the deadline the operation stopped.
        late: Duration,
        /// What the transport said when it was stopped.
        message: String,
    },
    /// A local filesystem operation failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Options of a checkout.
#[derive(Debug, Clone, Default)]
pub struct CheckoutOptions {
    /// Give up after this long from the call (the GitRepository's `spec.timeout`).
    pub timeout: Option<Duration>,
    /// Give up at this instant: one deadline shared with [`list_refs_until`],
    /// so that listing and fetching together take at most `spec.timeout`.
    /// The earlier of this and `timeout` holds.
    pub deadline: Option<Instant>,
    /// Write only these directories of the tree (`spec.sparseCheckout`).
    pub sparse: Vec<String>,
    /// Check out submodules too, recursively, at the commits the tree
    /// records (`spec.recurseSubmodules`), with the same credentials.
    pub recurse_submodules: bool,
}

/// The commit a checkout wrote, with what verification needs.
#[derive(Debug, Clone)]
pub struct Commit {
    /// The full hex hash.
    pub hash: String,
    /// The commit message.
    pub message: String,
    /// The author line (`Name <email>`).
    pub author: String,
    /// The `gpgsig` header (PGP or SSH armored signature), if signed.
    pub signature: Option<String>,
    /// The commit object without its signature: the signed payload.
    pub payload: Vec<u8>,
    /// The annotated tag the reference pointed to, if any.
    pub tag: Option<Tag>,
}

/// An annotated tag object.
#[derive(Debug, Clone)]
pub struct Tag {
    /// The tag's name.
    pub name: String,
    /// The armored signature, if signed.
    pub signature: Option<String>,
    /// The tag object without its signature: the signed payload.
    pub payload: Vec<u8>,
}

/// Lists the refs of the remote at `url`.
pub fn list_refs(url: &str, auth: &Auth) -> Result<Vec<RemoteRef>> {
    list_refs_until(url, auth, None)
}

/// Lists the refs of the remote at `url`, giving up with [`Error::Timeout`]
/// at `deadline`: requests end by then and ssh is killed then, so no thread
/// or process outlives the call.
pub fn list_refs_until(url: &str, auth: &Auth, deadline: Option<Instant>) -> Result<Vec<RemoteRef>> {
    let scratch = tempfile::Builder::new().prefix("ferry-git-ls-").tempdir()?;
    let mut repo = auth::scratch_repo(scratch.path(), url, auth)?;
    auth::configure(&mut repo, url, auth, deadline)?;
    let remote = repo
        .remote_at(url)
        .map_err(|e| Error::InvalidUrl { url: url.to_string(), reason: e.to_string() })?
        .with_refspecs(Some("+refs/*:refs/*"), gix::remote::Direction::Fetch)
        .map_err(|e| Error::InvalidUrl { url: url.to_string(), reason: e.to_string() })?;
    let connection = auth::connect(&repo, &remote, url, auth, deadline)?;
    let options = gix::remote::ref_map::Options { prefix_from_spec_as_filter_on_remote: false, ..Default::default() };
    let (ref_map, _handshake) =
        connection.ref_map(gix::progress::Discard, options).map_err(|e| auth::fail(&repo, url, &e, deadline))?;
    Ok(ref_map.remote_refs.iter().filter_map(reference::remote_ref).collect())
}

/// Fetches the commit `resolved` names from `url` and writes its tree into
/// `dir` (which must be empty or missing). Returns the commit.
pub fn checkout(url: &str, auth: &Auth, resolved: &Resolved, dir: &Path, options: &CheckoutOptions) -> Result<Commit> {
    let deadline = match (options.timeout.map(|timeout| Instant::now() + timeout), options.deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    // A named ref travels by name at depth 1; a bare commit by its hash; a
    // commit pinned on a branch with the branch's history, where it must be.
    let (scratch, repo) = match &resolved.reference {
        Some(name) => fetch(url, auth, &format!("+{name}:{FETCHED}"), !resolved.on_branch, deadline)?,
        None => fetch(url, auth, &format!("+{}:{FETCHED}", resolved.commit), false, deadline)?,
    };
    if resolved.on_branch {
        reference::ensure_on_branch(&repo, FETCHED, resolved)?;
    }
    let (mut commit, gitlinks) = export::commit_to_dir(&repo, &resolved.commit, dir, &options.sparse)?;
    if let Some(tag) = &resolved.tag_object {
        commit.tag = Some(export::read_tag(&repo, tag)?);
    }
    if options.recurse_submodules && !gitlinks.is_empty() {
        let modules = export::gitmodules(&repo, &resolved.commit)?;
        drop(repo);
        drop(scratch);
        submodule::checkout_all(url, auth, modules.as_deref(), &gitlinks, dir, deadline, 1)?;
    }
    Ok(commit)
}

/// Where fetched commits land in scratch repositories.
const FETCHED: &str = "refs/ferry/fetched";

/// Fetches `refspec` from `url` into a scratch repository, shallow when
/// asked; the scratch directory lives as long as the returned guard.
pub(crate) fn fetch(
    url: &str,
    auth: &Auth,
    refspec: &str,
    shallow: bool,
    deadline: Option<Instant>,
) -> Result<(tempfile::TempDir, gix::Repository)> {
    let scratch = tempfile::Builder::new().prefix("ferry-git-fetch-").tempdir()?;
    let mut repo = auth::scratch_repo(scratch.path(), url, auth)?;
    auth::configure(&mut repo, url, auth, deadline)?;
    let remote = repo
        .remote_at(url)
        .map_err(|e| Error::InvalidUrl { url: url.to_string(), reason: e.to_string() })?
        .with_refspecs(Some(refspec), gix::remote::Direction::Fetch)
        .map_err(|e| Error::InvalidUrl { url: url.to_string(), reason: e.to_string() })?
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    let connection = auth::connect(&repo, &remote, url, auth, deadline)?;
    let interrupt = Arc::new(AtomicBool::new(false));
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| auth::fail(&repo, url, &e, deadline))?;
    let prepare = if shallow {
        prepare.with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(std::num::NonZeroU32::MIN))
    } else {
        prepare
    };
    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    let _watchdog = timeout.map(|timeout| Watchdog::start(timeout, interrupt.clone()));
    prepare.receive(gix::progress::Discard, &interrupt).map_err(|e| auth::fail(&repo, url, &e, deadline))?;
    drop(remote);
    Ok((scratch, repo))
}

/// Sets the interrupt flag when a checkout runs past its timeout.
struct Watchdog {
    done: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    fn start(timeout: Duration, flag: Arc<AtomicBool>) -> Self {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(timeout) {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
        Self { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let _ = self.done.send(());
    }
}
