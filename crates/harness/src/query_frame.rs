//! QueryData frames: the Arrow IPC files a plugin returns, decoded as Grafana's frontend
//! reads them, into a [`QueryFrame`] that prints as a table and converts to the
//! DataFrameJSON message (`dataFrameToJSON`) a panel pushes into its streaming buffer.
//!
//! The layout read is grafana-plugin-sdk-go's (`data/arrow.go`): schema metadata `name`,
//! `refId` and `meta` (a JSON string); field metadata `name`, `labels` and `config` (JSON
//! strings); time columns as `Timestamp` of any unit, numbers as any integer or float
//! column, strings as `Utf8`/`LargeUtf8`, booleans as `Boolean`. Any other column type is a
//! [`HarnessError::Arrow`] naming it (this harness reads what streaming plugins send, not
//! every Arrow type). Malformed bytes are an error, never a panic (see
//! [`QueryFrame::from_arrow_ipc`]).

use std::collections::BTreeMap;
use std::io::Cursor;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use serde_json::{Map, Value};

use crate::wire::{Data, DataFrameJson, Entities, EntityKind, FieldType, Schema, SchemaField};
use crate::HarnessError;

/// One cell of a QueryData frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A null.
    Null,
    /// A time, in epoch nanoseconds.
    Time(i64),
    /// A number (any numeric column, as `f64`, like the frontend).
    Number(f64),
    /// A string.
    String(String),
    /// A boolean.
    Boolean(bool),
}

/// One field (column) of a [`QueryFrame`].
#[derive(Debug, Clone, PartialEq)]
pub struct QueryField {
    /// The field name (metadata `name`, else the Arrow column name).
    pub name: String,
    /// `time`, `number`, `string` or `boolean`.
    pub field_type: FieldType,
    /// Labels (metadata `labels`).
    pub labels: BTreeMap<String, String>,
    /// Field config (metadata `config`).
    pub config: Map<String, Value>,
    /// The cells, in frame order.
    pub values: Vec<Cell>,
}

/// A decoded QueryData frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryFrame {
    /// The frame name (`None` when empty, as the frontend treats it).
    pub name: Option<String>,
    /// The refId the plugin set (`None` when empty).
    pub ref_id: Option<String>,
    /// The frame meta (channel, executedQueryString, ...), when present.
    pub meta: Option<Value>,
    /// The fields.
    pub fields: Vec<QueryField>,
}

impl QueryFrame {
    /// Decodes an Arrow IPC file (what `DataResponse.frames` holds).
    ///
    /// # Errors
    /// [`HarnessError::Arrow`] for bytes that are not such a file, metadata that is not the
    /// JSON it should be, or a column type this harness does not read. The Arrow reader is
    /// run under `catch_unwind`: it is third-party code fed untrusted bytes, and a panic in
    /// it must come out as an error like any other bad frame.
    pub fn from_arrow_ipc(bytes: &[u8]) -> Result<Self, HarnessError> {
        match std::panic::catch_unwind(|| decode(bytes)) {
            Ok(result) => result,
            Err(_) => Err(HarnessError::Arrow(
                "the Arrow reader panicked on these bytes".into(),
            )),
        }
    }

    /// Rows: the first field's length (0 without fields).
    pub fn len(&self) -> usize {
        self.fields.first().map_or(0, |f| f.values.len())
    }

    /// Whether the frame has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `meta.channel`: the Grafana Live channel (`ds/<uid>/<path>`) the panel subscribes to.
    pub fn channel(&self) -> Option<&str> {
        self.meta.as_ref()?.get("channel")?.as_str()
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&QueryField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The values of field `name` as numbers (times as epoch milliseconds); `None` when there
    /// is no such field or a cell is neither.
    pub fn numbers(&self, name: &str) -> Option<Vec<f64>> {
        self.field(name)?
            .values
            .iter()
            .map(|c| match c {
                Cell::Number(x) => Some(*x),
                Cell::Time(ns) => Some(*ns as f64 / 1e6),
                _ => None,
            })
            .collect()
    }

    /// The frame as the DataFrameJSON message `dataFrameToJSON` makes of it in the browser:
    /// the schema (name, refId, meta, fields with type, labels and config), times as epoch
    /// milliseconds with `nanos` only when a remainder is not zero, NaN and ±Inf as `null`
    /// listed in `entities`.
    pub fn to_data_frame_json(&self) -> DataFrameJson {
        let mut values = Vec::with_capacity(self.fields.len());
        let mut entities = Vec::with_capacity(self.fields.len());
        let mut nanos = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            let mut column = Vec::with_capacity(field.values.len());
            let mut ent = Entities::default();
            let mut rem = Vec::new();
            for (i, cell) in field.values.iter().enumerate() {
                column.push(match cell {
                    Cell::Null => Value::Null,
                    Cell::Time(ns) => {
                        rem.push(ns.rem_euclid(1_000_000));
                        Value::from(ns.div_euclid(1_000_000))
                    }
                    Cell::Number(x) if x.is_finite() => {
                        serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number)
                    }
                    Cell::Number(x) => {
                        let kind = if x.is_nan() {
                            EntityKind::NaN
                        } else if *x > 0.0 {
                            EntityKind::Inf
                        } else {
                            EntityKind::NegInf
                        };
                        let list = match kind {
                            EntityKind::NaN => &mut ent.nan,
                            EntityKind::Inf => &mut ent.inf,
                            _ => &mut ent.neg_inf,
                        };
                        list.push(i as f64);
                        if !ent.order.contains(&kind) {
                            ent.order.push(kind);
                        }
                        Value::Null
                    }
                    Cell::String(s) => Value::String(s.clone()),
                    Cell::Boolean(b) => Value::Bool(*b),
                });
            }
            values.push(column);
            entities.push((!ent.order.is_empty()).then_some(ent));
            nanos.push(rem.iter().any(|r| *r != 0).then_some(rem));
        }
        let fields = self
            .fields
            .iter()
            .map(|f| SchemaField {
                name: f.name.clone(),
                field_type: Some(f.field_type.clone()),
                type_info: None,
                labels: f.labels.clone(),
                config: f.config.clone(),
            })
            .collect();
        DataFrameJson {
            schema: Some(Schema {
                name: self.name.clone(),
                ref_id: self.ref_id.clone(),
                meta: self.meta.clone(),
                fields,
            }),
            data: Some(Data {
                values,
                entities: entities.iter().any(Option::is_some).then_some(entities),
                nanos: nanos.iter().any(Option::is_some).then_some(nanos),
            }),
        }
    }

    /// The frame as a text table: a header line (name, refId, rows, channel), then one
    /// column per field headed `name (type)`, times in UTC.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "frame {:?} refId {:?}: {} row(s)\n",
            self.name.as_deref().unwrap_or(""),
            self.ref_id.as_deref().unwrap_or(""),
            self.len()
        );
        if let Some(channel) = self.channel() {
            out.push_str(&format!("channel: {channel}\n"));
        }
        let headers: Vec<String> = self
            .fields
            .iter()
            .map(|f| format!("{} ({})", f.name, f.field_type.as_str()))
            .collect();
        let rows: Vec<Vec<String>> = (0..self.len())
            .map(|i| {
                self.fields
                    .iter()
                    .map(|f| f.values.get(i).map_or(String::new(), cell_text))
                    .collect()
            })
            .collect();
        out.push_str(&crate::fmt::table(&headers, &rows));
        out
    }
}

fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Null => "null".into(),
        Cell::Time(ns) => crate::fmt::time(ns.div_euclid(1_000_000), ns.rem_euclid(1_000_000)),
        Cell::Number(x) => crate::fmt::number(*x),
        Cell::String(s) => format!("{s:?}"),
        Cell::Boolean(b) => b.to_string(),
    }
}

fn bad(why: impl std::fmt::Display) -> HarnessError {
    HarnessError::Arrow(why.to_string())
}

/// Refuses a file whose footer blocks claim more bytes than it holds: arrow-ipc's
/// `FileReader` allocates (and zeroes) what a block claims before reading it, so 2 KB of
/// forged footer would cost gigabytes (found by the `arrow_frame` fuzz target). Files the
/// reader would refuse anyway pass here and are refused there.
fn check_blocks(bytes: &[u8]) -> Result<(), HarnessError> {
    let Some(trailer_start) = bytes.len().checked_sub(10) else {
        return Ok(());
    };
    let Ok(trailer) = bytes[trailer_start..].try_into() else {
        return Ok(());
    };
    let Ok(footer_len) = arrow_ipc::reader::read_footer_length(trailer) else {
        return Ok(());
    };
    let Some(footer_start) = trailer_start.checked_sub(footer_len) else {
        return Ok(());
    };
    let Ok(footer) = arrow_ipc::root_as_footer(&bytes[footer_start..trailer_start]) else {
        return Ok(());
    };
    let batches = footer.recordBatches().into_iter().flatten();
    let dictionaries = footer.dictionaries().into_iter().flatten();
    for block in batches.chain(dictionaries) {
        let claimed = i128::from(block.metaDataLength()) + i128::from(block.bodyLength());
        let end = claimed + i128::from(block.offset());
        if claimed < 0 || end > bytes.len() as i128 {
            return Err(bad(format!(
                "a block of the Arrow file claims {claimed} bytes at offset {}; the file has {}",
                block.offset(),
                bytes.len()
            )));
        }
    }
    Ok(())
}

fn decode(bytes: &[u8]) -> Result<QueryFrame, HarnessError> {
    check_blocks(bytes)?;
    let reader = arrow_ipc::reader::FileReader::try_new(Cursor::new(bytes), None).map_err(bad)?;
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(bad)?;
    let metadata = schema.metadata();
    let non_empty = |s: Option<&String>| s.filter(|s| !s.is_empty()).cloned();
    let meta = match metadata.get("meta") {
        Some(text) => Some(
            serde_json::from_str(text).map_err(|e| bad(format!("frame meta is not JSON: {e}")))?,
        ),
        None => None,
    };
    let mut fields = Vec::with_capacity(schema.fields().len());
    for (j, arrow_field) in schema.fields().iter().enumerate() {
        let md = arrow_field.metadata();
        let name = md
            .get("name")
            .cloned()
            .unwrap_or_else(|| arrow_field.name().clone());
        let labels = match md.get("labels") {
            Some(text) => serde_json::from_str(text).map_err(|e| {
                bad(format!(
                    "labels of field {name:?} are not a JSON object of strings: {e}"
                ))
            })?,
            None => BTreeMap::new(),
        };
        let config = match md.get("config") {
            Some(text) => serde_json::from_str(text).map_err(|e| {
                bad(format!(
                    "config of field {name:?} is not a JSON object: {e}"
                ))
            })?,
            None => Map::new(),
        };
        let field_type = match arrow_field.data_type() {
            DataType::Timestamp(..) => FieldType::Time,
            DataType::Utf8 | DataType::LargeUtf8 => FieldType::String,
            DataType::Boolean => FieldType::Boolean,
            t if t.is_numeric() => FieldType::Number,
            other => {
                return Err(bad(format!(
                    "field {name:?} has Arrow type {other}, which the harness does not read"
                )))
            }
        };
        let mut values = Vec::new();
        for batch in &batches {
            let column = batch
                .columns()
                .get(j)
                .ok_or_else(|| bad("a record batch has fewer columns than the schema"))?;
            cells(column.as_ref(), &mut values)
                .map_err(|t| bad(format!("field {name:?}: a column of type {t} in a batch")))?;
        }
        fields.push(QueryField {
            name,
            field_type,
            labels,
            config,
            values,
        });
    }
    Ok(QueryFrame {
        name: non_empty(metadata.get("name")),
        ref_id: non_empty(metadata.get("refId")),
        meta,
        fields,
    })
}

/// Appends the cells of `array`; `Err(type)` for a type [`decode`] does not read.
fn cells(array: &dyn Array, out: &mut Vec<Cell>) -> Result<(), DataType> {
    fn prim<T: ArrowPrimitiveType>(
        array: &dyn Array,
        out: &mut Vec<Cell>,
        cell: impl Fn(T::Native) -> Cell,
    ) {
        let a = array.as_primitive::<T>();
        out.extend((0..a.len()).map(|i| {
            if a.is_null(i) {
                Cell::Null
            } else {
                cell(a.value(i))
            }
        }));
    }
    let num = |x: f64| Cell::Number(x);
    match array.data_type() {
        DataType::Timestamp(unit, _) => {
            let scale = match unit {
                TimeUnit::Second => 1_000_000_000,
                TimeUnit::Millisecond => 1_000_000,
                TimeUnit::Microsecond => 1_000,
                TimeUnit::Nanosecond => 1,
            };
            let t = move |v: i64| Cell::Time(v.saturating_mul(scale));
            match unit {
                TimeUnit::Second => prim::<TimestampSecondType>(array, out, t),
                TimeUnit::Millisecond => prim::<TimestampMillisecondType>(array, out, t),
                TimeUnit::Microsecond => prim::<TimestampMicrosecondType>(array, out, t),
                TimeUnit::Nanosecond => prim::<TimestampNanosecondType>(array, out, t),
            }
        }
        DataType::Float64 => prim::<Float64Type>(array, out, num),
        DataType::Float32 => prim::<Float32Type>(array, out, |x| num(f64::from(x))),
        DataType::Int8 => prim::<Int8Type>(array, out, |x| num(f64::from(x))),
        DataType::Int16 => prim::<Int16Type>(array, out, |x| num(f64::from(x))),
        DataType::Int32 => prim::<Int32Type>(array, out, |x| num(f64::from(x))),
        DataType::Int64 => prim::<Int64Type>(array, out, |x| num(x as f64)),
        DataType::UInt8 => prim::<UInt8Type>(array, out, |x| num(f64::from(x))),
        DataType::UInt16 => prim::<UInt16Type>(array, out, |x| num(f64::from(x))),
        DataType::UInt32 => prim::<UInt32Type>(array, out, |x| num(f64::from(x))),
        DataType::UInt64 => prim::<UInt64Type>(array, out, |x| num(x as f64)),
        DataType::Boolean => {
            let a = array.as_boolean();
            out.extend((0..a.len()).map(|i| {
                if a.is_null(i) {
                    Cell::Null
                } else {
                    Cell::Boolean(a.value(i))
                }
            }));
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            out.extend((0..a.len()).map(|i| {
                if a.is_null(i) {
                    Cell::Null
                } else {
                    Cell::String(a.value(i).to_owned())
                }
            }));
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            out.extend((0..a.len()).map(|i| {
                if a.is_null(i) {
                    Cell::Null
                } else {
                    Cell::String(a.value(i).to_owned())
                }
            }));
        }
        other => return Err(other.clone()),
    }
    Ok(())
}
