//! Delivery properties over arbitrary schedules, under paused time: panels open (query, then
//! subscribe), subscribe without a query, leave; Grafana's RunStream is cancelled and
//! restarted; time advances by any amount. Whatever the schedule, every panel still
//! subscribed shows exactly the newest rows of the ring, each once, in order, from the first
//! row it was entitled to (its query frame's first row, or the served mark for a subscriber
//! without a query), and the packets of all RunStreams together carry every row after the
//! history exactly once. Queries may end before the plugin's now (a browser clock behind
//! the server's): the rows after the end reach the panel through the initial data.
//!
//! The stream is a counter (its value is the row's sequence number) every 100 ms, so a
//! lost, repeated or reordered row shows as a value out of step. The panels' `maxLength` is
//! at most the ring's capacity, as a panel's `maxDataPoints` is in practice; RunStreams stay
//! stopped for less than the ring's span (Grafana restarts a failed one within 5 s), so the
//! ring never drops a row no RunStream sent: the plugin's lagging rule, a separate part of
//! its spec, is not in play.

use std::time::Duration;

use proptest::prelude::*;
use ringstream_harness::host::channel_path;
use ringstream_harness::live::{Action, LiveOptions};
use ringstream_harness::panel::Panel;
use ringstream_harness::wire;
use serde_json::json;

use crate::inproc::{paused_runtime, InProc, Runner};

const TICK: u64 = 100;

#[derive(Debug, Clone)]
enum Op {
    /// Time passes (ms), then the packets sent meanwhile reach the subscribed panels.
    Advance(u64),
    /// A panel runs its query (and subscribes at its next `Subscribe`, or before the next
    /// `Query`: Grafana subscribes right after the query returns).
    Query,
    /// The queried panel subscribes; with none waiting, a panel subscribes without a query.
    Subscribe,
    /// A panel closes.
    Leave(usize),
    /// Grafana cancels the RunStream.
    Cancel,
    /// Grafana (re)starts the RunStream.
    Start,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..=9).prop_map(|k| Op::Advance(k * 50)),
        2 => Just(Op::Query),
        2 => Just(Op::Subscribe),
        1 => any::<usize>().prop_map(Op::Leave),
        2 => Just(Op::Cancel),
        2 => Just(Op::Start),
    ]
}

struct Shown {
    panel: Panel,
    /// The first counter value this panel is entitled to (`None`: the model cannot tell,
    /// after a query that returned no row).
    start: Option<f64>,
    max_length: usize,
}

struct Sim {
    inproc: InProc,
    path: String,
    query: serde_json::Value,
    capacity: usize,
    max_length: usize,
    panels: Vec<Shown>,
    pending: Option<Shown>,
    runner: Option<Runner>,
    /// The channel exists (some call opened it).
    open: bool,
    /// How long the channel has gone without a running RunStream: the span of rows that
    /// may be waiting unpublished (a RunStream started and cancelled before time passed
    /// sent nothing).
    stopped_ms: u64,
    /// The counter value at the served mark: one past the last QueryData's last row
    /// (`Some(None)`: a query returned no row, so the model cannot tell).
    served: Option<Option<f64>>,
    /// How far the browser's clock is behind the plugin's: queries end this long before now.
    lag_ms: i64,
    /// When the simulation started (tokio's clock), for the queries' `to`.
    t0: tokio::time::Instant,
    /// Every counter value of every packet, in order.
    log: Vec<f64>,
}

impl Sim {
    fn deliver(&mut self, packets: Vec<Vec<u8>>) -> Result<(), TestCaseError> {
        for bytes in packets {
            let message =
                wire::decode_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if let Some(data) = &message.data {
                self.log.extend(
                    data.values[1]
                        .iter()
                        .map(|v| v.as_f64().unwrap_or(f64::NAN)),
                );
            }
            for shown in &mut self.panels {
                shown
                    .panel
                    .push_packet(&message)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<(), TestCaseError> {
        let packets = self.runner.as_mut().map(Runner::drain).unwrap_or_default();
        self.deliver(packets)
    }

    async fn start(&mut self) {
        if self.runner.is_none() {
            self.runner = Some(self.inproc.run_stream(&self.path).await);
            self.open = true;
        }
    }

    async fn subscribe(&mut self, mut shown: Shown) -> Result<(), TestCaseError> {
        self.drain()?; // packets sent before the subscription are not this panel's
        let (status, data) = self.inproc.subscribe(&self.path).await;
        prop_assert_eq!(status, 0, "subscribe refused");
        shown
            .panel
            .push_initial(&data)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        self.open = true;
        self.panels.push(shown);
        Ok(())
    }

    fn options(&self) -> LiveOptions {
        LiveOptions {
            max_length: self.max_length,
            max_delta: None,
            action: Action::Append,
        }
    }

    async fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Advance(ms) => {
                // Grafana restarts a stopped RunStream long before the ring could drop a
                // row no one sent (see the module docs).
                let limit = (self.capacity as u64 - 2) * TICK;
                if self.open && self.runner.is_none() && self.stopped_ms + ms > limit {
                    self.start().await;
                }
                tokio::time::sleep(Duration::from_millis(ms)).await;
                if self.runner.is_some() && ms > 0 {
                    self.stopped_ms = 0; // the RunStream ran meanwhile and sent what there was
                } else if self.open {
                    self.stopped_ms += ms;
                }
                self.drain()?;
            }
            Op::Query => {
                if let Some(waiting) = self.pending.take() {
                    self.subscribe(waiting).await?;
                }
                self.drain()?;
                let now_ms = crate::inproc::EPOCH_MS
                    + i64::try_from(self.t0.elapsed().as_millis()).unwrap_or(i64::MAX / 2);
                let frame = self
                    .inproc
                    .query(self.query.clone(), (0, now_ms - self.lag_ms))
                    .await
                    .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                let path = channel_path(frame.channel().unwrap_or_default(), &self.inproc.uid())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(path, self.path.as_str());
                let values: Vec<f64> = frame
                    .field("value")
                    .map(|f| {
                        f.values
                            .iter()
                            .map(|c| match c {
                                ringstream_harness::query_frame::Cell::Number(x) => *x,
                                _ => f64::NAN,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                // Rows newer than the query's end come with the initial data: the served mark
                // is one past the frame's last row.
                let start = values.first().copied();
                self.served = Some(values.last().map(|v| v + 1.0));
                let panel = Panel::with_query_frame(&frame, self.options())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                self.open = true;
                self.pending = Some(Shown {
                    panel,
                    start,
                    max_length: self.max_length,
                });
            }
            Op::Subscribe => {
                let shown = match self.pending.take() {
                    Some(waiting) => waiting,
                    None => Shown {
                        panel: Panel::new(self.options()),
                        start: self.served.unwrap_or(Some(0.0)),
                        max_length: self.max_length,
                    },
                };
                self.subscribe(shown).await?;
            }
            Op::Leave(i) => {
                if !self.panels.is_empty() {
                    let i = i % self.panels.len();
                    self.panels.remove(i);
                }
            }
            Op::Cancel => {
                if let Some(runner) = self.runner.take() {
                    let packets = runner.cancel().await;
                    self.deliver(packets)?;
                }
            }
            Op::Start => self.start().await,
        }
        Ok(())
    }
}

fn check(sim: &Sim, history: usize) -> Result<(), TestCaseError> {
    // The packets of all RunStreams: every row after the history, once, in order.
    let log = &sim.log;
    prop_assert!(!log.is_empty(), "no packet after the final ticks");
    prop_assert_eq!(
        log[0],
        history as f64,
        "the first packet starts after the history"
    );
    for w in log.windows(2) {
        prop_assert_eq!(w[1], w[0] + 1.0, "packets skip or repeat a row: {:?}", log);
    }
    let newest = *log.last().unwrap_or(&f64::NAN);
    for (k, shown) in sim.panels.iter().enumerate() {
        let panel = &shown.panel;
        let values = panel.numbers("value").unwrap_or_default();
        let times = panel.numbers("time").unwrap_or_default();
        let table = || panel.to_table_tail(12);
        prop_assert_eq!(values.len(), times.len());
        for w in values.windows(2) {
            prop_assert_eq!(
                w[1],
                w[0] + 1.0,
                "panel {} loses or repeats a row:\n{}",
                k,
                table()
            );
        }
        for w in times.windows(2) {
            prop_assert_eq!(w[1] - w[0], TICK as f64, "panel {} times:\n{}", k, table());
        }
        prop_assert_eq!(
            values.last().copied(),
            Some(newest),
            "panel {} is behind:\n{}",
            k,
            table()
        );
        let Some(start) = shown.start else { continue };
        let first = start.max(newest - shown.max_length as f64 + 1.0);
        prop_assert_eq!(
            values.first().copied(),
            Some(first),
            "panel {} should start at {} (entitled from {}, maxLength {}):\n{}",
            k,
            first,
            start,
            shown.max_length,
            table()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn panels_show_every_row_once_in_order_whatever_the_schedule(
        capacity in 5usize..=30,
        max_length_seed in any::<usize>(),
        backfill in any::<bool>(),
        lag_ms in prop_oneof![Just(0i64), 1i64..=300],
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let max_length = 1 + max_length_seed % capacity;
        paused_runtime().block_on(async {
            let query = json!({
                "signal": "counter", "tickMs": TICK, "capacity": capacity, "backfill": backfill,
            });
            let spec = ringstream_plugin::query::StreamSpec::from_json_bytes(query.to_string().as_bytes())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut sim = Sim {
                inproc: InProc::new(),
                path: ringstream_plugin::ChannelPath::of(&spec).to_string(),
                query,
                capacity,
                max_length,
                panels: Vec::new(),
                pending: None,
                runner: None,
                open: false,
                stopped_ms: 0,
                served: None,
                lag_ms,
                t0: tokio::time::Instant::now(),
                log: Vec::new(),
            };
            for op in &ops {
                sim.apply(op).await?;
            }
            // Grafana subscribes the last queried panel and keeps the stream running.
            sim.apply(&Op::Subscribe).await?;
            sim.start().await;
            sim.apply(&Op::Advance(3 * TICK)).await?;
            check(&sim, if backfill { capacity } else { 0 })
        })?;
    }
}

/// A wall clock that runs ahead of tokio's timer by a settable amount: what a timer tick
/// that fires late looks like to a source (or the monotonic timer drifting against the
/// wall clock).
struct SkewedClock {
    base: ringstream_plugin::clock::TokioClock,
    ahead_ms: std::sync::atomic::AtomicI64,
}

impl ringstream_plugin::clock::Clock for SkewedClock {
    fn now_ms(&self) -> i64 {
        self.base.now_ms() + self.ahead_ms.load(std::sync::atomic::Ordering::Relaxed)
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// However the wall clock jumps ahead of the timer between ticks, the rows stay on the
    /// grid, `tickMs` apart: a late tick is caught up, never a hole in the series.
    #[test]
    fn late_ticks_leave_no_hole_in_the_series(
        jumps in prop::collection::vec((1u64..=20, 0i64..=450), 1..12),
    ) {
        paused_runtime().block_on(async {
            let clock = std::sync::Arc::new(SkewedClock {
                base: ringstream_plugin::clock::TokioClock::starting_at(crate::inproc::EPOCH_MS),
                ahead_ms: 0.into(),
            });
            let inproc = InProc::with_clock(clock.clone());
            let query = json!({"signal": "counter", "tickMs": TICK, "capacity": 1000});
            let frame = inproc.query(query.clone(), (0, i64::MAX / 1_000_000)).await
                .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            let path = channel_path(frame.channel().unwrap_or_default(), &inproc.uid())
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .to_owned();
            let mut runner = inproc.run_stream(&path).await;
            for (ticks, jump) in &jumps {
                tokio::time::sleep(Duration::from_millis(ticks * TICK)).await;
                clock.ahead_ms.fetch_add(*jump, std::sync::atomic::Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(3 * TICK)).await;
            let mut times = Vec::new();
            for bytes in runner.drain() {
                let message = wire::decode_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
                if let Some(data) = message.data {
                    times.extend(data.values[0].iter().map(|v| v.as_f64().unwrap_or(f64::NAN)));
                }
            }
            prop_assert!(times.len() > jumps.len());
            for w in times.windows(2) {
                prop_assert_eq!(w[1] - w[0], TICK as f64, "a hole or a repeat in {:?}", times);
            }
            Ok(())
        })?;
    }
}
