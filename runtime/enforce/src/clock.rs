//! The time source behind JWT time checks, JWKS caching, rate limits and quotas.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch. Tests inject a
/// [`ManualClock`] so they control time without sleeping.
pub trait Clock: Send + Sync + 'static {
    fn unix_millis(&self) -> u64;

    fn unix_seconds(&self) -> u64 {
        self.unix_millis() / 1000
    }
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_millis(&self) -> u64 {
        // A clock set before 1970 reads as the epoch rather than failing requests.
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicU64,
}

impl ManualClock {
    /// Creates a clock reading `unix_millis`.
    pub fn new(unix_millis: u64) -> Self {
        Self { millis: AtomicU64::new(unix_millis) }
    }

    /// Creates a clock reading the current system time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.unix_millis())
    }

    pub fn advance(&self, step: Duration) {
        self.millis.fetch_add(step.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn set(&self, unix_millis: u64) {
        self.millis.store(unix_millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn unix_millis(&self) -> u64 {
        self.millis.load(Ordering::SeqCst)
    }
}
