//! Channel paths: a stream's parameters, encoded so that the path alone recreates the stream.
//!
//! Grafana hands SubscribeStream and RunStream only the path of `ds/<uid>/<path>` (their
//! request data is empty), and any viewer can ask for any path. So the path is
//! self-describing, canonical and validated exactly like a query:
//!
//! `v1/<signal>/<param>=<value>/…/tick=<ms>/cap=<rows>[/seed=<n>]/backfill=<0|1>`
//!
//! e.g. `v1/random_walk/start=0/spread=1/tick=100/cap=1000/backfill=1`. Parameters appear in
//! a fixed order, only those of the signal's kind, numbers in their shortest exact form.
//! Parsing re-encodes the result and accepts the path only if it comes out identical, so
//! every stream has exactly one path and identical panels share one RunStream.
//!
//! Limits: a path is at most [`MAX_PATH_LEN`] bytes of `[A-Za-z0-9_\-=/.]` (Grafana's channel
//! id limit is 160 characters, `ds/<uid>/` included); longer or other input is rejected before
//! anything is allocated for it.

use std::fmt::{self, Write as _};

use serde_json::{Map, Number, Value as Json};

use crate::query::{Signal, SourceSpec, StreamSpec};
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
        let SourceSpec::Signal(signal) = spec.source;
        p.push('/');
        p.push_str(signal.kind().as_str());
        for (key, value) in params(&signal) {
            let _ = write!(p, "/{key}={}", Num(value));
        }
        let _ = write!(p, "/tick={}/cap={}", spec.tick_ms, spec.capacity);
        if let Some(seed) = spec.seed {
            let _ = write!(p, "/seed={seed}");
        }
        let _ = write!(p, "/backfill={}", u8::from(spec.backfill));
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
                "backfill" => (
                    "backfill",
                    match value {
                        "1" => Some(Json::Bool(true)),
                        "0" => Some(Json::Bool(false)),
                        _ => None,
                    },
                ),
                "seed" | "start" | "spread" | "min" | "max" | "amplitude" | "offset" | "step" => {
                    (key, number(value))
                }
                _ => return Err(bad(&format!("unknown parameter {key:?}"))),
            };
            let value = value.ok_or_else(|| bad(&format!("bad value for {key}")))?;
            if query.insert(query_key.into(), value).is_some() {
                return Err(bad(&format!("{key} given twice")));
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
                 use shorter numbers in the query's parameters",
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
