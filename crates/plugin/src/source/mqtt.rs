//! The `mqtt` source: the messages of a topic filter on the data source's broker.
//!
//! One connection (MQTT 3.1.1, clean session, QoS 1 subscriptions) per data source
//! instance and settings version, shared by all its channels. Each channel holds its topic
//! filter; filters are reference-counted: the broker is asked to subscribe when the first
//! channel of a filter comes and to unsubscribe when the last one goes. Every message is
//! matched against the filters held and handed to each matching channel's queue, where
//! `feed::consume` turns it into a row.
//!
//! **Latest values.** For every filter the connection keeps the latest message of each topic
//! it matched (at most `LATEST_TOPICS` topics per filter and `mqtt_latest_values_kb` in
//! all), retained or live. A channel that joins a filter another channel already holds gets
//! those at once, as retained values: the broker is not asked again, so a new panel never
//! makes the broker re-send every retained message to every channel of the filter.
//!
//! **Refused filters.** The query layer refuses filters that break MQTT's rules (and those a
//! broker drops the connection for); the broker may still refuse one. A SUBACK failure fails
//! that filter's channels only, with the broker's verdict, and the filter is remembered as
//! refused for `REFUSAL_TTL` (at most `MAX_REFUSED` filters), so opening it again fails
//! at once instead of asking the broker. A filter the broker has never accepted that was in
//! flight when the connection dropped is subscribed on its own, after the others, on the next
//! connection; if the connection drops again while it is in flight, it is refused the same
//! way. So no filter can keep cutting the connection that every other channel of the data
//! source shares.
//!
//! Reconnects: when the connection breaks (or cannot be made), channels get a notice and
//! keep their RunStreams open; the connection is retried with `feed::Backoff`. On every
//! CONNACK the filters are subscribed again, and the broker re-sends retained messages:
//! the latest values, taken once (see `feed::consume`).
//!
//! Overlapping filters (`sensors/#` and `sensors/+/t` on one data source): MQTT 3.1.1 lets a
//! broker send a message once per matching subscription, and a client cannot tell the
//! copies apart; each copy is handed to every matching channel. Mosquitto sends one copy
//! per client, so every channel gets a message once; with a broker that sends several,
//! channels whose filters overlap get each of those messages more than once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Outgoing,
    Packet, QoS, StateError, SubscribeFilter, SubscribeReasonCode, TlsConfiguration, Transport,
};
use tokio::time::Instant;

use super::prelude::*;
use crate::limits::Limits;

/// The MQTT source, as the registry holds it.
pub static MQTT: Mqtt = Mqtt;

/// The MQTT source's kind (see [`SourceKind`]).
#[derive(Debug)]
pub struct Mqtt;

/// `topic`: the topic filter a stream reads.
pub const TOPIC: Param = Param {
    name: "topic",
    path_key: "topic",
    kind: Kind::Text {
        max_len: limits::MAX_TOPIC_LEN,
        required: Some("required for source mqtt: a topic filter such as sensors/+/temperature"),
        what: "an MQTT topic filter",
        check: Some(check_topic_filter),
    },
    unit: None,
    doc: "an MQTT topic filter: levels split by /, + a whole level, # the whole last level; no \
          Unicode non-characters, no shared subscriptions ($share/, $queue/)",
};

/// What the MQTT source is.
static INFO: SourceInfo = SourceInfo {
    name: "mqtt",
    display_name: "MQTT",
    doc: "the messages of an MQTT topic filter on the data source's broker",
    params: &[TOPIC, TIME_PATH, FIELDS],
    variants: Variants::None,
    layout: Layout::feed("mqtt", "topic", None),
    section: Some(SectionInfo {
        required: "mqttUrl",
        keys: SETTINGS,
        parse: parser::<MqttSettings>,
        allow: ALLOW,
    }),
};

/// The data source's allow list of topic filters.
const ALLOW: Allow = Allow {
    setting: "mqttAllow",
    params: &[&TOPIC],
    syntax: Syntax::MQTT,
};

impl SourceKind for Mqtt {
    fn info(&self) -> &'static SourceInfo {
        &INFO
    }

    fn open(
        &self,
        spec: &StreamSpec,
        ctx: &OpenContext<'_>,
    ) -> Result<Box<dyn DynSource>, PluginError> {
        Ok(Box::new(MqttSource::new(&ctx.shared(self)?, spec)?))
    }

    fn recorded(&self, settings: &Settings) -> Vec<StreamSpec> {
        settings
            .section::<MqttSettings>()
            .map_or_else(Vec::new, |s| FeedSpec::recorded(&MQTT, &TOPIC, &s.record))
    }

    fn check<'a>(&'a self, settings: &'a Settings, timeout: Duration) -> HealthCheck<'a> {
        with_section(settings, |mqtt| check(settings, mqtt, timeout))
    }

    fn topics<'a>(&'a self, req: TopicsRequest<'a>) -> Discovery<'a> {
        with_section(req.settings, |mqtt| discover(req, mqtt))
    }
}

/// The topics of the data source's broker that `req.filter` (`#` when empty) matches: those
/// the shared connection has seen, then what a short-lived connection of its own receives
/// for the filter within the time (retained messages come at once). One browse per data
/// source at a time.
async fn discover(req: TopicsRequest<'_>, mqtt: &MqttSettings) -> Result<Topics, PluginError> {
    let filter = req.filter_for(&ALLOW)?;
    let settings = req.settings;
    let mut seen = std::collections::BTreeSet::new();
    let registry = req
        .connections
        .registry::<Registry<InstanceKey, MqttConnection>>("mqtt");
    if let Some(conn) = registry.get(&settings.key) {
        let router = lock(&conn.router);
        for f in router.filters.values() {
            seen.extend(
                f.fanout
                    .topics()
                    .filter(|t| topic_matches(filter, t))
                    .map(|t| t.to_string()),
            );
        }
    }
    let Some(_browsing) = Browsing::start(&settings.key) else {
        return Err(PluginError::Refused(
            "a topic browse of this data source is running; try again in a moment".into(),
        ));
    };
    let (client, mut eventloop) = AsyncClient::new(options(mqtt, generated_client_id()), 10);
    use_tls_if_asked(&mut eventloop, settings)
        .map_err(|e| PluginError::Source(settings.redact(&e)))?;
    let deadline = Instant::now() + req.timeout;
    let mut truncated = false;
    let browse = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.try_subscribe(filter, QoS::AtMostOnce);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if seen.len() >= req.limit {
                        truncated = true;
                        return;
                    }
                    seen.insert(p.topic);
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    };
    if tokio::time::timeout_at(deadline, browse).await.is_err() {
        // The time is up: what came so far is the answer.
    }
    let _ = client.try_disconnect();
    let topics: Vec<String> = seen.into_iter().take(req.limit).collect();
    Ok(Topics {
        truncated: truncated || topics.len() >= req.limit,
        topics,
    })
}

/// A browse of one data source's broker, running; at most one per data source.
struct Browsing(InstanceKey);

static BROWSING: Mutex<Vec<InstanceKey>> = Mutex::new(Vec::new());

impl Browsing {
    fn start(key: &InstanceKey) -> Option<Self> {
        let mut running = lock(&BROWSING);
        if running.contains(key) {
            return None;
        }
        running.push(key.clone());
        Some(Self(key.clone()))
    }
}

impl Drop for Browsing {
    fn drop(&mut self) {
        lock(&BROWSING).retain(|k| *k != self.0);
    }
}

/// The MQTT connection settings: this source's section of the data source's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttSettings {
    /// The broker.
    pub endpoint: Endpoint,
    /// User name; `None`: anonymous.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// Client id; `None`: generated per connection.
    pub client_id: Option<String>,
    /// Topic filters recorded while the plugin runs (`mqttRecord`).
    pub record: Vec<String>,
}

impl Section for MqttSettings {
    fn secrets(&self) -> Vec<&str> {
        self.password.iter().map(Secret::expose).collect()
    }

    /// The section from the data source's settings; `None` when they configure no
    /// MQTT broker.
    fn parse(data: &SettingsData<'_>) -> Result<Option<Self>, SettingsError> {
        let Some(url) = data.string("mqttUrl", settings_limits::MAX_URL_LEN)? else {
            return Ok(None);
        };

        let endpoint = parse_url(
            "mqttUrl",
            url,
            &[("mqtt", false, 1883), ("mqtts", true, 8883)],
        )?;
        if !matches!(endpoint.1.as_str(), "" | "/") || endpoint.2.is_some() {
            return Err(SettingsError::new(
                "mqttUrl",
                "an MQTT URL has no path or query: mqtt://host:port",
            ));
        }
        let username = data.string("mqttUsername", settings_limits::MAX_NAME_LEN)?;
        let password = data.secret("mqttPassword", settings_limits::MAX_SECRET_LEN)?;
        if password.is_some() && username.is_none() {
            return Err(SettingsError::new(
                "mqttUsername",
                "a password is set but no user name: MQTT sends a password only with a user name",
            ));
        }
        let client_id = data.string("mqttClientId", settings_limits::MAX_NAME_LEN)?;
        if let Some(id) = client_id {
            if id.chars().any(char::is_control) {
                return Err(SettingsError::new(
                    "mqttClientId",
                    "may not contain control characters",
                ));
            }
        }
        let record = data.list("mqttRecord", settings_limits::MAX_RECORDED, |f| {
            TOPIC.check_text(f)
        })?;
        Ok(Some(Self {
            endpoint: endpoint.0,
            username: username.map(str::to_owned),
            password,
            client_id: client_id.map(str::to_owned),
            record,
        }))
    }
}

/// The MQTT section of the data source settings.
const SETTINGS: &[Setting] = &[
    Setting {
        key: "mqttUrl",
        secure: false,
        kind: SettingKind::Url {
            schemes: &["mqtt", "mqtts"],
        },
        doc: "the broker: mqtt://host[:1883], or mqtts://host[:8883] for TLS; no path, no \
              user:pass@",
        repeat: None,
    },
    Setting {
        key: "mqttUsername",
        secure: false,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_NAME_LEN,
        },
        doc: "user name; empty: anonymous",
        repeat: None,
    },
    Setting {
        key: "mqttPassword",
        secure: true,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_SECRET_LEN,
        },
        doc: "password (needs a user name)",
        repeat: None,
    },
    Setting {
        key: "mqttClientId",
        secure: false,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_NAME_LEN,
        },
        doc: "MQTT client id; empty: ringstream- and 12 random hex digits per connection \
              (two connections with one id make the broker drop the older one)",
        repeat: None,
    },
    Setting {
        key: "mqttRecord",
        secure: false,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_RECORD_LIST_LEN,
        },
        doc: "topic filters to record from when the plugin first hears of this data source \
              (one per line, at most 32), so that a panel of one of them (with the default \
              tickMs, capacity and no timePath or fields) opens with history",
        repeat: None,
    },
    ALLOW.declaration(
        "topic filters queries may read (one per line, at most 64; + and # as in MQTT): a query's \
              filter must lie within one of them; empty: any",
    ),
];

/// The topic filter of an MQTT stream's spec.
pub fn topic(spec: &StreamSpec) -> Option<&str> {
    FeedSpec::target(spec, &MQTT, &TOPIC)
}

/// The spec of a stream reading `topic` with `feed`'s options (values unchecked).
pub fn spec(
    topic: &str,
    feed: &FeedSpec,
    tick_ms: u64,
    capacity: usize,
    backfill: bool,
) -> StreamSpec {
    feed.stream(&MQTT, (&TOPIC, topic), tick_ms, capacity, backfill)
}

/// An MQTT topic filter (MQTT 3.1.1 section 4.7) a broker will not drop the connection for.
fn check_topic_filter(topic: &str) -> Result<(), String> {
    // MQTT 3.1.1 section 1.5.3: a broker may (mosquitto does) drop the connection of a
    // client that sends a non-character, and that connection is every channel's of the
    // data source.
    if let Some(c) = topic.chars().find(|c| is_noncharacter(*c)) {
        return Err(format!(
            "U+{:04X} is a Unicode non-character, which MQTT topics may not hold",
            u32::from(c)
        ));
    }
    let lower = topic.to_ascii_lowercase();
    if lower.starts_with("$share/") || lower.starts_with("$queue/") {
        return Err(
            "shared subscriptions ($share/..., $queue/...) are not allowed: the plugin \
                    would take messages away from the other members of the group"
                .into(),
        );
    }
    let levels: Vec<&str> = topic.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err("`#` must be a whole level and the last one (sensors/#)".into());
        }
        if level.contains('+') && *level != "+" {
            return Err("`+` must be a whole level (sensors/+/temperature)".into());
        }
    }
    Ok(())
}

/// Unicode non-characters: U+FDD0..=U+FDEF and the last two code points of every plane.
fn is_noncharacter(c: char) -> bool {
    let cp = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&cp) || cp & 0xFFFE == 0xFFFE
}

/// Keep-alive: a broker that stops answering (without closing the connection) is noticed
/// within about twice this: a ping after this long without traffic, an error when the next
/// one finds the first unanswered.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Largest MQTT packet read. A larger one breaks the connection (the MQTT client cannot
/// skip it), so it is well above the payload limit; payloads between the two are skipped.
pub(crate) const MAX_PACKET_BYTES: usize = 1024 * 1024;
/// Requests (SUBSCRIBE, UNSUBSCRIBE) queued for the connection task.
const REQUESTS: usize = 4096;
/// Topics whose latest message a filter keeps for channels that join it later.
pub(crate) const LATEST_TOPICS: usize = 256;
/// How long a refused filter stays refused.
pub(crate) const REFUSAL_TTL: Duration = Duration::from_secs(600);
/// Refused filters remembered per connection; the oldest is forgotten beyond.
pub(crate) const MAX_REFUSED: usize = 1024;

/// A topic filter's messages as rows.
#[derive(Debug)]
pub struct MqttSource {
    conn: Arc<MqttConnection>,
    topic: String,
    intake: Intake,
}

impl MqttSource {
    /// A source for `spec` on the instance's shared connection (made if none is open).
    ///
    /// # Errors
    /// [`PluginError::NotConfigured`] when the data source has no MQTT URL;
    /// [`PluginError::Source`] when the broker refused this filter recently.
    pub(crate) fn new(cx: &SharedContext<'_>, spec: &StreamSpec) -> Result<Self, PluginError> {
        let topic = topic(spec).ok_or_else(|| PluginError::BadPath("not an MQTT stream".into()))?;
        let mqtt = cx.section::<MqttSettings>()?;
        let conn = cx.connection(|| {
            MqttConnection::start(
                cx.settings,
                mqtt,
                Arc::clone(&cx.clock),
                cx.limits,
                Arc::clone(cx.metrics),
            )
        });
        if let Some(reason) = conn.refusal(topic) {
            return Err(PluginError::Refused(reason));
        }
        let per_topic = topic.split('/').any(|level| level == "+" || level == "#");
        let label = FeedLabel {
            take_retained: spec.backfill,
            ..FeedLabel::new(cx.metrics, "MQTT", mqtt.endpoint.to_string())
        };
        Ok(Self {
            conn,
            topic: topic.to_owned(),
            intake: Intake::new(spec, per_topic, label, cx.limits),
        })
    }
}

impl Source for MqttSource {
    fn held_bytes(&self) -> u64 {
        self.intake.held_bytes()
    }

    async fn run(self, sink: RowSink) -> Result<(), PluginError> {
        let (tx, consume) = self.intake.open(sink);
        let _subscription = self.conn.subscribe(&self.topic, tx);
        consume.await
    }
}

/// One data source instance's broker connection.
#[derive(Debug)]
pub(crate) struct MqttConnection {
    client: AsyncClient,
    router: Arc<Mutex<Router>>,
    task: tokio::task::AbortHandle,
}

impl Drop for MqttConnection {
    fn drop(&mut self) {
        self.task.abort(); // closes the socket
    }
}

/// The filters held, the queues of their channels, and what the broker said of them.
#[derive(Debug)]
struct Router {
    filters: HashMap<String, Filter>,
    link: LinkState,
    /// SUBSCRIBE requests handed to the client, oldest first, until the event loop says
    /// which packet id each got (it sends them in order).
    queued: VecDeque<Vec<String>>,
    /// Packet id → the filters of that SUBSCRIBE, until its SUBACK.
    in_flight: HashMap<u16, Vec<String>>,
    /// Filters never accepted that were in flight when a connection dropped, to subscribe
    /// one at a time; and the one in flight now.
    probation: VecDeque<String>,
    probing: Option<String>,
    /// Refused filters: when and why.
    refused: HashMap<String, (Instant, String)>,
    /// Bytes of latest values kept, and the most allowed.
    latest_bytes: usize,
    latest_limit: usize,
}

/// One filter's channels and state.
#[derive(Debug, Default)]
struct Filter {
    /// Its channels and the latest message of each topic it matched.
    fanout: Fanout,
    /// Whether the broker accepted it on some connection.
    accepted: bool,
    /// Connections that dropped while it was in flight and never accepted.
    drops: u8,
}

impl Router {
    fn new(latest_limit: usize) -> Self {
        Self {
            filters: HashMap::new(),
            link: LinkState::Connecting,
            queued: VecDeque::new(),
            in_flight: HashMap::new(),
            probation: VecDeque::new(),
            probing: None,
            refused: HashMap::new(),
            latest_bytes: 0,
            latest_limit,
        }
    }

    /// Asks the broker for `filters` (one SUBSCRIBE), remembering the request's place.
    fn request(&mut self, client: &AsyncClient, filters: Vec<String>) {
        if filters.is_empty() {
            return;
        }
        let subscribe: Vec<SubscribeFilter> = filters
            .iter()
            .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce))
            .collect();
        match client.try_subscribe_many(subscribe) {
            Ok(()) => self.queued.push_back(filters),
            Err(e) => tracing::warn!(error = %e, "MQTT subscribe could not be queued"),
        }
    }

    /// Refuses `filter`: its channels end with `reason`, and it is remembered.
    fn refuse(&mut self, filter: &str, reason: String) {
        tracing::warn!(%filter, %reason, "MQTT filter refused");
        if let Some(f) = self.filters.remove(filter) {
            self.latest_bytes -= f.fanout.kept_bytes();
            for tx in f.fanout.take_queues() {
                tx.try_send(Delivery::Refused {
                    reason: reason.clone(),
                });
            }
        }
        self.probation.retain(|f| f != filter);
        if self.refused.len() >= MAX_REFUSED {
            if let Some(oldest) = self
                .refused
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                self.refused.remove(&oldest);
            }
        }
        self.refused
            .insert(filter.to_owned(), (Instant::now(), reason));
    }

    /// Sends the next filter on probation, if none is in flight.
    fn probe_next(&mut self, client: &AsyncClient) {
        if self.probing.is_some() {
            return;
        }
        while let Some(f) = self.probation.pop_front() {
            if self.filters.contains_key(&f) {
                self.request(client, vec![f.clone()]);
                self.probing = Some(f);
                return;
            }
        }
    }

    /// The event loop sent the oldest queued SUBSCRIBE with packet id `pkid`.
    fn on_subscribe_sent(&mut self, pkid: u16) {
        if let Some(filters) = self.queued.pop_front() {
            self.in_flight.insert(pkid, filters);
        }
    }

    /// The broker answered SUBSCRIBE `pkid`: accepted filters are known good, refused ones
    /// fail their channels.
    fn on_suback(&mut self, client: &AsyncClient, pkid: u16, codes: &[SubscribeReasonCode]) {
        let filters = self.in_flight.remove(&pkid).unwrap_or_default();
        for (name, code) in filters.iter().zip(codes) {
            if self.probing.as_deref() == Some(name.as_str()) {
                self.probing = None;
            }
            match code {
                SubscribeReasonCode::Success(_) => {
                    if let Some(f) = self.filters.get_mut(name) {
                        f.accepted = true;
                        f.drops = 0;
                    }
                }
                SubscribeReasonCode::Failure => self.refuse(
                    name,
                    format!(
                        "the broker refused the subscription to {name:?} (SUBACK failure: the \
                         broker's ACL does not allow it, or it is not a filter the broker \
                         accepts)"
                    ),
                ),
            }
        }
        self.probe_next(client);
    }

    /// A CONNACK: known-good and never-tried filters in one SUBSCRIBE, suspects after it,
    /// one at a time.
    fn on_connected(&mut self, client: &AsyncClient) {
        self.in_flight.clear();
        self.probing = None;
        let mut now = Vec::new();
        let mut later = Vec::new();
        for (name, f) in &self.filters {
            if f.accepted || f.drops == 0 {
                now.push(name.clone());
            } else {
                later.push(name.clone());
            }
        }
        later.sort(); // a stable order, so that tests and logs read the same each time
        for f in later {
            if !self.probation.contains(&f) {
                self.probation.push_back(f);
            }
        }
        self.request(client, now);
        self.probe_next(client);
    }

    /// The connection dropped: filters never accepted that were in flight are suspects; a
    /// second time, they are refused.
    fn on_dropped(&mut self) {
        let suspects: Vec<String> = self
            .in_flight
            .drain()
            .flat_map(|(_, filters)| filters)
            .collect();
        self.probing = None;
        for name in suspects {
            let Some(f) = self.filters.get_mut(&name) else {
                continue;
            };
            if f.accepted {
                continue;
            }
            f.drops = f.drops.saturating_add(1);
            if f.drops >= 2 {
                self.refuse(
                    &name,
                    format!(
                        "the broker closed the connection right after each subscription to \
                         {name:?}; it is not subscribed again (the data source's other streams \
                         share that connection)"
                    ),
                );
            }
        }
    }

    /// Keeps `message` as the latest of its topic for every filter in `matched`, within
    /// [`LATEST_TOPICS`] a filter and `latest_limit` bytes in all.
    fn keep_latest(&mut self, matched: &[String], message: &Message) {
        for name in matched {
            let room = self.latest_limit.saturating_sub(self.latest_bytes);
            let Some(filter) = self.filters.get_mut(name) else {
                continue;
            };
            let change = filter.fanout.keep(message, LATEST_TOPICS, room);
            self.latest_bytes = self.latest_bytes.saturating_add_signed(change);
        }
    }
}

impl MqttConnection {
    /// Starts the connection task.
    fn start(
        settings: &Arc<Settings>,
        mqtt: &MqttSettings,
        clock: Arc<dyn Clock>,
        limits: &Limits,
        metrics: Arc<FeedMetrics>,
    ) -> Arc<Self> {
        let client_id = mqtt.client_id.clone().unwrap_or_else(generated_client_id);
        let (client, eventloop) = AsyncClient::new(options(mqtt, client_id), REQUESTS);
        let router = Arc::new(Mutex::new(Router::new(
            usize::try_from(limits.mqtt_latest_values_kb << 10).unwrap_or(0),
        )));
        let task = tokio::spawn(drive(
            eventloop,
            client.clone(),
            Arc::clone(&router),
            Arc::clone(settings),
            clock,
            RateLimit::new(limits.feed_messages_per_second),
            metrics,
        ));
        Arc::new(Self {
            client,
            router,
            task: task.abort_handle(),
        })
    }

    /// Why `filter` is refused on this connection, if it is (refusals expire).
    fn refusal(&self, filter: &str) -> Option<String> {
        let mut router = lock(&self.router);
        let (at, reason) = router.refused.get(filter)?;
        if at.elapsed() < REFUSAL_TTL {
            return Some(reason.clone());
        }
        router.refused.remove(filter);
        None
    }

    /// Holds `filter` for one channel; the returned guard lets go of it.
    fn subscribe(self: &Arc<Self>, filter: &str, tx: QueueTx) -> Subscription {
        let mut router = lock(&self.router);
        let mut subscription = Subscription {
            conn: Arc::clone(self),
            filter: filter.to_owned(),
            id: None,
        };
        if let Some((_, reason)) = router.refused.get(filter) {
            tx.try_send(Delivery::Refused {
                reason: reason.clone(),
            });
            return subscription;
        }
        if let LinkState::Down { at_ms, reason } = &router.link {
            tx.try_send(Delivery::Down {
                at_ms: *at_ms,
                reason: reason.clone(),
            });
        }
        let up = router.link == LinkState::Up;
        let entry = router.filters.entry(filter.to_owned());
        let new = matches!(entry, std::collections::hash_map::Entry::Vacant(_));
        // A filter already held: its latest values come from here, not from the broker.
        let id = entry.or_default().fanout.subscribe(tx);
        // When not connected, the next CONNACK subscribes every filter held.
        if new && up {
            router.request(&self.client, vec![filter.to_owned()]);
        }
        subscription.id = Some(id);
        subscription
    }
}

/// A channel's hold on a filter.
#[derive(Debug)]
struct Subscription {
    conn: Arc<MqttConnection>,
    filter: String,
    /// Its place in the filter's fan-out (`None`: the filter was refused).
    id: Option<u64>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut router = lock(&self.conn.router);
        let (Some(id), Some(held)) = (self.id, router.filters.get_mut(&self.filter)) else {
            return;
        };
        if held.fanout.unsubscribe(id) {
            if let Some(f) = router.filters.remove(&self.filter) {
                router.latest_bytes -= f.fanout.kept_bytes();
            }
            if router.link == LinkState::Up {
                // A lost UNSUBSCRIBE only costs traffic: messages of filters nobody holds
                // are dropped, and the next reconnect forgets the filter.
                let _ = self.conn.client.try_unsubscribe(self.filter.as_str());
            }
        }
    }
}

/// The connection task: polls the broker, routes messages, reconnects.
async fn drive(
    mut eventloop: EventLoop,
    client: AsyncClient,
    router: Arc<Mutex<Router>>,
    settings: Arc<Settings>,
    clock: Arc<dyn Clock>,
    mut rate: RateLimit,
    metrics: Arc<FeedMetrics>,
) {
    let endpoint = settings
        .section::<MqttSettings>()
        .map_or_else(String::new, |m| m.endpoint.to_string());
    if let Err(reason) = use_tls_if_asked(&mut eventloop, &settings) {
        // No connection can be made with these settings; channels show why.
        feed::report_down(&router, "MQTT", &endpoint, clock.now_ms(), reason).await;
        return std::future::pending().await;
    }
    let mut backoff = Backoff::default();
    let mut up_since: Option<Instant> = None;
    let mut matching: Vec<QueueTx> = Vec::new();
    let mut matched: Vec<String> = Vec::new();
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                rate.take().await;
                let topic: Arc<str> = Arc::from(publish.topic.as_str());
                let message = Message::new(topic, publish.payload, publish.retain, clock.now_ms());
                matching.clear();
                matched.clear();
                {
                    let mut router = lock(&router);
                    for (name, filter) in &router.filters {
                        if topic_matches(name, &message.topic) {
                            matched.push(name.clone());
                            matching.extend(filter.fanout.queues().cloned());
                        }
                    }
                    if !message.oversized {
                        router.keep_latest(&matched, &message);
                    }
                }
                if matching.is_empty() {
                    continue;
                }
                feed::deliver(&matching, Delivery::Message(message)).await;
            }
            Ok(Event::Outgoing(Outgoing::Subscribe(pkid))) => {
                lock(&router).on_subscribe_sent(pkid);
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                lock(&router).on_suback(&client, ack.pkid, &ack.return_codes);
            }
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                up_since = Some(Instant::now());
                lock(&router).on_connected(&client);
                feed::report_up(&router, "MQTT", &endpoint, clock.now_ms(), &metrics).await;
            }
            Ok(_) => {}
            Err(e) => {
                if up_since
                    .take()
                    .is_some_and(|t| t.elapsed() >= feed::BACKOFF_RESET_AFTER)
                {
                    backoff.reset();
                }
                lock(&router).on_dropped();
                let reason = settings.redact(&describe(&e).to_string());
                feed::report_down(&router, "MQTT", &endpoint, clock.now_ms(), reason).await;
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

impl feed::Link for Router {
    fn link_mut(&mut self) -> &mut LinkState {
        &mut self.link
    }

    fn queues(&self) -> Vec<QueueTx> {
        self.filters
            .values()
            .flat_map(|f| f.fanout.queues().cloned())
            .collect()
    }
}

/// Switches `eventloop` to TLS for `mqtts://`.
fn use_tls_if_asked(eventloop: &mut EventLoop, settings: &Settings) -> Result<(), String> {
    if settings
        .section::<MqttSettings>()
        .is_some_and(|m| m.endpoint.tls)
    {
        let config = feed::tls_config(&settings.tls)?;
        eventloop
            .mqtt_options
            .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
    }
    Ok(())
}

fn options(mqtt: &MqttSettings, client_id: String) -> MqttOptions {
    let host = if mqtt.endpoint.host.contains(':') {
        format!("[{}]", mqtt.endpoint.host) // IPv6: rumqttc joins host and port with `:`
    } else {
        mqtt.endpoint.host.clone()
    };
    let mut o = MqttOptions::new(client_id, host, mqtt.endpoint.port);
    o.set_keep_alive(KEEP_ALIVE)
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET_BYTES, 64 * 1024);
    if let Some(user) = &mqtt.username {
        let password = mqtt.password.as_ref().map_or("", |p| p.expose());
        o.set_credentials(user.clone(), password);
    }
    o
}

/// `ringstream-` and 12 random hex digits: 23 characters, the most MQTT 3.1.1 promises.
fn generated_client_id() -> String {
    format!(
        "ringstream-{:012x}",
        crate::rand::random_u64() & 0xffff_ffff_ffff
    )
}

/// What went wrong, in words, without the settings' secrets (rumqttc's errors hold none;
/// callers redact anyway).
fn describe(e: &ConnectionError) -> FeedError {
    let auth = |s: &str| FeedError::Auth(s.to_owned());
    match e {
        ConnectionError::ConnectionRefused(code) => match code {
            ConnectReturnCode::BadUserNamePassword => {
                auth("the broker rejected the user name or password")
            }
            ConnectReturnCode::NotAuthorized => auth(
                "the broker refused the connection: not authorized (check the user name, \
                 password and client id)",
            ),
            ConnectReturnCode::BadClientId => auth("the broker refused the client id"),
            ConnectReturnCode::ServiceUnavailable => {
                FeedError::Protocol("the broker is unavailable".into())
            }
            ConnectReturnCode::RefusedProtocolVersion => {
                FeedError::Protocol("the broker does not accept MQTT 3.1.1".into())
            }
            ConnectReturnCode::Success => FeedError::Protocol("unexpected CONNACK".into()),
        },
        ConnectionError::Io(io) => FeedError::io(io),
        ConnectionError::NetworkTimeout => {
            FeedError::Silent("no answer within the connect timeout".into())
        }
        ConnectionError::Tls(tls) => FeedError::Tls(format!("TLS handshake failed: {tls}")),
        ConnectionError::MqttState(StateError::Io(_) | StateError::ConnectionAborted) => {
            FeedError::Closed(None)
        }
        ConnectionError::MqttState(StateError::AwaitPingResp) => {
            FeedError::Silent("the broker stopped answering (no ping response)".into())
        }
        other => FeedError::Protocol(other.to_string()),
    }
}

/// Whether `topic` matches `filter` (MQTT 3.1.1 section 4.7; topics starting with `$` are
/// not matched by a filter starting with a wildcard).
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    Syntax::MQTT.covers(filter, topic)
}

/// CheckHealth: connects with the data source's settings (credentials included) and
/// disconnects. `Ok` with what was done, or `Err` with what failed; neither holds secrets.
async fn check(
    settings: &Settings,
    mqtt: &MqttSettings,
    timeout: Duration,
) -> Result<String, String> {
    let endpoint = &mqtt.endpoint;
    let client_id = mqtt.client_id.clone().unwrap_or_else(generated_client_id);
    let (client, mut eventloop) = AsyncClient::new(options(mqtt, client_id), 10);
    use_tls_if_asked(&mut eventloop, settings).map_err(|e| settings.redact(&e))?;
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(describe(&e)),
            }
        }
    })
    .await;
    let who = mqtt
        .username
        .as_ref()
        .map_or_else(|| " anonymously".to_owned(), |u| format!(" as user {u:?}"));
    let result = match outcome {
        Ok(Ok(())) => {
            let _ = client.try_disconnect();
            let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
            Ok(format!(
                "connected to {endpoint}{who} in {} ms",
                started.elapsed().as_millis()
            ))
        }
        Ok(Err(reason)) => Err(format!("cannot connect to {endpoint}{who}: {reason}")),
        Err(_) => Err(format!(
            "no answer from {endpoint} within {} s",
            timeout.as_secs_f64()
        )),
    };
    settings.redact_outcome(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_filters_match_like_a_broker() {
        for (filter, topic, want) in [
            ("a/b", "a/b", true),
            ("a/b", "a/c", false),
            ("a/+", "a/b", true),
            ("a/+", "a/b/c", false),
            ("a/+/c", "a/b/c", true),
            ("a/#", "a", true),
            ("a/#", "a/b/c", true),
            ("#", "a/b", true),
            ("#", "$SYS/x", false),
            ("+/x", "$SYS/x", false),
            ("$SYS/#", "$SYS/x", true),
            ("a/+", "a/", true),
            ("+", "a/b", false),
        ] {
            assert_eq!(topic_matches(filter, topic), want, "{filter} vs {topic}");
        }
    }

    fn router() -> (Router, AsyncClient, EventLoop) {
        let (client, eventloop) = AsyncClient::new(MqttOptions::new("t", "localhost", 1), 64);
        (Router::new(1 << 10), client, eventloop)
    }

    fn hold(router: &mut Router, filter: &str) -> feed::QueueRx {
        let (tx, rx) = feed::queue(1 << 20);
        router
            .filters
            .entry(filter.to_owned())
            .or_default()
            .fanout
            .subscribe(tx);
        rx
    }

    #[tokio::test]
    async fn a_filter_in_flight_at_two_drops_is_refused_and_the_others_survive() {
        let (mut r, client, _eventloop) = router();
        let mut poison = hold(&mut r, "poison");
        let _legit = hold(&mut r, "legit");
        r.request(&client, vec!["poison".into()]);
        r.request(&client, vec!["legit".into()]);
        r.on_subscribe_sent(1);
        r.on_subscribe_sent(2);
        r.on_dropped(); // both were in flight: both suspects
        r.on_connected(&client);
        assert_eq!(r.probing.as_deref(), Some("legit"), "one at a time");
        r.on_subscribe_sent(3);
        r.on_suback(
            &client,
            3,
            &[SubscribeReasonCode::Success(QoS::AtLeastOnce)],
        );
        assert_eq!(r.probing.as_deref(), Some("poison"));
        r.on_subscribe_sent(4);
        r.on_dropped(); // the broker dropped the connection again, with only it in flight
        assert!(r.refused["poison"].1.contains("closed the connection"));
        assert!(!r.filters.contains_key("poison"));
        assert!(matches!(poison.try_recv(), Some(Delivery::Refused { .. })));
        // The good one is known good now: it goes with the bulk SUBSCRIBE.
        r.on_connected(&client);
        assert_eq!(r.queued.back(), Some(&vec!["legit".to_owned()]));
        assert!(r.probing.is_none());
    }

    #[tokio::test]
    async fn a_suback_failure_refuses_only_that_filter() {
        let (mut r, client, _eventloop) = router();
        let mut bad = hold(&mut r, "secret/#");
        let mut good = hold(&mut r, "open/#");
        r.request(&client, vec!["secret/#".into(), "open/#".into()]);
        r.on_subscribe_sent(7);
        r.on_suback(
            &client,
            7,
            &[
                SubscribeReasonCode::Failure,
                SubscribeReasonCode::Success(QoS::AtLeastOnce),
            ],
        );
        assert!(matches!(bad.try_recv(), Some(Delivery::Refused { .. })));
        assert!(good.try_recv().is_none());
        assert!(r.filters["open/#"].accepted);
        assert!(r.refused.contains_key("secret/#"));
    }

    #[test]
    fn latest_values_are_bounded_in_topics_and_bytes() {
        let (mut r, _client, _eventloop) = router(); // 1 KiB of latest values
        let _rx = hold(&mut r, "a/#");
        let matched = vec!["a/#".to_owned()];
        let message = |topic: &str, bytes: usize| {
            Message::new(
                Arc::from(topic),
                bytes::Bytes::from(vec![b'1'; bytes]),
                false,
                0,
            )
        };
        r.keep_latest(&matched, &message("a/1", 600));
        r.keep_latest(&matched, &message("a/2", 600)); // would pass 1 KiB: not kept
        assert_eq!(r.filters["a/#"].fanout.topics().count(), 1);
        r.keep_latest(&matched, &message("a/1", 100)); // replaces
        assert_eq!(r.latest_bytes, 100);
        r.keep_latest(&matched, &message("a/1", 0)); // a deleted retained message
        assert_eq!(
            (r.latest_bytes, r.filters["a/#"].fanout.topics().count()),
            (0, 0)
        );
        for i in 0..LATEST_TOPICS + 10 {
            r.keep_latest(&matched, &message(&format!("a/{i}"), 1));
        }
        assert_eq!(r.filters["a/#"].fanout.topics().count(), LATEST_TOPICS);
    }

    #[test]
    fn generated_client_ids_fit_mqtt_3_1_1() {
        let id = generated_client_id();
        assert_eq!(id.len(), 23, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        assert_ne!(id, generated_client_id());
    }
}
