//! Child processes of tests and developer commands.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

/// A plain HTTP/1.0 GET on loopback (a child's `/readyz`); true on a 200.
pub fn http_ok(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.lines().next().is_some_and(|status| status.split_whitespace().nth(1) == Some("200"))
}

/// A loopback port free right now, for a child to listen on.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

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
