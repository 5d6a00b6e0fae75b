//! The `websocket` source: the messages of a WebSocket feed, the data source's URL with the
//! query's path appended.
//!
//! One connection per data source instance (and settings version) and path, shared by the
//! channels that read it (queries that differ in `tickMs`, `capacity`, `timePath` or
//! `fields`). Text and binary messages are payloads ([`super::payload`]); pings are
//! answered; a ping is sent every `PING_EVERY` and a connection that brings nothing (no
//! message, no pong) for `IDLE_LIMIT` is dropped and made again. Reconnects use
//! `feed::Backoff`; channels keep their RunStreams and get a notice about the gap.
//!
//! A channel that joins a running connection gets the last message at once (the feed's
//! "retained" value). The handshake sends the configured headers (secret values, marked
//! sensitive).
//!
//! Connections are counted in the budget: a data source has at most
//! `websocketMaxConnections` (its settings; at most `max_websocket_connections`), and one
//! viewer at most their share of those. A path that would need one more is refused with
//! the budget's error. A connection reads at most `feed_messages_per_second`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

use super::payload::MAX_PAYLOAD_BYTES;
use super::prelude::*;
use crate::budget::{Amounts, Charge};
use tokio_tungstenite::tungstenite::http::Uri;

/// The WebSocket source, as the registry holds it.
pub static WEBSOCKET: WebSocket = WebSocket;

/// The WebSocket source's kind (see [`SourceKind`]).
#[derive(Debug)]
pub struct WebSocket;

/// `path`: what a stream reads on the data source's WebSocket server.
pub const PATH: Param = Param {
    name: "path",
    path_key: "path",
    kind: Kind::Text {
        max_len: limits::MAX_WS_PATH_LEN,
        required: Some("required for source websocket: a path such as /prices"),
        what: "a path such as /prices",
        check: Some(check_path),
    },
    unit: None,
    doc: "appended to the data source's WebSocket URL: starts with /, URL characters, an own \
          ?query allowed (not one of the URL's parameters); no //, ://, .., \\, #, spaces",
};

/// What the WebSocket source is.
static INFO: SourceInfo = SourceInfo {
    name: "websocket",
    display_name: "WebSocket",
    doc: "the messages of a WebSocket feed: the data source's URL with the query's path",
    params: &[PATH, TIME_PATH, FIELDS],
    variants: Variants::None,
    layout: Layout::feed("ws", "path", Some("/")),
    section: Some(SectionInfo {
        required: "websocketUrl",
        keys: SETTINGS,
        parse: parser::<WebSocketSettings>,
        allow: ALLOW,
    }),
};

/// The data source's allow list of paths.
const ALLOW: Allow = Allow {
    setting: "websocketAllow",
    params: &[&PATH],
    syntax: Syntax::Glob,
};

impl SourceKind for WebSocket {
    fn info(&self) -> &'static SourceInfo {
        &INFO
    }

    fn open(
        &self,
        spec: &StreamSpec,
        ctx: &OpenContext<'_>,
    ) -> Result<Box<dyn DynSource>, PluginError> {
        let registry = ctx
            .connections
            .registry::<Registry<(InstanceKey, String), WsFeed>>("websocket");
        let source = WebSocketSource::new(&registry, spec, ctx)?;
        Ok(Box::new(source))
    }

    fn recorded(&self, settings: &Settings) -> Vec<StreamSpec> {
        settings
            .section::<WebSocketSettings>()
            .map_or_else(Vec::new, |s| {
                FeedSpec::recorded(&WEBSOCKET, &PATH, &s.record)
            })
    }

    fn check<'a>(&'a self, settings: &'a Settings, timeout: Duration) -> HealthCheck<'a> {
        with_section(settings, |ws| check(settings, ws, timeout))
    }
}

/// A header sent with the WebSocket handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header's name.
    pub name: String,
    /// Its value (secret: often a token).
    pub value: Secret,
}

/// The WebSocket connection settings: this source's section of the data source's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketSettings {
    /// The server.
    pub endpoint: Endpoint,
    /// The base URL's path without a trailing `/` (may be empty).
    base_path: String,
    /// The base URL's query string, without `?`.
    base_query: Option<String>,
    /// Handshake headers.
    pub headers: Vec<Header>,
    /// Paths recorded while the plugin runs (`websocketRecord`).
    pub record: Vec<String>,
}

impl WebSocketSettings {
    /// The URL a query's `path` reads: the base URL's path, then `path`, then the base URL's
    /// query (and the path's own, joined with `&`). Only ever on the configured host.
    ///
    /// # Errors
    /// When the result is not a valid URL on the same host (the query layer already refuses
    /// such paths; this is the last check before connecting).
    pub fn url_for(&self, path: &str) -> Result<String, SettingsError> {
        let (path, path_query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        // The admin's parameters (a token, a tenant) are the admin's: a query may add its
        // own, not repeat or override theirs.
        if let (Some(base), Some(own)) = (self.base_query.as_deref(), path_query) {
            let names = |q: &str| -> Vec<String> {
                q.split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| p.split_once('=').map_or(p, |(k, _)| k).to_ascii_lowercase())
                    .collect()
            };
            let admin = names(base);
            if let Some(name) = names(own).into_iter().find(|n| admin.contains(n)) {
                return Err(SettingsError::new(
                    "path",
                    format!(
                        "the query parameter {name:?} is set by the data source's URL and \
                         cannot be given again by a query"
                    ),
                ));
            }
        }
        let query: Vec<&str> = [self.base_query.as_deref(), path_query]
            .into_iter()
            .flatten()
            .filter(|q| !q.is_empty())
            .collect();
        let mut url = format!("{}{}{}", self.endpoint, self.base_path, path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        let bad = || SettingsError::new("path", "does not make a valid URL on the configured host");
        let uri: Uri = url.parse().map_err(|_| bad())?;
        match uri.authority() {
            Some(a) if a.as_str() == self.endpoint.authority() => Ok(url),
            _ => Err(bad()),
        }
    }

    /// The base URL itself (what the health check opens).
    pub fn base_url(&self) -> String {
        let mut url = format!("{}{}", self.endpoint, self.base_path);
        if url.ends_with(&self.endpoint.authority()) {
            url.push('/');
        }
        if let Some(q) = &self.base_query {
            url.push('?');
            url.push_str(q);
        }
        url
    }
}

impl Section for WebSocketSettings {
    fn secrets(&self) -> Vec<&str> {
        self.headers.iter().map(|h| h.value.expose()).collect()
    }

    /// The section from the data source's settings; `None` when they configure no
    /// WebSocket URL.
    fn parse(data: &SettingsData<'_>) -> Result<Option<Self>, SettingsError> {
        let Some(url) = data.string("websocketUrl", settings_limits::MAX_URL_LEN)? else {
            return Ok(None);
        };

        let (endpoint, path, query) = parse_url(
            "websocketUrl",
            url,
            &[("ws", false, 80), ("wss", true, 443)],
        )?;
        let mut headers = Vec::new();
        for i in 1..=settings_limits::MAX_HEADERS {
            let name_key = format!("httpHeaderName{i}");
            let value_key = format!("httpHeaderValue{i}");
            let Some(name) = data.string(&name_key, settings_limits::MAX_NAME_LEN)? else {
                continue;
            };
            check_header_name(&name_key, name)?;
            let value = data
                .secret(&value_key, settings_limits::MAX_SECRET_LEN)?
                .unwrap_or_else(|| Secret::new(""));
            if value
                .expose()
                .bytes()
                .any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
            {
                return Err(SettingsError::new(
                    &value_key,
                    "contains a line break or another control character",
                ));
            }
            headers.push(Header {
                name: name.to_owned(),
                value,
            });
        }
        let record = data.list("websocketRecord", settings_limits::MAX_RECORDED, |p| {
            PATH.check_text(p)
        })?;
        Ok(Some(Self {
            endpoint,
            base_path: path.trim_end_matches('/').to_owned(),
            base_query: query,
            headers,
            record,
        }))
    }
}

/// A header name is an HTTP token, and not one the WebSocket handshake itself sets.
fn check_header_name(field: &str, name: &str) -> Result<(), SettingsError> {
    const TCHAR: &[u8] = b"!#$%&'*+-.^_`|~";
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || TCHAR.contains(&b))
    {
        return Err(SettingsError::new(
            field,
            "not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)",
        ));
    }
    const RESERVED: [&str; 6] = [
        "host",
        "connection",
        "upgrade",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
    ];
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(SettingsError::new(
            field,
            format!("{name} is set by the WebSocket handshake itself and cannot be overridden"),
        ));
    }
    Ok(())
}

/// The WebSocket section of the data source settings.
const SETTINGS: &[Setting] = &[
    Setting {
        key: "websocketUrl",
        secure: false,
        kind: SettingKind::Url {
            schemes: &["ws", "wss"],
        },
        doc: "the server: ws://host[:80][/base][?query] or wss://…; each query's path is \
              appended to it",
        repeat: None,
    },
    Setting {
        key: "httpHeaderName",
        secure: false,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_NAME_LEN,
        },
        doc: "a header sent with the WebSocket handshake, e.g. Authorization; not Host, \
              Connection, Upgrade or Sec-WebSocket-*",
        repeat: Some(settings_limits::MAX_HEADERS as u8),
    },
    Setting {
        key: "httpHeaderValue",
        secure: true,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_SECRET_LEN,
        },
        doc: "that header's value, e.g. Bearer <token>; no line breaks",
        repeat: Some(settings_limits::MAX_HEADERS as u8),
    },
    Setting {
        key: "websocketMaxConnections",
        secure: false,
        kind: SettingKind::Integer {
            min: 1,
            max: settings_limits::MAX_WEBSOCKET_CONNECTIONS,
        },
        doc: "this data source's WebSocket connections at most (one per path); only lowers \
              the plugin's max_websocket_connections",
        repeat: None,
    },
    Setting {
        key: "websocketRecord",
        secure: false,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_RECORD_LIST_LEN,
        },
        doc: "paths to record from when the plugin first hears of this data source (one per \
              line, at most 32), so that a panel of one of them (with the default tickMs, \
              capacity and no timePath or fields) opens with history",
        repeat: None,
    },
    ALLOW.declaration(
        "paths queries may read (one per line, at most 64; * any characters, e.g. /prices/*): a \
              query's path, with its ?query, must match one of them; empty: any",
    ),
];

/// The path of a WebSocket stream's spec.
pub fn path(spec: &StreamSpec) -> Option<&str> {
    FeedSpec::target(spec, &WEBSOCKET, &PATH)
}

/// The spec of a stream reading `path` with `feed`'s options (values unchecked).
pub fn spec(
    path: &str,
    feed: &FeedSpec,
    tick_ms: u64,
    capacity: usize,
    backfill: bool,
) -> StreamSpec {
    feed.stream(&WEBSOCKET, (&PATH, path), tick_ms, capacity, backfill)
}

/// A WebSocket path: appended to the data source's URL, so it can name no other host.
fn check_path(path: &str) -> Result<(), String> {
    let refuse = |why: &str| {
        Err(format!(
            "{why}; a path is appended to the data source's URL and cannot name another host"
        ))
    };
    if !path.starts_with('/') {
        return refuse("must start with /");
    }
    if path.starts_with("//") {
        return refuse("may not start with //");
    }
    if path.contains("://") {
        return refuse("may not contain ://");
    }
    let lower = path.to_ascii_lowercase();
    if path.contains("..")
        || lower.contains("%2e%2e")
        || lower.contains(".%2e")
        || lower.contains("%2e.")
    {
        return refuse("may not contain ..");
    }
    if let Some(c) = path
        .chars()
        .find(|c| !c.is_ascii_graphic() || "\\#\"<>^`{|}".contains(*c))
    {
        return refuse(&format!(
            "may not contain {c:?} (only URL characters are allowed)"
        ));
    }
    Ok(())
}

/// Largest WebSocket message read; a larger one breaks the connection (it is well above the
/// payload limit, and messages between the two are skipped).
pub(crate) const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// How often the connection is pinged.
pub(crate) const PING_EVERY: Duration = Duration::from_secs(20);
/// A connection that brought nothing for this long is made again.
pub(crate) const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// A WebSocket feed's messages as rows.
#[derive(Debug)]
pub struct WebSocketSource {
    feed: Arc<WsFeed>,
    intake: Intake,
}

impl WebSocketSource {
    /// A source for `spec` on the shared connection for its path (made if none is open).
    ///
    /// # Errors
    /// [`PluginError::NotConfigured`] when the data source has no WebSocket URL; the
    /// budget's error when a new connection would be one too many for the data source or
    /// the viewer; a settings error when the path does not make a URL on the configured
    /// host (or repeats one of its query parameters).
    pub(crate) fn new(
        connections: &Registry<(InstanceKey, String), WsFeed>,
        spec: &StreamSpec,
        ctx: &OpenContext<'_>,
    ) -> Result<Self, PluginError> {
        let (budget, who, limits, metrics) = (ctx.budget, ctx.who, ctx.limits, ctx.metrics);
        let clock = Arc::clone(&ctx.clock);
        let path =
            path(spec).ok_or_else(|| PluginError::BadPath("not a WebSocket stream".into()))?;
        let cx = ctx.shared(&WEBSOCKET)?;
        let (settings, ws) = (cx.settings, cx.section::<WebSocketSettings>()?);
        // A path that does not make a URL on the configured host is the query's fault.
        let url = ws.url_for(path).map_err(|e| crate::query::QueryError {
            field: "path".into(),
            problem: e.problem,
        })?;
        let feed_conn =
            connections.get_or_try_insert(&(settings.key.clone(), path.to_owned()), || {
                let one = Amounts {
                    connections: 1,
                    ..Amounts::default()
                };
                let charge = budget.charge(who, one)?;
                Ok::<_, PluginError>(WsFeed::start(
                    settings,
                    url,
                    Arc::from(path),
                    clock,
                    RateLimit::new(limits.feed_messages_per_second),
                    charge,
                    Arc::clone(metrics),
                ))
            })?;
        let label = FeedLabel::new(metrics, "WebSocket", ws.endpoint.to_string());
        Ok(Self {
            feed: feed_conn,
            intake: Intake::new(spec, false, label, limits),
        })
    }
}

impl Source for WebSocketSource {
    fn held_bytes(&self) -> u64 {
        self.intake.held_bytes()
    }

    async fn run(self, sink: RowSink) -> Result<(), PluginError> {
        let (tx, consume) = self.intake.open(sink);
        let _subscription = self.feed.subscribe(tx);
        consume.await
    }
}

/// One WebSocket connection and the channels reading it.
#[derive(Debug)]
pub(crate) struct WsFeed {
    subs: Arc<Mutex<Subscribers>>,
    task: tokio::task::AbortHandle,
    /// The connection's place in the budget, released with it.
    _charge: Charge,
}

impl Drop for WsFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
struct Subscribers {
    /// The channels, and the last message for channels that join later.
    fanout: Fanout,
    link: LinkState,
}

impl WsFeed {
    fn start(
        settings: &Arc<Settings>,
        url: String,
        topic: Arc<str>,
        clock: Arc<dyn Clock>,
        rate: RateLimit,
        charge: Charge,
        metrics: Arc<FeedMetrics>,
    ) -> Arc<Self> {
        let subs = Arc::new(Mutex::new(Subscribers {
            fanout: Fanout::default(),
            link: LinkState::Connecting,
        }));
        let task = tokio::spawn(drive(
            url,
            Arc::clone(settings),
            Arc::clone(&subs),
            topic,
            clock,
            rate,
            metrics,
        ));
        Arc::new(Self {
            subs,
            task: task.abort_handle(),
            _charge: charge,
        })
    }

    fn subscribe(self: &Arc<Self>, tx: QueueTx) -> Subscription {
        let mut subs = lock(&self.subs);
        if let LinkState::Down { at_ms, reason } = &subs.link {
            tx.try_send(Delivery::Down {
                at_ms: *at_ms,
                reason: reason.clone(),
            });
        }
        let id = subs.fanout.subscribe(tx);
        Subscription {
            feed: Arc::clone(self),
            id,
        }
    }
}

#[derive(Debug)]
struct Subscription {
    feed: Arc<WsFeed>,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        lock(&self.feed.subs).fanout.unsubscribe(self.id);
    }
}

/// The connection task: connects, reads, reconnects.
async fn drive(
    url: String,
    settings: Arc<Settings>,
    subs: Arc<Mutex<Subscribers>>,
    topic: Arc<str>,
    clock: Arc<dyn Clock>,
    mut rate: RateLimit,
    metrics: Arc<FeedMetrics>,
) {
    let Some(ws) = settings.section::<WebSocketSettings>() else {
        return; // WebSocketSource::new made no feed without these settings
    };
    let endpoint = ws.endpoint.to_string();
    let tls = if ws.endpoint.tls {
        match feed::tls_config(&settings.tls) {
            Ok(config) => Some(config),
            Err(reason) => {
                feed::report_down(&subs, "WebSocket", &endpoint, clock.now_ms(), reason).await;
                return std::future::pending().await;
            }
        }
    } else {
        None
    };
    let mut backoff = Backoff::default();
    loop {
        let reason =
            match tokio::time::timeout(feed::CONNECT_TIMEOUT, connect(&url, ws, tls.clone())).await
            {
                Ok(Ok(stream)) => {
                    let up_at = Instant::now();
                    feed::report_up(&subs, "WebSocket", &endpoint, clock.now_ms(), &metrics).await;
                    let reason = read(stream, &subs, &topic, &*clock, &mut rate).await;
                    if up_at.elapsed() >= feed::BACKOFF_RESET_AFTER {
                        backoff.reset();
                    }
                    reason
                }
                Ok(Err(reason)) => reason,
                Err(_) => FeedError::Timeout(feed::CONNECT_TIMEOUT.as_secs()),
            };
        let reason = settings.redact(&reason.to_string());
        feed::report_down(&subs, "WebSocket", &endpoint, clock.now_ms(), reason).await;
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Reads messages until the connection ends; returns why it ended.
async fn read(
    mut stream: WebSocketStream<Box<dyn feed::Io>>,
    subs: &Mutex<Subscribers>,
    topic: &Arc<str>,
    clock: &dyn Clock,
    rate: &mut RateLimit,
) -> FeedError {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await; // the first tick is immediate
    let mut last_heard = Instant::now();
    let mut matching = Vec::new();
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            _ = ping.tick() => {
                if last_heard.elapsed() >= IDLE_LIMIT {
                    return FeedError::Silent(format!(
                        "nothing received for {} s",
                        IDLE_LIMIT.as_secs()
                    ));
                }
                if let Err(e) = stream.send(WsMessage::Ping(Vec::new())).await {
                    return describe(&e);
                }
                continue;
            }
        };
        last_heard = Instant::now();
        rate.take().await;
        let payload = match next {
            Some(Ok(WsMessage::Text(text))) => Bytes::from(text.into_bytes()),
            Some(Ok(WsMessage::Binary(data))) => Bytes::from(data),
            Some(Ok(WsMessage::Close(frame))) => {
                return FeedError::Closed(Some(match frame {
                    Some(f) if !f.reason.is_empty() => format!(
                        "the server closed the connection ({}: {})",
                        u16::from(f.code),
                        f.reason.chars().take(120).collect::<String>()
                    ),
                    Some(f) => format!("the server closed the connection ({})", u16::from(f.code)),
                    None => "the server closed the connection".into(),
                }));
            }
            Some(Ok(_)) => continue, // ping (answered by tungstenite), pong
            Some(Err(e)) => return describe(&e),
            None => return FeedError::Closed(None),
        };
        let message = Message::new(Arc::clone(topic), payload, false, clock.now_ms());
        matching.clear();
        {
            let mut subs = lock(subs);
            matching.extend(subs.fanout.queues().cloned());
            // One topic (the path), one message of at most the payload limit.
            subs.fanout.keep(&message, 1, MAX_PAYLOAD_BYTES);
        }
        feed::deliver(&matching, Delivery::Message(message)).await;
    }
}

impl feed::Link for Subscribers {
    fn link_mut(&mut self) -> &mut LinkState {
        &mut self.link
    }

    fn queues(&self) -> Vec<QueueTx> {
        self.fanout.queues().cloned().collect()
    }
}

/// Opens TCP (and TLS for `wss://`) to the configured host and runs the handshake with
/// the configured headers.
async fn connect(
    url: &str,
    ws: &WebSocketSettings,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<WebSocketStream<Box<dyn feed::Io>>, FeedError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| FeedError::Protocol(format!("invalid URL: {e}")))?;
    for header in &ws.headers {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| FeedError::Protocol(format!("invalid header name {:?}", header.name)))?;
        let mut value = HeaderValue::from_str(header.value.expose()).map_err(|_| {
            FeedError::Protocol(format!("invalid value for header {:?}", header.name))
        })?;
        value.set_sensitive(true);
        request.headers_mut().insert(name, value);
    }
    let io = feed::dial(&ws.endpoint, tls).await?;
    let config = WebSocketConfig {
        max_message_size: Some(MAX_MESSAGE_BYTES),
        max_frame_size: Some(MAX_MESSAGE_BYTES),
        ..WebSocketConfig::default()
    };
    let (stream, _response) =
        tokio_tungstenite::client_async_with_config(request, io, Some(config))
            .await
            .map_err(|e| describe(&e))?;
    Ok(stream)
}

/// What went wrong, without secrets (tungstenite's errors quote no header).
fn describe(e: &WsError) -> FeedError {
    match e {
        WsError::Http(response) => FeedError::Http {
            status: response.status().to_string(),
            code: response.status().as_u16(),
        },
        WsError::Io(io) => FeedError::io(io),
        WsError::Capacity(c) => FeedError::Protocol(format!("message too large: {c}")),
        WsError::ConnectionClosed | WsError::AlreadyClosed => FeedError::Closed(None),
        WsError::Protocol(p) => FeedError::Protocol(format!("WebSocket protocol error: {p}")),
        other => FeedError::Protocol(other.to_string()),
    }
}

/// CheckHealth: opens the base URL with the configured headers and closes it. Only a refused
/// connection, a TLS failure, a timeout or a 401/403 is a failure: the base URL itself need
/// not be a feed (queries append their path), so another HTTP status still shows that the
/// server is reachable.
async fn check(
    settings: &Settings,
    ws: &WebSocketSettings,
    timeout: Duration,
) -> Result<String, String> {
    let endpoint = &ws.endpoint;
    let tls = if endpoint.tls {
        Some(feed::tls_config(&settings.tls).map_err(|e| settings.redact(&e))?)
    } else {
        None
    };
    let started = Instant::now();
    let result = match tokio::time::timeout(timeout, connect(&ws.base_url(), ws, tls)).await {
        Ok(Ok(mut stream)) => {
            let _ = tokio::time::timeout(Duration::from_millis(200), stream.close(None)).await;
            Ok(format!(
                "WebSocket handshake with {endpoint} succeeded in {} ms",
                started.elapsed().as_millis()
            ))
        }
        // Any other HTTP answer than a refusal of the credentials: the server is there.
        Ok(Err(reason @ FeedError::Http { .. })) if !reason.is_auth() => Ok(format!(
            "{endpoint} is reachable; its base URL is not a feed itself: {reason}"
        )),
        Ok(Err(reason)) => Err(format!("cannot open {endpoint}: {reason}")),
        Err(_) => Err(format!(
            "no answer from {endpoint} within {} s",
            timeout.as_secs_f64()
        )),
    };
    settings.redact_outcome(result)
}
