//! Channel paths: a stream's parameters, encoded so that the path alone recreates the stream.
//!
//! Grafana hands SubscribeStream and RunStream only the path of `ds/<uid>/<path>` (their
//! request data is empty), and any viewer can ask for any path. So the path is
//! self-describing, canonical and validated exactly like a query. Three forms, all `v1`:
//!
//! - signals: `v1/<signal>/<param>=<value>/…/tick=<ms>/cap=<rows>[/seed=<n>]/backfill=<0|1>`,
//!   e.g. `v1/random_walk/start=0/spread=1/tick=100/cap=1000/backfill=1`. Parameters appear
//!   in a fixed order, only those of the signal's kind, numbers in their shortest exact form.
//! - MQTT: `v1/mqtt/tick=<ms>/cap=<rows>/backfill=<0|1>[/time=<key>][/field=<key>]…/topic/<topic>`,
//!   e.g. `v1/mqtt/tick=100/cap=1000/backfill=1/time=ts/topic/sensors/=2B/temperature` for
//!   `sensors/+/temperature` with `timePath` `ts`.
//! - WebSocket: the same with `ws` and `/path/<path without its leading />` last.
//!
//! Topics, paths and keys are arbitrary UTF-8, so they are escaped into Grafana's alphabet:
//! bytes outside `[A-Za-z0-9_-]` (plus `.` inside a `key=value` segment, plus `/` in the
//! trailing topic or path) become `=HH`, two upper-case hex digits (`+` is `=2B`, `#` is
//! `=23`, `.` in a topic `=2E`, so no segment is ever `.` or `..`). The topic or path comes
//! last because it keeps its `/`. `field=` segments are sorted, as the query's `fields`.
//!
//! Parsing re-encodes the result and accepts the path only if it comes out identical, so
//! every stream has exactly one path and identical panels share one RunStream.
//!
//! Limits: a path is at most [`MAX_PATH_LEN`] bytes of `[A-Za-z0-9_\-=/.]` (Grafana's channel
//! id limit is 160 characters, `ds/<uid>/` included); longer or other input is rejected before
//! anything is allocated for it. A query whose channel id would be longer is refused with an
//! error naming the limit (escaping makes a topic up to three times longer, so long topics,
//! time paths and field lists run into it first).

use std::fmt::{self, Write as _};

use serde_json::{Map, Number, Value as Json};

use crate::query::{FeedSpec, Signal, SourceSpec, StreamSpec};
use crate::PluginError;

/// Grafana's limit on a whole channel id (`ds/<uid>/<path>`).
pub const MAX_CHANNEL_LEN: usize = 160;

/// The longest path accepted: the channel limit less the shortest `ds/<uid>/` prefix.
pub const MAX_PATH_LEN: usize = MAX_CHANNEL_LEN - 5;

/// The current encoding version (the first segment).
const VERSION: &str = "v1";

/// A validated, canonical channel path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelPath(String);

impl ChannelPath {
    /// The path of a stream.
    pub fn of(spec: &StreamSpec) -> Self {
        let mut p = String::with_capacity(64);
        p.push_str(VERSION);
        match &spec.source {
            SourceSpec::Signal(signal) => {
                p.push('/');
                p.push_str(signal.kind().as_str());
                for (key, value) in params(signal) {
                    let _ = write!(p, "/{key}={}", Num(value));
                }
                let _ = write!(p, "/tick={}/cap={}", spec.tick_ms, spec.capacity);
                if let Some(seed) = spec.seed {
                    let _ = write!(p, "/seed={seed}");
                }
                let _ = write!(p, "/backfill={}", u8::from(spec.backfill));
            }
            SourceSpec::Mqtt { topic, feed } => {
                feed_path(&mut p, "mqtt", spec, feed);
                p.push_str("/topic/");
                escape(&mut p, topic, Escape::Tail);
            }
            SourceSpec::WebSocket { path, feed } => {
                feed_path(&mut p, "ws", spec, feed);
                p.push_str("/path/");
                escape(&mut p, path.strip_prefix('/').unwrap_or(path), Escape::Tail);
            }
        }
        ChannelPath(p)
    }

    /// Parses an untrusted path into the stream it names.
    ///
    /// # Errors
    /// [`PluginError::BadPath`] for anything that is not the canonical path of a valid
    /// stream; the message says what is wrong without echoing more than the first 40 bytes.
    pub fn parse(path: &str) -> Result<(ChannelPath, StreamSpec), PluginError> {
        let bad = |why: &str| {
            let shown: String = path.chars().take(40).collect();
            PluginError::BadPath(format!("{shown:?}: {why}"))
        };
        if path.len() > MAX_PATH_LEN {
            return Err(bad(&format!("longer than {MAX_PATH_LEN} bytes")));
        }
        if !path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-=/.".contains(&b))
        {
            return Err(bad("only [A-Za-z0-9_-=/.] may appear in a path"));
        }
        let mut segments = path.split('/');
        if segments.next() != Some(VERSION) {
            return Err(bad("unknown version (expected v1/...)"));
        }
        let kind = segments.next().ok_or_else(|| bad("no signal"))?;
        let mut query = Map::new();
        if kind == "mqtt" || kind == "ws" {
            let (source, marker, key) = if kind == "mqtt" {
                ("mqtt", "topic", "topic")
            } else {
                ("websocket", "path", "path")
            };
            query.insert("source".into(), Json::String(source.into()));
            let mut rest = path[VERSION.len() + 1 + kind.len()..]
                .strip_prefix('/')
                .ok_or_else(|| bad("no parameters"))?;
            let mut fields = Vec::new();
            let tail = loop {
                let (segment, after) = rest
                    .split_once('/')
                    .ok_or_else(|| bad(&format!("no /{marker}/ segment")))?;
                rest = after;
                if segment == marker {
                    break after;
                }
                let (k, value) = segment
                    .split_once('=')
                    .ok_or_else(|| bad("expected key=value segments"))?;
                let (query_key, value) = match k {
                    "tick" => ("tickMs", number(value)),
                    "cap" => ("capacity", number(value)),
                    "backfill" => ("backfill", flag(value)),
                    "time" => ("timePath", unescape(value).map(Json::String)),
                    "field" => {
                        let name = unescape(value).ok_or_else(|| bad("bad field name"))?;
                        fields.push(Json::String(name));
                        continue;
                    }
                    _ => return Err(bad(&format!("unknown parameter {k:?}"))),
                };
                let value = value.ok_or_else(|| bad(&format!("bad value for {k}")))?;
                if query.insert(query_key.into(), value).is_some() {
                    return Err(bad(&format!("{k} given twice")));
                }
            };
            if !fields.is_empty() {
                query.insert("fields".into(), Json::Array(fields));
            }
            let mut target = unescape(tail).ok_or_else(|| bad(&format!("bad {key}")))?;
            if kind == "ws" {
                target.insert(0, '/');
            }
            query.insert(key.into(), Json::String(target));
        } else {
            query.insert("source".into(), Json::String("signal".into()));
            query.insert("signal".into(), Json::String(kind.into()));
            for segment in segments {
                let (key, value) = segment
                    .split_once('=')
                    .ok_or_else(|| bad("expected key=value segments"))?;
                let (query_key, value) = match key {
                    "tick" => ("tickMs", number(value)),
                    "cap" => ("capacity", number(value)),
                    "period" => ("periodMs", number(value)),
                    "backfill" => ("backfill", flag(value)),
                    "seed" | "start" | "spread" | "min" | "max" | "amplitude" | "offset"
                    | "step" => (key, number(value)),
                    _ => return Err(bad(&format!("unknown parameter {key:?}"))),
                };
                let value = value.ok_or_else(|| bad(&format!("bad value for {key}")))?;
                if query.insert(query_key.into(), value).is_some() {
                    return Err(bad(&format!("{key} given twice")));
                }
            }
        }
        let spec = StreamSpec::from_object(&query).map_err(|e| bad(&e.to_string()))?;
        let canonical = ChannelPath::of(&spec);
        if canonical.0 != path {
            return Err(bad("not in canonical form"));
        }
        Ok((canonical, spec))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full Grafana Live channel id for a datasource.
    ///
    /// # Errors
    /// [`PluginError::BadPath`] when the id would exceed Grafana's 160 characters.
    pub fn channel_id(&self, datasource_uid: &str) -> Result<String, PluginError> {
        let id = format!("ds/{datasource_uid}/{}", self.0);
        if id.len() > MAX_CHANNEL_LEN {
            return Err(PluginError::BadPath(format!(
                "the channel id would be {} characters, above Grafana's {MAX_CHANNEL_LEN}; \
                 shorten the query's parameters (a signal's numbers; an MQTT topic, a \
                 WebSocket path, `timePath` or `fields`)",
                id.len()
            )));
        }
        Ok(id)
    }
}

impl fmt::Display for ChannelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The common part of a feed's path: kind, tick, capacity, backfill, time path, fields.
fn feed_path(p: &mut String, kind: &str, spec: &StreamSpec, feed: &FeedSpec) {
    let _ = write!(
        p,
        "/{kind}/tick={}/cap={}/backfill={}",
        spec.tick_ms,
        spec.capacity,
        u8::from(spec.backfill)
    );
    if let Some(time) = &feed.time_path {
        p.push_str("/time=");
        escape(p, time, Escape::Segment);
    }
    for field in feed.fields.iter().flatten() {
        p.push_str("/field=");
        escape(p, field, Escape::Segment);
    }
}

/// Which bytes stay as they are.
#[derive(Clone, Copy, PartialEq)]
enum Escape {
    /// Inside a `key=value` segment: `[A-Za-z0-9_.-]`.
    Segment,
    /// The trailing topic or path: `[A-Za-z0-9_-]` and `/` (`.` is escaped so that no
    /// segment reads `.` or `..`).
    Tail,
}

/// Appends `s` escaped: bytes that may not stay become `=HH`.
fn escape(out: &mut String, s: &str, mode: Escape) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || b == b'_'
            || b == b'-'
            || match mode {
                Escape::Segment => b == b'.',
                Escape::Tail => b == b'/',
            };
        if keep {
            out.push(char::from(b));
        } else {
            out.push('=');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// Reverses [`escape`]: `None` for a malformed escape or bytes that are not UTF-8 (whether
/// the escaping was the canonical one is checked by re-encoding).
fn unescape(s: &str) -> Option<String> {
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut bytes = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        if b == b'=' {
            let (h, l) = (hex(it.next()?)?, hex(it.next()?)?);
            bytes.push(h << 4 | l);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

/// A path's `0` or `1` as a JSON boolean.
fn flag(s: &str) -> Option<Json> {
    match s {
        "1" => Some(Json::Bool(true)),
        "0" => Some(Json::Bool(false)),
        _ => None,
    }
}

/// A signal's parameters in path order.
fn params(signal: &Signal) -> Vec<(&'static str, f64)> {
    match *signal {
        Signal::RandomWalk { start, spread } => vec![("start", start), ("spread", spread)],
        Signal::Random { min, max } => vec![("min", min), ("max", max)],
        Signal::Wave {
            amplitude,
            period_ms,
            offset,
            ..
        } => vec![
            ("amplitude", amplitude),
            ("period", period_ms as f64),
            ("offset", offset),
        ],
        Signal::Counter { offset, step } => vec![("offset", offset), ("step", step)],
    }
}

/// A path value as a JSON number: integers stay integers (so they validate as integers).
fn number(s: &str) -> Option<Json> {
    if s.is_empty() || s.len() > 32 {
        return None;
    }
    if let Ok(u) = s.parse::<u64>() {
        return Some(Json::Number(u.into()));
    }
    s.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Json::Number)
}

/// A number in its shortest exact form, integral values without a fraction.
struct Num(f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let x = if self.0 == 0.0 { 0.0 } else { self.0 }; // -0 and 0 are one stream
        if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
            write!(f, "{}", x as i64)
        } else {
            f.write_str(ryu::Buffer::new().format_finite(x))
        }
    }
}
