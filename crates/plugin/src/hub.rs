//! The stream hub: one producer per channel, shared by every panel that shows it.
//!
//! # Specification
//!
//! **Channels.** A channel is a [`ChannelPath`] (equal queries give equal paths), a
//! [`RingFrame`] of the query's `capacity`, and one producer task running the stream's
//! [`Source`]. [`StreamHub::open`] returns the channel, creating it on first use; at most
//! [`HubConfig::max_channels`] exist at once ([`PluginError::TooManyChannels`] beyond).
//! Signal channels are shared by every data source; an MQTT or WebSocket channel belongs to
//! one data source instance and settings version ([`InstanceKey`]): it is keyed by
//! (instance, path), opened with [`StreamHub::open_in`], and a settings change makes new
//! channels with new connections while the old ones linger out. The hub dispatches a
//! channel's [`SourceSpec`] to its source; the MQTT and WebSocket sources share one
//! connection per instance (per instance and path for WebSocket) among their channels.
//!
//! **Capacity.** The ring keeps the newest `capacity` rows; older rows are dropped as new
//! ones arrive. Nothing else in a channel grows with time.
//!
//! **Publishing.** Every row has a sequence number. A channel keeps a *cursor*: rows below it
//! have been published to Grafana Live (by a RunStream) or were history when the channel was
//! created. Each of Grafana's three calls sees the ring through the cursor, which is what
//! keeps every row in a panel exactly once:
//! - QueryData ([`Channel::query_frame`]) returns the published rows within the query's time
//!   range, and remembers the cursor as the viewer's *served* mark on the channel (or, when
//!   published rows are newer than the range's end, the first of those: they come with the
//!   initial data instead, so a browser clock behind the plugin's costs the panel no row);
//! - SubscribeStream ([`Channel::initial_data`]) returns the schema and the rows published
//!   since that viewer's served mark: what a panel that just ran its query has not seen. A
//!   viewer that ran no query on the channel gets every published row;
//! - RunStream ([`Channel::run_stream`]) sends the schema once, then data-only packets of the
//!   rows from the cursor on, moving the cursor. A restarted RunStream continues at the
//!   cursor: nothing is sent twice, nothing skipped.
//!
//! Rows produced while no RunStream runs stay unpublished until one starts; a panel sees
//! them then. A *viewer* is the org and login of the request's user (Grafana sends both with
//! QueryData and SubscribeStream); the channel keeps the marks of its last
//! [`MAX_SERVED_MARKS`] viewers. (Grafana gives the plugin no way to tell one user's panels
//! apart: if the same user's second panel queries the channel between the first panel's
//! query and its subscribe, the first panel misses the rows published in between.)
//!
//! **Pacing.** A RunStream sends at most one packet per `tickMs`; rows arriving faster are
//! batched into the next packet, and none is dropped that the ring still holds. (For MQTT
//! and WebSocket, whose messages come when they come, `tickMs` is only this batching
//! interval.)
//!
//! **Notices.** A source may put notices on its frame's meta (a lost connection, skipped
//! messages); changing them is a schema change, which wakes the RunStreams so that the
//! next packet carries the new schema even when no row came. QueryData's frame carries
//! them too.
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
use crate::settings::{InstanceKey, Settings};
use crate::source::{Connections, MqttSource, SignalSource, Source, WebSocketSource};
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
    channels: Mutex<HashMap<ChannelKey, Arc<Channel>>>,
    connections: Connections,
}

/// A channel's identity: its path, and for sources that read a data source's connection,
/// the instance (and settings version) it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ChannelKey {
    instance: Option<InstanceKey>,
    path: ChannelPath,
}

/// Locks a mutex, ignoring poisoning: every critical section leaves its data consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl StreamHub {
    /// A hub with `config`. Spawns the task that closes idle channels, so it must be called
    /// inside a tokio runtime.
    pub fn new(config: HubConfig) -> Self {
        let inner = Arc::new(Inner {
            config,
            channels: Mutex::new(HashMap::new()),
            connections: Connections::default(),
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

    /// MQTT and WebSocket connections open now.
    pub fn connection_count(&self) -> (usize, usize) {
        self.inner.connections.live()
    }

    /// The channel for `spec`, created (with its history, when the spec asks for backfill)
    /// if it does not exist. For streams that need no data source connection (signals);
    /// see [`StreamHub::open_in`].
    ///
    /// # Errors
    /// [`PluginError::TooManyChannels`] at the limit; a source's history failing;
    /// [`PluginError::NotConfigured`] for an MQTT or WebSocket spec.
    pub fn open(&self, path: &ChannelPath, spec: &StreamSpec) -> Result<Arc<Channel>, PluginError> {
        self.open_in(None, path, spec)
    }

    /// The channel for `spec` of the data source instance whose `settings` are given
    /// (needed by MQTT and WebSocket streams, ignored by signals), created if it does not
    /// exist.
    ///
    /// # Errors
    /// [`PluginError::TooManyChannels`] at the limit; [`PluginError::NotConfigured`] when
    /// the stream needs a connection the settings lack; a source's history failing.
    pub fn open_in(
        &self,
        settings: Option<&Arc<Settings>>,
        path: &ChannelPath,
        spec: &StreamSpec,
    ) -> Result<Arc<Channel>, PluginError> {
        let settings = if spec.source.needs_connection() {
            Some(settings.ok_or(PluginError::NotConfigured {
                kind: spec.source.name(),
                setting: match spec.source {
                    SourceSpec::WebSocket { .. } => "websocketUrl",
                    _ => "mqttUrl",
                },
            })?)
        } else {
            None
        };
        let key = ChannelKey {
            instance: settings.map(|s| s.key.clone()),
            path: path.clone(),
        };
        let mut channels = lock(&self.inner.channels);
        if let Some(channel) = channels.get(&key) {
            if !channel.failed() {
                channel.touch();
                return Ok(Arc::clone(channel));
            }
        }
        if channels.len() >= self.inner.config.max_channels && !channels.contains_key(&key) {
            return Err(PluginError::TooManyChannels {
                max: self.inner.config.max_channels,
            });
        }
        let channel = Arc::new(self.create(path, spec, settings)?);
        channels.insert(key, Arc::clone(&channel));
        Ok(channel)
    }

    /// Makes the channel's source: the dispatch over source kinds.
    fn create(
        &self,
        path: &ChannelPath,
        spec: &StreamSpec,
        settings: Option<&Arc<Settings>>,
    ) -> Result<Channel, PluginError> {
        let clock = Arc::clone(&self.inner.config.clock);
        let connections = &self.inner.connections;
        let not_configured = |kind, setting| PluginError::NotConfigured { kind, setting };
        match &spec.source {
            SourceSpec::Signal(_) => {
                let seed = spec.seed.unwrap_or_else(|| random_seed(clock.now_ms()));
                tracing::debug!(%path, seed, "signal stream opening");
                self.start(path, spec, SignalSource::new(spec, seed))
            }
            SourceSpec::Mqtt { .. } => {
                let settings = settings.ok_or_else(|| not_configured("mqtt", "mqttUrl"))?;
                let source = MqttSource::new(&connections.mqtt, settings, spec, clock)?;
                self.start(path, spec, source)
            }
            SourceSpec::WebSocket { .. } => {
                let settings =
                    settings.ok_or_else(|| not_configured("websocket", "websocketUrl"))?;
                let source = WebSocketSource::new(&connections.websocket, settings, spec, clock)?;
                self.start(path, spec, source)
            }
        }
    }

    /// The channel around `source`: its ring (with history when the spec asks for
    /// backfill) and its producer task.
    fn start<S: Source>(
        &self,
        path: &ChannelPath,
        spec: &StreamSpec,
        mut source: S,
    ) -> Result<Channel, PluginError> {
        let clock = Arc::clone(&self.inner.config.clock);
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
        tracing::debug!(path = %path, "stream opened");
        Ok(Channel {
            path: path.clone(),
            tick: Duration::from_millis(spec.tick_ms),
            shared,
            state: Mutex::new(State {
                cursor,
                served: Vec::new(),
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
        lock(&inner.channels).retain(|key, channel| {
            let state = lock(&channel.state);
            let keep = state.run_streams > 0 || now.duration_since(state.idle_since) < linger;
            if !keep {
                tracing::debug!(path = %key.path, "stream closed after linger");
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

    /// Runs `f` on the ring (to push several rows, add fields or change notices), then
    /// wakes readers when rows or the schema changed.
    pub fn with_ring<R>(&self, f: impl FnOnce(&mut RingFrame) -> R) -> R {
        let (out, next, schema_changed) = {
            let mut ring = lock(&self.shared.ring);
            let schema = ring.schema_version();
            let out = f(&mut ring);
            (out, ring.next_seq(), ring.schema_version() != schema)
        };
        self.shared.seq.send_if_modified(|seq| {
            let changed = *seq != next || schema_changed;
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

/// The most viewers whose served marks a channel keeps; the oldest is forgotten beyond
/// (that viewer's next subscribe then gets every published row).
pub const MAX_SERVED_MARKS: usize = 64;

#[derive(Debug)]
struct State {
    /// Rows below this sequence number are published.
    cursor: u64,
    /// Each recent viewer's served mark, oldest first.
    served: Vec<(String, u64)>,
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
    /// with the ring's schema. Marks them served, up to the first published row newer than
    /// `to_ms` (see the module docs).
    pub fn query_frame(
        &self,
        viewer: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<RingFrame, PluginError> {
        let ring = lock(&self.shared.ring);
        let (from_ns, to_ns) = (
            from_ms.saturating_mul(1_000_000),
            to_ms.saturating_mul(1_000_000).saturating_add(999_999),
        );
        let time = ring.field_index("time");
        let time_of = |row: &ringstream_frame::Row<'_>| match time.and_then(|j| row.get(j)) {
            Some(Value::Time(t)) => Some(t),
            _ => None,
        };
        let served = {
            let mut state = lock(&self.state);
            // A row newer than `to` was made after the browser read its clock: not this
            // frame's, but the panel's all the same, so the served mark stops before it and
            // SubscribeStream's initial data carries it (and every published row after it,
            // so no row is returned twice, whatever the order of the times).
            let served = ring
                .rows_between(ring.first_seq(), state.cursor)
                .rows()
                .find(|row| time_of(row).is_some_and(|t| t > to_ns))
                .map_or(state.cursor, |row| row.seq());
            state.served.retain(|(v, _)| v != viewer);
            if state.served.len() == MAX_SERVED_MARKS {
                state.served.remove(0);
            }
            state.served.push((viewer.to_owned(), served));
            served
        };
        let rows: Vec<_> = ring
            .rows_between(ring.first_seq(), served)
            .into_iter()
            .filter(|row| time_of(row).is_none_or(|t| t >= from_ns))
            .collect();
        let mut out = RingFrame::try_new(rows.len().max(1), AppendMode::Tail)?;
        for field in ring.fields() {
            out.add_field(field.clone())?;
        }
        out.meta_mut().notices.clone_from(&ring.meta().notices);
        let mut cells = Vec::with_capacity(ring.fields().len());
        for row in rows {
            cells.clear();
            cells.extend(row.values());
            out.push_row(&cells)?;
        }
        Ok(out)
    }

    /// SubscribeStream's initial data: the schema and the rows published since the viewer's
    /// last QueryData (all published rows if the viewer ran none), as DataFrameJSON.
    pub fn initial_data(&self, viewer: &str) -> String {
        let ring = lock(&self.shared.ring);
        let (from, to) = {
            let state = lock(&self.state);
            let mark = state.served.iter().find(|(v, _)| v == viewer);
            (mark.map_or(0, |(_, seq)| *seq), state.cursor)
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
