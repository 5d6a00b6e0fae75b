//! Reconnect delays: exponential, capped, with jitter.

use std::time::Duration;

/// First reconnect delay; it doubles up to [`BACKOFF_MAX`], with jitter.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(3);
/// A connection that lasted this long resets the backoff; shorter ones (a server that
/// accepts and drops at once) keep it growing.
pub(crate) const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(5);
/// Exponential backoff with jitter for reconnects.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The next delay: `BACKOFF_MIN · 2^n` capped at [`BACKOFF_MAX`], drawn uniformly from
    /// its upper half so that many connections do not retry in step.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let full = BACKOFF_MIN
            .saturating_mul(1 << self.attempt.min(16))
            .min(BACKOFF_MAX);
        self.attempt = self.attempt.saturating_add(1);
        full.mul_f64(0.5 + 0.5 * crate::rand::unit_f64())
    }

    /// Back to the shortest delay.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::default();
        let delays: Vec<Duration> = (0..12).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= BACKOFF_MIN / 2 && delays[0] <= BACKOFF_MIN);
        assert!(delays[3] >= BACKOFF_MIN * 4 && delays[3] <= BACKOFF_MIN * 8);
        assert!(delays.iter().all(|d| *d <= BACKOFF_MAX));
        assert!(delays[11] >= BACKOFF_MAX / 2);
        b.reset();
        assert!(b.next_delay() <= BACKOFF_MIN);
    }
}
