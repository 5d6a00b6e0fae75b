//! What the MQTT and WebSocket sources share: the deliveries a connection hands its
//! channels, the channel side that turns them into rows and notices, reconnect backoff,
//! TLS, and the registry that shares one connection between channels.
//!
//! A connection task (one per MQTT data source instance, one per WebSocket URL) reads the
//! network and hands each channel's [`consume`] loop its [`Delivery`]s through a [`queue`]
//! bounded both in entries ([`QUEUE`]) and in payload bytes (`channel_queue_kb`). The
//! connection waits when a queue is full, so a slow channel slows its connection (and,
//! through TCP, the server) instead of losing messages or growing a buffer; the ring, not
//! the queue, is where rows wait for Grafana. A connection also reads at most
//! `feed_messages_per_second` ([`RateLimit`]), so that one flooding publisher costs at most
//! that much CPU.
//!
//! The consumer parses each batch of messages before it takes the channel's lock, and holds
//! the lock only to add the new fields and push the rows.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use ringstream_frame::{Notice, Severity};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::rustls;

use super::payload::{FxBuild, ParsedRow, RowBuilder, Stats, MAX_PAYLOAD_BYTES};
use super::{ConnectionRegistry, RowSink};
use crate::hub::lock;
use crate::settings::TlsSettings;
use crate::PluginError;

/// Deliveries a channel's queue holds before its connection waits (payload bytes are
/// bounded separately, see [`queue`]).
pub(crate) const QUEUE: usize = 256;
/// Deliveries turned into rows under one lock of the ring.
const BATCH: usize = 256;
/// After (re)subscribing, how long retained messages are taken (see [`consume`]).
pub(crate) const RETAINED_WINDOW: Duration = Duration::from_secs(5);
/// Topics whose recent payloads a channel remembers, to drop retained copies it already has.
const RECENT_TOPICS: usize = 1024;
/// Payload hashes remembered per topic.
const RECENT_PER_TOPIC: usize = 8;
/// Stats notices are rewritten at most this often (each rewrite resends the schema).
const STATS_NOTICE_EVERY: Duration = Duration::from_secs(1);
/// First reconnect delay; it doubles up to [`BACKOFF_MAX`], with jitter.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(3);
/// A connection that lasted this long resets the backoff; shorter ones (a server that
/// accepts and drops at once) keep it growing.
pub(crate) const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(5);
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

/// A channel's queue: bounded in entries and in payload bytes; the sender waits for room.
pub(crate) fn queue(bytes: usize) -> (QueueTx, QueueRx) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let bound = bytes.clamp(MAX_PAYLOAD_BYTES, u32::MAX as usize);
    (
        QueueTx {
            tx,
            room: Arc::new(Semaphore::new(bound)),
            bound,
        },
        QueueRx { rx },
    )
}

/// The connection's end of a channel's queue.
#[derive(Debug, Clone)]
pub(crate) struct QueueTx {
    tx: mpsc::Sender<(Delivery, OwnedSemaphorePermit)>,
    room: Arc<Semaphore>,
    bound: usize,
}

impl QueueTx {
    fn cost(&self, d: &Delivery) -> u32 {
        d.queued_bytes().min(self.bound) as u32
    }

    /// Queues `d`, waiting while the queue is full; `false` when the channel is gone.
    pub(crate) async fn send(&self, d: Delivery) -> bool {
        let Ok(permit) = Arc::clone(&self.room)
            .acquire_many_owned(self.cost(&d))
            .await
        else {
            return false;
        };
        self.tx.send((d, permit)).await.is_ok()
    }

    /// Queues `d` if there is room now; `false` otherwise.
    pub(crate) fn try_send(&self, d: Delivery) -> bool {
        let Ok(permit) = Arc::clone(&self.room).try_acquire_many_owned(self.cost(&d)) else {
            return false;
        };
        self.tx.try_send((d, permit)).is_ok()
    }
}

/// The channel's end of its queue.
#[derive(Debug)]
pub(crate) struct QueueRx {
    rx: mpsc::Receiver<(Delivery, OwnedSemaphorePermit)>,
}

#[cfg(test)]
impl QueueRx {
    /// The next delivery if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<Delivery> {
        self.rx.try_recv().ok().map(|(d, _)| d)
    }
}

/// At most `per_second` messages a second, in bursts of up to a second's worth.
#[derive(Debug)]
pub(crate) struct RateLimit {
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    pub(crate) fn new(per_second: u64) -> Self {
        let per_second = per_second.max(1) as f64;
        Self {
            per_second,
            tokens: per_second,
            last: Instant::now(),
        }
    }

    /// Takes one message's token, waiting when there is none.
    pub(crate) async fn take(&mut self) {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.per_second)
            .min(self.per_second);
        self.last = now;
        if self.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - self.tokens) / self.per_second);
            tokio::time::sleep(wait).await;
            self.tokens = 1.0;
            self.last = Instant::now();
        }
        self.tokens -= 1.0;
    }
}

/// Whether a connection is up, as its channels need to know when they join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkState {
    /// Not connected yet.
    Connecting,
    /// Connected.
    Up,
    /// Down since `at_ms` because of `reason`.
    Down {
        /// Since when.
        at_ms: i64,
        /// Why.
        reason: String,
    },
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

/// Shares one connection (`V`) per key between the channels that hold it: the registry
/// keeps only weak references, so a connection ends when its last channel does.
#[derive(Debug)]
pub(crate) struct Registry<K, V> {
    map: Mutex<HashMap<K, Weak<V>>>,
}

impl<K, V> Default for Registry<K, V> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone, V> Registry<K, V> {
    /// The live connection for `key`, if there is one.
    pub(crate) fn get(&self, key: &K) -> Option<Arc<V>> {
        lock(&self.map).get(key).and_then(Weak::upgrade)
    }

    /// The live connection for `key`, or a new one from `make`.
    ///
    /// # Errors
    /// `make`'s.
    pub(crate) fn get_or_try_insert<E>(
        &self,
        key: &K,
        make: impl FnOnce() -> Result<Arc<V>, E>,
    ) -> Result<Arc<V>, E> {
        let mut map = lock(&self.map);
        if let Some(v) = map.get(key).and_then(Weak::upgrade) {
            return Ok(v);
        }
        // Entries of ended connections are dropped here, so the map holds at most the live
        // connections plus this one.
        map.retain(|_, w| w.strong_count() > 0);
        let v = make()?;
        map.insert(key.clone(), Arc::downgrade(&v));
        Ok(v)
    }
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> ConnectionRegistry for Registry<K, V> {
    fn live(&self) -> usize {
        lock(&self.map)
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}

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
            n = rx.rx.recv_many(&mut batch, BATCH) => Some(n),
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
        let mut parsed: Vec<ParsedRow<'_>> = Vec::with_capacity(batch.len());
        for (delivery, _room) in batch {
            if let Some(p) = self.apply(delivery, now)? {
                parsed.push(p);
            }
        }
        let fields = self.rows.take_new_fields();
        let notices = self.refresh(now);
        let held = self.rows.heap_bytes() as u64;
        let mut unstored = 0;
        sink.batch(|b| {
            for field in fields {
                if b.add_field(field).is_err() {
                    break;
                }
            }
            let width = b.fields().len();
            let mut row = Vec::with_capacity(width);
            for p in &parsed {
                p.cells(width, &mut row);
                if b.push_row(&row).is_err() {
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
                        clock_time(since)
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
                            clock_time(since),
                            clock_time(*at_ms)
                        ),
                    });
                }
            }
            Delivery::Refused { reason } => return Err(PluginError::Refused(reason.clone())),
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
fn stats_notice(s: &Stats) -> Option<Notice> {
    let mut parts = Vec::new();
    if s.skipped() > 0 {
        let mut why = Vec::new();
        if s.malformed > 0 {
            why.push(format!(
                "{} malformed (not UTF-8, or broken JSON)",
                s.malformed
            ));
        }
        if s.oversized > 0 {
            why.push(format!(
                "{} larger than {} KiB",
                s.oversized,
                MAX_PAYLOAD_BYTES / 1024
            ));
        }
        if s.too_complex > 0 {
            why.push(format!(
                "{} too complex (nested deeper than {} or more than {} values)",
                s.too_complex,
                super::payload::MAX_DEPTH,
                super::payload::MAX_VALUES
            ));
        }
        if s.empty > 0 {
            why.push(format!("{} empty", s.empty));
        }
        parts.push(format!(
            "Skipped {} of {} messages: {}.",
            s.skipped(),
            s.messages,
            why.join(", ")
        ));
    }
    if s.bad_time > 0 {
        parts.push(format!(
            "{} messages had no readable timestamp at the time path; their arrival time is used.",
            s.bad_time
        ));
    }
    if s.mismatched > 0 {
        parts.push(format!(
            "{} values did not fit their field's type and are empty.",
            s.mismatched
        ));
    }
    if s.dropped > 0 {
        parts.push(format!(
            "{} values were dropped: their key is longer than {} bytes or past the limit of {} fields.",
            s.dropped,
            super::payload::MAX_KEY_LEN,
            super::payload::MAX_FIELDS
        ));
    }
    (!parts.is_empty()).then(|| Notice {
        severity: Severity::Warning,
        text: parts.join(" "),
    })
}

/// An epoch-millisecond instant as `HH:MM:SS.mmmZ`.
fn clock_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("{ms} ms"),
        |t| t.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string(),
    )
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
        }
    }
}

/// Hands `delivery` to every queue in `to`, waiting while one is full; queues whose channel
/// is gone are skipped (their subscription is being dropped).
pub(crate) async fn deliver(to: &[QueueTx], delivery: Delivery) {
    if let [only] = to {
        only.send(delivery).await;
        return;
    }
    for tx in to {
        tx.send(delivery.clone()).await;
    }
}

/// The rustls client configuration for `tls`: the system's CA certificates, or only the
/// configured CA, or (skip-verify) any certificate. Built once per connection.
///
/// # Errors
/// A message (without secrets) when no CA certificate could be loaded.
pub(crate) fn tls_config(tls: &TlsSettings) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let config = if tls.skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match &tls.ca_cert {
            Some(pem) => {
                for cert in crate::settings::pem_certificates(pem.expose()) {
                    roots
                        .add(cert)
                        .map_err(|e| format!("the configured CA certificate is not usable: {e}"))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
            }
        }
        if roots.is_empty() {
            return Err(
                "no CA certificate to verify the server with: the system has none; set a CA \
                 certificate in the data source's TLS settings"
                    .into(),
            );
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// `tlsSkipVerify`: accepts any certificate, still checking that the server holds its key.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A connection's shared state, as the reporting below needs it: its link and the queues of
/// the channels reading it.
pub(crate) trait Link {
    /// The link state.
    fn link_mut(&mut self) -> &mut LinkState;
    /// Every reading channel's queue.
    fn queues(&self) -> Vec<QueueTx>;
}

/// Marks the connection down. The first failure is logged and told to every channel (a gap
/// notice); failed reconnects after it are only logged at debug level.
pub(crate) async fn report_down<L: Link>(
    shared: &Mutex<L>,
    kind: &str,
    endpoint: &str,
    at_ms: i64,
    reason: String,
) {
    let newly_down = {
        let mut shared = lock(shared);
        let link = shared.link_mut();
        if matches!(link, LinkState::Down { .. }) {
            None
        } else {
            *link = LinkState::Down {
                at_ms,
                reason: reason.clone(),
            };
            Some(shared.queues())
        }
    };
    match newly_down {
        Some(queues) => {
            tracing::warn!(%endpoint, error = %reason, "{kind} connection down; reconnecting");
            deliver(&queues, Delivery::Down { at_ms, reason }).await;
        }
        None => tracing::debug!(%endpoint, error = %reason, "{kind} reconnect failed"),
    }
}

/// Marks the connection up; after a failure, counts the reconnect and tells every channel
/// (the end of the gap).
pub(crate) async fn report_up<L: Link>(
    shared: &Mutex<L>,
    kind: &str,
    endpoint: &str,
    at_ms: i64,
    metrics: &FeedMetrics,
) {
    let was_down = {
        let mut shared = lock(shared);
        let link = shared.link_mut();
        let was_down = matches!(link, LinkState::Down { .. });
        *link = LinkState::Up;
        was_down.then(|| shared.queues())
    };
    tracing::info!(%endpoint, "{kind} connected");
    if let Some(queues) = was_down {
        metrics.reconnects.fetch_add(1, Ordering::Relaxed);
        deliver(&queues, Delivery::Up { at_ms }).await;
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

    fn message(bytes: usize) -> Delivery {
        Delivery::Message(Message::new(
            Arc::from("t"),
            Bytes::from(vec![b'x'; bytes]),
            false,
            0,
        ))
    }

    #[tokio::test]
    async fn queues_are_bounded_in_bytes_as_well_as_entries() {
        let (tx, mut rx) = queue(MAX_PAYLOAD_BYTES);
        assert!(tx.try_send(message(200_000)));
        assert!(
            !tx.try_send(message(200_000)),
            "no room for a second 200 KB payload"
        );
        assert!(tx.try_send(message(10)), "small ones still fit");
        assert!(rx.try_recv().is_some());
        assert!(
            tx.try_send(message(200_000)),
            "room again once the first is taken"
        );
        for _ in 0..QUEUE {
            let _ = tx.try_send(Delivery::Up { at_ms: 0 });
        }
        assert!(
            !tx.try_send(Delivery::Up { at_ms: 0 }),
            "and at most {QUEUE} entries"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_reads_at_most_its_rate() {
        let mut rate = RateLimit::new(100);
        let started = Instant::now();
        for _ in 0..300 {
            rate.take().await;
        }
        // A second's burst, then 100 a second.
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1_990) && took <= Duration::from_millis(2_100),
            "{took:?}"
        );
    }

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
