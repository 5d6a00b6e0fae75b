//! The `signal` source: the tutorial's stream and its relatives, as (time, value) rows.
//!
//! Rows fall on a grid of `tickMs` aligned to the epoch, so streams with the same tick line
//! up, and backfilled history sits on the same grid as the live rows after it. Waves are
//! functions of the row's time; random values come from a seeded generator, so a query with
//! a `seed` yields the same values for the same rows.

use std::time::Duration;

use ringstream_frame::{Field, FieldConfig, FieldType, Value};

use super::Source;
use crate::hub::{Batch, RowSink};
use crate::query::{Signal, SignalKind, StreamSpec};
use crate::PluginError;

/// A synthetic signal.
#[derive(Debug)]
pub struct SignalSource {
    signal: Signal,
    tick_ms: i64,
    rng: SplitMix64,
    /// Random walk position.
    walk: f64,
    /// Rows produced (the counter's index).
    n: u64,
    /// Time of the last row, so times strictly increase even if the clock steps back.
    last_ms: Option<i64>,
}

impl SignalSource {
    /// A source for `spec`, drawing randomness from `seed` (a spec of another source gives
    /// the default random walk; the hub never asks for that).
    pub fn new(spec: &StreamSpec, seed: u64) -> Self {
        let signal = match spec.source {
            crate::query::SourceSpec::Signal(signal) => signal,
            _ => Signal::RandomWalk {
                start: 0.0,
                spread: 1.0,
            },
        };
        let walk = match signal {
            Signal::RandomWalk { start, .. } => start,
            _ => 0.0,
        };
        Self {
            signal,
            tick_ms: i64::try_from(spec.tick_ms).unwrap_or(i64::MAX).max(1),
            rng: SplitMix64(seed),
            walk,
            n: 0,
            last_ms: None,
        }
    }

    /// The value of the row at `t_ms`, advancing the generator by one row.
    fn value(&mut self, t_ms: i64) -> f64 {
        let n = self.n;
        self.n += 1;
        match self.signal {
            Signal::Random { min, max } => min + (max - min) * self.rng.next_f64(),
            Signal::RandomWalk { spread, .. } => {
                if n > 0 {
                    self.walk += spread * (2.0 * self.rng.next_f64() - 1.0);
                }
                self.walk
            }
            Signal::Wave {
                kind,
                amplitude,
                period_ms,
                offset,
            } => {
                let period = period_ms as f64;
                let phase = (t_ms.rem_euclid(period_ms as i64) as f64) / period; // 0..1
                offset
                    + amplitude
                        * match kind {
                            SignalKind::Sine => (std::f64::consts::TAU * phase).sin(),
                            SignalKind::Square if phase < 0.5 => 1.0,
                            SignalKind::Square => -1.0,
                            _ => 2.0 * phase - 1.0, // sawtooth
                        }
            }
            Signal::Counter { offset, step } => offset + step * n as f64,
        }
    }

    /// The row for grid time `t_ms`, or `None` if that time is not after the last row's.
    fn row_at(&mut self, t_ms: i64) -> Option<[Value<'static>; 2]> {
        if self.last_ms.is_some_and(|last| t_ms <= last) {
            return None;
        }
        self.last_ms = Some(t_ms);
        let v = self.value(t_ms);
        Some([
            Value::Time(t_ms.saturating_mul(1_000_000)),
            Value::Number(v),
        ])
    }

    /// The latest grid time at or before `now_ms`.
    fn grid(&self, now_ms: i64) -> i64 {
        now_ms - now_ms.rem_euclid(self.tick_ms)
    }
}

impl Source for SignalSource {
    fn fields(&self) -> Vec<Field> {
        vec![
            Field::new("time", FieldType::Time),
            Field::new("value", FieldType::Number).with_config(FieldConfig {
                display_name_from_ds: Some(self.signal.kind().as_str().to_owned()),
                ..FieldConfig::default()
            }),
        ]
    }

    fn history(&mut self, batch: &mut Batch<'_>, now_ms: i64) -> Result<(), PluginError> {
        let last = self.grid(now_ms);
        let rows = batch.capacity() as i64;
        for k in (0..rows).rev() {
            if let Some(row) = self.row_at(last - k * self.tick_ms) {
                batch.push_row(&row)?;
            }
        }
        Ok(())
    }

    async fn run(mut self, sink: RowSink) -> Result<(), PluginError> {
        let tick = Duration::from_millis(self.tick_ms.unsigned_abs());
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            let now = self.grid(sink.clock().now_ms());
            // Every grid time since the last row, not only the newest: a tick that fires late
            // (a busy machine, or the monotonic timer drifting against the wall clock) lands
            // in the next slot, the following on-time tick in that same slot again, and the
            // series would have a hole. The catch-up is bounded by the ring's capacity (older
            // rows would be dropped at once).
            sink.batch(|batch| {
                let span = (batch.capacity() as i64 - 1).saturating_mul(self.tick_ms);
                let mut t = match self.last_ms {
                    Some(last) => last
                        .saturating_add(self.tick_ms)
                        .max(now.saturating_sub(span)),
                    None => now,
                };
                while t <= now {
                    if let Some(row) = self.row_at(t) {
                        batch.push_row(&row)?;
                    }
                    let Some(next) = t.checked_add(self.tick_ms) else {
                        break;
                    };
                    t = next;
                }
                Ok::<(), PluginError>(())
            })?;
        }
    }
}

/// SplitMix64: a small, fast, well-mixed generator; plenty for synthetic signals.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::SourceSpec;

    fn spec(signal: Signal) -> StreamSpec {
        StreamSpec {
            source: SourceSpec::Signal(signal),
            tick_ms: 100,
            capacity: 10,
            ..StreamSpec::default()
        }
    }

    #[test]
    fn random_stays_in_range_and_is_reproducible() {
        let s = spec(Signal::Random { min: 2.0, max: 3.0 });
        let mut a = SignalSource::new(&s, 7);
        let mut b = SignalSource::new(&s, 7);
        for t in 0..1000 {
            let (x, y) = (a.value(t), b.value(t));
            assert!((2.0..3.0).contains(&x), "{x}");
            assert_eq!(x.to_bits(), y.to_bits());
        }
        assert_ne!(
            SignalSource::new(&s, 8).value(0),
            SignalSource::new(&s, 7).value(0)
        );
    }

    #[test]
    fn waves_follow_their_period() {
        let wave = |kind| {
            spec(Signal::Wave {
                kind,
                amplitude: 2.0,
                period_ms: 1000,
                offset: 1.0,
            })
        };
        let mut sine = SignalSource::new(&wave(SignalKind::Sine), 0);
        assert!((sine.value(250) - 3.0).abs() < 1e-12);
        assert!((sine.value(750) + 1.0).abs() < 1e-12);
        let mut square = SignalSource::new(&wave(SignalKind::Square), 0);
        assert_eq!((square.value(100), square.value(600)), (3.0, -1.0));
        let mut saw = SignalSource::new(&wave(SignalKind::Sawtooth), 0);
        assert_eq!((saw.value(0), saw.value(500)), (-1.0, 1.0));
    }

    #[test]
    fn counter_and_walk_start_where_asked() {
        let mut c = SignalSource::new(
            &spec(Signal::Counter {
                offset: 5.0,
                step: 2.0,
            }),
            0,
        );
        assert_eq!([c.value(0), c.value(1), c.value(2)], [5.0, 7.0, 9.0]);
        let mut w = SignalSource::new(
            &spec(Signal::RandomWalk {
                start: 10.0,
                spread: 0.5,
            }),
            3,
        );
        assert_eq!(w.value(0), 10.0);
        let next = w.value(1);
        assert!((next - 10.0).abs() <= 0.5 && next != 10.0);
    }

    #[test]
    fn history_fills_the_grid_up_to_now() {
        let s = spec(Signal::Counter {
            offset: 0.0,
            step: 1.0,
        });
        let mut src = SignalSource::new(&s, 0);
        let mut ring = ringstream_frame::RingFrame::new(s.capacity);
        for f in src.fields() {
            ring.add_field(f).unwrap();
        }
        src.history(&mut Batch::new(&mut ring), 10_050).unwrap();
        assert_eq!(ring.len(), 10);
        assert_eq!(ring.get(9, 0), Some(Value::Time(10_000 * 1_000_000)));
        assert_eq!(ring.get(0, 0), Some(Value::Time(9_100 * 1_000_000)));
        // A tick at the same grid time is not repeated.
        assert!(src.row_at(10_000).is_none());
    }
}
