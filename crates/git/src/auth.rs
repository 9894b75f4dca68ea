//! Credentials for a remote, and connections that use them.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gix::protocol::transport::client::blocking_io::http;

use crate::{Error, Result};

/// Credentials from a GitRepository's `secretRef` (and `proxySecretRef`).
#[derive(Clone, Default)]
pub struct Auth {
    /// HTTP basic auth user name.
    pub username: Option<String>,
    /// HTTP basic auth password.
    pub password: Option<String>,
    /// An HTTP bearer token.
    pub bearer_token: Option<String>,
    /// CA certificates (PEM) to trust for HTTPS, instead of the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate (PEM) for mutual TLS.
    pub cert_pem: Option<Vec<u8>>,
    /// The client certificate's key (PEM).
    pub key_pem: Option<Vec<u8>>,
    /// An SSH private key (OpenSSH or PEM format).
    pub ssh_identity: Option<Vec<u8>>,
    /// The `known_hosts` lines the SSH server's key must match.
    pub ssh_known_hosts: Option<Vec<u8>>,
    /// The SSH key's passphrase.
    pub ssh_passphrase: Option<String>,
    /// An HTTP(S) proxy URL (with credentials, if any).
    pub proxy: Option<String>,
    /// SSH key exchange algorithms, most preferred first (empty: ssh's own).
    pub ssh_kex_algorithms: Vec<String>,
    /// SSH host key algorithms, most preferred first (empty: ssh's own).
    pub ssh_host_key_algorithms: Vec<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |present: bool| if present { "<set>" } else { "<unset>" };
        f.debug_struct("Auth")
            .field("username", &self.username)
            .field("password", &set(self.password.is_some()))
            .field("bearer_token", &set(self.bearer_token.is_some()))
            .field("ca_pem", &set(self.ca_pem.is_some()))
            .field("cert_pem", &set(self.cert_pem.is_some()))
            .field("ssh_identity", &set(self.ssh_identity.is_some()))
            .field("ssh_known_hosts", &set(self.ssh_known_hosts.is_some()))
            .field("proxy", &set(self.proxy.is_some()))
            .field("ssh_kex_algorithms", &self.ssh_kex_algorithms)
            .field("ssh_host_key_algorithms", &self.ssh_host_key_algorithms)
            .finish()
    }
}

fn is_ssh(url: &str) -> bool {
    url.starts_with("ssh://") || (!url.contains("://") && url.contains('@') && url.contains(':'))
}

/// A bare scratch repository that reads no configuration but its own.
pub(crate) fn scratch_repo(dir: &Path, url: &str, auth: &Auth) -> Result<gix::Repository> {
    if is_ssh(url) && auth.ssh_identity.is_some() && auth.ssh_known_hosts.is_none() {
        return Err(Error::InvalidAuth("an SSH identity needs 'known_hosts' to check the server's key".into()));
    }
    // Flux's go-git dials SSH through a SOCKS5 proxy; Ferry runs OpenSSH,
    // which has no proxy of its own: refused, never silently bypassed.
    if is_ssh(url) && auth.proxy.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err(Error::InvalidAuth(
            "a proxy (proxySecretRef) is supported for HTTP(S) repositories only, not for SSH".into(),
        ));
    }
    gix::init_bare(dir).map_err(|e| Error::FetchFailed { url: url.to_string(), message: e.to_string() })?;
    gix::open_opts(dir, gix::open::Options::isolated())
        .map_err(|e| Error::FetchFailed { url: url.to_string(), message: e.to_string() })
}

/// Puts SSH settings into the scratch repository's configuration. With a
/// deadline, ssh runs under `timeout(1)`, which kills it when the deadline
/// passes: ssh has no overall time limit of its own, and a server that
/// accepts and then hangs (before or after authentication) would otherwise
/// hold the fetch forever.
pub(crate) fn configure(repo: &mut gix::Repository, url: &str, auth: &Auth, deadline: Option<Instant>) -> Result<()> {
    if !is_ssh(url) {
        return Ok(());
    }
    let dir = repo.path().to_path_buf();
    let mut command = String::new();
    if let Some(deadline) = deadline {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs_f64().max(0.001);
        command.push_str(&format!("timeout -s KILL {left:.3} "));
        // Connecting and the banner exchange give up by themselves too.
        command.push_str(&format!("ssh -o ConnectTimeout={} ", left.ceil().max(1.0)));
    } else {
        command.push_str("ssh ");
    }
    command.push_str("-o BatchMode=yes -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null");
    let known_hosts = dir.join("ferry_known_hosts");
    std::fs::write(&known_hosts, auth.ssh_known_hosts.as_deref().unwrap_or_default())?;
    command.push_str(&format!(" -o UserKnownHostsFile={}", known_hosts.display()));
    for (option, algorithms) in
        [("KexAlgorithms", &auth.ssh_kex_algorithms), ("HostKeyAlgorithms", &auth.ssh_host_key_algorithms)]
    {
        if algorithms.is_empty() {
            continue;
        }
        // They go into a shell command: algorithm names only.
        let name = |a: &String| !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-@.+_".contains(c));
        if let Some(bad) = algorithms.iter().find(|a| !name(a)) {
            return Err(Error::InvalidAuth(format!("invalid SSH algorithm name {bad:?}")));
        }
        command.push_str(&format!(" -o {option}={}", algorithms.join(",")));
    }
    if let Some(identity) = &auth.ssh_identity {
        let key = dir.join("ferry_identity");
        write_private(&key, identity)?;
        if let Some(passphrase) = auth.ssh_passphrase.as_deref().filter(|p| !p.is_empty()) {
            decrypt_key(&key, passphrase)?;
        }
        command.push_str(&format!(" -o IdentitiesOnly=yes -o IdentityAgent=none -i {}", key.display()));
    }
    // ssh's own complaints (a changed host key banner, "Permission denied")
    // go to a file in the scratch repository, not the controller's log, and
    // the last of them into the error (see `fail`). gix runs a command with
    // arguments through `sh -c`, where the redirection applies.
    command.push_str(&format!(" 2>>{}", dir.join(SSH_STDERR).display()));
    let mut config = repo.config_snapshot_mut();
    config
        .set_value(&gix::config::tree::Core::SSH_COMMAND, command.as_str())
        .map_err(|e| Error::InvalidAuth(e.to_string()))?;
    // It is OpenSSH whatever the command starts with (`timeout`): gix then
    // passes the port and protocol options without probing the command.
    config.set_value(&gix::config::tree::Ssh::VARIANT, "ssh").map_err(|e| Error::InvalidAuth(e.to_string()))?;
    config.commit().map_err(|e| Error::InvalidAuth(e.to_string()))?;
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    if !bytes.ends_with(b"\n") {
        file.write_all(b"\n")?;
    }
    Ok(())
}

/// Removes the passphrase from the scratch copy of the key, so that ssh
/// can use it without asking.
fn decrypt_key(key: &Path, passphrase: &str) -> Result<()> {
    let output = std::process::Command::new("ssh-keygen")
        .args(["-q", "-p", "-P", passphrase, "-N", "", "-f"])
        .arg(key)
        .output()?;
    if !output.status.success() {
        return Err(Error::InvalidAuth("the SSH key's passphrase is wrong or the key is unreadable".into()));
    }
    Ok(())
}

/// Connects to `remote` with `auth`.
pub(crate) fn connect<'a>(
    repo: &'a gix::Repository,
    remote: &'a gix::Remote<'a>,
    url: &str,
    auth: &Auth,
    deadline: Option<Instant>,
) -> Result<gix::remote::Connection<'a, 'a, 'a, Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>>>
{
    ensure_crypto_provider();
    let connection = remote.connect(gix::remote::Direction::Fetch).map_err(|e| fail(repo, url, &e, deadline))?;
    let connection = if url.starts_with("http://") || url.starts_with("https://") {
        connection.with_transport_options(Box::new(http_options(repo, url, auth, deadline)?))
    } else {
        connection
    };
    let account = match (&auth.username, &auth.password) {
        (Some(user), password) if !user.is_empty() => Some(gix::sec::identity::Account {
            username: user.clone(),
            password: password.clone().unwrap_or_default(),
            oauth_refresh_token: None,
        }),
        _ => None,
    };
    Ok(connection.with_credentials(move |action| match (action, &account) {
        (gix::credentials::helper::Action::Get(context), Some(account)) => {
            Ok(Some(gix::credentials::protocol::Outcome { identity: account.clone(), next: context.into() }))
        }
        _ => Ok(None),
    }))
}

fn http_options(repo: &gix::Repository, url: &str, auth: &Auth, deadline: Option<Instant>) -> Result<http::Options> {
    let mut options = repo
        .transport_options(url, None)
        .ok()
        .flatten()
        .and_then(|any| any.downcast::<http::Options>().ok())
        .map(|boxed| *boxed)
        .unwrap_or_default();
    options.user_agent = Some("ferry-source-controller".to_string());
    if let Some(token) = auth.bearer_token.as_deref().filter(|t| !t.is_empty()) {
        options.extra_headers.push(format!("Authorization: Bearer {token}"));
    }
    // gix's reqwest backend ignores `options.proxy`: the proxy goes into the
    // client itself, replacing the environment's (HTTPS_PROXY...), as
    // proxySecretRef does in Flux.
    let proxy = match auth.proxy.as_deref().filter(|p| !p.is_empty()) {
        Some(address) => Some(proxy(address)?),
        None => None,
    };
    let roots = match &auth.ca_pem {
        Some(pem) => reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| Error::InvalidAuth(format!("'ca.crt' is not a PEM certificate bundle: {e}")))?,
        None => Vec::new(),
    };
    let identity = match (&auth.cert_pem, &auth.key_pem) {
        (Some(cert), Some(key)) => {
            let mut pem = cert.clone();
            pem.push(b'\n');
            pem.extend_from_slice(key);
            Some(
                reqwest::Identity::from_pem(&pem)
                    .map_err(|e| Error::InvalidAuth(format!("'tls.crt'/'tls.key' are not a usable pair: {e}")))?,
            )
        }
        (None, None) => None,
        _ => return Err(Error::InvalidAuth("'tls.crt' and 'tls.key' must be given together".into())),
    };
    let configure = move |mut builder: reqwest::blocking::ClientBuilder| {
        if !roots.is_empty() {
            builder = builder.tls_certs_merge(roots.clone());
        }
        if let Some(identity) = &identity {
            builder = builder.identity(identity.clone());
        }
        if let Some(proxy) = &proxy {
            builder = builder.proxy(proxy.clone());
        }
        // The client is built for the first request of this connection: every
        // request (connect, headers and body) must end by the deadline. A
        // request made later in the same connection gets the same budget, so
        // the deadline holds for a server that hangs from the start; the
        // interrupt flag (see `fetch`) stops a pack transfer that runs late.
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            builder = builder.timeout(left).connect_timeout(left.min(Duration::from_secs(20)));
        }
        Ok(builder)
    };
    let backend = http::reqwest::Options { configure_client: Some(Box::new(configure)), configure_request: None };
    options.backend = Some(Arc::new(Mutex::new(backend)));
    Ok(options)
}

/// The proxy at `address` (`http://[user:password@]host:port`, or
/// `https://`): CONNECT tunnels for HTTPS remotes, absolute-URI requests for
/// plain HTTP ones, with basic auth from the address's user and password.
fn proxy(address: &str) -> Result<reqwest::Proxy> {
    let invalid = |reason: String| Error::InvalidAuth(format!("invalid proxy address: {reason}"));
    let url = reqwest::Url::parse(address).map_err(|e| invalid(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        "socks5" | "socks5h" => return Err(invalid("SOCKS5 proxies are not supported, only HTTP(S) ones".into())),
        other => return Err(invalid(format!("unsupported scheme {other:?}: use http:// or https://"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".into()));
    }
    reqwest::Proxy::all(url).map_err(|e| invalid(e.to_string()))
}

/// Installs ring as rustls's process-wide provider, once.
fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The error's message with its sources, as one line.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Where ssh's standard error is kept in a scratch repository.
const SSH_STDERR: &str = "ferry_ssh_stderr";

/// The error of a remote operation in the scratch repository `repo`: the
/// error chain, with what ssh said last (if it ran), classified.
pub(crate) fn fail(
    repo: &gix::Repository,
    url: &str,
    error: &(dyn std::error::Error + 'static),
    deadline: Option<Instant>,
) -> Error {
    let mut message = chain(error);
    // Past the deadline, whatever broke (a timed-out request, a killed ssh,
    // an interrupted transfer) broke because time ran out.
    if let Some(deadline) = deadline.filter(|d| Instant::now() >= *d) {
        return Error::Timeout { url: url.to_string(), late: Instant::now() - deadline, message };
    }
    let ssh = ssh_said(repo.path());
    let refused = http_refused(error) || ssh.as_deref().is_some_and(ssh_refused);
    if let Some(said) = ssh {
        message.push_str(": ssh: ");
        message.push_str(&said);
    }
    if refused {
        Error::AuthenticationFailed { url: url.to_string(), message }
    } else {
        Error::FetchFailed { url: url.to_string(), message }
    }
}

/// The last meaningful line ssh wrote to standard error, if any.
fn ssh_said(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(SSH_STDERR)).ok()?;
    text.lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty() && !line.starts_with('@') && !line.starts_with("fatal: "))
        .map(str::to_string)
}

/// True when the HTTP server refused the request's credentials: a 401
/// (which gix's transport marks [`gix::error::Class::Unauthenticated`]) or a
/// 403 (a `reqwest` error with that status). Decided by the transport's
/// status code, never by the message, which holds the URL: a repository on
/// port 40119 or a host named `403.example` answering 404 is no
/// authentication failure.
fn http_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    gix::error::classify(error).any(|found| match found.class() {
        gix::error::Class::Unauthenticated => true,
        // A local file's PermissionDenied is not the server's answer: only
        // the HTTP status counts.
        gix::error::Class::PermissionDenied => found
            .error()
            .downcast_ref::<reqwest::Error>()
            .and_then(reqwest::Error::status)
            .is_some_and(|status| status == reqwest::StatusCode::FORBIDDEN),
        _ => false,
    })
}

/// True when ssh's last line is its own authentication failure,
/// `<user>@<host>: Permission denied (<methods>).`. ssh exits with 255 for
/// every failure of its own (unknown host key, refused connection, refused
/// key), so its exit status cannot tell them apart: this fixed line can. It is
/// matched at the end, where the user and host (user data, first in the
/// line) cannot reach, and the method list must be ssh's method names.
fn ssh_refused(line: &str) -> bool {
    let Some(methods) = line.strip_suffix(").").and_then(|rest| rest.rsplit_once(": Permission denied (")) else {
        return false;
    };
    let methods = methods.1;
    !methods.is_empty()
        && methods.split(',').all(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
}

#[cfg(test)]
mod tests {
    use super::ssh_refused;

    #[test]
    fn ssh_refusals_are_told_by_ssh_own_line() {
        assert!(ssh_refused("git@127.0.0.1: Permission denied (publickey)."));
        assert!(ssh_refused("git@github.com: Permission denied (publickey,keyboard-interactive)."));
        // Other failures of ssh, with user data in them.
        assert!(!ssh_refused("Host key verification failed."));
        assert!(!ssh_refused("ssh: connect to host 403.example port 40119: Connection refused"));
        assert!(!ssh_refused("ssh: Could not resolve hostname permission-denied.example: Name or service not known"));
        assert!(!ssh_refused("Permission denied (publickey). is what the banner says: not ours"));
    }
}
