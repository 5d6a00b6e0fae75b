//! The stream hub: one producer per channel, shared by every panel that shows it.
//!
//! # Specification
//!
//! **Channels.** A channel is a [`ChannelPath`] (equal queries give equal paths), a
//! [`RingFrame`] of the query's `capacity`, and one producer task running the stream's
//! [`Source`]. [`StreamHub::open`] returns the channel, creating it on first use; at most
//! [`HubConfig::max_channels`] exist at once ([`PluginError::TooManyChannels`] beyond).
//!
//! **Capacity.** The ring keeps the newest `capacity` rows; older rows are dropped as new
//! ones arrive. Nothing else in a channel grows with time.
//!
//! **Publishing.** Every row has a sequence number. A channel keeps a *cursor*: rows below it
//! have been published to Grafana Live (by a RunStream) or were history when the channel was
//! created. Each of Grafana's three calls sees the ring through the cursor, which is what
//! keeps every row in a panel exactly once:
//! - QueryData ([`Channel::query_frame`]) returns the published rows within the query's time
//!   range, and remembers the cursor as the channel's *served* mark;
//! - SubscribeStream ([`Channel::initial_data`]) returns the schema and the rows published
//!   since the served mark: what a panel that just ran its query has not seen. A subscriber
//!   that ran no query since the channel was created gets every published row;
//! - RunStream ([`Channel::run_stream`]) sends the schema once, then data-only packets of the
//!   rows from the cursor on, moving the cursor. A restarted RunStream continues at the
//!   cursor: nothing is sent twice, nothing skipped.
//!
//! Rows produced while no RunStream runs stay unpublished until one starts; a panel sees
//! them then. (The served mark is per channel, not per panel: if a second panel queries the
//! same channel between a first panel's query and its subscribe, the first panel misses the
//! rows published in between. Grafana gives the plugin no way to tell its panels apart.)
//!
//! **Pacing.** A RunStream sends at most one packet per `tickMs`; rows arriving faster are
//! batched into the next packet, and none is dropped that the ring still holds.
//!
//! **Lagging.** A RunStream that falls more than `capacity` rows behind skips what the ring
//! dropped; the packet after the gap is logged with the number of rows missed.
//!
//! **Closing.** A channel stays while a RunStream uses it and for [`HubConfig::linger`] after
//! the last one ended (or after the last QueryData / SubscribeStream when none ran), so that
//! Grafana's restart of a RunStream, or a dashboard refresh, finds the stream still going.
//! Then the producer is aborted and the ring freed. A producer that fails makes every
//! RunStream of the channel end with that error (Grafana restarts them) and the channel is
//! recreated on next use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use futures_util::Stream;
use ringstream_frame::json::{self, StreamEncoder};
use ringstream_frame::{AppendMode, RingFrame, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::channel::ChannelPath;
use crate::clock::{Clock, SystemClock};
use crate::query::{SourceSpec, StreamSpec};
use crate::source::{SignalSource, Source};
use crate::PluginError;

/// Limits and time of a [`StreamHub`].
#[derive(Clone)]
pub struct HubConfig {
    /// The most channels at once (default 10 000).
    pub max_channels: usize,
    /// How long an unused channel lives on (default 10 s: longer than Grafana's RunStream
    /// restart backoff, which is capped at 5 s).
    pub linger: Duration,
    /// Where sources read the time.
    pub clock: Arc<dyn Clock>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            max_channels: 10_000,
            linger: Duration::from_secs(10),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("max_channels", &self.max_channels)
            .field("linger", &self.linger)
            .finish_non_exhaustive()
    }
}

/// The hub: every live channel of this plugin process. Cheap to clone.
#[derive(Clone, Debug)]
pub struct StreamHub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: HubConfig,
    channels: Mutex<HashMap<ChannelPath, Arc<Channel>>>,
}

/// Locks a mutex, ignoring poisoning: every critical section leaves its data consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl StreamHub {
    /// A hub with `config`. Spawns the task that closes idle channels, so it must be called
    /// inside a tokio runtime.
    pub fn new(config: HubConfig) -> Self {
        let inner = Arc::new(Inner {
            config,
            channels: Mutex::new(HashMap::new()),
        });
        tokio::spawn(reap(Arc::downgrade(&inner)));
        Self { inner }
    }

    /// The hub's configuration.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// Channels open now.
    pub fn channel_count(&self) -> usize {
        lock(&self.inner.channels).len()
    }

    /// The channel for `spec`, created (with its history, when the spec asks for backfill)
    /// if it does not exist.
    ///
    /// # Errors
    /// [`PluginError::TooManyChannels`] at the limit; a source's history failing.
    pub fn open(&self, path: &ChannelPath, spec: &StreamSpec) -> Result<Arc<Channel>, PluginError> {
        let mut channels = lock(&self.inner.channels);
        if let Some(channel) = channels.get(path) {
            if !channel.failed() {
                channel.touch();
                return Ok(Arc::clone(channel));
            }
        }
        if channels.len() >= self.inner.config.max_channels && !channels.contains_key(path) {
            return Err(PluginError::TooManyChannels {
                max: self.inner.config.max_channels,
            });
        }
        let channel = Arc::new(self.create(path, spec)?);
        channels.insert(path.clone(), Arc::clone(&channel));
        Ok(channel)
    }

    fn create(&self, path: &ChannelPath, spec: &StreamSpec) -> Result<Channel, PluginError> {
        let clock = Arc::clone(&self.inner.config.clock);
        let SourceSpec::Signal(_) = spec.source;
        let seed = spec.seed.unwrap_or_else(|| random_seed(clock.now_ms()));
        let mut source = SignalSource::new(spec, seed);
        let mut ring = RingFrame::try_new(spec.capacity, AppendMode::Tail)?;
        for field in source.fields() {
            ring.add_field(field)?;
        }
        if spec.backfill {
            source.history(&mut ring, clock.now_ms())?;
        }
        let cursor = ring.next_seq();
        let (seq, _) = watch::channel(cursor);
        let shared = Arc::new(Shared {
            ring: Mutex::new(ring),
            seq,
            clock,
            failure: Mutex::new(None),
        });
        let sink = RowSink {
            shared: Arc::clone(&shared),
        };
        let producer_shared = Arc::clone(&shared);
        let path_for_log = path.clone();
        let producer = tokio::spawn(async move {
            let outcome = source.run(sink).await;
            let why = match outcome {
                Ok(()) => "the source ended".to_owned(),
                Err(e) => e.to_string(),
            };
            tracing::warn!(path = %path_for_log, error = %why, "stream producer stopped");
            *lock(&producer_shared.failure) = Some(why);
            producer_shared.seq.send_modify(|_| {}); // wake RunStreams so they see it
        });
        tracing::debug!(path = %path, seed, "stream opened");
        Ok(Channel {
            path: path.clone(),
            tick: Duration::from_millis(spec.tick_ms),
            shared,
            state: Mutex::new(State {
                cursor,
                served: None,
                run_streams: 0,
                idle_since: Instant::now(),
            }),
            producer: producer.abort_handle(),
        })
    }
}

/// Closes channels that no RunStream used for the linger time.
async fn reap(inner: Weak<Inner>) {
    let period = match inner.upgrade() {
        Some(i) => (i.config.linger / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)),
        None => return,
    };
    let mut interval = tokio::time::interval(period);
    loop {
        interval.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let now = Instant::now();
        let linger = inner.config.linger;
        lock(&inner.channels).retain(|path, channel| {
            let state = lock(&channel.state);
            let keep = state.run_streams > 0 || now.duration_since(state.idle_since) < linger;
            if !keep {
                tracing::debug!(%path, "stream closed after linger");
            }
            keep
        });
    }
}

/// A seed for a query that gave none: different per stream and per process.
fn random_seed(now_ms: i64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now_ms);
    h.finish()
}

/// What a channel's producer shares with its readers.
#[derive(Debug)]
struct Shared {
    ring: Mutex<RingFrame>,
    /// The ring's `next_seq`, so readers can wait for new rows.
    seq: watch::Sender<u64>,
    clock: Arc<dyn Clock>,
    /// Why the producer stopped, once it has.
    failure: Mutex<Option<String>>,
}

impl std::fmt::Debug for dyn Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// A source's handle to its channel's ring.
#[derive(Debug)]
pub struct RowSink {
    shared: Arc<Shared>,
}

impl RowSink {
    /// Pushes a row by position; readers are woken.
    ///
    /// # Errors
    /// When the row does not fit the schema.
    pub fn push_row(&self, row: &[Value<'_>]) -> Result<u64, PluginError> {
        self.with_ring(|ring| ring.push_row(row))
            .map_err(PluginError::from)
    }

    /// Runs `f` on the ring (to push several rows, or add fields), then wakes readers.
    pub fn with_ring<R>(&self, f: impl FnOnce(&mut RingFrame) -> R) -> R {
        let (out, next) = {
            let mut ring = lock(&self.shared.ring);
            let out = f(&mut ring);
            (out, ring.next_seq())
        };
        self.shared.seq.send_if_modified(|seq| {
            let changed = *seq != next;
            *seq = next;
            changed
        });
        out
    }

    /// The clock row times should come from.
    pub fn clock(&self) -> &dyn Clock {
        &*self.shared.clock
    }
}

#[derive(Debug)]
struct State {
    /// Rows below this sequence number are published.
    cursor: u64,
    /// The cursor at the last QueryData.
    served: Option<u64>,
    run_streams: usize,
    /// Since when no RunStream has used the channel.
    idle_since: Instant,
}

/// One live stream; see the module docs.
#[derive(Debug)]
pub struct Channel {
    path: ChannelPath,
    tick: Duration,
    shared: Arc<Shared>,
    state: Mutex<State>,
    producer: tokio::task::AbortHandle,
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.producer.abort();
    }
}

impl Channel {
    /// The channel's path.
    pub fn path(&self) -> &ChannelPath {
        &self.path
    }

    fn failed(&self) -> bool {
        lock(&self.shared.failure).is_some()
    }

    fn touch(&self) {
        let mut state = lock(&self.state);
        if state.run_streams == 0 {
            state.idle_since = Instant::now();
        }
    }

    /// QueryData's frame: the published rows with a time in `from_ms..=to_ms`, oldest first,
    /// with the ring's schema. Marks them served.
    pub fn query_frame(&self, from_ms: i64, to_ms: i64) -> Result<RingFrame, PluginError> {
        let ring = lock(&self.shared.ring);
        let cursor = {
            let mut state = lock(&self.state);
            state.served = Some(state.cursor);
            state.cursor
        };
        let (from_ns, to_ns) = (
            from_ms.saturating_mul(1_000_000),
            to_ms.saturating_mul(1_000_000).saturating_add(999_999),
        );
        let time = ring.field_index("time");
        let rows: Vec<_> = ring
            .rows_between(ring.first_seq(), cursor)
            .into_iter()
            .filter(|row| match time.and_then(|j| row.get(j)) {
                Some(Value::Time(t)) => (from_ns..=to_ns).contains(&t),
                _ => true,
            })
            .collect();
        let mut out = RingFrame::try_new(rows.len().max(1), AppendMode::Tail)?;
        for field in ring.fields() {
            out.add_field(field.clone())?;
        }
        let mut cells = Vec::with_capacity(ring.fields().len());
        for row in rows {
            cells.clear();
            cells.extend(row.values());
            out.push_row(&cells)?;
        }
        Ok(out)
    }

    /// SubscribeStream's initial data: the schema and the rows published since the last
    /// QueryData (all published rows if none ran), as DataFrameJSON.
    pub fn initial_data(&self) -> String {
        let ring = lock(&self.shared.ring);
        let (from, to) = {
            let state = lock(&self.state);
            (state.served.unwrap_or(0), state.cursor)
        };
        let mut out = String::new();
        json::write_rows(&ring, ring.rows_between(from, to).rows(), true, &mut out);
        out
    }

    /// RunStream: the schema once, then data-only packets of new rows, forever (until the
    /// producer fails). Dropping the stream ends the RunStream.
    pub fn run_stream(
        self: &Arc<Self>,
    ) -> impl Stream<Item = Result<Vec<u8>, PluginError>> + Send + 'static {
        let start = {
            let mut state = lock(&self.state);
            state.run_streams += 1;
            state.cursor
        };
        let run = RunState {
            guard: RunGuard(Arc::clone(self)),
            encoder: StreamEncoder::starting_at(start),
            seq: self.shared.seq.subscribe(),
            buf: String::new(),
            last_sent: None,
        };
        futures_util::stream::unfold(run, |mut run| async move {
            let item = run.next().await?;
            Some((item, run))
        })
    }
}

struct RunState {
    guard: RunGuard,
    encoder: StreamEncoder,
    seq: watch::Receiver<u64>,
    buf: String,
    last_sent: Option<Instant>,
}

impl RunState {
    /// The next packet, waiting for rows; `None` ends the stream.
    async fn next(&mut self) -> Option<Result<Vec<u8>, PluginError>> {
        let channel = Arc::clone(&self.guard.0);
        loop {
            if let Some(why) = lock(&channel.shared.failure).clone() {
                return Some(Err(PluginError::Encode(format!("stream stopped: {why}"))));
            }
            if let Some(last) = self.last_sent {
                tokio::time::sleep_until(last + channel.tick).await;
            }
            let packet = {
                let ring = lock(&channel.shared.ring);
                self.encoder.next_packet(&ring, &mut self.buf)
            };
            if let Some(packet) = packet {
                if packet.missed > 0 {
                    tracing::warn!(path = %channel.path, missed = packet.missed, "RunStream fell behind the ring");
                }
                let mut state = lock(&channel.state);
                state.cursor = state.cursor.max(self.encoder.next_seq());
                drop(state);
                self.last_sent = Some(Instant::now());
                return Some(Ok(self.buf.as_bytes().to_vec()));
            }
            self.seq.changed().await.ok()?;
        }
    }
}

/// Counts a RunStream while it lives.
struct RunGuard(Arc<Channel>);

impl Drop for RunGuard {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        state.run_streams -= 1;
        state.idle_since = Instant::now();
    }
}
