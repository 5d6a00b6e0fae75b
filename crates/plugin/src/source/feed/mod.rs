//! What the message feeds (MQTT, WebSocket, NATS, Redis) share, one module a job: [`Message`] and
//! [`Delivery`] (what a connection hands its channels), `queue` (bounded queues and the
//! per-connection rate), `fanout` (a connection's channels and their latest values),
//! `consumer` (the channel side that turns deliveries into rows and notices), `link`
//! (up/down reporting), `backoff`, `registry` (one connection shared by its channels),
//! `tls`, `dial` (TCP and TLS to the configured endpoint) and [`FeedError`] (why a
//! connection failed).
//!
//! A connection task (one per MQTT data source instance, one per WebSocket URL) reads the
//! network and hands each channel's consumer loop ([`Intake::open`]) its [`Delivery`]s
//! through a [`queue()`] bounded both in entries (`queue::QUEUE`) and in payload bytes
//! (`channel_queue_kb`). The connection waits when a queue is full, so a slow channel slows
//! its connection (and, through TCP, the server) instead of losing messages or growing a
//! buffer; the ring, not the queue, is where rows wait for Grafana. A connection also reads
//! at most `feed_messages_per_second` ([`RateLimit`]), so that one flooding publisher costs
//! at most that much CPU.
//!
//! The consumer parses each batch of messages before it takes the channel's lock, and holds
//! the lock only to add the new fields and push the rows.

mod backoff;
mod consumer;
mod dial;
mod error;
mod fanout;
mod link;
mod queue;
mod registry;
mod tls;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub(crate) use backoff::{Backoff, BACKOFF_RESET_AFTER};
pub(crate) use consumer::{stats_notice, FeedLabel, Intake};
pub(crate) use dial::{dial, Io};
pub(crate) use error::FeedError;
pub(crate) use fanout::Fanout;
pub(crate) use link::{report_down, report_up, Link, LinkState, Readers, Reading};
pub(crate) use queue::{deliver, queue, QueueRx, QueueTx, RateLimit};
pub(crate) use registry::Registry;
pub(crate) use tls::tls_config;

use super::payload::MAX_PAYLOAD_BYTES;

/// Names a health message lists at most (streams, keys).
pub(crate) const MAX_LISTED: usize = 20;

/// `1 stream`, `3 streams`, or `20+ streams` when the list stopped at [`MAX_LISTED`].
pub(crate) fn count_listed(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        MAX_LISTED => format!("{n}+ {what}s"),
        _ => format!("{n} {what}s"),
    }
}

/// The notice of an engine's range read cut by a limit after `read` messages: read from
/// the range's start (its end is missing) or, `backwards`, from its end (its start is).
pub(crate) fn range_cut_notice(
    read: u64,
    limit: &str,
    backwards: bool,
) -> ringstream_frame::Notice {
    let (how, missing) = if backwards {
        ("back to its", "start")
    } else {
        ("up to its", "end")
    };
    ringstream_frame::Notice {
        severity: ringstream_frame::Severity::Warning,
        text: format!(
            "The time range was read only {how} {read}th message (`{limit}`, \
             [plugin.seed-ringstream-datasource] in grafana.ini): narrow the time range to \
             see its {missing}."
        ),
    }
}

/// Connect (TCP, TLS and handshake) timeout.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One message of a feed.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    /// Its MQTT topic (the URL path for WebSocket).
    pub(crate) topic: Arc<str>,
    /// Its bytes (empty when `oversized`).
    pub(crate) payload: Bytes,
    /// Whether the payload was larger than [`MAX_PAYLOAD_BYTES`] and left out.
    pub(crate) oversized: bool,
    /// Whether it is a stored value rather than a live one (MQTT's retain flag; the last
    /// message replayed to a channel that joined a running connection).
    pub(crate) retained: bool,
    /// When it arrived, epoch milliseconds.
    pub(crate) arrival_ms: i64,
    /// Its place in an engine that keeps history (a JetStream stream sequence).
    pub(crate) position: Option<crate::source::Position>,
}

/// What a connection hands its channels.
#[derive(Debug, Clone)]
pub(crate) enum Delivery {
    /// A message.
    Message(Message),
    /// The connection is down (or could not be made); it is being retried.
    Down {
        /// Since when, epoch milliseconds.
        at_ms: i64,
        /// Why, without secrets.
        reason: String,
    },
    /// The connection is up again (subscriptions renewed).
    Up {
        /// When, epoch milliseconds.
        at_ms: i64,
    },
    /// The channel's messages start at this engine position (its history included): rows
    /// before it are the engine's to answer.
    Start {
        /// The first position to come.
        position: crate::source::Position,
        /// The engine's newest position now: what comes up to it is history.
        history_end: crate::source::Position,
    },
    /// The server refused what this channel reads (a topic filter the broker rejected): the
    /// channel ends with this reason.
    Refused {
        /// Why, without secrets.
        reason: String,
    },
}

impl Delivery {
    /// The bytes it holds in a queue.
    fn queued_bytes(&self) -> usize {
        match self {
            Delivery::Message(m) => m.payload.len().max(1),
            _ => 1,
        }
    }
}

impl Message {
    /// A message; a payload over [`MAX_PAYLOAD_BYTES`] is left out (and counted by the
    /// channel) so that queues never hold more than that per message.
    pub(crate) fn new(topic: Arc<str>, payload: Bytes, retained: bool, arrival_ms: i64) -> Self {
        let oversized = payload.len() > MAX_PAYLOAD_BYTES;
        Self {
            topic,
            payload: if oversized { Bytes::new() } else { payload },
            oversized,
            retained,
            arrival_ms,
            position: None,
        }
    }

    /// The same message, kept by its engine at `position`.
    pub(crate) fn at(mut self, position: crate::source::Position) -> Self {
        self.position = Some(position);
        self
    }
}

/// Counters of the message feeds for CollectMetrics, owned by the hub and shared with every
/// feed channel and connection.
#[derive(Debug, Default)]
pub struct FeedMetrics {
    /// Messages received by all feed channels.
    pub messages: AtomicU64,
    /// Rows made from them.
    pub rows: AtomicU64,
    /// Messages skipped (malformed, oversized, too complex, empty).
    pub skipped: AtomicU64,
    /// Reconnects of MQTT and WebSocket connections.
    pub reconnects: AtomicU64,
}
