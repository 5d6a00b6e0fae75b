//! Randomness that needs no seed and no quality beyond "different each time": seeds of
//! queries that gave none, MQTT client ids, reconnect jitter. One place, so that the
//! process has one such generator (the signal source's seeded generator is its own).

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh 64-bit value: std's per-process random hash keys, mixed with a counter, so that
/// every call differs.
pub(crate) fn random_u64() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A uniform value in `[0, 1)`.
pub(crate) fn unit_f64() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_differ_and_stay_in_range() {
        let a: Vec<u64> = (0..100).map(|_| super::random_u64()).collect();
        let mut b = a.clone();
        b.sort_unstable();
        b.dedup();
        assert_eq!(a.len(), b.len());
        assert!((0..1000)
            .map(|_| super::unit_f64())
            .all(|x| (0.0..1.0).contains(&x)));
    }
}
