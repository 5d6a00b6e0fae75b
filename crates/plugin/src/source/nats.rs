//! The `nats` source: the messages of a NATS subject on the data source's servers, live
//! (core NATS) or with their history (a JetStream stream).
//!
//! One client (`async-nats`) per data source instance and settings version, shared by all
//! its channels; it reconnects on its own (to any of the configured servers, never to one a
//! server advertises). A channel reads one subject:
//! - **core NATS** (`stream` empty): a subscription to the subject (`*` a token, `>` the
//!   rest); messages sent while no channel listens are gone, so this is live only, like
//!   MQTT without retained values;
//! - **JetStream** (`stream` set): an ordered consumer of the stream filtered by the subject.
//!   A new channel starts with the stream's last `capacity` messages (with backfill), then
//!   continues with every new one. The consumer tracks stream sequence numbers: after a lost
//!   connection or a server restart it resumes at the next sequence, so no message is
//!   missed or repeated. Rows take the time the server stored the message (unless
//!   `timePath` names another), so every plugin process makes the same rows of a stream.
//!
//! QueryData of a JetStream stream reads the panel's whole time range from the stream
//! ([`SourceKind::range`]): an ordered consumer from the range's start time, until the
//! range's end, the stream's end, `history_scan_messages` or `history_seconds`, keeping the
//! newest rows that fit the panel. So a panel's history does not depend on this process:
//! it survives plugin restarts, is the same on every Grafana node, and alert rules can
//! query it.
//!
//! Payloads become rows as for MQTT ([`super::payload`]); with a wildcard subject every
//! subject gets its own series. A connection reads at most `feed_messages_per_second`
//! across its channels, and each channel's queue is bounded (`channel_queue_kb`): a slow
//! channel makes its subscription wait; the client buffers at most
//! [`SUBSCRIPTION_CAPACITY`] messages per subscription and JetStream pulls at most
//! [`PULL_BATCH`] at a time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{
    self,
    consumer::{pull::OrderedConfig, DeliverPolicy},
};
use async_nats::{Client, ConnectErrorKind, ConnectOptions, Event, ServerAddr, ServerError};
use futures_util::StreamExt;
use ringstream_frame::{AppendMode, RingFrame};
use tokio::sync::watch;
use tokio::time::Instant;

use super::prelude::*;

/// The NATS source, as the registry holds it.
pub static NATS: Nats = Nats;

/// The NATS source's kind (see [`SourceKind`]).
#[derive(Debug)]
pub struct Nats;

/// `subject`: what a stream reads.
pub const SUBJECT: Param = Param {
    name: "subject",
    path_key: "subject",
    kind: Kind::Text {
        max_len: limits::MAX_TOPIC_LEN,
        required: Some("required for source nats: a subject such as plant.*.temperature"),
        what: "a NATS subject",
        check: Some(check_subject),
    },
    unit: None,
    doc: "a NATS subject: tokens split by ., * a whole token, > the whole rest (last token \
          only); not _INBOX.…",
};

/// `stream`: the JetStream stream whose messages on the subject a stream reads.
pub const STREAM: Param = Param {
    name: "stream",
    path_key: "stream",
    kind: Kind::Text {
        max_len: MAX_STREAM_NAME_LEN,
        required: None,
        what: "a JetStream stream name",
        check: Some(check_stream_name),
    },
    unit: None,
    doc: "a JetStream stream: the panel's whole time range comes from its stored messages \
          on the subject, then the live ones; empty: core NATS, live only",
};

/// Longest JetStream stream name accepted.
pub const MAX_STREAM_NAME_LEN: usize = 128;
/// Most servers in `natsUrl`.
pub const MAX_SERVERS: usize = 16;
/// Messages the client buffers per core subscription before the server counts the plugin
/// as a slow consumer (and drops messages for it).
pub const SUBSCRIPTION_CAPACITY: usize = 1024;
/// Messages one JetStream pull asks for.
pub const PULL_BATCH: i64 = 128;

/// What the NATS source is.
static INFO: SourceInfo = SourceInfo {
    name: "nats",
    display_name: "NATS",
    doc: "the messages of a subject on the data source's NATS servers: live, or with the \
          history of a JetStream stream",
    params: &[SUBJECT, STREAM, TIME_PATH, FIELDS],
    variants: Variants::None,
    layout: Layout {
        segment: Some("nats"),
        order: &[
            "tickMs", "capacity", "backfill", "stream", "timePath", "fields",
        ],
        tail: Some(Tail {
            marker: "subject",
            param: "subject",
            strip_prefix: None,
        }),
    },
    section: Some(SectionInfo {
        required: "natsUrl",
        keys: SETTINGS,
        parse: parser::<NatsSettings>,
        allow: ALLOW,
    }),
};

/// The data source's allow list of subjects.
const ALLOW: Allow = Allow {
    setting: "natsAllow",
    params: &[&SUBJECT],
    syntax: Syntax::NATS,
};

impl SourceKind for Nats {
    fn info(&self) -> &'static SourceInfo {
        &INFO
    }

    fn open(
        &self,
        spec: &StreamSpec,
        ctx: &OpenContext<'_>,
    ) -> Result<Box<dyn DynSource>, PluginError> {
        let conn = connection(&ctx.shared(self)?)?;
        let target = Target::of(spec)?;
        let label = FeedLabel::new(ctx.metrics, "NATS", conn.endpoint.clone());
        Ok(Box::new(NatsSource {
            intake: Intake::new(spec, target.wildcard(), label, ctx.limits),
            conn,
            target,
            capacity: spec.capacity,
            backfill: spec.backfill,
            clock: Arc::clone(&ctx.clock),
        }))
    }

    fn keeps_history(&self, spec: &StreamSpec) -> bool {
        Target::of(spec).is_ok_and(|t| t.stream.is_some())
    }

    fn range<'a>(&'a self, req: RangeRequest<'a>) -> RangeRead<'a> {
        let target = Target::of(req.spec).ok()?;
        let stream = target.stream.clone()?;
        Some(Box::pin(
            async move { read_range(&req, &target, &stream).await },
        ))
    }

    fn check<'a>(&'a self, settings: &'a Settings, timeout: Duration) -> HealthCheck<'a> {
        with_section(settings, |nats| check(settings, nats, timeout))
    }

    fn topics<'a>(&'a self, req: TopicsRequest<'a>) -> Discovery<'a> {
        with_section(req.settings, |nats| discover(req, nats))
    }
}

/// What one stream reads: a subject, perhaps of a JetStream stream.
#[derive(Debug, Clone)]
struct Target {
    subject: String,
    stream: Option<String>,
}

impl Target {
    fn of(spec: &StreamSpec) -> Result<Self, PluginError> {
        let subject = FeedSpec::target(spec, &NATS, &SUBJECT)
            .ok_or_else(|| PluginError::BadPath("not a NATS stream".into()))?;
        Ok(Self {
            subject: subject.to_owned(),
            stream: spec.values.text(STREAM.name).map(str::to_owned),
        })
    }

    /// Whether the subject has a wildcard: one series per subject then.
    fn wildcard(&self) -> bool {
        self.subject.split('.').any(|t| t == "*" || t == ">")
    }
}

/// The subject of a NATS stream's spec.
pub fn subject(spec: &StreamSpec) -> Option<&str> {
    FeedSpec::target(spec, &NATS, &SUBJECT)
}

/// The spec of a stream reading `subject` (of JetStream `stream`, when given) with `feed`'s
/// options (values unchecked).
pub fn spec(
    subject: &str,
    stream: Option<&str>,
    feed: &FeedSpec,
    tick_ms: u64,
    capacity: usize,
    backfill: bool,
) -> StreamSpec {
    let mut spec = feed.stream(&NATS, (&SUBJECT, subject), tick_ms, capacity, backfill);
    if let Some(stream) = stream {
        spec.values
            .set(STREAM.name, crate::param::Value::Text(stream.to_owned()));
    }
    spec
}

/// A subject a client may subscribe to: tokens split by `.`, none empty, `*` and `>` whole
/// tokens, `>` only last; no white space; not a reply inbox.
fn check_subject(subject: &str) -> Result<(), String> {
    if let Some(c) = subject
        .chars()
        .find(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{c:?} is not allowed: NATS subjects hold no white space or control characters"
        ));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Err(
                "a token is empty: subjects are tokens split by single dots (plant.a.temp)".into(),
            );
        }
        if token.contains('>') && (*token != ">" || i + 1 != tokens.len()) {
            return Err("`>` must be a whole token and the last one (plant.>)".into());
        }
        if token.contains('*') && *token != "*" {
            return Err("`*` must be a whole token (plant.*.temp)".into());
        }
    }
    if tokens[0] == "_INBOX" {
        return Err("_INBOX subjects carry other clients' replies and are not read".into());
    }
    // The server's API subjects carry other clients' requests (stream and consumer names,
    // credentials of a KV client); JetStream's advisories ($JS.EVENT) stay readable.
    let api = match tokens[0] {
        "$JS" => tokens.get(1) != Some(&"EVENT"),
        "$JSC" | "$SYS" | "$NRG" | "$G" => true,
        _ => false,
    };
    if api {
        return Err(format!(
            "{} subjects are the server's own API (other clients' requests) and are not \
             read; JetStream advisories ($JS.EVENT.>) are",
            tokens[0]
        ));
    }
    Ok(())
}

/// A JetStream stream name: no white space, `.`, `*`, `>`, `/` or `\`.
fn check_stream_name(name: &str) -> Result<(), String> {
    match name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
    {
        Some(c) => Err(format!(
            "{c:?} is not allowed in a JetStream stream name (no white space, ., *, >, /, \\)"
        )),
        None => Ok(()),
    }
}

/// Whether `subject` matches `filter` (`*` one token, `>` one or more).
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    Syntax::NATS.covers(filter, subject)
}

/// How the plugin authenticates to the servers: at most one way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsAuth {
    /// No credentials.
    None,
    /// `natsUser` and `natsPassword`.
    User(String, Option<Secret>),
    /// `natsToken`.
    Token(Secret),
    /// `natsNkeySeed`.
    Nkey(Secret),
    /// `natsCreds`: a credentials file's content (a user JWT and its NKey seed).
    Creds(Secret),
}

/// The NATS connection settings: this source's section of the data source's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsSettings {
    /// The servers (a cluster's members), tried in order.
    pub servers: Vec<Endpoint>,
    /// How to authenticate.
    pub auth: NatsAuth,
}

impl Section for NatsSettings {
    fn secrets(&self) -> Vec<&str> {
        match &self.auth {
            NatsAuth::None => vec![],
            NatsAuth::User(_, p) => p.iter().map(Secret::expose).collect(),
            NatsAuth::Token(s) | NatsAuth::Nkey(s) | NatsAuth::Creds(s) => vec![s.expose()],
        }
    }

    fn parse(data: &SettingsData<'_>) -> Result<Option<Self>, SettingsError> {
        let Some(urls) = data.string("natsUrl", settings_limits::MAX_URL_LEN)? else {
            return Ok(None);
        };
        let mut servers = Vec::new();
        for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            if servers.len() == MAX_SERVERS {
                return Err(SettingsError::new(
                    "natsUrl",
                    format!("more than {MAX_SERVERS} servers"),
                ));
            }
            let (endpoint, path, query) = parse_url(
                "natsUrl",
                url,
                &[("nats", false, 4222), ("tls", true, 4222)],
            )?;
            if !matches!(path.as_str(), "" | "/") || query.is_some() {
                return Err(SettingsError::new(
                    "natsUrl",
                    "a NATS URL has no path or query: nats://host:4222 (several: comma-separated)",
                ));
            }
            servers.push(endpoint);
        }
        if servers.is_empty() {
            return Err(SettingsError::new(
                "natsUrl",
                "no server: nats://host:4222, or several comma-separated",
            ));
        }
        let user = data.string("natsUser", settings_limits::MAX_NAME_LEN)?;
        let password = data.secret("natsPassword", settings_limits::MAX_SECRET_LEN)?;
        let token = data.secret("natsToken", settings_limits::MAX_SECRET_LEN)?;
        let nkey = data.secret("natsNkeySeed", settings_limits::MAX_SECRET_LEN)?;
        let creds = data.secret("natsCreds", settings_limits::MAX_CA_CERT_BYTES)?;
        if password.is_some() && user.is_none() {
            return Err(SettingsError::new(
                "natsUser",
                "a password is set but no user name",
            ));
        }
        let ways = [
            ("natsUser", user.is_some()),
            ("natsToken", token.is_some()),
            ("natsNkeySeed", nkey.is_some()),
            ("natsCreds", creds.is_some()),
        ];
        if let Some((second, _)) = ways.iter().filter(|(_, set)| *set).nth(1) {
            return Err(SettingsError::new(
                second,
                "set one way to authenticate: a user and password, a token, an NKey seed or \
                 a credentials file",
            ));
        }
        let auth = if let Some(user) = user {
            NatsAuth::User(user.to_owned(), password)
        } else if let Some(token) = token {
            NatsAuth::Token(token)
        } else if let Some(seed) = nkey {
            let s = seed.expose();
            let base32 = s
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
            if !(s.starts_with("SU") && s.len() == 58 && base32) {
                return Err(SettingsError::new(
                    "natsNkeySeed",
                    "expected a user NKey seed: 58 characters starting with SU",
                ));
            }
            NatsAuth::Nkey(seed)
        } else if let Some(creds) = creds {
            if ConnectOptions::new().credentials(creds.expose()).is_err() {
                return Err(SettingsError::new(
                    "natsCreds",
                    "expected the content of a .creds file: a -----BEGIN NATS USER JWT----- \
                     block and a -----BEGIN USER NKEY SEED----- block",
                ));
            }
            NatsAuth::Creds(creds)
        } else {
            NatsAuth::None
        };
        Ok(Some(Self { servers, auth }))
    }
}

impl NatsSettings {
    /// `nats://a:4222, nats://b:4222` as messages show it.
    fn endpoints(&self) -> String {
        self.servers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// How it authenticates, as a message says it.
    fn who(&self) -> String {
        match &self.auth {
            NatsAuth::None => " anonymously".into(),
            NatsAuth::User(u, _) => format!(" as user {u:?}"),
            NatsAuth::Token(_) => " with a token".into(),
            NatsAuth::Nkey(_) => " with an NKey".into(),
            NatsAuth::Creds(_) => " with a credentials file".into(),
        }
    }
}

/// The NATS section of the data source settings.
const SETTINGS: &[Setting] = &[
    Setting {
        key: "natsUrl",
        secure: false,
        kind: SettingKind::Url {
            schemes: &["nats", "tls"],
        },
        doc: "the servers: nats://host[:4222], or tls://host[:4222] to require TLS; several \
              (a cluster) comma-separated; servers they advertise are not used",
        repeat: None,
    },
    Setting {
        key: "natsUser",
        secure: false,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_NAME_LEN,
        },
        doc: "user name (with natsPassword); empty: another way or none",
        repeat: None,
    },
    Setting {
        key: "natsPassword",
        secure: true,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_SECRET_LEN,
        },
        doc: "password (needs a user name)",
        repeat: None,
    },
    Setting {
        key: "natsToken",
        secure: true,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_SECRET_LEN,
        },
        doc: "an authentication token, instead of a user",
        repeat: None,
    },
    Setting {
        key: "natsNkeySeed",
        secure: true,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_SECRET_LEN,
        },
        doc: "a user NKey seed (SU…), instead of a user",
        repeat: None,
    },
    Setting {
        key: "natsCreds",
        secure: true,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_CA_CERT_BYTES,
        },
        doc: "the content of a .creds file (a user JWT and its NKey seed), instead of a user",
        repeat: None,
    },
    ALLOW.declaration(
        "subjects queries may read (one per line, at most 64; * and > as in NATS): a query's \
              subject must lie within one of them; empty: any",
    ),
];

/// The client options of `nats` (fresh for every connect).
fn options(settings: &Settings, nats: &NatsSettings) -> Result<ConnectOptions, String> {
    let mut o = ConnectOptions::new()
        .name("ringstream")
        .connection_timeout(feed::CONNECT_TIMEOUT)
        .ping_interval(Duration::from_secs(15))
        .subscription_capacity(SUBSCRIPTION_CAPACITY)
        .ignore_discovered_servers()
        .max_reconnects(None)
        .reconnect_delay_callback(|attempts| {
            // The first try at once, then the other feeds' curve: 0.5 s doubling to 30 s.
            if attempts <= 1 {
                return Duration::ZERO;
            }
            let exp = u32::try_from((attempts - 2).min(6)).unwrap_or(6);
            Duration::from_millis(500 * 2_u64.pow(exp)).min(Duration::from_secs(30))
        });
    o = match &nats.auth {
        NatsAuth::None => o,
        NatsAuth::User(user, password) => o.user_and_password(
            user.clone(),
            password
                .as_ref()
                .map_or_else(String::new, |p| p.expose().to_owned()),
        ),
        NatsAuth::Token(t) => o.token(t.expose().to_owned()),
        NatsAuth::Nkey(seed) => o.nkey(seed.expose().to_owned()),
        NatsAuth::Creds(creds) => o
            .credentials(creds.expose())
            .map_err(|_| "the credentials file is not usable".to_owned())?,
    };
    let tls = &settings.tls;
    let wants_tls = nats.servers.iter().any(|s| s.tls)
        || tls.skip_verify
        || tls.ca_cert.is_some()
        || tls.client.is_some();
    if wants_tls {
        let config = feed::tls_config(tls)?;
        o = o.tls_client_config(Arc::unwrap_or_clone(config));
    }
    if nats.servers.iter().any(|s| s.tls) {
        o = o.require_tls(true);
    }
    Ok(o)
}

/// The servers as the client takes them.
fn addresses(nats: &NatsSettings) -> Vec<ServerAddr> {
    nats.servers
        .iter()
        .filter_map(|e| format!("{e}").parse().ok())
        .collect()
}

/// One data source instance's NATS client, shared by its channels.
#[derive(Debug)]
pub(crate) struct NatsConnection {
    /// The client, once the first connect succeeded.
    client: watch::Receiver<Option<Client>>,
    /// The link state and the queues of the channels reading the connection.
    shared: Arc<Mutex<Links>>,
    /// The connection's read rate, across its channels.
    rate: tokio::sync::Mutex<RateLimit>,
    /// `nats://a:4222, …` for notices.
    endpoint: String,
    task: tokio::task::AbortHandle,
}

impl Drop for NatsConnection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the connection's events reach: its link state and its channels' queues, by subject.
type Links = Readers<String>;

/// The instance's shared connection, started if none runs.
fn connection(cx: &SharedContext<'_>) -> Result<Arc<NatsConnection>, PluginError> {
    let nats = cx.section::<NatsSettings>()?;
    Ok(cx.connection(|| {
        let shared = Arc::new(Mutex::new(Links::default()));
        let (tx, rx) = watch::channel(None);
        let task = tokio::spawn(connect(
            Arc::clone(cx.settings),
            nats.clone(),
            Arc::clone(&shared),
            tx,
            Arc::clone(&cx.clock),
            Arc::clone(cx.metrics),
        ));
        Arc::new(NatsConnection {
            client: rx,
            shared,
            rate: tokio::sync::Mutex::new(RateLimit::new(cx.limits.feed_messages_per_second)),
            endpoint: nats.endpoints(),
            task: task.abort_handle(),
        })
    }))
}

/// Makes the first connection, retrying with backoff and telling the channels why it
/// fails; then the client reconnects on its own, its events telling the channels.
async fn connect(
    settings: Arc<Settings>,
    nats: NatsSettings,
    shared: Arc<Mutex<Links>>,
    client_tx: watch::Sender<Option<Client>>,
    clock: Arc<dyn Clock>,
    metrics: Arc<FeedMetrics>,
) {
    let endpoint = nats.endpoints();
    let mut backoff = Backoff::default();
    loop {
        let events = {
            let (shared, clock, metrics, endpoint) = (
                Arc::clone(&shared),
                Arc::clone(&clock),
                Arc::clone(&metrics),
                endpoint.clone(),
            );
            move |event: Event| {
                let (shared, clock, metrics, endpoint) = (
                    Arc::clone(&shared),
                    Arc::clone(&clock),
                    Arc::clone(&metrics),
                    endpoint.clone(),
                );
                async move { on_event(event, &shared, &*clock, &metrics, &endpoint).await }
            }
        };
        let attempt = match options(&settings, &nats) {
            Ok(o) => o
                .event_callback(events)
                .connect(addresses(&nats))
                .await
                .map_err(|e| describe(&e)),
            Err(reason) => Err(FeedError::Tls(reason)),
        };
        match attempt {
            Ok(client) => {
                feed::report_up(&*shared, "NATS", &endpoint, clock.now_ms(), &metrics).await;
                let _ = client_tx.send(Some(client));
                return;
            }
            Err(e) => {
                let reason = settings.redact(&e.to_string());
                feed::report_down(&*shared, "NATS", &endpoint, clock.now_ms(), reason).await;
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

/// A client event: link changes and refusals reach the channels.
async fn on_event(
    event: Event,
    shared: &Mutex<Links>,
    clock: &dyn Clock,
    metrics: &FeedMetrics,
    endpoint: &str,
) {
    match event {
        Event::Connected => {
            feed::report_up(shared, "NATS", endpoint, clock.now_ms(), metrics).await
        }
        Event::Disconnected => {
            let reason = "the connection was lost".to_owned();
            feed::report_down(shared, "NATS", endpoint, clock.now_ms(), reason).await;
        }
        Event::ServerError(ServerError::AuthorizationViolation) => {
            let reason = FeedError::Auth("the server refused the credentials".into()).to_string();
            feed::report_down(shared, "NATS", endpoint, clock.now_ms(), reason).await;
        }
        Event::ServerError(ServerError::Other(text)) => {
            // `Permissions Violation for Subscription to "plant.x"`: that subject's channels
            // end with the server's verdict; the connection and the others go on.
            let denied = text.split_once("Subscription to").map(|(_, rest)| {
                rest.trim()
                    .trim_matches(|c| c == '"' || c == '\'')
                    .to_owned()
            });
            if let Some(subject) = denied {
                let queues = lock(shared).queues_of(|s| *s == subject);
                let reason = format!(
                    "the NATS server refused the subscription to {subject:?} (its permissions \
                     do not allow this user to read it)"
                );
                feed::deliver(&queues, Delivery::Refused { reason }).await;
            } else {
                tracing::warn!(%endpoint, error = %text, "NATS server error");
            }
        }
        _ => {}
    }
}

impl NatsConnection {
    /// The client, once connected (waits for the first connection).
    async fn client(&self) -> Result<Client, PluginError> {
        let mut rx = self.client.clone();
        let client = rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| PluginError::Source("the NATS connection ended".into()))?;
        Ok(client.clone().expect("waited for Some"))
    }

    /// Registers a channel's queue for link notices and refusals.
    fn listen(&self, subject: &str, tx: QueueTx) -> Reading<String> {
        Readers::join(&self.shared, subject.to_owned(), tx, None)
    }
}

/// A subject's (or a JetStream stream's) messages as rows.
struct NatsSource {
    conn: Arc<NatsConnection>,
    target: Target,
    intake: Intake,
    capacity: usize,
    backfill: bool,
    clock: Arc<dyn Clock>,
}

impl Source for NatsSource {
    fn held_bytes(&self) -> u64 {
        self.intake.held_bytes()
    }

    async fn run(self, sink: RowSink) -> Result<(), PluginError> {
        let (tx, consume) = self.intake.open(sink);
        let _listening = self.conn.listen(&self.target.subject, tx.clone());
        let pump = pump(
            &self.conn,
            &self.target,
            self.capacity,
            self.backfill,
            &*self.clock,
            tx,
        );
        tokio::select! {
            consumed = consume => consumed,
            pumped = pump => pumped,
        }
    }
}

/// Reads the channel's messages into its queue, until the subscription or consumer ends.
async fn pump(
    conn: &NatsConnection,
    target: &Target,
    capacity: usize,
    backfill: bool,
    clock: &dyn Clock,
    tx: QueueTx,
) -> Result<(), PluginError> {
    let client = conn.client().await?;
    let Some(name) = &target.stream else {
        let mut sub = client
            .subscribe(target.subject.clone())
            .await
            .map_err(|e| PluginError::Source(format!("NATS subscribe failed: {e}")))?;
        while let Some(m) = sub.next().await {
            conn.rate.lock().await.take().await;
            let topic: Arc<str> = Arc::from(m.subject.as_str());
            let message = Message::new(topic, m.payload, false, clock.now_ms());
            tx.send(Delivery::Message(message)).await;
        }
        return Err(PluginError::Source("the NATS subscription ended".into()));
    };
    let js = jetstream::new(client);
    let mut stream = js
        .get_stream(name)
        .await
        .map_err(|e| stream_error(name, &e))?;
    let state = &stream.cached_info().state;
    let start = if backfill {
        state
            .last_sequence
            .saturating_sub(capacity as u64)
            .saturating_add(1)
            .max(state.first_sequence)
            .max(1)
    } else {
        state.last_sequence.saturating_add(1)
    };
    // From here on the channel has every message at `start` or later; QueryData reads what
    // is older from the stream.
    tx.send(Delivery::Start {
        position: start.into(),
        history_end: state.last_sequence.into(),
    })
    .await;
    let mut next = start;
    let mut backoff = Backoff::default();
    loop {
        // An ordered consumer from the next sequence, made again from where it stopped
        // whenever it fails (a server that restarted has forgotten it).
        let policy = DeliverPolicy::ByStartSequence {
            start_sequence: next,
        };
        let made = stream.create_consumer(ordered(target, policy)).await;
        let consumer = match made {
            Ok(c) => c,
            Err(e) => {
                if let jetstream::stream::ConsumerErrorKind::JetStream(js_error) = e.kind() {
                    if js_error.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND {
                        return Err(stream_error(name, &e));
                    }
                }
                tracing::debug!(stream = %name, error = %e, "JetStream consumer not made");
                tokio::time::sleep(backoff.next_delay()).await;
                if let Ok(fresh) = js.get_stream(name).await {
                    stream = fresh;
                }
                continue;
            }
        };
        let mut messages = match consumer.messages().await {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(stream = %name, error = %e, "JetStream consumer not started");
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        };
        while let Some(Ok(m)) = messages.next().await {
            conn.rate.lock().await.take().await;
            let Ok(info) = m.info() else { continue };
            let at = info.stream_sequence;
            if at < next {
                continue; // delivered by the consumer before this one
            }
            next = at + 1;
            backoff.reset();
            let stored = stored_ms(&info).unwrap_or_else(|| clock.now_ms());
            let topic: Arc<str> = Arc::from(m.subject.as_str());
            let message = Message::new(topic, m.payload.clone(), false, stored).at(at.into());
            tx.send(Delivery::Message(message)).await;
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// An ordered consumer of `target` from `start`, pulling [`PULL_BATCH`] at a time.
fn ordered(target: &Target, start: DeliverPolicy) -> OrderedConfig {
    OrderedConfig {
        filter_subject: target.subject.clone(),
        deliver_policy: start,
        max_batch: PULL_BATCH,
        ..OrderedConfig::default()
    }
}

/// When the server stored a JetStream message, epoch milliseconds.
fn stored_ms(info: &jetstream::message::Info<'_>) -> Option<i64> {
    i64::try_from(info.published.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A JetStream failure of stream `name`, in words.
fn stream_error(name: &str, e: &dyn std::fmt::Display) -> PluginError {
    PluginError::Refused(format!("JetStream stream {name:?}: {e}"))
}

/// QueryData of a JetStream stream: the newest rows of the range, read from the stream.
async fn read_range(
    req: &RangeRequest<'_>,
    target: &Target,
    name: &str,
) -> Result<RingFrame, PluginError> {
    let conn = connection(&req.shared(&NATS))?;
    let deadline = req
        .deadline
        .min(Instant::now() + Duration::from_secs(req.limits.history_seconds));
    let late = || {
        // Say why: the connection's last failure, or that it is still trying.
        let why = match lock(&conn.shared).link() {
            LinkState::Down { reason, .. } => reason.clone(),
            _ => "timed out waiting for the connection (the server accepts but does not \
                  answer, or is slow)"
                .to_owned(),
        };
        PluginError::Source(format!("NATS: not connected to {}: {why}", conn.endpoint))
    };
    let client = tokio::time::timeout_at(deadline, conn.client())
        .await
        .map_err(|_| late())??;
    let js = jetstream::new(client);
    let work = async {
        let stream = js
            .get_stream(name)
            .await
            .map_err(|e| stream_error(name, &e))?;
        let policy = match req.after {
            // Stream sequences are u64: a later position has no message yet.
            Some(after) => DeliverPolicy::ByStartSequence {
                start_sequence: u64::try_from(after).unwrap_or(u64::MAX).max(1),
            },
            None => DeliverPolicy::ByStartTime {
                start_time: async_nats::datetime::from_nanos(i128::from(req.from_ms) * 1_000_000)
                    .map_err(|e| PluginError::Source(e.to_string()))?,
            },
        };
        let consumer = stream
            .create_consumer(ordered(target, policy))
            .await
            .map_err(|e| stream_error(name, &e))?;
        let pending = consumer.cached_info().num_pending;
        Ok::<_, PluginError>((consumer, pending))
    };
    let (consumer, pending) = tokio::time::timeout_at(deadline, work)
        .await
        .map_err(|_| {
            PluginError::Source(format!("JetStream stream {name:?} did not answer in time"))
        })??;

    let feed = FeedSpec::of(req.spec);
    let mut rows = RowBuilder::new(feed.time_path, feed.fields, target.wildcard());
    let mut ring = RingFrame::try_new(req.max_rows.max(1), AppendMode::Tail)?;
    for field in RowBuilder::initial_fields() {
        ring.add_field(field)?;
    }
    let mut notices = Vec::new();
    if pending > 0 {
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| stream_error(name, &e))?;
        let to_ns = i128::from(req.to_ms) * 1_000_000 + 999_999;
        let limit = req.limits.history_scan_messages;
        let mut scanned = 0_u64;
        loop {
            if scanned >= pending {
                break;
            }
            if scanned >= limit {
                notices.push(feed::range_cut_notice(
                    scanned,
                    "history_scan_messages",
                    false,
                ));
                break;
            }
            let Ok(next) = tokio::time::timeout_at(deadline, messages.next()).await else {
                notices.push(feed::range_cut_notice(scanned, "history_seconds", false));
                break;
            };
            let Some(m) = next else { break };
            let m = m.map_err(|e| stream_error(name, &e))?;
            scanned += 1;
            let Ok(info) = m.info() else { continue };
            let past_channel = req
                .before
                .is_some_and(|b| u128::from(info.stream_sequence) >= b);
            if past_channel || info.published.unix_timestamp_nanos() > to_ns {
                break;
            }
            let last = info.pending == 0;
            let stored = stored_ms(&info).unwrap_or(0);
            rows.ingest(&mut ring, &m.subject, &m.payload, stored);
            if ring.heap_bytes() > req.max_bytes {
                return Err(PluginError::TooLarge {
                    what: "the response",
                    limit_mib: (req.max_bytes >> 20) as u64,
                    setting: "max_response_mb",
                });
            }
            if last {
                break;
            }
        }
    }
    if let Some(n) = feed::stats_notice(&rows.stats()) {
        notices.push(n);
    }
    ring.meta_mut().notices = notices;
    Ok(ring)
}

/// What went wrong connecting, in words, without secrets.
fn describe(e: &async_nats::ConnectError) -> FeedError {
    match e.kind() {
        ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
            FeedError::Auth("the server refused the credentials (authorization violation)".into())
        }
        ConnectErrorKind::TimedOut => FeedError::Timeout(feed::CONNECT_TIMEOUT.as_secs()),
        ConnectErrorKind::Tls => FeedError::Tls(format!("TLS failed: {e}")),
        ConnectErrorKind::Io => {
            let text = e.to_string();
            if text.contains("refused") {
                FeedError::Refused
            } else {
                FeedError::Network(text)
            }
        }
        ConnectErrorKind::Dns => FeedError::Network(format!("DNS: {e}")),
        _ => FeedError::Protocol(e.to_string()),
    }
}

/// CheckHealth: connects with the data source's settings and, when the account has
/// JetStream, lists its streams (each one readable: its info was read).
async fn check(
    settings: &Settings,
    nats: &NatsSettings,
    timeout: Duration,
) -> Result<String, String> {
    let endpoint = nats.endpoints();
    let who = nats.who();
    let started = Instant::now();
    let options = options(settings, nats)?;
    let client = match tokio::time::timeout(timeout, options.connect(addresses(nats))).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => {
            return Err(format!(
                "cannot connect to {endpoint}{who}: {}",
                describe(&e)
            ))
        }
        Err(_) => {
            return Err(format!(
                "no answer from {endpoint} within {} s (timed out)",
                timeout.as_secs_f64()
            ))
        }
    };
    let elapsed = started.elapsed().as_millis();
    let server = client.server_info();
    let js = jetstream::new(client.clone());
    let left = timeout
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(500));
    let streams = tokio::time::timeout(left, async {
        let mut names = Vec::new();
        let mut listing = js.stream_names();
        while let Some(name) = listing.next().await {
            names.push(name.map_err(|e| e.to_string())?);
            if names.len() == feed::MAX_LISTED {
                break;
            }
        }
        Ok::<_, String>(names)
    })
    .await;
    let jetstream = match streams {
        Ok(Ok(names)) if names.is_empty() => "JetStream: no streams yet".to_owned(),
        Ok(Ok(names)) => format!(
            "JetStream: {} ({})",
            feed::count_listed(names.len(), "stream"),
            names.join(", ")
        ),
        Ok(Err(e)) => {
            format!("JetStream is not available to this user ({e}): only live subjects can be read")
        }
        Err(_) => "JetStream did not answer in time".to_owned(),
    };
    drop(client);
    Ok(format!(
        "connected to {} {who} in {elapsed} ms (nats-server {}); {jetstream}",
        server_endpoint(nats, &server),
        server.version
    )
    .replace("  ", " "))
}

/// The configured server the client reached (by port and host), or the list.
fn server_endpoint(nats: &NatsSettings, server: &async_nats::ServerInfo) -> String {
    nats.servers
        .iter()
        .find(|e| e.port == server.port)
        .map_or_else(|| nats.endpoints(), ToString::to_string)
}

/// The editor's discovery: the subjects of the account's JetStream streams that the
/// filter matches (as the streams declare them).
async fn discover(req: TopicsRequest<'_>, nats: &NatsSettings) -> Result<Topics, PluginError> {
    let filter = req.filter_for(&ALLOW)?;
    let options = options(req.settings, nats).map_err(PluginError::Source)?;
    let look = async {
        let client = options
            .connect(addresses(nats))
            .await
            .map_err(|e| PluginError::Source(describe(&e).to_string()))?;
        let js = jetstream::new(client);
        let mut names = js.stream_names();
        let mut found = std::collections::BTreeSet::new();
        let mut truncated = false;
        while let Some(Ok(name)) = names.next().await {
            let Ok(mut stream) = js.get_stream(&name).await else {
                continue;
            };
            let Ok(info) = stream.info().await else {
                continue;
            };
            for subject in &info.config.subjects {
                if subject_matches(filter, subject) || subject_matches(subject, filter) {
                    if found.len() >= req.limit {
                        truncated = true;
                        break;
                    }
                    found.insert(subject.clone());
                }
            }
        }
        Ok::<_, PluginError>(Topics {
            topics: found.into_iter().collect(),
            truncated,
        })
    };
    match tokio::time::timeout(req.timeout, look).await {
        Ok(found) => found,
        Err(_) => Ok(Topics {
            topics: Vec::new(),
            truncated: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_nats_rules() {
        for ok in ["a", "plant.*.temp", "plant.>", "*", ">", "$JS.EVENT.x"] {
            assert_eq!(check_subject(ok), Ok(()), "{ok}");
        }
        for bad in [
            "$JS.API.>",
            "$JS.>",
            "$SYS.ACCOUNT.x",
            "a..b",
            ".a",
            "a.",
            "a b",
            "a.>.b",
            "a.b*",
            "x>",
            "_INBOX.abc",
            "a\tb",
        ] {
            assert!(check_subject(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subjects_match_like_a_server() {
        for (filter, subject, want) in [
            ("a.b", "a.b", true),
            ("a.*", "a.b", true),
            ("a.*", "a.b.c", false),
            ("a.>", "a.b.c", true),
            ("a.>", "a", false),
            (">", "a", true),
            ("*.b", "a.b", true),
            ("a.b", "a.c", false),
        ] {
            assert_eq!(subject_matches(filter, subject), want, "{filter} {subject}");
        }
    }

    #[test]
    fn stream_names_refuse_subject_characters() {
        assert_eq!(check_stream_name("PLANT_1-a"), Ok(()));
        for bad in ["A.B", "A*", "A>", "A B", "A/B"] {
            assert!(check_stream_name(bad).is_err(), "{bad}");
        }
    }
}
