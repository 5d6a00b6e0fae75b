//! Grafana's DataFrameJSON wire format: what Grafana Live forwards to a panel, verbatim.
//!
//! A message is `{"schema": {...}, "data": {"values": [[col0...], ...]}}`; either part may be
//! left out. Time values are epoch milliseconds, with a `nanos` array per time field holding
//! the sub-millisecond remainder (written only when some remainder is non-zero); NaN and ±Inf
//! are written as `null` and listed in `entities`. See `DataFrameJSON.ts` in `@grafana/data`
//! and `frame_json.go` in grafana-plugin-sdk-go.
//!
//! - [`write_message`]: the whole frame (schema, data, or both), rows in the frame's order:
//!   QueryData's frame and SubscribeStream's initial data.
//! - [`write_rows_since`]: the rows since a sequence number, oldest first: a delta packet.
//! - [`StreamEncoder`]: a RunStream's encoder: the schema once (and again only when it
//!   changed), then data-only packets of the new rows.
//!
//! Everything writes into a caller's `String`, so a stream can reuse one buffer.

use std::fmt::Write as _;

use crate::{FieldConfig, FieldType, FrameMeta, Labels, RingFrame, Row, Rows, Value};

/// Which parts of the frame a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    /// Schema and data.
    All,
    /// The schema alone.
    SchemaOnly,
    /// The data alone.
    DataOnly,
}

/// Writes the whole frame as one DataFrameJSON message, rows in the frame's order.
pub fn write_message(frame: &RingFrame, include: Include, out: &mut String) {
    out.push('{');
    if include != Include::DataOnly {
        out.push_str("\"schema\":");
        write_schema(frame, out);
    }
    if include != Include::SchemaOnly {
        if include == Include::All {
            out.push(',');
        }
        out.push_str("\"data\":");
        write_data(frame, frame.rows(), out);
    }
    out.push('}');
}

/// The whole frame, schema and data, as a new string.
pub fn snapshot(frame: &RingFrame) -> String {
    let mut out = String::with_capacity(64 + 32 * frame.len() * frame.fields().len());
    write_message(frame, Include::All, &mut out);
    out
}

/// What a delta held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delta {
    /// Rows written.
    pub rows: usize,
    /// Rows since the asked-for sequence number that the ring had already dropped.
    pub missed: u64,
    /// The sequence number to ask for next time.
    pub next_seq: u64,
}

/// Writes the rows whose sequence number is `since` or later, oldest first, as one message,
/// with the schema too when `with_schema`.
pub fn write_rows_since(
    frame: &RingFrame,
    since: u64,
    with_schema: bool,
    out: &mut String,
) -> Delta {
    let rows = frame.rows_since(since);
    write_rows(frame, rows.rows(), with_schema, out);
    Delta {
        rows: rows.rows().len(),
        missed: rows.missed(),
        next_seq: frame.next_seq(),
    }
}

/// Writes `rows` (from [`RingFrame::rows`], [`RingFrame::rows_since`] or
/// [`RingFrame::rows_between`]) as one message, with the schema too when `with_schema`.
pub fn write_rows(frame: &RingFrame, rows: Rows<'_>, with_schema: bool, out: &mut String) {
    out.push('{');
    if with_schema {
        out.push_str("\"schema\":");
        write_schema(frame, out);
        out.push(',');
    }
    out.push_str("\"data\":");
    write_data(frame, rows, out);
    out.push('}');
}

/// At most how many bytes `row`'s cells take in a DataFrameJSON `data` object: numbers and
/// times at their longest form (with room for `entities` and `nanos`), strings exactly as
/// escaped. What a caller that must keep a message under a size sums before writing.
pub fn row_bytes_bound(row: &Row<'_>) -> usize {
    row.values()
        .map(|cell| match cell {
            Value::Null | Value::Boolean(_) => 6,
            Value::Time(_) | Value::Number(_) => 32,
            Value::String(s) => 3 + escaped_len(s),
        })
        .sum()
}

/// The length of `s` as a JSON string's contents (quotes excluded).
fn escaped_len(s: &str) -> usize {
    s.len()
        + s.bytes()
            .map(|b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
                0..=0x1f => 5,
                _ => 0,
            })
            .sum::<usize>()
}

/// A RunStream's encoder: the first packet carries the schema, later ones only the new rows,
/// and the schema again whenever it changed (a field added, labels, config, name or meta).
#[derive(Debug, Clone, Default)]
pub struct StreamEncoder {
    next_seq: u64,
    /// The schema last sent, as written; `None` before the first packet.
    sent_schema: Option<String>,
    /// `RingFrame::schema_version` when the schema was last compared.
    checked_version: Option<u64>,
    scratch: String,
}

/// What [`StreamEncoder::next_packet`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Rows in the packet.
    pub rows: usize,
    /// Whether the packet carries the schema.
    pub schema: bool,
    /// Rows the encoder never saw because the ring dropped them first (a gap).
    pub missed: u64,
}

impl StreamEncoder {
    /// An encoder whose first packet carries the schema and every row from sequence `seq` on
    /// (0 for the whole ring; a subscriber that got a snapshot taken at `next_seq = n` wants n).
    pub fn starting_at(seq: u64) -> Self {
        Self {
            next_seq: seq,
            ..Self::default()
        }
    }

    /// The sequence number of the first row not yet sent.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Never sends the rows before `seq` (the subscriber has them from elsewhere); rows
    /// skipped so do not count as missed.
    pub fn skip_to(&mut self, seq: u64) {
        self.next_seq = self.next_seq.max(seq);
    }

    /// Writes the next packet into `out` (cleared first) and returns what it holds, or
    /// returns `None` and leaves `out` empty when there is nothing new to send.
    pub fn next_packet(&mut self, frame: &RingFrame, out: &mut String) -> Option<Packet> {
        self.next_packet_within(frame, usize::MAX, out)
    }

    /// [`next_packet`](Self::next_packet), holding only as many of the new rows (oldest
    /// first, at least one) as keep the data under `max_bytes` by [`row_bytes_bound`]; the
    /// rest come with the next packet ([`StreamEncoder::has_more`]).
    pub fn next_packet_within(
        &mut self,
        frame: &RingFrame,
        max_bytes: usize,
        out: &mut String,
    ) -> Option<Packet> {
        out.clear();
        let schema = self.schema_changed(frame);
        let all = frame.rows_since(self.next_seq);
        let mut bytes = 0_usize;
        let fitting = if max_bytes == usize::MAX {
            all.rows().len()
        } else {
            all.rows()
                .take_while(|row| {
                    bytes = bytes.saturating_add(row_bytes_bound(row));
                    bytes <= max_bytes
                })
                .count()
                .max(1)
        };
        let first = self.next_seq.max(frame.first_seq());
        let end = (first + fitting as u64).min(frame.next_seq());
        let since = frame.rows_between(self.next_seq, end);
        let rows = since.rows().len();
        if rows == 0 && !schema {
            return None;
        }
        out.push('{');
        if schema {
            out.push_str("\"schema\":");
            out.push_str(self.sent_schema.as_deref().unwrap_or("{}"));
            if rows > 0 {
                out.push(',');
            }
        }
        if rows > 0 {
            out.push_str("\"data\":");
            write_data(frame, since.rows(), out);
        }
        out.push('}');
        self.next_seq = end.max(self.next_seq);
        Some(Packet {
            rows,
            schema,
            missed: since.missed(),
        })
    }

    /// Whether `frame` holds rows this encoder has not sent yet.
    pub fn has_more(&self, frame: &RingFrame) -> bool {
        self.next_seq < frame.next_seq()
    }

    /// Whether the schema differs from the one last sent; remembers the new one if so.
    fn schema_changed(&mut self, frame: &RingFrame) -> bool {
        if self.checked_version == Some(frame.schema_version()) && self.sent_schema.is_some() {
            return false;
        }
        self.checked_version = Some(frame.schema_version());
        self.scratch.clear();
        write_schema(frame, &mut self.scratch);
        if self.sent_schema.as_deref() == Some(self.scratch.as_str()) {
            return false;
        }
        self.sent_schema = Some(self.scratch.clone());
        true
    }
}

// ---- schema -----------------------------------------------------------------------------

/// Writes the schema object: name, refId, meta and the fields with their type info, labels
/// and config.
pub fn write_schema(frame: &RingFrame, out: &mut String) {
    out.push('{');
    let mut obj = Obj::new();
    if let Some(name) = frame.name() {
        obj.key(out, "name");
        write_str(out, name);
    }
    if let Some(ref_id) = frame.ref_id() {
        obj.key(out, "refId");
        write_str(out, ref_id);
    }
    if !frame.meta().is_empty() {
        obj.key(out, "meta");
        write_meta(frame.meta(), out);
    }
    obj.key(out, "fields");
    out.push('[');
    for (j, field) in frame.fields().iter().enumerate() {
        if j > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        write_str(out, field.name());
        let (ty, go_type) = match field.field_type() {
            FieldType::Time => ("time", "time.Time"),
            FieldType::Number => ("number", "float64"),
            FieldType::String => ("string", "string"),
            FieldType::Boolean => ("boolean", "bool"),
        };
        let _ = write!(
            out,
            ",\"type\":\"{ty}\",\"typeInfo\":{{\"frame\":\"{go_type}\",\"nullable\":true}}"
        );
        if !field.labels.is_empty() {
            out.push_str(",\"labels\":");
            write_labels(&field.labels, out);
        }
        if !field.config.is_empty() {
            out.push_str(",\"config\":");
            write_config(&field.config, out);
        }
        out.push('}');
    }
    out.push_str("]}");
}

/// Writes Grafana's frame meta object as grafana-plugin-sdk-go's `FrameMeta` marshals it:
/// keys in Go's struct order (`typeVersion`, always `[0,0]` as Go has no `omitempty` on it;
/// `notices`; `channel`; `preferredVisualisationType`; `executedQueryString`), unset ones left
/// out. Used by both DataFrameJSON and the Arrow metadata, so the two always agree.
pub fn write_meta(meta: &FrameMeta, out: &mut String) {
    out.push_str("{\"typeVersion\":[0,0]");
    if !meta.notices.is_empty() {
        out.push_str(",\"notices\":[");
        for (i, notice) in meta.notices.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"severity\":\"{}\",\"text\":",
                notice.severity.as_str()
            );
            write_str(out, &notice.text);
            out.push('}');
        }
        out.push(']');
    }
    for (key, value) in [
        ("channel", &meta.channel),
        (
            "preferredVisualisationType",
            &meta.preferred_visualisation_type,
        ),
        ("executedQueryString", &meta.executed_query_string),
    ] {
        if let Some(v) = value {
            let _ = write!(out, ",\"{key}\":");
            write_str(out, v);
        }
    }
    out.push('}');
}

/// Writes a field's config as grafana-plugin-sdk-go's `FieldConfig` marshals it: keys in
/// Go's struct order (`displayName`, `displayNameFromDS`, `description`, `unit`, `decimals`,
/// `min`, `max`), unset ones left out, a NaN or infinite `min`/`max` as `null` (Go's
/// `ConfFloat64`).
pub fn write_config(config: &FieldConfig, out: &mut String) {
    out.push('{');
    let mut obj = Obj::new();
    for (key, value) in [
        ("displayName", &config.display_name),
        ("displayNameFromDS", &config.display_name_from_ds),
        ("description", &config.description),
        ("unit", &config.unit),
    ] {
        if let Some(v) = value {
            obj.key(out, key);
            write_str(out, v);
        }
    }
    if let Some(d) = config.decimals {
        obj.key(out, "decimals");
        out.push_str(itoa::Buffer::new().format(d));
    }
    for (key, value) in [("min", config.min), ("max", config.max)] {
        if let Some(x) = value {
            obj.key(out, key);
            if x.is_finite() {
                write_f64(out, x);
            } else {
                out.push_str("null");
            }
        }
    }
    out.push('}');
}

/// Writes a field's labels as a JSON object, keys sorted (as Go sorts map keys).
pub fn write_labels(labels: &Labels, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_str(out, v);
    }
    out.push('}');
}

/// Commas between the keys of an object being written.
struct Obj {
    first: bool,
}

impl Obj {
    fn new() -> Self {
        Self { first: true }
    }

    fn key(&mut self, out: &mut String, key: &str) {
        if !self.first {
            out.push(',');
        }
        self.first = false;
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
    }
}

// ---- data -------------------------------------------------------------------------------

/// Per-field extras written after the values: NaN/±Inf positions and sub-ms nanoseconds.
#[derive(Default)]
struct Extras {
    nan: Vec<usize>,
    inf: Vec<usize>,
    neg_inf: Vec<usize>,
    nanos: Vec<i64>,
    has_nanos: bool,
}

impl Extras {
    fn has_entities(&self) -> bool {
        !(self.nan.is_empty() && self.inf.is_empty() && self.neg_inf.is_empty())
    }
}

/// Writes the data object for `rows`, column by column.
fn write_data(frame: &RingFrame, rows: Rows<'_>, out: &mut String) {
    let fields = frame.fields();
    // Extras only for the fields that need them; most packets need none.
    let mut extras: Vec<Option<Extras>> = Vec::new();
    out.push_str("{\"values\":[");
    for (j, field) in fields.iter().enumerate() {
        if j > 0 {
            out.push(',');
        }
        out.push('[');
        let mut extra: Option<Extras> = None;
        out.reserve(rows.len() * 8);
        for (i, cell) in rows.cells(j).enumerate() {
            if i > 0 {
                out.push(',');
            }
            match cell {
                Value::Null => {
                    out.push_str("null");
                    if field.field_type() == FieldType::Time {
                        if let Some(e) = extra.as_mut() {
                            e.nanos.push(0);
                        }
                    }
                }
                Value::Time(ns) => {
                    let (ms, rem) = (ns.div_euclid(1_000_000), ns.rem_euclid(1_000_000));
                    out.push_str(itoa::Buffer::new().format(ms));
                    if rem != 0 && extra.as_ref().is_none_or(|e| !e.has_nanos) {
                        let e = extra.get_or_insert_with(Extras::default);
                        e.has_nanos = true;
                        e.nanos.resize(i, 0);
                    }
                    if let Some(e) = extra.as_mut().filter(|e| e.has_nanos) {
                        e.nanos.push(rem);
                    }
                }
                Value::Number(x) if x.is_finite() => write_f64(out, x),
                Value::Number(x) => {
                    out.push_str("null");
                    let e = extra.get_or_insert_with(Extras::default);
                    if x.is_nan() {
                        e.nan.push(i);
                    } else if x > 0.0 {
                        e.inf.push(i);
                    } else {
                        e.neg_inf.push(i);
                    }
                }
                Value::String(s) => write_str(out, s),
                Value::Boolean(b) => out.push_str(if b { "true" } else { "false" }),
            }
        }
        out.push(']');
        if extra.is_some() {
            extras.resize_with(fields.len(), || None);
            extras[j] = extra;
        }
    }
    out.push(']');
    if extras.iter().flatten().any(Extras::has_entities) {
        out.push_str(",\"entities\":[");
        for j in 0..fields.len() {
            if j > 0 {
                out.push(',');
            }
            match extras.get(j).and_then(Option::as_ref) {
                Some(e) if e.has_entities() => {
                    out.push('{');
                    let mut obj = Obj::new();
                    for (key, list) in [("NaN", &e.nan), ("Inf", &e.inf), ("NegInf", &e.neg_inf)] {
                        if !list.is_empty() {
                            obj.key(out, key);
                            write_list(out, list.iter().map(|&i| i as i64));
                        }
                    }
                    out.push('}');
                }
                _ => out.push_str("null"),
            }
        }
        out.push(']');
    }
    if extras.iter().flatten().any(|e| e.has_nanos) {
        out.push_str(",\"nanos\":[");
        for j in 0..fields.len() {
            if j > 0 {
                out.push(',');
            }
            match extras.get(j).and_then(Option::as_ref) {
                Some(e) if e.has_nanos => write_list(out, e.nanos.iter().copied()),
                _ => out.push_str("null"),
            }
        }
        out.push(']');
    }
    out.push('}');
}

fn write_list(out: &mut String, items: impl Iterator<Item = i64>) {
    out.push('[');
    let mut buf = itoa::Buffer::new();
    for (i, x) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(buf.format(x));
    }
    out.push(']');
}

/// A finite float in the shortest form that reads back exactly; integral values without a
/// fraction, as JavaScript prints them.
fn write_f64(out: &mut String, x: f64) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
                                                // `x as i64 as f64 == x` is the integral test without a call to `trunc`.
    if x.abs() < EXACT && (x as i64) as f64 == x {
        out.push_str(itoa::Buffer::new().format(x as i64));
    } else {
        out.push_str(ryu::Buffer::new().format_finite(x));
    }
}

/// A JSON string literal: quotes, backslashes and control characters escaped, everything
/// else (all of Unicode) as UTF-8.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}
