//! Artifact download (digest checked while streaming, retries) and safe
//! extraction of hostile archives. No cluster needed.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use ferry_sdk::artifact::{self, ArchiveError, Error, Extracted, Fetcher, Limits, Tree};
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

/// A tar.gz archive built entry by entry, hostile ones included: the
/// headers are written raw so the tar crate's own path checks don't stop us.
struct Archive {
    builder: tar::Builder<GzEncoder<Vec<u8>>>,
}

impl Archive {
    fn new() -> Self {
        Self { builder: tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast())) }
    }

    fn header(path: &str, kind: EntryType, size: u64) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(0o644);
        // Raw bytes: set_path would refuse '..' and absolute paths.
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        header
    }

    fn file(mut self, path: &str, data: &[u8]) -> Self {
        let header = Self::header(path, EntryType::Regular, data.len() as u64);
        self.builder.append(&header, data).unwrap();
        self
    }

    fn dir(mut self, path: &str) -> Self {
        let header = Self::header(path, EntryType::Directory, 0);
        self.builder.append(&header, std::io::empty()).unwrap();
        self
    }

    fn link(mut self, kind: EntryType, path: &str, target: &str) -> Self {
        let mut header = Self::header(path, kind, 0);
        let link = &mut header.as_old_mut().linkname;
        link[..target.len()].copy_from_slice(target.as_bytes());
        header.set_cksum();
        self.builder.append(&header, std::io::empty()).unwrap();
        self
    }

    fn special(mut self, kind: EntryType, path: &str) -> Self {
        let header = Self::header(path, kind, 0);
        self.builder.append(&header, std::io::empty()).unwrap();
        self
    }

    fn bytes(self) -> Vec<u8> {
        let mut gz = self.builder.into_inner().unwrap();
        gz.flush().unwrap();
        gz.finish().unwrap()
    }
}

/// A sandbox: `outside/` is where escapes would land, `target/` is extracted into.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("outside")).unwrap();
        Self { dir }
    }

    fn target(&self) -> std::path::PathBuf {
        self.dir.path().join("target")
    }

    fn extract(&self, archive: Vec<u8>, limits: Limits) -> Result<Extracted, Error> {
        artifact::extract_tar_gz(archive.as_slice(), &self.target(), limits)
    }

    /// Everything in the sandbox outside `target/`.
    fn outside(&self) -> Vec<String> {
        let mut found = Vec::new();
        walk(self.dir.path(), &self.target(), &mut found);
        found
    }
}

fn walk(dir: &Path, skip: &Path, found: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path == skip {
            continue;
        }
        found.push(path.display().to_string());
        if path.is_dir() && !path.is_symlink() {
            walk(&path, skip, found);
        }
    }
}

fn assert_nothing_outside(sandbox: &Sandbox) {
    let outside = sandbox.outside();
    let expected = vec![sandbox.dir.path().join("outside").display().to_string()];
    assert_eq!(outside, expected, "something was written outside the target");
}

#[test]
fn extracts_a_normal_archive() {
    let sandbox = Sandbox::new();
    let archive = Archive::new()
        .dir("./")
        .dir("app/")
        .file("app/deploy.yaml", b"kind: Deployment\n")
        .file("./app/kustomization.yaml", b"resources: [deploy.yaml]\n")
        .link(EntryType::Symlink, "app/current", "deploy.yaml")
        .link(EntryType::Symlink, "app/sub/up", "..")
        .link(EntryType::Link, "app/copy.yaml", "app/deploy.yaml")
        .bytes();
    let stats = sandbox.extract(archive, Limits::default()).unwrap();
    assert_eq!(stats, Extracted { files: 3, bytes: 17 + 25 + 17 });
    let target = sandbox.target();
    assert_eq!(fs::read_to_string(target.join("app/current")).unwrap(), "kind: Deployment\n");
    assert_eq!(fs::read_to_string(target.join("app/copy.yaml")).unwrap(), "kind: Deployment\n");
    assert_eq!(fs::read_to_string(target.join("app/sub/up/kustomization.yaml")).unwrap(), "resources: [deploy.yaml]\n");
    assert_nothing_outside(&sandbox);
}

#[test]
fn rejects_parent_traversal() {
    let sandbox = Sandbox::new();
    let archive = Archive::new().file("ok.txt", b"ok").file("../outside/evil.txt", b"pwned").bytes();
    let error = sandbox.extract(archive, Limits::default()).unwrap_err();
    assert!(
        matches!(error, Error::Archive(ArchiveError::ParentTraversal(ref p)) if p == "../outside/evil.txt"),
        "{error}"
    );
    assert!(error.to_string().contains("'..'"), "{error}");
    assert_nothing_outside(&sandbox);
}

#[test]
fn rejects_absolute_paths() {
    let sandbox = Sandbox::new();
    let evil = format!("{}/outside/evil.txt", sandbox.dir.path().display());
    let archive = Archive::new().file(&evil, b"pwned").bytes();
    let error = sandbox.extract(archive, Limits::default()).unwrap_err();
    assert!(matches!(error, Error::Archive(ArchiveError::AbsolutePath(_))), "{error}");
    assert_nothing_outside(&sandbox);
}

#[test]
fn rejects_symlink_escapes() {
    for (name, archive) in [
        ("absolute link", Archive::new().link(EntryType::Symlink, "evil", "/etc")),
        ("relative link", Archive::new().link(EntryType::Symlink, "evil", "../outside")),
        (
            "link through a link",
            Archive::new().dir("a/b/").link(EntryType::Symlink, "a/b/up", "..").link(
                EntryType::Symlink,
                "evil",
                "a/b/up/../..",
            ),
        ),
    ] {
        let sandbox = Sandbox::new();
        let error = sandbox.extract(archive.bytes(), Limits::default()).unwrap_err();
        assert!(matches!(error, Error::Archive(ArchiveError::LinkEscape { .. })), "{name}: {error}");
        assert_nothing_outside(&sandbox);
    }
}

#[test]
fn never_writes_through_a_symlink_out_of_the_target() {
    // Even a link that was (wrongly) there before cannot be written through.
    let sandbox = Sandbox::new();
    fs::create_dir(sandbox.target()).unwrap();
    std::os::unix::fs::symlink(sandbox.dir.path().join("outside"), sandbox.target().join("dir")).unwrap();
    let archive = Archive::new().file("dir/evil.txt", b"pwned").bytes();
    let error = sandbox.extract(archive, Limits::default()).unwrap_err();
    assert!(matches!(error, Error::Archive(ArchiveError::LinkEscape { .. })), "{error}");
    assert!(!sandbox.dir.path().join("outside/evil.txt").exists());
}

#[test]
fn rejects_hardlink_escapes() {
    let sandbox = Sandbox::new();
    fs::write(sandbox.dir.path().join("outside/secret"), "secret").unwrap();
    let archive = Archive::new().link(EntryType::Link, "stolen", "../outside/secret").bytes();
    let error = sandbox.extract(archive, Limits::default()).unwrap_err();
    assert!(matches!(error, Error::Archive(ArchiveError::LinkEscape { .. })), "{error}");
    assert!(!sandbox.target().join("stolen").exists());

    let sandbox = Sandbox::new();
    let archive = Archive::new().link(EntryType::Link, "stolen", "/etc/passwd").bytes();
    let error = sandbox.extract(archive, Limits::default()).unwrap_err();
    assert!(matches!(error, Error::Archive(ArchiveError::LinkEscape { .. })), "{error}");
    assert_nothing_outside(&sandbox);
}

#[test]
fn rejects_devices_and_fifos() {
    for kind in [EntryType::Char, EntryType::Block, EntryType::Fifo] {
        let sandbox = Sandbox::new();
        let error = sandbox.extract(Archive::new().special(kind, "dev").bytes(), Limits::default()).unwrap_err();
        assert!(matches!(error, Error::Archive(ArchiveError::UnsupportedEntry { .. })), "{kind:?}: {error}");
        assert!(!sandbox.target().join("dev").exists());
        assert_nothing_outside(&sandbox);
    }
}

#[test]
fn caps_the_total_size() {
    let sandbox = Sandbox::new();
    let archive = Archive::new().file("a", &[b'a'; 600]).file("b", &[b'b'; 600]).bytes();
    let error = sandbox.extract(archive, Limits { max_size: 1000, max_files: 10 }).unwrap_err();
    assert!(matches!(error, Error::Archive(ArchiveError::SizeLimitExceeded(1000))), "{error}");
    assert!(error.to_string().contains("more than 1000 bytes"));
    assert!(!sandbox.target().join("b").exists());
    assert_nothing_outside(&sandbox);
}

#[test]
fn an_unlimited_size_does_not_overflow() {
    let sandbox = Sandbox::new();
    let archive = Archive::new().file("a", &[b'a'; 600]).bytes();
    let extracted = sandbox.extract(archive, Limits { max_size: u64::MAX, max_files: 10 }).unwrap();
    assert_eq!(extracted.bytes, 600);
    assert_nothing_outside(&sandbox);
}

#[test]
fn caps_the_file_count() {
    let sandbox = Sandbox::new();
    let mut archive = Archive::new();
    for i in 0..20 {
        archive = archive.file(&format!("f{i}"), b"x");
    }
    let error = sandbox.extract(archive.bytes(), Limits { max_size: 1 << 20, max_files: 10 }).unwrap_err();
    assert!(matches!(error, Error::Archive(ArchiveError::FileLimitExceeded(10))), "{error}");
    assert!(!sandbox.target().join("f10").exists());
    assert_nothing_outside(&sandbox);
}

/// A 64 KiB file and 4,096 hard links to it: under 200 KiB of gzip that
/// would expand to 256 MiB if links were free.
fn hard_link_bomb() -> Vec<u8> {
    let mut archive = Archive::new().file("big", &[b'x'; 64 << 10]);
    for i in 0..4096 {
        archive = archive.link(EntryType::Link, &format!("l{i}"), "big");
    }
    archive.bytes()
}

#[test]
fn hard_links_count_against_the_size_budget() {
    let bomb = hard_link_bomb();
    assert!(bomb.len() < 200 << 10, "the archive is small: {} bytes", bomb.len());
    let limits = Limits { max_size: 1 << 20, max_files: 100_000 };

    // On disk: stopped at the 16th copy, never writing past the budget.
    let sandbox = Sandbox::new();
    let error = sandbox.extract(bomb.clone(), limits).unwrap_err();
    assert!(matches!(error, Error::Archive(ArchiveError::SizeLimitExceeded(max)) if max == 1 << 20), "{error}");
    assert!(error.to_string().contains("more than 1048576 bytes"), "{error}");
    let written: u64 = fs::read_dir(sandbox.target()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(written <= 1 << 20, "wrote {written} bytes");
    assert_nothing_outside(&sandbox);

    // In memory: the same error, before the tree grows past the budget.
    let error = Tree::from_tar_gz(bomb.as_slice(), limits).unwrap_err();
    assert!(matches!(error, Error::Archive(ArchiveError::SizeLimitExceeded(_))), "{error}");
}

#[test]
fn symlinks_and_every_entry_count_too() {
    // Symlinks store their target: they count against the byte budget.
    let target = "t".repeat(90);
    let mut archive = Archive::new();
    for i in 0..20 {
        archive = archive.link(EntryType::Symlink, &format!("s{i}"), &target);
    }
    let error = Tree::from_tar_gz(archive.bytes().as_slice(), Limits { max_size: 1000, max_files: 100 }).unwrap_err();
    assert!(matches!(error, Error::Archive(ArchiveError::SizeLimitExceeded(1000))), "{error}");
    // Directories carry no bytes but are entries.
    let mut archive = Archive::new();
    for i in 0..20 {
        archive = archive.dir(&format!("d{i}/"));
    }
    let error = Tree::from_tar_gz(archive.bytes().as_slice(), Limits { max_size: 1000, max_files: 10 }).unwrap_err();
    assert!(matches!(error, Error::Archive(ArchiveError::FileLimitExceeded(10))), "{error}");
}

#[test]
fn the_in_memory_tree_refuses_what_the_disk_refuses() {
    for (name, archive) in [
        ("parent traversal", Archive::new().file("../evil", b"x")),
        ("absolute path", Archive::new().file("/etc/evil", b"x")),
        ("absolute link", Archive::new().link(EntryType::Symlink, "evil", "/etc")),
        ("hard link out", Archive::new().link(EntryType::Link, "evil", "../secret")),
        ("hard link to nothing", Archive::new().link(EntryType::Link, "evil", "missing")),
        ("device", Archive::new().special(EntryType::Char, "dev")),
        ("fifo", Archive::new().special(EntryType::Fifo, "fifo")),
    ] {
        assert!(Tree::from_tar_gz(archive.bytes().as_slice(), Limits::default()).is_err(), "{name}");
    }
    assert!(Tree::from_tar_gz(&b"not a tarball"[..], Limits::default()).is_err());
    // Relative links stay, resolved inside the tree only.
    let tree = Tree::from_tar_gz(
        Archive::new()
            .file("app/cm.yaml", b"a")
            .link(EntryType::Symlink, "shared", "app")
            .link(EntryType::Symlink, "up", "../..")
            .link(EntryType::Link, "copy.yaml", "app/cm.yaml")
            .bytes()
            .as_slice(),
        Limits::default(),
    )
    .unwrap();
    let resolved = tree.resolve(Path::new("shared/cm.yaml")).unwrap();
    assert_eq!(tree.file(&resolved), Some(&b"a"[..]));
    assert_eq!(tree.file(Path::new("copy.yaml")), Some(&b"a"[..]));
    assert_eq!(tree.resolve(Path::new("up/etc/passwd")), None);
    assert_eq!(tree.bytes(), 2);
}

#[test]
fn rejects_garbage() {
    let sandbox = Sandbox::new();
    let error = sandbox.extract(b"not a gzip file".to_vec(), Limits::default()).unwrap_err();
    assert!(matches!(error, Error::Archive(ArchiveError::Io { .. })), "{error}");
}

#[derive(Clone)]
struct Server {
    body: Arc<Vec<u8>>,
    failures_left: Arc<AtomicUsize>,
    hits: Arc<AtomicUsize>,
}

async fn serve_artifact(State(server): State<Server>) -> (StatusCode, Vec<u8>) {
    server.hits.fetch_add(1, Ordering::SeqCst);
    if server.failures_left.load(Ordering::SeqCst) > 0 {
        server.failures_left.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, Vec::new());
    }
    (StatusCode::OK, server.body.to_vec())
}

async fn start_server(body: Vec<u8>, failures: usize) -> (SocketAddr, Server) {
    let server =
        Server { body: Arc::new(body), failures_left: Arc::new(AtomicUsize::new(failures)), hits: Arc::default() };
    let router = axum::Router::new().route("/artifact.tar.gz", get(serve_artifact)).with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (addr, server)
}

#[tokio::test]
async fn fetches_with_retries_and_checks_the_digest() {
    let body = Archive::new().file("hello.txt", b"hello").bytes();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
    let (addr, server) = start_server(body.clone(), 2).await;
    let url = format!("http://{addr}/artifact.tar.gz");
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("artifact.tar.gz");
    let fetcher = Fetcher::new(Duration::from_secs(5)).unwrap().with_retries(3, Duration::from_millis(10));

    fetcher.fetch(&url, &digest, &dest).await.unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 3, "two 503s, then success");
    assert_eq!(fs::read(&dest).unwrap(), body);
    let stats = artifact::extract_file(&dest, &dir.path().join("out"), Limits::default()).await.unwrap();
    assert_eq!(stats.files, 1);
    assert_eq!(fs::read_to_string(dir.path().join("out/hello.txt")).unwrap(), "hello");

    // A wrong digest is an error, not retried, and leaves no file behind.
    let wrong = format!("sha256:{}", "0".repeat(64));
    let before = server.hits.load(Ordering::SeqCst);
    let error = fetcher.fetch(&url, &wrong, &dest).await.unwrap_err();
    assert!(matches!(error, Error::DigestMismatch { .. }), "{error}");
    assert_eq!(server.hits.load(Ordering::SeqCst), before + 1);
    assert!(!dest.exists());

    // Too large.
    let error = fetcher.clone().with_max_size(10).fetch(&url, &digest, &dest).await.unwrap_err();
    assert!(matches!(error, Error::TooLarge { .. }), "{error}");

    // A bad digest string is refused before any request.
    assert!(matches!(fetcher.fetch(&url, "md5:abc", &dest).await, Err(Error::InvalidDigest(_))));

    // Retries run out.
    let (addr, _) = start_server(body, 10).await;
    let error = fetcher.fetch(&format!("http://{addr}/artifact.tar.gz"), &digest, &dest).await.unwrap_err();
    assert!(matches!(error, Error::DownloadFailed { .. }), "{error}");
    assert!(error.to_string().contains("503"), "{error}");
}
