//! Message payloads to rows, shared by the MQTT and WebSocket sources.
//!
//! Rules (the README's "payload to rows" section says the same to users):
//! - A JSON object is one row. Nested objects are flattened, keys joined with `.`
//!   (`{"a":{"b":1}}` fills field `a.b`). Numbers, strings and booleans keep their type;
//!   arrays are kept as their (compact) JSON text (a string); `null` leaves the cell empty.
//! - Any other JSON value (a number, string, boolean, array) is one row with one field,
//!   `value`. A payload that is not JSON (`21.5`, `on`) is that too: a number when the text
//!   parses as one, else a string.
//! - Malformed payloads are counted and skipped: not UTF-8, starting like JSON (`{`, `[`)
//!   but not parsing, or larger than [`MAX_PAYLOAD_BYTES`]. Empty payloads (MQTT's way to
//!   delete a retained message) are counted and skipped too.
//! - Payloads beyond the structure limits are counted and skipped as *too complex*: objects
//!   nested deeper than [`MAX_DEPTH`], or more than [`MAX_VALUES`] values in one message.
//!   The limits are checked while the payload is read, before anything grows for it, so a
//!   message costs work and memory proportional to its size: at most [`MAX_VALUES`] keys of
//!   at most [`MAX_KEY_LEN`] bytes are kept, whatever its shape.
//! - `timePath` names the flattened key holding the timestamp: a number of epoch seconds,
//!   milliseconds, microseconds or nanoseconds (told apart by magnitude: below 1e11 seconds,
//!   below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds), the same as a
//!   numeric string, or an RFC 3339 string. That key is not also a field. A message without
//!   a readable timestamp takes its arrival time, and is counted. Without `timePath` every
//!   row has its arrival time.
//! - Fields are made as keys first appear, in payload order (a schema change: the next packet
//!   carries the new schema, earlier rows hold null in the new field). A field's type is fixed by its first
//!   non-null value; a later value of another type is converted when that loses nothing
//!   (a number or boolean into a string field as its text, a numeric string into a number
//!   field, `"true"`/`"false"` into a boolean field) and otherwise stored as null and
//!   counted.
//! - `fields` keeps only the named keys.
//! - With a wildcard topic every topic gets its own fields, one series per topic: field
//!   `temperature sensors/a` with the label `topic=sensors/a` (its display name is the same).
//!   Names must be unique, not just labels: Grafana's streaming frame matches fields by name
//!   when a schema changes.
//! - A name already taken (by the `time` field, or by another topic's field whose name
//!   happens to be the same) gets ` (2)`, ` (3)`, … appended.
//! - At most [`MAX_FIELDS`] fields per stream, `time` included; values of keys beyond are
//!   dropped and counted. Keys longer than [`MAX_KEY_LEN`] bytes are dropped and counted too.
//!
//! Two steps, so that the ring's lock is never held while a payload is read:
//! [`RowBuilder::parse`] reads a payload into a [`ParsedRow`] (and decides which new fields
//! it needs) without touching the ring; [`RowBuilder::take_new_fields`] and
//! [`ParsedRow::cells`] then put it into the ring, which costs a few stores per value.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use crate::param::{Kind, Param};
use ringstream_frame::{Field, FieldConfig, FieldType, RingFrame, Value};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// `timePath`: the key holding each message's timestamp (MQTT, WebSocket).
pub const TIME_PATH: Param = Param {
    name: "timePath",
    path_key: "time",
    kind: Kind::Text {
        max_len: crate::query::limits::MAX_TIME_PATH_LEN,
        required: None,
        what: "a key such as ts or meta.time",
        check: None,
    },
    unit: None,
    doc: "the (flattened, .-joined) key holding each message's timestamp: epoch s, ms, µs or \
          ns, or RFC 3339; empty: the arrival time",
};

/// `fields`: the keys to keep (MQTT, WebSocket).
pub const FIELDS: Param = Param {
    name: "fields",
    path_key: "field",
    kind: Kind::Names {
        max_items: crate::query::limits::MAX_FIELD_NAMES,
        max_len: crate::query::limits::MAX_FIELD_NAME_LEN,
    },
    unit: None,
    doc: "the flattened keys to keep; empty: all",
};

/// What to read from a message feed and how to turn its messages into rows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FeedSpec {
    /// The flattened key holding each message's timestamp; `None`: the arrival time.
    pub time_path: Option<String>,
    /// The flattened keys to keep, sorted and without repeats; `None`: all of them.
    pub fields: Option<Vec<String>>,
}

impl FeedSpec {
    /// The feed options of a stream's spec.
    pub fn of(spec: &crate::query::StreamSpec) -> Self {
        Self {
            time_path: spec.values.text(TIME_PATH.name).map(str::to_owned),
            fields: spec.values.names(FIELDS.name).map(<[String]>::to_vec),
        }
    }

    /// The spec of a stream of the message feed `source` reading `target` (the value of its
    /// text parameter `param`: a topic, a path) with these options (values unchecked: a spec
    /// made this way is what a query with these values would give).
    pub fn stream(
        &self,
        source: &'static dyn crate::source::SourceKind,
        (param, target): (&Param, &str),
        tick_ms: u64,
        capacity: usize,
        backfill: bool,
    ) -> crate::query::StreamSpec {
        let mut values = crate::param::Values::default();
        values.set(param.name, crate::param::Value::Text(target.to_owned()));
        self.set(&mut values);
        crate::query::StreamSpec {
            source,
            variant: &source.variants()[0],
            values,
            tick_ms,
            capacity,
            backfill,
        }
    }

    /// The specs of the streams the admin asked `source` to record from the plugin's start,
    /// one per `targets` (topic filters, paths), with the default feed options.
    pub fn recorded(
        source: &'static dyn crate::source::SourceKind,
        param: &Param,
        targets: &[String],
    ) -> Vec<crate::query::StreamSpec> {
        targets
            .iter()
            .map(|t| {
                Self::default().stream(
                    source,
                    (param, t),
                    crate::source::RECORD_TICK_MS,
                    crate::source::RECORD_CAPACITY,
                    true,
                )
            })
            .collect()
    }

    /// The text parameter `param` (a topic, a path) of a spec of the message feed `source`.
    pub fn target<'a>(
        spec: &'a crate::query::StreamSpec,
        source: &dyn crate::source::SourceKind,
        param: &Param,
    ) -> Option<&'a str> {
        (spec.source.name() == source.name())
            .then(|| spec.values.text(param.name))
            .flatten()
    }

    /// Writes these options into `values`.
    pub fn set(&self, values: &mut crate::param::Values) {
        if let Some(t) = &self.time_path {
            values.set(TIME_PATH.name, crate::param::Value::Text(t.clone()));
        }
        if let Some(f) = &self.fields {
            let mut f = f.clone();
            f.sort();
            f.dedup();
            values.set(FIELDS.name, crate::param::Value::Names(f));
        }
    }
}

/// Largest payload turned into a row; larger ones are skipped and counted.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// Most fields in one stream, `time` included.
pub const MAX_FIELDS: usize = 256;
/// Longest flattened key.
pub const MAX_KEY_LEN: usize = 256;
/// Deepest object nesting read; deeper payloads are skipped.
pub const MAX_DEPTH: usize = 32;
/// Most values (leaves) read from one message; messages with more are skipped.
pub const MAX_VALUES: usize = 1024;
/// Largest reused key buffer kept between messages; a bigger one (after a large message)
/// is freed, so that one odd message does not pin memory.
const KEEP_BUFFER: usize = 16 * 1024;

/// What happened to the messages of one stream, for notices and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages offered.
    pub messages: u64,
    /// Rows pushed.
    pub rows: u64,
    /// Skipped: not UTF-8, or broken JSON.
    pub malformed: u64,
    /// Skipped: larger than [`MAX_PAYLOAD_BYTES`].
    pub oversized: u64,
    /// Skipped: nested deeper than [`MAX_DEPTH`] or more than [`MAX_VALUES`] values.
    pub too_complex: u64,
    /// Skipped: empty.
    pub empty: u64,
    /// Rows that took their arrival time because the time path was missing or unreadable.
    pub bad_time: u64,
    /// Values stored as null because they did not fit their field's type.
    pub mismatched: u64,
    /// Values dropped because their key was too long or over the field limit.
    pub dropped: u64,
}

impl Stats {
    /// Messages skipped whole.
    pub fn skipped(&self) -> u64 {
        self.malformed + self.oversized + self.too_complex + self.empty
    }
}

/// A flattened cell before it meets its field.
#[derive(Debug)]
enum Cell<'a> {
    Null,
    /// The value, and the exact integer when the JSON number was one.
    Num(f64, Option<i64>),
    Bool(bool),
    Str(&'a str),
    Owned(String),
}

impl Cell<'_> {
    fn field_type(&self) -> Option<FieldType> {
        match self {
            Cell::Null => None,
            Cell::Num(..) => Some(FieldType::Number),
            Cell::Bool(_) => Some(FieldType::Boolean),
            Cell::Str(_) | Cell::Owned(_) => Some(FieldType::String),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Cell::Str(s) => Some(s),
            Cell::Owned(s) => Some(s),
            _ => None,
        }
    }

    /// The cell converted to `ty` where nothing is lost; `None` when it cannot be.
    fn convert(self, ty: FieldType) -> Option<Self> {
        match (ty, self) {
            (_, Cell::Null) => Some(Cell::Null),
            (FieldType::Number, c @ Cell::Num(..)) => Some(c),
            (FieldType::Number, c @ (Cell::Str(_) | Cell::Owned(_))) => {
                let x: f64 = c.as_str()?.trim().parse().ok()?;
                Some(Cell::Num(x, None))
            }
            (FieldType::String, c @ (Cell::Str(_) | Cell::Owned(_))) => Some(c),
            (FieldType::String, Cell::Num(x, int)) => Some(Cell::Owned(match int {
                Some(i) => i.to_string(),
                None => ryu::Buffer::new().format(x).to_owned(),
            })),
            (FieldType::String, Cell::Bool(b)) => Some(Cell::Str(if b { "true" } else { "false" })),
            (FieldType::Boolean, c @ Cell::Bool(_)) => Some(c),
            (FieldType::Boolean, c @ (Cell::Str(_) | Cell::Owned(_))) => match c.as_str()?.trim() {
                "true" => Some(Cell::Bool(true)),
                "false" => Some(Cell::Bool(false)),
                _ => None,
            },
            _ => None,
        }
    }

    fn value(&self) -> Value<'_> {
        match self {
            Cell::Null => Value::Null,
            Cell::Num(x, _) => Value::Number(*x),
            Cell::Bool(b) => Value::Boolean(*b),
            Cell::Str(s) => Value::String(s),
            Cell::Owned(s) => Value::String(s),
        }
    }

    /// Bytes this cell's string adds to a row (strings borrowed from the payload included:
    /// the ring copies them).
    fn text_len(&self) -> usize {
        self.as_str().map_or(0, str::len)
    }
}

/// A message read into cells of known fields, not yet in a ring; borrows the payload.
#[derive(Debug)]
pub struct ParsedRow<'p> {
    time_ns: i64,
    /// (field index, cell), cells converted to their field's type.
    cells: Vec<(usize, Cell<'p>)>,
}

impl ParsedRow<'_> {
    /// The row for a ring of `width` fields, written into `row` (reused between rows).
    pub fn cells<'a>(&'a self, width: usize, row: &mut Vec<Value<'a>>) {
        row.clear();
        row.resize(width, Value::Null);
        row[0] = Value::Time(self.time_ns);
        for (j, cell) in &self.cells {
            if let Some(slot) = row.get_mut(*j) {
                *slot = cell.value();
            }
        }
    }

    /// The bytes of string values the row holds.
    pub fn text_bytes(&self) -> usize {
        self.cells.iter().map(|(_, c)| c.text_len()).sum()
    }
}

/// Turns one stream's payloads into rows, making fields as keys appear.
#[derive(Debug)]
pub struct RowBuilder {
    time_path: Option<String>,
    /// Sorted.
    keep: Option<Vec<String>>,
    /// Whether every topic gets its own fields.
    per_topic: bool,
    /// topic (empty unless `per_topic`) → key → field index.
    index: HashMap<String, HashMap<String, usize, FxBuild>, FxBuild>,
    names: HashSet<String>,
    /// The type of every field made so far (index 0: `time`).
    types: Vec<FieldType>,
    /// Fields made but not yet taken by [`RowBuilder::take_new_fields`].
    new_fields: Vec<Field>,
    stats: Stats,
    /// Reused buffers: the flattened keys of a message, and the key path being walked.
    keys: String,
    path: String,
}

impl RowBuilder {
    /// A builder for a ring whose only field so far is `time` (index 0).
    pub fn new(time_path: Option<String>, keep: Option<Vec<String>>, per_topic: bool) -> Self {
        let mut keep = keep;
        if let Some(k) = keep.as_mut() {
            k.sort();
        }
        Self {
            time_path,
            keep,
            per_topic,
            index: HashMap::default(),
            names: HashSet::from(["time".to_owned()]),
            types: vec![FieldType::Time],
            new_fields: Vec::new(),
            stats: Stats::default(),
            keys: String::new(),
            path: String::new(),
        }
    }

    /// The ring's fields before the first message.
    pub fn initial_fields() -> Vec<Field> {
        vec![Field::new("time", FieldType::Time)]
    }

    /// What happened so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Fields made so far, `time` included: the width of the rows [`RowBuilder::parse`] makes.
    pub fn field_count(&self) -> usize {
        self.types.len()
    }

    /// The bytes the builder holds (its field index and buffers), for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        let index: usize = self
            .index
            .values()
            .flat_map(|m| m.keys())
            .map(|k| k.len() + 48)
            .sum();
        let names: usize = self.names.iter().map(|n| n.len() + 32).sum();
        index + names + self.keys.capacity() + self.path.capacity()
    }

    /// Counts a message whose payload was too large to be queued.
    pub fn count_oversized(&mut self) {
        self.stats.messages += 1;
        self.stats.oversized += 1;
    }

    /// Counts a row that was parsed but could not be stored.
    pub fn count_unstored(&mut self) {
        self.stats.rows = self.stats.rows.saturating_sub(1);
        self.stats.malformed += 1;
    }

    /// The fields made since the last call, in order: add them to the ring before pushing
    /// the rows parsed since (rows parsed before a field was made hold null in it, which is
    /// what a field added later gives older rows).
    pub fn take_new_fields(&mut self) -> Vec<Field> {
        std::mem::take(&mut self.new_fields)
    }

    /// Reads `payload` (from `topic`, arrived at `arrival_ms`) into a row. `None` when the
    /// message cannot be a row; everything is counted in [`RowBuilder::stats`]. Never
    /// touches a ring: see the module docs for the second step.
    pub fn parse<'p>(
        &mut self,
        topic: &str,
        payload: &'p [u8],
        arrival_ms: i64,
    ) -> Option<ParsedRow<'p>> {
        self.stats.messages += 1;
        if payload.len() > MAX_PAYLOAD_BYTES {
            self.stats.oversized += 1;
            return None;
        }
        let Ok(text) = std::str::from_utf8(payload) else {
            self.stats.malformed += 1;
            return None;
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            self.stats.empty += 1;
            return None;
        }
        // Flattened keys go into one reused buffer (`keys`), cells refer to ranges of it, and
        // strings without escapes are borrowed from the payload: a message allocates little.
        let mut walk = Walk {
            path: std::mem::take(&mut self.path),
            keys: std::mem::take(&mut self.keys),
            cells: Vec::with_capacity(self.types.len() + 4),
            limit: None,
            dropped: 0,
        };
        walk.path.clear();
        walk.keys.clear();
        let parsed = {
            let mut de = serde_json::Deserializer::from_str(trimmed);
            Flat {
                walk: &mut walk,
                depth: 0,
            }
            .deserialize(&mut de)
            .and_then(|()| de.end())
        };
        let row = match (parsed, walk.limit) {
            (_, Some(())) => {
                self.stats.too_complex += 1;
                None
            }
            (Err(_), None) if trimmed.starts_with('{') || trimmed.starts_with('[') => {
                self.stats.malformed += 1;
                None
            }
            (Err(_), None) => {
                walk.cells.clear();
                walk.keys.clear();
                walk.keys.push_str("value");
                let cell = match trimmed.parse::<f64>() {
                    Ok(x) => Cell::Num(x, None),
                    Err(_) => Cell::Str(trimmed),
                };
                walk.cells.push((0..walk.keys.len(), cell));
                Some(self.place(topic, &walk.keys, walk.cells, arrival_ms))
            }
            (Ok(()), None) => {
                self.stats.dropped += walk.dropped;
                Some(self.place(topic, &walk.keys, walk.cells, arrival_ms))
            }
        };
        self.path = shrunk(walk.path);
        self.keys = shrunk(walk.keys);
        if row.is_some() {
            self.stats.rows += 1;
        }
        row
    }

    /// [`RowBuilder::parse`], then the new fields and the row into `ring` (whose fields must
    /// be the ones this builder made): both steps at once, for a caller that holds the
    /// ring anyway. Returns whether a row was pushed.
    pub fn ingest(
        &mut self,
        ring: &mut RingFrame,
        topic: &str,
        payload: &[u8],
        arrival_ms: i64,
    ) -> bool {
        let Some(parsed) = self.parse(topic, payload, arrival_ms) else {
            return false;
        };
        for field in self.take_new_fields() {
            if ring.add_field(field).is_err() {
                break;
            }
        }
        let mut row = Vec::new();
        parsed.cells(ring.fields().len(), &mut row);
        match ring.push_row(&row) {
            Ok(_) => true,
            Err(e) => {
                // Cannot happen (every cell was converted to its field's type); counted
                // rather than propagated so that one message never ends a stream.
                tracing::error!(error = %e, "payload row refused by the ring");
                self.count_unstored();
                false
            }
        }
    }

    /// Matches flattened cells with their fields (made on first sight), converting each to
    /// its field's type, and takes the time.
    fn place<'p>(
        &mut self,
        topic: &str,
        keys: &str,
        mut cells: Vec<(Range<usize>, Cell<'p>)>,
        arrival_ms: i64,
    ) -> ParsedRow<'p> {
        let time_ns = match &self.time_path {
            None => None,
            Some(path) => {
                let found = cells.iter().position(|(k, _)| keys[k.clone()] == **path);
                let t = found.and_then(|i| time_of(&cells.remove(i).1));
                if t.is_none() {
                    self.stats.bad_time += 1;
                }
                t
            }
        };
        let time_ns = time_ns.unwrap_or_else(|| arrival_ms.saturating_mul(1_000_000));

        if let Some(keep) = &self.keep {
            cells.retain(|(k, _)| {
                keep.binary_search_by(|n| n.as_str().cmp(&keys[k.clone()]))
                    .is_ok()
            });
        }

        let topic_key = if self.per_topic { topic } else { "" };
        let mut placed: Vec<(usize, Cell<'p>)> = Vec::with_capacity(cells.len());
        // The topic's index is looked up once, not per cell (again only after a new field):
        // per cell it halved the rate of the MQTT benchmark's rows path.
        let mut fields = self.index.get(topic_key);
        for (range, cell) in cells {
            let key = &keys[range];
            let existing = fields.and_then(|m| m.get(key)).copied();
            let j = match existing {
                Some(j) => j,
                None => {
                    let Some(ty) = cell.field_type() else {
                        continue; // null: no field until a value says which type
                    };
                    let added = self.add_field(topic_key, key, ty);
                    fields = self.index.get(topic_key);
                    match added {
                        Some(j) => j,
                        None => {
                            self.stats.dropped += 1;
                            continue;
                        }
                    }
                }
            };
            let ty = self.types.get(j).copied().unwrap_or(FieldType::String);
            match cell.convert(ty) {
                Some(c) => placed.push((j, c)),
                None => self.stats.mismatched += 1,
            }
        }
        ParsedRow {
            time_ns,
            cells: placed,
        }
    }

    /// Makes the field for `key` (of `topic` when per topic), or `None` at the limits.
    fn add_field(&mut self, topic: &str, key: &str, ty: FieldType) -> Option<usize> {
        if key.len() > MAX_KEY_LEN || self.types.len() >= MAX_FIELDS {
            return None;
        }
        let base = if self.per_topic {
            format!("{key} {topic}")
        } else {
            key.to_owned()
        };
        let mut name = base.clone();
        let mut n = 2;
        while self.names.contains(&name) {
            name = format!("{base} ({n})");
            n += 1;
        }
        let mut field = Field::new(name.clone(), ty);
        if self.per_topic {
            field = field
                .with_labels([("topic", topic)])
                .with_config(FieldConfig {
                    display_name_from_ds: Some(name.clone()),
                    ..FieldConfig::default()
                });
        }
        let j = self.types.len();
        self.types.push(ty);
        self.new_fields.push(field);
        self.names.insert(name);
        self.index
            .entry(topic.to_owned())
            .or_default()
            .insert(key.to_owned(), j);
        Some(j)
    }
}

/// A buffer kept for the next message, unless one large message made it big.
fn shrunk(s: String) -> String {
    if s.capacity() > KEEP_BUFFER {
        String::new()
    } else {
        s
    }
}

/// The state of one payload's walk.
struct Walk<'de> {
    /// The object keys on the way to the current value, joined with `.`.
    path: String,
    /// Every kept value's key, one after the other.
    keys: String,
    cells: Vec<(Range<usize>, Cell<'de>)>,
    /// Set when a structure limit was hit: the walk stops and the message is skipped.
    limit: Option<()>,
    /// Values dropped because their key is too long.
    dropped: u64,
}

/// Flattens a JSON document while it is parsed: every scalar becomes a cell whose key (the
/// object keys on its path joined with `.`, or `value` at the top) is appended to `keys`.
/// Arrays become their compact JSON text; objects are walked, and an empty one holds no
/// value. Stops with an error at the structure limits (see the module docs).
struct Flat<'w, 'de> {
    walk: &'w mut Walk<'de>,
    depth: usize,
}

impl<'de> Flat<'_, 'de> {
    fn emit<E: serde::de::Error>(self, cell: Cell<'de>) -> Result<(), E> {
        let walk = self.walk;
        if walk.cells.len() >= MAX_VALUES {
            walk.limit = Some(());
            return Err(E::custom("too many values"));
        }
        let start = walk.keys.len();
        walk.keys.push_str(if walk.path.is_empty() {
            "value"
        } else {
            &walk.path
        });
        walk.cells.push((start..walk.keys.len(), cell));
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Flat<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flat<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        self.emit(Cell::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.emit(Cell::Num(v as f64, Some(v)))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.emit(Cell::Num(v as f64, i64::try_from(v).ok()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.emit(Cell::Num(v, None))
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<(), E> {
        self.emit(Cell::Str(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        self.emit(Cell::Owned(v.to_owned())) // had escapes: decoded into a new string
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.emit(Cell::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // The array's compact JSON text, written while it is read: never more bytes than
        // the payload holds.
        let mut text = String::from("[");
        let mut first = true;
        loop {
            let before = text.len();
            if !first {
                text.push(',');
            }
            if seq.next_element_seed(Compact(&mut text))?.is_none() {
                text.truncate(before);
                break;
            }
            first = false;
        }
        text.push(']');
        self.emit(Cell::Owned(text))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            self.walk.limit = Some(());
            return Err(serde::de::Error::custom("nested too deep"));
        }
        let walk = self.walk;
        loop {
            let len = walk.path.len();
            match map.next_key_seed(AppendKey(&mut walk.path))? {
                None => {
                    walk.path.truncate(len);
                    return Ok(());
                }
                Some(true) => {
                    map.next_value_seed(Flat {
                        walk: &mut *walk,
                        depth: self.depth + 1,
                    })?;
                }
                Some(false) => {
                    // The key would make the path longer than any field's: its value (a
                    // whole subtree perhaps) is read past and counted once as dropped.
                    map.next_value::<IgnoredAny>()?;
                    walk.dropped += 1;
                }
            }
            walk.path.truncate(len);
        }
    }
}

/// Appends `.key` (or `key` at the top) to the path, without allocating, when the result
/// fits [`MAX_KEY_LEN`]; says whether it did.
struct AppendKey<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for AppendKey<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for AppendKey<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        let dot = usize::from(!self.0.is_empty());
        if self.0.len() + dot + v.len() > MAX_KEY_LEN {
            return Ok(false);
        }
        if dot == 1 {
            self.0.push('.');
        }
        self.0.push_str(v);
        Ok(true)
    }
}

/// Writes any JSON value as compact JSON text (how an array value is kept).
struct Compact<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for Compact<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Compact<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push_str(itoa::Buffer::new().format(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.push_str(itoa::Buffer::new().format(v));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        // JSON numbers are finite; ryu's shortest form reads back as the same double.
        self.0.push_str(ryu::Buffer::new().format_finite(v));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        ringstream_frame::json::write_str(self.0, v);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.push_str("null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push('[');
        let mut first = true;
        loop {
            let before = self.0.len();
            if !first {
                self.0.push(',');
            }
            if seq.next_element_seed(Compact(&mut *self.0))?.is_none() {
                self.0.truncate(before);
                break;
            }
            first = false;
        }
        self.0.push(']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.push('{');
        let mut first = true;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !first {
                self.0.push(',');
            }
            first = false;
            ringstream_frame::json::write_str(self.0, &key);
            self.0.push(':');
            map.next_value_seed(Compact(&mut *self.0))?;
        }
        self.0.push('}');
        Ok(())
    }
}

/// A fast, small-state hasher for the field index and payload fingerprints (FxHash's
/// multiply-rotate on 8-byte words). Not collision-resistant against chosen input, which
/// is fine here: the index holds at most [`MAX_FIELDS`] keys, and a fingerprint only
/// decides whether a retained copy is one already seen.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.write(&[i]);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`FxHasher`]s.
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// A timestamp cell as epoch nanoseconds.
fn time_of(cell: &Cell<'_>) -> Option<i64> {
    match cell {
        Cell::Num(x, int) => epoch_ns(*x, *int),
        Cell::Str(_) | Cell::Owned(_) => {
            let s = cell.as_str()?.trim();
            if let Ok(i) = s.parse::<i64>() {
                return epoch_ns(i as f64, Some(i));
            }
            if let Ok(x) = s.parse::<f64>() {
                return epoch_ns(x, None);
            }
            chrono::DateTime::parse_from_rfc3339(s)
                .ok()?
                .timestamp_nanos_opt()
        }
        _ => None,
    }
}

/// An epoch number in s, ms, µs or ns (by magnitude) as nanoseconds; integers stay exact.
pub(crate) fn epoch_ns(x: f64, int: Option<i64>) -> Option<i64> {
    if !x.is_finite() {
        return None;
    }
    let scale: i64 = match x.abs() {
        a if a < 1e11 => 1_000_000_000,
        a if a < 1e14 => 1_000_000,
        a if a < 1e17 => 1_000,
        _ => 1,
    };
    match int {
        Some(i) => i.checked_mul(scale),
        None => {
            // Whole and fractional parts apart: `x * 1e9` alone would round a 2023 time in
            // seconds to a multiple of 256 ns.
            let whole = x.trunc();
            if whole.abs() >= 9.2e18 / scale as f64 {
                return None;
            }
            let frac = ((x - whole) * scale as f64).round() as i64;
            (whole as i64).checked_mul(scale)?.checked_add(frac)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringstream_frame::AppendMode;

    fn ring() -> RingFrame {
        let mut r = RingFrame::try_new(100, AppendMode::Tail).unwrap();
        for f in RowBuilder::initial_fields() {
            r.add_field(f).unwrap();
        }
        r
    }

    fn names(r: &RingFrame) -> Vec<String> {
        r.fields().iter().map(|f| f.name().to_owned()).collect()
    }

    #[test]
    fn objects_flatten_with_types() {
        let mut r = ring();
        let mut b = RowBuilder::new(None, None, false);
        assert!(b.ingest(
            &mut r,
            "t",
            br#"{"a":1.5,"b":{"c":"x","d":true},"e":[1,2],"f":null,"g":{}}"#,
            1_000
        ));
        assert_eq!(names(&r), ["time", "a", "b.c", "b.d", "e"]);
        let types: Vec<_> = r.fields().iter().map(Field::field_type).collect();
        assert_eq!(
            types,
            [
                FieldType::Time,
                FieldType::Number,
                FieldType::String,
                FieldType::Boolean,
                FieldType::String
            ]
        );
        assert_eq!(r.get(0, 0), Some(Value::Time(1_000_000_000)));
        assert_eq!(r.get(0, 4), Some(Value::String("[1,2]")));
    }

    #[test]
    fn plain_payloads_become_value() {
        let mut r = ring();
        let mut b = RowBuilder::new(None, None, false);
        assert!(b.ingest(&mut r, "t", b" 21.5 ", 0));
        assert!(
            b.ingest(&mut r, "t", b"on", 0),
            "a string into a number field: null, counted"
        );
        assert_eq!(names(&r), ["time", "value"]);
        assert_eq!(r.get(0, 1), Some(Value::Number(21.5)));
        assert_eq!(r.get(1, 1), Some(Value::Null));
        assert_eq!(b.stats().mismatched, 1);
    }

    #[test]
    fn garbage_is_counted_and_skipped() {
        let mut r = ring();
        let mut b = RowBuilder::new(None, None, false);
        assert!(!b.ingest(&mut r, "t", b"{\"a\":", 0));
        assert!(!b.ingest(&mut r, "t", &[0xff, 0xfe, 0x00], 0));
        assert!(!b.ingest(&mut r, "t", b"", 0));
        assert!(!b.ingest(&mut r, "t", &vec![b' '; MAX_PAYLOAD_BYTES + 1], 0));
        let s = b.stats();
        assert_eq!(
            (s.malformed, s.empty, s.oversized, s.rows, s.messages),
            (2, 1, 1, 0, 4)
        );
        assert!(r.is_empty());
    }

    #[test]
    fn time_paths_detect_their_unit() {
        let cases: [(&str, i64); 6] = [
            (r#"{"ts":1700000000}"#, 1_700_000_000_000_000_000),
            (r#"{"ts":1700000000.25}"#, 1_700_000_000_250_000_000),
            (r#"{"ts":1700000000123}"#, 1_700_000_000_123_000_000),
            (r#"{"ts":1700000000123456789}"#, 1_700_000_000_123_456_789),
            (
                r#"{"ts":"2023-11-14T22:13:20.5Z"}"#,
                1_700_000_000_500_000_000,
            ),
            (r#"{"ts":"1700000000123"}"#, 1_700_000_000_123_000_000),
        ];
        for (payload, ns) in cases {
            let mut r = ring();
            let mut b = RowBuilder::new(Some("ts".into()), None, false);
            assert!(b.ingest(&mut r, "t", payload.as_bytes(), 5));
            assert_eq!(r.get(0, 0), Some(Value::Time(ns)), "{payload}");
            assert_eq!(names(&r), ["time"], "the time key is not also a field");
        }
        let mut r = ring();
        let mut b = RowBuilder::new(Some("meta.t".into()), None, false);
        assert!(b.ingest(&mut r, "t", br#"{"meta":{"t":"yesterday"},"v":1}"#, 7));
        assert_eq!(r.get(0, 0), Some(Value::Time(7_000_000)), "arrival time");
        assert_eq!(b.stats().bad_time, 1);
    }

    #[test]
    fn keys_appear_later_and_types_convert_when_lossless() {
        let mut r = ring();
        let mut b = RowBuilder::new(None, None, false);
        b.ingest(&mut r, "t", br#"{"a":"x"}"#, 0);
        b.ingest(&mut r, "t", br#"{"a":5,"b":"7","time":1}"#, 0);
        b.ingest(&mut r, "t", br#"{"b":"seven"}"#, 0);
        assert_eq!(names(&r), ["time", "a", "b", "time (2)"]);
        assert_eq!(r.get(1, 1), Some(Value::String("5")));
        assert_eq!(
            r.get(0, 2),
            Some(Value::Null),
            "older rows: null in a new field"
        );
        assert_eq!(r.get(1, 2), Some(Value::String("7")));
        assert_eq!(b.stats().mismatched, 0);
    }

    #[test]
    fn fields_filter_keeps_only_named_keys() {
        let mut r = ring();
        let mut b = RowBuilder::new(None, Some(vec!["b.c".into(), "a".into()]), false);
        b.ingest(&mut r, "t", br#"{"a":1,"b":{"c":2,"d":3},"z":4}"#, 0);
        assert_eq!(names(&r), ["time", "a", "b.c"]);
    }

    #[test]
    fn per_topic_fields_are_labelled_and_unique() {
        let mut r = ring();
        let mut b = RowBuilder::new(None, None, true);
        b.ingest(&mut r, "s/a", br#"{"t":1}"#, 0);
        b.ingest(&mut r, "s/b", br#"{"t":2}"#, 0);
        assert_eq!(names(&r), ["time", "t s/a", "t s/b"]);
        assert_eq!(
            r.fields()[2].labels.get("topic").map(String::as_str),
            Some("s/b")
        );
        assert_eq!(r.get(1, 1), Some(Value::Null));
        assert_eq!(r.get(1, 2), Some(Value::Number(2.0)));
    }

    #[test]
    fn the_number_of_fields_is_bounded() {
        let mut r = ring();
        let mut b = RowBuilder::new(None, None, false);
        let mut obj = String::from("{");
        for i in 0..MAX_FIELDS + 10 {
            if i > 0 {
                obj.push(',');
            }
            obj.push_str(&format!("\"k{i}\":{i}"));
        }
        obj.push('}');
        assert!(b.ingest(&mut r, "t", obj.as_bytes(), 0));
        assert_eq!(r.fields().len(), MAX_FIELDS);
        assert_eq!(b.stats().dropped, 11);
    }

    #[test]
    fn deep_nesting_and_odd_json_never_panic() {
        let mut r = ring();
        let mut b = RowBuilder::new(None, None, false);
        let deep = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        assert!(
            !b.ingest(&mut r, "t", deep.as_bytes(), 0),
            "too deep: skipped"
        );
        assert_eq!(b.stats().too_complex, 1);
        assert!(b.ingest(&mut r, "t", br#"{"a":1,"a":2,"s":"x\ny"}"#, 0));
        assert_eq!(
            r.get(0, 1),
            Some(Value::Number(2.0)),
            "a repeated key: the last wins"
        );
        assert_eq!(r.get(0, 2), Some(Value::String("x\ny")), "escapes decoded");
        assert!(b.ingest(&mut r, "t", br#"[{"b":1},2]"#, 0));
        assert!(b.ingest(&mut r, "t", b"18446744073709551615", 0));
        assert!(!b.ingest(&mut r, "t", b"{\"a\":", 0));
        assert_eq!(b.stats().malformed, 1);
    }

    #[test]
    fn arrays_keep_their_compact_json_text() {
        let mut r = ring();
        let mut b = RowBuilder::new(None, None, false);
        assert!(b.ingest(
            &mut r,
            "t",
            br#"{"a":[ 1, -2, 2.5, "x\"y", true, null, {"k": [ ]}, [ ] ]}"#,
            0
        ));
        assert_eq!(
            r.get(0, 1),
            Some(Value::String(r#"[1,-2,2.5,"x\"y",true,null,{"k":[]},[]]"#))
        );
    }

    #[test]
    fn long_nested_keys_cost_no_more_than_the_payload() {
        // The payload that used to make gigabytes of flattened keys: long keys nested a
        // few levels, with many small leaves under them.
        let long = "k".repeat(2_000);
        let leaves: Vec<String> = (0..900).map(|i| format!("\"{i}\":{i}")).collect();
        let payload = format!(
            "{{\"{long}\":{{\"{long}\":{{\"{long}\":{{{}}}}}}}}}",
            leaves.join(",")
        );
        assert!(payload.len() < MAX_PAYLOAD_BYTES);
        let mut r = ring();
        let mut b = RowBuilder::new(None, None, false);
        let row = b.parse("t", payload.as_bytes(), 0);
        assert!(
            row.is_some(),
            "a message with only over-long keys is an empty row"
        );
        assert_eq!(b.stats().dropped, 1, "one subtree under one over-long key");
        assert!(b.keys.capacity() <= KEEP_BUFFER);
        assert!(b.heap_bytes() < 64 * 1024, "{}", b.heap_bytes());
        // Many keys just under the limit, each a value: bounded by MAX_VALUES.
        let key = "x".repeat(200);
        let many: Vec<String> = (0..MAX_VALUES + 1)
            .map(|i| format!("\"{key}{i:05}\":1"))
            .collect();
        let payload = format!("{{{}}}", many.join(","));
        assert!(payload.len() < MAX_PAYLOAD_BYTES);
        assert!(!b.ingest(&mut r, "t", payload.as_bytes(), 0));
        assert_eq!(b.stats().too_complex, 1);
        let few = &many[..MAX_FIELDS + 5];
        assert!(b.ingest(&mut r, "t", format!("{{{}}}", few.join(",")).as_bytes(), 0));
        assert_eq!(r.fields().len(), MAX_FIELDS);
    }

    #[test]
    fn parsing_never_touches_the_ring_and_fields_come_in_order() {
        let mut b = RowBuilder::new(None, None, false);
        let first = b.parse("t", br#"{"a":1}"#, 1).unwrap();
        let second = b.parse("t", br#"{"b":"x","a":2}"#, 2).unwrap();
        let mut r = ring();
        for f in b.take_new_fields() {
            r.add_field(f).unwrap();
        }
        assert!(b.take_new_fields().is_empty());
        let mut row = Vec::new();
        for parsed in [&first, &second] {
            parsed.cells(r.fields().len(), &mut row);
            r.push_row(&row).unwrap();
        }
        assert_eq!(names(&r), ["time", "a", "b"]);
        assert_eq!(
            r.get(0, 2),
            Some(Value::Null),
            "the older row: null in the later field"
        );
        assert_eq!(r.get(1, 1), Some(Value::Number(2.0)));
        assert_eq!(second.text_bytes(), 1);
    }

    proptest::proptest! {
        #[test]
        fn any_payload_is_a_row_or_counted(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let mut r = ring();
            let mut b = RowBuilder::new(Some("t".into()), None, true);
            let pushed = b.ingest(&mut r, "a/b", &bytes, 1);
            let s = b.stats();
            proptest::prop_assert_eq!(s.messages, 1);
            proptest::prop_assert_eq!(u64::from(pushed), s.rows);
            proptest::prop_assert_eq!(s.rows + s.skipped(), 1);
            proptest::prop_assert_eq!(r.len() as u64, s.rows);
        }

        #[test]
        fn any_json_object_is_a_row(json in "\\{(\"[a-z.]{0,3}\":(-?[1-9][0-9]{0,2}|0|\"[a-z]{0,3}\"|true|null|\\[\\]|\\{\\}),){0,5}\"z\":0\\}") {
            let mut r = ring();
            let mut b = RowBuilder::new(None, None, false);
            proptest::prop_assert!(b.ingest(&mut r, "t", json.as_bytes(), 1), "{}", json);
        }
    }
}
