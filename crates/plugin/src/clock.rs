//! Wall-clock time for row timestamps, replaceable in tests.

use std::time::{SystemTime, UNIX_EPOCH};

/// Where sources read the time. The hub paces ticks with tokio's timer, so a clock that
/// follows tokio's (pausable) time makes whole streams deterministic in tests.
pub trait Clock: Send + Sync + 'static {
    /// Now, in epoch milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that starts at `epoch_ms` and advances with tokio's clock, so that
/// `tokio::time::pause()` and `advance()` drive it.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    epoch_ms: i64,
    origin: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `epoch_ms` now. Must be called inside a tokio runtime.
    pub fn starting_at(epoch_ms: i64) -> Self {
        Self {
            epoch_ms,
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        let elapsed = tokio::time::Instant::now().duration_since(self.origin);
        self.epoch_ms + i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX / 2)
    }
}

/// An epoch-millisecond instant as notices show it: `2026-12-01 23:59:00.000Z`.
pub fn utc_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("{ms} ms"),
        |t| t.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string(),
    )
}
