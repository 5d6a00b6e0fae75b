//! The query model: what a panel asks for, validated field by field.
//!
//! JSON in camelCase, as Grafana sends it (keys Grafana adds itself, such as `refId`,
//! `datasource`, `intervalMs` and `maxDataPoints`, are ignored). Its keys are
//!
//! the common parameters ([`COMMON`]: `tickMs`, `capacity`, `backfill`), `source`, and the
//! parameters the chosen source (and its variant) declares in its
//! [`SourceInfo`](crate::source::SourceInfo). The full list, with types, defaults and
//! ranges, is generated from those declarations: `crates/plugin/schema/query.schema.json`
//! and the tables in README.md and SOURCES.md (`cargo xtask schema`).
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

use serde_json::{Map, Value as Json};

use crate::param::{kind_of, Kind, Param, Values};
pub use crate::source::payload::FeedSpec;
pub use crate::source::signal::{Signal, SignalKind};
use crate::source::{SourceKind, Variant};

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

/// `tickMs` when a query has none.
pub const DEFAULT_TICK_MS: u64 = 100;
/// `capacity` when a query has none.
pub const DEFAULT_CAPACITY: u64 = 1000;

/// `tickMs`: the parameter every source has.
pub const TICK_MS: Param = Param {
    name: "tickMs",
    path_key: "tick",
    kind: Kind::Integer {
        min: limits::MIN_TICK_MS,
        max: limits::MAX_TICK_MS,
        default: Some(DEFAULT_TICK_MS),
    },
    unit: Some("ms"),
    doc: "milliseconds between rows (signals); for message feeds, between packets: rows \
          arriving faster are batched into at most one packet per tickMs",
};

/// `capacity`: rows a stream keeps.
pub const CAPACITY: Param = Param {
    name: "capacity",
    path_key: "cap",
    kind: Kind::Integer {
        min: 1,
        max: limits::MAX_CAPACITY,
        default: Some(DEFAULT_CAPACITY),
    },
    unit: Some("rows"),
    doc: "rows kept per stream: what a panel shows when it opens or refreshes",
};

/// `backfill`: whether a new stream starts with what the source has of the past.
pub const BACKFILL: Param = Param {
    name: "backfill",
    path_key: "backfill",
    kind: Kind::Boolean { default: true },
    unit: None,
    doc: "start a new stream with the source's history (signals: capacity rows; MQTT: the \
          retained messages; WebSocket: the connection's last message)",
};

/// The parameters of every query, in the order they are read.
pub const COMMON: [Param; 3] = [TICK_MS, CAPACITY, BACKFILL];

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
    /// An error about `field`.
    pub fn new(field: &str, problem: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Everything that defines a stream: two queries with equal specs share one stream (and one
/// channel path).
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// The source.
    pub source: &'static dyn SourceKind,
    /// Its variant (a signal's kind; the one variant of sources without).
    pub variant: &'static Variant,
    /// The source's and the variant's parameters, validated, in declaration order.
    pub values: Values,
    /// Milliseconds between rows (signal) or between packets (feeds).
    pub tick_ms: u64,
    /// Rows kept.
    pub capacity: usize,
    /// Whether a new stream starts with what the source has of the past.
    pub backfill: bool,
}

impl PartialEq for StreamSpec {
    fn eq(&self, o: &Self) -> bool {
        self.source.name() == o.source.name()
            && self.variant.name == o.variant.name
            && self.values == o.values
            && (self.tick_ms, self.capacity, self.backfill) == (o.tick_ms, o.capacity, o.backfill)
    }
}

impl Default for StreamSpec {
    /// The default query: a random walk every 100 ms, 1 000 rows, with history.
    fn default() -> Self {
        let source = crate::source::SOURCES[0];
        let variant = &source.variants()[0];
        Self {
            source,
            variant,
            values: Values::defaults(source.params().iter().chain(variant.params)),
            tick_ms: 100,
            capacity: 1000,
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
        let source = read_source(obj)?;
        let tick_ms = read_integer(&TICK_MS, obj)?;
        let capacity = read_integer(&CAPACITY, obj)? as usize;
        let backfill = matches!(
            BACKFILL.read(obj)?,
            Some(crate::param::Value::Boolean(true))
        );
        let variant = match source.variant_param() {
            Some(p) => {
                let name = p.read(obj)?.and_then(|v| match v {
                    crate::param::Value::Choice(c) => Some(c),
                    _ => None,
                });
                let variants = source.variants();
                name.and_then(|n| variants.iter().find(|v| v.name == n))
                    .unwrap_or(&variants[0])
            }
            None => &source.variants()[0],
        };
        let values = Values::read(source.params().iter().chain(variant.params), obj)?;
        Self::checked(
            source,
            variant,
            values,
            [tick_ms, capacity as u64],
            backfill,
        )
    }

    /// The spec of checked values, once the rules between them hold.
    ///
    /// # Errors
    /// A rule's [`QueryError`].
    pub(crate) fn checked(
        source: &'static dyn SourceKind,
        variant: &'static Variant,
        values: Values,
        [tick_ms, capacity]: [u64; 2],
        backfill: bool,
    ) -> Result<Self, QueryError> {
        let spec = Self {
            source,
            variant,
            values,
            tick_ms,
            capacity: capacity as usize,
            backfill,
        };
        spec.check_rules()?;
        Ok(spec)
    }

    /// The variant's [`Rule`](crate::source::Rule)s, then the source's own rules.
    ///
    /// # Errors
    /// A [`QueryError`] naming the parameter to change.
    pub fn check_rules(&self) -> Result<(), QueryError> {
        for rule in self.variant.rules {
            let (a, b) = (
                self.values.number(rule.param),
                self.values.number(rule.greater_than),
            );
            if let (Some(a), Some(b)) = (a, b) {
                if a <= b {
                    return Err(QueryError::new(
                        rule.param,
                        format!(
                            "must be greater than `{}` ({b}), got {a}",
                            rule.greater_than
                        ),
                    ));
                }
            }
        }
        self.source.validate(self)
    }

    /// The seed of a stream's randomness, when the query gave one (signals).
    pub fn seed(&self) -> Option<u64> {
        self.values.integer("seed")
    }
}

/// `source`: a name from the registry, `signal` when absent.
fn read_source(obj: &Map<String, Json>) -> Result<&'static dyn SourceKind, QueryError> {
    let names = crate::source::names().join(", ");
    match obj.get("source").filter(|v| !v.is_null()) {
        None => Ok(crate::source::SOURCES[0]),
        Some(Json::String(s)) if s.is_empty() => Ok(crate::source::SOURCES[0]),
        Some(Json::String(s)) => crate::source::lookup(s).ok_or_else(|| {
            QueryError::new("source", format!("unknown value {s:?}; allowed: {names}"))
        }),
        Some(other) => Err(QueryError::new(
            "source",
            format!(
                "expected a string (one of: {names}), got {}",
                kind_of(other)
            ),
        )),
    }
}

/// A parameter with a default, as an integer.
fn read_integer(p: &Param, obj: &Map<String, Json>) -> Result<u64, QueryError> {
    match p.read(obj)? {
        Some(crate::param::Value::Integer(x)) => Ok(x),
        _ => Err(p.error("expected an integer")),
    }
}
