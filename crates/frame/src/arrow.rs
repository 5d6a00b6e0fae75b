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

use crate::{Field, FieldConfig, FieldType, FrameError, FrameMeta, Labels, RingFrame, Value};

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
        FieldType::String => Arc::new(StringArray::from(crate::utf8::string_cells(
            field.name(),
            cells,
        )?)),
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

// ---- Grafana's JSON strings ---------------------------------------------------------------

/// Grafana's frame `meta` as JSON (see [`crate::json::write_meta`]); `None` when `meta` is
/// empty (Go leaves the key out when `Frame.Meta` is nil).
pub fn meta_json(meta: &FrameMeta) -> Option<String> {
    (!meta.is_empty()).then(|| {
        let mut out = String::new();
        crate::json::write_meta(meta, &mut out);
        out
    })
}

/// A field's labels as a JSON object (see [`crate::json::write_labels`]); `None` when there
/// are none (Go writes `labels` only for a non-nil map).
pub fn labels_json(labels: &Labels) -> Option<String> {
    (!labels.is_empty()).then(|| {
        let mut out = String::new();
        crate::json::write_labels(labels, &mut out);
        out
    })
}

/// A field's config as Grafana's `FieldConfig` JSON (see [`crate::json::write_config`]);
/// `None` when the config is empty (Go writes `config` only for a non-nil config).
pub fn config_json(config: &FieldConfig) -> Option<String> {
    (!config.is_empty()).then(|| {
        let mut out = String::new();
        crate::json::write_config(config, &mut out);
        out
    })
}
