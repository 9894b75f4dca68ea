//! Child processes of tests and developer commands.

use std::process::Child;
use std::time::{Duration, Instant};

/// Stops `child` the way Kubernetes stops a pod: SIGTERM, then SIGKILL once
/// `grace` has passed. Returns at once when it has already exited.
pub fn terminate(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminates_politely_then_by_force() {
        let mut polite = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let started = Instant::now();
        terminate(&mut polite, Duration::from_secs(10));
        assert!(polite.try_wait().unwrap().is_some());
        assert!(started.elapsed() < Duration::from_secs(5), "sleep dies on SIGTERM");

        let mut stubborn =
            std::process::Command::new("sh").args(["-c", "trap '' TERM; sleep 30 & wait"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        terminate(&mut stubborn, Duration::from_millis(300));
        assert!(stubborn.try_wait().unwrap().is_some(), "killed after the grace period");
    }
}
