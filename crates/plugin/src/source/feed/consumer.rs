//! A channel's side of a feed: deliveries in, rows and notices out.

use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ringstream_frame::{Notice, Severity};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::{queue, Delivery, FeedMetrics, QueueRx, QueueTx};
use crate::limits::Limits;
use crate::query::StreamSpec;
use crate::source::payload::{FeedSpec, FxBuild, ParsedRow, RowBuilder, Stats, MAX_PAYLOAD_BYTES};
use crate::source::RowSink;
use crate::PluginError;

/// After (re)subscribing, how long retained messages are taken (see [`consume`]).
pub(crate) const RETAINED_WINDOW: Duration = Duration::from_secs(5);
/// Deliveries turned into rows under one lock of the ring.
const BATCH: usize = 256;
/// Topics whose recent payloads a channel remembers, to drop retained copies it already has.
const RECENT_TOPICS: usize = 1024;
/// Payload hashes remembered per topic.
const RECENT_PER_TOPIC: usize = 8;
/// Stats notices are rewritten at most this often (each rewrite resends the schema).
const STATS_NOTICE_EVERY: Duration = Duration::from_secs(1);
/// How a channel's [`consume`] loop names its connection in notices.
#[derive(Debug, Clone)]
pub(crate) struct FeedLabel {
    /// The counters the channel adds to.
    pub(crate) metrics: Arc<FeedMetrics>,
    /// `MQTT` or `WebSocket`.
    pub(crate) kind: &'static str,
    /// The server, as `scheme://host:port` (never a URL's path or query: they could hold a
    /// token).
    pub(crate) endpoint: String,
    /// Whether retained messages are taken (the query's `backfill`).
    pub(crate) take_retained: bool,
}

impl FeedLabel {
    /// The label of a `kind` connection to `endpoint` that takes retained messages.
    pub(crate) fn new(metrics: &Arc<FeedMetrics>, kind: &'static str, endpoint: String) -> Self {
        Self {
            metrics: Arc::clone(metrics),
            kind,
            endpoint,
            take_retained: true,
        }
    }
}

/// What a message feed's producer holds for its channel until it runs: how messages become
/// rows, how notices name the connection, and how many payload bytes the channel's queue
/// holds. [`Intake::open`] turns it into that queue and the [`consume`] loop reading it.
#[derive(Debug)]
pub(crate) struct Intake {
    rows: RowBuilder,
    label: FeedLabel,
    queue_bytes: usize,
}

impl Intake {
    /// The intake of a stream of `spec` (its time path and fields), with one series per
    /// topic when `per_topic` (a wildcard filter).
    pub(crate) fn new(
        spec: &StreamSpec,
        per_topic: bool,
        label: FeedLabel,
        limits: &Limits,
    ) -> Self {
        let feed = FeedSpec::of(spec);
        Self {
            rows: RowBuilder::new(feed.time_path, feed.fields, per_topic),
            label,
            queue_bytes: limits.channel_queue_bytes(),
        }
    }

    /// What the channel's queue may hold ([`Source::held_bytes`](crate::source::Source::held_bytes)).
    pub(crate) fn held_bytes(&self) -> u64 {
        self.queue_bytes as u64
    }

    /// The queue the connection hands the channel's deliveries to, and the loop that turns
    /// them into rows and notices in `sink` ([`consume`]).
    pub(crate) fn open(
        self,
        sink: RowSink,
    ) -> (
        QueueTx,
        impl Future<Output = Result<(), PluginError>> + Send,
    ) {
        let (tx, rx) = queue(self.queue_bytes);
        (tx, consume(rx, sink, self.rows, self.label))
    }
}

/// A channel's side of a feed: turns deliveries into rows and notices on its frame, until
/// the connection goes away or refuses the channel (an error: the hub recreates the channel
/// on next use).
///
/// Retained messages (and the latest values a channel gets when it joins a running
/// connection) give a new channel the latest values. They are taken only within
/// [`RETAINED_WINDOW`] after the channel subscribed or the connection came back, and not
/// when the channel saw the same payload on that topic recently: a broker re-sends retained
/// messages on every reconnect, and those copies would be duplicates or stale.
///
/// # Errors
/// When the connection's side of the queue is gone, or the server refused the channel.
pub(crate) async fn consume(
    mut rx: QueueRx,
    sink: RowSink,
    rows: RowBuilder,
    label: FeedLabel,
) -> Result<(), PluginError> {
    let mut state = Consumer {
        rows,
        label,
        window_until: Instant::now() + RETAINED_WINDOW,
        recent: HashMap::new(),
        hasher: FxBuild::default(),
        down_since: None,
        link_notice: None,
        stats_notice: None,
        notices_sent: None,
        stats_shown: Stats::default(),
        stats_counted: Stats::default(),
        stats_due: None,
        next_stats_at: Instant::now(),
    };
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let due = state.stats_due;
        let received = tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => Some(n),
            () = sleep_until_opt(due) => None,
        };
        match received {
            Some(0) => {
                return Err(PluginError::Source(format!(
                    "the {} connection ended",
                    state.label.kind
                )))
            }
            Some(_) => state.take(&sink, &batch)?,
            None => {
                if let Some(notices) = state.refresh(Instant::now()) {
                    sink.batch(|b| b.set_notices(notices));
                }
            }
        }
        batch.clear(); // gives the queue its room back
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

struct Consumer {
    rows: RowBuilder,
    label: FeedLabel,
    window_until: Instant,
    /// topic → recent payload hashes (a ring of [`RECENT_PER_TOPIC`]) and the next slot.
    recent: HashMap<Arc<str>, ([u64; RECENT_PER_TOPIC], usize)>,
    hasher: FxBuild,
    down_since: Option<i64>,
    link_notice: Option<Notice>,
    stats_notice: Option<Notice>,
    /// The notices last handed to the channel.
    notices_sent: Option<Vec<Notice>>,
    /// Stats as the notice shows them.
    stats_shown: Stats,
    /// Stats as the process metrics have counted them.
    stats_counted: Stats,
    /// When a pending stats notice is due.
    stats_due: Option<Instant>,
    next_stats_at: Instant,
}

impl Consumer {
    /// Turns a batch of deliveries into rows and notices of the channel. The payloads are
    /// parsed before the channel's lock is taken: readers of the channel wait only for the
    /// stores.
    ///
    /// # Errors
    /// When the server refused the channel.
    fn take(
        &mut self,
        sink: &RowSink,
        batch: &[(Delivery, OwnedSemaphorePermit)],
    ) -> Result<(), PluginError> {
        let now = Instant::now();
        let mut parsed: Vec<(ParsedRow<'_>, Option<crate::source::Position>)> =
            Vec::with_capacity(batch.len());
        let mut start = None;
        for (delivery, _room) in batch {
            if let Delivery::Start {
                position,
                history_end,
            } = delivery
            {
                start = Some((*position, *history_end));
            }
            if let Some(p) = self.apply(delivery, now)? {
                let position = match delivery {
                    Delivery::Message(m) => m.position,
                    _ => None,
                };
                parsed.push((p, position));
            }
        }
        let fields = self.rows.take_new_fields();
        let notices = self.refresh(now);
        let held = self.rows.heap_bytes() as u64;
        let mut unstored = 0;
        sink.batch(|b| {
            if let Some((position, history_end)) = start {
                b.set_start_position(position, history_end);
            }
            for field in fields {
                if b.add_field(field).is_err() {
                    break;
                }
            }
            let width = b.fields().len();
            let mut row = Vec::with_capacity(width);
            for (p, position) in &parsed {
                p.cells(width, &mut row);
                let pushed = match position {
                    Some(at) => b.push_row_at(*at, &row),
                    None => b.push_row(&row),
                };
                if pushed.is_err() {
                    unstored += 1;
                }
            }
            if let Some(notices) = notices {
                b.set_notices(notices);
            }
            b.set_held_bytes(held);
        });
        for _ in 0..unstored {
            // Cannot happen (every cell was converted to its field's type); counted rather
            // than propagated so that one message never ends a stream.
            tracing::error!("payload row refused by the ring");
            self.rows.count_unstored();
        }
        Ok(())
    }

    /// Takes one delivery: a message becomes a row (`Some`), link changes become notices.
    ///
    /// # Errors
    /// [`Delivery::Refused`]: the channel ends.
    fn apply<'p>(
        &mut self,
        delivery: &'p Delivery,
        now: Instant,
    ) -> Result<Option<ParsedRow<'p>>, PluginError> {
        match delivery {
            Delivery::Message(m) if m.oversized => self.rows.count_oversized(),
            Delivery::Message(m) => {
                let hash = self
                    .label
                    .take_retained
                    .then(|| self.hasher.hash_one(&m.payload));
                if m.retained {
                    let fresh = now < self.window_until;
                    let seen = hash.is_some_and(|h| {
                        self.recent
                            .get(&m.topic)
                            .is_some_and(|(hashes, _)| hashes.contains(&h))
                    });
                    if !self.label.take_retained || !fresh || seen {
                        return Ok(None);
                    }
                }
                let parsed = self.rows.parse(&m.topic, &m.payload, m.arrival_ms);
                if let Some(h) = hash {
                    self.remember(&m.topic, h);
                }
                return Ok(parsed);
            }
            Delivery::Down { at_ms, reason } => {
                let since = *self.down_since.get_or_insert(*at_ms);
                self.link_notice = Some(Notice {
                    severity: Severity::Warning,
                    text: format!(
                        "{} connection to {} lost at {}: {reason}. Reconnecting; messages sent \
                         until it is back are missing.",
                        self.label.kind,
                        self.label.endpoint,
                        crate::clock::utc_text(since)
                    ),
                });
            }
            Delivery::Up { at_ms } => {
                self.window_until = now + RETAINED_WINDOW;
                if let Some(since) = self.down_since.take() {
                    let secs = (at_ms - since).max(0) as f64 / 1000.0;
                    self.link_notice = Some(Notice {
                        severity: Severity::Warning,
                        text: format!(
                            "{} connection to {} was down from {} to {} ({secs:.1} s): messages \
                             sent meanwhile are missing.",
                            self.label.kind,
                            self.label.endpoint,
                            crate::clock::utc_text(since),
                            crate::clock::utc_text(*at_ms)
                        ),
                    });
                }
            }
            Delivery::Refused { reason } => return Err(PluginError::Refused(reason.clone())),
            Delivery::Start { .. } => {}
        }
        Ok(None)
    }

    fn remember(&mut self, topic: &Arc<str>, hash: u64) {
        if let Some((hashes, next)) = self.recent.get_mut(topic) {
            hashes[*next] = hash;
            *next = (*next + 1) % RECENT_PER_TOPIC;
        } else if self.recent.len() < RECENT_TOPICS {
            let mut hashes = [0; RECENT_PER_TOPIC];
            hashes[0] = hash;
            self.recent
                .insert(Arc::clone(topic), (hashes, 1 % RECENT_PER_TOPIC));
        }
    }

    /// Counts into the process metrics; returns the frame's notices when they changed (the
    /// stats one at most every [`STATS_NOTICE_EVERY`]).
    fn refresh(&mut self, now: Instant) -> Option<Vec<Notice>> {
        let stats = self.rows.stats();
        let before = self.stats_counted;
        let m = &self.label.metrics;
        m.messages
            .fetch_add(stats.messages - before.messages, Ordering::Relaxed);
        m.rows
            .fetch_add(stats.rows.saturating_sub(before.rows), Ordering::Relaxed);
        m.skipped
            .fetch_add(stats.skipped() - before.skipped(), Ordering::Relaxed);
        self.stats_counted = stats;

        let noteworthy = |s: &Stats| (s.skipped(), s.bad_time, s.mismatched, s.dropped);
        if noteworthy(&stats) != noteworthy(&self.stats_shown) {
            if now >= self.next_stats_at {
                self.stats_notice = stats_notice(&stats);
                self.stats_shown = stats;
                self.next_stats_at = now + STATS_NOTICE_EVERY;
                self.stats_due = None;
            } else {
                self.stats_due = Some(self.next_stats_at);
            }
        } else {
            self.stats_due = None;
        }
        let want: Vec<Notice> = self
            .link_notice
            .iter()
            .chain(self.stats_notice.iter())
            .cloned()
            .collect();
        if self.notices_sent.as_ref() == Some(&want) {
            return None;
        }
        self.notices_sent = Some(want.clone());
        Some(want)
    }
}

/// The notice for a stream's skipped messages and lossy values, if any.
pub(crate) fn stats_notice(s: &Stats) -> Option<Notice> {
    use crate::source::payload::{MAX_DEPTH, MAX_FIELDS, MAX_KEY_LEN, MAX_VALUES};
    /// `count what`, for each count above 0.
    fn counted(items: &[(u64, String)]) -> Vec<String> {
        items
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect()
    }
    let why = counted(&[
        (s.malformed, "malformed (not UTF-8, or broken JSON)".into()),
        (
            s.oversized,
            format!("larger than {} KiB", MAX_PAYLOAD_BYTES / 1024),
        ),
        (
            s.too_complex,
            format!(
                "too complex (nested deeper than {MAX_DEPTH} or more than {MAX_VALUES} values)"
            ),
        ),
        (s.empty, "empty".into()),
    ]);
    let mut parts = Vec::new();
    if s.skipped() > 0 {
        parts.push(format!(
            "Skipped {} of {} messages: {}.",
            s.skipped(),
            s.messages,
            why.join(", ")
        ));
    }
    parts.extend(counted(&[
        (
            s.bad_time,
            "messages had no readable timestamp at the time path; their arrival time is used."
                .into(),
        ),
        (
            s.mismatched,
            "values did not fit their field's type and are empty.".into(),
        ),
        (
            s.dropped,
            format!(
                "values were dropped: their key is longer than {MAX_KEY_LEN} bytes or past the \
                 limit of {MAX_FIELDS} fields."
            ),
        ),
    ]));
    (!parts.is_empty()).then(|| Notice {
        severity: Severity::Warning,
        text: parts.join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_notices_say_what_was_skipped() {
        assert_eq!(stats_notice(&Stats::default()), None);
        let n = stats_notice(&Stats {
            messages: 10,
            malformed: 2,
            empty: 1,
            ..Stats::default()
        })
        .unwrap();
        assert_eq!(
            n.text,
            "Skipped 3 of 10 messages: 2 malformed (not UTF-8, or broken JSON), 1 empty."
        );
    }
}
