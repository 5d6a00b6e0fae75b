//! Grafana's DataFrameJSON wire format: the messages a streaming plugin sends through Grafana
//! Live (`@grafana/data` `DataFrameJSON`, the Go SDK's `data.FrameJSON`).
//!
//! A message is `{"schema"?: {...}, "data"?: {...}}`; either part may be absent (or `null`):
//!
//! ```json
//! {"schema": {"name": "cpu", "refId": "A", "meta": {...},
//!             "fields": [{"name": "time", "type": "time", "typeInfo": {...},
//!                         "labels": {"host": "a"}, "config": {"unit": "ms"}}]},
//!  "data": {"values": [[1700000000000, ...], ...],
//!           "entities": [null, {"NaN": [0], "Inf": [2], "NegInf": [3], "Undef": [4]}],
//!           "nanos": [[0, 500000, ...], null]}}
//! ```
//!
//! [`decode`] is strict where the JavaScript library is merely lenient, so that whatever it
//! accepts means one thing: a message must be an object (a JSON array is *not* read as a
//! struct in field order); `schema.fields` is required, a field needs a string `name`, and its
//! `type` is a string when present (`"type": null` is refused: the library tells it apart
//! from a missing type); `labels` map strings to strings; `config` is an object; `data.values`
//! is an array of arrays; entity lists hold numbers under the four known keys only (the
//! library would treat any other key as `Undef`); `nanos` are integers. Unknown keys are
//! ignored, as the library ignores them. Every failure is a [`HarnessError::Decode`], never a
//! panic; serde_json bounds nesting (128 levels) and everything decoded is allocated from
//! elements actually present in the input, never from a length the input claims.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::HarnessError;

/// One DataFrameJSON message.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(remote = "Self")]
pub struct DataFrameJson {
    /// The frame's structure; absent when the message only carries values.
    #[serde(default)]
    pub schema: Option<Schema>,
    /// The values; absent when the message only carries a schema.
    #[serde(default)]
    pub data: Option<Data>,
}

/// `schema`: the frame's name, refId, meta and fields.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct Schema {
    /// Frame name.
    #[serde(default)]
    pub name: Option<String>,
    /// The query's refId.
    #[serde(default)]
    pub ref_id: Option<String>,
    /// Query result metadata, kept as JSON (any value; `null` reads as absent).
    #[serde(default)]
    pub meta: Option<Value>,
    /// The fields, in frame order.
    pub fields: Vec<SchemaField>,
}

/// One entry of `schema.fields`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(remote = "Self", rename_all = "camelCase")]
pub struct SchemaField {
    /// Field name.
    pub name: String,
    /// `type`, or `None` when the message leaves it out (Grafana then uses `other`).
    #[serde(default, rename = "type", deserialize_with = "present")]
    pub field_type: Option<FieldType>,
    /// `typeInfo` (the Go type, nullability), kept as JSON.
    #[serde(default)]
    pub type_info: Option<Value>,
    /// Labels; empty when absent or `null`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Field config (unit, displayName, ...); empty when absent or `null`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: Map<String, Value>,
}

/// A field type as Grafana spells it on the wire. Strings Grafana does not define are kept
/// in [`FieldType::Unknown`] (the library compares types as plain strings).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// `time`: epoch milliseconds.
    Time,
    /// `number`.
    Number,
    /// `string`.
    String,
    /// `boolean`.
    Boolean,
    /// `enum`.
    Enum,
    /// `other`: anything else, e.g. JSON values.
    Other,
    /// `trace`.
    Trace,
    /// `geo`.
    Geo,
    /// `frame`: nested data frames.
    Frame,
    /// `nestedFrames`.
    NestedFrames,
    /// Any other string.
    Unknown(String),
}

impl FieldType {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Time => "time",
            Self::Number => "number",
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Enum => "enum",
            Self::Other => "other",
            Self::Trace => "trace",
            Self::Geo => "geo",
            Self::Frame => "frame",
            Self::NestedFrames => "nestedFrames",
            Self::Unknown(s) => s,
        }
    }

    /// The type a wire string names (never fails: unknown strings are kept).
    pub fn from_wire(s: &str) -> Self {
        match s {
            "time" => Self::Time,
            "number" => Self::Number,
            "string" => Self::String,
            "boolean" => Self::Boolean,
            "enum" => Self::Enum,
            "other" => Self::Other,
            "trace" => Self::Trace,
            "geo" => Self::Geo,
            "frame" => Self::Frame,
            "nestedFrames" => Self::NestedFrames,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FieldType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FieldType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field type string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<FieldType, E> {
                Ok(FieldType::from_wire(s))
            }
        }
        d.deserialize_str(V)
    }
}

/// `data`: the values, column by column, with the entities and nanosecond remainders.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(remote = "Self")]
pub struct Data {
    /// One array per field, in schema order. Cells are any JSON value.
    pub values: Vec<Vec<Value>>,
    /// Per column: cells that hold NaN, ±Infinity or undefined (JSON cannot carry them).
    #[serde(default)]
    pub entities: Option<Vec<Option<Entities>>>,
    /// Per column: the sub-millisecond remainder (0..999999 ns) of time values.
    #[serde(default)]
    pub nanos: Option<Vec<Option<Vec<i64>>>>,
}

/// Which replacement an entity list stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    /// `NaN`.
    NaN,
    /// `Inf`: +Infinity.
    Inf,
    /// `NegInf`: -Infinity.
    NegInf,
    /// `Undef`: undefined.
    Undef,
}

impl EntityKind {
    /// The wire key.
    pub fn key(self) -> &'static str {
        match self {
            Self::NaN => "NaN",
            Self::Inf => "Inf",
            Self::NegInf => "NegInf",
            Self::Undef => "Undef",
        }
    }
}

/// One column's entities: the cell indices to overwrite, per kind. Indices are kept as the
/// JSON numbers they were (the library ignores negative and fractional ones, but still
/// iterates them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entities {
    /// Cells that are NaN.
    pub nan: Vec<f64>,
    /// Cells that are +Infinity.
    pub inf: Vec<f64>,
    /// Cells that are -Infinity.
    pub neg_inf: Vec<f64>,
    /// Cells that are undefined.
    pub undef: Vec<f64>,
    /// The kinds in the order the message lists their keys (a repeated key keeps its first
    /// position and its last list, as `JSON.parse` does). The library applies the lists in
    /// this order, so it decides which replacement wins for an index listed twice.
    pub order: Vec<EntityKind>,
}

impl Entities {
    /// The index list of one kind.
    pub fn indices(&self, kind: EntityKind) -> &[f64] {
        match kind {
            EntityKind::NaN => &self.nan,
            EntityKind::Inf => &self.inf,
            EntityKind::NegInf => &self.neg_inf,
            EntityKind::Undef => &self.undef,
        }
    }

    fn indices_mut(&mut self, kind: EntityKind) -> &mut Vec<f64> {
        match kind {
            EntityKind::NaN => &mut self.nan,
            EntityKind::Inf => &mut self.inf,
            EntityKind::NegInf => &mut self.neg_inf,
            EntityKind::Undef => &mut self.undef,
        }
    }

    /// The (kind, indices) lists in key order.
    pub fn lists(&self) -> impl Iterator<Item = (EntityKind, &[f64])> + '_ {
        self.order.iter().map(|&k| (k, self.indices(k)))
    }
}

impl<'de> Deserialize<'de> for Entities {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entities;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an entities object with NaN / Inf / NegInf / Undef index arrays")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entities, A::Error> {
                let mut out = Entities::default();
                while let Some(key) = map.next_key::<String>()? {
                    let kind = match key.as_str() {
                        "NaN" => EntityKind::NaN,
                        "Inf" => EntityKind::Inf,
                        "NegInf" => EntityKind::NegInf,
                        "Undef" => EntityKind::Undef,
                        _ => {
                            return Err(de::Error::unknown_field(
                                &key,
                                &["NaN", "Inf", "NegInf", "Undef"],
                            ))
                        }
                    };
                    let list: Vec<f64> = map.next_value()?;
                    if !out.order.contains(&kind) {
                        out.order.push(kind);
                    }
                    *out.indices_mut(kind) = list;
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// Makes a `remote = "Self"` struct readable from a JSON object only (serde's derive would
/// also read an array as the fields in order, which the library would not).
macro_rules! object_only {
    ($ty:ident, $expecting:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$ty, A::Error> {
                        $ty::deserialize(de::value::MapAccessDeserializer::new(map))
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

object_only!(DataFrameJson, "a DataFrameJSON message object");
object_only!(Schema, "a schema object");
object_only!(SchemaField, "a schema field object");
object_only!(Data, "a data object");

/// A present value (`null` is an error), for a field whose absence means something else.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `null` reads as the default, like an absent key.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Decodes one DataFrameJSON message.
///
/// # Errors
/// [`HarnessError::Decode`] for text that is not JSON or not a DataFrameJSON message.
pub fn decode(text: &str) -> Result<DataFrameJson, HarnessError> {
    serde_json::from_str(text).map_err(HarnessError::Decode)
}

/// [`decode`] for bytes (invalid UTF-8 is an error too).
///
/// # Errors
/// [`HarnessError::Decode`] for bytes that are not a JSON DataFrameJSON message.
pub fn decode_slice(bytes: &[u8]) -> Result<DataFrameJson, HarnessError> {
    serde_json::from_slice(bytes).map_err(HarnessError::Decode)
}
