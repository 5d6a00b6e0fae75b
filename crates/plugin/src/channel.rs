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
//! Limits: a path is at most [`MAX_PATH_LEN`] bytes of `[A-Za-z0-9_\-=/.]` (Grafana's channel
//! id limit is 160 characters, `ds/<uid>/` included); longer or other input is rejected before
//! anything is allocated for it. A query whose channel id would be longer is refused with an
//! error naming the limit (escaping makes a topic up to three times longer, so long topics,
//! time paths and field lists run into it first).

use std::fmt;

use crate::param::{Param, Value, Values};
use crate::query::{StreamSpec, COMMON};
use crate::source::{Layout, SourceKind, Variant, SOURCES, VARIANT_PARAMS};
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

    /// Parses an untrusted path into the stream it names: each segment decoded and checked
    /// by its parameter's declaration, the whole by its source's rules.
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
