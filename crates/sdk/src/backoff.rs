//! Per-object retry backoff, and jitter for the regular interval requeue.
//!
//! Failing objects back off exponentially from `--min-retry-delay` to
//! `--max-retry-delay`, each with its own counter, so one broken object does
//! not slow the others. Successful reconciles requeue at `spec.interval`
//! spread by `--interval-jitter-percentage`, so objects created together do
//! not keep reconciling together.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The minimum delay is larger than the maximum.
    #[error("min retry delay {min:?} is larger than max retry delay {max:?}")]
    InvalidRange {
        /// The minimum delay.
        min: Duration,
        /// The maximum delay.
        max: Duration,
    },
    /// The jitter percentage is outside 0..100.
    #[error("interval jitter percentage {0} is not in 0..100")]
    InvalidJitter(u8),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Flux's default `--min-retry-delay`.
pub const DEFAULT_MIN_RETRY_DELAY: Duration = Duration::from_millis(750);
/// Flux's default `--max-retry-delay`.
pub const DEFAULT_MAX_RETRY_DELAY: Duration = Duration::from_secs(15 * 60);
/// Flux's default `--interval-jitter-percentage`.
pub const DEFAULT_INTERVAL_JITTER_PERCENTAGE: u8 = 5;

/// Exponential backoff with jitter, counted per object key.
#[derive(Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: Mutex<HashMap<String, u32>>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { min: DEFAULT_MIN_RETRY_DELAY, max: DEFAULT_MAX_RETRY_DELAY, failures: Mutex::default() }
    }
}

impl Backoff {
    /// A backoff between `min` and `max`.
    pub fn new(min: Duration, max: Duration) -> Result<Self> {
        if min > max {
            return Err(Error::InvalidRange { min, max });
        }
        Ok(Self { min, max, failures: Mutex::default() })
    }

    /// Records one more failure of `key` and returns how long to wait before
    /// retrying it: `min * 2^(failures-1)`, capped at `max`, with up to 10%
    /// of random jitter added (still capped at `max`).
    pub fn next_delay(&self, key: &str) -> Duration {
        let failures = {
            let mut map = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let count = map.entry(key.to_string()).or_insert(0);
            *count = count.saturating_add(1);
            *count
        };
        let base = self.delay_for(failures);
        let jitter = base.mul_f64(rand::rng().random_range(0.0..0.1));
        (base + jitter).min(self.max)
    }

    /// The delay before jitter after `failures` consecutive failures.
    fn delay_for(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(32);
        let factor = 2u64.saturating_pow(exponent);
        let nanos = (self.min.as_nanos()).saturating_mul(u128::from(factor));
        let capped = nanos.min(self.max.as_nanos());
        Duration::from_nanos(u64::try_from(capped).unwrap_or(u64::MAX))
    }

    /// How many consecutive failures `key` has had.
    pub fn failures(&self, key: &str) -> u32 {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(key).copied().unwrap_or(0)
    }

    /// Forgets the failures of `key`, after a success or a deletion.
    pub fn reset(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(key);
    }
}

/// Spreads requeues around an interval by a percentage.
#[derive(Debug, Clone, Copy)]
pub struct IntervalJitter {
    percentage: u8,
}

impl Default for IntervalJitter {
    fn default() -> Self {
        Self { percentage: DEFAULT_INTERVAL_JITTER_PERCENTAGE }
    }
}

impl IntervalJitter {
    /// Jitter of `percentage` percent (0 turns it off).
    pub fn new(percentage: u8) -> Result<Self> {
        if percentage >= 100 {
            return Err(Error::InvalidJitter(percentage));
        }
        Ok(Self { percentage })
    }

    /// `interval` moved by a random amount within ± the percentage.
    pub fn apply(&self, interval: Duration) -> Duration {
        if self.percentage == 0 || interval.is_zero() {
            return interval;
        }
        let spread = f64::from(self.percentage) / 100.0;
        let factor = rand::rng().random_range((1.0 - spread)..=(1.0 + spread));
        interval.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_min_and_caps_at_max() {
        let backoff = Backoff::new(Duration::from_millis(750), Duration::from_secs(10)).unwrap();
        assert_eq!(backoff.delay_for(1), Duration::from_millis(750));
        assert_eq!(backoff.delay_for(2), Duration::from_millis(1500));
        assert_eq!(backoff.delay_for(3), Duration::from_millis(3000));
        assert_eq!(backoff.delay_for(5), Duration::from_secs(10));
        assert_eq!(backoff.delay_for(500), Duration::from_secs(10));
    }

    #[test]
    fn counts_per_key_with_jitter_and_resets() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60)).unwrap();
        let first = backoff.next_delay("a");
        assert!(first >= Duration::from_secs(1) && first <= Duration::from_millis(1100), "{first:?}");
        let second = backoff.next_delay("a");
        assert!(second >= Duration::from_secs(2) && second <= Duration::from_millis(2200), "{second:?}");
        let other = backoff.next_delay("b");
        assert!(other <= Duration::from_millis(1100), "keys are independent: {other:?}");
        assert_eq!(backoff.failures("a"), 2);
        backoff.reset("a");
        assert_eq!(backoff.failures("a"), 0);
        assert!(backoff.next_delay("a") <= Duration::from_millis(1100));
    }

    #[test]
    fn never_exceeds_max_even_with_jitter() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(4)).unwrap();
        for _ in 0..20 {
            assert!(backoff.next_delay("x") <= Duration::from_secs(4));
        }
    }

    #[test]
    fn rejects_bad_settings() {
        assert!(matches!(
            Backoff::new(Duration::from_secs(2), Duration::from_secs(1)),
            Err(Error::InvalidRange { .. })
        ));
        assert!(matches!(IntervalJitter::new(100), Err(Error::InvalidJitter(100))));
    }

    #[test]
    fn interval_jitter_stays_within_percentage() {
        let jitter = IntervalJitter::new(5).unwrap();
        let interval = Duration::from_secs(600);
        for _ in 0..100 {
            let got = jitter.apply(interval);
            assert!(got >= Duration::from_secs(570) && got <= Duration::from_secs(630), "{got:?}");
        }
        assert_eq!(IntervalJitter::new(0).unwrap().apply(interval), interval);
    }
}
