//! Requests and 5xx responses over the last minute, for the `traffic` section of `/status`.
//!
//! A ring of per-second buckets: recording a response touches the bucket of the current second,
//! and a snapshot sums the buckets of the last [`WINDOW_SECONDS`] seconds.

use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

/// Length of the traffic window, in seconds.
pub const WINDOW_SECONDS: u64 = 60;

const BUCKETS: usize = WINDOW_SECONDS as usize;

/// Per-second request and error counts of the last [`WINDOW_SECONDS`] seconds.
#[derive(Debug)]
pub struct TrafficWindow {
    origin: Instant,
    buckets: Mutex<[Bucket; BUCKETS]>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Seconds since `origin` that this bucket counts; older counts are stale.
    second: u64,
    requests: u64,
    errors: u64,
}

/// The traffic of the window, as `/status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficSnapshot {
    pub window_seconds: u64,
    pub requests: u64,
    /// Responses with status 500 or above.
    pub errors: u64,
    /// `errors / requests`, 0 without requests.
    pub error_rate: f64,
}

impl Default for TrafficWindow {
    fn default() -> Self {
        Self { origin: Instant::now(), buckets: Mutex::new([Bucket::default(); BUCKETS]) }
    }
}

impl TrafficWindow {
    /// Counts one response with `status`.
    pub fn record(&self, status: u16) {
        let second = self.origin.elapsed().as_secs();
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = &mut buckets[bucket_index(second)];
        if bucket.second != second {
            *bucket = Bucket { second, requests: 0, errors: 0 };
        }
        bucket.requests += 1;
        // 501 is the response to a request the client should not have sent, such as a transfer coding the
        // gateway does not implement, so clients could otherwise fail a rollout's health gate.
        if status >= 500 && status != 501 {
            bucket.errors += 1;
        }
    }

    /// Sums the buckets of the last [`WINDOW_SECONDS`] seconds, the current one included.
    pub fn snapshot(&self) -> TrafficSnapshot {
        let now = self.origin.elapsed().as_secs();
        let buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (requests, errors) = buckets
            .iter()
            .filter(|bucket| bucket.requests > 0 && now.saturating_sub(bucket.second) < WINDOW_SECONDS)
            .fold((0, 0), |(requests, errors), bucket| (requests + bucket.requests, errors + bucket.errors));
        let error_rate = if requests == 0 { 0.0 } else { errors as f64 / requests as f64 };
        TrafficSnapshot { window_seconds: WINDOW_SECONDS, requests, errors, error_rate }
    }
}

fn bucket_index(second: u64) -> usize {
    usize::try_from(second % WINDOW_SECONDS).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_counts_requests_and_errors() {
        let window = TrafficWindow::default();
        for status in [200, 404, 500, 501, 502, 503] {
            window.record(status);
        }

        let snapshot = window.snapshot();

        assert_eq!(snapshot.requests, 6);
        assert_eq!(snapshot.errors, 3, "501 is the client's fault");
        assert!((snapshot.error_rate - 0.5).abs() < 1e-9);
    }

    #[test]
    fn empty_window_has_zero_rate() {
        let snapshot = TrafficWindow::default().snapshot();

        assert_eq!(snapshot.requests, 0);
        assert_eq!(snapshot.error_rate, 0.0);
    }
}
