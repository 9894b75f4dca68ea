//! A server that accepts connections and then never answers: what a hung git
//! host looks like to a client, for testing deadlines. Runs on a plain thread,
//! so that it works with or without an async runtime.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The stalling server, stopped (and its connections closed) when dropped.
pub struct StallingServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl StallingServer {
    /// Starts listening on a loopback port.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::spawn({
            let (stop, accepted) = (stop.clone(), accepted.clone());
            move || {
                // Held open, never read from nor written to, until the server stops.
                let held: Mutex<Vec<TcpStream>> = Mutex::new(Vec::new());
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        accepted.fetch_add(1, Ordering::SeqCst);
                        if let Ok(mut held) = held.lock() {
                            held.push(stream);
                        }
                    }
                }
            }
        });
        Ok(Self { addr, stop, accepted, thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections it accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for StallingServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
