//! The stream hub: one producer per channel, shared by every panel that shows it.
//!
//! # Specification
//!
//! **Channels.** A channel is a [`ChannelPath`] (equal queries give equal paths), a
//! [`RingFrame`] of the query's `capacity`, and one producer task running the stream's
//! [`Source`](crate::source::Source). [`StreamHub::open_in`] returns the channel, creating it on first use.
//! Signal channels are shared by every data source; an MQTT or WebSocket channel belongs to
//! one data source instance and settings version ([`InstanceKey`]): it is keyed by
//! (instance, path), and a settings change makes new channels with new connections while the
//! old ones linger out. The hub opens a channel's stream with the source its spec names
//! ([`SourceKind::open`](crate::source::SourceKind::open)); the MQTT
//! and WebSocket sources share one connection per instance (per instance and path for
//! WebSocket) among their channels.
//!
//! **Creation.** Opening a channel takes the hub's map lock only to find the channel's slot;
//! creating it (its source, its history) happens under that slot's own lock, so only
//! requests for the same channel wait for it, never requests for others.
//!
//! **Budget.** Every channel is charged to the [`Requester`] that created it ([`Budget`]):
//! one channel, its signal rows per second (`1000 / tickMs`), and its bytes — the ring's
//! cells and strings ([`RingFrame::heap_bytes`]), a fixed [`CHANNEL_BYTES`] for the channel
//! itself, and what its source holds (a feed's message queue and parsing state). A channel
//! whose full capacity does not fit the requester's memory is created with the capacity that
//! fits, if that is at least [`MIN_DEGRADED_ROWS`] rows (or its whole capacity, when
//! smaller), and its frame carries a notice saying so; otherwise opening it fails with the
//! [`BudgetError`](crate::budget::BudgetError). A channel whose rows grow (strings, fields
//! appearing) grows its charge, and when the budget refuses, keeps the newest rows that fit
//! in what it holds, with the same notice. So the bytes all channels hold never exceed the
//! budget by more than one row per channel, and nothing aborts.
//!
//! **Capacity.** The ring keeps the newest `capacity` rows; older rows are dropped as new
//! ones arrive. Nothing else in a channel grows with time.
//!
//! **Publishing.** (For the cursor paths of engine streams, see "Cursor paths" below.)
//! Every row has a sequence number. A channel keeps a *cursor*: rows below it
//! have been published to Grafana Live (by a RunStream) or were history when the channel was
//! created. Each of Grafana's three calls sees the ring through the cursor, which is what
//! keeps every row in a panel exactly once:
//! - QueryData ([`Channel::query_frame`]) returns the published rows within the query's time
//!   range, and remembers the cursor as the viewer's *served* mark on the channel (or, when
//!   published rows are newer than the range's end, the first of those: they come with the
//!   initial data instead, so a browser clock behind the plugin's costs the panel no row);
//!   with `max_rows` (the panel's `maxDataPoints`) it returns only the newest of them, with
//!   a notice — the rows a streaming panel of that size would keep anyway;
//! - SubscribeStream ([`Channel::initial_data`]) returns the schema and the rows published
//!   since that viewer's served mark: what a panel that just ran its query has not seen. A
//!   viewer that ran no query on the channel gets every published row;
//! - RunStream ([`Channel::run_stream`]) sends the schema once, then data-only packets of the
//!   rows from the cursor on, moving the cursor. A restarted RunStream continues at the
//!   cursor: nothing is sent twice, nothing skipped.
//!
//! An alert rule's QueryData (Grafana's `FromAlert` header) never streams: it gets every row
//! of the range, published or not, and leaves no mark.
//!
//! **Engine history.** For a stream whose engine keeps history (a JetStream stream), every
//! row carries its engine position (a stream sequence), and the source says where its
//! channel starts and where the engine's history ended when it did. Rows up to that end are
//! *history*: published from the start, never streamed by the channel-wide cursor. QueryData
//! reads the range from the engine up to a *split* position, and every row at or after the
//! split reaches the panel through the channel, none twice. So the panel's history comes
//! from the engine, not from what this process happened to hold.
//!
//! **Cursor paths.** The split travels with the panel: QueryData's frame names the channel
//! path with the split as a last segment, `…/from=<position>` ([`ChannelPath::with_cursor`],
//! [`ChannelPath::parse_live`]); the channel stays keyed by the canonical path (one producer
//! per stream), and each cursor path has its own cursor on it, independent of the viewer and
//! of the channel-wide cursor, which cursor paths never move:
//! - QueryData ([`Channel::engine_cursor`]): the split is the position after every row the
//!   channel has (and after its history), or the first of its rows newer than the range's
//!   end (made after the browser read its clock). No mark is left: any plugin process
//!   continues from the path alone. So in HA Grafana QueryData may go to node A and the
//!   Live connection to node B.
//! - SubscribeStream ([`Channel::cursor_initial_data`]): the schema and the rows at or after
//!   the cursor that this path's RunStream already sent in this process (the newest that fit
//!   one message), whoever asks; nothing at all when it sent none (the ring's schema before
//!   its first row may lack fields the QueryData frame has, and Grafana would drop their
//!   values).
//! - RunStream ([`Channel::run_cursor_stream`]): every row at or after the cursor that the
//!   path has not sent yet, in this process or an earlier one (below), schema with the first
//!   rows. Where the channel does not hold them — it started after the cursor (node B; a
//!   restarted plugin), or its ring dropped rows this RunStream had not sent — the missing
//!   positions `[next, covered)` are read from the engine first ([`EngineRead`]: the source's
//!   `range` from a start position; at most `capacity` rows, the newest, as the panel keeps
//!   anyway, within `history_scan_messages` and `history_seconds`), then the ring goes on
//!   where the engine stopped: no gap, no duplicate.
//! - Restarts: after Grafana's gRPC took a packet (it asks for the next one), the path's
//!   RunStream records the position of the packet's newest row, keyed by data source and
//!   path, in [`Progress`] (memory, and a small file in `state_dir` written right after by
//!   one writer task; at most 4096 paths, none older than a day). A RunStream on the same path
//!   — the one Grafana resubmits after the plugin restarted, or restarts in this process —
//!   continues after it, unless the record is past the newest position the channel knows
//!   of (the engine's newest when it was made, its rows): the stream was made again and its
//!   positions started over, so the record is another stream's. Exact across graceful restarts (the record of the last packet was
//!   written before the process ended) and across nodes; after a crash, at most the packet
//!   in flight (taken by gRPC, its record not yet written; for an engine read split into
//!   several packets, those) is sent again. Each Grafana node's plugin needs its own
//!   `state_dir`.
//! - Bounds: at most `max_cursor_streams` cursor RunStreams run on one channel (beyond:
//!   [`PluginError::Exhausted`], RESOURCE_EXHAUSTED), and a channel remembers the cursors of
//!   at most as many paths (idle ones forgotten oldest first: their progress stays in the
//!   store).
//!
//! A stream whose channel id leaves no room for the longest cursor ([`CURSOR_LEN`]), or
//! whose rows carry no positions, keeps the earlier split, exact only within one process:
//! QueryData ([`Channel::engine_split`]) reads the engine up to the first row the channel has
//! not published (or past the history and the newest row, when it has published all) and
//! marks the viewer served as below; initial data and RunStream go by the channel-wide
//! cursor. Streams without an engine's history never take a cursor.
//!
//! [`ChannelPath::with_cursor`]: crate::channel::ChannelPath::with_cursor
//! [`ChannelPath::parse_live`]: crate::channel::ChannelPath::parse_live
//! [`CURSOR_LEN`]: crate::channel::CURSOR_LEN
//!
//! Packets and initial data stay under `max_packet_kb` (Grafana Live disconnects a browser
//! whose queue passes 4 MiB): a backlog larger than that goes out as several packets, one
//! right after the other, and initial data larger than that holds only its newest rows.
//!
//! QueryData and SubscribeStream copy their rows out under the channel's lock and encode them
//! after releasing it, so a producer waits at most for a copy, never for an encoding.
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
//! messages), beside the hub's own (a capacity cut by the budget); changing them is a schema
//! change, which wakes the RunStreams so that the next packet carries the new schema even
//! when no row came. QueryData's frame carries them too.
//!
//! **Lagging.** A RunStream that falls more than `capacity` rows behind skips what the ring
//! dropped; the packet after the gap is logged with the number of rows missed.
//!
//! **Closing.** A channel stays while a RunStream uses it and for [`HubConfig::linger`] after
//! the last one ended (or after the last QueryData / SubscribeStream when none ran), so that
//! Grafana's restart of a RunStream, or a dashboard refresh, finds the stream still going.
//! Then the producer is aborted, the ring freed and the charge released. A producer that
//! fails makes every RunStream of the channel end with that error (Grafana restarts them)
//! and the channel is recreated on next use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use futures_util::Stream;
use ringstream_frame::json::{self, StreamEncoder};
use ringstream_frame::{AppendMode, Notice, RingFrame, Severity, Value};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::budget::{Amounts, Budget, Charge, Requester, Resource};
use crate::channel::ChannelPath;
use crate::clock::{Clock, SystemClock};
use crate::limits::Limits;
use crate::progress::Progress;
use crate::query::StreamSpec;
use crate::settings::{InstanceKey, Settings};
use crate::source::{
    Batch, BatchOutcome, ChannelSink, Connections, DynSource, FeedMetrics, OpenContext, Position,
    Positions, RowSink,
};
use crate::PluginError;

/// Bytes charged for a channel beyond its rows: its structures, producer task and locks.
pub const CHANNEL_BYTES: u64 = 4096;

/// The fewest rows a channel is cut to when the budget cannot hold its whole capacity.
pub const MIN_DEGRADED_ROWS: usize = 100;

/// Charges grow in steps of this, so that a growing ring asks the budget rarely.
const GROW_STEP: u64 = 64 * 1024;

/// Limits and time of a [`StreamHub`].
#[derive(Clone)]
pub struct HubConfig {
    /// The process's limits (memory, channels, shares, ...).
    pub limits: Limits,
    /// How long an unused channel lives on (default: `linger_seconds`, 10 s: longer than
    /// Grafana's RunStream restart backoff, which is capped at 5 s).
    pub linger: Duration,
    /// Where sources read the time.
    pub clock: Arc<dyn Clock>,
    /// Where the progress of cursor paths' RunStreams is kept across restarts
    /// ([`crate::progress`]); `None`: in memory only.
    pub state_dir: Option<std::path::PathBuf>,
}

impl HubConfig {
    /// A configuration with these limits, the linger they set and the system clock.
    pub fn new(limits: Limits) -> Self {
        Self {
            linger: Duration::from_secs(limits.linger_seconds),
            limits,
            clock: Arc::new(SystemClock),
            state_dir: None,
        }
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("limits", &self.limits)
            .field("linger", &self.linger)
            .field("state_dir", &self.state_dir)
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
    budget: Budget,
    /// One slot per channel key; see "Creation" in the module docs.
    channels: Mutex<HashMap<ChannelKey, Arc<Slot>>>,
    connections: Connections,
    metrics: Arc<FeedMetrics>,
    /// The recorded channels of each data source (org, uid), for the settings version that
    /// asked for them ([`StreamHub::record`]).
    recordings: Mutex<HashMap<(i64, String), Recording>>,
    /// What cursor paths' RunStreams have sent, across restarts.
    progress: Arc<Progress>,
}

/// A data source's recorded channels, held open.
#[derive(Debug)]
struct Recording {
    updated_ms: i64,
    channels: Vec<Arc<Channel>>,
}

/// A channel's identity: its path, and for sources that read a data source's connection,
/// the instance (and settings version) it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ChannelKey {
    instance: Option<InstanceKey>,
    path: ChannelPath,
}

/// Where one channel lives; its lock is held while the channel is made.
#[derive(Debug, Default)]
struct Slot {
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
enum SlotState {
    /// Not made yet, or its creation failed.
    #[default]
    Empty,
    Open(Arc<Channel>),
    /// Closed by the reaper: openers look the key up again.
    Closed,
}

/// Locks a mutex, ignoring poisoning: every critical section leaves its data consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl StreamHub {
    /// A hub with `config`. Spawns the task that closes idle channels, so it must be called
    /// inside a tokio runtime.
    pub fn new(config: HubConfig) -> Self {
        let progress = config
            .state_dir
            .as_deref()
            .map_or_else(Progress::in_memory, Progress::in_dir);
        let inner = Arc::new(Inner {
            progress,
            budget: Budget::new(config.limits),
            config,
            channels: Mutex::new(HashMap::new()),
            connections: Connections::default(),
            metrics: Arc::default(),
            recordings: Mutex::new(HashMap::new()),
        });
        tokio::spawn(reap(Arc::downgrade(&inner)));
        Self { inner }
    }

    /// The hub's configuration.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// The budget every channel is charged to.
    pub fn budget(&self) -> &Budget {
        &self.inner.budget
    }

    /// Channels open now.
    pub fn channel_count(&self) -> usize {
        usize::try_from(self.inner.budget.used().channels).unwrap_or(usize::MAX)
    }

    /// Connections open now, by source.
    pub fn connection_count(&self) -> Vec<(&'static str, usize)> {
        self.inner.connections.live()
    }

    /// The message feeds' counters.
    pub fn feed_metrics(&self) -> &FeedMetrics {
        &self.inner.metrics
    }

    /// The message feeds' counters, to share with a source.
    pub(crate) fn metrics(&self) -> &Arc<FeedMetrics> {
        &self.inner.metrics
    }

    /// The fields the open channel of `spec` has now (for the editor's suggestions), without
    /// opening it; `None` when it is not open.
    pub fn fields_of(
        &self,
        settings: Option<&Settings>,
        path: &ChannelPath,
        spec: &StreamSpec,
    ) -> Option<Vec<ringstream_frame::Field>> {
        let instance = if spec.source.needs_connection() {
            Some(settings?.key.clone())
        } else {
            None
        };
        let key = ChannelKey {
            instance,
            path: path.clone(),
        };
        let slot = Arc::clone(lock(&self.inner.channels).get(&key)?);
        let state = slot.state.try_lock().ok()?; // still being made: nothing to show yet
        match &*state {
            SlotState::Open(channel) => Some(lock(&channel.shared.ring).ring.fields().to_vec()),
            _ => None,
        }
    }

    /// Opens (or keeps) the channels `settings` asks to record ([`SourceKind::recorded`]) and
    /// holds them open, charged to the data source, until a newer version of its settings
    /// comes; the channels of an older version then linger out. Blocking, like
    /// [`StreamHub::open_in`]. A stream that cannot be opened (the broker refused it, the
    /// budget is spent) is logged and left out.
    ///
    /// [`SourceKind::recorded`]: crate::source::SourceKind::recorded
    pub fn record(&self, settings: &Arc<Settings>) {
        let key = (settings.key.org_id, settings.key.uid.clone());
        {
            let recordings = lock(&self.inner.recordings);
            if recordings
                .get(&key)
                .is_some_and(|r| r.updated_ms >= settings.key.updated_ms)
            {
                return;
            }
        }
        let who = Requester {
            org_id: settings.key.org_id,
            login: String::new(),
            datasource: Some(settings.key.uid.clone()),
            datasource_memory: settings.memory_limit_bytes,
            datasource_connections: settings.websocket_max_connections,
        };
        let mut channels = Vec::new();
        for source in crate::source::SOURCES {
            for spec in source.recorded(settings) {
                let path = ChannelPath::of(&spec);
                match self.open_in(&who, Some(settings), &path, &spec) {
                    Ok(channel) => {
                        channel.pin();
                        channels.push(channel);
                    }
                    Err(e) => tracing::warn!(%path, error = %e, "recorded stream not opened"),
                }
            }
        }
        let old = lock(&self.inner.recordings).insert(
            key,
            Recording {
                updated_ms: settings.key.updated_ms,
                channels,
            },
        );
        for channel in old.into_iter().flat_map(|r| r.channels) {
            channel.unpin();
        }
    }

    /// The shared connections, for discovery.
    pub(crate) fn connections(&self) -> &Connections {
        &self.inner.connections
    }

    /// The channel for `spec`, created (with its history, when the spec asks for backfill)
    /// if it does not exist, charged to the process itself. For streams that need no data
    /// source connection (signals); see [`StreamHub::open_in`].
    ///
    /// # Errors
    /// As [`StreamHub::open_in`]; [`PluginError::NotConfigured`] for an MQTT or WebSocket
    /// spec.
    pub fn open(&self, path: &ChannelPath, spec: &StreamSpec) -> Result<Arc<Channel>, PluginError> {
        self.open_in(&Requester::system(), None, path, spec)
    }

    /// The channel for `spec` of the data source instance whose `settings` are given
    /// (needed by MQTT and WebSocket streams, ignored by signals), created for `who` if it
    /// does not exist. May block while the channel is made (its history, its connection's
    /// setup): call it where blocking is fine.
    ///
    /// # Errors
    /// A [`BudgetError`](crate::budget::BudgetError) when `who` may not have another
    /// channel; [`PluginError::NotConfigured`] when the stream needs a connection the
    /// settings lack; [`PluginError::NotAllowed`] when their allow list does not cover what
    /// `spec` reads; a source's own refusal (a topic the broker refused, too many
    /// connections).
    pub fn open_in(
        &self,
        who: &Requester,
        settings: Option<&Arc<Settings>>,
        path: &ChannelPath,
        spec: &StreamSpec,
    ) -> Result<Arc<Channel>, PluginError> {
        let settings = if spec.source.needs_connection() {
            Some(settings.ok_or(PluginError::NotConfigured {
                kind: spec.source.name(),
                setting: spec.source.required_setting(),
            })?)
        } else {
            None
        };
        if let Some(settings) = settings {
            settings.allows(spec)?;
        }
        let key = ChannelKey {
            instance: settings.map(|s| s.key.clone()),
            path: path.clone(),
        };
        loop {
            let slot = Arc::clone(lock(&self.inner.channels).entry(key.clone()).or_default());
            let mut state = lock(&slot.state);
            match &*state {
                SlotState::Closed => continue, // the reaper took it: look again
                SlotState::Open(channel) if !channel.failed() => {
                    channel.touch();
                    return Ok(Arc::clone(channel));
                }
                _ => {}
            }
            // Made under the slot's lock only: other channels are not held up.
            match self.create(who, path, spec, settings) {
                Ok(channel) => {
                    let channel = Arc::new(channel);
                    *state = SlotState::Open(Arc::clone(&channel));
                    return Ok(channel);
                }
                Err(e) => {
                    *state = SlotState::Empty;
                    drop(state);
                    let mut map = lock(&self.inner.channels);
                    if map.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                        let empty = slot
                            .state
                            .try_lock()
                            .is_ok_and(|s| matches!(*s, SlotState::Empty));
                        if empty {
                            map.remove(&key);
                        }
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Makes the channel's source, through the registry.
    fn create(
        &self,
        who: &Requester,
        path: &ChannelPath,
        spec: &StreamSpec,
        settings: Option<&Arc<Settings>>,
    ) -> Result<Channel, PluginError> {
        let ctx = OpenContext {
            settings,
            connections: &self.inner.connections,
            clock: Arc::clone(&self.inner.config.clock),
            limits: &self.inner.config.limits,
            budget: &self.inner.budget,
            who,
            metrics: &self.inner.metrics,
        };
        let source = spec.source.open(spec, &ctx)?;
        self.start(who, path, spec, settings, source)
    }

    /// The channel around `source`: its charge, its ring (with history when the spec asks
    /// for backfill) and its producer task.
    fn start(
        &self,
        who: &Requester,
        path: &ChannelPath,
        spec: &StreamSpec,
        settings: Option<&Arc<Settings>>,
        mut source: Box<dyn DynSource>,
    ) -> Result<Channel, PluginError> {
        let clock = Arc::clone(&self.inner.config.clock);
        let mut ring = RingFrame::try_new(spec.capacity, AppendMode::Tail)?;
        for field in source.boxed_fields() {
            ring.add_field(field)?;
        }
        let fixed = CHANNEL_BYTES + source.boxed_held_bytes();
        let rows_per_second = spec.source.rows_per_second(spec);
        let (charge, notice) = self.charge(who, &mut ring, fixed, rows_per_second)?;
        // A message feed keeps no history of its own: the data source may have its channels
        // record on after their last viewer, and a panel should know since when.
        let feed = spec.source.needs_connection() && !spec.source.keeps_history(spec);
        let retention = settings
            .and_then(|s| s.retention_seconds)
            .map(|secs| secs.min(self.inner.config.limits.max_retention_seconds))
            .map_or(Duration::ZERO, Duration::from_secs);
        let linger = if feed {
            self.inner.config.linger.max(retention)
        } else {
            self.inner.config.linger
        };
        let mut hub_notices: Vec<Notice> = notice.into_iter().collect();
        if feed && linger > self.inner.config.linger {
            hub_notices.push(recording_notice(
                clock.now_ms(),
                &format!(
                    "it records for {} s after its last viewer (retentionSeconds)",
                    linger.as_secs()
                ),
            ));
        }
        let mut state = RingState {
            ring,
            positions: Positions::default(),
            charge,
            fixed_bytes: fixed,
            source_bytes: 0,
            hub_notices,
            source_notices: Vec::new(),
            asked_capacity: spec.capacity,
        };
        state.write_notices();
        if spec.backfill {
            let outcome = {
                let mut batch = Batch::with_positions(&mut state.ring, &mut state.positions);
                source.boxed_history(&mut batch, clock.now_ms())?;
                batch.into_outcome()
            };
            state.apply(outcome);
        }
        let cursor = state.ring.next_seq();
        let (seq, _) = watch::channel(cursor);
        let (start, _) = watch::channel(None);
        let shared = Arc::new(Shared {
            ring: Mutex::new(state),
            seq,
            start,
            clock,
            failure: Mutex::new(None),
        });
        let sink = RowSink::new(Arc::clone(&shared) as Arc<dyn ChannelSink>);
        let producer_shared = Arc::clone(&shared);
        let path_for_log = path.clone();
        let producer = tokio::spawn(async move {
            let outcome = source.run_boxed(sink).await;
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
            linger,
            created_ms: self.inner.config.clock.now_ms(),
            tick: Duration::from_millis(spec.tick_ms),
            max_packet: self.inner.config.limits.packet_bytes(),
            max_cursor_streams: self.inner.config.limits.max_cursor_streams,
            progress: Arc::clone(&self.inner.progress),
            shared,
            state: Mutex::new(State {
                cursor,
                served: Vec::new(),
                cursors: Vec::new(),
                run_streams: 0,
                idle_since: Instant::now(),
                pinned: false,
            }),
            producer: producer.abort_handle(),
        })
    }

    /// Charges a new channel: its whole capacity when it fits, else the capacity that fits
    /// (at least [`MIN_DEGRADED_ROWS`]) with a notice, else the budget's error.
    fn charge(
        &self,
        who: &Requester,
        ring: &mut RingFrame,
        fixed: u64,
        rows_per_second: u64,
    ) -> Result<(Charge, Option<Notice>), PluginError> {
        let budget = &self.inner.budget;
        let per_row = ring.fixed_bytes_per_row() as u64;
        let schema = ring.heap_bytes() as u64;
        let bytes_for = |rows: usize| fixed + schema + per_row * rows as u64;
        let asked = ring.capacity();
        let want = |rows| Amounts {
            bytes: bytes_for(rows),
            channels: 1,
            rows_per_second,
            connections: 0,
        };
        match budget.charge(who, want(asked)) {
            Ok(charge) => Ok((charge, None)),
            Err(e) if e.resource == Resource::Memory => {
                let room = budget.headroom_bytes(who).saturating_sub(fixed + schema);
                let rows = usize::try_from(room / per_row.max(1)).unwrap_or(usize::MAX);
                let rows = rows.min(asked);
                if rows < asked.min(MIN_DEGRADED_ROWS) || rows == 0 {
                    return Err(e.into());
                }
                ring.set_capacity(rows)?;
                let charge = budget.charge(who, want(rows))?;
                Ok((charge, Some(cut_notice(rows, asked, &e.to_string()))))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The notice of a channel whose capacity the budget cut.
fn cut_notice(rows: usize, asked: usize, why: &str) -> Notice {
    Notice {
        severity: Severity::Warning,
        text: format!(
            "This stream keeps its newest {rows} rows instead of the {asked} asked for: {why}"
        ),
    }
}

/// The notice of a message feed's channel that records beyond its viewers.
fn recording_notice(since_ms: i64, how: &str) -> Notice {
    Notice {
        severity: Severity::Info,
        text: format!(
            "History since {}: this stream has recorded since then; {how}.",
            crate::clock::utc_text(since_ms)
        ),
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
        let mut closed = Vec::new();
        lock(&inner.channels).retain(|key, slot| {
            // A slot being made is busy: left alone.
            let Ok(mut state) = slot.state.try_lock() else {
                return true;
            };
            let keep = match &*state {
                SlotState::Open(channel) => {
                    let s = lock(&channel.state);
                    s.pinned
                        || s.run_streams > 0
                        || now.duration_since(s.idle_since) < channel.linger
                }
                SlotState::Empty | SlotState::Closed => false,
            };
            if !keep {
                if let SlotState::Open(channel) = std::mem::replace(&mut *state, SlotState::Closed)
                {
                    tracing::debug!(path = %key.path, "stream closed after linger");
                    closed.push(channel);
                }
            }
            keep
        });
        drop(closed); // producers aborted and rings freed outside the map's lock
    }
}

/// What a channel's producer shares with its readers.
#[derive(Debug)]
struct Shared {
    ring: Mutex<RingState>,
    /// The ring's `next_seq`, so readers can wait for new rows.
    seq: watch::Sender<u64>,
    /// Where the channel's rows start in the engine, once its source said.
    start: watch::Sender<Option<Position>>,
    clock: Arc<dyn Clock>,
    /// Why the producer stopped, once it has.
    failure: Mutex<Option<String>>,
}

/// A channel's ring and what it is charged.
#[derive(Debug)]
struct RingState {
    ring: RingFrame,
    /// The engine positions of the ring's rows, for sources whose engine has history.
    positions: Positions,
    charge: Charge,
    /// Bytes charged beyond the ring: the channel itself and its source's fixed holdings.
    fixed_bytes: u64,
    /// What the source reports it holds beyond those (parsing state).
    source_bytes: u64,
    hub_notices: Vec<Notice>,
    source_notices: Vec<Notice>,
    /// The capacity the query asked for.
    asked_capacity: usize,
}

impl RingState {
    /// Takes what a source's batch changed: its notices and holdings; then keeps the
    /// channel within its charge.
    fn apply(&mut self, outcome: BatchOutcome) {
        if let Some(bytes) = outcome.held_bytes {
            self.source_bytes = bytes;
        }
        let mut notices_changed = false;
        if let Some(notices) = outcome.notices {
            if notices != self.source_notices {
                self.source_notices = notices;
                notices_changed = true;
            }
        }
        if self.fit() || notices_changed {
            self.write_notices();
        }
    }

    /// The frame's notices: the hub's, then the source's.
    fn write_notices(&mut self) {
        let want: Vec<Notice> = self
            .hub_notices
            .iter()
            .chain(&self.source_notices)
            .cloned()
            .collect();
        if self.ring.meta().notices != want {
            self.ring.meta_mut().notices = want;
        }
    }

    /// Keeps the bytes held within the charge: grows the charge, or when the budget
    /// refuses, cuts the ring to the newest rows that fit. Returns whether the hub's
    /// notices changed.
    fn fit(&mut self) -> bool {
        let outside = self.fixed_bytes + self.source_bytes;
        let used = self.ring.heap_bytes() as u64 + outside;
        let held = self.charge.bytes();
        if used <= held {
            if held - used > 4 * GROW_STEP {
                self.charge.release_bytes(held - used - GROW_STEP);
            }
            return false;
        }
        let need = used - held;
        if self
            .charge
            .try_grow_bytes(need.next_multiple_of(GROW_STEP))
            .is_ok()
        {
            return false;
        }
        let refusal = match self.charge.try_grow_bytes(need) {
            Ok(()) => return false,
            Err(e) => e,
        };
        while self.ring.capacity() > 1 {
            let allowed = self.charge.bytes().saturating_sub(outside);
            let bytes = self.ring.heap_bytes() as u64;
            if bytes <= allowed {
                break;
            }
            let rows = self.ring.len().max(1) as u128 * u128::from(allowed) / u128::from(bytes);
            let rows = usize::try_from(rows)
                .unwrap_or(usize::MAX)
                .clamp(1, self.ring.capacity() - 1);
            if self.ring.set_capacity(rows).is_err() {
                break;
            }
            self.positions.keep_last(self.ring.len());
        }
        let notice = cut_notice(
            self.ring.capacity(),
            self.asked_capacity,
            &refusal.to_string(),
        );
        tracing::warn!(rows = self.ring.capacity(), error = %refusal, "stream capacity cut by the budget");
        self.hub_notices = vec![notice];
        true
    }
}

impl std::fmt::Debug for dyn Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl ChannelSink for Shared {
    fn with_batch(&self, f: &mut dyn FnMut(&mut Batch<'_>)) {
        let (next, schema_changed, start) = {
            let mut state = lock(&self.ring);
            let schema = state.ring.schema_version();
            let state = &mut *state;
            let mut batch = Batch::with_positions(&mut state.ring, &mut state.positions);
            f(&mut batch);
            let outcome = batch.into_outcome();
            let start = outcome.start;
            state.apply(outcome);
            (
                state.ring.next_seq(),
                state.ring.schema_version() != schema,
                start,
            )
        };
        if let Some(position) = start {
            self.start.send_replace(Some(position));
        }
        self.seq.send_if_modified(|seq| {
            let changed = *seq != next || schema_changed;
            *seq = next;
            changed
        });
    }

    fn clock(&self) -> &dyn Clock {
        &*self.clock
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
    /// The cursor paths' own cursors, least recently started first.
    cursors: Vec<PathCursor>,
    run_streams: usize,
    /// Since when no RunStream has used the channel.
    idle_since: Instant,
    /// Recorded for its data source: kept open while those settings are current.
    pinned: bool,
}

/// One live stream; see the module docs.
#[derive(Debug)]
pub struct Channel {
    path: ChannelPath,
    /// How long it lives on after its last viewer.
    linger: Duration,
    /// When it was made, epoch milliseconds.
    created_ms: i64,
    tick: Duration,
    /// The most bytes of one packet or initial data.
    max_packet: usize,
    /// The most cursor paths' RunStreams at once (`max_cursor_streams`).
    max_cursor_streams: u64,
    /// Where cursor paths' RunStreams record what they sent.
    progress: Arc<Progress>,
    shared: Arc<Shared>,
    state: Mutex<State>,
    producer: tokio::task::AbortHandle,
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.producer.abort();
    }
}

/// QueryData's rows of a channel.
#[derive(Debug)]
pub struct QueryRows {
    /// The rows, with the channel's schema and notices.
    pub frame: RingFrame,
    /// How many published rows the range held (more than the frame's when `max_rows` cut).
    pub in_range: usize,
}

impl Channel {
    /// The channel's path.
    pub fn path(&self) -> &ChannelPath {
        &self.path
    }

    /// Keeps the channel open whatever its viewers (a recorded stream), with a notice.
    fn pin(&self) {
        let newly = {
            let mut state = lock(&self.state);
            !std::mem::replace(&mut state.pinned, true)
        };
        if newly {
            let notice = recording_notice(
                self.created_ms,
                "it records while the plugin runs (the data source's record list)",
            );
            let mut ring = lock(&self.shared.ring);
            ring.hub_notices
                .retain(|n| !n.text.starts_with("History since"));
            ring.hub_notices.push(notice);
            ring.write_notices();
            drop(ring);
            self.shared.seq.send_modify(|_| {}); // the schema changed: the next packet says so
        }
    }

    /// Lets the channel linger out like any other.
    fn unpin(&self) {
        let mut state = lock(&self.state);
        state.pinned = false;
        state.idle_since = Instant::now();
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

    /// The most rows the channel keeps now.
    pub fn capacity(&self) -> usize {
        lock(&self.shared.ring).ring.capacity()
    }

    /// QueryData's frame: the published rows with a time in `from_ms..=to_ms`, oldest first,
    /// with the ring's schema; the newest `max_rows` of them when given. Marks them served
    /// to `viewer`, up to the first published row newer than `to_ms` (see the module docs).
    /// A reader that never streams (`viewer` is `None`: an alert rule) gets every row of the
    /// range, published or not, and leaves no mark.
    ///
    /// # Errors
    /// [`PluginError::TooLarge`] when the rows would take more than `max_bytes`.
    pub fn query_frame(
        &self,
        viewer: Option<&str>,
        from_ms: i64,
        to_ms: i64,
        max_rows: Option<usize>,
        max_bytes: usize,
    ) -> Result<QueryRows, PluginError> {
        let state = lock(&self.shared.ring);
        let ring = &state.ring;
        let (from_ns, to_ns) = (
            from_ms.saturating_mul(1_000_000),
            to_ms.saturating_mul(1_000_000).saturating_add(999_999),
        );
        let time = ring.field_index("time");
        let time_of = |row: &ringstream_frame::Row<'_>| match time.and_then(|j| row.get(j)) {
            Some(Value::Time(t)) => Some(t),
            _ => None,
        };
        let history_seq = state.positions.history_seq();
        let served = {
            let mut state = lock(&self.state);
            state.cursor = state.cursor.max(history_seq);
            match viewer {
                None => ring.next_seq(),
                Some(viewer) => {
                    // A row newer than `to` was made after the browser read its clock: not
                    // this frame's, but the panel's all the same, so the served mark stops
                    // before it and SubscribeStream's initial data carries it (and every
                    // published row after it, so no row is returned twice, whatever the
                    // order of the times).
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
                }
            }
        };
        let in_range = |row: &ringstream_frame::Row<'_>| time_of(row).is_none_or(|t| t >= from_ns);
        let rows = ring.rows_between(ring.first_seq(), served).rows();
        let total = rows.clone().filter(|r| in_range(r)).count();
        let keep = max_rows.map_or(total, |m| m.min(total));
        let mut frame = copy_rows(
            ring,
            rows.filter(|r| in_range(r)).skip(total - keep),
            keep,
            max_bytes,
        )
        .ok_or(PluginError::TooLarge {
            what: "the response",
            limit_mib: (max_bytes >> 20) as u64,
            setting: "max_response_mb",
        })?;
        drop(state);
        if keep < total {
            let mut notices = frame.meta().notices.clone();
            notices.push(Notice {
                severity: Severity::Info,
                text: format!(
                    "Showing the newest {keep} of the {total} rows in the time range (the \
                     panel's max data points)."
                ),
            });
            frame.meta_mut().notices = notices;
        }
        Ok(QueryRows {
            frame,
            in_range: total,
        })
    }

    /// QueryData of a stream whose engine keeps its history: the engine position before
    /// which the query's rows come from the engine ([`SourceKind::range`]); every row at or
    /// after it reaches the panel through the channel (initial data, RunStream). Marks the
    /// rows published so far as served to `viewer`. The position is that of
    /// the first row not yet published; when every row is, the one after the newest (rows
    /// still on their way are the channel's to send).
    ///
    /// Waits up to `timeout` for the source to say where its rows start; `Ok(None)` when it
    /// has not by then, or its rows carry no positions.
    ///
    /// # Errors
    /// The channel's producer stopped (the stream does not exist, say): its reason.
    ///
    /// [`SourceKind::range`]: crate::source::SourceKind::range
    pub async fn engine_split(
        &self,
        viewer: &str,
        timeout: Duration,
    ) -> Result<Option<Position>, PluginError> {
        let Some(start) = self.wait_start(timeout).await? else {
            return Ok(None);
        };
        let ring = lock(&self.shared.ring);
        let mut state = lock(&self.state);
        let positions = &ring.positions;
        state.cursor = state.cursor.max(positions.history_seq());
        let cursor = state.cursor;
        if positions.len() != ring.ring.len() {
            return Ok(None); // rows without positions: no split to make
        }
        let first = ring.ring.first_seq();
        let split = match cursor
            .checked_sub(first)
            .and_then(|i| positions.get(i as usize))
        {
            Some(unpublished) => unpublished,
            None => positions.last().map_or(start, |p| p + 1),
        };
        // The history is the engine's, arrived or not: the channel never streams it.
        let split = positions
            .history_end()
            .map_or(split, |end| split.max(end + 1));
        state.served.retain(|(v, _)| v != viewer);
        if state.served.len() == MAX_SERVED_MARKS {
            state.served.remove(0);
        }
        state.served.push((viewer.to_owned(), cursor));
        Ok(Some(split))
    }

    /// Waits up to `timeout` for the source to say where its rows start in the engine.
    ///
    /// # Errors
    /// The channel's producer stopped: its reason.
    async fn wait_start(&self, timeout: Duration) -> Result<Option<Position>, PluginError> {
        let deadline = Instant::now() + timeout;
        let mut start = self.shared.start.subscribe();
        let mut seq = self.shared.seq.subscribe(); // woken when the producer stops, too
        loop {
            if let Some(why) = lock(&self.shared.failure).clone() {
                return Err(PluginError::Source(why));
            }
            if let Some(at) = *start.borrow_and_update() {
                return Ok(Some(at));
            }
            tokio::select! {
                changed = start.changed() => if changed.is_err() { return Ok(None) },
                changed = seq.changed() => if changed.is_err() { return Ok(None) },
                () = tokio::time::sleep_until(deadline) => return Ok(None),
            }
        }
    }

    /// QueryData of an engine stream whose frame names a cursor path (see "Cursor paths" in
    /// the module docs): the cursor, the engine position of the first row the frame does not
    /// hold. That is the one after every row the channel has (and after its history), or,
    /// when the channel holds rows newer than `to_ms` (made after the browser read its
    /// clock), the first of those: the path's RunStream sends them. Marks nothing.
    ///
    /// Waits up to `timeout` for the source to say where its rows start; `Ok(None)` when it
    /// has not by then, or its rows carry no positions.
    ///
    /// # Errors
    /// The channel's producer stopped (the stream does not exist, say): its reason.
    pub async fn engine_cursor(
        &self,
        to_ms: i64,
        timeout: Duration,
    ) -> Result<Option<Position>, PluginError> {
        let Some(start) = self.wait_start(timeout).await? else {
            return Ok(None);
        };
        let ring = lock(&self.shared.ring);
        let positions = &ring.positions;
        if positions.len() != ring.ring.len() {
            return Ok(None);
        }
        let after_all = [
            Some(start),
            positions.history_end().map(|end| end.saturating_add(1)),
            positions.last().map(|last| last.saturating_add(1)),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(start);
        let to_ns = to_ms.saturating_mul(1_000_000).saturating_add(999_999);
        let time = ring.ring.field_index("time");
        let first = ring.ring.first_seq();
        let newer = ring
            .ring
            .rows()
            .find(|row| matches!(time.and_then(|j| row.get(j)), Some(Value::Time(t)) if t > to_ns));
        Ok(Some(
            newer
                .and_then(|row| positions.get((row.seq() - first) as usize))
                .map_or(after_all, |p| p.min(after_all)),
        ))
    }

    /// SubscribeStream's initial data on the cursor path starting at `from`: the schema and
    /// the rows at or after `from` that this path's RunStream already sent in this process,
    /// whoever asks: a second subscriber of the path on this Grafana node joins the
    /// RunStream's broadcast late. Nothing (not even the schema) when it sent none.
    pub fn cursor_initial_data(&self, from: Position) -> String {
        let state = lock(&self.shared.ring);
        let first = state.ring.first_seq();
        let from_seq = first + state.positions.index_of(from) as u64;
        let sent_end = lock(&self.state)
            .cursors
            .iter()
            .find(|c| c.from == from)
            .map_or(0, |c| c.sent_end);
        if sent_end <= from_seq {
            // No schema either: the ring's, before its first row, may lack fields the
            // panel's QueryData frame has, and Grafana would drop their values.
            return String::new();
        }
        let frame = self.newest_fitting(&state.ring, from_seq, sent_end);
        drop(state);
        initial_json(frame)
    }

    /// A copy of the newest rows of `from..to` that fit one message, with the schema.
    fn newest_fitting(&self, ring: &RingFrame, from: u64, to: u64) -> Option<RingFrame> {
        let mut bytes = 0_usize;
        let fit = ring
            .rows_between(from, to)
            .rows()
            .rev()
            .take_while(|row| {
                bytes = bytes.saturating_add(json::row_bytes_bound(row));
                bytes <= self.max_packet
            })
            .count();
        let rows = ring
            .rows_between(to.saturating_sub(fit as u64).max(from), to)
            .rows();
        copy_rows(ring, rows.clone(), rows.len(), usize::MAX)
    }

    /// SubscribeStream's initial data: the schema and the rows published since the viewer's
    /// last QueryData (all published rows if the viewer ran none), as DataFrameJSON.
    pub fn initial_data(&self, viewer: &str) -> String {
        let frame = {
            let state = lock(&self.shared.ring);
            let ring = &state.ring;
            let (from, to) = {
                let history_seq = state.positions.history_seq();
                let mut channel = lock(&self.state);
                channel.cursor = channel.cursor.max(history_seq);
                let mark = channel.served.iter().find(|(v, _)| v == viewer);
                // A viewer that ran a query got the engine's history with it.
                let from = mark.map_or(0, |(_, seq)| (*seq).max(history_seq));
                (from, channel.cursor)
            };
            self.newest_fitting(ring, from, to)
        };
        initial_json(frame)
    }

    /// RunStream: the schema once, then data-only packets of new rows, forever (until the
    /// producer fails). Dropping the stream ends the RunStream.
    pub fn run_stream(
        self: &Arc<Self>,
    ) -> impl Stream<Item = Result<Vec<u8>, PluginError>> + Send + 'static {
        let start = {
            let history_seq = lock(&self.shared.ring).positions.history_seq();
            let mut state = lock(&self.state);
            state.run_streams += 1;
            state.cursor = state.cursor.max(history_seq);
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

/// Initial data: the frame's schema and rows as DataFrameJSON (nothing without a frame).
fn initial_json(frame: Option<RingFrame>) -> String {
    let mut out = String::new();
    if let Some(frame) = frame {
        json::write_rows(&frame, frame.rows(), true, &mut out);
    }
    out
}

/// A frame of `ring`'s schema (and notices) holding `rows` (`count` of them); `None` when
/// their cells would take more than `max_bytes`.
fn copy_rows<'a>(
    ring: &'a RingFrame,
    rows: impl Iterator<Item = ringstream_frame::Row<'a>>,
    count: usize,
    max_bytes: usize,
) -> Option<RingFrame> {
    let per_row = ring.fixed_bytes_per_row();
    if count.saturating_mul(per_row) > max_bytes {
        return None;
    }
    let mut out = RingFrame::try_new(count.max(1), AppendMode::Tail).ok()?;
    for field in ring.fields() {
        out.add_field(field.clone()).ok()?;
    }
    out.meta_mut().notices.clone_from(&ring.meta().notices);
    let mut cells = Vec::with_capacity(ring.fields().len());
    let mut bytes = 0_usize;
    for row in rows {
        cells.clear();
        cells.extend(row.values());
        bytes += per_row
            + cells
                .iter()
                .map(|c| match c {
                    Value::String(s) => s.len(),
                    _ => 0,
                })
                .sum::<usize>();
        if bytes > max_bytes {
            return None;
        }
        out.push_row(&cells).ok()?;
    }
    Some(out)
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
                return Some(Err(PluginError::Source(format!("stream stopped: {why}"))));
            }
            if let Some(last) = self.last_sent {
                tokio::time::sleep_until(last + channel.tick).await;
            }
            let (packet, more) = {
                let state = lock(&channel.shared.ring);
                // History rows came with the panel's QueryData, never by stream.
                self.encoder.skip_to(state.positions.history_seq());
                let packet =
                    self.encoder
                        .next_packet_within(&state.ring, channel.max_packet, &mut self.buf);
                (packet, self.encoder.has_more(&state.ring))
            };
            if let Some(packet) = packet {
                if packet.missed > 0 {
                    tracing::warn!(path = %channel.path, missed = packet.missed, "RunStream fell behind the ring");
                }
                let mut state = lock(&channel.state);
                state.cursor = state.cursor.max(self.encoder.next_seq());
                drop(state);
                // A backlog split by size goes out at once; pacing resumes after it.
                self.last_sent = (!more).then(Instant::now);
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

/// Reads the rows of a cursor path that its channel does not hold, at engine positions
/// `after..before`, for the path's RunStream ([`Channel::run_cursor_stream`]): the source's
/// [`SourceKind::range`](crate::source::SourceKind::range) from a start position.
pub type EngineRead = Arc<
    dyn Fn(Position, Position) -> crate::source::BoxFuture<'static, Result<RingFrame, PluginError>>
        + Send
        + Sync,
>;

/// A cursor path's own cursor on its channel.
#[derive(Debug)]
struct PathCursor {
    /// The path's cursor: where its RunStream starts.
    from: Position,
    /// Its RunStreams running now.
    running: usize,
    /// The ring sequence after the newest row its RunStreams sent in this process (0: none).
    sent_end: u64,
}

impl Channel {
    /// RunStream on the cursor path starting at `from` (see "Cursor paths" in the module
    /// docs): the schema, then every row at or after `from` that this path has not sent yet,
    /// in this process or (by the progress recorded under `key`) an earlier one; what the
    /// ring does not hold is read by `read` first.
    ///
    /// # Errors
    /// [`PluginError::Exhausted`] when `max_cursor_streams` RunStreams of cursor paths run on
    /// this channel already.
    pub fn run_cursor_stream(
        self: &Arc<Self>,
        key: String,
        from: Position,
        read: EngineRead,
    ) -> Result<impl Stream<Item = Result<Vec<u8>, PluginError>> + Send + 'static, PluginError>
    {
        {
            let mut state = lock(&self.state);
            let running: usize = state.cursors.iter().map(|c| c.running).sum();
            if running as u64 >= self.max_cursor_streams {
                return Err(PluginError::Exhausted {
                    what: "RunStreams of cursor paths on one stream",
                    limit: self.max_cursor_streams,
                    setting: "max_cursor_streams",
                });
            }
            let mut cursor = match state.cursors.iter().position(|c| c.from == from) {
                Some(i) => state.cursors.remove(i),
                None => PathCursor {
                    from,
                    running: 0,
                    sent_end: 0,
                },
            };
            if state.cursors.len() as u64 >= self.max_cursor_streams {
                // Forgotten here only: the progress store still knows what it sent.
                if let Some(idle) = state.cursors.iter().position(|c| c.running == 0) {
                    state.cursors.remove(idle);
                }
            }
            cursor.running += 1;
            state.cursors.push(cursor);
            state.run_streams += 1;
        }
        let run = CursorRun {
            recorded: self.progress.get(&key),
            channel: Arc::clone(self),
            from,
            key,
            next: from,
            handed: None,
            read,
            encoder: StreamEncoder::default(),
            fresh: true,
            seq: self.shared.seq.subscribe(),
            start: self.shared.start.subscribe(),
            buf: String::new(),
            pending: std::collections::VecDeque::new(),
            last_sent: None,
        };
        Ok(futures_util::stream::unfold(run, |mut run| async move {
            let item = run.next().await?;
            Some((item, run))
        }))
    }
}

/// A cursor path's RunStream.
struct CursorRun {
    channel: Arc<Channel>,
    from: Position,
    /// Where its progress is recorded.
    key: String,
    /// The engine position of the first row not sent yet.
    next: Position,
    /// What an earlier RunStream of the path recorded it sent, until checked against the
    /// engine.
    recorded: Option<Position>,
    /// The newest position of the packet last returned: recorded once gRPC took it.
    handed: Option<Position>,
    read: EngineRead,
    encoder: StreamEncoder,
    /// Whether `encoder` has sent nothing yet: it then waits for a row, so that the ring's
    /// schema never reaches the panel without the fields its rows bring (Grafana would drop
    /// the values the panel's QueryData frame has in them).
    fresh: bool,
    seq: watch::Receiver<u64>,
    start: watch::Receiver<Option<Position>>,
    buf: String,
    /// Packets of rows read from the engine, still to send.
    pending: std::collections::VecDeque<Vec<u8>>,
    last_sent: Option<Instant>,
}

/// What a cursor RunStream does next.
enum Step {
    /// Send this packet (and whether more rows wait).
    Send(Vec<u8>, bool),
    /// Read `after..before` from the engine: the ring does not hold it.
    CatchUp(Position, Position),
    Wait,
}

impl CursorRun {
    /// The next packet, waiting for rows; `None` ends the stream.
    async fn next(&mut self) -> Option<Result<Vec<u8>, PluginError>> {
        // Asked for the next packet: gRPC took the last one.
        if let Some(sent) = self.handed.take() {
            self.channel.progress.record(&self.key, sent);
        }
        let channel = Arc::clone(&self.channel);
        loop {
            if let Some(packet) = self.pending.pop_front() {
                if self.pending.is_empty() {
                    self.handed = self.next.checked_sub(1);
                }
                return Some(Ok(packet));
            }
            if let Some(why) = lock(&channel.shared.failure).clone() {
                return Some(Err(PluginError::Source(format!("stream stopped: {why}"))));
            }
            if let Some(last) = self.last_sent {
                tokio::time::sleep_until(last + channel.tick).await;
            }
            match self.step(&channel) {
                Step::Send(packet, more) => {
                    // A backlog split by size goes out at once; pacing resumes after it.
                    self.last_sent = (!more).then(Instant::now);
                    return Some(Ok(packet));
                }
                Step::CatchUp(after, before) => {
                    let frame = match (self.read)(after, before).await {
                        Ok(frame) => frame,
                        Err(e) => return Some(Err(e)),
                    };
                    self.pending = engine_packets(&frame, channel.max_packet);
                    self.next = before;
                    // The ring's schema goes out again after the engine's.
                    self.encoder = StreamEncoder::starting_at(self.encoder.next_seq());
                    self.fresh = true;
                    if self.pending.is_empty() {
                        channel.progress.record(&self.key, before - 1);
                    }
                }
                Step::Wait => {
                    tokio::select! {
                        changed = self.seq.changed() => changed.ok()?,
                        changed = self.start.changed() => changed.ok()?,
                    }
                }
            }
        }
    }

    /// Under the ring's lock: the packet of the ring's rows from `next` on, or what the ring
    /// lacks.
    fn step(&mut self, channel: &Channel) -> Step {
        let ring = lock(&channel.shared.ring);
        let positions = &ring.positions;
        let Some(covered) = positions.covered_from() else {
            return Step::Wait; // the source has not said where its rows start
        };
        if let Some(sent) = self.recorded.take() {
            // A stream's positions only grow, so a record past the newest position the
            // channel knows of (the engine's newest when it was made, its own rows) is
            // another stream's (one deleted and made again, whose positions started over):
            // this path has sent nothing of this one.
            let newest = [
                positions.history_end(),
                positions.last(),
                covered.checked_sub(1),
            ]
            .into_iter()
            .flatten()
            .max();
            if newest.is_some_and(|newest| newest >= sent) {
                self.next = self.next.max(sent.saturating_add(1));
            } else {
                tracing::info!(key = %self.key, sent, "RunStream progress of an earlier stream ignored");
            }
        }
        if self.next < covered {
            return Step::CatchUp(self.next, covered);
        }
        let first = ring.ring.first_seq();
        self.encoder
            .skip_to(first + positions.index_of(self.next) as u64);
        if self.fresh && !self.encoder.has_more(&ring.ring) {
            return Step::Wait;
        }
        self.fresh = false;
        let Some(packet) =
            self.encoder
                .next_packet_within(&ring.ring, channel.max_packet, &mut self.buf)
        else {
            return Step::Wait;
        };
        let end = self.encoder.next_seq();
        if packet.rows > 0 {
            if let Some(last) = end
                .checked_sub(first + 1)
                .and_then(|i| positions.get(i as usize))
            {
                self.next = last.saturating_add(1);
                self.handed = Some(last);
            }
        }
        let more = self.encoder.has_more(&ring.ring);
        if let Some(c) = lock(&channel.state)
            .cursors
            .iter_mut()
            .find(|c| c.from == self.from)
        {
            c.sent_end = c.sent_end.max(end);
        }
        Step::Send(self.buf.as_bytes().to_vec(), more)
    }
}

impl Drop for CursorRun {
    fn drop(&mut self) {
        // Ended after gRPC took the last packet: it counts as sent.
        if let Some(sent) = self.handed.take() {
            self.channel.progress.record(&self.key, sent);
        }
        let mut state = lock(&self.channel.state);
        state.run_streams -= 1;
        state.idle_since = Instant::now();
        if let Some(c) = state.cursors.iter_mut().find(|c| c.from == self.from) {
            c.running = c.running.saturating_sub(1);
        }
    }
}

/// The rows an engine read gave, as packets under `max_bytes`: the first with the frame's
/// schema, each with at least one row.
fn engine_packets(frame: &RingFrame, max_bytes: usize) -> std::collections::VecDeque<Vec<u8>> {
    let mut out = std::collections::VecDeque::new();
    let (mut from, end) = (frame.first_seq(), frame.next_seq());
    while from < end {
        let mut bytes = 0_usize;
        let n = frame
            .rows_between(from, end)
            .rows()
            .take_while(|row| {
                bytes = bytes.saturating_add(json::row_bytes_bound(row));
                bytes <= max_bytes
            })
            .count()
            .max(1) as u64;
        let mut text = String::new();
        json::write_rows(
            frame,
            frame.rows_between(from, from + n).rows(),
            out.is_empty(),
            &mut text,
        );
        out.push_back(text.into_bytes());
        from += n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use ringstream_frame::{Field, FieldType};
    use tokio::sync::mpsc;

    /// A source whose engine starts the channel at `start` (the engine's newest position then
    /// `start - 1`) and whose rows, `n` = their position, come from the test.
    struct Engine {
        start: Position,
        rows: mpsc::UnboundedReceiver<Position>,
    }

    fn fields() -> Vec<Field> {
        vec![
            Field::new("time", FieldType::Time),
            Field::new("n", FieldType::Number),
        ]
    }

    fn row(p: Position) -> [Value<'static>; 2] {
        [Value::Time(p as i64 * 1_000_000), Value::Number(p as f64)]
    }

    impl crate::source::Source for Engine {
        fn fields(&self) -> Vec<Field> {
            fields()
        }

        async fn run(mut self, sink: crate::source::RowSink) -> Result<(), PluginError> {
            sink.batch(|b| b.set_start_position(self.start, self.start - 1));
            while let Some(p) = self.rows.recv().await {
                sink.batch(|b| {
                    let _ = b.push_row_at(p, &row(p));
                });
            }
            std::future::pending().await
        }
    }

    /// The reads an engine was asked for.
    type Asked = Arc<Mutex<Vec<(Position, Position)>>>;

    /// An engine read that holds every position, and the reads it was asked for.
    fn reads() -> (EngineRead, Asked) {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&asked);
        let read: EngineRead = Arc::new(move |after, before| {
            lock(&log).push((after, before));
            Box::pin(async move {
                let mut frame = RingFrame::try_new(1000, AppendMode::Tail)?;
                for f in fields() {
                    frame.add_field(f)?;
                }
                for p in after..before {
                    frame.push_row(&row(p))?;
                }
                Ok(frame)
            })
        });
        (read, asked)
    }

    fn channel(
        hub: &StreamHub,
        capacity: usize,
        start: Position,
    ) -> (Arc<Channel>, mpsc::UnboundedSender<Position>) {
        let spec = StreamSpec::from_json_bytes(
            format!(r#"{{"capacity":{capacity},"backfill":false,"tickMs":10}}"#).as_bytes(),
        )
        .unwrap();
        let path = ChannelPath::of(&spec);
        let (tx, rows) = mpsc::unbounded_channel();
        let source = Box::new(Engine { start, rows });
        let channel = hub
            .start(&Requester::system(), &path, &spec, None, source)
            .unwrap();
        (Arc::new(channel), tx)
    }

    /// The `n` of a packet's or initial data's rows.
    fn ns(message: &[u8]) -> Vec<Position> {
        let v: serde_json::Value = serde_json::from_slice(message).unwrap();
        v["data"]["values"][1]
            .as_array()
            .map(|a| a.iter().map(|n| n.as_f64().unwrap() as Position).collect())
            .unwrap_or_default()
    }

    /// Packets' rows until `want` arrived (or nothing comes for a while).
    async fn take(
        stream: &mut (impl Stream<Item = Result<Vec<u8>, PluginError>> + Unpin),
        want: usize,
    ) -> Vec<Position> {
        let mut got = Vec::new();
        while got.len() < want {
            match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
                Ok(Some(Ok(packet))) => got.extend(ns(&packet)),
                _ => break,
            }
        }
        got
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn cursor_paths_keep_their_own_cursors_and_the_channel_wide_one_stays() {
        let hub = StreamHub::new(HubConfig::default());
        let (channel, rows) = channel(&hub, 100, 10);
        for p in 10..15 {
            rows.send(p).unwrap();
        }
        settle().await;
        let (read, asked) = reads();
        let mut a = Box::pin(
            channel
                .run_cursor_stream("a".into(), 12, Arc::clone(&read))
                .unwrap(),
        );
        let mut b = Box::pin(channel.run_cursor_stream("b".into(), 14, read).unwrap());
        assert_eq!(take(&mut a, 3).await, [12, 13, 14]);
        assert_eq!(take(&mut b, 1).await, [14]);
        rows.send(15).unwrap();
        assert_eq!(take(&mut a, 1).await, [15]);
        assert_eq!(take(&mut b, 1).await, [15]);
        assert!(lock(&asked).is_empty(), "the ring held every row asked for");
        // The channel-wide cursor did not move: a plain RunStream still has every row.
        let mut plain = Box::pin(channel.run_stream());
        assert_eq!(take(&mut plain, 6).await, [10, 11, 12, 13, 14, 15]);
    }

    #[tokio::test(start_paused = true)]
    async fn initial_data_of_a_cursor_path_is_what_its_run_stream_sent_whoever_asks() {
        let hub = StreamHub::new(HubConfig::default());
        let (channel, rows) = channel(&hub, 100, 10);
        for p in 10..14 {
            rows.send(p).unwrap();
        }
        settle().await;
        assert_eq!(
            channel.cursor_initial_data(11),
            "",
            "nothing sent, nothing to join"
        );
        let (read, _) = reads();
        let mut a = Box::pin(channel.run_cursor_stream("a".into(), 11, read).unwrap());
        assert_eq!(take(&mut a, 3).await, [11, 12, 13]);
        assert_eq!(ns(channel.cursor_initial_data(11).as_bytes()), [11, 12, 13]);
        assert_eq!(channel.cursor_initial_data(12), "");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cursor_run_stream_sends_the_ring_schema_only_with_rows() {
        let hub = StreamHub::new(HubConfig::default());
        let (channel, rows) = channel(&hub, 100, 10);
        let (read, _) = reads();
        let mut a = Box::pin(channel.run_cursor_stream("a".into(), 10, read).unwrap());
        let early = tokio::time::timeout(Duration::from_secs(1), a.next()).await;
        assert!(early.is_err(), "a schema-only packet: {early:?}");
        rows.send(10).unwrap();
        let packet = a.next().await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&packet).contains("\"schema\""));
        assert_eq!(ns(&packet), [10]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cursor_older_than_the_ring_reads_the_gap_from_the_engine_once() {
        let hub = StreamHub::new(HubConfig::default());
        let (channel, rows) = channel(&hub, 100, 10);
        for p in 10..13 {
            rows.send(p).unwrap();
        }
        settle().await;
        let (read, asked) = reads();
        let mut a = Box::pin(channel.run_cursor_stream("a".into(), 4, read).unwrap());
        assert_eq!(take(&mut a, 9).await, [4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(*lock(&asked), [(4, 10)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cursor_run_stream_that_falls_behind_the_ring_reads_what_it_dropped() {
        let hub = StreamHub::new(HubConfig::default());
        let (channel, rows) = channel(&hub, 10, 10);
        rows.send(10).unwrap();
        settle().await;
        let (read, asked) = reads();
        let mut a = Box::pin(channel.run_cursor_stream("a".into(), 10, read).unwrap());
        assert_eq!(take(&mut a, 1).await, [10]);
        for p in 11..40 {
            rows.send(p).unwrap(); // while the RunStream is not polled: the ring keeps 30..40
        }
        settle().await;
        let got = take(&mut a, 29).await;
        assert_eq!(got, (11..40).collect::<Vec<_>>());
        assert_eq!(*lock(&asked), [(11, 30)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_resubmitted_run_stream_continues_after_what_grpc_took() {
        let hub = StreamHub::new(HubConfig::default());
        let (channel, rows) = channel(&hub, 100, 10);
        for p in 10..13 {
            rows.send(p).unwrap();
        }
        settle().await;
        let (read, _) = reads();
        let mut a = Box::pin(
            channel
                .run_cursor_stream("k".into(), 10, Arc::clone(&read))
                .unwrap(),
        );
        assert_eq!(take(&mut a, 3).await, [10, 11, 12]);
        drop(a); // the RunStream ends after gRPC took its packet
        assert_eq!(hub.inner.progress.get("k"), Some(12));
        rows.send(13).unwrap();
        settle().await;
        let mut again = Box::pin(channel.run_cursor_stream("k".into(), 10, read).unwrap());
        assert_eq!(take(&mut again, 1).await, [13]);
    }

    #[tokio::test(start_paused = true)]
    async fn progress_past_the_engines_newest_position_is_another_streams() {
        let hub = StreamHub::new(HubConfig::default());
        hub.inner.progress.record("old", 50); // the stream was made again: it ends at 13
        hub.inner.progress.record("resumed", 11);
        let (channel, rows) = channel(&hub, 100, 10);
        for p in 10..14 {
            rows.send(p).unwrap();
        }
        settle().await;
        let (read, _) = reads();
        let mut old = Box::pin(
            channel
                .run_cursor_stream("old".into(), 10, Arc::clone(&read))
                .unwrap(),
        );
        assert_eq!(take(&mut old, 4).await, [10, 11, 12, 13]);
        // A record of a position the stream holds: continued after.
        let mut resumed = Box::pin(
            channel
                .run_cursor_stream("resumed".into(), 8, read)
                .unwrap(),
        );
        assert_eq!(take(&mut resumed, 2).await, [12, 13]);
    }

    #[tokio::test(start_paused = true)]
    async fn cursor_run_streams_per_channel_are_bounded() {
        let hub = StreamHub::new(HubConfig::new(Limits {
            max_cursor_streams: 2,
            ..Limits::default()
        }));
        let (channel, _rows) = channel(&hub, 100, 10);
        let (read, _) = reads();
        let a = channel
            .run_cursor_stream("a".into(), 1, Arc::clone(&read))
            .unwrap();
        let _b = channel
            .run_cursor_stream("b".into(), 2, Arc::clone(&read))
            .unwrap();
        let Err(e) = channel.run_cursor_stream("c".into(), 3, Arc::clone(&read)) else {
            panic!("a third cursor RunStream ran");
        };
        assert!(matches!(e, PluginError::Exhausted { .. }));
        assert!(e.to_string().contains("max_cursor_streams"), "{e}");
        drop(a);
        assert!(channel.run_cursor_stream("c".into(), 3, read).is_ok());
        assert!(lock(&channel.state).cursors.len() <= 2);
    }
}
