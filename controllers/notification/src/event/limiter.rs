//! Drops duplicate events within `--rate-limit-interval`, as Flux's
//! in-memory limiter (one token per key and interval) does, and forgets keys
//! older than two intervals so memory stays bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Remembers when each event key was last let through.
#[derive(Debug)]
pub struct Limiter {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    seen: HashMap<String, Instant>,
    last_sweep: Instant,
}

impl Limiter {
    /// A limiter letting each key through once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self { interval, state: Mutex::new(State { seen: HashMap::new(), last_sweep: Instant::now() }) }
    }

    /// Whether an event with `key` may pass now; records it when it may.
    pub fn allow(&self, key: &str) -> bool {
        self.allow_at(key, Instant::now())
    }

    fn allow_at(&self, key: &str, now: Instant) -> bool {
        if self.interval.is_zero() {
            return true;
        }
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if now.duration_since(state.last_sweep) >= self.interval {
            let keep = self.interval * 2;
            state.seen.retain(|_, at| now.duration_since(*at) < keep);
            state.last_sweep = now;
        }
        match state.seen.get(key) {
            Some(at) if now.duration_since(*at) < self.interval => false,
            _ => {
                state.seen.insert(key.to_string(), now);
                true
            }
        }
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.state.lock().map(|s| s.seen.len()).unwrap_or_default()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_wait_for_the_interval_and_old_keys_are_swept() {
        let limiter = Limiter::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(limiter.allow_at("a", t0));
        assert!(!limiter.allow_at("a", t0 + Duration::from_secs(59)));
        assert!(limiter.allow_at("b", t0 + Duration::from_secs(1)));
        assert!(limiter.allow_at("a", t0 + Duration::from_secs(61)));
        assert!(limiter.allow_at("c", t0 + Duration::from_secs(200)));
        assert_eq!(limiter.len(), 1);
    }
}
