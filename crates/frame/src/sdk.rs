//! [`RingFrame`] → [`grafana_plugin_sdk::data::Frame`], the frame QueryData returns to
//! Grafana (feature `sdk`).
//!
//! The SDK sends QueryData frames to Grafana as Arrow IPC and stream frames
//! (`StreamPacket::from_frame`, `InitialData::from_frame`) as JSON; both start from the
//! [`Frame`] built here.
//!
//! Two limits of grafana-plugin-sdk 0.5.0 to know about:
//! - `Frame::ref_id` is crate-private: [`to_sdk_frame`] cannot carry
//!   [`RingFrame::ref_id`]. The SDK fills the refId from the query when the frame goes
//!   into a `DataResponse`, which is where Grafana needs it.
//! - Its JSON encoder writes times as whole milliseconds (no `nanos`), so the JSON paths
//!   drop sub-millisecond precision; the Frame itself, and the Arrow IPC QueryData
//!   sends, keep nanoseconds.

use chrono::{DateTime, Utc};
use grafana_plugin_sdk::data::{
    self as sdk, Field as SdkField, Frame, IntoOptField, Metadata, VisType,
};
use grafana_plugin_sdk::live::Channel;

use crate::{FieldConfig, FieldType, FrameError, FrameMeta, RingFrame, Severity, Value};

/// Converts a [`RingFrame`] into the SDK's [`Frame`], rows in the frame's order
/// ([`RingFrame::rows`]: oldest → newest in tail mode, newest → oldest in head mode).
///
/// Fields, all nullable, with nulls where the ring holds them:
/// - time → Grafana `time` (Arrow `Timestamp(Nanosecond, None)`), nanoseconds kept;
/// - number → `float64`, NaN and ±Inf kept;
/// - string → `string`;
/// - boolean → `bool`.
///
/// Also carried: the frame's name (`""` when unset), each field's labels and config
/// (`displayName`, `displayNameFromDS`, `unit`, `decimals` (above 65 535 it is clamped to the
/// SDK's `u16`), `min`, `max`, `description`; an empty config becomes `None`) and the meta:
/// `channel` (parsed into a [`Channel`], as [`Frame::set_channel`] takes), `notices` with
/// their severity, `executedQueryString`, and `preferredVisualisationType` when it is one the
/// SDK writes as Grafana spells it (`graph`, `table`, `logs`, `trace`, `nodeGraph`; the
/// SDK 0.5.0 writes `flameGraph` where Grafana expects `flamegraph`, so that one and
/// unknown values are left out). An empty meta becomes `None`.
///
/// Not carried: [`RingFrame::ref_id`], as the SDK keeps `Frame::ref_id` to itself and sets
/// it from the query (see the module docs).
///
/// # Errors
/// - [`FrameError::InvalidChannel`] when `meta.channel` is not a Grafana Live channel
///   (the SDK's [`Channel`] parser: `<scope>/<namespace>/<path>`, at most 160 characters,
///   scope `grafana`, `plugin`, `ds` or `stream`, path of `[A-Za-z0-9_\-=/.]`).
/// - [`FrameError::StringColumnTooLarge`] when a string field's values add up to more than
///   `i32::MAX` bytes, the most an Arrow `Utf8` column holds.
pub fn to_sdk_frame(frame: &RingFrame) -> Result<Frame, FrameError> {
    // Validate the meta first: no column work for a frame that will be rejected.
    let meta = metadata(frame.meta())?;
    let mut out = Frame::new(frame.name().unwrap_or_default());
    for (j, field) in frame.fields().iter().enumerate() {
        // `column(j)` is `Some` for every field index; `flatten` saves an unwrap.
        let cells = frame.column(j).into_iter().flatten();
        let sdk_field: SdkField = match field.field_type() {
            FieldType::Time => cells
                .map(|v| match v {
                    Value::Time(ns) => Some(DateTime::<Utc>::from_timestamp_nanos(ns)),
                    _ => None,
                })
                .into_opt_field(field.name()),
            FieldType::Number => cells
                .map(|v| match v {
                    Value::Number(x) => Some(x),
                    _ => None,
                })
                .into_opt_field(field.name()),
            FieldType::String => {
                crate::utf8::string_cells(field.name(), cells)?.into_opt_field(field.name())
            }
            FieldType::Boolean => cells
                .map(|v| match v {
                    Value::Boolean(b) => Some(b),
                    _ => None,
                })
                .into_opt_field(field.name()),
        };
        out.add_field(
            sdk_field
                .with_labels(field.labels.clone())
                .with_config(config(&field.config)),
        );
    }
    out.meta = meta;
    Ok(out)
}

/// The SDK's field config, `None` for an empty one.
fn config(config: &FieldConfig) -> Option<sdk::FieldConfig> {
    if config.is_empty() {
        return None;
    }
    // `sdk::FieldConfig` is `#[non_exhaustive]`: start from its default.
    let mut out = sdk::FieldConfig::default();
    out.display_name.clone_from(&config.display_name);
    out.display_name_from_ds
        .clone_from(&config.display_name_from_ds);
    out.unit.clone_from(&config.unit);
    out.decimals = config
        .decimals
        .map(|d| u16::try_from(d).unwrap_or(u16::MAX));
    out.min = config.min;
    out.max = config.max;
    out.description.clone_from(&config.description);
    Some(out)
}

/// The SDK's frame metadata, `None` when nothing in it maps.
///
/// # Errors
/// [`FrameError::InvalidChannel`] when the channel does not parse.
fn metadata(meta: &FrameMeta) -> Result<Option<Metadata>, FrameError> {
    if meta.is_empty() {
        return Ok(None);
    }
    // `Metadata` is `#[non_exhaustive]`: start from its default.
    let mut out = Metadata::default();
    out.channel = meta.channel.as_deref().map(parse_channel).transpose()?;
    out.executed_query_string
        .clone_from(&meta.executed_query_string);
    out.preferred_visualisation = meta
        .preferred_visualisation_type
        .as_deref()
        .and_then(vis_type);
    if !meta.notices.is_empty() {
        out.notices = Some(
            meta.notices
                .iter()
                .map(|n| {
                    let mut notice = sdk::Notice::new(n.text.clone());
                    notice.severity = Some(severity(n.severity));
                    notice
                })
                .collect(),
        );
    }
    Ok((out != Metadata::default()).then_some(out))
}

/// Parses a channel with the SDK's own parser.
fn parse_channel(channel: &str) -> Result<Channel, FrameError> {
    channel
        .parse()
        .map_err(
            |e: grafana_plugin_sdk::live::ChannelError| FrameError::InvalidChannel {
                channel: channel.to_owned(),
                reason: e.to_string(),
            },
        )
}

/// The SDK's visualisation type for Grafana's name, when the SDK writes it back unchanged.
fn vis_type(name: &str) -> Option<VisType> {
    match name {
        "graph" => Some(VisType::Graph),
        "table" => Some(VisType::Table),
        "logs" => Some(VisType::Logs),
        "trace" => Some(VisType::Trace),
        "nodeGraph" => Some(VisType::NodeGraph),
        _ => None,
    }
}

fn severity(severity: Severity) -> sdk::Severity {
    match severity {
        Severity::Info => sdk::Severity::Info,
        Severity::Warning => sdk::Severity::Warning,
        Severity::Error => sdk::Severity::Error,
    }
}
