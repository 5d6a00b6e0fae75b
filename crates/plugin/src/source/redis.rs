//! The `redis` source: a Redis Stream on the data source's server with its history, or the
//! messages of Redis Pub/Sub channels, live.
//!
//! The client is `redis-rs` (maintained by Redis Inc., the most used Rust client, on tokio).
//! The plugin opens TCP and TLS itself (`feed::dial`, with the data source's TLS settings,
//! to the configured host only) and hands the byte stream to the client, so that its own
//! URL handling never sees a password; its errors become `FeedError`s here (`describe`).
//!
//! Per data source instance and settings version, shared by all its channels:
//! - **streams** (`key`): one command connection (XREVRANGE, TYPE, CLIENT UNBLOCK) and one
//!   blocking reader that runs a single `XREAD BLOCK` over every key the instance's channels
//!   follow, each from the last id it served. A channel starts at the stream's last
//!   `capacity` entries (with backfill) or after its newest, and says so
//!   ([`Batch::set_start_position`](super::Batch::set_start_position)); QueryData reads the
//!   rest of the panel's range with XREVRANGE ([`SourceKind::range`]). After a lost
//!   connection or a server restart the reader reconnects (with backoff) and goes on from
//!   the last id served, so no entry is missed or repeated. A new key wakes the reader at
//!   once (`CLIENT UNBLOCK`); without that right it joins within [`READ_BLOCK_MS`].
//! - **Pub/Sub** (`channel`): one RESP3 connection subscribed to every channel and pattern
//!   the instance's channels read (PSUBSCRIBE when the name has `*`, `?` or `[`); live
//!   only, one series per channel name for a pattern. The client hands pushed messages to a
//!   queue of [`PUBSUB_QUEUE`] messages; past it (a publisher faster than
//!   `feed_messages_per_second`) messages are dropped and counted as skipped.
//!
//! So an instance holds at most three connections (commands, reader, Pub/Sub), however many
//! keys and channels its panels read; health checks and topic discovery open a short-lived
//! one of their own.
//!
//! An entry's field/value pairs become a row as a JSON object would ([`super::payload`]): a
//! value that is a JSON number stays a number, `true`/`false` a boolean, a JSON object is
//! flattened (`field.key`), anything else is a string. Rows take the stream id's
//! milliseconds as their time (unless `timePath` names a field), so every plugin process
//! makes the same rows of a stream; their engine position is the id, `ms << 64 | seq`.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ProtocolVersion, PushKind, RedisConnectionInfo, Value};
use ringstream_frame::{AppendMode, RingFrame};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

use super::prelude::*;
use crate::query::QueryError;

/// The Redis source, as the registry holds it.
pub static REDIS: Redis = Redis;

/// The Redis source's kind (see [`SourceKind`]).
#[derive(Debug)]
pub struct Redis;

/// `key`: the stream a query reads.
pub const KEY: Param = Param {
    name: "key",
    path_key: "key",
    kind: Kind::Text {
        max_len: limits::MAX_TOPIC_LEN,
        required: None,
        what: "a Redis stream key",
        check: Some(check_name),
    },
    unit: None,
    doc: "a Redis Stream's key (sensor:1): the panel's whole time range from its entries, \
          then the new ones; set key or channel",
};

/// `channel`: the Pub/Sub channel (or pattern) a query reads.
pub const CHANNEL: Param = Param {
    name: "channel",
    path_key: "channel",
    kind: Kind::Text {
        max_len: limits::MAX_TOPIC_LEN,
        required: None,
        what: "a Redis Pub/Sub channel",
        check: Some(check_name),
    },
    unit: None,
    doc: "a Pub/Sub channel, or a pattern with * ? [ ] (alerts.*: one series per channel): \
          live only; set key or channel",
};

/// How long one `XREAD BLOCK` waits; a key added meanwhile waits at most this long when
/// the server refuses `CLIENT UNBLOCK`.
pub const READ_BLOCK_MS: u64 = 1000;
/// Entries one `XREAD` returns per key at most.
pub const READ_COUNT: usize = 128;
/// Entries one `XREVRANGE` of a range read asks for.
pub const RANGE_BATCH: usize = 512;
/// Pushed Pub/Sub messages the connection holds before it drops (and counts) them.
pub const PUBSUB_QUEUE: usize = 1024;
/// How often a quiet Pub/Sub connection PINGs, so that a dead server is noticed (a
/// subscriber otherwise sends nothing).
pub const PUBSUB_PING: Duration = Duration::from_secs(15);
/// Highest `redisDatabase`.
pub const MAX_DATABASE: u64 = 65_535;
/// Keys a discovery or health `SCAN` asks for per call.
const SCAN_COUNT: usize = 1000;
/// `SCAN` calls a health check makes at most to list streams.
const HEALTH_SCANS: usize = 10;

/// What the Redis source is.
static INFO: SourceInfo = SourceInfo {
    name: "redis",
    display_name: "Redis",
    doc: "a Redis Stream on the data source's server with its history, or Pub/Sub channels \
          live",
    params: &[KEY, CHANNEL, TIME_PATH, FIELDS],
    variants: Variants::None,
    layout: Layout {
        segment: Some("redis"),
        order: &[
            "tickMs", "capacity", "backfill", "key", "channel", "timePath", "fields",
        ],
        tail: None,
    },
    section: Some(SectionInfo {
        required: "redisUrl",
        keys: SETTINGS,
        parse: parser::<RedisSettings>,
        allow: ALLOW,
    }),
};

/// The data source's allow list of stream keys and Pub/Sub channels.
const ALLOW: Allow = Allow {
    setting: "redisAllow",
    params: &[&KEY, &CHANNEL],
    syntax: Syntax::Glob,
};

impl SourceKind for Redis {
    fn info(&self) -> &'static SourceInfo {
        &INFO
    }

    fn validate(&self, spec: &StreamSpec) -> Result<(), QueryError> {
        match (spec.values.text(KEY.name), spec.values.text(CHANNEL.name)) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            (Some(_), Some(_)) => Err(QueryError::new(
                CHANNEL.name,
                "set either key (a stream) or channel (Pub/Sub), not both",
            )),
            (None, None) => Err(QueryError::new(
                KEY.name,
                "required for source redis: a stream key such as sensor:1, or a Pub/Sub \
                 channel in `channel` (exactly one of the two)",
            )),
        }
    }

    fn open(
        &self,
        spec: &StreamSpec,
        ctx: &OpenContext<'_>,
    ) -> Result<Box<dyn DynSource>, PluginError> {
        let target = Target::of(spec)?;
        let conn = connection(&ctx.shared(self)?)?;
        let label = FeedLabel::new(ctx.metrics, "Redis", conn.endpoint.clone());
        Ok(Box::new(RedisSource {
            intake: Intake::new(spec, target.per_topic(), label, ctx.limits),
            conn,
            target,
            capacity: spec.capacity,
            backfill: spec.backfill,
        }))
    }

    fn keeps_history(&self, spec: &StreamSpec) -> bool {
        matches!(Target::of(spec), Ok(Target::Stream(_)))
    }

    fn range<'a>(&'a self, req: RangeRequest<'a>) -> RangeRead<'a> {
        let Ok(Target::Stream(key)) = Target::of(req.spec) else {
            return None;
        };
        Some(Box::pin(async move { read_range(&req, &key).await }))
    }

    fn check<'a>(&'a self, settings: &'a Settings, timeout: Duration) -> HealthCheck<'a> {
        with_section(settings, |redis| check(settings, redis, timeout))
    }

    fn topics<'a>(&'a self, req: TopicsRequest<'a>) -> Discovery<'a> {
        with_section(req.settings, |redis| discover(req, redis))
    }
}

/// What one stream reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    /// A stream's key.
    Stream(String),
    /// A Pub/Sub channel, or a pattern (`pattern`).
    PubSub { name: String, pattern: bool },
}

impl Target {
    fn of(spec: &StreamSpec) -> Result<Self, PluginError> {
        let not_redis = || PluginError::BadPath("not a Redis stream".into());
        if spec.source.name() != REDIS.name() {
            return Err(not_redis());
        }
        if let Some(key) = spec.values.text(KEY.name) {
            return Ok(Self::Stream(key.to_owned()));
        }
        let name = spec.values.text(CHANNEL.name).ok_or_else(not_redis)?;
        Ok(Self::PubSub {
            name: name.to_owned(),
            pattern: is_pattern(name),
        })
    }

    /// Whether every channel name gets its own series (a pattern).
    fn per_topic(&self) -> bool {
        matches!(self, Self::PubSub { pattern: true, .. })
    }
}

/// Whether a channel name is a glob pattern for PSUBSCRIBE.
fn is_pattern(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

/// The spec of a stream reading the Redis Stream `key` with `feed`'s options (values
/// unchecked).
pub fn stream_spec(
    key: &str,
    feed: &FeedSpec,
    tick_ms: u64,
    capacity: usize,
    backfill: bool,
) -> StreamSpec {
    feed.stream(&REDIS, (&KEY, key), tick_ms, capacity, backfill)
}

/// A key or channel name a query may read: no white space or control characters (they
/// are legal in Redis but never meant in a panel, and would hide in the editor).
fn check_name(name: &str) -> Result<(), String> {
    match name.chars().find(|c| c.is_whitespace() || c.is_control()) {
        Some(c) => Err(format!(
            "{c:?} is not allowed: Redis keys and channels read here hold no white space or \
             control characters"
        )),
        None => Ok(()),
    }
}

/// The engine position of the stream id `ms-seq`.
pub fn position(ms: u64, seq: u64) -> Position {
    (u128::from(ms) << 64) | u128::from(seq)
}

/// The stream id `ms-seq` of a position.
pub fn stream_id(p: Position) -> String {
    format!("{}-{}", p >> 64, p as u64)
}

/// The position of a stream id as Redis writes it (`1700000000000-3`).
pub fn parse_id(id: &str) -> Option<Position> {
    let (ms, seq) = id.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(ms) || !digits(seq) {
        return None;
    }
    Some(position(ms.parse().ok()?, seq.parse().ok()?))
}

/// The milliseconds of a position, as a row time.
fn ms_of(p: Position) -> i64 {
    i64::try_from(p >> 64).unwrap_or(i64::MAX)
}

/// The Redis connection settings: this source's section of the data source's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// The server.
    pub endpoint: Endpoint,
    /// `redisUser` (ACL user); `None`: the default user.
    pub user: Option<String>,
    /// `redisPassword`.
    pub password: Option<Secret>,
    /// `redisDatabase`.
    pub database: u64,
}

impl Section for RedisSettings {
    fn secrets(&self) -> Vec<&str> {
        self.password.iter().map(Secret::expose).collect()
    }

    fn parse(data: &SettingsData<'_>) -> Result<Option<Self>, SettingsError> {
        let Some(url) = data.string("redisUrl", settings_limits::MAX_URL_LEN)? else {
            return Ok(None);
        };
        let url = url.trim();
        if url.contains(',') {
            return Err(SettingsError::new(
                "redisUrl",
                "one server only: redis://host:6379 (Redis Cluster is not supported)",
            ));
        }
        let (endpoint, path, query) = parse_url(
            "redisUrl",
            url,
            &[("redis", false, 6379), ("rediss", true, 6379)],
        )?;
        if !matches!(path.as_str(), "" | "/") || query.is_some() {
            return Err(SettingsError::new(
                "redisUrl",
                "a Redis URL has no path or query here: redis://host:6379 (the database is \
                 redisDatabase)",
            ));
        }
        Ok(Some(Self {
            endpoint,
            user: data
                .string("redisUser", settings_limits::MAX_NAME_LEN)?
                .map(str::to_owned),
            password: data.secret("redisPassword", settings_limits::MAX_SECRET_LEN)?,
            database: data.integer("redisDatabase", 0, MAX_DATABASE)?.unwrap_or(0),
        }))
    }
}

impl RedisSettings {
    /// How it authenticates, as a message says it.
    fn who(&self) -> String {
        match (&self.user, &self.password) {
            (Some(u), _) => format!(" as user {u:?}"),
            (None, Some(_)) => " with a password".into(),
            (None, None) => String::new(),
        }
    }

    /// What the client sends after connecting: AUTH, SELECT.
    fn info(&self, protocol: ProtocolVersion) -> RedisConnectionInfo {
        let mut info = RedisConnectionInfo::default()
            .set_db(i64::try_from(self.database).unwrap_or(0))
            .set_protocol(protocol)
            .set_lib_name("ringstream", env!("CARGO_PKG_VERSION"));
        if let Some(user) = &self.user {
            info = info.set_username(user);
        }
        if let Some(password) = &self.password {
            info = info.set_password(password.expose());
        }
        info
    }
}

/// The Redis section of the data source settings.
const SETTINGS: &[Setting] = &[
    Setting {
        key: "redisUrl",
        secure: false,
        kind: SettingKind::Url {
            schemes: &["redis", "rediss"],
        },
        doc: "the server: redis://host[:6379], or rediss://host[:6379] for TLS; one server \
              (no cluster), no credentials in the URL",
        repeat: None,
    },
    Setting {
        key: "redisUser",
        secure: false,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_NAME_LEN,
        },
        doc: "ACL user name; empty: the default user",
        repeat: None,
    },
    Setting {
        key: "redisPassword",
        secure: true,
        kind: SettingKind::Text {
            max_len: settings_limits::MAX_SECRET_LEN,
        },
        doc: "password (of redisUser, or requirepass)",
        repeat: None,
    },
    Setting {
        key: "redisDatabase",
        secure: false,
        kind: SettingKind::Integer {
            min: 0,
            max: MAX_DATABASE,
        },
        doc: "the database number (SELECT); default 0",
        repeat: None,
    },
    ALLOW.declaration(
        "stream keys and Pub/Sub channels queries may read (one per line, at most 64; * \
              any characters, e.g. sensor:*): a query's key, or its channel pattern, must lie \
              within one of them; empty: any",
    ),
];

/// What went wrong talking to the server, in words, without secrets (redis-rs never sees
/// the password in a URL, and AUTH failures carry no argument).
fn describe(e: &redis::RedisError) -> FeedError {
    match (e.kind(), e.code()) {
        (redis::ErrorKind::AuthenticationFailed, _) | (_, Some("WRONGPASS")) => FeedError::Auth(
            "authentication failed: the server refused the user name or password".into(),
        ),
        (_, Some("NOAUTH")) => FeedError::Auth(
            "authentication required: the server asks for a password (redisPassword)".into(),
        ),
        (_, Some("NOPERM")) => FeedError::Auth(format!(
            "the server's ACL does not allow this user: {}",
            e.detail().unwrap_or("no permission")
        )),
        _ if e.is_connection_refusal() => FeedError::Refused,
        _ if e.is_timeout() => FeedError::Timeout(feed::CONNECT_TIMEOUT.as_secs()),
        _ if e.is_io_error() || e.is_connection_dropped() => FeedError::Network(e.to_string()),
        _ => FeedError::Protocol(format!("Redis: {e}")),
    }
}

/// Opens a connection to the server: TCP (and TLS for `rediss://`), then the client's
/// handshake (HELLO or AUTH, SELECT) within [`feed::CONNECT_TIMEOUT`]. `response` bounds
/// every command's answer (a dead server is noticed by it).
async fn open(
    settings: &Settings,
    redis: &RedisSettings,
    protocol: ProtocolVersion,
    config: AsyncConnectionConfig,
) -> Result<MultiplexedConnection, FeedError> {
    let tls = if redis.endpoint.tls {
        Some(feed::tls_config(&settings.tls).map_err(FeedError::Tls)?)
    } else {
        None
    };
    let work = async {
        let io = feed::dial(&redis.endpoint, tls).await?;
        let (conn, driver) =
            MultiplexedConnection::new_with_config(&redis.info(protocol), io, config)
                .await
                .map_err(|e| describe(&e))?;
        tokio::spawn(driver); // ends when every handle of the connection is dropped
        Ok(conn)
    };
    tokio::time::timeout(feed::CONNECT_TIMEOUT, work)
        .await
        .unwrap_or(Err(FeedError::Timeout(feed::CONNECT_TIMEOUT.as_secs())))
}

/// A command connection: answers within [`feed::CONNECT_TIMEOUT`].
async fn open_commands(
    settings: &Settings,
    redis: &RedisSettings,
) -> Result<MultiplexedConnection, FeedError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(None)
        .set_response_timeout(Some(feed::CONNECT_TIMEOUT));
    open(settings, redis, ProtocolVersion::RESP2, config).await
}

/// One data source instance's Redis connections, shared by its channels.
#[derive(Debug)]
pub(crate) struct RedisConnection {
    /// The streams' side: link state, followers and their cursors.
    shared: Arc<Mutex<Followers>>,
    /// The command connection, while one is up.
    commands: watch::Receiver<Commands>,
    /// Wakes the reader when a key is added.
    wake: Arc<Notify>,
    /// The Pub/Sub side, started by its first channel.
    pubsub: Mutex<Option<PubSubSide>>,
    /// The connection's read rate, across its channels.
    rate: Arc<tokio::sync::Mutex<RateLimit>>,
    /// `redis://host:6379` for notices.
    endpoint: String,
    settings: Arc<Settings>,
    clock: Arc<dyn Clock>,
    metrics: Arc<FeedMetrics>,
    /// The reader connection's `CLIENT ID` while it is up, for `CLIENT UNBLOCK`.
    reader_id: Arc<Mutex<Option<i64>>>,
    task: tokio::task::AbortHandle,
}

impl Drop for RedisConnection {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(p) = lock(&self.pubsub).take() {
            p.task.abort();
        }
    }
}

/// The command connection as channels and range reads wait for it.
#[derive(Debug, Clone)]
enum Commands {
    /// Not connected (yet, or again).
    Waiting,
    /// Connected.
    Up(MultiplexedConnection),
    /// The server refused the credentials: waiting is pointless until the settings (a new
    /// instance version, so a new connection) or the server's users change; the reason.
    Refused(String),
}

/// The streams' shared state: the link, and every stream channel's key and cursor.
type Followers = Readers<Follow>;

/// What a stream channel follows.
#[derive(Debug)]
struct Follow {
    key: String,
    /// The last position served: the next entry read is after it. `None` until the channel
    /// knows where it starts.
    cursor: Option<Position>,
}

/// The Pub/Sub side of a connection.
#[derive(Debug)]
struct PubSubSide {
    shared: Arc<Mutex<Subscribers>>,
    /// Wakes its task when the subscriptions to make change.
    wake: Arc<Notify>,
    task: tokio::task::AbortHandle,
}

/// The Pub/Sub side's shared state: the link and every channel's target and queue.
type Subscribers = Readers<Target>;

/// The instance's shared connection, started if none runs.
fn connection(cx: &SharedContext<'_>) -> Result<Arc<RedisConnection>, PluginError> {
    let redis = cx.section::<RedisSettings>()?;
    Ok(cx.connection(|| {
        let shared = Arc::new(Mutex::new(Followers::default()));
        let reader_id = Arc::new(Mutex::new(None));
        let (tx, rx) = watch::channel(Commands::Waiting);
        let wake = Arc::new(Notify::new());
        let rate = Arc::new(tokio::sync::Mutex::new(RateLimit::new(
            cx.limits.feed_messages_per_second,
        )));
        let task = tokio::spawn(drive_streams(StreamsTask {
            settings: Arc::clone(cx.settings),
            redis: redis.clone(),
            shared: Arc::clone(&shared),
            reader_id: Arc::clone(&reader_id),
            commands: tx,
            wake: Arc::clone(&wake),
            rate: Arc::clone(&rate),
            clock: Arc::clone(&cx.clock),
            metrics: Arc::clone(cx.metrics),
        }));
        Arc::new(RedisConnection {
            shared,
            commands: rx,
            wake,
            pubsub: Mutex::new(None),
            rate,
            endpoint: redis.endpoint.to_string(),
            settings: Arc::clone(cx.settings),
            clock: Arc::clone(&cx.clock),
            metrics: Arc::clone(cx.metrics),
            reader_id,
            task: task.abort_handle(),
        })
    }))
}

impl RedisConnection {
    /// The command connection, once connected (waits for it).
    ///
    /// # Errors
    /// When the server refused the credentials.
    async fn commands(&self) -> Result<MultiplexedConnection, PluginError> {
        let mut rx = self.commands.clone();
        let state = rx
            .wait_for(|c| !matches!(c, Commands::Waiting))
            .await
            .map_err(|_| PluginError::Source("the Redis connection ended".into()))?
            .clone();
        match state {
            Commands::Up(conn) => Ok(conn),
            Commands::Refused(reason) => Err(PluginError::Refused(format!(
                "Redis at {}: {reason}",
                self.endpoint
            ))),
            Commands::Waiting => Err(PluginError::Source("the Redis connection ended".into())),
        }
    }

    /// Registers a stream channel's queue for link notices; it follows its key once
    /// [`follow`](Self::follow) gives it a cursor.
    fn listen_stream(&self, key: &str, tx: QueueTx) -> Reading<Follow> {
        let follow = Follow {
            key: key.to_owned(),
            cursor: None,
        };
        Readers::join(&self.shared, follow, tx, None)
    }

    /// Starts follower `id` after `cursor`, and makes the reader take it up now.
    async fn follow(&self, id: u64, cursor: Position) {
        let reader = {
            let mut shared = lock(&self.shared);
            if let Some(f) = shared.iter_mut().find(|f| f.id == id) {
                f.reads.cursor = Some(cursor);
            }
            *lock(&self.reader_id)
        };
        self.wake.notify_one();
        if let (Some(reader), Ok(mut conn)) = (reader, self.commands().await) {
            // The reader may be blocked in XREAD without this key: end that wait early.
            let _: Result<Value, _> = redis::cmd("CLIENT")
                .arg("UNBLOCK")
                .arg(reader)
                .query_async(&mut conn)
                .await;
        }
    }

    /// Registers a Pub/Sub channel, starting the Pub/Sub side if it is the first.
    fn listen_pubsub(&self, target: &Target, tx: QueueTx) -> Reading<Target> {
        let mut side = lock(&self.pubsub);
        let side = side.get_or_insert_with(|| {
            let shared = Arc::new(Mutex::new(Subscribers::default()));
            let wake = Arc::new(Notify::new());
            let task = tokio::spawn(drive_pubsub(PubSubTask {
                settings: Arc::clone(&self.settings),
                shared: Arc::clone(&shared),
                wake: Arc::clone(&wake),
                rate: Arc::clone(&self.rate),
                clock: Arc::clone(&self.clock),
                metrics: Arc::clone(&self.metrics),
            }));
            PubSubSide {
                shared,
                wake,
                task: task.abort_handle(),
            }
        });
        Readers::join(
            &side.shared,
            target.clone(),
            tx,
            Some(Arc::clone(&side.wake)),
        )
    }
}

/// What the streams' connection task works with.
struct StreamsTask {
    settings: Arc<Settings>,
    redis: RedisSettings,
    shared: Arc<Mutex<Followers>>,
    reader_id: Arc<Mutex<Option<i64>>>,
    commands: watch::Sender<Commands>,
    wake: Arc<Notify>,
    rate: Arc<tokio::sync::Mutex<RateLimit>>,
    clock: Arc<dyn Clock>,
    metrics: Arc<FeedMetrics>,
}

/// The streams' connection task: connects the command connection and the reader, reads,
/// and on any failure reconnects with backoff; followers keep their cursors meanwhile, so
/// reading goes on from the last entry served.
async fn drive_streams(t: StreamsTask) {
    let endpoint = t.redis.endpoint.to_string();
    let mut backoff = Backoff::default();
    loop {
        let reason = match connect_streams(&t).await {
            Ok((commands, reader, reader_id)) => {
                let up_at = Instant::now();
                *lock(&t.reader_id) = reader_id;
                let _ = t.commands.send(Commands::Up(commands));
                feed::report_up(&*t.shared, "Redis", &endpoint, t.clock.now_ms(), &t.metrics).await;
                let reason = read_streams(&t, reader).await;
                let _ = t.commands.send(Commands::Waiting);
                *lock(&t.reader_id) = None;
                if up_at.elapsed() >= feed::BACKOFF_RESET_AFTER {
                    backoff.reset();
                }
                reason
            }
            Err(e) => e,
        };
        let text = t.settings.redact(&reason.to_string());
        if reason.is_auth() {
            let _ = t.commands.send(Commands::Refused(text.clone()));
        }
        feed::report_down(&*t.shared, "Redis", &endpoint, t.clock.now_ms(), text).await;
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// The command connection and the reader (with its `CLIENT ID`, when the server tells).
async fn connect_streams(
    t: &StreamsTask,
) -> Result<(MultiplexedConnection, MultiplexedConnection, Option<i64>), FeedError> {
    let commands = open_commands(&t.settings, &t.redis).await?;
    // The reader's answers take up to the block time; longer means the server is gone.
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(None)
        .set_response_timeout(Some(
            Duration::from_millis(READ_BLOCK_MS) + feed::CONNECT_TIMEOUT,
        ));
    let mut reader = open(&t.settings, &t.redis, ProtocolVersion::RESP2, config).await?;
    let id: Option<i64> = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut reader)
        .await
        .ok();
    Ok((commands, reader, id))
}

/// Reads every followed key with one `XREAD BLOCK` at a time, handing each entry to the
/// followers of its key that have not had it, until the connection fails.
async fn read_streams(t: &StreamsTask, mut reader: MultiplexedConnection) -> FeedError {
    loop {
        // Per key, the oldest cursor of its followers.
        let keys: Vec<(String, Position)> = {
            let shared = lock(&t.shared);
            let mut keys: Vec<(String, Position)> = Vec::new();
            for Follow { key, cursor } in shared.iter().map(|f| &f.reads) {
                let Some(c) = *cursor else { continue };
                match keys.iter_mut().find(|(k, _)| k == key) {
                    Some((_, at)) => *at = (*at).min(c),
                    None => keys.push((key.clone(), c)),
                }
            }
            keys
        };
        if keys.is_empty() {
            t.wake.notified().await;
            continue;
        }
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(READ_BLOCK_MS)
            .arg("STREAMS");
        for (key, _) in &keys {
            cmd.arg(key);
        }
        for (_, at) in &keys {
            cmd.arg(stream_id(*at));
        }
        let reply: Value = match cmd.query_async(&mut reader).await {
            Ok(v) => v,
            Err(e) if e.code() == Some("WRONGTYPE") => {
                // A followed key is no stream (any more): its channels end, the others go on.
                refuse_non_streams(t, &keys).await;
                continue;
            }
            Err(e) => return describe(&e),
        };
        for (key, entries) in read_reply(reply) {
            for entry in entries {
                let queues: Vec<QueueTx> = {
                    let mut shared = lock(&t.shared);
                    shared
                        .iter_mut()
                        .filter(|f| {
                            f.reads.key == key && f.reads.cursor.is_some_and(|c| c < entry.at)
                        })
                        .map(|f| {
                            f.reads.cursor = Some(entry.at);
                            f.tx.clone()
                        })
                        .collect()
                };
                if queues.is_empty() {
                    continue;
                }
                t.rate.lock().await.take().await;
                let topic: Arc<str> = Arc::from(key.as_str());
                let message =
                    Message::new(topic, entry.payload(), false, ms_of(entry.at)).at(entry.at);
                feed::deliver(&queues, Delivery::Message(message)).await;
            }
        }
    }
}

/// Ends the channels of the followed keys that are not streams.
async fn refuse_non_streams(t: &StreamsTask, keys: &[(String, Position)]) {
    let Commands::Up(mut conn) = t.commands.borrow().clone() else {
        return;
    };
    for (key, _) in keys {
        let kind: Result<String, _> = redis::cmd("TYPE").arg(key).query_async(&mut conn).await;
        let Ok(kind) = kind else { continue };
        if kind == "stream" || kind == "none" {
            continue;
        }
        let queues = lock(&t.shared).remove(|f| f.key == *key);
        let reason = not_a_stream(key, &kind).to_string();
        feed::deliver(&queues, Delivery::Refused { reason }).await;
    }
}

/// The error of a key holding another type than a stream.
fn not_a_stream(key: &str, kind: &str) -> PluginError {
    PluginError::Refused(format!(
        "Redis key {key:?} holds a {kind}, not a stream: `key` reads streams (XADD); use \
         `channel` for Pub/Sub"
    ))
}

/// One stream entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    at: Position,
    /// Field/value pairs, in the entry's order.
    fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    /// The entry as the JSON object a payload would be: values typed (see [`push_typed`]).
    /// Bytes that are not UTF-8 are replaced (U+FFFD).
    fn payload(&self) -> Bytes {
        let mut out = String::with_capacity(
            2 + self
                .fields
                .iter()
                .map(|(f, v)| f.len() + v.len() + 6)
                .sum::<usize>(),
        );
        out.push('{');
        for (i, (field, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_string(&mut out, &String::from_utf8_lossy(field));
            out.push(':');
            push_typed(&mut out, &String::from_utf8_lossy(value));
        }
        out.push('}');
        Bytes::from(out)
    }
}

/// Appends a stream value as JSON: kept as written when it is a JSON number, `true`,
/// `false` or a JSON object (so that it stays a number, a boolean, or is flattened), else
/// as a string.
fn push_typed(out: &mut String, value: &str) {
    let number = value.starts_with(|c: char| c == '-' || c.is_ascii_digit())
        && value.ends_with(|c: char| c.is_ascii_digit())
        && serde_json::from_str::<serde_json::Number>(value).is_ok();
    let object = value.starts_with('{')
        && value.ends_with('}')
        && serde_json::from_str::<serde::de::IgnoredAny>(value).is_ok();
    if number || object || value == "true" || value == "false" {
        out.push_str(value);
    } else {
        push_json_string(out, value);
    }
}

fn push_json_string(out: &mut String, s: &str) {
    // Serializing a str cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// The bytes of a reply's string.
fn bytes_of(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::VerbatimString { text, .. } => Some(text.into_bytes()),
        _ => None,
    }
}

fn items_of(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) | Value::Set(items) => items,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => Vec::new(),
    }
}

/// The entries of an XRANGE/XREVRANGE reply (`[[id, [f, v, …]], …]`); malformed ones are
/// left out.
fn entries_of(v: Value) -> Vec<Entry> {
    items_of(v)
        .into_iter()
        .filter_map(|entry| {
            let mut parts = items_of(entry).into_iter();
            let id = bytes_of(parts.next()?)?;
            let at = parse_id(std::str::from_utf8(&id).ok()?)?;
            let mut flat = items_of(parts.next()?).into_iter();
            let mut fields = Vec::new();
            while let (Some(f), Some(v)) = (flat.next(), flat.next()) {
                fields.push((bytes_of(f)?, bytes_of(v)?));
            }
            Some(Entry { at, fields })
        })
        .collect()
}

/// The entries per key of an XREAD reply (`[[key, entries], …]`, a map in RESP3; nil when
/// the block time passed).
fn read_reply(v: Value) -> Vec<(String, Vec<Entry>)> {
    let pairs: Vec<(Value, Value)> = match v {
        Value::Map(pairs) => pairs,
        other => items_of(other)
            .into_iter()
            .filter_map(|kv| {
                let mut kv = items_of(kv).into_iter();
                Some((kv.next()?, kv.next()?))
            })
            .collect(),
    };
    pairs
        .into_iter()
        .filter_map(|(k, entries)| {
            let key = String::from_utf8(bytes_of(k)?).ok()?;
            Some((key, entries_of(entries)))
        })
        .collect()
}

/// A stream's or Pub/Sub channel's messages as rows.
struct RedisSource {
    conn: Arc<RedisConnection>,
    target: Target,
    intake: Intake,
    capacity: usize,
    backfill: bool,
}

impl Source for RedisSource {
    fn held_bytes(&self) -> u64 {
        self.intake.held_bytes()
    }

    async fn run(self, sink: RowSink) -> Result<(), PluginError> {
        let (tx, consume) = self.intake.open(sink);
        match &self.target {
            Target::Stream(key) => {
                let listening = self.conn.listen_stream(key, tx.clone());
                let start = async {
                    let id = listening.id();
                    start_stream(&self.conn, key, self.capacity, self.backfill, &tx, id).await?;
                    // The reader hands the entries to the queue from here on.
                    std::future::pending().await
                };
                tokio::select! {
                    consumed = consume => consumed,
                    failed = start => failed,
                }
            }
            Target::PubSub { .. } => {
                let _listening = self.conn.listen_pubsub(&self.target, tx);
                consume.await
            }
        }
    }
}

/// Where a stream channel starts: with backfill, at the oldest of the stream's last
/// `capacity` entries, else after its newest; says so to the channel (what comes before is
/// the range read's), then follows the key from there.
async fn start_stream(
    conn: &RedisConnection,
    key: &str,
    capacity: usize,
    backfill: bool,
    tx: &QueueTx,
    id: u64,
) -> Result<(), PluginError> {
    let mut backoff = Backoff::default();
    let newest = loop {
        let mut commands = conn.commands().await?;
        let count = if backfill { capacity.max(1) } else { 1 };
        let reply: Result<Value, _> = redis::cmd("XREVRANGE")
            .arg(key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut commands)
            .await;
        match reply {
            Ok(v) => break entries_of(v),
            Err(e) if e.code() == Some("WRONGTYPE") => {
                let kind: String = redis::cmd("TYPE")
                    .arg(key)
                    .query_async(&mut commands)
                    .await
                    .unwrap_or_else(|_| "value of another type".into());
                return Err(not_a_stream(key, &kind));
            }
            Err(e) if describe(&e).is_auth() => {
                return Err(PluginError::Refused(format!(
                    "Redis refused to read {key:?}: {}",
                    describe(&e)
                )))
            }
            // The connection failed meanwhile: the task reconnects, then this tries again.
            Err(_) => tokio::time::sleep(backoff.next_delay()).await,
        }
    };
    let history_end = newest.first().map_or(0, |e| e.at);
    let start = if backfill {
        newest.last().map_or(1, |e| e.at)
    } else {
        history_end + 1
    };
    tx.send(Delivery::Start {
        position: start,
        history_end,
    })
    .await;
    conn.follow(id, start.saturating_sub(1)).await;
    Ok(())
}

/// What the Pub/Sub connection task works with.
struct PubSubTask {
    settings: Arc<Settings>,
    shared: Arc<Mutex<Subscribers>>,
    wake: Arc<Notify>,
    rate: Arc<tokio::sync::Mutex<RateLimit>>,
    clock: Arc<dyn Clock>,
    metrics: Arc<FeedMetrics>,
}

/// The Pub/Sub connection task: subscribes to what the channels read, hands each message
/// to the channels whose channel or pattern it came by, renews everything after a
/// reconnect (messages published meanwhile are gone: the channels get a gap notice).
async fn drive_pubsub(t: PubSubTask) {
    let Some(redis) = t.settings.section::<RedisSettings>() else {
        return; // connection() made no connection without these settings
    };
    let endpoint = redis.endpoint.to_string();
    let mut backoff = Backoff::default();
    loop {
        let (push_tx, push_rx) = mpsc::channel(PUBSUB_QUEUE);
        let metrics = Arc::clone(&t.metrics);
        // The client's push sender must not wait: a full queue drops (and counts) the
        // message instead of growing.
        let sender = move |info: redis::PushInfo| {
            if push_tx.try_send(info).is_err() {
                metrics.skipped.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), std::convert::Infallible>(())
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(None)
            .set_response_timeout(Some(feed::CONNECT_TIMEOUT))
            .set_push_sender(sender);
        let reason = match open(&t.settings, redis, ProtocolVersion::RESP3, config).await {
            Ok(conn) => {
                let up_at = Instant::now();
                feed::report_up(&*t.shared, "Redis", &endpoint, t.clock.now_ms(), &t.metrics).await;
                let reason = read_pubsub(&t, conn, push_rx).await;
                if up_at.elapsed() >= feed::BACKOFF_RESET_AFTER {
                    backoff.reset();
                }
                reason
            }
            Err(e) => e,
        };
        let reason = t.settings.redact(&reason.to_string());
        feed::report_down(&*t.shared, "Redis", &endpoint, t.clock.now_ms(), reason).await;
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Keeps the subscriptions in step with the channels and hands messages on, until the
/// connection fails.
async fn read_pubsub(
    t: &PubSubTask,
    mut conn: MultiplexedConnection,
    mut pushed: mpsc::Receiver<redis::PushInfo>,
) -> FeedError {
    let mut subscribed: HashSet<(String, bool)> = HashSet::new();
    let mut ping = tokio::time::interval(PUBSUB_PING);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let wanted: HashSet<(String, bool)> = lock(&t.shared)
            .iter()
            .filter_map(|r| match &r.reads {
                Target::PubSub { name, pattern } => Some((name.clone(), *pattern)),
                Target::Stream(_) => None,
            })
            .collect();
        for (name, pattern) in wanted.difference(&subscribed) {
            let made = if *pattern {
                conn.psubscribe(name).await
            } else {
                conn.subscribe(name).await
            };
            if let Err(e) = made {
                return describe(&e);
            }
        }
        for (name, pattern) in subscribed.difference(&wanted) {
            let ended = if *pattern {
                conn.punsubscribe(name).await
            } else {
                conn.unsubscribe(name).await
            };
            if let Err(e) = ended {
                return describe(&e);
            }
        }
        subscribed = wanted;
        loop {
            let info = tokio::select! {
                info = pushed.recv() => info,
                () = t.wake.notified() => break,
                _ = ping.tick() => {
                    let pong: Result<Value, _> = redis::cmd("PING").query_async(&mut conn).await;
                    if let Err(e) = pong {
                        return describe(&e);
                    }
                    continue;
                }
            };
            let Some(info) = info else {
                return FeedError::Closed(None);
            };
            if info.kind == PushKind::Disconnection {
                return FeedError::Closed(None);
            }
            if let Some(message) = redis::Msg::from_push_info(info) {
                deliver_pubsub(t, &message).await;
            }
        }
    }
}

/// Hands a Pub/Sub message to the channels that read it: by its pattern when it came by
/// one, else by its channel name.
async fn deliver_pubsub(t: &PubSubTask, m: &redis::Msg) {
    let pattern: Option<String> = m.from_pattern().then(|| m.get_pattern().ok()).flatten();
    let channel = m.get_channel_name();
    let queues = lock(&t.shared).queues_of(|target| match (target, &pattern) {
        (
            Target::PubSub {
                name,
                pattern: true,
            },
            Some(p),
        ) => name == p,
        (
            Target::PubSub {
                name,
                pattern: false,
            },
            None,
        ) => name == channel,
        _ => false,
    });
    if queues.is_empty() {
        return;
    }
    t.rate.lock().await.take().await;
    let payload = Bytes::copy_from_slice(m.get_payload_bytes());
    let message = Message::new(Arc::from(channel), payload, false, t.clock.now_ms());
    feed::deliver(&queues, Delivery::Message(message)).await;
}

/// QueryData of a stream: the newest entries of the range, read backwards with XREVRANGE
/// from the range's end (or where the channel takes over) until the range's start,
/// `max_rows`, `history_scan_messages` or `history_seconds`, then put in order.
async fn read_range(req: &RangeRequest<'_>, key: &str) -> Result<RingFrame, PluginError> {
    let conn = connection(&req.shared(&REDIS))?;
    let deadline = req
        .deadline
        .min(Instant::now() + Duration::from_secs(req.limits.history_seconds));
    let mut commands = tokio::time::timeout_at(deadline, conn.commands())
        .await
        .map_err(|_| {
            PluginError::Source(format!(
                "Redis: not connected to {}: timed out waiting for the connection (the server \
                 accepts but does not answer, or is slow)",
                conn.endpoint
            ))
        })??;

    let ms = |t: i64| u64::try_from(t).unwrap_or(0);
    let first = req.after.unwrap_or_else(|| position(ms(req.from_ms), 0));
    let mut last = position(ms(req.to_ms), u64::MAX);
    if let Some(before) = req.before {
        last = last.min(before.saturating_sub(1));
    }
    let mut newest_first: Vec<Entry> = Vec::new();
    let mut notices = Vec::new();
    let want = req.max_rows.max(1);
    let limit = req.limits.history_scan_messages;
    if req.after.is_some() {
        // A cursor path catching up: the rows right after its cursor, oldest first, so that
        // what a limit leaves out is the newest part, which the channel then delivers.
        let mut next = first;
        let mut oldest_first: Vec<Entry> = Vec::new();
        while next <= last && oldest_first.len() < want {
            let count = RANGE_BATCH.min(want - oldest_first.len());
            let mut cmd = redis::cmd("XRANGE");
            cmd.arg(key)
                .arg(stream_id(next))
                .arg(stream_id(last))
                .arg("COUNT")
                .arg(count);
            let call = cmd.query_async::<Value>(&mut commands);
            let reply = match tokio::time::timeout_at(deadline, call).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    return Err(PluginError::Source(format!(
                        "Redis stream {key:?}: {}",
                        req.settings.redact(&describe(&e).to_string())
                    )))
                }
                Err(_) => break,
            };
            let batch = entries_of(reply);
            let done = batch.len() < count;
            if let Some(newest) = batch.last() {
                next = newest.at.saturating_add(1);
            }
            oldest_first.extend(batch);
            if done {
                break;
            }
        }
        oldest_first.reverse();
        newest_first = oldest_first;
    }
    while req.after.is_none() && last >= first && newest_first.len() < want && req.before != Some(0)
    {
        let read = newest_first.len() as u64;
        if read >= limit {
            notices.push(feed::range_cut_notice(read, "history_scan_messages", true));
            break;
        }
        let count = RANGE_BATCH.min(want - newest_first.len());
        let mut cmd = redis::cmd("XREVRANGE");
        cmd.arg(key)
            .arg(stream_id(last))
            .arg(stream_id(first))
            .arg("COUNT")
            .arg(count);
        let call = cmd.query_async::<Value>(&mut commands);
        let reply = match tokio::time::timeout_at(deadline, call).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) if e.code() == Some("WRONGTYPE") => {
                return Err(not_a_stream(key, "value of another type"))
            }
            Ok(Err(e)) => {
                return Err(PluginError::Source(format!(
                    "Redis stream {key:?}: {}",
                    req.settings.redact(&describe(&e).to_string())
                )))
            }
            Err(_) => {
                notices.push(feed::range_cut_notice(read, "history_seconds", true));
                break;
            }
        };
        let batch = entries_of(reply);
        let done = batch.len() < count;
        if let Some(oldest) = batch.last() {
            last = oldest.at.saturating_sub(1);
        }
        newest_first.extend(batch);
        if done || last == 0 {
            break;
        }
    }

    let feed = FeedSpec::of(req.spec);
    let mut rows = RowBuilder::new(feed.time_path, feed.fields, false);
    let mut ring = RingFrame::try_new(want, AppendMode::Tail)?;
    for field in RowBuilder::initial_fields() {
        ring.add_field(field)?;
    }
    for entry in newest_first.iter().rev() {
        rows.ingest(&mut ring, key, &entry.payload(), ms_of(entry.at));
        if ring.heap_bytes() > req.max_bytes {
            return Err(PluginError::TooLarge {
                what: "the response",
                limit_mib: (req.max_bytes >> 20) as u64,
                setting: "max_response_mb",
            });
        }
    }
    if let Some(n) = feed::stats_notice(&rows.stats()) {
        notices.push(n);
    }
    ring.meta_mut().notices = notices;
    Ok(ring)
}

/// The stream keys `SCAN … TYPE stream` finds for `pattern`, at most `limit` (and whether
/// there were more), within `scans` calls.
async fn scan_streams(
    conn: &mut MultiplexedConnection,
    pattern: &str,
    limit: usize,
    scans: usize,
) -> Result<(Vec<String>, bool), FeedError> {
    let mut found = std::collections::BTreeSet::new();
    let mut cursor = "0".to_owned();
    for _ in 0..scans {
        let (next, keys): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .arg("TYPE")
            .arg("stream")
            .query_async(conn)
            .await
            .map_err(|e| describe(&e))?;
        for key in keys {
            if found.len() == limit {
                return Ok((found.into_iter().collect(), true));
            }
            found.insert(key);
        }
        if next == "0" {
            return Ok((found.into_iter().collect(), false));
        }
        cursor = next;
    }
    Ok((found.into_iter().collect(), true))
}

/// CheckHealth: connects with the data source's settings (AUTH, SELECT), PINGs, reads the
/// server's version and lists some of its streams.
async fn check(
    settings: &Settings,
    redis: &RedisSettings,
    timeout: Duration,
) -> Result<String, String> {
    let endpoint = &redis.endpoint;
    let who = redis.who();
    let started = Instant::now();
    let work = async {
        let mut conn = open_commands(settings, redis).await?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| describe(&e))?;
        let elapsed = started.elapsed().as_millis();
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        let version = info
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .map_or_else(|| "version unknown".to_owned(), |v| v.trim().to_owned());
        let streams = match scan_streams(&mut conn, "*", feed::MAX_LISTED, HEALTH_SCANS).await {
            Ok((names, _)) if names.is_empty() => "no streams yet".to_owned(),
            Ok((names, more)) => format!(
                "{}{}: {}",
                feed::count_listed(names.len(), "stream"),
                if more && names.len() < feed::MAX_LISTED {
                    " found so far"
                } else {
                    ""
                },
                names.join(", ")
            ),
            Err(e) => format!("streams not listed ({e})"),
        };
        Ok::<_, FeedError>(format!(
            "connected to {endpoint}{who} in {elapsed} ms (redis-server {version}, database \
             {}); {streams}",
            redis.database
        ))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(e)) => Err(format!("cannot connect to Redis at {endpoint}{who}: {e}")),
        Err(_) => Err(format!(
            "no answer from {endpoint} within {} s (timed out)",
            timeout.as_secs_f64()
        )),
    }
}

/// The editor's discovery: the stream keys the filter (a `SCAN MATCH` pattern) matches.
async fn discover(req: TopicsRequest<'_>, redis: &RedisSettings) -> Result<Topics, PluginError> {
    let filter = req.filter_for(&ALLOW)?;
    let look = async {
        let mut conn = open_commands(req.settings, redis)
            .await
            .map_err(|e| PluginError::Source(req.settings.redact(&e.to_string())))?;
        let (topics, truncated) = scan_streams(&mut conn, filter, req.limit, usize::MAX)
            .await
            .map_err(|e| PluginError::Source(req.settings.redact(&e.to_string())))?;
        Ok::<_, PluginError>(Topics { topics, truncated })
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

    fn typed(value: &str) -> String {
        let mut out = String::new();
        push_typed(&mut out, value);
        out
    }

    #[test]
    fn ids_parse_into_positions_that_order_like_the_stream() {
        assert_eq!(
            parse_id("1700000000000-3"),
            Some(position(1_700_000_000_000, 3))
        );
        assert_eq!(position(5, 7), (5_u128 << 64) | 7);
        assert_eq!(stream_id(position(1_700_000_000_000, 3)), "1700000000000-3");
        assert_eq!(
            parse_id(&stream_id(position(u64::MAX, u64::MAX))),
            Some(u128::MAX)
        );
        for bad in [
            "",
            "12",
            "12-",
            "-3",
            "a-1",
            "1-b",
            "1-2-3",
            "+1-2",
            "99999999999999999999-0",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
        // A later millisecond beats any sequence number of an earlier one.
        assert!(position(2, 0) > position(1, u64::MAX));
        // The position before the first of a millisecond is the last of the one before:
        // XREAD from it reads that first entry.
        assert_eq!(position(2, 0) - 1, position(1, u64::MAX));
        assert_eq!(ms_of(position(1234, 9)), 1234);
    }

    #[test]
    fn values_are_typed_like_json() {
        assert_eq!(typed("21.5"), "21.5");
        assert_eq!(typed("-3"), "-3");
        assert_eq!(typed("1e3"), "1e3");
        assert_eq!(typed("true"), "true");
        assert_eq!(typed("false"), "false");
        assert_eq!(typed(r#"{"a":{"b":1}}"#), r#"{"a":{"b":1}}"#);
        // Not JSON numbers, booleans or objects: strings.
        for s in [
            "007", "1.", " 5", "5 ", "NaN", "True", "null", "[1,2]", "{broken", "ok",
        ] {
            assert_eq!(typed(s), serde_json::to_string(s).unwrap(), "{s}");
        }
        assert_eq!(typed("say \"hi\"\n"), r#""say \"hi\"\n""#);
    }

    #[test]
    fn entries_become_rows_with_numbers_booleans_strings_and_flattened_objects() {
        let entry = Entry {
            at: position(1_700_000_000_123, 0),
            fields: vec![
                (b"temp".to_vec(), b"21.5".to_vec()),
                (b"ok".to_vec(), b"true".to_vec()),
                (b"site".to_vec(), b"north".to_vec()),
                (b"meta".to_vec(), br#"{"unit":"C","level":2}"#.to_vec()),
            ],
        };
        let payload = entry.payload();
        let parsed: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({"temp": 21.5, "ok": true, "site": "north",
                               "meta": {"unit": "C", "level": 2}})
        );
        let mut ring = RingFrame::try_new(10, AppendMode::Tail).unwrap();
        for f in RowBuilder::initial_fields() {
            ring.add_field(f).unwrap();
        }
        let mut rows = RowBuilder::new(None, None, false);
        assert!(rows.ingest(&mut ring, "sensor:1", &payload, ms_of(entry.at)));
        let names: Vec<&str> = ring.fields().iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            ["time", "temp", "ok", "site", "meta.unit", "meta.level"]
        );
        let types: Vec<ringstream_frame::FieldType> = ring
            .fields()
            .iter()
            .map(ringstream_frame::Field::field_type)
            .collect();
        use ringstream_frame::FieldType as T;
        assert_eq!(
            types,
            [
                T::Time,
                T::Number,
                T::Boolean,
                T::String,
                T::String,
                T::Number
            ]
        );
    }

    #[test]
    fn replies_of_xread_and_xrange_give_their_entries() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let entry = |id: &str, f: &str, v: &str| {
            Value::Array(vec![bulk(id), Value::Array(vec![bulk(f), bulk(v)])])
        };
        let range = Value::Array(vec![entry("5-0", "n", "1"), entry("5-1", "n", "2")]);
        let got = entries_of(range.clone());
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].at, position(5, 1));
        assert_eq!(got[1].fields, vec![(b"n".to_vec(), b"2".to_vec())]);
        let resp2 = Value::Array(vec![Value::Array(vec![bulk("k"), range.clone()])]);
        let resp3 = Value::Map(vec![(bulk("k"), range)]);
        for reply in [resp2, resp3] {
            let keys = read_reply(reply);
            assert_eq!(keys.len(), 1);
            assert_eq!(keys[0].0, "k");
            assert_eq!(keys[0].1.len(), 2);
        }
        assert!(read_reply(Value::Nil).is_empty());
    }

    #[test]
    fn names_refuse_white_space_and_control_characters_and_say_why() {
        assert_eq!(check_name("sensor:1"), Ok(()));
        assert_eq!(check_name("alerts.*"), Ok(()));
        for bad in ["a b", "a\tb", "a\u{7}"] {
            let e = check_name(bad).unwrap_err();
            assert!(e.contains("no white space or control characters"), "{e}");
        }
        assert!(is_pattern("alerts.*") && is_pattern("a?") && is_pattern("a[bc]"));
        assert!(!is_pattern("alerts.high"));
    }

    #[test]
    fn queries_set_exactly_one_of_key_and_channel() {
        let read = |q: serde_json::Value| StreamSpec::from_json_bytes(q.to_string().as_bytes());
        let both = read(serde_json::json!({"source": "redis", "key": "a", "channel": "b"}));
        let e = both.unwrap_err();
        assert_eq!(e.field, "channel");
        assert!(e.problem.contains("not both"), "{}", e.problem);
        let neither = read(serde_json::json!({"source": "redis"})).unwrap_err();
        assert_eq!(neither.field, "key");
        assert!(
            neither.problem.contains("exactly one"),
            "{}",
            neither.problem
        );
        let spaced = read(serde_json::json!({"source": "redis", "key": "a b"})).unwrap_err();
        assert_eq!(spaced.field, "key");
        let long = "k".repeat(limits::MAX_TOPIC_LEN + 1);
        let too_long = read(serde_json::json!({"source": "redis", "key": long})).unwrap_err();
        assert_eq!(too_long.field, "key");
        let ok = read(serde_json::json!({"source": "redis", "key": "sensor:1"})).unwrap();
        assert!(REDIS.keeps_history(&ok));
        let sub = read(serde_json::json!({"source": "redis", "channel": "alerts.*"})).unwrap();
        assert!(!REDIS.keeps_history(&sub));
        assert_eq!(
            Target::of(&sub).unwrap(),
            Target::PubSub {
                name: "alerts.*".into(),
                pattern: true
            }
        );
    }

    fn settings(
        json: serde_json::Value,
        secure: &[(&str, &str)],
    ) -> Result<Settings, SettingsError> {
        let key = crate::settings::InstanceKey {
            org_id: 1,
            uid: "ds1".into(),
            updated_ms: 1,
        };
        let secure = secure
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::parse(key, json.to_string().as_bytes(), &secure)
    }

    #[test]
    fn settings_take_one_url_a_user_a_password_and_a_database() {
        let s = settings(
            serde_json::json!({"redisUrl": "rediss://cache.local", "redisUser": "grafana",
                               "redisDatabase": 3}),
            &[("redisPassword", "s3cret")],
        )
        .unwrap();
        let redis = s.section::<RedisSettings>().unwrap();
        assert_eq!(redis.endpoint.to_string(), "rediss://cache.local:6379");
        assert!(redis.endpoint.tls);
        assert_eq!(redis.database, 3);
        assert_eq!(redis.who(), " as user \"grafana\"");
        assert_eq!(s.redact("auth s3cret"), "auth ***");
        let plain = settings(
            serde_json::json!({"redisUrl": "redis://127.0.0.1:7000"}),
            &[],
        )
        .unwrap();
        assert_eq!(plain.section::<RedisSettings>().unwrap().database, 0);
        for (json, field, says) in [
            (
                serde_json::json!({"redisUrl": "redis://h:99999"}),
                "redisUrl",
                "1 ..= 65535",
            ),
            (
                serde_json::json!({"redisUrl": "http://h"}),
                "redisUrl",
                "redis://",
            ),
            (
                serde_json::json!({"redisUrl": "redis://a,redis://b"}),
                "redisUrl",
                "one server",
            ),
            (
                serde_json::json!({"redisUrl": "redis://h/2"}),
                "redisUrl",
                "redisDatabase",
            ),
            (
                serde_json::json!({"redisUrl": "redis://u:pw@h"}),
                "redisUrl",
                "credentials",
            ),
            (
                serde_json::json!({"redisUrl": "redis://h", "redisDatabase": -1}),
                "redisDatabase",
                "integer",
            ),
        ] {
            let e = settings(json.clone(), &[]).unwrap_err();
            assert_eq!(e.field, field, "{json}");
            assert!(e.problem.contains(says), "{json}: {}", e.problem);
            assert!(!e.problem.contains("pw"), "{}", e.problem);
        }
    }

    #[test]
    fn auth_failures_read_as_such_without_the_password() {
        let e = redis::RedisError::from((
            redis::ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        let d = describe(&e);
        assert!(d.is_auth());
        assert!(d.to_string().contains("authentication failed"), "{d}");
    }
}
