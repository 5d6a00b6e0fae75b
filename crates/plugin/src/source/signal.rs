//! The `signal` source: the tutorial's stream and its relatives, as (time, value) rows.
//!
//! Rows fall on a grid of `tickMs` aligned to the epoch, so streams with the same tick line
//! up, and backfilled history sits on the same grid as the live rows after it. Waves are
//! functions of the row's time. With a `seed`, so are the random signals: a row's value
//! comes from the seed and the row's grid index alone ([`by_index`]), so every plugin process
//! (each node of an HA Grafana, a restarted plugin) gives the same rows for the same query.
//! Without one, random values come from a generator seeded per stream, and a random walk
//! starts at `start` when its stream opens.
//!
//! Channel paths: `v1/<signal>/<its parameters>/tick=<ms>/cap=<rows>[/seed=<n>]/backfill=<0|1>`,
//! e.g. `v1/random_walk/start=0/spread=1/tick=100/cap=1000/backfill=1`.

use std::time::Duration;

use ringstream_frame::{Field, FieldConfig, FieldType, Value};

use super::{
    Batch, DynSource, Layout, OpenContext, RowSink, Rule, Source, SourceInfo, SourceKind, Variant,
    Variants, VARIANT_PARAMS,
};
use crate::param::{Kind, Param, Value as P, Values};
use crate::query::{limits, StreamSpec};
use crate::PluginError;

/// The signal source, as the registry holds it.
pub static SIGNAL: Signals = Signals;

/// The signal source's kind (see [`SourceKind`]).
#[derive(Debug)]
pub struct Signals;

/// A number parameter of a signal.
const fn number(name: &'static str, default: f64, min: f64, doc: &'static str) -> Param {
    Param {
        name,
        path_key: name,
        kind: Kind::Number {
            min,
            max: limits::MAX_ABS_PARAM,
            default,
        },
        unit: None,
        doc,
    }
}

const ANY: f64 = -limits::MAX_ABS_PARAM;

/// The parameters of the three waves.
const WAVE: &[Param] = &[
    number("amplitude", 1.0, ANY, "half the peak-to-peak height"),
    Param {
        name: "periodMs",
        path_key: "period",
        kind: Kind::Integer {
            min: 1,
            max: 365 * 24 * 3_600_000,
            default: Some(10_000),
        },
        unit: Some("ms"),
        doc: "the wave's period",
    },
    number("offset", 0.0, ANY, "the centre line"),
];

/// The signals, in the order the docs list them.
static VARIANTS: [Variant; 6] = [
    Variant::new(
        "random_walk",
        "a random walk: each value is the previous plus a uniform step in [-spread, spread]; \
         with a seed, a function of the row's time (the same on every plugin process): steps \
         of the same variance, back at start every 4096 rows",
        &[
            number(
                "start",
                0.0,
                ANY,
                "the first value (with a seed: the value every 4096th grid time)",
            ),
            number("spread", 1.0, 0.0, "the largest step (spread ≥ 0)"),
        ],
    ),
    Variant {
        name: "random",
        doc: "uniform random values in [min, max): the tutorial's Math.random() by default",
        params: &[
            number("min", 0.0, ANY, "the lower bound (inclusive)"),
            number("max", 1.0, ANY, "the upper bound (exclusive), above min"),
        ],
        rules: &[Rule {
            param: "max",
            greater_than: "min",
        }],
    },
    Variant::new("sine", "offset + amplitude · sin(2π t / period)", WAVE),
    Variant::new(
        "square",
        "offset ± amplitude, switching every half period",
        WAVE,
    ),
    Variant::new(
        "sawtooth",
        "rises linearly from offset - amplitude to offset + amplitude each period",
        WAVE,
    ),
    Variant::new(
        "counter",
        "offset, offset + step, offset + 2 step, …",
        &[
            number("offset", 0.0, ANY, "the first value"),
            number("step", 1.0, ANY, "the increment per row"),
        ],
    ),
];

/// `signal`: which one.
const SIGNAL_PARAM: Param = Param {
    name: "signal",
    path_key: "signal",
    kind: Kind::Choice {
        values: &[
            "random_walk",
            "random",
            "sine",
            "square",
            "sawtooth",
            "counter",
        ],
        default: "random_walk",
    },
    unit: None,
    doc: "which signal",
};

/// `seed`: the randomness, for reproducible values.
const SEED: Param = Param {
    name: "seed",
    path_key: "seed",
    kind: Kind::Integer {
        min: 0,
        max: limits::MAX_SEED,
        default: None,
    },
    unit: None,
    doc: "makes the values reproducible (random when absent)",
};

/// What the signal source is.
static INFO: SourceInfo = SourceInfo {
    name: "signal",
    display_name: "Signal",
    doc: "synthetic signals on a tickMs grid, with history",
    params: &[SEED],
    variants: Variants::PickedBy(&SIGNAL_PARAM, &VARIANTS),
    layout: Layout {
        segment: None,
        order: &[VARIANT_PARAMS, "tickMs", "capacity", "seed", "backfill"],
        tail: None,
    },
    section: None,
};

impl SourceKind for Signals {
    fn info(&self) -> &'static SourceInfo {
        &INFO
    }

    fn rows_per_second(&self, spec: &StreamSpec) -> u64 {
        1000_u64.div_ceil(spec.tick_ms.max(1))
    }

    fn open(
        &self,
        spec: &StreamSpec,
        ctx: &OpenContext<'_>,
    ) -> Result<Box<dyn DynSource>, PluginError> {
        let seed = spec
            .seed()
            .unwrap_or_else(|| crate::rand::random_u64() ^ ctx.clock.now_ms() as u64);
        tracing::debug!(seed, "signal stream opening");
        Ok(Box::new(SignalSource::new(spec, seed)))
    }
}

/// The signals the `signal` source produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// A random walk: each value is the previous plus a uniform step in `[-spread, spread]`.
    RandomWalk,
    /// Uniform random values in `[min, max)`: the tutorial's `Math.random()` by default.
    Random,
    /// `offset + amplitude * sin(2π t / period)`.
    Sine,
    /// `offset ± amplitude`, switching every half period.
    Square,
    /// Rises linearly from `offset - amplitude` to `offset + amplitude` each period.
    Sawtooth,
    /// `offset`, `offset + step`, `offset + 2 step`, …
    Counter,
}

impl SignalKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [SignalKind; 6] = [
        Self::RandomWalk,
        Self::Random,
        Self::Sine,
        Self::Square,
        Self::Sawtooth,
        Self::Counter,
    ];

    /// The name in queries and channel paths.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RandomWalk => "random_walk",
            Self::Random => "random",
            Self::Sine => "sine",
            Self::Square => "square",
            Self::Sawtooth => "sawtooth",
            Self::Counter => "counter",
        }
    }

    /// The kind called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for SignalKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signal and its parameters: the typed view of a signal stream's spec.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// See [`SignalKind::RandomWalk`].
    RandomWalk {
        /// First value.
        start: f64,
        /// Largest step.
        spread: f64,
    },
    /// See [`SignalKind::Random`].
    Random {
        /// Lower bound (inclusive).
        min: f64,
        /// Upper bound (exclusive).
        max: f64,
    },
    /// A periodic wave: see [`SignalKind::Sine`], [`SignalKind::Square`],
    /// [`SignalKind::Sawtooth`].
    Wave {
        /// Which wave.
        kind: SignalKind,
        /// Half the peak-to-peak height.
        amplitude: f64,
        /// The period in milliseconds.
        period_ms: u64,
        /// The centre line.
        offset: f64,
    },
    /// See [`SignalKind::Counter`].
    Counter {
        /// First value.
        offset: f64,
        /// Increment per row.
        step: f64,
    },
}

impl Signal {
    /// The signal's kind.
    pub fn kind(&self) -> SignalKind {
        match *self {
            Signal::RandomWalk { .. } => SignalKind::RandomWalk,
            Signal::Random { .. } => SignalKind::Random,
            Signal::Wave { kind, .. } => kind,
            Signal::Counter { .. } => SignalKind::Counter,
        }
    }

    /// The signal a spec asks for; `None` for another source's spec.
    pub fn of(spec: &StreamSpec) -> Option<Signal> {
        if spec.source.name() != SIGNAL.name() {
            return None;
        }
        let v = &spec.values;
        let n = |name| v.number(name).unwrap_or(0.0);
        let kind = SignalKind::parse(spec.variant.name)?;
        Some(match kind {
            SignalKind::RandomWalk => Signal::RandomWalk {
                start: n("start"),
                spread: n("spread"),
            },
            SignalKind::Random => Signal::Random {
                min: n("min"),
                max: n("max"),
            },
            SignalKind::Sine | SignalKind::Square | SignalKind::Sawtooth => Signal::Wave {
                kind,
                amplitude: n("amplitude"),
                period_ms: v.integer("periodMs").unwrap_or(1),
                offset: n("offset"),
            },
            SignalKind::Counter => Signal::Counter {
                offset: n("offset"),
                step: n("step"),
            },
        })
    }

    /// The spec of a stream of this signal (values unchecked: a spec made this way is what
    /// a query with these values would give).
    pub fn spec(
        self,
        tick_ms: u64,
        capacity: usize,
        seed: Option<u64>,
        backfill: bool,
    ) -> StreamSpec {
        let variant = VARIANTS
            .iter()
            .find(|v| v.name == self.kind().as_str())
            .unwrap_or(&VARIANTS[0]);
        let mut values = Values::default();
        if let Some(seed) = seed {
            values.set("seed", P::Integer(seed));
        }
        let zero = |x: f64| P::Number(if x == 0.0 { 0.0 } else { x });
        match self {
            Signal::RandomWalk { start, spread } => {
                values.set("start", zero(start));
                values.set("spread", zero(spread));
            }
            Signal::Random { min, max } => {
                values.set("min", zero(min));
                values.set("max", zero(max));
            }
            Signal::Wave {
                amplitude,
                period_ms,
                offset,
                ..
            } => {
                values.set("amplitude", zero(amplitude));
                values.set("periodMs", P::Integer(period_ms));
                values.set("offset", zero(offset));
            }
            Signal::Counter { offset, step } => {
                values.set("offset", zero(offset));
                values.set("step", zero(step));
            }
        }
        StreamSpec {
            source: &SIGNAL,
            variant,
            values,
            tick_ms,
            capacity,
            backfill,
        }
    }
}

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
    /// The query's seed: values are then functions of (seed, grid index).
    seeded: Option<u64>,
}

impl SignalSource {
    /// A source for `spec`, drawing randomness from `seed` (a spec of another source gives
    /// the default random walk; the registry never asks for that).
    pub fn new(spec: &StreamSpec, seed: u64) -> Self {
        let signal = Signal::of(spec).unwrap_or(Signal::RandomWalk {
            start: 0.0,
            spread: 1.0,
        });
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
            seeded: spec.seed(),
        }
    }

    /// The value of the row at `t_ms`, advancing the generator by one row.
    fn value(&mut self, t_ms: i64) -> f64 {
        let n = self.n;
        self.n += 1;
        let index = t_ms.div_euclid(self.tick_ms);
        match (self.signal, self.seeded) {
            (Signal::Random { min, max }, Some(seed)) => {
                return min + (max - min) * by_index::uniform(seed, index);
            }
            (Signal::RandomWalk { start, spread }, Some(seed)) => {
                return start + by_index::bridge(seed, index, spread / 3f64.sqrt());
            }
            _ => {}
        }
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
            let mut pushed = Ok(());
            sink.batch(|batch| {
                pushed = self.catch_up(batch, now);
            });
            pushed?;
        }
    }
}

impl SignalSource {
    /// Every grid time since the last row up to `now`, within the ring's span.
    fn catch_up(&mut self, batch: &mut Batch<'_>, now: i64) -> Result<(), PluginError> {
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
        Ok(())
    }
}

/// Seeded values as functions of (seed, grid index), so that any process computes any row
/// without the rows before it.
pub mod by_index {
    /// Rows between two grid times where a seeded random walk is back at its start.
    pub const BRIDGE_ROWS: i64 = 1 << 12;

    /// SplitMix64's step and output function: a bijective mix of 64 bits.
    pub(super) fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 64 random bits for (`seed`, `a`, `b`).
    fn hash(seed: u64, a: u64, b: u64) -> u64 {
        mix(mix(mix(seed) ^ a) ^ b)
    }

    /// `[0, 1)` from 53 bits.
    fn unit(bits: u64) -> f64 {
        (bits >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform value in `[0, 1)` for row `index`.
    pub fn uniform(seed: u64, index: i64) -> f64 {
        unit(hash(seed, index as u64, 0))
    }

    /// A standard normal value for (`block`, `key`) (Box–Muller).
    fn normal(seed: u64, block: u64, key: u64) -> f64 {
        let u1 = 1.0 - unit(hash(seed, block, key << 1)); // (0, 1]: ln is finite
        let u2 = unit(hash(seed, block, (key << 1) | 1));
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A Gaussian random walk with step deviation `sigma`, pinned at 0 at every multiple
    /// of [`BRIDGE_ROWS`], at row `index`: each block is a Brownian bridge drawn top-down
    /// (Lévy's construction): a midpoint given its interval's two ends is normal around
    /// their mean with variance `sigma² · len / 4`, so the value of any row takes 12
    /// midpoints, and every row agrees with its neighbours as one walk would.
    pub fn bridge(seed: u64, index: i64, sigma: f64) -> f64 {
        let block = index.div_euclid(BRIDGE_ROWS) as u64;
        let j = index.rem_euclid(BRIDGE_ROWS);
        let (mut lo, mut hi, mut a, mut b) = (0_i64, BRIDGE_ROWS, 0.0_f64, 0.0_f64);
        while lo != j {
            let mid = lo + (hi - lo) / 2;
            let sd = sigma * ((hi - lo) as f64).sqrt() / 2.0;
            // Each interior index is the midpoint of exactly one interval: its key.
            let m = (a + b) / 2.0 + sd * normal(seed, block, mid as u64);
            if j < mid {
                (hi, b) = (mid, m);
            } else {
                (lo, a) = (mid, m);
            }
        }
        a
    }
}

/// SplitMix64: a small, fast, well-mixed generator; plenty for synthetic signals.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        let z = by_index::mix(self.0);
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(signal: Signal) -> StreamSpec {
        signal.spec(100, 10, None, true)
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
    fn seeded_streams_opened_at_different_times_agree_row_for_row() {
        for signal in [
            Signal::Random { min: 2.0, max: 3.0 },
            Signal::RandomWalk {
                start: 5.0,
                spread: 0.5,
            },
        ] {
            let s = signal.spec(100, 10, Some(42), true);
            // One process opened the stream an hour earlier than the other.
            let mut early = SignalSource::new(&s, 42);
            let mut late = SignalSource::new(&s, 42);
            let hour = 3_600_000;
            for t in (0..hour).step_by(100_000) {
                early.value(1_700_000_000_000 + t);
            }
            for t in (hour..hour + 5_000).step_by(100) {
                let t = 1_700_000_000_000 + t;
                assert_eq!(
                    early.value(t).to_bits(),
                    late.value(t).to_bits(),
                    "{signal:?}"
                );
            }
            let other = signal.spec(100, 10, Some(43), true);
            assert_ne!(
                SignalSource::new(&other, 43).value(1_700_000_000_000),
                SignalSource::new(&s, 42).value(1_700_000_000_000)
            );
        }
    }

    #[test]
    fn a_seeded_walk_steps_like_the_unseeded_one_and_returns_to_start() {
        let (start, spread) = (10.0, 0.5);
        let s = Signal::RandomWalk { start, spread }.spec(100, 10, Some(7), true);
        let mut w = SignalSource::new(&s, 7);
        let block = by_index::BRIDGE_ROWS * 100;
        let values: Vec<f64> = (0..20_000).map(|i| w.value(block + i * 100)).collect();
        assert_eq!(values[0], start, "pinned at start at a block boundary");
        let steps: Vec<f64> = values.windows(2).map(|p| p[1] - p[0]).collect();
        let var = steps.iter().map(|d| d * d).sum::<f64>() / steps.len() as f64;
        // A uniform step in [-spread, spread] has variance spread² / 3.
        let want = spread * spread / 3.0;
        assert!(
            (var / want - 1.0).abs() < 0.05,
            "step variance {var}, want {want}"
        );
        assert!(steps.iter().all(|d| d.abs() < 6.0 * want.sqrt()), "a jump");
        // The last row of a block steps into the next block's pinned start smoothly.
        let end = w.value(2 * block - 100);
        assert!((end - start).abs() < 6.0 * want.sqrt(), "{end}");
        assert_eq!(w.value(2 * block), start);
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
