//! The query model: what a panel asks for, validated field by field.
//!
//! JSON in camelCase, as Grafana sends it (keys Grafana adds itself, such as `refId`,
//! `datasource`, `intervalMs` and `maxDataPoints`, are ignored):
//!
//! | key | type | default | allowed |
//! | --- | --- | --- | --- |
//! | `source` | string | `"signal"` | `signal`, `mqtt`, `websocket` |
//! | `signal` | string | `"random_walk"` | `random_walk`, `random`, `sine`, `square`, `sawtooth`, `counter` |
//! | `tickMs` | integer | 100 | 10 ..= 3 600 000: milliseconds between rows (signal); for `mqtt` and `websocket`, between packets: arriving rows are batched into at most one packet per `tickMs` |
//! | `capacity` | integer | 1000 | 1 ..= 100 000: rows kept per stream |
//! | `seed` | integer | random | 0 ..= 2^53: makes the values reproducible (signal) |
//! | `backfill` | boolean | true | signal: start a new stream with `capacity` rows of history; `mqtt`: take the broker's retained messages as the latest values (no history otherwise) |
//! | `min`, `max` | number | 0, 1 | `random`: the range (min < max) |
//! | `start`, `spread` | number | 0, 1 | `random_walk`: first value, largest step (spread ≥ 0) |
//! | `amplitude`, `periodMs`, `offset` | number, integer, number | 1, 10 000, 0 | `sine`, `square`, `sawtooth` |
//! | `offset`, `step` | number | 0, 1 | `counter`: first value, increment |
//! | `topic` | string | required for `mqtt` | an MQTT topic filter: levels split by `/`, `+` a whole level, `#` the whole last level; 1 ..= 256 bytes, no control characters or Unicode non-characters, no shared subscriptions (`$share/`, `$queue/`) |
//! | `path` | string | required for `websocket` | appended to the data source's WebSocket URL: starts with `/`, at most 256 bytes of URL characters, no `://`, `..`, `\`, `#`, spaces; `?query` allowed |
//! | `timePath` | string | arrival time | `mqtt`, `websocket`: the (flattened, `.`-joined) key holding each message's timestamp; at most 128 bytes |
//! | `fields` | array of strings | all | `mqtt`, `websocket`: the flattened keys to keep; at most 32 names of at most 128 bytes |
//!
//! Why `tickMs` and not `intervalMs`: Grafana's `DataSourceWithBackend` overwrites every
//! query's `intervalMs` with the panel's interval before sending it, so a field of that name
//! would never carry the user's value.
//!
//! The connection itself (broker, URL, credentials, TLS) is the data source's, never the
//! query's: a query picks only what to read.
//!
//! A bad query gets a [`QueryError`] that names the field and what is allowed; the other
//! queries of the same request are answered normally.

use std::fmt;

use serde_json::{Map, Value as Json};

/// Limits of the query model.
pub mod limits {
    /// Fastest tick: 10 ms (100 rows per second per stream).
    pub const MIN_TICK_MS: u64 = 10;
    /// Slowest tick: one hour.
    pub const MAX_TICK_MS: u64 = 3_600_000;
    /// Most rows a stream keeps.
    pub const MAX_CAPACITY: u64 = 100_000;
    /// Largest seed: 2^53, the largest integer a browser's JSON keeps exactly.
    pub const MAX_SEED: u64 = 1 << 53;
    /// Largest absolute value of a numeric signal parameter.
    pub const MAX_ABS_PARAM: f64 = 1e15;
    /// Largest query JSON accepted, in bytes.
    pub const MAX_QUERY_BYTES: usize = 64 * 1024;
    /// Longest MQTT topic filter, in bytes.
    pub const MAX_TOPIC_LEN: usize = 256;
    /// Longest WebSocket path, in bytes.
    pub const MAX_WS_PATH_LEN: usize = 256;
    /// Longest `timePath`, in bytes.
    pub const MAX_TIME_PATH_LEN: usize = 128;
    /// Most names in `fields`.
    pub const MAX_FIELD_NAMES: usize = 32;
    /// Longest name in `fields`, in bytes.
    pub const MAX_FIELD_NAME_LEN: usize = 128;
}

/// A query field that is missing, mistyped or out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query field `{field}`: {problem}")]
pub struct QueryError {
    /// The field, as spelled in the query JSON (`(query)` for the JSON as a whole).
    pub field: String,
    /// What is wrong and what is allowed.
    pub problem: String,
}

impl QueryError {
    fn new(field: &str, problem: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

/// The signals the `signal` source produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalKind {
    /// A random walk: each value is the previous plus a uniform step in `[-spread, spread]`.
    RandomWalk,
    /// Uniform random values in `[min, max)`: the tutorial's `Math.random()` by default.
    Random,
    /// `offset + amplitude * sin(2π t / period)`.
    Sine,
    /// `offset ± amplitude`, switching every half period.
    Square,
    /// Rises linearly from `offset - amplitude` to `offset + amplitude` each period.
    Sawtooth,
    /// `offset`, `offset + step`, `offset + 2 step`, …
    Counter,
}

impl SignalKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [SignalKind; 6] = [
        Self::RandomWalk,
        Self::Random,
        Self::Sine,
        Self::Square,
        Self::Sawtooth,
        Self::Counter,
    ];

    /// The name in queries and channel paths.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RandomWalk => "random_walk",
            Self::Random => "random",
            Self::Sine => "sine",
            Self::Square => "square",
            Self::Sawtooth => "sawtooth",
            Self::Counter => "counter",
        }
    }

    /// The kind called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signal and its parameters; only the parameters of its kind are kept, so equal signals
/// compare equal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// See [`SignalKind::RandomWalk`].
    RandomWalk {
        /// First value.
        start: f64,
        /// Largest step.
        spread: f64,
    },
    /// See [`SignalKind::Random`].
    Random {
        /// Lower bound (inclusive).
        min: f64,
        /// Upper bound (exclusive).
        max: f64,
    },
    /// A periodic wave: see [`SignalKind::Sine`], [`SignalKind::Square`],
    /// [`SignalKind::Sawtooth`].
    Wave {
        /// Which wave.
        kind: SignalKind,
        /// Half the peak-to-peak height.
        amplitude: f64,
        /// The period in milliseconds.
        period_ms: u64,
        /// The centre line.
        offset: f64,
    },
    /// See [`SignalKind::Counter`].
    Counter {
        /// First value.
        offset: f64,
        /// Increment per row.
        step: f64,
    },
}

impl Signal {
    /// The signal's kind.
    pub fn kind(&self) -> SignalKind {
        match *self {
            Signal::RandomWalk { .. } => SignalKind::RandomWalk,
            Signal::Random { .. } => SignalKind::Random,
            Signal::Wave { kind, .. } => kind,
            Signal::Counter { .. } => SignalKind::Counter,
        }
    }
}

/// What to read from a message feed and how to turn its messages into rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FeedSpec {
    /// The flattened key holding each message's timestamp; `None`: the arrival time.
    pub time_path: Option<String>,
    /// The flattened keys to keep, sorted and without repeats; `None`: all of them.
    pub fields: Option<Vec<String>>,
}

/// Where a stream's rows come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// A synthetic signal.
    Signal(Signal),
    /// The messages of an MQTT topic filter, on the data source's broker.
    Mqtt {
        /// The topic filter (`+` and `#` wildcards allowed).
        topic: String,
        /// Payload-to-row options.
        feed: FeedSpec,
    },
    /// The messages of a WebSocket feed: the data source's URL with `path` appended.
    WebSocket {
        /// The path, starting with `/`.
        path: String,
        /// Payload-to-row options.
        feed: FeedSpec,
    },
}

impl SourceSpec {
    /// The name in queries: `signal`, `mqtt` or `websocket`.
    pub fn name(&self) -> &'static str {
        match self {
            SourceSpec::Signal(_) => "signal",
            SourceSpec::Mqtt { .. } => "mqtt",
            SourceSpec::WebSocket { .. } => "websocket",
        }
    }

    /// Whether the stream reads one of the data source's connections (and so belongs to
    /// one data source instance).
    pub fn needs_connection(&self) -> bool {
        !matches!(self, SourceSpec::Signal(_))
    }
}

/// Everything that defines a stream: two queries with equal specs share one stream (and one
/// channel path).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    /// The source.
    pub source: SourceSpec,
    /// Milliseconds between rows (signal) or between packets (feeds).
    pub tick_ms: u64,
    /// Rows kept.
    pub capacity: usize,
    /// Seed of the source's randomness; `None` draws one when the stream starts.
    pub seed: Option<u64>,
    /// Signal: whether a new stream starts with `capacity` rows of history. MQTT: whether
    /// retained messages are taken.
    pub backfill: bool,
}

impl Default for StreamSpec {
    /// The default query: a random walk every 100 ms, 1 000 rows, with history.
    fn default() -> Self {
        Self {
            source: SourceSpec::Signal(Signal::RandomWalk {
                start: 0.0,
                spread: 1.0,
            }),
            tick_ms: 100,
            capacity: 1000,
            seed: None,
            backfill: true,
        }
    }
}

impl StreamSpec {
    /// Parses and validates a query's JSON.
    ///
    /// # Errors
    /// A [`QueryError`] naming the first bad field and what it allows.
    pub fn from_json_bytes(json: &[u8]) -> Result<Self, QueryError> {
        if json.len() > limits::MAX_QUERY_BYTES {
            return Err(QueryError::new(
                "(query)",
                format!(
                    "the query JSON is {} bytes; at most {} are accepted",
                    json.len(),
                    limits::MAX_QUERY_BYTES
                ),
            ));
        }
        let value: Json = if json.iter().all(u8::is_ascii_whitespace) {
            Json::Object(Map::new()) // Grafana sends an empty body for a blank query
        } else {
            serde_json::from_slice(json)
                .map_err(|e| QueryError::new("(query)", format!("invalid JSON: {e}")))?
        };
        let Json::Object(obj) = value else {
            return Err(QueryError::new("(query)", "expected a JSON object"));
        };
        Self::from_object(&obj)
    }

    /// Validates a query given as a JSON object.
    ///
    /// # Errors
    /// A [`QueryError`] naming the first bad field and what it allows.
    pub fn from_object(obj: &Map<String, Json>) -> Result<Self, QueryError> {
        let q = Fields(obj);
        let source = q.string("source", &["signal", "mqtt", "websocket"], "signal")?;
        let tick_ms = q.integer("tickMs", 100, limits::MIN_TICK_MS, limits::MAX_TICK_MS)?;
        let capacity = q.integer("capacity", 1000, 1, limits::MAX_CAPACITY)? as usize;
        let backfill = q.boolean("backfill", true)?;
        let source = match source {
            "mqtt" => SourceSpec::Mqtt {
                topic: q.topic_filter("topic")?,
                feed: q.feed()?,
            },
            "websocket" => SourceSpec::WebSocket {
                path: q.ws_path("path")?,
                feed: q.feed()?,
            },
            _ => {
                let signal = q.signal()?;
                return Ok(StreamSpec {
                    source: SourceSpec::Signal(signal),
                    tick_ms,
                    capacity,
                    seed: q.optional_integer("seed", 0, limits::MAX_SEED)?,
                    backfill,
                });
            }
        };
        Ok(StreamSpec {
            source,
            tick_ms,
            capacity,
            seed: None, // feeds have no randomness
            backfill,
        })
    }
}

/// Typed access to a query's fields, each read with its default and bounds.
struct Fields<'a>(&'a Map<String, Json>);

impl Fields<'_> {
    /// A present, non-null value.
    fn get(&self, key: &str) -> Option<&Json> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn signal(&self) -> Result<Signal, QueryError> {
        let q = self;
        let names: Vec<&str> = SignalKind::ALL.iter().map(|k| k.as_str()).collect();
        let kind = SignalKind::parse(q.string("signal", &names, "random_walk")?)
            .unwrap_or(SignalKind::RandomWalk);
        Ok(match kind {
            SignalKind::RandomWalk => Signal::RandomWalk {
                start: q.number("start", 0.0)?,
                spread: q.number_at_least("spread", 1.0, 0.0)?,
            },
            SignalKind::Random => {
                let (min, max) = (q.number("min", 0.0)?, q.number("max", 1.0)?);
                if min >= max {
                    return Err(QueryError::new(
                        "max",
                        format!("must be greater than `min` ({min}), got {max}"),
                    ));
                }
                Signal::Random { min, max }
            }
            SignalKind::Sine | SignalKind::Square | SignalKind::Sawtooth => Signal::Wave {
                kind,
                amplitude: q.number("amplitude", 1.0)?,
                period_ms: q.integer("periodMs", 10_000, 1, 365 * 24 * 3_600_000)?,
                offset: q.number("offset", 0.0)?,
            },
            SignalKind::Counter => Signal::Counter {
                offset: q.number("offset", 0.0)?,
                step: q.number("step", 1.0)?,
            },
        })
    }

    /// A required, non-empty string of at most `max` bytes without control characters.
    fn text(&self, key: &str, max: usize, what: &str) -> Result<Option<&str>, QueryError> {
        match self.get(key) {
            None => Ok(None),
            Some(Json::String(s)) if s.is_empty() => Ok(None),
            Some(Json::String(s)) => {
                if s.len() > max {
                    return Err(QueryError::new(
                        key,
                        format!("{} bytes; at most {max} are allowed", s.len()),
                    ));
                }
                if s.chars().any(char::is_control) {
                    return Err(QueryError::new(
                        key,
                        "control characters (line breaks, tabs, NUL, ...) are not allowed",
                    ));
                }
                Ok(Some(s))
            }
            Some(other) => Err(QueryError::new(
                key,
                format!("expected a string ({what}), got {}", kind_of(other)),
            )),
        }
    }

    /// An MQTT topic filter (MQTT 3.1.1 section 4.7).
    fn topic_filter(&self, key: &str) -> Result<String, QueryError> {
        let topic = self
            .text(key, limits::MAX_TOPIC_LEN, "an MQTT topic filter")?
            .ok_or_else(|| {
                QueryError::new(
                    key,
                    "required for source mqtt: a topic filter such as sensors/+/temperature",
                )
            })?;
        // MQTT 3.1.1 section 1.5.3: a broker may (mosquitto does) drop the connection of a
        // client that sends a non-character, and that connection is every channel's of the
        // data source.
        if let Some(c) = topic.chars().find(|c| is_noncharacter(*c)) {
            return Err(QueryError::new(
                key,
                format!(
                    "U+{:04X} is a Unicode non-character, which MQTT topics may not hold",
                    u32::from(c)
                ),
            ));
        }
        let lower = topic.to_ascii_lowercase();
        if lower.starts_with("$share/") || lower.starts_with("$queue/") {
            return Err(QueryError::new(
                key,
                "shared subscriptions ($share/..., $queue/...) are not allowed: the plugin \
                 would take messages away from the other members of the group",
            ));
        }
        let levels: Vec<&str> = topic.split('/').collect();
        for (i, level) in levels.iter().enumerate() {
            if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
                return Err(QueryError::new(
                    key,
                    "`#` must be a whole level and the last one (sensors/#)",
                ));
            }
            if level.contains('+') && *level != "+" {
                return Err(QueryError::new(
                    key,
                    "`+` must be a whole level (sensors/+/temperature)",
                ));
            }
        }
        Ok(topic.to_owned())
    }

    /// A WebSocket path: appended to the data source's URL, so it can name no other host.
    fn ws_path(&self, key: &str) -> Result<String, QueryError> {
        let path = self
            .text(key, limits::MAX_WS_PATH_LEN, "a path such as /prices")?
            .ok_or_else(|| {
                QueryError::new(key, "required for source websocket: a path such as /prices")
            })?;
        let refuse = |why: &str| {
            Err(QueryError::new(key, format!("{why}; a path is appended to the data source's URL and cannot name another host")))
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
        Ok(path.to_owned())
    }

    /// `timePath` and `fields`.
    fn feed(&self) -> Result<FeedSpec, QueryError> {
        let time_path = self
            .text(
                "timePath",
                limits::MAX_TIME_PATH_LEN,
                "a key such as ts or meta.time",
            )?
            .map(str::to_owned);
        let fields = match self.get("fields") {
            None => None,
            Some(Json::Array(items)) => {
                if items.len() > limits::MAX_FIELD_NAMES {
                    return Err(QueryError::new(
                        "fields",
                        format!(
                            "{} names; at most {} are allowed",
                            items.len(),
                            limits::MAX_FIELD_NAMES
                        ),
                    ));
                }
                let mut names = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Json::String(s) if !s.is_empty() => {
                            if s.len() > limits::MAX_FIELD_NAME_LEN {
                                return Err(QueryError::new(
                                    "fields",
                                    format!(
                                        "a name of {} bytes; at most {} are allowed",
                                        s.len(),
                                        limits::MAX_FIELD_NAME_LEN
                                    ),
                                ));
                            }
                            if s.chars().any(char::is_control) {
                                return Err(QueryError::new(
                                    "fields",
                                    "control characters are not allowed in names",
                                ));
                            }
                            names.push(s.clone());
                        }
                        other => {
                            return Err(QueryError::new(
                                "fields",
                                format!("expected non-empty strings, got {}", kind_of(other)),
                            ))
                        }
                    }
                }
                names.sort();
                names.dedup();
                (!names.is_empty()).then_some(names)
            }
            Some(other) => {
                return Err(QueryError::new(
                    "fields",
                    format!("expected an array of field names, got {}", kind_of(other)),
                ))
            }
        };
        Ok(FeedSpec { time_path, fields })
    }

    fn string<'s>(
        &'s self,
        key: &str,
        allowed: &[&'s str],
        default: &'s str,
    ) -> Result<&'s str, QueryError> {
        let list = allowed.join(", ");
        match self.get(key) {
            None => Ok(default),
            Some(Json::String(s)) if s.is_empty() => Ok(default),
            Some(Json::String(s)) => allowed
                .iter()
                .find(|a| **a == s.as_str())
                .copied()
                .ok_or_else(|| {
                    QueryError::new(key, format!("unknown value {s:?}; allowed: {list}"))
                }),
            Some(other) => Err(QueryError::new(
                key,
                format!("expected a string (one of: {list}), got {}", kind_of(other)),
            )),
        }
    }

    fn number(&self, key: &str, default: f64) -> Result<f64, QueryError> {
        match self.get(key) {
            None => Ok(default),
            Some(Json::Number(n)) => {
                let x = n.as_f64().unwrap_or(f64::INFINITY);
                if x.abs() > limits::MAX_ABS_PARAM {
                    return Err(QueryError::new(
                        key,
                        format!("{x} is out of range; allowed: -1e15 ..= 1e15"),
                    ));
                }
                Ok(x)
            }
            Some(other) => Err(QueryError::new(
                key,
                format!("expected a number, got {}", kind_of(other)),
            )),
        }
    }

    fn number_at_least(&self, key: &str, default: f64, min: f64) -> Result<f64, QueryError> {
        let x = self.number(key, default)?;
        if x < min {
            return Err(QueryError::new(
                key,
                format!("must be at least {min}, got {x}"),
            ));
        }
        Ok(x)
    }

    fn optional_integer(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, QueryError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let range = format!("allowed: an integer in {min} ..= {max}");
        match v {
            Json::Number(n) => match n.as_u64() {
                Some(x) if (min..=max).contains(&x) => Ok(Some(x)),
                _ => Err(QueryError::new(
                    key,
                    format!("{n} is out of range; {range}"),
                )),
            },
            other => Err(QueryError::new(
                key,
                format!("expected an integer, got {}; {range}", kind_of(other)),
            )),
        }
    }

    fn integer(&self, key: &str, default: u64, min: u64, max: u64) -> Result<u64, QueryError> {
        Ok(self.optional_integer(key, min, max)?.unwrap_or(default))
    }

    fn boolean(&self, key: &str, default: bool) -> Result<bool, QueryError> {
        match self.get(key) {
            None => Ok(default),
            Some(Json::Bool(b)) => Ok(*b),
            Some(other) => Err(QueryError::new(
                key,
                format!("expected true or false, got {}", kind_of(other)),
            )),
        }
    }
}

/// Unicode non-characters: U+FDD0..=U+FDEF and the last two code points of every plane.
fn is_noncharacter(c: char) -> bool {
    let cp = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&cp) || cp & 0xFFFE == 0xFFFE
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
