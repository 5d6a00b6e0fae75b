//! [`LiveFrame`]: the Rust counterpart of `@grafana/data`'s `StreamingDataFrame`, as Grafana's
//! `LiveDataStream` drives it: one frame per Live channel, the first message through
//! `StreamingDataFrame.fromDataFrameJSON(msg, {maxLength, maxDelta, action})` (which is literally
//! `new StreamingDataFrame(getStreamingFrameOptions(opts))` + `push(msg)`, SDF 351-355), every
//! later message through `frame.push(msg)`. It is what a panel ends up showing for the packets
//! a streaming plugin sends, checked against the real library by the `live.json` fixtures
//! (`oracle/gen-live.cjs`).
//!
//! Values are JavaScript values ([`LiveValue`]): time values are plain numbers (epoch
//! milliseconds as `f64`), `undefined` and `null` are told apart, and wherever the library does
//! arithmetic or comparisons on cells (the `maxDelta` window, type guessing) the JavaScript
//! conversions are reproduced ([`LiveValue::to_number`]).
//!
//! # Library behaviour reproduced
//! Line numbers are in `oracle/node_modules/@grafana/data/dist/esm/dataframe/`
//! `StreamingDataFrame.mjs` (SDF), `DataFrameJSON.mjs` (DFJ) and `guessFieldType.mjs` (GFT),
//! `@grafana/data` 13.2.3.
//! - Options: `maxLength` defaults to 1000, `maxDelta` to Infinity (`None`), `action` to append
//!   (SDF 357-365, `getStreamingFrameOptions`).
//! - Schema (SDF 190-239): `timeFieldIndex` is the first field typed `time` in the *message*
//!   (or none); `refId` is overwritten, `meta` only when truthy; the frame `name` is never set.
//!   A schema with the same names and raw wire types as the previous *message schema* (SDF
//!   204, 450-462) keeps every value and only overwrites each field's config (absent -> `{}`)
//!   and labels (absent -> none, so a schema without labels clears them). Otherwise the fields
//!   are rebuilt (SDF 224-236): a new field takes the values of the first old field with the
//!   same name and the same type, where the *raw* message type is compared with the old
//!   field's resolved type, so a field sent without `type` (resolved to `other`) never keeps
//!   values across a rebuild; every other field gets `length` undefined cells. The frame
//!   `length` is not changed by a schema, even when no field survives.
//! - Two new fields taking the same old field share *one* values array (SDF 234, `find`
//!   returns the same object). Appends then push both columns into it and trim it twice;
//!   [`LiveFrame`] models that sharing, so its fields can end up with different lengths, like
//!   the library's. Replacing the values (first data, `replace`) ends the sharing.
//! - The same-structure path walks the frame's fields, not the schema's (`idx % len`, SDF 208):
//!   after data-first fields were guessed, a schema with no fields throws
//!   `Cannot read properties of undefined (reading 'config')`.
//! - Data is only read when `values` is non-empty and its *first* column is non-empty
//!   (SDF 240): a message whose first column is empty is skipped whole, entities and column
//!   count checks included.
//! - Entities (SDF 242-248, DFJ 5-20) are decoded into the message's columns before anything
//!   else: `NaN`, `Inf`, `NegInf` and `Undef` (undefined) overwrite the cells they list, in the
//!   order the keys appear; indices outside `0..len` (and negative or fractional ones) are
//!   ignored. Entities for a column the message does not have throw
//!   `Cannot read properties of undefined (reading 'length')` as soon as one index is listed
//!   for it (even an ignorable one).
//! - A column count different from the field count throws
//!   `push message mismatch.  Expected: F, received: C (labels=false)` (SDF 265-270; two spaces,
//!   as in the library), after the schema part of the message was applied. With no fields at
//!   all the columns instead become guessed fields (SDF 271-284): `Field {i}` typed from the
//!   column's first cell (numbers, even NaN, and numeric-looking strings are `number`,
//!   `"true"`/`"TRUE"`/`"True"` and the `false` spellings `boolean`, other strings `string`,
//!   anything else `other`, GFT 6, 31-51); column 0 becomes `Time` (type `time`) when it is a
//!   number greater than 1600016688632. Guessing never sets `timeFieldIndex`, so such a frame
//!   is never `maxDelta`-trimmed.
//! - Data while the frame `length` is 0, and every data with action `replace`, replaces the
//!   values whole, never trimmed to `maxLength` or `maxDelta` (SDF 289-291). Otherwise the
//!   columns are appended and the front trimmed (SDF 292-295, 413-449): first to `maxLength`,
//!   then, when `maxDelta` is finite, a time field exists and `newest - oldest kept > maxDelta`
//!   (computed on the time column at the `maxLength` cut), to `closestIdx(newest - maxDelta)`:
//!   the sample *closest* to the window start, which may lie just outside the window, ties
//!   keeping the older one (SDF 381-398). Newest and oldest are the last and the cut cell, not
//!   the extremes, and the binary search assumes sorted times; out-of-order times give the
//!   library's answer, whatever it is. Cells are converted with JavaScript's `ToNumber`
//!   (`null` is 0, `undefined` NaN, strings are parsed, `[5]` is 5, ...).
//! - The frame `length` is the first field's value count after the data (SDF 304); ragged
//!   messages leave fields of other lengths, as in the library.
//! - `data.nanos` is never read (`push` ignores it; only `dataFrameFromJSON` does), so no
//!   field carries nanoseconds.
//!
//! Not modelled: the `labels` push mode (first schema field a string named `labels` or
//! `Labels`, time second; SDF 194-197, 249-263), which joins per-label tables with
//! `joinDataFrames` and depends on V8's sort; [`LiveFrame::push`] refuses such a schema with
//! [`HarnessError::Unsupported`] and leaves the frame unchanged. `displayNameFormat` is not an
//! option here (`LiveDataStream` does not set it for plugin streams). Messages the library
//! would read leniently but [`wire::decode`] refuses (a `null` field type, unknown entity keys,
//! non-object messages, non-string labels, ...) are decoding errors, never a different frame.
//!
//! Memory: a frame holds what the library holds. Its size is bounded by the data pushed, but a
//! schema change fills `length` undefined cells per new field, so a short message can grow a
//! long frame by `fields x length` cells.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};

use crate::wire::{self, Data, DataFrameJson, EntityKind, FieldType, Schema};
use crate::HarnessError;

/// What a data message does to the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Action {
    /// Append and trim to `max_length` / `max_delta` (`StreamingFrameAction.Append`).
    #[default]
    Append,
    /// Replace all values with the message's, never trimmed (`StreamingFrameAction.Replace`).
    Replace,
}

/// `StreamingFrameOptions`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveOptions {
    /// Most rows kept after an append (the library's default: 1000).
    pub max_length: usize,
    /// Widest time span kept after an append, in milliseconds; `None` is Infinity.
    pub max_delta: Option<f64>,
    /// Append or replace.
    pub action: Action,
}

impl Default for LiveOptions {
    /// The library's defaults (`getStreamingFrameOptions`).
    fn default() -> Self {
        Self {
            max_length: 1000,
            max_delta: None,
            action: Action::Append,
        }
    }
}

/// A cell: a JavaScript value as JSON and entities can produce it.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveValue {
    /// `undefined`: padding for new fields, the `Undef` entity.
    Undefined,
    /// `null`.
    Null,
    /// A number (time values are epoch milliseconds); NaN and ±Infinity from entities.
    Number(f64),
    /// A string.
    String(String),
    /// A boolean.
    Boolean(bool),
    /// A JSON array or object (fields of type `other`).
    Json(Value),
}

impl LiveValue {
    /// The cell a JSON value decodes to.
    pub fn from_json(v: &Value) -> Self {
        match v {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Boolean(*b),
            Value::Number(n) => Self::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Self::String(s.clone()),
            other => Self::Json(other.clone()),
        }
    }

    /// JavaScript's `ToNumber` (what `-`, `<` and `>` do to the cell).
    pub fn to_number(&self) -> f64 {
        match self {
            Self::Undefined => f64::NAN,
            Self::Null => 0.0,
            Self::Number(x) => *x,
            Self::String(s) => js_string_to_number(s),
            Self::Boolean(b) => f64::from(u8::from(*b)),
            Self::Json(v) => json_to_number(v),
        }
    }

    /// The cell as the oracle prints it: undefined as null, NaN / ±Infinity as strings,
    /// -0 as 0, integral numbers without a fraction.
    pub fn to_oracle_json(&self) -> Value {
        match self {
            Self::Undefined | Self::Null => Value::Null,
            Self::Number(x) => number_json(*x),
            Self::String(s) => Value::String(s.clone()),
            Self::Boolean(b) => Value::Bool(*b),
            Self::Json(v) => v.clone(),
        }
    }
}

/// One field of a [`LiveFrame`].
#[derive(Debug, Clone, PartialEq)]
pub struct LiveField {
    /// Field name.
    pub name: String,
    /// Resolved type (`other` when the schema gave none).
    pub field_type: FieldType,
    /// Labels (empty when none).
    pub labels: BTreeMap<String, String>,
    /// Field config (empty when none).
    pub config: Map<String, Value>,
    /// The values, oldest first.
    pub values: Vec<LiveValue>,
}

/// A streaming frame fed with DataFrameJSON messages, exactly as `StreamingDataFrame` would
/// hold it (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct LiveFrame {
    options: LiveOptions,
    fields: Vec<LiveField>,
    /// Per field, the index of the first field sharing its values array (the library can
    /// make fields share one array; see the module docs). `shared[i] <= i`, and
    /// `shared[shared[i]] == shared[i]`; fields sharing an array hold equal copies.
    shared: Vec<usize>,
    /// The frame's `length` (not always every field's length).
    length: usize,
    /// The last message schema: names and raw wire types (`schemaFields`).
    schema_fields: Vec<(String, Option<FieldType>)>,
    time_field_index: Option<usize>,
    ref_id: Option<String>,
    meta: Option<Value>,
}

impl LiveFrame {
    /// An empty frame (`new StreamingDataFrame(opts)`).
    pub fn new(options: LiveOptions) -> Self {
        Self {
            options,
            fields: Vec::new(),
            shared: Vec::new(),
            length: 0,
            schema_fields: Vec::new(),
            time_field_index: None,
            ref_id: None,
            meta: None,
        }
    }

    /// The options the frame was made with.
    pub fn options(&self) -> &LiveOptions {
        &self.options
    }

    /// The frame's `length`: the first field's value count after the last data.
    pub fn len(&self) -> usize {
        self.length
    }

    /// Whether `len()` is 0.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The fields, in frame order.
    pub fn fields(&self) -> &[LiveField] {
        &self.fields
    }

    /// The `refId` of the last schema.
    pub fn ref_id(&self) -> Option<&str> {
        self.ref_id.as_deref()
    }

    /// The `meta` of the last schema that had a truthy one.
    pub fn meta(&self) -> Option<&Value> {
        self.meta.as_ref()
    }

    /// The index of the time field `maxDelta` trims on (the first `time` field of the last
    /// schema).
    pub fn time_field_index(&self) -> Option<usize> {
        self.time_field_index
    }

    /// Decodes a message ([`wire::decode`]) and pushes it.
    ///
    /// # Errors
    /// A decoding error, or what [`push`](Self::push) returns.
    pub fn push_json(&mut self, text: &str) -> Result<(), HarnessError> {
        self.push(&wire::decode(text)?)
    }

    /// Applies one message, as `StreamingDataFrame.push` does: the schema part first, then the
    /// data part.
    ///
    /// # Errors
    /// [`HarnessError::Push`] where the library throws (the schema part has been applied
    /// then, as in the library); [`HarnessError::Unsupported`] for the labels push mode.
    pub fn push(&mut self, msg: &DataFrameJson) -> Result<(), HarnessError> {
        if let Some(schema) = &msg.schema {
            self.push_schema(schema)?;
        }
        if let Some(data) = &msg.data {
            if data.values.first().is_some_and(|column| !column.is_empty()) {
                self.push_data(data)?;
            }
        }
        Ok(())
    }

    /// The frame in the oracle's fixture format: `{"length", "fields": [{"name", "type",
    /// "labels"?, "config"?, "values"}]}`, labels and config only when non-empty.
    pub fn to_oracle_json(&self) -> Value {
        let fields: Vec<Value> = self
            .fields
            .iter()
            .map(|f| {
                let mut out = Map::new();
                out.insert("name".into(), json!(f.name));
                out.insert("type".into(), json!(f.field_type.as_str()));
                if !f.labels.is_empty() {
                    out.insert("labels".into(), json!(f.labels));
                }
                if !f.config.is_empty() {
                    out.insert("config".into(), Value::Object(f.config.clone()));
                }
                let values = f.values.iter().map(LiveValue::to_oracle_json).collect();
                out.insert("values".into(), Value::Array(values));
                Value::Object(out)
            })
            .collect();
        json!({"length": self.length, "fields": fields})
    }

    fn push_schema(&mut self, schema: &Schema) -> Result<(), HarnessError> {
        let time = schema
            .fields
            .iter()
            .position(|f| f.field_type == Some(FieldType::Time));
        if let (Some(1), Some(first)) = (time, schema.fields.first()) {
            if first.field_type == Some(FieldType::String)
                && (first.name == "labels" || first.name == "Labels")
            {
                return Err(HarnessError::Unsupported(format!(
                    "the labels push mode (first field the string field {:?}, time second)",
                    first.name
                )));
            }
        }
        self.time_field_index = time;
        self.ref_id.clone_from(&schema.ref_id);
        if let Some(meta) = schema.meta.as_ref().filter(|m| truthy(m)) {
            self.meta = Some(meta.clone());
        }
        let same = self.schema_fields.len() == schema.fields.len()
            && self
                .schema_fields
                .iter()
                .zip(&schema.fields)
                .all(|((name, ty), f)| *name == f.name && *ty == f.field_type);
        if same {
            let len = schema.fields.len();
            if len == 0 && !self.fields.is_empty() {
                return Err(HarnessError::Push(
                    "Cannot read properties of undefined (reading 'config')".into(),
                ));
            }
            for (idx, f) in self.fields.iter_mut().enumerate() {
                let sf = &schema.fields[idx % len];
                f.config.clone_from(&sf.config);
                f.labels.clone_from(&sf.labels);
            }
        } else {
            self.rebuild(schema);
        }
        self.schema_fields = schema
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.field_type.clone()))
            .collect();
        Ok(())
    }

    /// New fields from a changed schema, taking old values by name and type.
    fn rebuild(&mut self, schema: &Schema) {
        let mut old = std::mem::take(&mut self.fields);
        let old_shared = std::mem::take(&mut self.shared);
        // The first old field per (name, type), as `Array.prototype.find` picks it.
        let mut by_key: HashMap<(&str, &FieldType), usize> = HashMap::new();
        for (k, f) in old.iter().enumerate() {
            by_key.entry((f.name.as_str(), &f.field_type)).or_insert(k);
        }
        let found: Vec<Option<usize>> = schema
            .fields
            .iter()
            .map(|sf| {
                let ty = sf.field_type.as_ref()?;
                by_key.get(&(sf.name.as_str(), ty)).copied()
            })
            .collect();
        drop(by_key);
        // Old array (canonical old index) -> the first new field holding it.
        let mut holder: Vec<Option<usize>> = vec![None; old.len()];
        let mut fields: Vec<LiveField> = Vec::with_capacity(schema.fields.len());
        let mut shared = Vec::with_capacity(schema.fields.len());
        for (i, (sf, found)) in schema.fields.iter().zip(found).enumerate() {
            let (values, group) = match found {
                Some(k) => {
                    let array = old_shared[k];
                    match holder[array] {
                        Some(first) => (fields[first].values.clone(), first),
                        None => {
                            holder[array] = Some(i);
                            (std::mem::take(&mut old[k].values), i)
                        }
                    }
                }
                None => (vec![LiveValue::Undefined; self.length], i),
            };
            fields.push(LiveField {
                name: sf.name.clone(),
                field_type: sf.field_type.clone().unwrap_or(FieldType::Other),
                labels: sf.labels.clone(),
                config: sf.config.clone(),
                values,
            });
            shared.push(group);
        }
        self.fields = fields;
        self.shared = shared;
    }

    fn push_data(&mut self, data: &Data) -> Result<(), HarnessError> {
        let mut columns: Vec<Vec<LiveValue>> = data
            .values
            .iter()
            .map(|column| column.iter().map(LiveValue::from_json).collect())
            .collect();
        for (i, entities) in data.entities.iter().flatten().enumerate() {
            let Some(entities) = entities else { continue };
            let Some(column) = columns.get_mut(i) else {
                if entities.lists().any(|(_, list)| !list.is_empty()) {
                    return Err(HarnessError::Push(
                        "Cannot read properties of undefined (reading 'length')".into(),
                    ));
                }
                continue;
            };
            for (kind, list) in entities.lists() {
                let replacement = match kind {
                    EntityKind::NaN => LiveValue::Number(f64::NAN),
                    EntityKind::Inf => LiveValue::Number(f64::INFINITY),
                    EntityKind::NegInf => LiveValue::Number(f64::NEG_INFINITY),
                    EntityKind::Undef => LiveValue::Undefined,
                };
                for &idx in list {
                    // `values[idx] = ...` only sets an element for an integral index >= 0
                    // (-0 included); others become invisible properties.
                    if idx >= 0.0 && idx.fract() == 0.0 && idx < column.len() as f64 {
                        column[idx as usize] = replacement.clone();
                    }
                }
            }
        }

        if columns.len() != self.fields.len() {
            if !self.fields.is_empty() {
                return Err(HarnessError::Push(format!(
                    "push message mismatch.  Expected: {}, received: {} (labels=false)",
                    self.fields.len(),
                    columns.len()
                )));
            }
            self.fields = columns.iter().enumerate().map(guess_field).collect();
            self.shared = (0..columns.len()).collect();
        }

        if self.options.action == Action::Replace || self.length == 0 {
            for (field, column) in self.fields.iter_mut().zip(columns) {
                field.values = column;
            }
            self.shared = (0..self.fields.len()).collect();
        } else {
            self.append(columns)?;
        }
        self.length = self.fields.first().map_or(0, |f| f.values.len());
        Ok(())
    }

    /// `circPush`: append every column to its field's array, then trim the front.
    fn append(&mut self, columns: Vec<Vec<LiveValue>>) -> Result<(), HarnessError> {
        let n = self.fields.len();
        if self.time_field_index.is_some_and(|t| t >= n) && self.max_delta_set() {
            // Unreachable in the wide mode (the time index comes from the schema the fields
            // were built from); the library would read from `undefined`.
            return Err(HarnessError::Push(
                "Cannot read properties of undefined (reading '0')".into(),
            ));
        }
        // One array per group of fields sharing one, at its first field's index.
        let mut arrays: Vec<Vec<LiveValue>> = (0..n)
            .map(|i| {
                if self.shared[i] == i {
                    std::mem::take(&mut self.fields[i].values)
                } else {
                    Vec::new()
                }
            })
            .collect();
        for (i, column) in columns.into_iter().enumerate() {
            arrays[self.shared[i]].extend(column);
        }
        let time = self
            .time_field_index
            .filter(|&t| t < n)
            .map(|t| arrays[self.shared[t]].as_slice());
        let count = items_to_remove(
            &arrays[self.shared[0]],
            time,
            self.options.max_length,
            self.options.max_delta,
        );
        if count > 0 {
            let count = count.unsigned_abs();
            // `data[i].splice(0, count)` for every field: a shared array is cut once per
            // field holding it.
            for &array in &self.shared {
                let array = &mut arrays[array];
                let k = count.min(array.len());
                array.drain(..k);
            }
        }
        for (i, field) in self.fields.iter_mut().enumerate() {
            if self.shared[i] != i {
                field.values = arrays[self.shared[i]].clone();
            }
        }
        for (i, (field, array)) in self.fields.iter_mut().zip(&mut arrays).enumerate() {
            if self.shared[i] == i {
                field.values = std::mem::take(array);
            }
        }
        Ok(())
    }

    fn max_delta_set(&self) -> bool {
        self.options.max_delta.is_some_and(|d| d != f64::INFINITY)
    }
}

/// A field guessed from a data column sent before any schema (SDF 271-284).
fn guess_field((idx, column): (usize, &Vec<LiveValue>)) -> LiveField {
    let first = column.first().unwrap_or(&LiveValue::Undefined);
    let mut name = format!("Field {idx}");
    let mut field_type = guess_type(first);
    if idx == 0 && field_type == FieldType::Number && first.to_number() > 1_600_016_688_632.0 {
        field_type = FieldType::Time;
        name = "Time".into();
    }
    LiveField {
        name,
        field_type,
        labels: BTreeMap::new(),
        config: Map::new(),
        values: Vec::new(),
    }
}

/// `guessFieldTypeFromValue` (GFT 31-51).
fn guess_type(v: &LiveValue) -> FieldType {
    match v {
        LiveValue::Number(_) => FieldType::Number,
        LiveValue::String(s) if looks_numeric(s) => FieldType::Number,
        LiveValue::String(s)
            if matches!(
                s.as_str(),
                "true" | "TRUE" | "True" | "false" | "FALSE" | "False"
            ) =>
        {
            FieldType::Boolean
        }
        LiveValue::String(_) => FieldType::String,
        LiveValue::Boolean(_) => FieldType::Boolean,
        LiveValue::Undefined | LiveValue::Null | LiveValue::Json(_) => FieldType::Other,
    }
}

/// `/^\s*(-?(\d*\.?\d+|\d+\.?\d*)(e[-+]?\d+)?|NAN)\s*$/i` (GFT 6).
fn looks_numeric(s: &str) -> bool {
    let t = s.trim_matches(is_js_space);
    if t.eq_ignore_ascii_case("nan") {
        return true;
    }
    let t = t.strip_prefix('-').unwrap_or(t);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    decimal_mantissa(mantissa)
        && exponent.is_none_or(|e| {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Digits with at most one `.`, at least one digit.
fn decimal_mantissa(m: &str) -> bool {
    m.bytes().any(|b| b.is_ascii_digit())
        && m.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && m.bytes().filter(|&b| b == b'.').count() <= 1
}

/// `getNumberOfItemsToRemove` (SDF 430-449): how many cells to cut from the front.
fn items_to_remove(
    first: &[LiveValue],
    time: Option<&[LiveValue]>,
    max_length: usize,
    max_delta: Option<f64>,
) -> isize {
    let nlen = first.len();
    if nlen == 0 {
        return 0;
    }
    let mut slice = nlen.saturating_sub(max_length) as isize;
    if let (Some(max_delta), Some(time)) = (max_delta, time) {
        if max_delta != f64::INFINITY {
            let low = cell_number(time, slice);
            let high = cell_number(time, nlen as isize - 1);
            if high - low > max_delta {
                slice = closest_idx(high - max_delta, time, slice);
            }
        }
    }
    slice
}

/// `closestIdx(num, arr, lo)` (SDF 381-398): binary search for the cell closest to `num`,
/// ties to the lower index.
fn closest_idx(num: f64, arr: &[LiveValue], lo: isize) -> isize {
    let mut lo = lo;
    let mut hi = arr.len() as isize - 1;
    while hi - lo > 1 {
        let mid = (lo + hi) >> 1;
        if cell_number(arr, mid) < num {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if num - cell_number(arr, lo) <= cell_number(arr, hi) - num {
        lo
    } else {
        hi
    }
}

/// `ToNumber(arr[i])`, `undefined` (NaN) outside the array.
fn cell_number(arr: &[LiveValue], i: isize) -> f64 {
    usize::try_from(i)
        .ok()
        .and_then(|i| arr.get(i))
        .map_or(f64::NAN, LiveValue::to_number)
}

/// JavaScript truthiness of a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0 && !x.is_nan()),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// `ToNumber` of a JSON value (arrays go through `join(",")`, objects are NaN).
fn json_to_number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => js_string_to_number(s),
        // `String([])` is "", `String([x])` is `String(x)` (null -> ""), and any longer
        // array's string has a comma, which no number literal has.
        Value::Array(items) => match items.as_slice() {
            [] | [Value::Null] => 0.0,
            [Value::Number(n)] => n.as_f64().map_or(f64::NAN, |x| x + 0.0),
            [item @ (Value::String(_) | Value::Array(_))] => json_to_number(item),
            _ => f64::NAN,
        },
        Value::Object(_) => f64::NAN,
    }
}

/// JavaScript's `WhiteSpace` and `LineTerminator` (what `trim` and regex `\s` remove).
fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\u{9}'..='\u{d}'
            | ' '
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
            | '\u{feff}'
    )
}

/// JavaScript's `StringToNumber`: trimmed; empty is 0; `Infinity` with an optional sign;
/// `0x` / `0o` / `0b` integers without a sign; decimal literals; anything else NaN.
pub fn js_string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_space);
    if t.is_empty() {
        return 0.0;
    }
    match t {
        "Infinity" | "+Infinity" => return f64::INFINITY,
        "-Infinity" => return f64::NEG_INFINITY,
        _ => {}
    }
    let b = t.as_bytes();
    if b.len() >= 2 && b[0] == b'0' {
        let radix = match b[1] {
            b'x' | b'X' => Some(16),
            b'o' | b'O' => Some(8),
            b'b' | b'B' => Some(2),
            _ => None,
        };
        if let Some(radix) = radix {
            return radix_integer(&t[2..], radix);
        }
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let valid = decimal_mantissa(mantissa)
        && exponent.is_none_or(|e| {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        });
    if !valid {
        return f64::NAN;
    }
    // Rust's parser reads this grammar and rounds correctly, as JavaScript does.
    t.parse().unwrap_or(f64::NAN)
}

/// A `0x` / `0o` / `0b` literal's digits, rounded once to the nearest double.
fn radix_integer(digits: &str, radix: u32) -> f64 {
    if digits.is_empty() {
        return f64::NAN;
    }
    let bits = radix.trailing_zeros();
    let mut acc: u128 = 0;
    let mut dropped_bits: i32 = 0;
    let mut sticky = false;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else {
            return f64::NAN;
        };
        if dropped_bits == 0 && acc.leading_zeros() >= bits {
            acc = (acc << bits) | u128::from(d);
        } else {
            // `acc` already has more than 120 significant bits: the rest only decides
            // rounding, through a sticky bit far below the double's last place.
            dropped_bits = dropped_bits.saturating_add(bits as i32);
            sticky |= d != 0;
        }
    }
    let x = (acc | u128::from(sticky)) as f64;
    if dropped_bits == 0 {
        x
    } else {
        x * 2f64.powi(dropped_bits)
    }
}

/// A number as the oracle prints it.
fn number_json(x: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if x.is_nan() {
        json!("NaN")
    } else if x.is_infinite() {
        json!(if x > 0.0 { "Infinity" } else { "-Infinity" })
    } else if x == 0.0 {
        json!(0)
    } else if x.fract() == 0.0 && x.abs() < EXACT {
        json!(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}
