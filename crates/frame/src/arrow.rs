//! [`RingFrame`] → arrow-rs [`RecordBatch`] with Grafana's Arrow metadata (feature `arrow`).
//!
//! The schema follows grafana-plugin-sdk-go (`data/arrow.go`: `buildArrowSchema`,
//! `buildArrowFields`, `fieldToArrow`), the encoding Grafana decodes frames from:
//! - schema metadata: `name` and `refId` always (`""` when unset), `meta` (a JSON string)
//!   when the frame has meta;
//! - field metadata: `name` always, `labels` (a JSON string) when the field has labels,
//!   `config` (a JSON string) when its config is not empty;
//! - columns, all nullable: time → `Timestamp(Nanosecond, None)` (Go's `arrow.TimestampType{}`,
//!   whose zero unit is the nanosecond), number → `Float64`, string → `Utf8`,
//!   boolean → `Boolean`.
//!
//! [`meta_json`], [`labels_json`] and [`config_json`] write the JSON strings, with Go's key
//! names, order and presence rules. The DataFrameJSON encoder (`crate::json`) should reuse
//! or match them, so both wire formats describe a frame the same way.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, RecordBatchOptions, StringArray,
    TimestampNanosecondArray,
};
use arrow_schema::{DataType, Field as ArrowField, Metadata, Schema, TimeUnit};
use serde_json::Value as Json;

use crate::{Field, FieldConfig, FieldType, FrameError, FrameMeta, Labels, RingFrame, Value};

/// The most bytes the strings of one field may add up to: `Utf8` offsets are `i32`.
const MAX_UTF8_BYTES: usize = i32::MAX as usize;

/// Converts a [`RingFrame`] into an Arrow [`RecordBatch`] laid out as grafana-plugin-sdk-go
/// lays out a frame (see the module docs), rows in the frame's order ([`RingFrame::rows`]:
/// oldest → newest in tail mode, newest → oldest in head mode).
///
/// Every column is nullable and holds the ring's nulls as Arrow nulls; times keep their
/// nanoseconds, numbers their NaN and ±Inf. A frame with no fields gives a batch with no
/// columns and its row count (0). The batch's schema carries the metadata; write it with any
/// Arrow IPC writer to get what a Go plugin sends.
///
/// # Errors
/// [`FrameError::StringColumnTooLarge`] when a string field's values add up to more than
/// `i32::MAX` bytes, the most a `Utf8` column (Go's `arrow.StringType`) holds.
pub fn to_record_batch(frame: &RingFrame) -> Result<RecordBatch, FrameError> {
    let mut fields = Vec::with_capacity(frame.fields().len());
    let mut columns = Vec::with_capacity(frame.fields().len());
    for (j, field) in frame.fields().iter().enumerate() {
        fields.push(arrow_field(field));
        columns.push(column(frame, j, field)?);
    }
    let mut metadata = Metadata::new();
    metadata.insert("name", frame.name().unwrap_or_default());
    metadata.insert("refId", frame.ref_id().unwrap_or_default());
    if let Some(meta) = meta_json(frame.meta()) {
        metadata.insert("meta", meta);
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    // The row count keeps a field-less frame valid (Arrow needs it without columns).
    let options = RecordBatchOptions::new().with_row_count(Some(frame.len()));
    let batch = RecordBatch::try_new_with_options(schema, columns, &options);
    // Every column was built from the frame's own field and length, so the schema, the
    // columns and the row count agree by construction.
    Ok(batch.expect("columns match their schema and the frame's length"))
}

/// The Arrow field for a ring field: Grafana's type, nullable, with Go's metadata keys.
fn arrow_field(field: &Field) -> ArrowField {
    let data_type = match field.field_type() {
        FieldType::Time => DataType::Timestamp(TimeUnit::Nanosecond, None),
        FieldType::Number => DataType::Float64,
        FieldType::String => DataType::Utf8,
        FieldType::Boolean => DataType::Boolean,
    };
    let mut metadata = Metadata::new();
    metadata.insert("name", field.name());
    if let Some(labels) = labels_json(&field.labels) {
        metadata.insert("labels", labels);
    }
    if let Some(config) = config_json(&field.config) {
        metadata.insert("config", config);
    }
    ArrowField::new(field.name(), data_type, true).with_metadata(metadata)
}

/// The Arrow array of field `j`, in the frame's order.
fn column(frame: &RingFrame, j: usize, field: &Field) -> Result<ArrayRef, FrameError> {
    // `column(j)` is `Some` for every field index; `flatten` saves an unwrap.
    let cells = frame.column(j).into_iter().flatten();
    Ok(match field.field_type() {
        FieldType::Time => Arc::new(
            cells
                .map(|v| match v {
                    Value::Time(ns) => Some(ns),
                    _ => None,
                })
                .collect::<TimestampNanosecondArray>(),
        ),
        FieldType::Number => Arc::new(
            cells
                .map(|v| match v {
                    Value::Number(x) => Some(x),
                    _ => None,
                })
                .collect::<Float64Array>(),
        ),
        FieldType::String => {
            let strings: Vec<Option<&str>> = cells
                .map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect();
            let bytes = strings.iter().flatten().map(|s| s.len()).sum();
            check_utf8_bytes(field.name(), bytes)?;
            Arc::new(StringArray::from(strings))
        }
        FieldType::Boolean => Arc::new(
            cells
                .map(|v| match v {
                    Value::Boolean(b) => Some(b),
                    _ => None,
                })
                .collect::<BooleanArray>(),
        ),
    })
}

/// [`FrameError::StringColumnTooLarge`] when `bytes` does not fit `Utf8` offsets.
fn check_utf8_bytes(field: &str, bytes: usize) -> Result<(), FrameError> {
    if bytes > MAX_UTF8_BYTES {
        return Err(FrameError::StringColumnTooLarge {
            field: field.to_owned(),
            bytes,
            max: MAX_UTF8_BYTES,
        });
    }
    Ok(())
}

// ---- Grafana's JSON strings ---------------------------------------------------------------

/// Grafana's frame `meta` as JSON, as grafana-plugin-sdk-go's `FrameMeta` marshals it;
/// `None` when `meta` is empty (Go leaves the key out when `Frame.Meta` is nil).
///
/// Keys, in Go's struct order: `typeVersion` (always `[0,0]`: Go's `FrameMeta.TypeVersion`
/// has no `omitempty`), `notices` (`[{"severity":…,"text":…}]`, severity always written),
/// `channel`, `preferredVisualisationType`, `executedQueryString`; unset ones left out.
///
/// The DataFrameJSON encoder (`crate::json`) should reuse or match this. The JSON is the
/// same as Go's value for value; bytes differ only where Go's `encoding/json` also escapes
/// `<`, `>`, `&`, U+2028 and U+2029 (this writes them as they are, as JavaScript does).
pub fn meta_json(meta: &FrameMeta) -> Option<String> {
    if meta.is_empty() {
        return None;
    }
    let mut obj = JsonObject::new();
    obj.raw("typeVersion", "[0,0]");
    if !meta.notices.is_empty() {
        let mut notices = String::from("[");
        for (i, notice) in meta.notices.iter().enumerate() {
            if i > 0 {
                notices.push(',');
            }
            let mut n = JsonObject::new();
            n.str("severity", notice.severity.as_str());
            n.str("text", &notice.text);
            notices.push_str(&n.finish());
        }
        notices.push(']');
        obj.raw("notices", &notices);
    }
    obj.opt_str("channel", meta.channel.as_deref());
    obj.opt_str(
        "preferredVisualisationType",
        meta.preferred_visualisation_type.as_deref(),
    );
    obj.opt_str("executedQueryString", meta.executed_query_string.as_deref());
    Some(obj.finish())
}

/// A field's labels as a JSON object, keys sorted (as Go's `encoding/json` sorts map keys);
/// `None` when there are none (Go writes `labels` only for a non-nil map).
///
/// The DataFrameJSON encoder (`crate::json`) should reuse or match this.
pub fn labels_json(labels: &Labels) -> Option<String> {
    if labels.is_empty() {
        return None;
    }
    let mut obj = JsonObject::new();
    for (key, value) in labels {
        obj.str(key, value);
    }
    Some(obj.finish())
}

/// A field's config as Grafana's `FieldConfig` JSON, as grafana-plugin-sdk-go marshals it;
/// `None` when the config is empty (Go writes `config` only for a non-nil config).
///
/// Keys, in Go's struct order, unset ones left out: `displayName`, `displayNameFromDS`,
/// `description`, `unit`, `decimals`, `min`, `max`. A NaN or infinite `min`/`max` is written
/// as `null`, as Go's `ConfFloat64` does. Integral numbers are written without a fraction
/// (`100`, as JavaScript and Go print them).
///
/// The DataFrameJSON encoder (`crate::json`) should reuse or match this.
pub fn config_json(config: &FieldConfig) -> Option<String> {
    if config.is_empty() {
        return None;
    }
    let mut obj = JsonObject::new();
    obj.opt_str("displayName", config.display_name.as_deref());
    obj.opt_str("displayNameFromDS", config.display_name_from_ds.as_deref());
    obj.opt_str("description", config.description.as_deref());
    obj.opt_str("unit", config.unit.as_deref());
    if let Some(d) = config.decimals {
        obj.raw("decimals", &d.to_string());
    }
    for (key, value) in [("min", config.min), ("max", config.max)] {
        if let Some(x) = value {
            obj.raw(key, &json_f64(x));
        }
    }
    Some(obj.finish())
}

/// A float as JSON: `null` for NaN and ±Inf (Go's `ConfFloat64`), integral values without a
/// fraction, others in the shortest form that reads back exactly.
fn json_f64(x: f64) -> String {
    /// 2^53: integral floats below it are exact as `i64`.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if !x.is_finite() {
        "null".to_owned()
    } else if x.fract() == 0.0 && x.abs() < EXACT {
        // Exact: `x` is integral and below 2^53 in magnitude.
        (x as i64).to_string()
    } else {
        Json::from(x).to_string()
    }
}

/// A JSON object written key by key, in the order given.
struct JsonObject {
    buf: String,
}

impl JsonObject {
    fn new() -> Self {
        Self {
            buf: String::from("{"),
        }
    }

    /// Adds `key` with an already encoded JSON value.
    fn raw(&mut self, key: &str, json: &str) {
        if self.buf.len() > 1 {
            self.buf.push(',');
        }
        // serde_json's `Value` display escapes exactly as JSON requires.
        self.buf.push_str(&Json::from(key).to_string());
        self.buf.push(':');
        self.buf.push_str(json);
    }

    /// Adds `key` with a string value.
    fn str(&mut self, key: &str, value: &str) {
        self.raw(key, &Json::from(value).to_string());
    }

    /// Adds `key` with a string value when there is one.
    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(key, value);
        }
    }

    fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A column past 2 GiB cannot be built in a test; the limit check itself can.
    #[test]
    fn utf8_limit_is_i32_max() {
        assert_eq!(check_utf8_bytes("s", i32::MAX as usize), Ok(()));
        assert_eq!(
            check_utf8_bytes("s", i32::MAX as usize + 1),
            Err(FrameError::StringColumnTooLarge {
                field: "s".into(),
                bytes: i32::MAX as usize + 1,
                max: i32::MAX as usize,
            })
        );
    }

    #[test]
    fn floats_as_go_and_javascript_print_them() {
        assert_eq!(json_f64(100.0), "100");
        assert_eq!(json_f64(-0.5), "-0.5");
        assert_eq!(json_f64(0.1), "0.1");
        assert_eq!(json_f64(1e300), "1e+300");
        assert_eq!(json_f64(f64::NAN), "null");
        assert_eq!(json_f64(f64::NEG_INFINITY), "null");
    }
}
