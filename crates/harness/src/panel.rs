//! [`Panel`]: what a Grafana panel shows for one streaming query, fed the way Grafana's
//! frontend feeds it.
//!
//! Grafana keeps one `LiveDataStream` per Live channel, holding one `StreamingDataFrame`
//! (here a [`LiveFrame`]). For a panel whose query returned a frame with `meta.channel`, it
//! pushes, in this order:
//! 1. the QueryData frame, converted with `dataFrameToJSON`, but only while the buffer has no
//!    packet yet (`!frameBuffer.hasAtLeastOnePacket()`: a later subscriber of the same stream
//!    does not re-push its query frame);
//! 2. the SubscribeStream initial data, when the plugin returned any;
//! 3. every RunStream packet, as it arrives.
//!
//! The buffer's options come from the query: `maxLength` is the panel's `maxDataPoints`, and
//! `maxDelta` is `to - from` when the time range ends at now (else unbounded).
//!
//! `hasAtLeastOnePacket` is the library's `Boolean(packetInfo.length)`: whether the *last*
//! push carried rows (a schema-only push, or one that threw, resets it). [`Panel`] tracks
//! exactly that.

use crate::live::{LiveFrame, LiveOptions, LiveValue};
use crate::query_frame::QueryFrame;
use crate::wire::{self, DataFrameJson, FieldType};
use crate::HarnessError;

/// A panel's streaming buffer and how it was fed (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct Panel {
    frame: LiveFrame,
    /// `packetInfo.length`: rows in the last push (0 when it had none or threw).
    last_push_rows: usize,
    pushes: usize,
}

impl Panel {
    /// An empty panel buffer with `options` (`StreamingDataFrame.empty(options)`).
    pub fn new(options: LiveOptions) -> Self {
        Self {
            frame: LiveFrame::new(options),
            last_push_rows: 0,
            pushes: 0,
        }
    }

    /// A panel that ran its query: a new buffer with the QueryData frame pushed.
    ///
    /// # Errors
    /// What [`LiveFrame::push`] refuses.
    pub fn with_query_frame(
        frame: &QueryFrame,
        options: LiveOptions,
    ) -> Result<Self, HarnessError> {
        let mut panel = Self::new(options);
        panel.push_query_frame(frame)?;
        Ok(panel)
    }

    /// Step 1: pushes the QueryData frame unless the buffer already has a packet. Returns
    /// whether it was pushed.
    ///
    /// # Errors
    /// What [`LiveFrame::push`] refuses.
    pub fn push_query_frame(&mut self, frame: &QueryFrame) -> Result<bool, HarnessError> {
        if self.has_at_least_one_packet() {
            return Ok(false);
        }
        self.push(&frame.to_data_frame_json())?;
        Ok(true)
    }

    /// Step 2: SubscribeStream's initial data (empty bytes: the plugin sent none).
    ///
    /// # Errors
    /// A decoding error, or what [`LiveFrame::push`] refuses.
    pub fn push_initial(&mut self, data: &[u8]) -> Result<(), HarnessError> {
        if data.is_empty() {
            return Ok(());
        }
        self.push(&wire::decode_slice(data)?)
    }

    /// Step 3: one RunStream packet.
    ///
    /// # Errors
    /// What [`LiveFrame::push`] refuses.
    pub fn push_packet(&mut self, message: &DataFrameJson) -> Result<(), HarnessError> {
        self.push(message)
    }

    fn push(&mut self, message: &DataFrameJson) -> Result<(), HarnessError> {
        self.pushes += 1;
        self.last_push_rows = 0;
        self.frame.push(message)?;
        self.last_push_rows = message
            .data
            .as_ref()
            .and_then(|d| d.values.first())
            .map_or(0, Vec::len);
        Ok(())
    }

    /// `frameBuffer.hasAtLeastOnePacket()`.
    pub fn has_at_least_one_packet(&self) -> bool {
        self.last_push_rows > 0
    }

    /// Messages pushed so far (query frame, initial data and packets).
    pub fn pushes(&self) -> usize {
        self.pushes
    }

    /// The buffer, as the Live model holds it.
    pub fn frame(&self) -> &LiveFrame {
        &self.frame
    }

    /// Rows shown.
    pub fn len(&self) -> usize {
        self.frame.len()
    }

    /// Whether the panel shows no rows.
    pub fn is_empty(&self) -> bool {
        self.frame.is_empty()
    }

    /// The values of the field called `name`.
    pub fn column(&self, name: &str) -> Option<&[LiveValue]> {
        self.frame
            .fields()
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.values.as_slice())
    }

    /// The number cells of field `name`, oldest first, skipping the others (a series of a
    /// wildcard stream has cells only in its own topic's rows); empty when there is no such
    /// field.
    pub fn numbers_present(&self, name: &str) -> Vec<f64> {
        self.column(name)
            .unwrap_or_default()
            .iter()
            .filter_map(|v| match v {
                LiveValue::Number(x) => Some(*x),
                _ => None,
            })
            .collect()
    }

    /// The values of field `name` as numbers (times are epoch milliseconds); `None` when
    /// there is no such field or a cell is not a number.
    pub fn numbers(&self, name: &str) -> Option<Vec<f64>> {
        self.column(name)?
            .iter()
            .map(|v| match v {
                LiveValue::Number(x) => Some(*x),
                _ => None,
            })
            .collect()
    }

    /// The rows, oldest first, one cell per field.
    pub fn rows(&self) -> Vec<Vec<LiveValue>> {
        (0..self.len())
            .map(|i| {
                self.frame
                    .fields()
                    .iter()
                    .map(|f| f.values.get(i).cloned().unwrap_or(LiveValue::Undefined))
                    .collect()
            })
            .collect()
    }

    /// What the panel shows, as a text table (every row).
    pub fn to_table(&self) -> String {
        self.table_of(0..self.len())
    }

    /// The newest `n` rows as a text table.
    pub fn to_table_tail(&self, n: usize) -> String {
        self.table_of(self.len().saturating_sub(n)..self.len())
    }

    fn table_of(&self, rows: std::ops::Range<usize>) -> String {
        let fields = self.frame.fields();
        let headers: Vec<String> = fields
            .iter()
            .map(|f| format!("{} ({})", f.name, f.field_type.as_str()))
            .collect();
        let rows: Vec<Vec<String>> = rows
            .map(|i| {
                fields
                    .iter()
                    .map(|f| match f.values.get(i) {
                        None | Some(LiveValue::Undefined) => String::new(),
                        Some(v) => cell_text(v, &f.field_type),
                    })
                    .collect()
            })
            .collect();
        crate::fmt::table(&headers, &rows)
    }
}

/// A cell for people: times in UTC, numbers as JavaScript prints them.
pub(crate) fn cell_text(v: &LiveValue, field_type: &FieldType) -> String {
    match v {
        LiveValue::Undefined => "undefined".into(),
        LiveValue::Null => "null".into(),
        LiveValue::Number(x) if *field_type == FieldType::Time => crate::fmt::time_f64(*x),
        LiveValue::Number(x) => crate::fmt::number(*x),
        LiveValue::String(s) => format!("{s:?}"),
        LiveValue::Boolean(b) => b.to_string(),
        LiveValue::Json(j) => j.to_string(),
    }
}

/// The buffer options Grafana derives from a query: `maxLength` = `max_data_points`
/// (at least 1), `maxDelta` = `to - from` when the range ends at now.
pub fn buffer_options(
    max_data_points: usize,
    range_ms: Option<(i64, i64)>,
    ends_now: bool,
) -> LiveOptions {
    LiveOptions {
        max_length: max_data_points.max(1),
        max_delta: match range_ms {
            Some((from, to)) if ends_now => Some((to.saturating_sub(from)) as f64),
            _ => None,
        },
        action: crate::live::Action::Append,
    }
}
