//! One deadline for a whole fetch, enforced inside the git operation: against
//! a server that accepts connections and never answers, listing and checking
//! out give up at the deadline with `Error::Timeout`, over HTTP, HTTPS and
//! SSH, and leave no thread and no ssh process behind.
//!
//! A test binary of its own, so that the threads counted are this test's.

use std::path::Path;
use std::time::{Duration, Instant};

use ferry_git::{Auth, CheckoutOptions, Error, GitRef, RemoteRef, checkout, list_refs_until, resolve};
use ferry_testenv::stall::StallingServer;

const TIMEOUT: Duration = Duration::from_secs(2);
/// Scheduling on a loaded 2-core machine, process exit, TLS setup.
const SLACK: Duration = Duration::from_millis(1500);

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map(|tasks| tasks.count()).unwrap_or(0)
}

/// Our child processes that still run (not zombies).
fn children() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((name, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1) == Some(&me.as_str()) && fields.first() != Some(&"Z") {
            found.push(name.to_string());
        }
    }
    found
}

/// Waits briefly for threads to wind down to `baseline`; returns the count.
fn settled(baseline: usize) -> usize {
    let until = Instant::now() + Duration::from_secs(2);
    while threads() > baseline && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    threads()
}

fn assert_timed_out(what: &str, result: Result<impl std::fmt::Debug, Error>, started: Instant, deadline: Instant) {
    let took = started.elapsed();
    let err = result.expect_err(what);
    assert!(matches!(err, Error::Timeout { .. }), "{what}: {err}");
    assert!(Instant::now() >= deadline, "{what}: gave up before the deadline ({took:?}): {err}");
    assert!(Instant::now() < deadline + SLACK, "{what}: took {took:?}, past the deadline by more than {SLACK:?}");
}

#[test]
fn a_hung_server_times_out_at_the_deadline_and_leaves_nothing_running() {
    let server = StallingServer::start().unwrap();
    let addr = server.addr();
    let baseline = threads();
    let refs = [RemoteRef { name: "refs/heads/main".into(), target: "a".repeat(40), peeled: None }];
    let resolved = resolve(&refs, &GitRef { branch: Some("main".into()), ..GitRef::default() }).unwrap();

    for url in
        [format!("http://{addr}/app.git"), format!("https://{addr}/app.git"), format!("ssh://git@{addr}/app.git")]
    {
        let accepted = server.accepted();
        let started = Instant::now();
        let deadline = started + TIMEOUT;
        assert_timed_out(&url, list_refs_until(&url, &Auth::default(), Some(deadline)), started, deadline);
        assert!(server.accepted() > accepted, "{url}: the server was reached");

        // The checkout alone, with spec.timeout as its budget.
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let options = CheckoutOptions { timeout: Some(TIMEOUT), ..CheckoutOptions::default() };
        let result = checkout(&url, &Auth::default(), &resolved, &dir.path().join("out"), &options);
        assert_timed_out(&format!("checkout of {url}"), result, started, started + TIMEOUT);

        // Listing then checking out under one shared deadline: the second step
        // gets what is left, not a fresh timeout.
        let started = Instant::now();
        let deadline = started + TIMEOUT;
        let listed = list_refs_until(&url, &Auth::default(), Some(deadline));
        assert!(matches!(listed, Err(Error::Timeout { .. })), "{listed:?}");
        let options = CheckoutOptions { deadline: Some(deadline), ..CheckoutOptions::default() };
        let result = checkout(&url, &Auth::default(), &resolved, &dir.path().join("shared"), &options);
        assert_timed_out(&format!("list + checkout of {url}"), result, started, deadline);
        assert!(!Path::new(&dir.path().join("shared")).join("app.yaml").exists());

        assert_eq!(settled(baseline), baseline, "{url}: threads left running after the timeout");
        assert_eq!(children(), Vec::<String>::new(), "{url}: processes left running after the timeout");
    }
}
