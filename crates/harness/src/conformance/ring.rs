//! `ringstream-harness conformance ring`: an op script through a [`RingFrame`].
//!
//! Script: `{"append": "tail"|"head", "capacity": N, "ops": [...]}` with ops
//! `{"op": "addField", "name", "type"}`, `{"op": "add", "row": {name: value}}` and
//! `{"op": "setCapacity", "capacity": N}`. Time values are epoch milliseconds.

use ringstream_frame::{AppendMode, Field, FieldType, RingFrame, Value};
use serde::Deserialize;
use serde_json::{json, Map};

use super::{cell_json, ms_to_ns};
use crate::HarnessError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Script {
    #[serde(default)]
    append: Option<String>,
    capacity: usize,
    ops: Vec<Op>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", deny_unknown_fields)]
enum Op {
    AddField {
        name: String,
        #[serde(rename = "type")]
        field_type: String,
    },
    Add {
        row: Map<String, serde_json::Value>,
    },
    SetCapacity {
        capacity: usize,
    },
}

/// Runs a script (JSON text) and returns the resulting frame in the oracle's format.
///
/// # Errors
/// Invalid JSON, an unknown type or append mode, a zero capacity or a wrongly typed value.
pub fn run(script: &str) -> Result<serde_json::Value, HarnessError> {
    let script: Script = serde_json::from_str(script)?;
    let append = match &script.append {
        Some(a) => a.parse()?,
        None => AppendMode::Tail,
    };
    let mut frame = RingFrame::try_new(script.capacity, append)?;
    for op in script.ops {
        match op {
            Op::AddField { name, field_type } => {
                frame.add_field(Field::new(name, field_type.parse()?))?;
            }
            // CircularDataFrame drops rows added before any field; RingFrame refuses them.
            Op::Add { .. } if frame.fields().is_empty() => {}
            Op::Add { row } => {
                let cells = row
                    .iter()
                    .map(|(k, v)| Ok((k.as_str(), cell(&frame, k, v)?)))
                    .collect::<Result<Vec<_>, HarnessError>>()?;
                frame.push_named(&cells)?;
            }
            Op::SetCapacity { capacity } => frame.set_capacity(capacity)?,
        }
    }
    Ok(frame_json(&frame))
}

/// A JSON value as a cell for field `name`: numbers become times for a time field.
fn cell<'v>(
    frame: &RingFrame,
    name: &str,
    v: &'v serde_json::Value,
) -> Result<Value<'v>, HarnessError> {
    let is_time = frame
        .field_index(name)
        .and_then(|j| frame.field(j))
        .is_some_and(|f| f.field_type() == FieldType::Time);
    Ok(match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if is_time {
                Value::Time(ms_to_ns(x).ok_or_else(|| {
                    HarnessError::Script(format!("time {x} ms is out of range for field {name:?}"))
                })?)
            } else {
                Value::Number(x)
            }
        }
        other => {
            return Err(HarnessError::Script(format!(
                "field {name:?}: only null, booleans, numbers and strings are cells, got {other}"
            )))
        }
    })
}

/// The frame in the oracle's format.
pub fn frame_json(frame: &RingFrame) -> serde_json::Value {
    let fields: Vec<_> = frame
        .fields()
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let values: Vec<_> = frame
                .column(j)
                .into_iter()
                .flatten()
                .map(cell_json)
                .collect();
            json!({"name": f.name(), "type": f.field_type().as_str(), "values": values})
        })
        .collect();
    json!({"length": frame.len(), "fields": fields})
}
