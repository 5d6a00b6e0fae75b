//! Ringstream's frame core: what `grafana-plugin-sdk` lacks for streaming.
//!
//! # Map
//! - [`RingFrame`]: a data frame whose columns are rings, the Rust counterpart of
//!   `@grafana/data`'s `CircularDataFrame` (tail or head append, capacity, rows pushed by
//!   name or position, late fields, capacity changes), with a sequence number per row so a
//!   consumer can take "the rows since N".
//! - [`Field`], [`FieldType`], [`FieldConfig`], [`Labels`], [`FrameMeta`], [`Notice`]: the
//!   schema, in Grafana's terms.
//! - [`Value`]: one cell, borrowed.
//! - [`json`]: Grafana's DataFrameJSON: whole-frame messages, "rows since N" deltas, and the
//!   [`StreamEncoder`](json::StreamEncoder) that sends the schema once, then only new rows.
//! - `sdk` (feature `sdk`): `to_sdk_frame`, a [`RingFrame`] as the `grafana-plugin-sdk`
//!   `Frame` that QueryData returns.
//! - `arrow` (feature `arrow`): `to_record_batch`, a [`RingFrame`] as an arrow-rs
//!   `RecordBatch` with Grafana's Arrow metadata, and the meta/labels/config JSON strings.
//! - [`FrameError`]: the crate's one error type.
//!
//! Architecture invariant: this crate knows nothing of Grafana's plugin protocol, of async
//! or of the network. It is plain data and encodings.
//!
//! # Example
//! The tutorial's stream: a `time` and a `value` field, capacity 1 000, oldest row dropped.
//! ```
//! use ringstream_frame::{Field, FieldType, RingFrame, Value};
//!
//! let mut frame = RingFrame::new(3)
//!     .with_field(Field::new("time", FieldType::Time))?
//!     .with_field(Field::new("value", FieldType::Number))?;
//! for i in 0..5_i64 {
//!     frame.push_named(&[("time", Value::Time(i * 1_000_000)), ("value", Value::Number(i as f64))])?;
//! }
//! // Capacity 3: rows 2, 3 and 4 remain, oldest first.
//! let values: Vec<_> = frame.column(1).unwrap().collect();
//! assert_eq!(values, [Value::Number(2.0), Value::Number(3.0), Value::Number(4.0)]);
//! // A consumer that has seen rows 0..=3 takes the rest.
//! let since: Vec<u64> = frame.rows_since(4).into_iter().map(|r| r.seq()).collect();
//! assert_eq!(since, [4]);
//! # Ok::<(), ringstream_frame::FrameError>(())
//! ```

mod column;
mod error;
mod field;
pub mod json;
mod ring;
#[cfg(any(feature = "sdk", feature = "arrow"))]
mod utf8;
mod value;

#[cfg(feature = "arrow")]
pub mod arrow;
#[cfg(feature = "sdk")]
pub mod sdk;

pub use error::FrameError;
pub use field::{Field, FieldConfig, FrameMeta, Labels, Notice, Severity};
pub use ring::{AppendMode, RingFrame, Row, Rows, RowsSince, MAX_CAPACITY, MAX_FIELDS};
pub use value::{FieldType, Value};
