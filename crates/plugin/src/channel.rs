//! Channel paths: a stream's parameters, encoded so that the path alone recreates the stream.
//!
//! Grafana hands SubscribeStream and RunStream only the path of `ds/<uid>/<path>` (their
//! request data is empty), and any viewer can ask for any path. So the path is
//! self-describing, canonical and validated exactly like a query: each source's
//! [`Layout`] says how its paths read, and each segment is written, decoded and checked by
//! its parameter's one declaration ([`crate::param`]), never through query JSON. The forms
//! of today's sources, all `v1`:
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
//! **The cursor.** For a stream whose engine keeps history ([`SourceKind::keeps_history`]),
//! QueryData names a channel path with one more segment, `/from=<position>`: the engine
//! position (decimal, `0` or without leading zeros, at most [`MAX_POSITION_DIGITS`] digits,
//! at most `u128::MAX`) of the first row its frame does not hold ([`ChannelPath::with_cursor`]).
//! The stream is the canonical path's (one channel, one producer); the cursor tells that
//! path's RunStream where to start ([`ChannelPath::parse_live`]). The cursor is added only when
//! the channel id keeps within Grafana's limit with the longest cursor ([`CURSOR_LEN`]); a
//! stream whose canonical id leaves no room for it streams without one, as other sources do.
//! A cursor on any other stream, or in any other form, is not found.
//!
//! Limits: a path is at most [`MAX_PATH_LEN`] bytes of `[A-Za-z0-9_\-=/.]` (Grafana's channel
//! id limit is 160 characters, `ds/<uid>/` included); longer or other input is rejected before
//! anything is allocated for it. A query whose channel id would be longer is refused with an
//! error naming the limit (escaping makes a topic up to three times longer, so long topics,
//! time paths and field lists run into it first).

use std::fmt;

use crate::param::{Param, Value, Values};
use crate::query::{StreamSpec, COMMON};
use crate::source::{Layout, Position, SourceKind, Variant, SOURCES, VARIANT_PARAMS};
use crate::PluginError;

/// Grafana's limit on a whole channel id (`ds/<uid>/<path>`).
pub const MAX_CHANNEL_LEN: usize = 160;

/// The longest path accepted: the channel limit less the shortest `ds/<uid>/` prefix.
pub const MAX_PATH_LEN: usize = MAX_CHANNEL_LEN - 5;

/// The current encoding version (the first segment).
const VERSION: &str = "v1";

/// The cursor segment's key (`/from=<position>`).
const CURSOR_KEY: &str = "from=";

/// The most digits of a cursor: `u128::MAX` has 39.
pub const MAX_POSITION_DIGITS: usize = 39;

/// The most bytes a cursor segment adds to a path: `/from=` and 39 digits.
pub const CURSOR_LEN: usize = 1 + CURSOR_KEY.len() + MAX_POSITION_DIGITS;

/// A parsed channel path: the stream, and the cursor its path carries (engine streams only).
#[derive(Debug, Clone)]
pub struct LivePath {
    /// The canonical path of the stream (the channel's key).
    pub path: ChannelPath,
    /// The stream.
    pub spec: StreamSpec,
    /// The engine position the path's RunStream starts at, when the path carries one.
    pub from: Option<Position>,
}

/// A validated, canonical channel path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelPath(String);

impl ChannelPath {
    /// The path of a stream: its source's [`Layout`], each parameter by its declaration.
    pub fn of(spec: &StreamSpec) -> Self {
        let layout = spec.source.layout();
        let mut p = String::with_capacity(64);
        p.push_str(VERSION);
        p.push('/');
        p.push_str(layout.segment.unwrap_or(spec.variant.name));
        let common = [
            Value::Integer(spec.tick_ms),
            Value::Integer(spec.capacity as u64),
            Value::Boolean(spec.backfill),
        ];
        for key in layout.order {
            if *key == VARIANT_PARAMS {
                for param in spec.variant.params {
                    write_param(&mut p, param, spec.values.get(param.name));
                }
            } else if let Some(i) = COMMON.iter().position(|c| c.name == *key) {
                write_param(&mut p, &COMMON[i], Some(&common[i]));
            } else if let Some(param) = spec.source.params().iter().find(|q| q.name == *key) {
                write_param(&mut p, param, spec.values.get(param.name));
            }
        }
        if let Some(tail) = layout.tail {
            p.push('/');
            p.push_str(tail.marker);
            p.push('/');
            let text = spec.values.text(tail.param).unwrap_or("");
            let text = tail
                .strip_prefix
                .and_then(|pre| text.strip_prefix(pre))
                .unwrap_or(text);
            escape(&mut p, text, Escape::Tail);
        }
        ChannelPath(p)
    }

    /// Parses an untrusted path that may carry a cursor (`…/from=<position>`, see the
    /// module docs): SubscribeStream's and RunStream's paths.
    ///
    /// # Errors
    /// As [`ChannelPath::parse`]; also for a cursor that is not canonical decimal, is longer
    /// than [`MAX_POSITION_DIGITS`] or above `u128::MAX`, or is on a stream whose engine keeps
    /// no history.
    pub fn parse_live(path: &str) -> Result<LivePath, PluginError> {
        // Checked before the split, so the bound holds for the whole path.
        let (path_only, cursor) = match path.rsplit_once('/') {
            Some((head, last)) if last.starts_with(CURSOR_KEY) && path.len() <= MAX_PATH_LEN => {
                (head, Some(&last[CURSOR_KEY.len()..]))
            }
            _ => (path, None),
        };
        let whole = || {
            Self::parse(path).map(|(path, spec)| LivePath {
                path,
                spec,
                from: None,
            })
        };
        let Some(digits) = cursor else {
            return whole();
        };
        let canonical_digits = !digits.is_empty()
            && digits.len() <= MAX_POSITION_DIGITS
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        let from = canonical_digits
            .then(|| digits.parse::<Position>().ok())
            .flatten();
        match (from, Self::parse(path_only)) {
            (Some(from), Ok((path, spec))) if spec.source.keeps_history(&spec) => Ok(LivePath {
                path,
                spec,
                from: Some(from),
            }),
            // Not a cursor of an engine's stream: the path is read whole, so a last segment
            // that merely looks like one (a topic's) means what it always did, and anything
            // else is refused as not canonical.
            _ => whole(),
        }
    }

    /// Parses an untrusted path into the stream it names: each segment decoded and checked
    /// by its parameter's declaration, the whole by its source's rules. A path with a cursor
    /// is refused: see [`ChannelPath::parse_live`].
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
        let rest = path
            .strip_prefix(VERSION)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| bad("unknown version (expected v1/...)"))?;
        let (segment, mut rest) = rest.split_once('/').unwrap_or((rest, ""));
        let (source, variant) = find_source(segment).ok_or_else(|| bad("no such stream"))?;
        let layout = source.layout();
        let allowed = path_params(source, variant, &layout);
        let mut found: Vec<(&'static str, Value)> = Vec::new();
        let mut tail_text = None;
        while !rest.is_empty() {
            let (seg, after) = rest.split_once('/').unwrap_or((rest, ""));
            rest = after;
            if let Some(tail) = layout.tail.filter(|t| t.marker == seg) {
                let text = unescape(after).ok_or_else(|| bad(&format!("bad {}", tail.param)))?;
                tail_text = Some(format!("{}{text}", tail.strip_prefix.unwrap_or("")));
                break;
            }
            let (key, text) = seg
                .split_once('=')
                .ok_or_else(|| bad("expected key=value segments"))?;
            let param = allowed
                .iter()
                .find(|p| p.path_key == key)
                .ok_or_else(|| bad(&format!("unknown parameter {key:?}")))?;
            let value = param
                .read_path_value(text)
                .ok_or_else(|| bad(&format!("bad value for {key}")))?;
            match (found.iter_mut().find(|(n, _)| *n == param.name), value) {
                (Some((_, Value::Names(names))), Value::Names(more)) => names.extend(more),
                (Some(_), _) => return Err(bad(&format!("{key} given twice"))),
                (None, value) => found.push((param.name, value)),
            }
        }
        if let Some(tail) = layout.tail {
            let text = tail_text.ok_or_else(|| bad(&format!("no /{}/ segment", tail.marker)))?;
            found.push((tail.param, Value::Text(text)));
        }
        let spec = build(source, variant, found).map_err(|e| bad(&e.to_string()))?;
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

    /// The channel id of this stream's path with the cursor `from` (see the module docs), or
    /// `None` when the id with the longest cursor would exceed Grafana's limit.
    pub fn with_cursor(&self, datasource_uid: &str, from: Position) -> Option<String> {
        let longest = "ds/".len() + datasource_uid.len() + 1 + self.0.len() + CURSOR_LEN;
        (longest <= MAX_CHANNEL_LEN)
            .then(|| format!("ds/{datasource_uid}/{}/{CURSOR_KEY}{from}", self.0))
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

/// The source a path's second segment names: a source's own segment, or a variant of a
/// source whose paths start with the variant's name.
fn find_source(segment: &str) -> Option<(&'static dyn SourceKind, &'static Variant)> {
    SOURCES
        .iter()
        .copied()
        .find_map(|source| match source.layout().segment {
            Some(s) if s == segment => Some((source, &source.variants()[0])),
            Some(_) => None,
            None => source
                .variants()
                .iter()
                .find(|v| v.name == segment)
                .map(|v| (source, v)),
        })
}

/// The parameters a path of `source` (and `variant`) may hold as `key=value` segments.
fn path_params(
    source: &'static dyn SourceKind,
    variant: &'static Variant,
    layout: &Layout,
) -> Vec<&'static Param> {
    let mut out = Vec::new();
    for key in layout.order {
        if *key == VARIANT_PARAMS {
            out.extend(variant.params.iter());
        } else if let Some(p) = COMMON.iter().find(|c| c.name == *key) {
            out.push(p);
        } else if let Some(p) = source.params().iter().find(|p| p.name == *key) {
            out.push(p);
        }
    }
    out
}

/// The spec of a parsed path: every value checked by its parameter (absent ones take
/// their defaults, as in a query), the source's rules last.
fn build(
    source: &'static dyn SourceKind,
    variant: &'static Variant,
    mut found: Vec<(&'static str, Value)>,
) -> Result<StreamSpec, crate::query::QueryError> {
    let mut take = |p: &Param| -> Result<Option<Value>, crate::query::QueryError> {
        match found.iter().position(|(n, _)| *n == p.name) {
            Some(i) => p.check(found.swap_remove(i).1).map(Some),
            None => p.read(&serde_json::Map::new()),
        }
    };
    let integer = |v: Option<Value>| match v {
        Some(Value::Integer(x)) => x,
        _ => 0,
    };
    let tick_ms = integer(take(&COMMON[0])?);
    let capacity = integer(take(&COMMON[1])?) as usize;
    let backfill = matches!(take(&COMMON[2])?, Some(Value::Boolean(true)));
    let mut values = Values::default();
    for p in source.params().iter().chain(variant.params) {
        if let Some(v) = take(p)? {
            values.set(p.name, v);
        }
    }
    StreamSpec::checked(
        source,
        variant,
        values,
        [tick_ms, capacity as u64],
        backfill,
    )
}

/// Writes `/<path key>=<value>` for a present value (`/field=<name>` per name of a list).
fn write_param(p: &mut String, param: &Param, value: Option<&Value>) {
    match value {
        None => {}
        Some(Value::Names(names)) => {
            for name in names {
                p.push('/');
                p.push_str(param.path_key);
                p.push('=');
                escape(p, name, Escape::Segment);
            }
        }
        Some(v) => {
            p.push('/');
            p.push_str(param.path_key);
            p.push('=');
            param.write_path_value(v, p);
        }
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

/// Appends `s` as a `key=value` segment's value: bytes outside `[A-Za-z0-9_.-]` become `=HH`.
pub(crate) fn escape_segment(out: &mut String, s: &str) {
    escape(out, s, Escape::Segment);
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
pub(crate) fn unescape(s: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn jetstream() -> ChannelPath {
        let spec = StreamSpec::from_json_bytes(
            br#"{"source":"nats","subject":"plant.a","stream":"PLANT"}"#,
        )
        .unwrap();
        ChannelPath::of(&spec)
    }

    #[test]
    fn a_cursor_on_an_engine_stream_reads_back_and_keys_the_canonical_path() {
        let path = jetstream();
        let id = path.with_cursor("uid", 12).unwrap();
        assert_eq!(id, format!("ds/uid/{path}/from=12"));
        let live = ChannelPath::parse_live(&format!("{path}/from=12")).unwrap();
        assert_eq!((live.path, live.from), (path.clone(), Some(12)));
        let max = u128::MAX.to_string();
        assert_eq!(max.len(), MAX_POSITION_DIGITS);
        let live = ChannelPath::parse_live(&format!("{path}/from={max}")).unwrap();
        assert_eq!(live.from, Some(u128::MAX));
        let live = ChannelPath::parse_live(&format!("{path}/from=0")).unwrap();
        assert_eq!(live.from, Some(0));
        let live = ChannelPath::parse_live(path.as_str()).unwrap();
        assert_eq!(live.from, None);
        // The canonical parser takes no cursor.
        assert!(ChannelPath::parse(&format!("{path}/from=12")).is_err());
    }

    #[test]
    fn hostile_cursors_are_not_found() {
        let path = jetstream();
        let over = "340282366920938463463374607431768211456"; // u128::MAX + 1
        for bad in [
            "from=",
            "from=012",
            "from=00",
            "from=+1",
            "from=-1",
            "from=1e3",
            "from=0x10",
            "from=1.0",
            "from=1 ",
            "from=%31",
            "from=1=2",
            "from=1/from=2",
            over,
            "from=1000000000000000000000000000000000000000", // 40 digits
        ] {
            let bad = if bad == over {
                format!("{path}/from={over}")
            } else {
                format!("{path}/{bad}")
            };
            assert!(
                matches!(ChannelPath::parse_live(&bad), Err(PluginError::BadPath(_))),
                "{bad:?} was accepted"
            );
        }
        // A cursor before the stream's segments, or twice.
        let (head, tail) = path.as_str().split_once("/subject/").unwrap();
        for bad in [
            format!("{head}/from=1/subject/{tail}"),
            format!("{path}/from=1/from=1"),
        ] {
            assert!(
                ChannelPath::parse_live(&bad).is_err(),
                "{bad:?} was accepted"
            );
        }
        // Streams no engine keeps take none: signals, core NATS, MQTT.
        let core = ChannelPath::of(
            &StreamSpec::from_json_bytes(br#"{"source":"nats","subject":"plant.a"}"#).unwrap(),
        );
        let signal = ChannelPath::of(&StreamSpec::default());
        let mqtt = ChannelPath::of(
            &StreamSpec::from_json_bytes(br#"{"source":"mqtt","topic":"a/b"}"#).unwrap(),
        );
        for other in [core, signal, mqtt] {
            assert!(
                ChannelPath::parse_live(&format!("{other}/from=1")).is_err(),
                "{other}"
            );
        }
    }

    #[test]
    fn the_cursor_is_left_out_when_the_longest_would_pass_grafanas_limit() {
        let path = jetstream();
        let room = MAX_CHANNEL_LEN - "ds//".len() - path.as_str().len() - CURSOR_LEN;
        let fits = "u".repeat(room);
        let id = path.with_cursor(&fits, u128::MAX).unwrap();
        assert_eq!(id.len(), MAX_CHANNEL_LEN);
        assert!(ChannelPath::parse_live(&id[fits.len() + 4..]).is_ok());
        assert_eq!(path.with_cursor(&format!("{fits}u"), 1), None);
        // A path at the length limit with a cursor is refused before it is parsed.
        let long = format!("{path}/from={}", "1".repeat(MAX_PATH_LEN));
        assert!(ChannelPath::parse_live(&long)
            .unwrap_err()
            .to_string()
            .contains("longer than"));
    }
}
