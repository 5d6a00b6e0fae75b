//! The `mqtt` source: the messages of a topic filter on the data source's broker.
//!
//! One connection (MQTT 3.1.1, clean session, QoS 1 subscriptions) per data source
//! instance and settings version, shared by all its channels. Each channel subscribes its
//! topic filter; filters are reference-counted: the broker is asked to unsubscribe when the
//! last channel of a filter goes. Every message is matched against the filters held and
//! handed to each matching channel's queue, where [`feed::consume`] turns it into a row.
//!
//! Reconnects: when the connection breaks (or cannot be made), channels get a notice and
//! keep their RunStreams open; the connection is retried with [`feed::Backoff`]. On every
//! CONNACK all filters are subscribed again, and the broker re-sends retained messages:
//! the latest values, taken once (see [`feed::consume`]).
//!
//! A channel that subscribes to a filter another channel already holds re-sends the
//! SUBSCRIBE, so that the broker gives it the retained messages too; the other channels
//! drop those copies.
//!
//! Overlapping filters (`sensors/#` and `sensors/+/t` on one data source): MQTT 3.1.1 lets a
//! broker send a message once per matching subscription, and a client cannot tell the
//! copies apart; each copy is handed to every matching channel. Mosquitto sends one copy
//! per client, so every channel gets a message once; with a broker that sends several,
//! channels whose filters overlap get each of those messages more than once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringstream_frame::Field;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS,
    StateError, SubscribeFilter, TlsConfiguration, Transport,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::feed::{self, Backoff, Delivery, FeedLabel, LinkState, Message, Registry};
use super::payload::RowBuilder;
use super::Source;
use crate::clock::Clock;
use crate::hub::{lock, RowSink};
use crate::query::{SourceSpec, StreamSpec};
use crate::settings::{InstanceKey, MqttSettings, Settings};
use crate::PluginError;

/// Keep-alive: a broker that stops answering (without closing the connection) is noticed
/// within about twice this: a ping after this long without traffic, an error when the next
/// one finds the first unanswered.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Largest MQTT packet read. A larger one breaks the connection (the MQTT client cannot
/// skip it), so it is well above the payload limit; payloads between the two are skipped.
pub(crate) const MAX_PACKET_BYTES: usize = 1024 * 1024;
/// Requests (SUBSCRIBE, UNSUBSCRIBE) queued for the connection task.
const REQUESTS: usize = 4096;

/// A topic filter's messages as rows.
#[derive(Debug)]
pub struct MqttSource {
    conn: Arc<MqttConnection>,
    topic: String,
    rows: RowBuilder,
    label: FeedLabel,
}

impl MqttSource {
    /// A source for `spec` on the instance's shared connection (made if none is open).
    ///
    /// # Errors
    /// [`PluginError::NotConfigured`] when the data source has no MQTT URL.
    pub(crate) fn new(
        connections: &Registry<InstanceKey, MqttConnection>,
        settings: &Arc<Settings>,
        spec: &StreamSpec,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, PluginError> {
        let SourceSpec::Mqtt { topic, feed } = &spec.source else {
            return Err(PluginError::BadPath("not an MQTT stream".into()));
        };
        let mqtt = settings.mqtt.as_ref().ok_or(PluginError::NotConfigured {
            kind: "mqtt",
            setting: "mqttUrl",
        })?;
        let conn = connections.get_or_try_insert(&settings.key, || {
            Ok::<_, PluginError>(MqttConnection::start(settings, clock))
        })?;
        let per_topic = topic.split('/').any(|level| level == "+" || level == "#");
        Ok(Self {
            conn,
            topic: topic.clone(),
            rows: RowBuilder::new(feed.time_path.clone(), feed.fields.clone(), per_topic),
            label: FeedLabel {
                kind: "MQTT",
                endpoint: mqtt.endpoint.to_string(),
                take_retained: spec.backfill,
            },
        })
    }
}

impl Source for MqttSource {
    fn fields(&self) -> Vec<Field> {
        RowBuilder::initial_fields()
    }

    async fn run(self, sink: RowSink) -> Result<(), PluginError> {
        let (tx, rx) = mpsc::channel(feed::QUEUE);
        let _subscription = self.conn.subscribe(&self.topic, tx);
        feed::consume(rx, sink, self.rows, self.label).await
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

/// The filters held and the queues of their channels.
#[derive(Debug)]
struct Router {
    filters: std::collections::HashMap<String, Vec<(u64, mpsc::Sender<Delivery>)>>,
    next_id: u64,
    link: LinkState,
}

impl MqttConnection {
    /// Starts the connection task.
    fn start(settings: &Arc<Settings>, clock: Arc<dyn Clock>) -> Arc<Self> {
        let mqtt = settings.mqtt.as_ref();
        let client_id = mqtt
            .and_then(|m| m.client_id.clone())
            .unwrap_or_else(generated_client_id);
        let (client, eventloop) = match mqtt {
            Some(m) => AsyncClient::new(options(m, client_id), REQUESTS),
            None => AsyncClient::new(MqttOptions::new(client_id, "localhost", 1883), REQUESTS),
        };
        let router = Arc::new(Mutex::new(Router {
            filters: std::collections::HashMap::new(),
            next_id: 0,
            link: LinkState::Connecting,
        }));
        let task = tokio::spawn(drive(
            eventloop,
            client.clone(),
            Arc::clone(&router),
            Arc::clone(settings),
            clock,
        ));
        Arc::new(Self {
            client,
            router,
            task: task.abort_handle(),
        })
    }

    /// Subscribes `filter` for one channel; the returned guard unsubscribes.
    fn subscribe(self: &Arc<Self>, filter: &str, tx: mpsc::Sender<Delivery>) -> Subscription {
        let mut router = lock(&self.router);
        let id = router.next_id;
        router.next_id += 1;
        if let LinkState::Down { at_ms, reason } = &router.link {
            let _ = tx.try_send(Delivery::Down {
                at_ms: *at_ms,
                reason: reason.clone(),
            });
        }
        router
            .filters
            .entry(filter.to_owned())
            .or_default()
            .push((id, tx));
        // When not connected, the next CONNACK subscribes every filter held. When connected,
        // this also renews a filter another channel holds, so the broker re-sends its
        // retained messages for the new channel.
        if router.link == LinkState::Up {
            if let Err(e) = self.client.try_subscribe(filter, QoS::AtLeastOnce) {
                tracing::warn!(error = %e, "MQTT subscribe could not be queued");
            }
        }
        Subscription {
            conn: Arc::clone(self),
            filter: filter.to_owned(),
            id,
        }
    }
}

/// A channel's hold on a filter.
#[derive(Debug)]
struct Subscription {
    conn: Arc<MqttConnection>,
    filter: String,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut router = lock(&self.conn.router);
        let Some(subs) = router.filters.get_mut(&self.filter) else {
            return;
        };
        subs.retain(|(id, _)| *id != self.id);
        if subs.is_empty() {
            router.filters.remove(&self.filter);
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
) {
    let endpoint = settings
        .mqtt
        .as_ref()
        .map_or_else(String::new, |m| m.endpoint.to_string());
    if let Err(reason) = use_tls_if_asked(&mut eventloop, &settings) {
        // No connection can be made with these settings; channels show why.
        feed::report_down(&router, "MQTT", &endpoint, clock.now_ms(), reason).await;
        return std::future::pending().await;
    }
    let mut backoff = Backoff::default();
    let mut up_since: Option<Instant> = None;
    let mut matching: Vec<mpsc::Sender<Delivery>> = Vec::new();
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let topic: Arc<str> = Arc::from(publish.topic.as_str());
                matching.clear();
                {
                    let router = lock(&router);
                    for (filter, subs) in &router.filters {
                        if topic_matches(filter, &topic) {
                            matching.extend(subs.iter().map(|(_, tx)| tx.clone()));
                        }
                    }
                }
                if matching.is_empty() {
                    continue;
                }
                let message = Message::new(topic, publish.payload, publish.retain, clock.now_ms());
                feed::deliver(&matching, Delivery::Message(message)).await;
            }
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                up_since = Some(Instant::now());
                let filters: Vec<SubscribeFilter> = lock(&router)
                    .filters
                    .keys()
                    .map(|f| SubscribeFilter::new(f.clone(), QoS::AtLeastOnce))
                    .collect();
                if !filters.is_empty() {
                    if let Err(e) = client.try_subscribe_many(filters) {
                        tracing::warn!(error = %e, "MQTT resubscribe could not be queued");
                    }
                }
                feed::report_up(&router, "MQTT", &endpoint, clock.now_ms()).await;
            }
            Ok(_) => {}
            Err(e) => {
                if up_since
                    .take()
                    .is_some_and(|t| t.elapsed() >= feed::BACKOFF_RESET_AFTER)
                {
                    backoff.reset();
                }
                let reason = settings.redact(&describe(&e));
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

    fn queues(&self) -> Vec<mpsc::Sender<Delivery>> {
        self.filters
            .values()
            .flat_map(|subs| subs.iter().map(|(_, tx)| tx.clone()))
            .collect()
    }
}

/// Switches `eventloop` to TLS for `mqtts://`.
fn use_tls_if_asked(eventloop: &mut EventLoop, settings: &Settings) -> Result<(), String> {
    if settings.mqtt.as_ref().is_some_and(|m| m.endpoint.tls) {
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
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("ringstream-{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// What went wrong, in words, without the settings' secrets (rumqttc's errors hold none;
/// callers redact anyway).
fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(code) => match code {
            ConnectReturnCode::BadUserNamePassword => {
                "the broker rejected the user name or password".into()
            }
            ConnectReturnCode::NotAuthorized => {
                "the broker refused the connection: not authorized (check the user name, password and client id)".into()
            }
            ConnectReturnCode::BadClientId => "the broker refused the client id".into(),
            ConnectReturnCode::ServiceUnavailable => "the broker is unavailable".into(),
            ConnectReturnCode::RefusedProtocolVersion => {
                "the broker does not accept MQTT 3.1.1".into()
            }
            ConnectReturnCode::Success => "unexpected CONNACK".into(),
        },
        ConnectionError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused (nothing listens at that address)".into()
        }
        ConnectionError::Io(io) => format!("network error: {io}"),
        ConnectionError::NetworkTimeout => "no answer within the connect timeout".into(),
        ConnectionError::Tls(tls) => format!("TLS handshake failed: {tls}"),
        ConnectionError::MqttState(StateError::Io(_) | StateError::ConnectionAborted) => {
            "the connection was closed".into()
        }
        ConnectionError::MqttState(StateError::AwaitPingResp) => {
            "the broker stopped answering (no ping response)".into()
        }
        other => other.to_string(),
    }
}

/// Whether `topic` matches `filter` (MQTT 3.1.1 section 4.7; topics starting with `$` are
/// not matched by a filter starting with a wildcard).
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// CheckHealth: connects with the data source's settings (credentials included) and
/// disconnects. `Ok` with what was done, or `Err` with what failed; neither holds secrets.
pub(crate) async fn check(settings: &Settings, timeout: Duration) -> Result<String, String> {
    let Some(mqtt) = &settings.mqtt else {
        return Err("no MQTT URL is set".into());
    };
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

    #[test]
    fn generated_client_ids_fit_mqtt_3_1_1() {
        let id = generated_client_id();
        assert_eq!(id.len(), 23, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        assert_ne!(id, generated_client_id());
    }
}
